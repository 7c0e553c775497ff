import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createMemoryRateLimiter, createRedisRateLimiter } from '../../adapters/queue/rate-limiter.ts'
import type { RateLimiter } from '../../core/ports.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'

const redisUrl = await redisForTests()
const redis = redisUrl ? new Redis(redisUrl) : null
afterAll(() => redis?.disconnect())

const factories: { name: string; make: () => RateLimiter; skip: boolean }[] = [
  { name: 'memory', make: () => createMemoryRateLimiter(), skip: false },
  { name: 'redis', make: () => createRedisRateLimiter(redis!, uniquePrefix('rl')), skip: !redis },
]

// Sign-in, sign-up, reset and web chat limits reserve attempts with hit() and give them back with refund(): both adapters agree.
for (const f of factories) {
  describe.skipIf(f.skip)(`rate limiter contract: ${f.name}`, () => {
    it('counts attempts in a window, refuses past the limit, and starts again after the window', async () => {
      const limiter = f.make()
      expect(await limiter.count('signin:a')).toBe(0)
      for (let i = 0; i < 5; i++) expect(await limiter.take('signin:a', { limit: 5, windowMs: 300 })).toBe(true)
      expect(await limiter.count('signin:a')).toBe(5)
      expect(await limiter.take('signin:a', { limit: 5, windowMs: 300 })).toBe(false)
      expect(await limiter.count('signin:b')).toBe(0)
      await new Promise((r) => setTimeout(r, 400))
      expect(await limiter.count('signin:a')).toBe(0)
      expect(await limiter.take('signin:a', { limit: 5, windowMs: 300 })).toBe(true)
    })

    it('lets exactly the limit through when attempts arrive at once, and says what is left and when the window ends', async () => {
      const limiter = f.make()
      const hits = await Promise.all(Array.from({ length: 40 }, () => limiter.hit('burst', { limit: 5, windowMs: 60_000 })))
      expect(hits.filter((h) => h.allowed)).toHaveLength(5)
      expect(hits.map((h) => h.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
      const first = hits.find((h) => h.count === 1)!
      expect(first).toMatchObject({ allowed: true, remaining: 4 })
      expect(hits.find((h) => h.count === 6)).toMatchObject({ allowed: false, remaining: 0 })
      for (const h of hits) expect(h.resetMs).toBeGreaterThan(59_000)
      expect(first.resetMs).toBeLessThanOrEqual(60_000)
      expect(await limiter.count('burst')).toBe(40)
    })

    it('gives attempts back without going below zero or outliving the window', async () => {
      const limiter = f.make()
      await limiter.hit('refund', { limit: 2, windowMs: 300 })
      await limiter.hit('refund', { limit: 2, windowMs: 300 })
      expect((await limiter.hit('refund', { limit: 2, windowMs: 300 })).allowed).toBe(false)
      await limiter.refund('refund')
      expect(await limiter.count('refund')).toBe(2)
      await Promise.all([limiter.refund('refund'), limiter.refund('refund'), limiter.refund('refund')])
      expect(await limiter.count('refund')).toBe(0)
      await limiter.refund('never-counted')
      expect(await limiter.count('never-counted')).toBe(0)
      // A refund after the window ended must not leave a counter behind that would never expire.
      await limiter.hit('late', { limit: 2, windowMs: 200 })
      await new Promise((r) => setTimeout(r, 300))
      await limiter.refund('late')
      const fresh = await limiter.hit('late', { limit: 2, windowMs: 200 })
      expect(fresh).toMatchObject({ allowed: true, count: 1, remaining: 1 })
      expect(fresh.resetMs).toBeGreaterThan(0)
      expect(fresh.resetMs).toBeLessThanOrEqual(200)
    })
  })
}
