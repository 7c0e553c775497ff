/** A server-sent events client for tests: reads the stream as it arrives and keeps every event. */
export type SseEvent = { event: string; id: string | null; data: Record<string, unknown> }

export async function openSse(url: string, headers: Record<string, string>) {
  const ctl = new AbortController()
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ctl.signal })
  const events: SseEvent[] = []
  let comments = 0
  let ended = false
  const waiters = new Set<() => void>()
  const wake = () => {
    for (const w of waiters) w()
  }
  if (res.ok && res.body) {
    void (async () => {
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buffer += value
          let end: number
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const lines = block.split('\n')
            if (lines.every((l) => l.startsWith(':'))) comments++
            const event = lines.find((l) => l.startsWith('event: '))?.slice(7)
            const data = lines.find((l) => l.startsWith('data: '))?.slice(6)
            if (event) events.push({ event, id: lines.find((l) => l.startsWith('id: '))?.slice(4) ?? null, data: data ? JSON.parse(data) : {} })
            wake()
          }
        }
      } catch {
        // aborted
      } finally {
        ended = true
        wake()
      }
    })()
  }
  /** Resolves once `check` holds for what arrived so far; fails after `timeoutMs` with what did arrive. */
  const until = (check: () => boolean, timeoutMs = 15_000) =>
    new Promise<void>((resolve, reject) => {
      if (check()) return resolve()
      const timer = setTimeout(() => {
        waiters.delete(test)
        reject(new Error(`stream condition not met; got ${JSON.stringify(events.map((e) => e.event))}`))
      }, timeoutMs)
      const test = () => {
        if (!check()) return
        clearTimeout(timer)
        waiters.delete(test)
        resolve()
      }
      waiters.add(test)
    })
  return {
    res,
    events,
    comments: () => comments,
    ended: () => ended,
    until,
    /** Waits for an event of this type matching `where`, and returns it. */
    async next(type: string, where: (data: Record<string, unknown>) => boolean = () => true) {
      let found: SseEvent | undefined
      await until(() => Boolean((found = events.find((e) => e.event === type && where(e.data)))))
      return found!
    },
    close: () => ctl.abort(),
  }
}
