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

// Sign-in limits count failures with take() and check them with count(): both adapters agree.
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
  })
}
