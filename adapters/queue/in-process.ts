import { AsyncResource } from 'node:async_hooks'
import type { JobContext, JobHandler, JobOptions, Logger, Queue } from '../../core/ports.ts'

type Job = { id: string; name: string; data: unknown; group: string; attempt: number; maxAttempts: number; backoffMs: number; readyAt: number }

/** While the process is busy with ingress, how often the queue looks again for a job to start. */
const YIELD_RECHECK_MS = 20

/**
 * The embedded queue: the same semantics as the BullMQ adapter in one process. Retries with
 * exponential backoff, delayed jobs, and jobs sharing a group key run one at a time in the order
 * they were added (a job being retried keeps its group waiting, so order holds).
 *
 * `yieldTo` says when the process is busy with work that goes first (webhook deliveries on the
 * embedded database, see adapters/db/priority-lane.ts): the queue then starts no job while one is
 * running, so the jobs (turns, indexing) keep the process's one thread for a small share, and run
 * at their concurrency again when the burst ends. A job never waits for a free process: with none
 * running, one starts.
 */
export function createInProcessQueue(deps: { logger: Logger; yieldTo?: () => boolean }) {
  const handlers = new Map<string, { handler: JobHandler; concurrency: number; running: number }>()
  const groups = new Map<string, Job[]>() // group key -> its jobs, head first
  const busy = new Set<string>()
  const ids = new Map<string, Job>() // job id -> the job, while it waits or runs
  let seq = 0
  let closed = false
  let timer: NodeJS.Timeout | undefined
  let idleWaiters: (() => void)[] = []
  const active = new Set<Promise<void>>()

  const isIdle = () => groups.size === 0 && active.size === 0
  const notifyIdle = () => {
    if (!isIdle()) return
    const waiters = idleWaiters
    idleWaiters = []
    waiters.forEach((w) => w())
  }

  function schedule(at: number) {
    clearTimeout(timer)
    timer = setTimeout(pump, Math.max(0, at - Date.now()))
    timer.unref?.()
  }

  // Jobs run in the queue's own context, never in that of the code that added them: a job added
  // while a webhook was being handled (ahead of the turns, see adapters/db/priority-lane.ts) is not
  // handled as ingress itself.
  const pump = AsyncResource.bind(pumpNow)
  function pumpNow() {
    if (closed) return
    const now = Date.now()
    let nextAt = Infinity
    for (const [key, jobs] of groups) {
      if (active.size > 0 && deps.yieldTo?.()) {
        nextAt = Math.min(nextAt, now + YIELD_RECHECK_MS)
        break
      }
      if (busy.has(key)) continue
      const job = jobs[0]!
      const h = handlers.get(job.name)
      if (!h) continue
      if (job.readyAt > now) {
        nextAt = Math.min(nextAt, job.readyAt)
        continue
      }
      if (h.running >= h.concurrency) continue
      busy.add(key)
      h.running++
      const run = execute(job, h.handler).finally(() => {
        h.running--
        busy.delete(key)
        active.delete(run)
        setImmediate(pump)
        notifyIdle()
      })
      active.add(run)
    }
    if (nextAt !== Infinity) schedule(nextAt)
  }

  async function execute(job: Job, handler: JobHandler) {
    const ctx: JobContext = { jobId: job.id, attempt: job.attempt, maxAttempts: job.maxAttempts }
    try {
      await handler(job.data, ctx)
      remove(job)
    } catch (error) {
      if (job.attempt < job.maxAttempts) {
        const delay = job.backoffMs * 2 ** (job.attempt - 1)
        deps.logger.warn({ jobId: job.id, job: job.name, attempt: job.attempt, retryInMs: delay, err: error }, 'job failed; retrying')
        job.attempt++
        job.readyAt = Date.now() + delay
      } else {
        deps.logger.error({ jobId: job.id, job: job.name, attempt: job.attempt, err: error }, 'job failed after its last attempt')
        remove(job)
      }
    }
  }

  function remove(job: Job) {
    const jobs = groups.get(job.group)
    if (jobs) {
      const i = jobs.indexOf(job)
      if (i >= 0) jobs.splice(i, 1)
      if (jobs.length === 0) groups.delete(job.group)
    }
    ids.delete(job.id)
  }

  const queue: Queue & { onIdle(): Promise<void> } = {
    kind: 'in-process',
    async add(name: string, data: unknown, options: JobOptions = {}) {
      if (closed) throw new Error('queue is closed')
      const id = options.jobId ?? `${name}:${++seq}`
      if (ids.has(id)) return
      const job: Job = {
        id,
        name,
        data,
        group: options.groupKey ? `${name}|${options.groupKey}` : `${name}|#${id}`,
        attempt: 1,
        maxAttempts: Math.max(1, options.attempts ?? 1),
        backoffMs: options.backoffMs ?? 1000,
        readyAt: Date.now() + (options.delayMs ?? 0),
      }
      ids.set(id, job)
      const list = groups.get(job.group)
      if (list) list.push(job)
      else groups.set(job.group, [job])
      setImmediate(pump)
    },
    process(name, handler, options = {}) {
      handlers.set(name, { handler, concurrency: options.concurrency ?? 1, running: 0 })
      setImmediate(pump)
    },
    depth: async () => [...groups.values()].reduce((n, jobs) => n + jobs.length, 0) - active.size,
    async cancel(name, jobIds) {
      let removed = 0
      for (const id of jobIds) {
        const job = ids.get(id)
        if (!job || job.name !== name) continue
        // A group's head is running when the group is busy: that one is left to finish.
        if (busy.has(job.group) && groups.get(job.group)?.[0] === job) continue
        remove(job)
        removed++
      }
      if (removed) notifyIdle()
      return removed
    },
    ping: async () => undefined,
    /** Resolves when no job is waiting or running (tests, graceful shutdown). */
    onIdle: () => (isIdle() ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    async close() {
      closed = true
      clearTimeout(timer)
      await Promise.allSettled([...active])
    },
  }
  return queue
}
