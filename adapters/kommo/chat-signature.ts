import { createHash, createHmac } from 'node:crypto'
import { safeEqual } from '../../core/security/passwords.ts'

/*
 * Signing for Kommo's Chats API (amojo), as its documentation gives it
 * (https://www.amocrm.ru/developers/content/chats/chat-start and chat-api-reference, mirror
 * amo-docs chats/*.md; CHANNELS.md C [K15][K16][K19]).
 *
 * A request TO amojo carries four headers:
 *   Date          RFC 2822 ("Mon, 03 Oct 2020 15:11:21 +0000"), valid 15 minutes
 *   Content-Type  application/json
 *   Content-MD5   lowercase hex MD5 of the exact body bytes ('' hashed for a GET without body)
 *   X-Signature   lowercase hex HMAC-SHA1(channel secret, METHOD\nContent-MD5\nContent-Type\nDate\npath)
 * The body signed is the body sent: callers serialize once and send those bytes (a snippet that
 * re-serializes, or leaves Content-Type out of the string, gets 403).
 *
 * A hook FROM amojo (an operator's message) carries X-Signature = hex HMAC-SHA1(channel secret,
 * raw body), compared here in constant time.
 */

export const AMOJO_CONTENT_TYPE = 'application/json'

/** RFC 2822 as PHP's DATE_RFC2822 writes it, in UTC: "Sun, 06 Dec 2026 22:50:00 +0000". */
export function rfc2822(date: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
  const two = (n: number) => String(n).padStart(2, '0')
  return `${days[date.getUTCDay()]}, ${two(date.getUTCDate())} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
}

export const md5Hex = (body: Buffer | string) => createHash('md5').update(body).digest('hex')

/** The string amojo signs: METHOD, Content-MD5, Content-Type, Date and path, one per line. */
export const stringToSign = (input: { method: string; contentMd5: string; contentType: string; date: string; path: string }) =>
  [input.method.toUpperCase(), input.contentMd5, input.contentType, input.date, input.path].join('\n')

export const hmacSha1Hex = (secret: string, data: Buffer | string) => createHmac('sha1', secret).update(data).digest('hex')

/** The headers of one request to amojo, over the exact bytes that will be sent. */
export function signAmojoRequest(input: { secret: string; method: string; path: string; body: Buffer; date: Date }): Record<string, string> {
  const contentMd5 = md5Hex(input.body)
  const date = rfc2822(input.date)
  const signature = hmacSha1Hex(input.secret, stringToSign({ method: input.method, contentMd5, contentType: AMOJO_CONTENT_TYPE, date, path: input.path }))
  return { Date: date, 'Content-Type': AMOJO_CONTENT_TYPE, 'Content-MD5': contentMd5, 'X-Signature': signature }
}

/** Whether a hook's X-Signature is the HMAC-SHA1 of its raw body with the channel secret (constant time; case of the hex ignored). */
export function hookSignatureValid(input: { secret: string | undefined; rawBody: Buffer; signature: string | string[] | undefined }): boolean {
  const given = Array.isArray(input.signature) ? input.signature[0] : input.signature
  if (!input.secret || !given) return false
  return safeEqual(hmacSha1Hex(input.secret, input.rawBody), given.trim().toLowerCase())
}
