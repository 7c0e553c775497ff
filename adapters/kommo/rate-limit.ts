import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'

/*
 * Kommo's request limit: "not more than 7 requests per second" for an account
 * (https://developers.kommo.com/docs/limitations). Going over it is answered 429, and an account
 * that goes over it again and again is blocked: every call answered 403 (error-codes table,
 * https://www.amocrm.ru/developers/content/crm_platform/error-codes). Neither amocrm-api-php nor
 * amocrm-js throttles, so Switchboard does, before every call: a call over the limit waits for its
 * turn (queued, never dropped).
 *
 * The bucket holds `perSecond` tokens and a token spent comes back one second (plus `marginMs`)
 * after it was spent. That is stricter than a bucket refilled evenly at 7 a second, which would let
 * 7 calls go at once and 6 more within the same second: here no second ever holds more than 7. In
 * practice it is a book of the last `perSecond` slots per key: a new call takes the later of "now"
 * and "one second after the `perSecond`-th latest slot", so slots never go back in time and any
 * 8 consecutive slots span more than a second.
 *
 * `marginMs` (default 50 ms) widens the second a little: a call leaves when its timer fires and
 * reaches Kommo after a network hop, both of which vary by some milliseconds, and an account that
 * is throttled too often gets blocked.
 */

export type RateLimiter = {
  /** Resolves when a call for `key` (the account's subdomain) may go; the milliseconds it waited. */
  acquire(key: string): Promise<number>
}

export const KOMMO_REQUESTS_PER_SECOND = 7
export const DEFAULT_MARGIN_MS = 50
const WINDOW_MS = 1000

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

function limits(input: { perSecond?: number; marginMs?: number }) {
  const perSecond = Math.floor(input.perSecond ?? KOMMO_REQUESTS_PER_SECOND)
  if (!(perSecond >= 1)) throw new RangeError(`perSecond must be at least 1, got ${input.perSecond}`)
  const marginMs = Math.max(0, input.marginMs ?? DEFAULT_MARGIN_MS)
  return { perSecond, spacingMs: WINDOW_MS + marginMs }
}

/**
 * The bucket of one process. Slots are reserved synchronously (before the first await), so
 * concurrent callers in this process never overbook. With several processes calling the same
 * account, use createRedisBucket.
 */
export function createMemoryBucket(input: { perSecond?: number; marginMs?: number; now?: () => number; sleep?: (ms: number) => Promise<void> } = {}): RateLimiter {
  const { perSecond, spacingMs } = limits(input)
  const now = input.now ?? Date.now
  const sleep = input.sleep ?? defaultSleep
  /** Per key, its latest `perSecond` slots, oldest first. */
  const book = new Map<string, number[]>()

  const prune = (at: number) => {
    for (const [key, slots] of book) if (slots[slots.length - 1]! <= at - spacingMs) book.delete(key)
  }

  return {
    async acquire(key) {
      const start = now()
      if (book.size > 1000) prune(start)
      const slots = book.get(key) ?? []
      let at = Math.max(start, slots[slots.length - 1] ?? start)
      if (slots.length >= perSecond) at = Math.max(at, slots[slots.length - perSecond]! + spacingMs)
      slots.push(at)
      if (slots.length > perSecond) slots.splice(0, slots.length - perSecond)
      book.set(key, slots)
      const wait = at - start
      if (wait > 0) await sleep(wait)
      return wait
    },
  }
}

/**
 * The same book in a Redis sorted set per key (score = the slot's time in ms), read and written by
 * one script, so that every process calling an account shares it and two processes never take the
 * same slot. Time is Redis's own (TIME), not each process's clock, so hosts whose clocks disagree
 * still agree on the slots; the script answers how long to wait from now.
 *
 * KEYS[1] the account's book; ARGV[1] perSecond, ARGV[2] spacing (ms), ARGV[3] a unique member.
 */
const RESERVE = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local limit = tonumber(ARGV[1])
local spacing = tonumber(ARGV[2])
local latest = redis.call('ZREVRANGE', KEYS[1], 0, limit - 1, 'WITHSCORES')
local at = now
if #latest > 0 then
  at = math.max(at, tonumber(latest[2]))
end
if #latest >= 2 * limit then
  at = math.max(at, tonumber(latest[2 * limit]) + spacing)
end
redis.call('ZADD', KEYS[1], at, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + 1))
redis.call('PEXPIRE', KEYS[1], at - now + spacing + 1000)
return at - now
`

/** Shared by every process: one Lua script reserves the next free slot atomically (like adapters/net/redis-send-scheduler.ts). */
export function createRedisBucket(input: { redis: Redis; prefix: string; perSecond?: number; marginMs?: number; sleep?: (ms: number) => Promise<void> }): RateLimiter {
  const { perSecond, spacingMs } = limits(input)
  const sleep = input.sleep ?? defaultSleep
  return {
    async acquire(key) {
      const wait = Math.max(0, Number(await input.redis.eval(RESERVE, 1, `${input.prefix}:kommo:rate:${key}`, String(perSecond), String(spacingMs), randomUUID())))
      if (wait > 0) await sleep(wait)
      return wait
    },
  }
}
