import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export type EchoPost = { path: string; body: Record<string, unknown>; status: number; id?: string }

/** The echo channel's service: records what Switchboard posts, answers 429 with Retry-After when told to. */
export async function startEchoService() {
  const posts: EchoPost[] = []
  let throttle: { times: number; retryAfter: number } | undefined
  let nextId = 1
  const server: Server = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => (raw += c))
    req.on('end', () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {}
      const path = req.url ?? '/'
      if (throttle && throttle.times > 0) {
        throttle.times--
        posts.push({ path, body, status: 429 })
        res.writeHead(429, { 'retry-after': String(throttle.retryAfter), 'content-type': 'application/json' }).end('{"error":"rate_limited"}')
        return
      }
      const id = `m${nextId++}`
      posts.push({ path, body, status: 200, id })
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    /** Texts sent to a thread, in order (parts of a split reply each count). */
    sentTo: (thread: string) => posts.filter((p) => p.path === '/send' && p.status === 200 && p.body.thread === thread).map((p) => String(p.body.text)),
    throttleNext: (times: number, retryAfter: number) => void (throttle = { times, retryAfter }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
