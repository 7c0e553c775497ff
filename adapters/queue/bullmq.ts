import { randomUUID } from 'node:crypto'
import { DelayedError, Queue as BullQueue, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { JobHandler, JobOptions, Logger, Queue } from '../../core/ports.ts'

type Envelope = { data: unknown; groupKey?: string }

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`
const DROP_HEAD = `if redis.call('lindex', KEYS[1], 0) == ARGV[1] then return redis.call('lpop', KEYS[1]) else return 0 end`
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`
/** JOB_LOCK_MS's default: BullMQ's own lock duration. */
export const DEFAULT_JOB_LOCK_MS = 30_000

/**
 * Jobs on Redis with BullMQ: one BullMQ queue per job name, so separate worker processes can
 * consume them. Jobs with the same group key run one at a time and in the order they were added:
 * each group keeps a Redis list of its job ids; a worker runs a job only when it heads that list
 * and holds the group's lock, and otherwise puts it back, delayed a little. A job leaves the list
 * when it succeeds or fails for the last time, so a job being retried keeps its group waiting.
 */
/**
 * A job's lock (BullMQ's, and its group's) lasts `lockMs` and is renewed while the job runs, so a
 * worker that dies (SIGKILL, a lost machine) holds its jobs and their conversations for at most
 * that long: then BullMQ's stalled-job check (every `lockMs`) gives them to another worker.
 */
export function createBullQueue(deps: { redisUrl: string; prefix?: string; logger: Logger; lockMs?: number }): Queue {
  const prefix = deps.prefix ?? 'switchboard'
  const lockMs = deps.lockMs ?? DEFAULT_JOB_LOCK_MS
  const connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false })
  connection.on('error', (err) => deps.logger.warn({ err: err.message }, 'redis connection error'))
  const queues = new Map<string, BullQueue>()
  const workers: Worker[] = []
  const queueName = (name: string) => name.replace(/[^a-zA-Z0-9_.-]/g, '_')
  const groupList = (name: string, groupKey: string) => `${prefix}:grouplist:${queueName(name)}:${groupKey}`

  const queueFor = (name: string) => {
    let q = queues.get(name)
    if (!q) {
      q = new BullQueue(queueName(name), { connection, prefix })
      queues.set(name, q)
    }
    return q
  }

  return {
    kind: 'bullmq',
    async add(name: string, data: unknown, options: JobOptions = {}) {
      const envelope: Envelope = { data, groupKey: options.groupKey }
      const jobId = options.jobId?.replace(/:/g, '_') ?? randomUUID()
      if (options.groupKey) await connection.rpush(groupList(name, options.groupKey), jobId)
      await queueFor(name).add(name, envelope, {
        jobId,
        delay: options.delayMs,
        attempts: Math.max(1, options.attempts ?? 1),
        backoff: { type: 'exponential', delay: options.backoffMs ?? 1000 },
        removeOnComplete: true,
        removeOnFail: 1000,
      })
    },
    process(name: string, handler: JobHandler, options = {}) {
      const worker = new Worker(
        queueName(name),
        async (job: Job<Envelope>, token?: string) => {
          const { data, groupKey } = job.data
          const ctx = { jobId: String(job.id), attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1 }
          if (!groupKey) return handler(data, ctx)
          const list = groupList(name, groupKey)
          const lockKey = `${prefix}:group:${queueName(name)}:${groupKey}`
          const head = await connection.lindex(list, 0)
          if (head && head !== job.id && !(await queueFor(name).getJob(head))) {
            // The head job is gone (removed by hand, or its worker died after finishing): skip it.
            await connection.eval(DROP_HEAD, 1, list, head)
          }
          const lockValue = randomUUID()
          const first = head === job.id || (await connection.lindex(list, 0)) === job.id
          const acquired = first && (await connection.set(lockKey, lockValue, 'PX', lockMs, 'NX'))
          if (!acquired) {
            await job.moveToDelayed(Date.now() + 10 + Math.floor(Math.random() * 30), token)
            throw new DelayedError()
          }
          // Renewed as BullMQ renews the job's own lock: held while this process runs the job, gone
          // within lockMs of its death (before, a fixed 2 minutes kept the conversation waiting).
          const renew = setInterval(() => void connection.eval(RENEW, 1, lockKey, lockValue, String(lockMs)).catch(() => undefined), Math.max(100, Math.floor(lockMs / 3)))
          try {
            await handler(data, ctx)
            await connection.lrem(list, 0, String(job.id))
          } catch (error) {
            if (ctx.attempt >= ctx.maxAttempts) await connection.lrem(list, 0, String(job.id))
            throw error
          } finally {
            clearInterval(renew)
            await connection.eval(RELEASE, 1, lockKey, lockValue)
          }
        },
        { connection: connection.duplicate({ maxRetriesPerRequest: null }), prefix, concurrency: options.concurrency ?? 1, lockDuration: lockMs, stalledInterval: lockMs },
      )
      worker.on('failed', (job, err) => deps.logger.warn({ jobId: job?.id, job: name, attempt: job?.attemptsMade, err: err.message }, 'job failed'))
      worker.on('error', (err) => deps.logger.error({ err: err.message }, 'worker error'))
      workers.push(worker)
    },
    async depth() {
      let n = 0
      for (const q of queues.values()) {
        const counts = await q.getJobCounts('waiting', 'delayed', 'prioritized')
        n += (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0)
      }
      return n
    },
    async cancel(name, jobIds) {
      let removed = 0
      // Queue.remove leaves a job that a worker has locked (running) and answers 0 for it.
      for (const id of jobIds) removed += await queueFor(name).remove(id.replace(/:/g, '_'))
      return removed
    },
    async ping() {
      await connection.ping()
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()))
      await Promise.all([...queues.values()].map((q) => q.close()))
      connection.disconnect()
    },
  }
}
