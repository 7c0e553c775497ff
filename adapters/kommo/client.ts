import type { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { RateLimiter } from './rate-limit.ts'
import { problemSchema, subdomainSchema, validationErrorSchema } from './schemas.ts'

/*
 * The one client of Kommo's API v4 (https://{subdomain}.kommo.com/api/v4/..., the account's own
 * address, never www: https://developers.kommo.com/docs/limitations). Every call:
 *
 * - waits for the account's rate limiter first (7 calls a second, ./rate-limit.ts), retries included;
 * - sends the access token as `Authorization: Bearer` (never in the URL, so never in a log);
 * - reads Kommo's answer as its error table says
 *   (https://www.amocrm.ru/developers/content/crm_platform/error-codes, mirror amo-docs
 *   crm_platform/error-codes.md), turning each failure into an AppError whose message is for
 *   people and never holds a token:
 *
 *     204          "nothing found" (code 2002): null, an empty result, not an error
 *     401          the access token expired or was revoked: one forced refresh, one retry, then
 *                  'crm_unauthorized' 422 (amocrm-api-php does the same: one refresh on a 401,
 *                  AmoCRMApiRequest.php; a deactivated integration's tokens answer 401 for good,
 *                  oauth/step-by-step.md "Обработка ошибок")
 *     429          over the limit: wait 1 s, 2 s, 4 s... (at most `retries` times), then
 *                  'crm_rate_limited' 503
 *     403          the account is blocked for going over the limit again and again: `onBlocked`,
 *                  'crm_blocked' 503, and this client makes no more calls (each fails at once)
 *     402          the account's subscription has ended: 'crm_payment_required' 402
 *     400 with     the items Kommo refused: 'validation_failed' 422 naming each field's path and
 *     validation-errors  Kommo's reason
 *     5xx          'provider_error' 502
 *     no answer    (network failure, `timeoutMs`): 'crm_unreachable' 502, not repeated (Kommo may
 *                  have acted on it: a lead made twice is worse than one reported as failed)
 *
 * Any other refusal (400 without validation errors, 404, 405, 422, a redirect) is 'provider_error'
 * 502. Every AppError from an answer carries a KommoApiError as its `cause` (kommoApiErrorOf) with
 * the status and Kommo's title and detail, for callers that tell a 404 from the rest.
 */

export class KommoApiError extends Error {
  /** The HTTP status of Kommo's answer. */
  readonly status: number
  readonly title?: string
  readonly detail?: string
  /** The fields Kommo refused (a 400 with `validation-errors`); `requestId` is the batch item's. */
  readonly validation?: { path: string; code: string; detail: string; requestId?: string }[]

  constructor(input: { message: string; status: number; title?: string; detail?: string; validation?: { path: string; code: string; detail: string; requestId?: string }[] }) {
    super(input.message)
    this.name = 'KommoApiError'
    this.status = input.status
    this.title = input.title
    this.detail = input.detail
    this.validation = input.validation
  }
}

/** The KommoApiError behind an AppError the client threw (its `cause`), if Kommo answered. */
export function kommoApiErrorOf(error: unknown): KommoApiError | undefined {
  if (error instanceof KommoApiError) return error
  const cause = error instanceof Error ? error.cause : undefined
  return cause instanceof KommoApiError ? cause : undefined
}

export type KommoMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE'

export type KommoClient = {
  /** `path` like `/api/v4/leads/pipelines`; JSON body; parsed with `schema` when given. 204 → `null` (an empty result, e.g. a search that found nothing). */
  request<T>(input: { method: KommoMethod; path: string; query?: Record<string, string>; body?: unknown; schema?: z.ZodType<T> }): Promise<T | null>
}

/** What gives the client its access token (createTokenManager in ./tokens.ts). */
export type AccessTokenSource = { accessToken(opts?: { force?: boolean; seen?: string }): Promise<string> }

export const DEFAULT_KOMMO_API_URL = 'https://{subdomain}.kommo.com'
/** The longest pause between two attempts of a throttled call. */
export const MAX_BACKOFF_MS = 30_000
const DEFAULT_RETRIES = 3
const DEFAULT_TIMEOUT_MS = 20_000

/**
 * The account's API address from KOMMO_API_URL's template (`{subdomain}` replaced), without a
 * trailing slash. The subdomain must be a DNS label: it lands in the host name.
 */
export function kommoApiUrl(template: string, subdomain: string): string {
  if (!subdomainSchema.safeParse(subdomain).success) throw new AppError('validation_failed', `Not a Kommo subdomain: ${JSON.stringify(subdomain.slice(0, 70))}`, 422)
  if (!template.includes('{subdomain}')) throw new TypeError(`The Kommo API URL template has no {subdomain}: ${template}`)
  return template.split('{subdomain}').join(subdomain.toLowerCase()).replace(/\/+$/, '')
}

export function createKommoClient(input: {
  subdomain: string
  /** KOMMO_API_URL, default 'https://{subdomain}.kommo.com': the placeholder replaced. */
  apiUrlTemplate?: string
  tokens: AccessTokenSource
  /** Acquired with key = subdomain before EVERY call, retries included. */
  limiter: RateLimiter
  fetch?: typeof fetch
  sleep?: (ms: number) => Promise<void>
  /** A 403, the account blocked: told once, so the caller marks the connection and alerts its admins. */
  onBlocked?: (reason: string) => Promise<void>
  /** How many times a 429 is retried (default 3: after 1 s, 2 s and 4 s). */
  retries?: number
  timeoutMs?: number
}): KommoClient {
  const subdomain = input.subdomain.toLowerCase()
  const base = kommoApiUrl(input.apiUrlTemplate ?? DEFAULT_KOMMO_API_URL, subdomain)
  const retries = Math.max(0, input.retries ?? DEFAULT_RETRIES)
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const doFetch: typeof fetch = input.fetch ?? ((url, init) => fetch(url, init))
  const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS
  /** Why Kommo blocked the account, once it did: every later call fails without reaching Kommo. */
  let blocked: string | undefined

  const blockedError = (reason: string) =>
    new AppError('crm_blocked', `Kommo has blocked API access for the account ${subdomain} (${reason}). Switchboard stopped calling it; connect Kommo again once Kommo support has lifted the block.`, 503)

  return {
    async request<T>(req: { method: KommoMethod; path: string; query?: Record<string, string>; body?: unknown; schema?: z.ZodType<T> }): Promise<T | null> {
      checkPath(req.path)
      const what = `${req.method} ${req.path}`
      if (blocked) throw blockedError(blocked)
      const url = new URL(`${base}${req.path}`)
      for (const [key, value] of Object.entries(req.query ?? {})) url.searchParams.set(key, value)
      const hasBody = req.body !== undefined && req.method !== 'GET'

      let token = await input.tokens.accessToken()
      let refreshed = false
      for (let attempt = 0; ; ) {
        if (blocked) throw blockedError(blocked)
        await input.limiter.acquire(subdomain)
        const clean = (text: string) => redact(text, token)
        const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${token}` }
        if (hasBody) headers['content-type'] = 'application/json'

        let res: Response
        try {
          res = await doFetch(url, { method: req.method, headers, body: hasBody ? JSON.stringify(req.body) : undefined, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' })
        } catch (cause) {
          const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')
          const reason = timedOut ? `no answer within ${Math.round(timeoutMs / 1000)} s` : clean(`network error: ${cause instanceof Error ? cause.message : String(cause)}`)
          throw new AppError('crm_unreachable', `Kommo could not be reached (${what}): ${reason}`, 502)
        }
        const text = await res.text().catch(() => '')

        if (res.status === 204) return null
        if (res.ok) return parseAnswer(text, req.schema, what)

        const failure = apiError(res.status, text, clean)
        if (res.status === 401) {
          if (!refreshed) {
            refreshed = true
            // Another process may have refreshed already: `seen` lets the token manager tell.
            token = await input.tokens.accessToken({ force: true, seen: token })
            continue
          }
          throw withCause(new AppError('crm_unauthorized', `Kommo refused the access token for ${what}, also after refreshing it${describe(failure)}. Connect Kommo again.`, 422), failure)
        }
        if (res.status === 429) {
          if (attempt < retries) {
            await sleep(backoffMs(attempt, res.headers.get('retry-after')))
            attempt++
            continue
          }
          throw withCause(new AppError('crm_rate_limited', `Kommo is limiting the calls to the account ${subdomain} (429 on ${what}, ${retries + 1} attempts); try again in a minute.`, 503), failure)
        }
        if (res.status === 403) {
          if (!blocked) {
            blocked = `HTTP 403 on ${what}${describe(failure)}`
            // The block stands whatever the callback does; a failing alert must not hide it.
            await input.onBlocked?.(blocked).catch(() => undefined)
          }
          throw withCause(blockedError(blocked), failure)
        }
        if (res.status === 402) {
          throw withCause(new AppError('crm_payment_required', `The Kommo subscription of the account ${subdomain} has ended: Kommo answers no API calls until it is paid (${what}).`, 402), failure)
        }
        if (res.status === 400 && failure.validation?.length) {
          // A batch's items are named by their request_id when more than one was refused.
          const items = new Set(failure.validation.map((v) => v.requestId))
          const fields = failure.validation.map((v) => `${items.size > 1 && v.requestId !== undefined ? `item ${v.requestId}: ` : ''}${v.path || '(no path)'}: ${v.detail || v.code}`)
          throw withCause(new AppError('validation_failed', `Kommo refused ${what}: ${fields.join('; ')}`, 422, failure.validation), failure)
        }
        if (res.status >= 300 && res.status < 400) {
          // Redirects are not followed, so the token goes nowhere but the account's address. An account's
          // subdomain can change (amocrm-api-php looks it up again through /oauth2/account/subdomain,
          // OAuth/AmoCRMOAuth.php getAccountDomain); the connection then needs the new one.
          throw withCause(new AppError('provider_error', `Kommo ${what} answered with a redirect (HTTP ${res.status}): the account's address may have changed; connect Kommo again.`, 502, { status: failure.status }), failure)
        }
        throw withCause(new AppError('provider_error', `Kommo ${what} failed: ${failure.message}`, 502, { status: failure.status, title: failure.title, detail: failure.detail }), failure)
      }
    },
  }
}

