import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local stand-in for Kommo (amoCRM) as an integration talks to it: ONE server plays every
 * `https://{subdomain}.kommo.com` under a path prefix, so the product's `KOMMO_API_URL` is
 * `apiUrlTemplate` (`http://127.0.0.1:PORT/{subdomain}`) and calls look like `/{subdomain}/api/v4/...` and
 * `/{subdomain}/oauth2/access_token`.
 *
 * Shapes follow https://www.amocrm.ru/developers/content (mirrored in github.com/biradrags/amo-docs,
 * `amocrm_docs_md/`) and https://developers.kommo.com; `tests/fixtures/kommo/README.md` lists the source of
 * every shape. In short:
 *
 * - OAuth 2.0 (oauth/step-by-step.md): `POST /oauth2/access_token` with JSON (form also accepted) →
 *   `{ token_type: "Bearer", expires_in, server_time, access_token, refresh_token }`. Codes are single-use and
 *   live 20 minutes; refresh tokens are SINGLE-USE (each refresh returns a new pair) and live 3 months. Errors
 *   are `{ hint, title, type: "https://developers.amocrm.ru/v3/errors/OAuthProblemJson", status, detail }`; that
 *   envelope is not on any documentation page, it is what integrations report receiving (amocrm-api-php issues
 *   #123/#315, amoCRM clients quoting it). Tokens are JWT-shaped (`eyJ0eXAiOiJKV1Qi...`, like Kommo's) but the
 *   signature is random: treat them as opaque.
 * - API v4: `Authorization: Bearer`, HAL bodies (`application/hal+json`), errors as problem JSON
 *   (`application/problem+json`, `{ title, type: "https://httpstatus.es/<code>", status, detail }`,
 *   https://developers.kommo.com/docs/http-codes). Lists with nothing in them answer **204 with an empty body**
 *   (error-codes.md, code 2002), as do `GET /leads/{id}` and `GET /contacts/{id}` for an unknown id.
 * - Validation failures: 400 `{ "validation-errors": [{ request_id, errors: [{ code, path, detail }] }], title:
 *   "Bad Request", type: "https://httpstatus.es/400", status: 400, detail: "Request validation failed" }`
 *   (error-codes.md). Documented codes are `InvalidType` and `NotSupportedChoice`; the fake also uses
 *   `NotBlank`, `Count` and `InvalidUrl` (Symfony constraint names and messages, like the documented two).
 * - Limits (https://developers.kommo.com/docs/limitations): more than 7 API requests in any 1-second window of
 *   one account → 429 with Kommo's documented body (`retry_after` is `rateLimitRetryAfter`, 1 unless told; the
 *   documentation's example says 300); a blocked account answers 403 to everything, with an HTML
 *   "403 Forbidden" page (no JSON).
 *
 * State lives in memory per account (contacts, companies, leads, notes, tasks, webhooks) and is inspectable;
 * `calls` records every request; `failNext` injects one failure. The fake has its own clock
 * (`advanceTime`) for token expiry and the rate window.
 */

type Json = Record<string, unknown>

export type KommoUserInput = { id: number; name: string; email: string; is_admin?: boolean; is_active?: boolean; lang?: string }
export type KommoStatusInput = { id: number; name: string; sort: number; /** 1 = "Incoming leads" (unsorted), 0 otherwise */ type?: 0 | 1; color?: string }
export type KommoPipelineInput = { id: number; name: string; is_main: boolean; sort?: number; statuses: KommoStatusInput[] }
export type KommoFieldInput = {
  id: number
  name: string
  /** text, numeric, textarea, select, multiselect, multitext, url, date, checkbox, ... */
  type: string
  code?: string | null
  sort?: number
  /** for multitext (PHONE/EMAIL) the enum `value` is the code (WORK, MOB, ...), as in Kommo */
  enums?: { id: number; value: string; sort?: number }[]
}
export type KommoTaskType = { id: number; name: string; code: string | null }
export type KommoAccountInput = {
  subdomain: string
  accountId: number
  name: string
  /** the account's id in the Chats service (`GET /api/v4/account?with=amojo_id`); a UUID is made up when absent */
  amojoId?: string
  /** default: an administrator and a manager */
  users?: KommoUserInput[]
  /** default: one main pipeline, "Incoming leads" (type 1), three stages, 142 "Closed - won", 143 "Closed - lost";
   *  142 and 143 are appended to every pipeline that lacks them, as Kommo has them in each */
  pipelines?: KommoPipelineInput[]
  /** default: PHONE (WORK, WORKDD, MOB, FAX, HOME, OTHER), EMAIL (WORK, PRIV, OTHER), POSITION */
  contactFields?: KommoFieldInput[]
  /** lead custom fields (default none: `custom_fields_values` on a lead must name a field declared here) */
  leadFields?: KommoFieldInput[]
  /** `GET /api/v4/account?with=task_types`; tasks' `task_type_id` must be one of them (default 1 Follow-up, 2 Meeting) */
  taskTypes?: KommoTaskType[]
  country?: string
  currency?: string
  /** overrides the server-wide `webhooksAllowed` (API webhooks need the Advanced or Enterprise plan) */
  webhooksAllowed?: boolean
  /** duplicate control for `POST /leads/complex`: a contact with a known PHONE/EMAIL is reused and an open lead
   *  of that contact in the same pipeline is answered with `merged: true` instead of creating a new one */
  duplicateControl?: boolean
}
export type KommoAccount = Required<Omit<KommoAccountInput, 'webhooksAllowed'>> & { webhooksAllowed?: boolean }

export type KommoCall = {
  method: string
  /** the path after `/{subdomain}`, e.g. `/api/v4/leads/complex`, `/oauth2/access_token` */
  path: string
  subdomain: string
  /** the Bearer token, if any */
  token: string | undefined
  query: Record<string, string>
  /** parsed JSON (or form) body; undefined when there was none */
  body: unknown
  at: number
  status: number
  response?: unknown
}
/** `status` with an optional body: an object/array is sent as JSON, a string as is, `null` as no body. Without a body
 *  the documented one for that status is used. `subdomain` restricts it to one account. */
export type KommoFailure = { status: number; body?: unknown; contentType?: string; headers?: Record<string, string>; subdomain?: string }
export type FakeKommoOptions = {
  /** seconds an OAuth access token lives (`expires_in`), default 86400 */
  accessTokenLifetime?: number
  /** seconds a refresh token lives, default 90 days */
  refreshTokenLifetime?: number
  /** requests per second per account before 429, default 7; `false` turns the limit off */
  rateLimit?: number | false
  /** `retry_after` in the 429 body (Kommo's documented example: 300), default 1 */
  rateLimitRetryAfter?: number
  /** after this many 429s the account is blocked (403 for everything), as Kommo does for repeat offenders; default never */
  blockAfterRateLimited?: number
  /** whether `/api/v4/webhooks` works (plans without API webhooks get `webhooksDeniedStatus`), default true */
  webhooksAllowed?: boolean
  /** the status for a plan without API webhooks, undocumented: 402 Payment Required (default) or 403 Forbidden */
  webhooksDeniedStatus?: 402 | 403
  /** HTTP status of the "Token has been revoked" answer to a reused refresh token: 400 (default; the documented
   *  error status of /oauth2/access_token) or 401 (reported by integrations in 2020-21) */
  revokedRefreshStatus?: 400 | 401
  /** language of OAuth error title/detail: `en` (default, "Invalid request") or `ru` (as reported from amocrm.ru) */
  oauthErrorLanguage?: 'en' | 'ru'
  /** a refresh revokes the access token it was issued with (league/oauth2-server behaviour), default true */
  revokeAccessTokenOnRefresh?: boolean
}

export type KommoOAuthClient = { clientId: string; clientSecret: string; redirectUri: string; /** whose token it is (current_user_id); default the first user */ userId?: number }
export type KommoTokenPair = { token_type: 'Bearer'; expires_in: number; server_time: number; access_token: string; refresh_token: string }
export type WebhookLeadStatus = { id: number; status_id: number; pipeline_id: number; old_status_id: number; old_pipeline_id?: number } & Record<string, string | number | undefined>
export type WebhookResponsible = { id: number; responsible_user_id: number; old_responsible_user_id?: number } & Record<string, string | number | undefined>

type FieldError = { code: string; path: string; detail: string }
type Answer = { status: number; body?: unknown; raw?: string; contentType?: string; headers?: Record<string, string> }
type Tag = { id: number; name: string; color: null }
type CustomFieldValue = { field_id: number; field_name: string; field_code: string | null; field_type: string; values: Json[] }
type Contact = { id: number; name: string; first_name: string; last_name: string; responsible_user_id: number; created_by: number; updated_by: number; created_at: number; updated_at: number; cfv: CustomFieldValue[]; tags: Tag[]; companyId: number | null }
type Company = { id: number; name: string; responsible_user_id: number; created_by: number; updated_by: number; created_at: number; updated_at: number; cfv: CustomFieldValue[]; tags: Tag[] }
type Lead = {
  id: number
  name: string
  price: number
  responsible_user_id: number
  status_id: number
  pipeline_id: number
  loss_reason_id: number | null
  created_by: number
  updated_by: number
  created_at: number
  updated_at: number
  closed_at: number | null
  cfv: CustomFieldValue[]
  tags: Tag[]
  contacts: { id: number; is_main: boolean }[]
  companyId: number | null
  source?: unknown
}
export type KommoNote = { id: number; entity_id: number; entity_type: string; created_by: number; updated_by: number; created_at: number; updated_at: number; responsible_user_id: number; group_id: number; note_type: string; params: Json; account_id: number }
export type KommoTask = { id: number; created_by: number; updated_by: number; created_at: number; updated_at: number; responsible_user_id: number; group_id: number; entity_id: number | null; entity_type: string | null; duration: number; is_completed: boolean; task_type_id: number; text: string; result: Json | unknown[]; complete_till: number; account_id: number }
export type KommoWebhook = { id: number; destination: string; created_at: number; updated_at: number; account_id: number; created_by: number; sort: number; disabled: boolean; settings: string[] }

type AccountState = {
  info: KommoAccount
  contacts: Map<number, Contact>
  companies: Map<number, Company>
  leads: Map<number, Lead>
  notes: KommoNote[]
  tasks: KommoTask[]
  webhooks: KommoWebhook[]
  tags: Map<string, Tag>
  blocked: boolean
  hits: number[]
  rateLimited: number
  refreshes: number
}
type AccessToken = { subdomain: string; userId: number; kind: 'oauth' | 'long-lived'; expiresAt: number; revoked?: boolean }
type RefreshToken = { subdomain: string; userId: number; client: KommoOAuthClient; accessToken: string; expiresAt: number; used?: boolean }
type OAuthCode = { subdomain: string; client: KommoOAuthClient; expiresAt: number; used?: boolean }

const WON = 142
const LOST = 143
const OAUTH_PROBLEM_TYPE = 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson'
const HTTP_METHODS = new Set(['GET', 'POST', 'PATCH', 'DELETE', 'PUT'])
const NOTE_TYPES = new Set(['common', 'call_in', 'call_out', 'service_message', 'extended_service_message', 'message_cashier', 'geolocation', 'sms_in', 'sms_out', 'attachment'])
const TASK_ENTITIES = new Set(['leads', 'contacts', 'companies', 'customers'])
/** webhooks-api.md, "Возможные события" */
const WEBHOOK_EVENTS = new Set([
  'responsible_lead', 'responsible_contact', 'responsible_company', 'responsible_customer', 'responsible_task',
  'restore_lead', 'restore_contact', 'restore_company',
  'add_lead', 'add_contact', 'add_company', 'add_customer', 'add_talk', 'add_task',
  'update_lead', 'update_contact', 'update_company', 'update_customer', 'update_talk', 'update_task',
  'delete_lead', 'delete_contact', 'delete_company', 'delete_customer', 'delete_task',
  'status_lead', 'note_lead', 'note_contact', 'note_company', 'note_customer', 'add_chat_template_review',
  'add_message', 'add_unsorted', 'update_unsorted', 'delete_unsorted',
])
const DETAILS: Record<string, string> = {
  NotSupportedChoice: 'The value you selected is not a valid choice.',
  NotBlank: 'This value should not be blank.',
  InvalidUrl: 'This value is not a valid URL.',
}
const FORBIDDEN_PAGE = '<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n'

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v)
const digits = (s: string) => s.replace(/\D/g, '')

/** Does a failNext / callsOf matcher select this call? A string is a method (`POST`), a path or a path suffix (`/leads/complex`), or `METHOD /path`; a RegExp is tried on `METHOD /path` and on the path. */
function matches(matcher: string | RegExp, call: { method: string; path: string }) {
  if (matcher instanceof RegExp) return matcher.test(`${call.method} ${call.path}`) || matcher.test(call.path)
  const s = matcher.trim()
  if (HTTP_METHODS.has(s.toUpperCase())) return call.method === s.toUpperCase()
  const pathMatches = (p: string) => {
    const suffix = p.startsWith('/') ? p : `/${p}`
    return call.path === suffix || call.path.endsWith(suffix)
  }
  const spaced = /^(\S+)\s+(\S+)$/.exec(s)
  if (spaced && HTTP_METHODS.has(spaced[1]!.toUpperCase())) return call.method === spaced[1]!.toUpperCase() && pathMatches(spaced[2]!)
  return pathMatches(s)
}

/** Collects `validation-errors` entries, grouped by request_id like Kommo. */
class Validation {
  private readonly entries = new Map<string, FieldError[]>()
  add(requestId: string, code: string, path: string, detail?: string) {
    const list = this.entries.get(requestId) ?? []
    list.push({ code, path, detail: detail ?? DETAILS[code] ?? code })
    this.entries.set(requestId, list)
  }
  get failed() {
    return this.entries.size > 0
  }
  answer(): Answer {
    return {
      status: 400,
      contentType: 'application/problem+json',
      body: { 'validation-errors': [...this.entries].map(([request_id, errors]) => ({ request_id, errors })), title: 'Bad Request', type: 'https://httpstatus.es/400', status: 400, detail: 'Request validation failed' },
    }
  }
  int(rid: string, item: Json, key: string, prefix: string, opts: { required?: boolean; choice?: (n: number) => boolean } = {}): number | undefined {
    const value = item[key]
    const path = prefix + key
    if (value === undefined || value === null) {
      if (opts.required) this.add(rid, 'NotBlank', path)
      return undefined
    }
    if (!isInt(value)) {
      this.add(rid, 'InvalidType', path, 'This value should be of type int.')
      return undefined
    }
    if (opts.choice && !opts.choice(value)) {
      this.add(rid, 'NotSupportedChoice', path)
      return undefined
    }
    return value
  }
  str(rid: string, item: Json, key: string, prefix: string, opts: { required?: boolean } = {}): string | undefined {
    const value = item[key]
    const path = prefix + key
    if (value === undefined || value === null || value === '') {
      if (opts.required) this.add(rid, 'NotBlank', path)
      return value === '' ? '' : undefined
    }
    if (typeof value !== 'string') {
      this.add(rid, 'InvalidType', path, 'This value should be of type string.')
      return undefined
    }
    return value
  }
}

const problem = (status: number, title: string, detail: string, extra: Json = {}): Answer => ({
  status,
  contentType: 'application/problem+json',
  body: { title, type: `https://httpstatus.es/${status}`, status, detail, ...extra },
})
const hal = (body: unknown, status = 200): Answer => ({ status, body, contentType: 'application/hal+json' })
const noContent = (): Answer => ({ status: 204 })
/** https://developers.kommo.com/docs/http-codes: "Request data can not be empty" */
const emptyData = () => problem(400, 'Bad Request', 'Request data can not be empty')
const unauthorized = () => problem(401, 'Unauthorized', 'Invalid user name or password')
const forbiddenPage = (): Answer => ({ status: 403, raw: FORBIDDEN_PAGE, contentType: 'text/html' })

function defaultStatuses(first: number): KommoStatusInput[] {
  return [
    { id: first, name: 'Incoming leads', sort: 10, type: 1, color: '#c1c1c1' },
    { id: first + 1, name: 'Initial contact', sort: 20, color: '#99ccff' },
    { id: first + 2, name: 'Discussions', sort: 30, color: '#ffff99' },
    { id: first + 3, name: 'Decision making', sort: 40, color: '#ffcc66' },
    { id: WON, name: 'Closed - won', sort: 10000, color: '#CCFF66' },
    { id: LOST, name: 'Closed - lost', sort: 11000, color: '#D5D8DB' },
  ]
}

/** A Kommo user's id in the Chats API, as the fake makes it (GET /api/v4/users?with=amojo_id). */
export const kommoUserAmojoId = (userId: number) => `0a0a0a0a-0000-4000-8000-${String(userId).padStart(12, '0')}`

export async function startFakeKommo(opts: FakeKommoOptions = {}) {
  const accounts = new Map<string, AccountState>()
  const accessTokens = new Map<string, AccessToken>()
  const refreshTokens = new Map<string, RefreshToken>()
  const codes = new Map<string, OAuthCode>()
  const calls: KommoCall[] = []
  const failures: { matcher: string | RegExp; failure: KommoFailure }[] = []
  const deliveries: { url: string; body: string; status: number; at: number }[] = []
  const accessLifetime = opts.accessTokenLifetime ?? 86_400
  const refreshLifetime = opts.refreshTokenLifetime ?? 90 * 86_400
  const rateLimit = opts.rateLimit === undefined ? 7 : opts.rateLimit
  let clockOffset = 0
  const seq = { user: 8_100_000, pipeline: 6_950_000, status: 58_140_000, field: 1_480_000, enumId: 930_000, lead: 21_000_000, contact: 17_000_000, company: 17_500_000, note: 76_700_000, task: 4_740_000, webhook: 1_056_000, tag: 100_600 }

  const now = () => Date.now() + clockOffset
  const nowSec = () => Math.floor(now() / 1000)
  const next = (key: keyof typeof seq) => ++seq[key]

  // ---- accounts ------------------------------------------------------------------------------------------

  function defaultContactFields(): KommoFieldInput[] {
    const field = (name: string, code: string, type: string, values: string[], sort: number): KommoFieldInput => ({
      id: next('field'),
      name,
      code,
      type,
      sort,
      enums: values.length ? values.map((value, i) => ({ id: next('enumId'), value, sort: (i + 1) * 2 })) : undefined,
    })
    return [field('Position', 'POSITION', 'text', [], 2), field('Phone', 'PHONE', 'multitext', ['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER'], 4), field('Email', 'EMAIL', 'multitext', ['WORK', 'PRIV', 'OTHER'], 6)]
  }

  function addAccount(input: KommoAccountInput): KommoAccount {
    const subdomain = input.subdomain.toLowerCase()
    const users = input.users ?? [
      { id: next('user'), name: 'Anna Admin', email: `admin@${subdomain}.example`, is_admin: true },
      { id: next('user'), name: 'Mark Manager', email: `manager@${subdomain}.example`, is_admin: false },
    ]
    const pipelines = (input.pipelines ?? [(() => {
      const id = next('pipeline')
      const first = next('status')
      seq.status += 3
      return { id, name: 'Sales pipeline', is_main: true, sort: 1, statuses: defaultStatuses(first) }
    })()]).map((p, i) => {
      const statuses = [...p.statuses]
      if (!statuses.some((s) => s.id === WON)) statuses.push({ id: WON, name: 'Closed - won', sort: 10000, color: '#CCFF66' })
      if (!statuses.some((s) => s.id === LOST)) statuses.push({ id: LOST, name: 'Closed - lost', sort: 11000, color: '#D5D8DB' })
      return { ...p, sort: p.sort ?? i + 1, statuses: statuses.sort((a, b) => a.sort - b.sort) }
    })
    const info: KommoAccount = {
      subdomain,
      accountId: input.accountId,
      name: input.name,
      amojoId: input.amojoId ?? randomUUID(),
      users,
      pipelines,
      contactFields: input.contactFields ?? defaultContactFields(),
      leadFields: input.leadFields ?? [],
      taskTypes: input.taskTypes ?? [{ id: 1, name: 'Follow-up', code: 'FOLLOW_UP' }, { id: 2, name: 'Meeting', code: 'MEETING' }],
      country: input.country ?? 'US',
      currency: input.currency ?? 'USD',
      duplicateControl: input.duplicateControl ?? false,
      ...(input.webhooksAllowed === undefined ? {} : { webhooksAllowed: input.webhooksAllowed }),
    }
    accounts.set(subdomain, { info, contacts: new Map(), companies: new Map(), leads: new Map(), notes: [], tasks: [], webhooks: [], tags: new Map(), blocked: false, hits: [], rateLimited: 0, refreshes: 0 })
    return info
  }

  const stateOf = (subdomain: string) => {
    const acc = accounts.get(subdomain.toLowerCase())
    if (!acc) throw new Error(`fake Kommo: no account "${subdomain}" (addAccount first)`)
    return acc
  }

  // ---- tokens --------------------------------------------------------------------------------------------

  /** A JWT-shaped token like Kommo's (`eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9...`); the signature is random bytes. */
  function mintJwt(claims: Json) {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    return `${b64({ typ: 'JWT', alg: 'RS256' })}.${b64(claims)}.${randomBytes(48).toString('base64url')}`
  }

  function issuePair(acc: AccountState, client: KommoOAuthClient, userId: number): KommoTokenPair {
    const iat = nowSec()
    const access = mintJwt({ aud: client.clientId, jti: randomBytes(20).toString('hex'), iat, nbf: iat, exp: iat + accessLifetime, sub: String(userId), account_id: acc.info.accountId, base_domain: 'kommo.com', api_domain: 'api-c.kommo.com', scopes: ['crm', 'files', 'notifications'] })
    const refresh = `def50200${randomBytes(96).toString('hex')}`
    accessTokens.set(access, { subdomain: acc.info.subdomain, userId, kind: 'oauth', expiresAt: now() + accessLifetime * 1000 })
    refreshTokens.set(refresh, { subdomain: acc.info.subdomain, userId, client, accessToken: access, expiresAt: now() + refreshLifetime * 1000 })
    return { token_type: 'Bearer', expires_in: accessLifetime, server_time: iat, access_token: access, refresh_token: refresh }
  }

  function oauthError(status: number, hint: string): Answer {
    const ru = opts.oauthErrorLanguage === 'ru'
    return {
      status,
      contentType: 'application/json',
      body: { hint, title: ru ? 'Некорректный запрос' : 'Invalid request', type: OAUTH_PROBLEM_TYPE, status, detail: ru ? 'В запросе отсутствует ряд параметров или параметры невалидны' : 'The request is missing some parameters or the parameters are invalid' },
    }
  }

  function handleOAuth(acc: AccountState | undefined, body: unknown): Answer {
    const p = isObj(body) ? body : {}
    for (const name of ['client_id', 'client_secret', 'grant_type', 'redirect_uri']) if (typeof p[name] !== 'string' || p[name] === '') return oauthError(400, `Check the \`${name}\` parameter`)
    const client = { clientId: String(p.client_id), clientSecret: String(p.client_secret), redirectUri: String(p.redirect_uri) }
    const sameClient = (c: KommoOAuthClient) => c.clientId === client.clientId && c.clientSecret === client.clientSecret
    if (p.grant_type === 'authorization_code') {
      if (typeof p.code !== 'string' || !p.code) return oauthError(400, 'Check the `code` parameter')
      const grant = acc ? codes.get(`${acc.info.subdomain}:${p.code}`) : undefined
      if (!acc || !grant) return oauthError(400, 'Cannot decrypt the authorization code')
      if (!sameClient(grant.client)) return oauthError(401, 'Client authentication failed')
      if (grant.client.redirectUri !== client.redirectUri) return oauthError(400, 'Invalid redirect URI')
      if (grant.used) return oauthError(400, 'Authorization code has been revoked')
      if (now() > grant.expiresAt) return oauthError(400, 'Authorization code has expired')
      grant.used = true
      return { status: 200, contentType: 'application/json', body: issuePair(acc, grant.client, grant.client.userId ?? acc.info.users[0]!.id) }
    }
    if (p.grant_type === 'refresh_token') {
      if (typeof p.refresh_token !== 'string' || !p.refresh_token) return oauthError(400, 'Check the `refresh_token` parameter')
      const old = refreshTokens.get(p.refresh_token)
      if (!acc || !old || old.subdomain !== acc.info.subdomain) return oauthError(400, 'Cannot decrypt the refresh token')
      if (!sameClient(old.client)) return oauthError(400, 'Token is not linked to client')
      if (old.used) return oauthError(opts.revokedRefreshStatus ?? 400, 'Token has been revoked')
      if (now() > old.expiresAt) return oauthError(400, 'Token has expired')
      old.used = true
      if (opts.revokeAccessTokenOnRefresh !== false) {
        const previous = accessTokens.get(old.accessToken)
        if (previous) previous.revoked = true
      }
      acc.refreshes++
      return { status: 200, contentType: 'application/json', body: issuePair(acc, old.client, old.userId) }
    }
    return oauthError(400, 'Check the `grant_type` parameter')
  }

  // ---- custom fields, tags -------------------------------------------------------------------------------

  function normalizeCfv(v: Validation, rid: string, raw: unknown, fields: KommoFieldInput[], prefix: string): CustomFieldValue[] | undefined {
    if (raw === undefined) return undefined
    if (raw === null) return []
    const base = `${prefix}custom_fields_values`
    if (!Array.isArray(raw)) {
      v.add(rid, 'InvalidType', base, 'This value should be of type array.')
      return undefined
    }
    const out: CustomFieldValue[] = []
    raw.forEach((cf: unknown, i) => {
      const path = `${base}.${i}`
      if (!isObj(cf)) return v.add(rid, 'InvalidType', path, 'This value should be of type object.')
      const def = isInt(cf.field_id) ? fields.find((f) => f.id === cf.field_id) : typeof cf.field_code === 'string' ? fields.find((f) => f.code === cf.field_code) : undefined
      if (!def) return v.add(rid, 'NotSupportedChoice', `${path}.${cf.field_id !== undefined ? 'field_id' : 'field_code'}`)
      if (!Array.isArray(cf.values)) return v.add(rid, 'InvalidType', `${path}.values`, 'This value should be of type array.')
      const values: Json[] = []
      cf.values.forEach((value: unknown, j) => {
        const vpath = `${path}.values.${j}`
        if (!isObj(value)) return v.add(rid, 'InvalidType', vpath, 'This value should be of type object.')
        if (def.enums?.length) {
          let choice = def.enums.find((e) => (isInt(value.enum_id) && e.id === value.enum_id) || (typeof value.enum_code === 'string' && e.value === value.enum_code))
          if ((value.enum_id !== undefined || value.enum_code !== undefined) && !choice) return v.add(rid, 'NotSupportedChoice', `${vpath}.${value.enum_id !== undefined ? 'enum_id' : 'enum_code'}`)
          if (def.type === 'multitext') {
            if (typeof value.value !== 'string' || !value.value.trim()) return v.add(rid, 'NotBlank', `${vpath}.value`)
            choice ??= def.enums[0]!
            values.push({ value: value.value, enum_id: choice.id, enum_code: choice.value })
            return
          }
          choice ??= def.enums.find((e) => e.value === value.value)
          if (!choice) return v.add(rid, 'NotSupportedChoice', `${vpath}.value`)
          values.push({ value: choice.value, enum_id: choice.id, enum_code: null })
          return
        }
        if (value.value === undefined || value.value === null) return v.add(rid, 'NotBlank', `${vpath}.value`)
        values.push({ value: value.value })
      })
      out.push({ field_id: def.id, field_name: def.name, field_code: def.code ?? null, field_type: def.type, values })
    })
    return out
  }

  const mergeCfv = (current: CustomFieldValue[], update: CustomFieldValue[]) => {
    const byId = new Map(current.map((c) => [c.field_id, c]))
    for (const u of update) {
      if (u.values.length) byId.set(u.field_id, u)
      else byId.delete(u.field_id)
    }
    return [...byId.values()]
  }

  function tagsFrom(acc: AccountState, v: Validation, rid: string, raw: unknown, path: string): Tag[] {
    if (raw === undefined || raw === null) return []
    if (!Array.isArray(raw)) {
      v.add(rid, 'InvalidType', path, 'This value should be of type array.')
      return []
    }
    const out: Tag[] = []
    raw.forEach((t: unknown, i) => {
      if (!isObj(t) || (typeof t.name !== 'string' && !isInt(t.id))) return v.add(rid, 'NotBlank', `${path}.${i}.name`)
      const known = typeof t.name === 'string' ? acc.tags.get(t.name) : [...acc.tags.values()].find((x) => x.id === t.id)
      if (!known && typeof t.name !== 'string') return v.add(rid, 'NotSupportedChoice', `${path}.${i}.id`)
      const tag = known ?? { id: next('tag'), name: String(t.name), color: null }
      acc.tags.set(tag.name, tag)
      out.push(tag)
    })
    return out
  }
  const addTags = (current: Tag[], added: Tag[]) => [...current, ...added.filter((a) => !current.some((c) => c.id === a.id))]

  // ---- models (what GET answers) -------------------------------------------------------------------------

  const base = (subdomain: string) => `${origin}/${subdomain}`
  const self = (subdomain: string, path: string) => ({ self: { href: `${base(subdomain)}/api/v4/${path}` } })
  const pipelineOf = (acc: AccountState, id: number) => acc.info.pipelines.find((p) => p.id === id)
  const mainPipeline = (acc: AccountState) => acc.info.pipelines.find((p) => p.is_main) ?? acc.info.pipelines[0]!
  const firstStage = (p: KommoPipelineInput) => p.statuses.find((s) => s.type !== 1 && s.id !== WON && s.id !== LOST) ?? p.statuses[0]!
  const userIds = (acc: AccountState) => new Set(acc.info.users.filter((u) => u.is_active !== false).map((u) => u.id))

  function statusModel(acc: AccountState, p: KommoPipelineInput, s: KommoStatusInput) {
    const system = s.type === 1 || s.id === WON || s.id === LOST
    return { id: s.id, name: s.name, sort: s.sort, is_editable: !system, pipeline_id: p.id, color: s.color ?? '#99ccff', type: s.type ?? 0, account_id: acc.info.accountId, _links: self(acc.info.subdomain, `leads/pipelines/${p.id}/statuses/${s.id}`) }
  }
  function pipelineModel(acc: AccountState, p: KommoPipelineInput) {
    return {
      id: p.id,
      name: p.name,
      sort: p.sort ?? 1,
      is_main: p.is_main,
      is_unsorted_on: p.statuses.some((s) => s.type === 1),
      is_archive: false,
      account_id: acc.info.accountId,
      _links: self(acc.info.subdomain, `leads/pipelines/${p.id}`),
      _embedded: { statuses: p.statuses.map((s) => statusModel(acc, p, s)) },
    }
  }
  function userModel(acc: AccountState, u: KommoUserInput) {
    const all = { view: 'A', edit: 'A', add: 'A', delete: 'A', export: 'A' }
    return {
      id: u.id,
      name: u.name,
      email: u.email,
      lang: u.lang ?? 'en',
      rights: { leads: all, contacts: all, companies: all, tasks: { edit: 'A', delete: 'A' }, mail_access: true, catalog_access: true, files_access: true, status_rights: null, is_admin: u.is_admin ?? false, is_free: false, is_active: u.is_active ?? true, group_id: null, role_id: null },
      _links: self(acc.info.subdomain, `users/${u.id}`),
    }
  }
  function fieldModel(acc: AccountState, f: KommoFieldInput, entity: string) {
    return {
      id: f.id,
      name: f.name,
      type: f.type,
      account_id: acc.info.accountId,
      code: f.code ?? null,
      sort: f.sort ?? 500,
      is_api_only: false,
      enums: f.enums ? f.enums.map((e, i) => ({ id: e.id, value: e.value, sort: e.sort ?? (i + 1) * 2 })) : null,
      group_id: null,
      required_statuses: [],
      is_deletable: !f.code,
      is_predefined: !!f.code,
      entity_type: entity,
      remind: null,
      _links: self(acc.info.subdomain, `${entity}/custom_fields/${f.id}`),
    }
  }
  const companyRef = (acc: AccountState, id: number) => ({ id, _links: self(acc.info.subdomain, `companies/${id}`) })
  function contactModel(acc: AccountState, c: Contact, withLeads: boolean) {
    const leads = [...acc.leads.values()].filter((l) => l.contacts.some((x) => x.id === c.id))
    return {
      id: c.id,
      name: c.name,
      first_name: c.first_name,
      last_name: c.last_name,
      responsible_user_id: c.responsible_user_id,
      group_id: 0,
      created_by: c.created_by,
      updated_by: c.updated_by,
      created_at: c.created_at,
      updated_at: c.updated_at,
      closest_task_at: null,
      is_deleted: false,
      is_unsorted: false,
      custom_fields_values: c.cfv.length ? c.cfv : null,
      account_id: acc.info.accountId,
      _links: self(acc.info.subdomain, `contacts/${c.id}`),
      _embedded: {
        tags: c.tags,
        companies: c.companyId ? [companyRef(acc, c.companyId)] : [],
        ...(withLeads ? { leads: leads.map((l) => ({ id: l.id, _links: self(acc.info.subdomain, `leads/${l.id}`) })) } : {}),
      },
    }
  }
  function leadModel(acc: AccountState, l: Lead, withContacts: boolean) {
    return {
      id: l.id,
      name: l.name,
      price: l.price,
      responsible_user_id: l.responsible_user_id,
      group_id: 0,
      status_id: l.status_id,
      pipeline_id: l.pipeline_id,
      loss_reason_id: l.loss_reason_id,
      created_by: l.created_by,
      updated_by: l.updated_by,
      created_at: l.created_at,
      updated_at: l.updated_at,
      closed_at: l.closed_at,
      closest_task_at: null,
      is_deleted: false,
      custom_fields_values: l.cfv.length ? l.cfv : null,
      score: null,
      account_id: acc.info.accountId,
      labor_cost: null,
      _links: self(acc.info.subdomain, `leads/${l.id}`),
      _embedded: {
        tags: l.tags,
        companies: l.companyId ? [companyRef(acc, l.companyId)] : [],
        ...(withContacts ? { contacts: l.contacts.map((c) => ({ id: c.id, is_main: c.is_main, _links: self(acc.info.subdomain, `contacts/${c.id}`) })) } : {}),
      },
    }
  }
  function companyModel(acc: AccountState, c: Company) {
    return { id: c.id, name: c.name, responsible_user_id: c.responsible_user_id, group_id: 0, created_by: c.created_by, updated_by: c.updated_by, created_at: c.created_at, updated_at: c.updated_at, closest_task_at: null, is_deleted: false, custom_fields_values: c.cfv.length ? c.cfv : null, account_id: acc.info.accountId, _links: self(acc.info.subdomain, `companies/${c.id}`), _embedded: { tags: c.tags } }
  }

  // ---- search, paging ------------------------------------------------------------------------------------

  function matchesQuery(q: string, texts: string[], cfv: CustomFieldValue[]) {
    const needle = q.trim().toLowerCase()
    if (!needle) return true
    const qDigits = digits(needle)
    const values = cfv.flatMap((f) => f.values.map((v) => ({ code: f.field_code, value: String(v.value ?? '') })))
    if (texts.some((t) => t.toLowerCase().includes(needle))) return true
    if (values.some((v) => v.value.toLowerCase().includes(needle))) return true
    // Kommo finds phones however they are written: compare digits when the query is mostly a number
    return qDigits.length >= 5 && qDigits.length >= needle.replace(/[\s()+-]/g, '').length && values.some((v) => v.code === 'PHONE' && digits(v.value).includes(qDigits))
  }

  /** A HAL page of `items` under `_embedded[key]`, or 204 when there is nothing (Kommo's "nothing found"). */
  function page<T>(acc: AccountState, path: string, key: string, items: T[], query: Record<string, string>, model: (item: T) => unknown): Answer {
    if (!items.length) return noContent()
    const limit = query.limit === undefined ? 50 : Number(query.limit)
    if (!Number.isInteger(limit) || limit < 1) return problem(400, 'Bad Request', 'Request validation failed', { 'validation-errors': [{ request_id: '0', errors: [{ code: 'InvalidType', path: 'limit', detail: 'This value should be of type int.' }] }] })
    if (limit > 250) return problem(422, 'Unprocessable Entity', 'Limit 250 per page')
    const pageNo = Math.max(1, Number(query.page ?? 1) || 1)
    const slice = items.slice((pageNo - 1) * limit, pageNo * limit)
    if (!slice.length) return noContent()
    const href = (n: number) => {
      const params = new URLSearchParams({ ...query, limit: String(limit), page: String(n) })
      return { href: `${base(acc.info.subdomain)}/api/v4/${path}?${params.toString()}` }
    }
    const links: Json = { self: href(pageNo) }
    if (pageNo * limit < items.length) links.next = href(pageNo + 1)
    if (pageNo > 1) links.prev = href(pageNo - 1)
    return hal({ _page: pageNo, _links: links, _embedded: { [key]: slice.map(model) } })
  }
  const withOf = (query: Record<string, string>) => new Set((query.with ?? '').split(',').map((s) => s.trim()).filter(Boolean))

  // ---- writes --------------------------------------------------------------------------------------------

  const requestIdOf = (item: unknown, index: number) => (isObj(item) && item.request_id !== undefined && item.request_id !== null ? String(item.request_id) : String(index))
  const bodyArray = (body: unknown): Json[] | undefined => (Array.isArray(body) && body.length && body.every(isObj) ? (body as Json[]) : undefined)
  const isEmptyBody = (body: unknown) => body === undefined || (Array.isArray(body) && !body.length) || (isObj(body) && !Object.keys(body).length)

  type ContactDraft = { name: string; first_name: string; last_name: string; responsible_user_id?: number; cfv: CustomFieldValue[]; tags: Tag[] }
  function contactDraft(acc: AccountState, v: Validation, rid: string, item: Json, prefix: string): ContactDraft {
    const first = v.str(rid, item, 'first_name', prefix) ?? ''
    const last = v.str(rid, item, 'last_name', prefix) ?? ''
    const name = v.str(rid, item, 'name', prefix) ?? [first, last].filter(Boolean).join(' ')
    const responsible = v.int(rid, item, 'responsible_user_id', prefix, { choice: (n) => userIds(acc).has(n) })
    const cfv = normalizeCfv(v, rid, item.custom_fields_values, acc.info.contactFields, prefix) ?? []
    const embeddedTags = isObj(item._embedded) ? item._embedded.tags : undefined
    const tags = [...tagsFrom(acc, v, rid, item.tags_to_add, `${prefix}tags_to_add`), ...tagsFrom(acc, v, rid, embeddedTags, `${prefix}_embedded.tags`)]
    return { name, first_name: first, last_name: last, responsible_user_id: responsible, cfv, tags }
  }
  function createContact(acc: AccountState, d: ContactDraft, userId: number): Contact {
    const t = nowSec()
    const c: Contact = { id: next('contact'), name: d.name, first_name: d.first_name, last_name: d.last_name, responsible_user_id: d.responsible_user_id ?? userId, created_by: userId, updated_by: userId, created_at: t, updated_at: t, cfv: d.cfv, tags: d.tags, companyId: null }
    acc.contacts.set(c.id, c)
    return c
  }

  type LeadDraft = { name?: string; price: number; status_id: number; pipeline_id: number; responsible_user_id?: number; cfv: CustomFieldValue[]; tags: Tag[]; source?: unknown }
  function leadDraft(acc: AccountState, v: Validation, rid: string, item: Json, unsorted = false): LeadDraft {
    const name = v.str(rid, item, 'name', '')
    const price = v.int(rid, item, 'price', '') ?? 0
    const pipelineId = v.int(rid, item, 'pipeline_id', '', { choice: (n) => !!pipelineOf(acc, n) })
    const pipeline = (pipelineId !== undefined ? pipelineOf(acc, pipelineId) : undefined) ?? mainPipeline(acc)
    let statusId = v.int(rid, item, 'status_id', '', { choice: (n) => pipeline.statuses.some((s) => s.id === n) })
    if (unsorted) statusId = pipeline.statuses.find((s) => s.type === 1)?.id ?? statusId
    const responsible = v.int(rid, item, 'responsible_user_id', '', { choice: (n) => userIds(acc).has(n) })
    const cfv = normalizeCfv(v, rid, item.custom_fields_values, acc.info.leadFields, '') ?? []
    const embedded = isObj(item._embedded) ? item._embedded : {}
    const tags = [...tagsFrom(acc, v, rid, item.tags_to_add, 'tags_to_add'), ...tagsFrom(acc, v, rid, embedded.tags, '_embedded.tags')]
    return { name, price, pipeline_id: pipeline.id, status_id: statusId ?? firstStage(pipeline).id, responsible_user_id: responsible, cfv, tags, source: embedded.source }
  }
  function createLead(acc: AccountState, d: LeadDraft, userId: number): Lead {
    const t = nowSec()
    const id = next('lead')
    const closed = d.status_id === WON || d.status_id === LOST
    const lead: Lead = { id, name: d.name ?? `Lead #${id}`, price: d.price, responsible_user_id: d.responsible_user_id ?? userId, status_id: d.status_id, pipeline_id: d.pipeline_id, loss_reason_id: null, created_by: userId, updated_by: userId, created_at: t, updated_at: t, closed_at: closed ? t : null, cfv: d.cfv, tags: d.tags, contacts: [], companyId: null, ...(d.source === undefined ? {} : { source: d.source }) }
    acc.leads.set(id, lead)
    return lead
  }

  /** PHONE digits and EMAIL addresses of a contact, for duplicate control. */
  const identities = (cfv: CustomFieldValue[]) =>
    cfv.flatMap((f) => (f.field_code === 'PHONE' ? f.values.map((v) => `p:${digits(String(v.value))}`) : f.field_code === 'EMAIL' ? f.values.map((v) => `e:${String(v.value).trim().toLowerCase()}`) : []))

  function complexLeads(acc: AccountState, body: unknown, userId: number): Answer {
    if (isEmptyBody(body)) return emptyData()
    const items = bodyArray(body)
    if (!items) return problem(400, 'Bad Request', 'Request validation failed', { 'validation-errors': [{ request_id: '0', errors: [{ code: 'InvalidType', path: '', detail: 'This value should be of type array.' }] }] })
    if (items.length > 50) return problem(422, 'Unprocessable Entity', 'Limit 50 per request')
    const v = new Validation()
    const plans = items.map((item, index) => {
      const rid = requestIdOf(item, index)
      const embedded = isObj(item._embedded) ? item._embedded : {}
      const lead = leadDraft(acc, v, rid, item, isObj(embedded.metadata))
      const count = (key: 'contacts' | 'companies') => {
        const list = embedded[key]
        if (list === undefined || list === null) return undefined
        if (!Array.isArray(list)) return v.add(rid, 'InvalidType', `_embedded.${key}`, 'This value should be of type array.')
        if (list.length > 1) return v.add(rid, 'Count', `_embedded.${key}`, 'This collection should contain 1 element or less.')
        return list[0] as unknown
      }
      const rawContact = count('contacts')
      const rawCompany = count('companies')
      let contact: { existing?: number; draft?: ContactDraft } | undefined
      if (rawContact !== undefined) {
        if (!isObj(rawContact)) v.add(rid, 'InvalidType', '_embedded.contacts.0', 'This value should be of type object.')
        else if (rawContact.id !== undefined) contact = { existing: v.int(rid, rawContact, 'id', '_embedded.contacts.0.', { choice: (n) => acc.contacts.has(n) }) }
        else contact = { draft: contactDraft(acc, v, rid, rawContact, '_embedded.contacts.0.') }
      }
      let company: { existing?: number; name?: string } | undefined
      if (rawCompany !== undefined) {
        if (!isObj(rawCompany)) v.add(rid, 'InvalidType', '_embedded.companies.0', 'This value should be of type object.')
        else if (rawCompany.id !== undefined) company = { existing: v.int(rid, rawCompany, 'id', '_embedded.companies.0.', { choice: (n) => acc.companies.has(n) }) }
        else company = { name: v.str(rid, rawCompany, 'name', '_embedded.companies.0.') ?? '' }
      }
      return { rid, lead, contact, company }
    })
    if (v.failed) return v.answer()

    const out = plans.map(({ rid, lead: draft, contact, company }) => {
      let merged = false
      let contactRecord: Contact | undefined
      if (contact?.existing !== undefined) contactRecord = acc.contacts.get(contact.existing)
      else if (contact?.draft) {
        const keys = acc.info.duplicateControl ? new Set(identities(contact.draft.cfv)) : new Set<string>()
        const duplicate = keys.size ? [...acc.contacts.values()].find((c) => identities(c.cfv).some((k) => keys.has(k))) : undefined
        if (duplicate) {
          merged = true
          duplicate.cfv = mergeCfv(duplicate.cfv, contact.draft.cfv.filter((f) => !duplicate.cfv.some((d) => d.field_id === f.field_id)))
          duplicate.updated_at = nowSec()
          contactRecord = duplicate
        } else contactRecord = createContact(acc, { ...contact.draft, responsible_user_id: contact.draft.responsible_user_id ?? draft.responsible_user_id }, userId)
      }
      const open = merged && contactRecord ? [...acc.leads.values()].find((l) => l.pipeline_id === draft.pipeline_id && l.status_id !== WON && l.status_id !== LOST && l.contacts.some((c) => c.id === contactRecord!.id)) : undefined
      const lead = open ?? createLead(acc, draft, userId)
      if (contactRecord && !lead.contacts.some((c) => c.id === contactRecord!.id)) lead.contacts.push({ id: contactRecord.id, is_main: lead.contacts.length === 0 })
      let companyId: number | null = lead.companyId
      if (company?.existing !== undefined) companyId = company.existing
      else if (company?.name !== undefined) {
        const t = nowSec()
        const c: Company = { id: next('company'), name: company.name, responsible_user_id: draft.responsible_user_id ?? userId, created_by: userId, updated_by: userId, created_at: t, updated_at: t, cfv: [], tags: [] }
        acc.companies.set(c.id, c)
        companyId = c.id
      }
      lead.companyId = companyId
      if (contactRecord && companyId && !contactRecord.companyId) contactRecord.companyId = companyId
      return { id: lead.id, contact_id: contactRecord?.id ?? null, company_id: companyId, request_id: [rid], merged }
    })
    return hal(out)
  }

  function addLeads(acc: AccountState, body: unknown, userId: number): Answer {
    if (isEmptyBody(body)) return emptyData()
    const items = bodyArray(body)
    if (!items) return problem(400, 'Bad Request', 'Request validation failed', { 'validation-errors': [{ request_id: '0', errors: [{ code: 'InvalidType', path: '', detail: 'This value should be of type array.' }] }] })
    if (items.length > 250) return problem(422, 'Unprocessable Entity', 'Limit 250 per page')
    const v = new Validation()
    const drafts = items.map((item, i) => {
      const rid = requestIdOf(item, i)
      const embedded = isObj(item._embedded) ? item._embedded : {}
      const contactIds = Array.isArray(embedded.contacts) ? embedded.contacts.map((c: unknown, j) => (isObj(c) ? v.int(rid, c, 'id', `_embedded.contacts.${j}.`, { required: true, choice: (n) => acc.contacts.has(n) }) : undefined)) : []
      return { rid, draft: leadDraft(acc, v, rid, item), contactIds }
    })
    if (v.failed) return v.answer()
    const created = drafts.map(({ rid, draft, contactIds }) => {
      const lead = createLead(acc, draft, userId)
      contactIds.forEach((id, j) => id !== undefined && lead.contacts.push({ id, is_main: j === 0 }))
      return { id: lead.id, request_id: rid, _links: self(acc.info.subdomain, `leads/${lead.id}`) }
    })
    return hal({ _links: self(acc.info.subdomain, 'leads'), _embedded: { leads: created } })
  }

  function updateLead(acc: AccountState, v: Validation, rid: string, lead: Lead, item: Json, userId: number) {
    const pipelineId = v.int(rid, item, 'pipeline_id', '', { choice: (n) => !!pipelineOf(acc, n) })
    const pipeline = pipelineOf(acc, pipelineId ?? lead.pipeline_id) ?? mainPipeline(acc)
    const statusId = v.int(rid, item, 'status_id', '', { choice: (n) => pipeline.statuses.some((s) => s.id === n) })
    const responsible = v.int(rid, item, 'responsible_user_id', '', { choice: (n) => userIds(acc).has(n) })
    const name = v.str(rid, item, 'name', '')
    const price = v.int(rid, item, 'price', '')
    const lossReason = v.int(rid, item, 'loss_reason_id', '')
    const closedAt = v.int(rid, item, 'closed_at', '')
    const cfv = normalizeCfv(v, rid, item.custom_fields_values, acc.info.leadFields, '')
    const add = tagsFrom(acc, v, rid, item.tags_to_add, 'tags_to_add')
    const remove = Array.isArray(item.tags_to_delete) ? item.tags_to_delete.filter(isObj) : []
    return () => {
      if (pipelineId !== undefined && pipelineId !== lead.pipeline_id) {
        lead.pipeline_id = pipelineId
        lead.status_id = statusId ?? firstStage(pipeline).id
      } else if (statusId !== undefined) lead.status_id = statusId
      const closed = lead.status_id === WON || lead.status_id === LOST
      lead.closed_at = closedAt ?? (closed ? (lead.closed_at ?? nowSec()) : null)
      if (responsible !== undefined) lead.responsible_user_id = responsible
      if (name !== undefined) lead.name = name
      if (price !== undefined) lead.price = price
      if (lossReason !== undefined) lead.loss_reason_id = lossReason
      if (cfv) lead.cfv = mergeCfv(lead.cfv, cfv)
      lead.tags = addTags(lead.tags, add).filter((t) => !remove.some((r) => r.id === t.id || r.name === t.name))
      lead.updated_by = userId
      lead.updated_at = nowSec()
    }
  }

  function updateContact(acc: AccountState, v: Validation, rid: string, contact: Contact, item: Json, userId: number) {
    const first = v.str(rid, item, 'first_name', '')
    const last = v.str(rid, item, 'last_name', '')
    const name = v.str(rid, item, 'name', '')
    const responsible = v.int(rid, item, 'responsible_user_id', '', { choice: (n) => userIds(acc).has(n) })
    const cfv = normalizeCfv(v, rid, item.custom_fields_values, acc.info.contactFields, '')
    const add = tagsFrom(acc, v, rid, item.tags_to_add, 'tags_to_add')
    return () => {
      if (first !== undefined) contact.first_name = first
      if (last !== undefined) contact.last_name = last
      if (name !== undefined) contact.name = name
      else if (first !== undefined || last !== undefined) contact.name = [contact.first_name, contact.last_name].filter(Boolean).join(' ')
      if (responsible !== undefined) contact.responsible_user_id = responsible
      if (cfv) contact.cfv = mergeCfv(contact.cfv, cfv)
      contact.tags = addTags(contact.tags, add)
      contact.updated_by = userId
      contact.updated_at = nowSec()
    }
  }

  /** PATCH /leads, /leads/{id}, /contacts, /contacts/{id}: a single model for /{id}, an array of models with `id` otherwise. */
  function patchEntities(acc: AccountState, entity: 'leads' | 'contacts', idInPath: number | undefined, body: unknown, userId: number): Answer {
    if (isEmptyBody(body)) return emptyData()
    const single = idInPath !== undefined
    const items = single ? (isObj(body) ? [{ ...body, id: idInPath }] : undefined) : bodyArray(body)
    if (!items) return problem(400, 'Bad Request', 'Request validation failed', { 'validation-errors': [{ request_id: '0', errors: [{ code: 'InvalidType', path: '', detail: `This value should be of type ${single ? 'object' : 'array'}.` }] }] })
    const v = new Validation()
    const store = entity === 'leads' ? acc.leads : acc.contacts
    if (single && !store.has(idInPath)) return problem(404, 'Not Found', `Cannot PATCH ${base(acc.info.subdomain)}/api/v4/${entity}/${idInPath}`)
    const apply = items.map((item, i) => {
      const rid = requestIdOf(item, i)
      const id = v.int(rid, item, 'id', '', { required: true, choice: (n) => store.has(n) })
      if (id === undefined) return { id: -1, run: () => undefined }
      const run = entity === 'leads' ? updateLead(acc, v, rid, acc.leads.get(id)!, item, userId) : updateContact(acc, v, rid, acc.contacts.get(id)!, item, userId)
      return { id, run }
    })
    if (v.failed) return v.answer()
    apply.forEach((a) => a.run())
    const summary = (id: number) => {
      const contact = entity === 'contacts' ? acc.contacts.get(id) : undefined
      return { id, ...(contact ? { name: contact.name } : {}), updated_at: (acc.leads.get(id) ?? acc.contacts.get(id))!.updated_at, _links: self(acc.info.subdomain, `${entity}/${id}`) }
    }
    if (single) return hal(summary(idInPath))
    return hal({ _links: self(acc.info.subdomain, entity), _embedded: { [entity]: apply.map((a) => summary(a.id)) } })
  }

  function addContacts(acc: AccountState, body: unknown, userId: number): Answer {
    if (isEmptyBody(body)) return emptyData()
    const items = bodyArray(body)
    if (!items) return problem(400, 'Bad Request', 'Request validation failed', { 'validation-errors': [{ request_id: '0', errors: [{ code: 'InvalidType', path: '', detail: 'This value should be of type array.' }] }] })
    if (items.length > 250) return problem(422, 'Unprocessable Entity', 'Limit 250 per page')
    const v = new Validation()
    const drafts = items.map((item, i) => ({ rid: requestIdOf(item, i), draft: contactDraft(acc, v, requestIdOf(item, i), item, '') }))
    if (v.failed) return v.answer()
    const created = drafts.map(({ rid, draft }) => {
      const c = createContact(acc, draft, userId)
      return { id: c.id, request_id: rid, _links: self(acc.info.subdomain, `contacts/${c.id}`) }
    })
    return hal({ _links: self(acc.info.subdomain, 'contacts'), _embedded: { contacts: created } })
  }

  function addNotes(acc: AccountState, entity: string, entityIdInPath: number | undefined, body: unknown, userId: number): Answer {
    if (isEmptyBody(body)) return emptyData()
    const items = bodyArray(body)
    if (!items) return problem(400, 'Bad Request', 'Request validation failed', { 'validation-errors': [{ request_id: '0', errors: [{ code: 'InvalidType', path: '', detail: 'This value should be of type array.' }] }] })
    const exists = (id: number) => (entity === 'leads' ? acc.leads.has(id) : entity === 'contacts' ? acc.contacts.has(id) : acc.companies.has(id))
    if (entityIdInPath !== undefined && !exists(entityIdInPath)) return problem(404, 'Not Found', `Cannot POST ${base(acc.info.subdomain)}/api/v4/${entity}/${entityIdInPath}/notes`)
    const v = new Validation()
    const drafts = items.map((item, i) => {
      const rid = requestIdOf(item, i)
      const entityId = entityIdInPath ?? v.int(rid, item, 'entity_id', '', { required: true, choice: exists })
      const noteType = v.str(rid, item, 'note_type', '', { required: true })
      if (noteType && !NOTE_TYPES.has(noteType)) v.add(rid, 'NotSupportedChoice', 'note_type')
      const params = item.params
      if (!isObj(params)) v.add(rid, params === undefined ? 'NotBlank' : 'InvalidType', 'params', params === undefined ? undefined : 'This value should be of type object.')
      else if ((noteType === 'common' || noteType === 'service_message') && (typeof params.text !== 'string' || !params.text)) v.add(rid, 'NotBlank', 'params.text')
      const responsible = v.int(rid, item, 'responsible_user_id', '', { choice: (n) => userIds(acc).has(n) })
      const createdBy = v.int(rid, item, 'created_by', '', { choice: (n) => n === 0 || userIds(acc).has(n) })
      return { rid, entityId, noteType, params: isObj(params) ? params : {}, responsible, createdBy }
    })
    if (v.failed) return v.answer()
    const created = drafts.map((d) => {
      const t = nowSec()
      const note: KommoNote = { id: next('note'), entity_id: d.entityId!, entity_type: entity, created_by: d.createdBy ?? userId, updated_by: d.createdBy ?? userId, created_at: t, updated_at: t, responsible_user_id: d.responsible ?? userId, group_id: 0, note_type: d.noteType!, params: d.params, account_id: acc.info.accountId }
      acc.notes.push(note)
      return { id: note.id, entity_id: note.entity_id, request_id: d.rid, _links: self(acc.info.subdomain, `${entity}/${note.entity_id}/notes/${note.id}`) }
    })
    return hal({ _links: self(acc.info.subdomain, `${entity}/notes`), _embedded: { notes: created } })
  }

  function addTasks(acc: AccountState, body: unknown, userId: number): Answer {
    if (isEmptyBody(body)) return emptyData()
    const items = bodyArray(body)
    if (!items) return problem(400, 'Bad Request', 'Request validation failed', { 'validation-errors': [{ request_id: '0', errors: [{ code: 'InvalidType', path: '', detail: 'This value should be of type array.' }] }] })
    const v = new Validation()
    const drafts = items.map((item, i) => {
      const rid = requestIdOf(item, i)
      const text = v.str(rid, item, 'text', '', { required: true })
      const completeTill = v.int(rid, item, 'complete_till', '', { required: true })
      const entityType = v.str(rid, item, 'entity_type', '')
      if (entityType && !TASK_ENTITIES.has(entityType)) v.add(rid, 'NotSupportedChoice', 'entity_type')
      const store = entityType === 'leads' ? acc.leads : entityType === 'contacts' ? acc.contacts : entityType === 'companies' ? acc.companies : undefined
      const entityId = v.int(rid, item, 'entity_id', '', { required: !!entityType, choice: (n) => !store || store.has(n) })
      if (entityId !== undefined && !entityType) v.add(rid, 'NotBlank', 'entity_type')
      const taskType = v.int(rid, item, 'task_type_id', '', { choice: (n) => acc.info.taskTypes.some((t) => t.id === n) })
      const responsible = v.int(rid, item, 'responsible_user_id', '', { choice: (n) => userIds(acc).has(n) })
      const duration = v.int(rid, item, 'duration', '')
      return { rid, text, completeTill, entityType, entityId, taskType, responsible, duration }
    })
    if (v.failed) return v.answer()
    const created = drafts.map((d) => {
      const t = nowSec()
      const task: KommoTask = { id: next('task'), created_by: userId, updated_by: userId, created_at: t, updated_at: t, responsible_user_id: d.responsible ?? userId, group_id: 0, entity_id: d.entityId ?? null, entity_type: d.entityType ?? null, duration: d.duration ?? 0, is_completed: false, task_type_id: d.taskType ?? 1, text: d.text!, result: [], complete_till: d.completeTill!, account_id: acc.info.accountId }
      acc.tasks.push(task)
      return { id: task.id, request_id: d.rid, _links: self(acc.info.subdomain, `tasks/${task.id}`) }
    })
    return hal({ _links: self(acc.info.subdomain, 'tasks'), _embedded: { tasks: created } })
  }

  function webhooksApi(acc: AccountState, method: string, body: unknown, query: Record<string, string>, userId: number): Answer {
    const allowed = acc.info.webhooksAllowed ?? opts.webhooksAllowed ?? true
    if (!allowed) return opts.webhooksDeniedStatus === 403 ? problem(403, 'Forbidden', 'Forbidden') : problem(402, 'Payment Required', 'Payment required')
    if (method === 'GET') {
      const filter = query['filter[destination]']
      const list = acc.webhooks.filter((w) => filter === undefined || w.destination === filter)
      return list.length ? hal({ _total_items: list.length, _embedded: { webhooks: list } }) : noContent()
    }
    if (isEmptyBody(body) || !isObj(body)) return emptyData()
    const v = new Validation()
    const destination = v.str('0', body, 'destination', '', { required: true })
    if (destination) {
      if (!URL.canParse(destination) || !/^https?:$/.test(new URL(destination).protocol)) v.add('0', 'InvalidUrl', 'destination')
    }
    if (method === 'DELETE') {
      if (v.failed) return v.answer()
      const index = acc.webhooks.findIndex((w) => w.destination === destination)
      if (index < 0) return problem(404, 'Not Found', 'Webhook not found')
      acc.webhooks.splice(index, 1)
      return noContent()
    }
    const settings = body.settings
    if (!Array.isArray(settings) || !settings.length) v.add('0', settings === undefined ? 'NotBlank' : 'InvalidType', 'settings', Array.isArray(settings) || settings === undefined ? undefined : 'This value should be of type array.')
    else settings.forEach((s: unknown, i) => typeof s === 'string' && WEBHOOK_EVENTS.has(s) ? undefined : v.add('0', 'NotSupportedChoice', `settings.${i}`))
    const sort = v.int('0', body, 'sort', '')
    if (v.failed) return v.answer()
    const t = nowSec()
    const existing = acc.webhooks.find((w) => w.destination === destination)
    if (existing) {
      existing.settings = settings as string[]
      existing.updated_at = t
      existing.disabled = false
      if (sort !== undefined) existing.sort = sort
      return hal(existing, 201)
    }
    if (acc.webhooks.length >= 100) return problem(422, 'Unprocessable Entity', 'Webhooks limit exceeded')
    const hook: KommoWebhook = { id: next('webhook'), destination: destination!, created_at: t, updated_at: t, account_id: acc.info.accountId, created_by: userId, sort: sort ?? acc.webhooks.length + 1, disabled: false, settings: settings as string[] }
    acc.webhooks.push(hook)
    return hal(hook, 201)
  }

  // ---- routing -------------------------------------------------------------------------------------------

  type Ctx = { acc: AccountState; method: string; body: unknown; query: Record<string, string>; userId: number; params: string[] }
  const routes: { method: string; re: RegExp; run: (c: Ctx) => Answer }[] = [
    {
      method: 'GET',
      re: /^\/api\/v4\/account$/,
      run: ({ acc, query, userId }) => {
        const w = withOf(query)
        const info = acc.info
        const embedded: Json = {}
        if (w.has('amojo_rights')) embedded.amojo_rights = { can_direct: true, can_create_groups: true }
        if (w.has('users_groups')) embedded.users_groups = [{ id: 0, name: 'Sales', uuid: null }]
        if (w.has('task_types')) embedded.task_types = info.taskTypes.map((t) => ({ id: t.id, name: t.name, color: null, icon_id: null, code: t.code }))
        if (w.has('datetime_settings')) embedded.datetime_settings = { date_pattern: 'm/d/Y H:i', short_date_pattern: 'm/d/Y', short_time_pattern: 'H:i', date_formant: 'm/d/Y', time_format: 'H:i:s', timezone: 'UTC', timezone_offset: '+00:00' }
        return hal({
          id: info.accountId,
          name: info.name,
          subdomain: info.subdomain,
          created_at: 1_700_000_000,
          created_by: 0,
          updated_at: 1_700_000_000,
          updated_by: 0,
          current_user_id: userId,
          country: info.country,
          currency: info.currency,
          currency_symbol: info.currency === 'EUR' ? '€' : '$',
          customers_mode: 'disabled',
          is_unsorted_on: true,
          is_loss_reason_enabled: true,
          is_helpbot_enabled: false,
          is_technical_account: false,
          contact_name_display_order: 1,
          ...(w.has('amojo_id') ? { amojo_id: info.amojoId } : {}),
          ...(w.has('version') ? { version: 11 } : {}),
          ...(w.has('drive_url') ? { drive_url: 'https://drive-c.kommo.com' } : {}),
          _links: self(info.subdomain, 'account'),
          ...(Object.keys(embedded).length ? { _embedded: embedded } : {}),
        })
      },
    },
    {
      method: 'GET',
      re: /^\/api\/v4\/users$/,
      run: ({ acc, query }) => {
        const users = acc.info.users
        // with=amojo_id: each user's id in the Chats API (users-api.md), the sender.id of their chat messages.
        const amojo = withOf(query).has('amojo_id')
        return hal({ _total_items: users.length, _page: 1, _page_count: 1, _links: self(acc.info.subdomain, 'users'), _embedded: { users: users.map((u) => ({ ...userModel(acc, u), ...(amojo ? { amojo_id: kommoUserAmojoId(u.id) } : {}) })) } })
      },
    },
    {
      method: 'GET',
      re: /^\/api\/v4\/users\/(\d+)$/,
      run: ({ acc, params }) => {
        const user = acc.info.users.find((u) => u.id === Number(params[0]))
        return user ? hal(userModel(acc, user)) : noContent()
      },
    },
    {
      method: 'GET',
      re: /^\/api\/v4\/leads\/pipelines$/,
      run: ({ acc }) => hal({ _total_items: acc.info.pipelines.length, _links: self(acc.info.subdomain, 'leads/pipelines'), _embedded: { pipelines: acc.info.pipelines.map((p) => pipelineModel(acc, p)) } }),
    },
    {
      method: 'GET',
      re: /^\/api\/v4\/leads\/pipelines\/(\d+)$/,
      run: ({ acc, params }) => {
        const p = pipelineOf(acc, Number(params[0]))
        return p ? hal(pipelineModel(acc, p)) : noContent()
      },
    },
    {
      method: 'GET',
      re: /^\/api\/v4\/leads\/pipelines\/(\d+)\/statuses$/,
      run: ({ acc, params }) => {
        const p = pipelineOf(acc, Number(params[0]))
        if (!p) return noContent()
        return hal({ _total_items: p.statuses.length, _links: self(acc.info.subdomain, `leads/pipelines/${p.id}/statuses`), _embedded: { statuses: p.statuses.map((s) => statusModel(acc, p, s)) } })
      },
    },
    {
      method: 'GET',
      re: /^\/api\/v4\/(contacts|leads)\/custom_fields$/,
      run: ({ acc, params }) => {
        const entity = params[0]!
        const fields = entity === 'contacts' ? acc.info.contactFields : acc.info.leadFields
        if (!fields.length) return noContent()
        return hal({ _total_items: fields.length, _page: 1, _page_count: 1, _links: self(acc.info.subdomain, `${entity}/custom_fields`), _embedded: { custom_fields: fields.map((f) => fieldModel(acc, f, entity)) } })
      },
    },
    {
      method: 'GET',
      re: /^\/api\/v4\/contacts$/,
      run: ({ acc, query }) => {
        const withLeads = withOf(query).has('leads')
        const list = [...acc.contacts.values()].filter((c) => query.query === undefined || matchesQuery(query.query, [c.name, c.first_name, c.last_name, String(c.id)], c.cfv))
        return page(acc, 'contacts', 'contacts', list, query, (c) => contactModel(acc, c, withLeads))
      },
    },
    {
      method: 'GET',
      re: /^\/api\/v4\/contacts\/(\d+)$/,
      run: ({ acc, params, query }) => {
        const c = acc.contacts.get(Number(params[0]))
        return c ? hal(contactModel(acc, c, withOf(query).has('leads'))) : noContent()
      },
    },
    { method: 'POST', re: /^\/api\/v4\/contacts$/, run: ({ acc, body, userId }) => addContacts(acc, body, userId) },
    {
      // POST /api/v4/contacts/custom_fields [{ name, type }] (custom-fields.md, "Adding custom fields"): the fields made, with their ids.
      method: 'POST',
      re: /^\/api\/v4\/contacts\/custom_fields$/,
      run: ({ acc, body }) => {
        const items = Array.isArray(body) ? (body as { name?: unknown; type?: unknown; sort?: unknown }[]) : []
        const made = items.map((item) => {
          const field = { id: 900_000 + acc.info.contactFields.length + 1, name: String(item.name ?? 'Field'), type: String(item.type ?? 'text'), sort: Number(item.sort ?? 500) }
          acc.info.contactFields.push(field as never)
          return fieldModel(acc, field as never, 'contacts')
        })
        return hal({ _total_items: made.length, _embedded: { custom_fields: made } })
      },
    },
    { method: 'PATCH', re: /^\/api\/v4\/contacts$/, run: ({ acc, body, userId }) => patchEntities(acc, 'contacts', undefined, body, userId) },
    { method: 'PATCH', re: /^\/api\/v4\/contacts\/(\d+)$/, run: ({ acc, body, userId, params }) => patchEntities(acc, 'contacts', Number(params[0]), body, userId) },
    {
      method: 'GET',
      re: /^\/api\/v4\/leads$/,
      run: ({ acc, query }) => {
        const withContacts = withOf(query).has('contacts')
        const list = [...acc.leads.values()].filter((l) => query.query === undefined || matchesQuery(query.query, [l.name, String(l.id)], l.cfv))
        return page(acc, 'leads', 'leads', list, query, (l) => leadModel(acc, l, withContacts))
      },
    },
    {
      method: 'GET',
      re: /^\/api\/v4\/leads\/(\d+)$/,
      run: ({ acc, params, query }) => {
        const l = acc.leads.get(Number(params[0]))
        return l ? hal(leadModel(acc, l, withOf(query).has('contacts'))) : noContent()
      },
    },
    { method: 'POST', re: /^\/api\/v4\/leads$/, run: ({ acc, body, userId }) => addLeads(acc, body, userId) },
    { method: 'POST', re: /^\/api\/v4\/leads\/complex$/, run: ({ acc, body, userId }) => complexLeads(acc, body, userId) },
    { method: 'PATCH', re: /^\/api\/v4\/leads$/, run: ({ acc, body, userId }) => patchEntities(acc, 'leads', undefined, body, userId) },
    { method: 'PATCH', re: /^\/api\/v4\/leads\/(\d+)$/, run: ({ acc, body, userId, params }) => patchEntities(acc, 'leads', Number(params[0]), body, userId) },
    {
      method: 'GET',
      re: /^\/api\/v4\/companies\/(\d+)$/,
      run: ({ acc, params }) => {
        const c = acc.companies.get(Number(params[0]))
        return c ? hal(companyModel(acc, c)) : noContent()
      },
    },
    { method: 'POST', re: /^\/api\/v4\/(leads|contacts|companies)\/notes$/, run: ({ acc, body, userId, params }) => addNotes(acc, params[0]!, undefined, body, userId) },
    { method: 'POST', re: /^\/api\/v4\/(leads|contacts|companies)\/(\d+)\/notes$/, run: ({ acc, body, userId, params }) => addNotes(acc, params[0]!, Number(params[1]), body, userId) },
    {
      method: 'GET',
      re: /^\/api\/v4\/(leads|contacts|companies)\/(\d+)\/notes$/,
      run: ({ acc, params, query }) => {
        const list = acc.notes.filter((n) => n.entity_type === params[0] && n.entity_id === Number(params[1]))
        return page(acc, `${params[0]}/${params[1]}/notes`, 'notes', list, query, (n) => ({ ...n, _links: self(acc.info.subdomain, `${n.entity_type}/${n.entity_id}/notes/${n.id}`) }))
      },
    },
    { method: 'POST', re: /^\/api\/v4\/tasks$/, run: ({ acc, body, userId }) => addTasks(acc, body, userId) },
    { method: 'GET', re: /^\/api\/v4\/webhooks$/, run: ({ acc, method, body, query, userId }) => webhooksApi(acc, method, body, query, userId) },
    { method: 'POST', re: /^\/api\/v4\/webhooks$/, run: ({ acc, method, body, query, userId }) => webhooksApi(acc, method, body, query, userId) },
    { method: 'DELETE', re: /^\/api\/v4\/webhooks$/, run: ({ acc, method, body, query, userId }) => webhooksApi(acc, method, body, query, userId) },
  ]

  function defaultFailure(status: number, method: string, path: string, subdomain: string): Answer {
    switch (status) {
      case 204:
        return noContent()
      case 400:
        return emptyData()
      case 401:
        return unauthorized()
      case 402:
        return problem(402, 'Payment Required', 'Payment required')
      case 403:
        return forbiddenPage()
      case 404:
        return problem(404, 'Not Found', `Cannot ${method} https://${subdomain}.kommo.com${path}`)
      case 405:
        return problem(405, 'Method Not Allowed', 'Method Not Allowed')
      case 429:
        return problem(429, 'Too Many Requests', 'You have sent too many requests in a given amount of time. Please try again later.', { retry_after: opts.rateLimitRetryAfter ?? 1 })
      case 500:
        return { status: 500, contentType: 'application/problem+json', body: { title: 'ErrInternalServer', status: 500, detail: 'Our team are probably already working on the elimination of the problem', trace_id: randomUUID() } }
      default:
        return problem(status, STATUS_CODES[status] ?? 'Error', STATUS_CODES[status] ?? 'Error')
    }
  }

  function dispatch(method: string, path: string, subdomain: string, token: string | undefined, body: unknown, bodyBroken: boolean, query: Record<string, string>): Answer {
    const acc = accounts.get(subdomain)
    if (acc?.blocked) return forbiddenPage()
    const isApi = path.startsWith('/api/')
    if (isApi && acc && rateLimit !== false) {
      const t = now()
      acc.hits = acc.hits.filter((h) => t - h < 1000)
      if (acc.hits.length >= rateLimit) {
        acc.rateLimited++
        if (opts.blockAfterRateLimited !== undefined && acc.rateLimited >= opts.blockAfterRateLimited) acc.blocked = true
        return defaultFailure(429, method, path, subdomain)
      }
      acc.hits.push(t)
    }
    const failure = failures.findIndex((f) => (f.failure.subdomain === undefined || f.failure.subdomain.toLowerCase() === subdomain) && matches(f.matcher, { method, path }))
    if (failure >= 0) {
      const f = failures.splice(failure, 1)[0]!.failure
      if (f.body === undefined) return { ...defaultFailure(f.status, method, path, subdomain), ...(f.headers ? { headers: f.headers } : {}) }
      if (f.body === null) return { status: f.status, headers: f.headers }
      if (typeof f.body === 'string') return { status: f.status, raw: f.body, contentType: f.contentType ?? 'text/plain', headers: f.headers }
      return { status: f.status, body: f.body, contentType: f.contentType ?? 'application/problem+json', headers: f.headers }
    }
    if (path === '/oauth2/access_token') {
      if (method !== 'POST') return defaultFailure(405, method, path, subdomain)
      return handleOAuth(acc, bodyBroken ? undefined : body)
    }
    if (!isApi) return defaultFailure(404, method, path, subdomain)
    if (!acc || !token) return unauthorized()
    const auth = accessTokens.get(token)
    if (!auth || auth.subdomain !== subdomain || auth.revoked || now() >= auth.expiresAt) return unauthorized()
    let pathMatched = false
    for (const route of routes) {
      const m = route.re.exec(path)
      if (!m) continue
      pathMatched = true
      if (route.method !== method) continue
      if (bodyBroken && method !== 'GET') return emptyData()
      return route.run({ acc, method, body, query, userId: auth.userId, params: m.slice(1) })
    }
    return defaultFailure(pathMatched ? 405 : 404, method, path, subdomain)
  }

  function send(res: ServerResponse, a: Answer) {
    const headers: Record<string, string> = { ...(a.headers ?? {}) }
    if (a.status === 204 || (a.body === undefined && a.raw === undefined)) {
      res.writeHead(a.status, headers)
      return res.end()
    }
    if (a.raw !== undefined) {
      res.writeHead(a.status, { 'content-type': `${a.contentType ?? 'text/plain'}; charset=utf-8`, ...headers })
      return res.end(a.raw)
    }
    res.writeHead(a.status, { 'content-type': `${a.contentType ?? 'application/json'}; charset=utf-8`, ...headers })
    return res.end(JSON.stringify(a.body))
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake')
    const m = /^\/([a-z0-9][a-z0-9-]*)(\/.*)$/i.exec(url.pathname)
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    let body: unknown
    let bodyBroken = false
    if (raw.trim()) {
      const type = String(req.headers['content-type'] ?? '')
      if (type.includes('json') || /^\s*[[{]/.test(raw)) {
        try {
          body = JSON.parse(raw)
        } catch {
          bodyBroken = true
        }
      } else body = Object.fromEntries(new URLSearchParams(raw))
    }
    const method = (req.method ?? 'GET').toUpperCase()
    const subdomain = (m?.[1] ?? '').toLowerCase()
    const path = m?.[2] ?? url.pathname
    const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim()
    const query = Object.fromEntries(url.searchParams)
    const call: KommoCall = { method, path, subdomain, token, query, body: bodyBroken ? raw : body, at: now(), status: 0 }
    calls.push(call)
    const answer = m ? dispatch(method, path, subdomain, token, body, bodyBroken, query) : defaultFailure(404, method, url.pathname, 'www')
    call.status = answer.status
    call.response = answer.body ?? answer.raw
    send(res, answer)
  }

  const server: Server = createServer((req, res) => void handle(req, res).catch((error: unknown) => send(res, { status: 500, body: { title: 'ErrInternalServer', status: 500, detail: String(error) }, contentType: 'application/problem+json' })))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const origin = `http://127.0.0.1:${port}`

  // ---- CRM webhooks (what Kommo POSTs to a subscribed destination) -------------------------------------------

  function webhookBody(subdomain: string, events: { leadStatus?: WebhookLeadStatus; responsible?: WebhookResponsible }): string {
    const acc = stateOf(subdomain)
    const parts: [string, string][] = []
    const put = (prefix: string, fields: Record<string, string | number | undefined>) => {
      for (const [k, val] of Object.entries(fields)) if (val !== undefined) parts.push([`${prefix}[${k}]`, String(val)])
    }
    // Key order as in captured bodies: the full form for a lead Kommo knows, the short one (as from the digital
    // pipeline) otherwise.
    if (events.leadStatus) {
      const { id, status_id, pipeline_id, old_status_id, old_pipeline_id, ...extra } = events.leadStatus
      const l = acc.leads.get(id)
      const old = old_pipeline_id ?? pipeline_id
      if (l) put('leads[status][0]', { id, name: l.name, status_id, old_status_id, price: l.price, responsible_user_id: l.responsible_user_id, last_modified: l.updated_at, modified_user_id: l.updated_by, created_user_id: l.created_by, date_create: l.created_at, pipeline_id, old_pipeline_id: old, account_id: acc.info.accountId, created_at: l.created_at, updated_at: l.updated_at, ...extra })
      else put('leads[status][0]', { id, status_id, pipeline_id, old_status_id, old_pipeline_id: old, ...extra })
    }
    if (events.responsible) {
      const { id, responsible_user_id, old_responsible_user_id, ...extra } = events.responsible
      const l = acc.leads.get(id)
      if (l) put('leads[responsible][0]', { id, name: l.name, status_id: l.status_id, price: l.price, responsible_user_id, last_modified: l.updated_at, modified_user_id: l.updated_by, created_user_id: l.created_by, date_create: l.created_at, pipeline_id: l.pipeline_id, account_id: acc.info.accountId, created_at: l.created_at, updated_at: l.updated_at, ...extra, old_responsible_user_id })
      else put('leads[responsible][0]', { id, responsible_user_id, ...extra, old_responsible_user_id })
    }
    parts.push(['account[subdomain]', acc.info.subdomain], ['account[id]', String(acc.info.accountId)], ['account[_links][self]', `https://${acc.info.subdomain}.kommo.com`])
    return parts.map(([k, val]) => `${encodeURIComponent(k)}=${encodeURIComponent(val).replace(/%20/g, '+')}`).join('&')
  }

  return {
    /** `http://127.0.0.1:PORT` */
    origin,
    /** What KOMMO_API_URL is set to: `{subdomain}` is replaced by the account's subdomain. */
    apiUrlTemplate: `${origin}/{subdomain}`,
    /** The base URL playing `https://{subdomain}.kommo.com`. */
    urlFor: (subdomain: string) => `${origin}/${subdomain.toLowerCase()}`,
    calls,
    /** Webhook POSTs made with `deliverWebhook`. */
    deliveries,
    addAccount,
    account: (subdomain: string) => stateOf(subdomain).info,
    /** A long-lived token (private integrations): no refresh, valid `lifetimeSeconds` (default 5 years). */
    addLongLivedToken(subdomain: string, token: string, options: { userId?: number; lifetimeSeconds?: number } = {}) {
      const acc = stateOf(subdomain)
      accessTokens.set(token, { subdomain: acc.info.subdomain, userId: options.userId ?? acc.info.users.find((u) => u.is_admin)?.id ?? acc.info.users[0]!.id, kind: 'long-lived', expiresAt: now() + (options.lifetimeSeconds ?? 5 * 365 * 86_400) * 1000 })
    },
    /** The `code` the OAuth redirect carried; `POST /oauth2/access_token` exchanges it once, within 20 minutes, for this client. */
    addOAuthCode(subdomain: string, code: string, client: KommoOAuthClient) {
      const acc = stateOf(subdomain)
      codes.set(`${acc.info.subdomain}:${code}`, { subdomain: acc.info.subdomain, client: { ...client }, expiresAt: now() + 20 * 60_000 })
    },
    /** A token pair as if the code exchange had happened (for seeding the product's stored credentials). */
    issueTokens(subdomain: string, client: KommoOAuthClient): KommoTokenPair {
      const acc = stateOf(subdomain)
      return issuePair(acc, { ...client }, client.userId ?? acc.info.users[0]!.id)
    },
    /** The access token answers 401 from now on (as after its `expires_in`). */
    expireAccessToken(token: string) {
      const t = accessTokens.get(token)
      if (t) t.expiresAt = 0
    },
    /** The account's admin disabled the integration: every token and refresh token stops working (API 401, refresh 400). */
    revokeAccess(subdomain: string) {
      const sub = subdomain.toLowerCase()
      for (const t of accessTokens.values()) if (t.subdomain === sub) t.revoked = true
      for (const t of refreshTokens.values()) if (t.subdomain === sub) t.used = true
    },
    /** Every call for the account answers 403 (Kommo's block after repeated 429s), OAuth included. */
    blockAccount(subdomain: string) {
      stateOf(subdomain).blocked = true
    },
    unblockAccount(subdomain: string) {
      const acc = stateOf(subdomain)
      acc.blocked = false
      acc.rateLimited = 0
      acc.hits = []
    },
    /** Moves the fake's clock (token expiry, code expiry, the rate-limit window) forward. */
    advanceTime(seconds: number) {
      clockOffset += seconds * 1000
    },
    /** The next call matching (method, path suffix, `METHOD /path` or RegExp) gets this answer instead. */
    failNext(matcher: string | RegExp, failure: KommoFailure) {
      failures.push({ matcher, failure })
    },
    callsOf(matcher: string | RegExp, subdomain?: string) {
      return calls.filter((c) => (subdomain === undefined || c.subdomain === subdomain.toLowerCase()) && matches(matcher, c))
    },
    /** Contacts as `GET /api/v4/contacts/{id}?with=leads` would show them. */
    contacts: (subdomain: string) => {
      const acc = stateOf(subdomain)
      return [...acc.contacts.values()].map((c) => contactModel(acc, c, true))
    },
    companies: (subdomain: string) => {
      const acc = stateOf(subdomain)
      return [...acc.companies.values()].map((c) => companyModel(acc, c))
    },
    /** Leads as `GET /api/v4/leads/{id}?with=contacts` would show them. */
    leads: (subdomain: string) => {
      const acc = stateOf(subdomain)
      return [...acc.leads.values()].map((l) => leadModel(acc, l, true))
    },
    notes: (subdomain: string) => [...stateOf(subdomain).notes],
    tasks: (subdomain: string) => [...stateOf(subdomain).tasks],
    webhooks: (subdomain: string) => [...stateOf(subdomain).webhooks],
    /** Successful `grant_type=refresh_token` exchanges for the account. */
    refreshCount: (subdomain: string) => stateOf(subdomain).refreshes,
    /**
     * The `application/x-www-form-urlencoded` body Kommo POSTs to a CRM webhook (webhooks-format.md), e.g.
     * `leads[status][0][id]=...&...&account[subdomain]=...&account[id]=...&account[_links][self]=...`. For a lead
     * the fake knows, the lead's other fields (name, price, responsible_user_id, last_modified, ...) are included
     * as Kommo does; extra keys in the event are appended as given.
     */
    webhookBody,
    /**
     * A manager changes a lead in Kommo's UI (stage, pipeline, responsible user): the state changes and the
     * webhook body for it is returned (`leads[status]` and/or `leads[responsible]`), ready for `deliverWebhook`.
     */
    moveLead(subdomain: string, leadId: number, change: { status_id?: number; pipeline_id?: number; responsible_user_id?: number; modified_user_id?: number }): string {
      const acc = stateOf(subdomain)
      const lead = acc.leads.get(leadId)
      if (!lead) throw new Error(`fake Kommo: no lead ${leadId} in "${subdomain}"`)
      const before = { status_id: lead.status_id, pipeline_id: lead.pipeline_id, responsible_user_id: lead.responsible_user_id }
      if (change.pipeline_id !== undefined) lead.pipeline_id = change.pipeline_id
      if (change.status_id !== undefined) lead.status_id = change.status_id
      if (change.responsible_user_id !== undefined) lead.responsible_user_id = change.responsible_user_id
      lead.closed_at = lead.status_id === WON || lead.status_id === LOST ? (lead.closed_at ?? nowSec()) : null
      lead.updated_at = nowSec()
      lead.updated_by = change.modified_user_id ?? acc.info.users[0]!.id
      const statusChanged = lead.status_id !== before.status_id || lead.pipeline_id !== before.pipeline_id
      return webhookBody(subdomain, {
        ...(statusChanged ? { leadStatus: { id: lead.id, status_id: lead.status_id, pipeline_id: lead.pipeline_id, old_status_id: before.status_id, old_pipeline_id: before.pipeline_id } } : {}),
        ...(lead.responsible_user_id !== before.responsible_user_id ? { responsible: { id: lead.id, responsible_user_id: lead.responsible_user_id, old_responsible_user_id: before.responsible_user_id } } : {}),
      })
    },
    /** POSTs a webhook body the way Kommo does (form-encoded, `User-Agent: amoCRM-WebHook-client/1.0`). Kommo waits 2 s. */
    async deliverWebhook(url: string, body: string, options: { timeoutMs?: number } = {}) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'amoCRM-WebHook-client/1.0' }, body, signal: AbortSignal.timeout(options.timeoutMs ?? 2000) })
      const text = await res.text()
      deliveries.push({ url, body, status: res.status, at: now() })
      return { status: res.status, body: text }
    },
    async close() {
      const done = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await done
    },
  }
}

export type FakeKommo = Awaited<ReturnType<typeof startFakeKommo>>
