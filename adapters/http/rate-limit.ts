import type { Response } from 'express'
import { AppError } from '../../core/errors.ts'
import type { RateLimiter } from '../../core/ports.ts'
import { reserve, type RateLimitStatus, type RatePolicy } from '../../core/security/rate-limits.ts'

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))

/**
 * The RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers (a list of
 * policies as structured fields: `"name";q=20;w=60` and `"name";r=0;t=42`), and Retry-After when a
 * policy refused the request.
 */
export function setRateLimitHeaders(res: Response, statuses: RateLimitStatus[]): void {
  if (!statuses.length || res.headersSent) return
  res.setHeader('RateLimit-Policy', statuses.map((s) => `"${s.policy}";q=${s.limit};w=${seconds(s.windowMs)}`).join(', '))
  res.setHeader('RateLimit', statuses.map((s) => `"${s.policy}";r=${s.remaining};t=${seconds(s.resetMs)}`).join(', '))
  const refused = statuses.filter((s) => !s.allowed)
  if (refused.length) res.setHeader('Retry-After', String(Math.max(...refused.map((s) => seconds(s.resetMs)))))
}

/**
 * Counts the request against its policies before the route does any work; answers 429 with
 * Retry-After when one is used up.
 */
export async function enforceRateLimits(input: { limiter: RateLimiter; res: Response; policies: RatePolicy[]; message: string }): Promise<void> {
  const reservation = await reserve(input.limiter, input.policies)
  setRateLimitHeaders(input.res, reservation.statuses)
  if (!reservation.allowed) throw new AppError('rate_limited', input.message, 429)
}