/** 1 s, 2 s, 4 s... capped, or Kommo's Retry-After when it asks for longer. */
function backoffMs(attempt: number, retryAfter: string | null): number {
  const asked = Number(retryAfter)
  return Math.min(Math.max(1000 * 2 ** attempt, Number.isFinite(asked) && asked > 0 ? asked * 1000 : 0), MAX_BACKOFF_MS)
}

function parseAnswer<T>(text: string, schema: z.ZodType<T> | undefined, what: string): T | null {
  if (!text.trim()) return null
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new AppError('provider_error', `Kommo answered ${what} with something other than JSON`, 502)
  }
  if (!schema) return json as T
  const parsed = schema.safeParse(json)
  if (parsed.success) return parsed.data
  // Only the paths and zod's own words: never the values, which are the account's data.
  const where = parsed.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ')
  throw new AppError('provider_error', `Kommo answered in an unexpected shape (${what}: ${where})`, 502)
}

/** Kommo's refusal as a KommoApiError: problem JSON's title and detail, and the validation errors of a 400. */
function apiError(status: number, text: string, clean: (text: string) => string): KommoApiError {
  let json: unknown
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    json = undefined
  }
  const problem = problemSchema.safeParse(json)
  const title = problem.success && problem.data.title ? clean(problem.data.title) : undefined
  const detail = problem.success && (problem.data.detail || problem.data.hint) ? clean([problem.data.detail, problem.data.hint].filter(Boolean).join(': ')) : undefined
  const invalid = validationErrorSchema.safeParse(json)
  const validation = invalid.success
    ? invalid.data['validation-errors'].flatMap((item) =>
        (item.errors ?? [item as { path?: string; code?: string; detail?: string }]).map((e) => ({ path: clean(e.path ?? ''), code: clean(e.code ?? ''), detail: clean(e.detail ?? ''), requestId: item.request_id })),
      )
    : undefined
  const said = [title, detail].filter(Boolean).join(': ') || (json === undefined && text ? clean(text.replace(/\s+/g, ' ').slice(0, 200)) : '')
  return new KommoApiError({ message: `HTTP ${status}${said ? ` ${said}` : ''}`, status, title, detail, validation })
}

