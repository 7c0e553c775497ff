import { randomUUID } from 'node:crypto'
import { DelayedError, Queue as BullQueue, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { JobHandler, JobOptions, Logger, Queue } from '../../core/ports.ts'

type Envelope = { data: unknown; groupKey?: string }

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`
const GROUP_LOCK_MS = 120_000

/**
 * Jobs on Redis with BullMQ: one BullMQ queue per job name, so separate worker processes can
 * consume them. Jobs with the same group key never run at once: a worker takes a Redis lock per
 * group and puts the job back (delayed a little) when another worker holds it.
 */
export function createBullQueue(deps: { redisUrl: string; prefix?: string; logger: Logger }): Queue {
  const prefix = deps.prefix ?? 'switchboard'
  const connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false })
  connection.on('error', (err) => deps.logger.warn({ err: err.message }, 'redis connection error'))
  const queues = new Map<string, BullQueue>()
  const workers: Worker[] = []
  const queueName = (name: string) => name.replace(/[^a-zA-Z0-9_.-]/g, '_')

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
      await queueFor(name).add(name, envelope, {
        jobId: options.jobId?.replace(/:/g, '_'),
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
          const lockKey = `${prefix}:group:${queueName(name)}:${groupKey}`
          const lockValue = randomUUID()
          const acquired = await connection.set(lockKey, lockValue, 'PX', GROUP_LOCK_MS, 'NX')
          if (!acquired) {
            await job.moveToDelayed(Date.now() + 25 + Math.floor(Math.random() * 50), token)
            throw new DelayedError()
          }
          try {
            await handler(data, ctx)
          } finally {
            await connection.eval(RELEASE, 1, lockKey, lockValue)
          }
        },
        { connection: connection.duplicate({ maxRetriesPerRequest: null }), prefix, concurrency: options.concurrency ?? 1 },
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
