import { AppError } from '../../core/errors.ts'
import { DELIVERY_REFUSED } from '../../core/ports.ts'

/*
 * A small client of Meta's Graph API (graph.facebook.com for Messenger and Instagram with Facebook
 * Login, graph.instagram.com for Instagram Login). Meta answers a failed call with
 *
 *   { "error": { "message", "type", "code", "error_subcode", "error_user_msg", "fbtrace_id" } }
 *
 * (https://developers.facebook.com/docs/graph-api/guides/error-handling,
 * https://developers.facebook.com/docs/messenger-platform/error-codes). `code` says what kind of
 * failure it is and `error_subcode` which one; the HTTP status alone does not (throttling comes as
 * 400 or 403 as well as 429).
 */

export class MetaApiError extends Error {
  /** The HTTP status of Meta's answer; 0 when no answer came (network failure, timeout). */
  readonly status: number
  readonly code: number | undefined
  readonly subcode: number | undefined
  readonly type: string | undefined
  /** Meta's support id of the failed call: quote it to Meta's developer support. */
  readonly fbtraceId: string | undefined
  /** Meta's own description of the failure (`error.message`), without the method and path. */
  readonly reason: string
  /** `error_user_msg`: Meta's text for the person who made the request, when it gives one. */
  readonly userMessage: string | undefined

  constructor(input: { message: string; reason: string; status: number; code?: number; subcode?: number; type?: string; fbtraceId?: string; userMessage?: string; cause?: unknown }) {
    super(input.message, input.cause === undefined ? undefined : { cause: input.cause })
    this.name = 'MetaApiError'
    this.status = input.status
    this.code = input.code
    this.subcode = input.subcode
    this.type = input.type
    this.fbtraceId = input.fbtraceId
    this.reason = input.reason
    this.userMessage = input.userMessage
  }
}

/**
 * Codes Meta uses for throttling: the call was refused before it did anything, so it may be made
 * again after a pause.
 * - 4 application, 17 user (account), 32 Page, 613 custom rate limit
 *   (https://developers.facebook.com/docs/graph-api/overview/rate-limiting, "Error Codes"; 4 and 613
 *   also in https://developers.facebook.com/docs/messenger-platform/error-codes);
 * - 341 "Application limit reached" ("wait and retry",
 *   https://developers.facebook.com/docs/graph-api/guides/error-handling);
 * - Business Use Case limits, which apply to calls made with a Page or system-user token:
 *   80001 Pages, 80002 Instagram, 80006 Messenger ("There have been too many messenger api calls to
 *   this Page account. Wait a bit and try again."; same page, "Business Use Case Rate Limits").
 */
export const RATE_LIMIT_CODES: ReadonlySet<number> = new Set([4, 17, 32, 341, 613, 80001, 80002, 80006])

/**
 * Send API refusals that Meta's rules make final for this message now (code 10 is Meta's
 * "permission" family, https://developers.facebook.com/docs/messenger-platform/reference/send-api/error-codes):
 * - 10/2018278: Messenger, "This message is sent outside of allowed window";
 * - 10/2534022: Instagram, the same refusal (type IGApiException);
 * - 10/2018065: outside the window, for a tag or permission the app does not hold;
 * - 10/2018108: the app may not message this person now;
 * - 551 (1545041): "This person isn't available right now" (blocked the Page or turned messages off).
 */
const WINDOW_SUBCODES: ReadonlySet<number> = new Set([2018278, 2534022, 2018065])
const POLICY_SUBCODES: ReadonlySet<number> = new Set([...WINDOW_SUBCODES, 2018108])

/** 10 with subcode 2018278 (outside the allowed window), 2534022, 2018065, 2018108, or 551 (person unavailable): policy refusals, never retried. */
export function isPolicyRefusal(e: MetaApiError): boolean {
  if (e.code === 551) return true
  return e.code === 10 && e.subcode !== undefined && POLICY_SUBCODES.has(e.subcode)
}

/** The refusal is the closed messaging window (as opposed to a person who cannot be reached). */
export const isWindowClosed = (e: MetaApiError): boolean => e.code === 10 && e.subcode !== undefined && WINDOW_SUBCODES.has(e.subcode)