const describe = (e: KommoApiError) => (e.title || e.detail ? ` (${[e.title, e.detail].filter(Boolean).join(': ')})` : '')

function withCause(error: AppError, cause: KommoApiError): AppError {
  error.cause = cause
  return error
}

/** A path of the account's API: starts with `/`, no query, fragment, whitespace or dot segments (an id never climbs out of it). */
function checkPath(path: string): void {
  if (!path.startsWith('/') || path.startsWith('//') || /[?#\s\\]/.test(path) || path.split('/').some((s) => s === '.' || s === '..' || /^%2e/i.test(s))) {
    throw new TypeError(`Not a Kommo API path: ${JSON.stringify(path.slice(0, 100))}`)
  }
}

// Kommo's access tokens are JWTs (header.payload.signature, base64url; "Access Token в формате JWT",
// oauth/step-by-step.md); its refresh tokens are long hex strings (league/oauth2-server's encrypted
// payloads, "def502..." in public reports).
const JWT_LIKE = /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g
const REFRESH_LIKE = /\bdef502[0-9a-f]{32,}/gi

/** Text without the given secrets, anything shaped like a Kommo token, or a token parameter's value. */
export function redact(text: string, ...secrets: (string | undefined)[]): string {
  let out = text
  for (const secret of secrets) if (secret && secret.length >= 8) out = out.split(secret).join('[redacted]')
  return out
    .replace(JWT_LIKE, '[redacted]')
    .replace(REFRESH_LIKE, '[redacted]')
    .replace(/((?:access_token|refresh_token|client_secret)["']?\s*[=:]\s*["']?)[^&\s"',}]+/gi, '$1[redacted]')
}
