import { afterEach, describe, expect, it } from 'vitest'
import { createBullQueue } from '../../adapters/queue/bullmq.ts'
import { createInProcessQueue } from '../../adapters/queue/in-process.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import type { Queue } from '../../core/ports.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'

const logger = createLogger({ level: 'silent' })
const redisUrl = await redisForTests()

type Factory = { name: string; make: () => Queue; skip: boolean }
const factories: Factory[] = [
  { name: 'in-process', make: () => createInProcessQueue({ logger }), skip: false },
  { name: 'bullmq', make: () => createBullQueue({ redisUrl: redisUrl!, prefix: uniquePrefix('queue'), logger }), skip: !redisUrl },
]

const until = async (check: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

// The same behaviour from both queue adapters: that is what lets `npm start` stand in for Redis.
for (const f of factories) {
  describe.skipIf(f.skip)(`queue contract: ${f.name}`, () => {
    let queue: Queue
    afterEach(async () => queue?.close())

    it('runs jobs of one group one at a time, in the order they were added', async () => {
      queue = f.make()
      const seen: number[] = []
      let running = 0
      let overlap = false
      queue.process('grouped', async (data) => {
        running++
        if (running > 1) overlap = true
        await new Promise((r) => setTimeout(r, 5))
        seen.push((data as { n: number }).n)
        running--
      }, { concurrency: 8 })
      for (let n = 0; n < 20; n++) await queue.add('grouped', { n }, { groupKey: 'conversation-1' })
      await until(() => seen.length === 20)
      expect(overlap).toBe(false)
      expect(seen).toEqual([...Array(20).keys()])
    })

    it('keeps a group waiting while its head job is being retried', async () => {
      queue = f.make()
      const seen: string[] = []
      queue.process('retry-order', async (data, ctx) => {
        const { n } = data as { n: number }
        seen.push(`${n}#${ctx.attempt}`)
        if (n === 0 && ctx.attempt === 1) throw new Error('first try fails')
      }, { concurrency: 4 })
      for (let n = 0; n < 3; n++) await queue.add('retry-order', { n }, { groupKey: 'conversation-2', attempts: 2, backoffMs: 100 })
      await until(() => seen.length === 4)
      expect(seen).toEqual(['0#1', '0#2', '1#1', '2#1'])
    })

    it('cancels jobs that wait to start, and leaves the one running', async () => {
      queue = f.make()
      const seen: string[] = []
      let release: () => void = () => undefined
      const released = new Promise<void>((r) => (release = r))
      queue.process('cancelled', async (data) => {
        const { n } = data as { n: string }
        seen.push(n)
        if (n === 'a') await released
      }, { concurrency: 1 })
      await queue.add('cancelled', { n: 'a' }, { jobId: 'cancel:a' })
      await until(() => seen.length === 1)
      for (const n of ['b', 'c', 'd']) await queue.add('cancelled', { n }, { jobId: `cancel:${n}` })
      expect(await queue.cancel('cancelled', ['cancel:a', 'cancel:b', 'cancel:c'])).toBe(2)
      release()
      await until(() => seen.length === 2)
      await new Promise((r) => setTimeout(r, 100))
      expect(seen).toEqual(['a', 'd'])
      // A cancelled job's id is free again: added anew, it runs.
      await queue.add('cancelled', { n: 'b' }, { jobId: 'cancel:b' })
      await until(() => seen.length === 3)
      expect(seen).toEqual(['a', 'd', 'b'])
    })

    it('runs different groups in parallel', async () => {
      queue = f.make()
      let running = 0
      let peak = 0
      let done = 0
      queue.process('parallel', async () => {
        running++
        peak = Math.max(peak, running)
        await new Promise((r) => setTimeout(r, 50))
        running--
        done++
      }, { concurrency: 4 })
      for (let n = 0; n < 8; n++) await queue.add('parallel', { n }, { groupKey: `g${n}` })
      await until(() => done === 8)
      expect(peak).toBeGreaterThan(1)
    })

    it('retries a failing job with backoff and gives its attempt number', async () => {
      queue = f.make()
      const attempts: { attempt: number; at: number }[] = []
      queue.process('flaky', async (_data, ctx) => {
        attempts.push({ attempt: ctx.attempt, at: Date.now() })
        expect(ctx.maxAttempts).toBe(3)
        if (ctx.attempt < 3) throw new Error('not yet')
      })
      await queue.add('flaky', {}, { attempts: 3, backoffMs: 100 })
      await until(() => attempts.length === 3)
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3])
      expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(90)
      expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(190)
    })

    it('gives up after the last attempt', async () => {
      queue = f.make()
      let calls = 0
      queue.process('doomed', async () => {
        calls++
        throw new Error('always')
      })
      await queue.add('doomed', {}, { attempts: 2, backoffMs: 20 })
      await until(() => calls === 2)
      await new Promise((r) => setTimeout(r, 300))
      expect(calls).toBe(2)
    })

    it('holds a delayed job back until its time', async () => {
      queue = f.make()
      const added = Date.now()
      let ranAt = 0
      queue.process('later', async () => {
        ranAt = Date.now()
      })
      await queue.add('later', {}, { delayMs: 300 })
      await until(() => ranAt > 0)
      expect(ranAt - added).toBeGreaterThanOrEqual(290)
    })

    it('does not add a job twice while one with the same id is waiting', async () => {
      queue = f.make()
      let calls = 0
      await queue.add('once', {}, { jobId: 'same-id', delayMs: 200 })
      await queue.add('once', {}, { jobId: 'same-id', delayMs: 200 })
      queue.process('once', async () => {
        calls++
      })
      await until(() => calls >= 1)
      await new Promise((r) => setTimeout(r, 400))
      expect(calls).toBe(1)
    })
  })
}