/**
 * Code 190, "Access token has expired" / invalid OAuth token, whatever the subcode (458 app not
 * installed, 460 password changed, 463 expired, 467 invalid...), and 102, the older "API Session"
 * code for the same (https://developers.facebook.com/docs/graph-api/guides/error-handling).
 */
export const isExpiredToken = (e: MetaApiError): boolean => e.code === 190 || e.code === 102

export const isRateLimited = (e: MetaApiError): boolean => (e.code !== undefined && RATE_LIMIT_CODES.has(e.code)) || (e.code === undefined && e.status === 429)

export type GraphClient = {
  /**
   * One Graph call. `token` goes in `Authorization: Bearer` (never in the URL, so it never reaches
   * logs). Rate-limit errors wait (sleep, growing: 1 s, 2 s, 4 s… capped, at most `retries` times) and
   * retry; everything else throws MetaApiError (message never containing the token).
   */
  call<T = unknown>(input: { method: 'GET' | 'POST' | 'DELETE'; path: string; token?: string; query?: Record<string, string>; body?: Record<string, unknown> }): Promise<T>
}

/** The longest pause between two attempts of a throttled call. */
export const MAX_BACKOFF_MS = 30_000
const DEFAULT_TIMEOUT_MS = 20_000
const DEFAULT_RETRIES = 3

/**
 * A Graph client for `{baseUrl}/{version}{path}`: `baseUrl` like `https://graph.facebook.com` (or a
 * test double's `http://127.0.0.1:1234/fb`), `version` like `v23.0`, `path` like `/123/messages`.
 * Bodies are sent as JSON. A call that got no answer (network failure, `timeoutMs` passed) is not
 * repeated: Meta may have acted on it (a message sent twice is worse than one reported as failed).
 */
