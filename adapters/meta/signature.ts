import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/*
 * Meta's two webhook checks (https://developers.facebook.com/docs/messenger-platform/webhooks,
 * https://developers.facebook.com/docs/graph-api/webhooks/getting-started):
 * - the subscription check, a GET with hub.mode=subscribe, hub.verify_token (the token typed into
 *   the App Dashboard) and hub.challenge, answered 200 with the challenge; any other answer fails it;
 * - every event POST carries X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed
 *   with the app secret>. The HMAC is over the bytes as received: a body parsed and serialised again
 *   (other spacing, escaped Unicode) no longer matches.
 */

const SIGNATURE = /^sha256=([0-9a-f]{64})$/i

const first = (value: unknown): unknown => (Array.isArray(value) ? value[0] : value)

/** Equal strings, compared in constant time whatever their lengths (both are hashed to 32 bytes first). */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()
  return timingSafeEqual(digest(a), digest(b)) && a.length === b.length
}

/** X-Hub-Signature-256: sha256=<hex HMAC-SHA256(raw body, app secret)>, compared in constant time; false for a missing/malformed header. */
export function validMetaSignature(rawBody: Buffer, header: string | string[] | undefined, appSecret: string): boolean {
  // Without a secret nothing can be checked, and an unchecked post is never accepted.
  if (!appSecret) return false
  const value = first(header)
  if (typeof value !== 'string') return false
  const match = SIGNATURE.exec(value.trim())
  if (!match) return false
  const expected = createHmac('sha256', appSecret).update(rawBody).digest()
  return timingSafeEqual(Buffer.from(match[1]!, 'hex'), expected)
}

/**
 * The GET subscription check: hub.mode=subscribe and hub.verify_token equal (constant time) → the
 * challenge; otherwise null (the caller answers 403). Query values may be arrays (take the first).
 * Keys are read as sent (`hub.mode`) and, for a query parser that nests dotted keys, as `hub: { mode }`.
 */
export function verifyChallenge(query: Record<string, unknown>, verifyToken: string): string | null {
  if (!verifyToken) return null
  const hub = first(query.hub)
  const nested = hub && typeof hub === 'object' ? (hub as Record<string, unknown>) : {}
  const read = (name: string) => {
    const value = first(query[`hub.${name}`] ?? nested[name])
    return typeof value === 'string' ? value : undefined
  }
  const mode = read('mode')
  const token = read('verify_token')
  const challenge = read('challenge')
  if (mode !== 'subscribe' || token === undefined || !challenge) return null
  return sameSecret(token, verifyToken) ? challenge : null
}
