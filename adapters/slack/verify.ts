import { isValidSlackRequest } from '@slack/bolt/dist/receivers/verify-request.js'
import type { Redis } from 'ioredis'
import type { RawRequest } from '../../core/ports.ts'

/** Slack signs every request; one older or newer than this is refused (https://api.slack.com/authentication/verifying-requests-from-slack). */
export const MAX_SKEW_SECONDS = 300

const header = (req: RawRequest, name: string): string | undefined => {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * Checks Slack's signature: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{raw body}")>`,
 * compared in constant time by Bolt's verifySlackRequest (imported from its own module, so the rest of
 * Bolt, about 9 MB of memory, is not loaded). Bolt refuses only timestamps older than
 * five minutes; one five minutes in the future is refused here too (the clock is injected for tests).
 */
export function validSignature(input: { req: RawRequest; signingSecret: string; nowMs: number }): boolean {
  const timestamp = Number(header(input.req, 'x-slack-request-timestamp'))
  const signature = header(input.req, 'x-slack-signature')
  if (!Number.isInteger(timestamp) || !signature) return false
  if (Math.abs(input.nowMs / 1000 - timestamp) > MAX_SKEW_SECONDS) return false
  return isValidSlackRequest({
    signingSecret: input.signingSecret,
    body: input.req.rawBody.toString('utf8'),
    headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
    nowMilliseconds: input.nowMs,
  })
}

/**
 * Remembers the signatures of accepted requests for as long as their timestamp is accepted, so the
 * same signed request sent again (a replay) is refused. Slack signs every delivery anew, retries
 * included. Shared through Redis when configured, so a replay to another process is caught too.
 */
export function createReplayGuard(input: { redis?: { client: Redis; prefix: string }; now?: () => number }) {
  const now = input.now ?? Date.now
  const windowMs = 2 * MAX_SKEW_SECONDS * 1000
  const seen = new Map<string, number>()
  return {
    /** True the first time a signature is seen within the window. */
    async first(key: string): Promise<boolean> {
      if (input.redis) return (await input.redis.client.set(`${input.redis.prefix}:slack:seen:${key}`, '1', 'PX', windowMs, 'NX')) === 'OK'
      const at = now()
      if (seen.size > 10_000) for (const [k, until] of seen) if (until <= at) seen.delete(k)
      const until = seen.get(key)
      if (until !== undefined && until > at) return false
      seen.set(key, at + windowMs)
      return true
    },
  }
}
