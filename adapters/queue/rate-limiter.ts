import type { Redis } from 'ioredis'
import type { RateLimiter, RateLimitHit } from '../../core/ports.ts'

const outcome = (count: number, limit: number, resetMs: number): RateLimitHit => ({ allowed: count <= limit, count, remaining: Math.max(0, limit - count), resetMs: Math.max(0, resetMs) })

/** Fixed-window counters in memory (one process). */
export function createMemoryRateLimiter(): RateLimiter {
  const windows = new Map<string, { count: number; resetAt: number }>()
  const current = (key: string, now: number) => {
    const w = windows.get(key)
    return w && w.resetAt > now ? w : undefined
  }
  const hit: RateLimiter['hit'] = async (key, { limit, windowMs }) => {
    const now = Date.now()
    let w = current(key, now)
    if (!w) {
      if (windows.size > 100_000) for (const [k, v] of windows) if (v.resetAt <= now) windows.delete(k)
      w = { count: 0, resetAt: now + windowMs }
      windows.set(key, w)
    }
    w.count++
    return outcome(w.count, limit, w.resetAt - now)
  }
  return {
    hit,
    take: async (key, input) => (await hit(key, input)).allowed,
    async refund(key) {
      const w = current(key, Date.now())
      if (w && w.count > 0) w.count--
    },
    async count(key) {
      return current(key, Date.now())?.count ?? 0
    },
  }
}

// INCR and the expiry of a new window in one script: a key can never be left counting without an
// expiry, and PTTL comes back with the count, so Retry-After needs no second round trip.
const HIT = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`

// DECR on an expired key would create a counter at -1 without an expiry.
const REFUND = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0`

/** Fixed-window counters in Redis, shared by every process. */
export function createRedisRateLimiter(redis: Redis, prefix = 'switchboard'): RateLimiter {
  const k = (key: string) => `${prefix}:rl:${key}`
  const hit: RateLimiter['hit'] = async (key, { limit, windowMs }) => {
    const [count, ttl] = (await redis.eval(HIT, 1, k(key), windowMs)) as [number, number]
    return outcome(count, limit, ttl)
  }
  return {
    hit,
    take: async (key, input) => (await hit(key, input)).allowed,
    async refund(key) {
      await redis.eval(REFUND, 1, k(key))
    },
    async count(key) {
      return Number((await redis.get(k(key))) ?? 0)
    },
  }
}
