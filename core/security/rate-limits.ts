import type { RateLimiter } from '../ports.ts'

/** One limit on one caller: `limit` attempts of `key` per `windowMs`, advertised under `name`. */
export type RatePolicy = { name: string; key: string; limit: number; windowMs: number }

/** Where one policy stands after a request; what the RateLimit, RateLimit-Policy and Retry-After headers say. */
export type RateLimitStatus = { policy: string; limit: number; windowMs: number; remaining: number; resetMs: number; allowed: boolean }

export type Reservation = {
  allowed: boolean
  statuses: RateLimitStatus[]
  /** Gives the attempt back to every policy (at most once), e.g. for a sign-in with the right password. */
  refund(): Promise<void>
}

/**
 * Counts one attempt against every policy, atomically per policy, before the work it guards is done:
 * of many concurrent attempts only `limit` are let through. A refused attempt is given back at once,
 * so a caller refused by one policy does not use up another. A policy with a limit of 0 is off.
 */
export async function reserve(limiter: RateLimiter, all: RatePolicy[]): Promise<Reservation> {
  const policies = all.filter((p) => p.limit > 0)
  const hits = await Promise.all(policies.map((p) => limiter.hit(p.key, { limit: p.limit, windowMs: p.windowMs })))
  const statuses = policies.map((p, i) => ({ policy: p.name, limit: p.limit, windowMs: p.windowMs, remaining: hits[i]!.remaining, resetMs: hits[i]!.resetMs, allowed: hits[i]!.allowed }))
  let refunded = false
  const refund = async () => {
    if (refunded) return
    refunded = true
    await Promise.all(policies.map((p) => limiter.refund(p.key)))
    for (const s of statuses) if (s.allowed) s.remaining = Math.min(s.limit, s.remaining + 1)
  }
  const allowed = statuses.every((s) => s.allowed)
  if (!allowed) await refund()
  return { allowed, statuses, refund }
}