export function createGraphClient(input: { baseUrl: string; version: string; retries?: number; sleep?: (ms: number) => Promise<void>; timeoutMs?: number; fetch?: typeof fetch }): GraphClient {
  const base = `${input.baseUrl.replace(/\/+$/, '')}/${input.version.replace(/^\/+|\/+$/g, '')}`
  const retries = Math.max(0, input.retries ?? DEFAULT_RETRIES)
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const doFetch: typeof fetch = input.fetch ?? ((url, init) => fetch(url, init))

  return {
    async call<T = unknown>(req: { method: 'GET' | 'POST' | 'DELETE'; path: string; token?: string; query?: Record<string, string>; body?: Record<string, unknown> }): Promise<T> {
      checkPath(req.path)
      const url = new URL(`${base}${req.path}`)
      for (const [key, value] of Object.entries(req.query ?? {})) url.searchParams.set(key, value)
      const headers: Record<string, string> = { accept: 'application/json' }
      if (req.token) headers.authorization = `Bearer ${req.token}`
      const hasBody = req.body !== undefined && req.method !== 'GET'
      if (hasBody) headers['content-type'] = 'application/json'
      const what = `Graph ${req.method} ${req.path}`
      const clean = (text: string) => redact(text, req.token)

      for (let attempt = 0; ; attempt++) {
        let res: Response
        try {
          res = await doFetch(url, { method: req.method, headers, body: hasBody ? JSON.stringify(req.body) : undefined, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' })
        } catch (cause) {
          const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')
          const reason = timedOut ? `no answer within ${Math.round(timeoutMs / 1000)} s` : clean(`network error (${cause instanceof Error ? cause.message : String(cause)})`)
          throw new MetaApiError({ message: `${what}: ${reason}`, reason, status: 0, cause })
        }
        const text = await res.text().catch(() => '')
        const json = parseJson(text)
        const error = graphError(json)
        if (res.ok && !error) return (json === undefined ? text : json) as T

        const e = error
          ? new MetaApiError({
              message: `${what}: ${clean(error.message ?? 'error')} (code ${error.code ?? '?'}${error.error_subcode !== undefined ? `/${error.error_subcode}` : ''}, HTTP ${res.status})`,
              reason: clean(error.message ?? `HTTP ${res.status}`),
              status: res.status,
              code: error.code,
              subcode: error.error_subcode,
              type: error.type,
              fbtraceId: error.fbtrace_id,
              userMessage: error.error_user_msg === undefined ? undefined : clean(error.error_user_msg),
            })
          : new MetaApiError({ message: `${what}: HTTP ${res.status}${text ? ` ${clean(text.slice(0, 200))}` : ''}`, reason: `HTTP ${res.status}`, status: res.status })
        if (!isRateLimited(e) || attempt >= retries) throw e
        const retryAfter = Number(res.headers.get('retry-after'))
        const backoff = Math.max(1000 * 2 ** attempt, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0)
        await sleep(Math.min(backoff, MAX_BACKOFF_MS))
      }
    },
  }
}

type GraphErrorBody = { message?: string; type?: string; code?: number; error_subcode?: number; error_user_msg?: string; fbtrace_id?: string }

function parseJson(text: string): unknown {
  if (!text) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Meta's `error` object, its fields kept only when they have the documented types. */
function graphError(json: unknown): GraphErrorBody | undefined {
  if (!json || typeof json !== 'object') return undefined
  const error = (json as { error?: unknown }).error
  if (!error || typeof error !== 'object') return undefined
  const e = error as Record<string, unknown>
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
  const num = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined)
  return { message: str(e.message), type: str(e.type), code: num(e.code), error_subcode: num(e.error_subcode), error_user_msg: str(e.error_user_msg), fbtrace_id: str(e.fbtrace_id) }
}

/** A path under the version: starts with `/`, no query, fragment, whitespace or dot segments (ids are never allowed to climb out of it). */
function checkPath(path: string): void {
  if (!path.startsWith('/') || /[?#\s\\]/.test(path) || path.split('/').some((s) => s === '.' || s === '..')) {
    throw new TypeError(`Not a Graph API path: ${JSON.stringify(path.slice(0, 100))}`)
  }
}

// Meta's access tokens: Page and user tokens start with EAA, Instagram Login tokens with IG.
const TOKEN_LIKE = /\b(?:EAA|IGQ|IGAA)[A-Za-z0-9_-]{20,}/g

/** Text without the call's token, anything shaped like a Meta token, or an access_token parameter's value. */
export function redact(text: string, token?: string): string {
  let out = token && token.length >= 8 ? text.split(token).join('[redacted]') : text
  out = out.replace(TOKEN_LIKE, '[redacted]').replace(/(access_token=)[^&\s"']+/gi, '$1[redacted]')
  return out
}

/**
 * A MetaApiError (or network error) as an AppError for people: 190 → 422 'channel_unauthorized',
 * policy → 422 'delivery_refused' (never retried), others 502 'provider_error'; never the token.
 * `operation` names what was attempted, as people say it ("Sending the Messenger reply").
 */
export function metaAppError(operation: string, error: unknown): AppError {
  if (error instanceof AppError) return error
  if (!(error instanceof MetaApiError)) {
    const reason = error instanceof Error ? error.message : String(error)
    return new AppError('provider_error', `${operation} failed: ${redact(reason)}`, 502)
  }
  const details = { code: error.code, subcode: error.subcode, fbtraceId: error.fbtraceId }
  const ref = `Meta error ${error.code ?? '?'}${error.subcode !== undefined ? `/${error.subcode}` : ''}`
  if (isExpiredToken(error)) {
    return new AppError('channel_unauthorized', `${operation} failed: Meta refused the access token (expired or revoked). Connect the Facebook Page or Instagram account again to give Switchboard a new one (${ref}).`, 422, details)
  }
  if (isPolicyRefusal(error)) {
    const why = isWindowClosed(error)
      ? 'the customer last wrote more than 24 hours ago, so Meta no longer accepts replies in this conversation until they write again'
      : error.code === 551
        ? "this person isn't available right now (they may have blocked the Page or turned off its messages)"
        : 'Meta does not let this app message this person now'
    return new AppError(DELIVERY_REFUSED, `${operation} was refused: ${why} (${ref}).`, 422, details)
  }
  if (isRateLimited(error)) {
    return new AppError('provider_error', `${operation} failed: Meta is limiting how many calls this app may make; try again later (${ref}).`, 502, details)
  }
  return new AppError('provider_error', `${operation} failed: ${error.reason}${error.code !== undefined ? ` (${ref})` : ''}`, 502, details)
}
