import type { Redis } from 'ioredis'
import type { RateLimiter } from '../../core/ports.ts'

/** Fixed-window counters in memory (one process). */
export function createMemoryRateLimiter(): RateLimiter {
  const windows = new Map<string, { count: number; resetAt: number }>()
  return {
    async take(key, { limit, windowMs }) {
      const now = Date.now()
      let w = windows.get(key)
      if (!w || w.resetAt <= now) {
        if (windows.size > 100_000) for (const [k, v] of windows) if (v.resetAt <= now) windows.delete(k)
        w = { count: 0, resetAt: now + windowMs }
        windows.set(key, w)
      }
      w.count++
      return w.count <= limit
    },
    async count(key) {
      const w = windows.get(key)
      return w && w.resetAt > Date.now() ? w.count : 0
    },
  }
}

/** Fixed-window counters in Redis, shared by every worker process. */
export function createRedisRateLimiter(redis: Redis, prefix = 'switchboard'): RateLimiter {
  return {
    async take(key, { limit, windowMs }) {
      const k = `${prefix}:rl:${key}`
      const [[, count]] = (await redis.multi().incr(k).pexpire(k, windowMs, 'NX').exec()) as [[Error | null, number]]
      return count <= limit
    },
    async count(key) {
      return Number((await redis.get(`${prefix}:rl:${key}`)) ?? 0)
    },
  }
}
