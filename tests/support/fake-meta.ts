import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local stand-in for Meta's Graph API as the Messenger Platform and the Instagram API with Instagram Login
 * use it. ONE server plays three hosts, each under a path prefix:
 *
 * - `url` (`/fb`) is https://graph.facebook.com: Pages, the Send API, `subscribed_apps`, Facebook Login's
 *   `oauth/access_token` and `me/accounts`;
 * - `instagramUrl` (`/ig`) is https://graph.instagram.com: `/me`, the Send API, `subscribed_apps`,
 *   `access_token` (ig_exchange_token) and `refresh_access_token` (ig_refresh_token);
 * - `instagramApiUrl` (`/ig-api`) is https://api.instagram.com: `POST /oauth/access_token` (code exchange);
 * - `/cdn/<path>` plays Meta's lookaside CDN (attachment URLs in webhooks): public, no token.
 *
 * Calls look like `{base}/{version}/{path}` with any `vNN.N` version (or none). The token may come as
 * `Authorization: Bearer <token>` (or `OAuth <token>`) or as an `access_token` query / body parameter; bodies
 * may be JSON, form-encoded (Graph-style `recipient={"id":"..."}` JSON-in-form fields are decoded) or multipart.
 *
 * Failures answer Meta's error shape `{ error: { message, type: "OAuthException", code, error_subcode?,
 * fbtrace_id } }` (https://developers.facebook.com/docs/messenger-platform/error-codes), HTTP 400 unless a
 * code means otherwise (1 and 2 are 500). api.instagram.com keeps Instagram's own flat shape
 * `{ error_type: "OAuthException", code: 400, error_message }`.
 */
export type MetaBase = 'fb' | 'ig' | 'ig-api'
export type FakeMetaPage = { pageId: string; name: string; token: string; category?: string }
export type FakeInstagramAccount = {
  /** the Instagram professional account id (`user_id` on /me, `entry.id` and `recipient.id` in webhooks) */
  accountId: string
  username: string
  token: string
  /** seconds until the token expires (no expiry when absent); afterwards it answers 190 / 463 */
  expiresIn?: number
  /** the app-scoped id /me answers as `id` (differs from `user_id`, as on Meta); derived when absent */
  appScopedId?: string
  name?: string
}
export type FacebookOAuthGrant = {
  /** the user access token `oauth/access_token` hands out for the code */
  userToken: string
  userId?: string
  userName?: string
  /** the Pages `me/accounts` lists for that user, each with its page access token */
  pages: (FakeMetaPage & { tasks?: string[] })[]
  /** when set, `redirect_uri` must equal it (100 / 36008 otherwise) */
  redirectUri?: string
  expiresIn?: number
}
export type InstagramOAuthGrant = {
  accountId: string
  username: string
  /** the short-lived token api.instagram.com hands out for the code (valid 1 h) */
  shortToken: string
  /** what `access_token?grant_type=ig_exchange_token` answers for it (minted when absent) */
  longToken?: string
  appScopedId?: string
  permissions?: string[]
  /** when set, `redirect_uri` must equal it */
  redirectUri?: string
  /**
   * `wrapped` (default) is the documented answer `{ data: [{ access_token, user_id, permissions }] }`
   * (Business Login for Instagram, step 2); `flat` is `{ access_token, user_id, permissions }`, which many
   * integrations report receiving instead. Code that reads the answer should accept both.
   */
  shape?: 'wrapped' | 'flat'
}
export type MetaCall = {
  method: string
  /** the path after the base and version, e.g. `/me/messages`, `/1234/subscribed_apps` */
  path: string
  base: MetaBase
  version?: string
  token: string | undefined
  tokenVia?: 'header' | 'query' | 'body'
  query: Record<string, string>
  body: Record<string, unknown>
  at: number
  status?: number
  response?: Record<string, unknown>
}
export type MetaFailure = { status?: number; code: number; subcode?: number; message?: string; type?: string; base?: MetaBase }
export type FakeMetaOptions = {
  /** when set, Facebook `oauth/access_token` checks `client_id` / `client_secret` */
  appId?: string
  appSecret?: string
  /** when set, the Instagram code exchange checks them (ig_exchange_token checks the secret) */
  instagramAppId?: string
  instagramAppSecret?: string
}

type Revocation = { subcode?: number; message: string }
type TokenInfo = { expiresAt?: number; revoked?: Revocation } & (
  | { kind: 'page'; pageId: string }
  | { kind: 'fb-user'; userId: string; userName: string; pageIds: string[] }
  | { kind: 'ig-user'; accountId: string; exchangeTo?: string }
)
type Answer = { status?: number; body: Record<string, unknown>; headers?: Record<string, string> }

class GraphError extends Error {
  readonly code: number
  readonly subcode: number | undefined
  readonly status: number
  readonly type: string
  constructor(code: number, message?: string, subcode?: number, status?: number, type = 'OAuthException') {
    super(message ?? defaultMessage(code, subcode))
    this.code = code
    this.subcode = subcode
    this.status = status ?? (code === 1 || code === 2 ? 500 : 400)
    this.type = type
  }
}

/** Meta's wording for the codes the fake answers (https://developers.facebook.com/docs/messenger-platform/error-codes). */
function defaultMessage(code: number, subcode?: number): string {
  if (code === 10 && subcode === 2018278) return OUTSIDE_WINDOW
  const messages: Record<number, string> = {
    1: 'An unknown error occurred',
    2: 'An unexpected error has occurred. Please retry your request later.',
    4: '(#4) Application request limit reached',
    10: '(#10) Application does not have permission for this action',
    17: '(#17) User request limit reached',
    32: '(#32) Page request limit reached',
    100: '(#100) Invalid parameter',
    190: 'Invalid OAuth access token - Cannot parse access token',
    200: '(#200) Requires pages_messaging permission to manage the object',
    368: '(#368) The action attempted has been deemed abusive or is otherwise disallowed',
    551: "(#551) This person isn't available right now.",
    613: '(#613) Calls to this api have exceeded the rate limit.',
  }
  return messages[code] ?? `(#${code}) An error occurred`
}

const OUTSIDE_WINDOW = '(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview'
/** Send API text limits: Messenger 2000 characters (reference/send-api); Instagram "UTF-8 and 1000 bytes or less" (Instagram API with Instagram Login, Send Messages). */
export const MESSENGER_TEXT_LIMIT = 2000
export const INSTAGRAM_TEXT_BYTES_LIMIT = 1000
export const MAX_QUICK_REPLIES = 13
const LONG_LIVED_SECONDS = 5_184_000 // 60 days
const SHORT_LIVED_SECONDS = 3600
const JSON_FORM_FIELDS = ['recipient', 'message', 'payload', 'quick_replies', 'subscribed_fields', 'metadata']
const SENDER_ACTIONS = new Set(['typing_on', 'typing_off', 'mark_seen', 'react', 'unreact'])
const MESSAGING_TYPES = new Set(['RESPONSE', 'UPDATE', 'MESSAGE_TAG'])
const HTTP_METHODS = new Set(['GET', 'POST', 'DELETE', 'PUT'])

const fbtraceId = () => randomBytes(8).toString('base64url').slice(0, 11)
const unsupported = (method: string, id: string) =>
  new GraphError(100, `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`, 33)

/** Does a failNext / callsOf matcher select this call? A string is a method (`POST`), a path or a path suffix (`/messages`), or `METHOD /path`. */
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

export async function startFakeMeta(opts: FakeMetaOptions = {}) {
  const pages = new Map<string, FakeMetaPage>()
  const igAccounts = new Map<string, Required<Pick<FakeInstagramAccount, 'accountId' | 'username' | 'appScopedId'>> & { name?: string }>()
  const tokens = new Map<string, TokenInfo>()
  const fbCodes = new Map<string, FacebookOAuthGrant & { used?: boolean }>()
  const igCodes = new Map<string, InstagramOAuthGrant & { used?: boolean }>()
  const files = new Map<string, { bytes: Buffer; contentType: string }>()
  const pageTasks = new Map<string, string[]>() // page id -> the tasks me/accounts lists
  const subscriptions = new Map<string, string[]>() // page id / IG account id -> subscribed fields
  const outsideWindow = new Set<string>()
  const unavailable = new Set<string>()
  const calls: MetaCall[] = []
  const failures: { matcher: string | RegExp; failure: MetaFailure }[] = []
  let seq = 0
  const appId = opts.appId ?? '1200000000000001'

  const fbMid = () => `m_${randomBytes(40).toString('base64url')}`
  // Instagram message ids are base64 of `ig_message_item:...`, hence their `aWdf` prefix
  const igMid = () => Buffer.from(`ig_message_item:1:IGMessageThread:${Date.now()}:${++seq}:${randomBytes(6).toString('hex')}`).toString('base64url')
  const now = () => Date.now()

  function addPage(page: FakeMetaPage) {
    pages.set(page.pageId, { ...page })
    tokens.set(page.token, { kind: 'page', pageId: page.pageId })
    return page
  }
  function addInstagram(account: FakeInstagramAccount) {
    const derived = /^\d+$/.test(account.accountId) ? (BigInt(account.accountId) + 7_000_000_000n).toString() : `${account.accountId}-app`
    const appScopedId = account.appScopedId ?? igAccounts.get(account.accountId)?.appScopedId ?? derived
    igAccounts.set(account.accountId, { accountId: account.accountId, username: account.username, appScopedId, name: account.name })
    tokens.set(account.token, { kind: 'ig-user', accountId: account.accountId, ...(account.expiresIn !== undefined ? { expiresAt: now() + account.expiresIn * 1000 } : {}) })
    return { ...account, appScopedId }
  }

  // ---- request parsing -------------------------------------------------------------------------------
  async function parseBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks)
    if (!raw.length) return {}
    const type = String(req.headers['content-type'] ?? '')
    let body: Record<string, unknown>
    if (type.includes('json')) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>
      } catch {
        throw new GraphError(100, '(#100) The request body is not valid JSON')
      }
    } else if (type.includes('multipart/form-data')) {
      const form = await new Response(raw, { headers: { 'content-type': type } }).formData()
      body = {}
      const entries: [string, FormDataEntryValue][] = []
      form.forEach((value, key) => entries.push([key, value]))
      for (const [key, value] of entries) body[key] = typeof value === 'string' ? value : { filename: value.name, size: value.size, type: value.type }
    } else body = Object.fromEntries(new URLSearchParams(raw.toString('utf8')))
    return decodeJsonFields(body)
  }
  function decodeJsonFields(p: Record<string, unknown>) {
    for (const field of JSON_FORM_FIELDS) {
      const v = p[field]
      if (typeof v === 'string' && /^\s*[[{]/.test(v)) {
        try {
          p[field] = JSON.parse(v)
        } catch {
          // left as sent; validation answers for it
        }
      }
    }
    return p
  }

  function resolveToken(req: IncomingMessage, query: Record<string, string>, body: Record<string, unknown>) {
    const header = /^(?:Bearer|OAuth)\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]
    if (header) return { token: header, via: 'header' as const }
    if (query.access_token) return { token: query.access_token, via: 'query' as const }
    if (typeof body.access_token === 'string') return { token: body.access_token, via: 'body' as const }
    return { token: undefined, via: undefined }
  }

  /** The token's record, or the 190 Meta answers for a missing, unknown, revoked or expired one. */
  function authenticate(token: string | undefined, base: 'fb' | 'ig'): TokenInfo {
    if (!token) throw new GraphError(104, 'An access token is required to request this resource.')
    const info = tokens.get(token)
    // graph.instagram.com cannot parse Facebook tokens and vice versa
    if (!info || (base === 'ig') !== (info.kind === 'ig-user')) throw new GraphError(190, 'Invalid OAuth access token - Cannot parse access token')
    if (info.revoked) throw new GraphError(190, info.revoked.message, info.revoked.subcode)
    if (info.expiresAt !== undefined && info.expiresAt <= now()) {
      const fmt = (t: number) => new Date(t).toUTCString()
      throw new GraphError(190, `Error validating access token: Session has expired on ${fmt(info.expiresAt)}. The current time is ${fmt(now())}.`, 463)
    }
    return info
  }

  const pick = (node: Record<string, unknown>, fields: string | undefined, defaults: string[]) => {
    const wanted = fields ? fields.split(',').map((f) => f.trim()).filter(Boolean) : defaults
    const out: Record<string, unknown> = {}
    for (const f of wanted) if (node[f] !== undefined) out[f] = node[f]
    if (out.id === undefined && node.id !== undefined) out.id = node.id
    return out
  }
  const fieldsOf = (value: unknown): string[] => {
    if (Array.isArray(value)) return value.map(String)
    if (typeof value === 'string') return value.split(',').map((f) => f.trim()).filter(Boolean)
    return []
  }

  // ---- the Send API (Messenger and Instagram) ---------------------------------------------------------
  function send(platform: 'fb' | 'ig', p: Record<string, unknown>): Answer {
    const recipient = p.recipient as { id?: unknown } | undefined
    const recipientId = recipient && typeof recipient === 'object' && recipient.id !== undefined ? String(recipient.id) : undefined
    if (!recipientId) throw new GraphError(100, '(#100) The parameter recipient is required')
    const message = p.message as Record<string, unknown> | string | undefined
    const action = p.sender_action
    if (message !== undefined && action !== undefined) throw new GraphError(100, '(#100) Cannot send both message and state at the same time.')
    if (unavailable.has(recipientId)) throw new GraphError(551)
    if (action !== undefined) {
      if (typeof action !== 'string' || !SENDER_ACTIONS.has(action)) throw new GraphError(100, `(#100) Param sender_action must be one of {${[...SENDER_ACTIONS].map((a) => a.toUpperCase()).join(', ')}}`)
      return { body: { recipient_id: recipientId } }
    }
    if (message === undefined) throw new GraphError(100, '(#100) The parameter message is required')
    if (typeof message !== 'object' || message === null) throw new GraphError(100, '(#100) Param message must be a JSON object')
    const messagingType = p.messaging_type
    if (messagingType !== undefined && !MESSAGING_TYPES.has(String(messagingType))) throw new GraphError(100, '(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}')
    if (messagingType === 'MESSAGE_TAG' && !p.tag) throw new GraphError(100, '(#100) Tag is required for MESSAGE_TAG messaging type.')
    const text = message.text
    const attachment = message.attachment ?? message.attachments
    if (text === undefined && attachment === undefined) throw new GraphError(100, '(#100) Must send either text or attachment in message')
    if (text !== undefined) {
      if (typeof text !== 'string' || text === '') throw new GraphError(100, '(#100) Param message[text] must be a non-empty UTF-8 encoded string')
      if (platform === 'fb' && [...text].length > MESSENGER_TEXT_LIMIT) throw new GraphError(100, `(#100) Length of param message[text] must be less than or equal to ${MESSENGER_TEXT_LIMIT}`)
      if (platform === 'ig' && Buffer.byteLength(text, 'utf8') > INSTAGRAM_TEXT_BYTES_LIMIT) throw new GraphError(100, `(#100) Length of param message[text] must be less than or equal to ${INSTAGRAM_TEXT_BYTES_LIMIT}`)
    }
    const quickReplies = message.quick_replies
    if (quickReplies !== undefined) {
      if (!Array.isArray(quickReplies)) throw new GraphError(100, '(#100) Param message[quick_replies] must be an array')
      if (quickReplies.length > MAX_QUICK_REPLIES) throw new GraphError(100, `(#100) Param message[quick_replies] must have at most ${MAX_QUICK_REPLIES} elements`)
    }
    // After 24 h only a human agent's reply (tag HUMAN_AGENT, within 7 days) goes through
    if (outsideWindow.has(recipientId) && p.tag !== 'HUMAN_AGENT') throw new GraphError(10, OUTSIDE_WINDOW, 2018278)
    const single = message.attachment as { payload?: { is_reusable?: unknown } } | undefined
    const reusable = single?.payload?.is_reusable === true || single?.payload?.is_reusable === 'true'
    return { body: { recipient_id: recipientId, message_id: platform === 'fb' ? fbMid() : igMid(), ...(reusable ? { attachment_id: String(10_000_000_000 + ++seq) } : {}) } }
  }

  // ---- graph.facebook.com ----------------------------------------------------------------------------
  function exchangeFacebookCode(q: Record<string, unknown>): Answer {
    if (q.grant_type === 'fb_exchange_token') {
      checkFacebookClient(q)
      const old = tokens.get(String(q.fb_exchange_token ?? ''))
      if (!old || old.kind !== 'fb-user' || old.revoked) throw new GraphError(190, 'Invalid OAuth access token - Cannot parse access token')
      const token = `${String(q.fb_exchange_token)}-long-${++seq}`
      tokens.set(token, { ...old, expiresAt: now() + LONG_LIVED_SECONDS * 1000 })
      return { body: { access_token: token, token_type: 'bearer', expires_in: LONG_LIVED_SECONDS } }
    }
    checkFacebookClient(q)
    const grant = fbCodes.get(String(q.code ?? ''))
    if (!grant) throw new GraphError(100, 'Invalid verification code format.', 36007)
    if (grant.used) throw new GraphError(100, 'This authorization code has been used.', 36009)
    if (grant.redirectUri !== undefined && q.redirect_uri !== grant.redirectUri) throw new GraphError(100, 'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request', 36008)
    grant.used = true
    const expiresIn = grant.expiresIn ?? LONG_LIVED_SECONDS
    tokens.set(grant.userToken, { kind: 'fb-user', userId: grant.userId ?? '10000000000001', userName: grant.userName ?? 'Page Admin', pageIds: grant.pages.map((p) => p.pageId), expiresAt: now() + expiresIn * 1000 })
    return { body: { access_token: grant.userToken, token_type: 'bearer', expires_in: expiresIn } }
  }
  function checkFacebookClient(q: Record<string, unknown>) {
    if (!q.client_id || (opts.appId !== undefined && String(q.client_id) !== opts.appId)) throw new GraphError(101, 'Error validating application. Invalid application ID.')
    if (!q.client_secret || (opts.appSecret !== undefined && String(q.client_secret) !== opts.appSecret)) throw new GraphError(1, 'Error validating client secret.', undefined, 400)
  }

  function facebook(method: string, path: string, q: Record<string, unknown>, info: TokenInfo): Answer {
    const parts = path.split('/').filter(Boolean)
    const [node, edge, ...rest] = parts
    if (!node || rest.length) throw unsupported(method, path)
    // GET /app: the app the access token was issued to (https://developers.facebook.com/docs/graph-api/reference/application/).
    if (node === 'app' && !edge && method === 'GET') return { body: { id: appId, name: 'Switchboard' } }
    // `me` is the Page for a page token, the person for a user token
    const pageId = node === 'me' ? (info.kind === 'page' ? info.pageId : undefined) : node
    if (node === 'me' && info.kind === 'fb-user') {
      if (!edge && method === 'GET') return { body: pick({ id: info.userId, name: info.userName }, q.fields as string | undefined, ['name']) }
      if (edge === 'accounts' && method === 'GET') {
        const data = info.pageIds.flatMap((id) => {
          const page = pages.get(id)
          const tasks = pageTasks.get(id) ?? ['ANALYZE', 'ADVERTISE', 'MESSAGING', 'MODERATE', 'CREATE_CONTENT', 'MANAGE']
          return page ? [{ access_token: page.token, category: page.category ?? 'Local business', name: page.name, id: page.pageId, tasks }] : []
        })
        const cursor = (s: string) => Buffer.from(s).toString('base64url')
        return { body: { data, paging: { cursors: { before: cursor(data[0]?.id ?? ''), after: cursor(data.at(-1)?.id ?? '') } } } }
      }
      throw unsupported(method, path)
    }
    const page = pageId ? pages.get(pageId) : undefined
    const allowed = page && ((info.kind === 'page' && info.pageId === page.pageId) || (info.kind === 'fb-user' && info.pageIds.includes(page.pageId)))
    if (!page || !allowed) throw unsupported(method, node)
    if (!edge) {
      if (method !== 'GET') throw unsupported(method, node)
      return { body: pick({ id: page.pageId, name: page.name, category: page.category }, q.fields as string | undefined, ['name']) }
    }
    if (edge === 'subscribed_apps') return subscribedApps(method, page.pageId, q, info.kind === 'page')
    if (edge === 'messages' && method === 'POST') {
      if (info.kind !== 'page') throw new GraphError(200, '(#200) Requires pages_messaging permission to manage the object')
      return send('fb', q)
    }
    throw unsupported(method, `${node}/${edge}`)
  }

  function subscribedApps(method: string, id: string, q: Record<string, unknown>, canWrite: boolean): Answer {
    if (method === 'GET') {
      const fields = subscriptions.get(id)
      return { body: { data: fields ? [{ category: 'Business', link: 'https://switchboard.test/', name: 'Switchboard', id: appId, subscribed_fields: fields }] : [] } }
    }
    if (!canWrite) throw new GraphError(210, '(#210) A page access token is required to request this resource.')
    if (method === 'POST') {
      const fields = fieldsOf(q.subscribed_fields)
      if (!fields.length) throw new GraphError(100, '(#100) The parameter subscribed_fields is required')
      subscriptions.set(id, fields)
      return { body: { success: true } }
    }
    if (method === 'DELETE') {
      subscriptions.delete(id)
      return { body: { success: true } }
    }
    throw unsupported(method, `${id}/subscribed_apps`)
  }

  // ---- graph.instagram.com ---------------------------------------------------------------------------
  function instagramTokens(method: string, path: string, q: Record<string, unknown>, token: string | undefined): Answer | undefined {
    if (path === '/access_token' && method === 'GET') {
      if (q.grant_type !== 'ig_exchange_token') throw new GraphError(100, '(#100) Unsupported grant type: expected ig_exchange_token')
      if (!q.client_secret || (opts.instagramAppSecret !== undefined && String(q.client_secret) !== opts.instagramAppSecret)) throw new GraphError(101, 'Error validating client secret.')
      const info = authenticate(token, 'ig')
      if (info.kind !== 'ig-user') throw new GraphError(190)
      const longToken = info.exchangeTo ?? `${token!}-long-${++seq}`
      tokens.set(longToken, { kind: 'ig-user', accountId: info.accountId, expiresAt: now() + LONG_LIVED_SECONDS * 1000 })
      return { body: { access_token: longToken, token_type: 'bearer', expires_in: LONG_LIVED_SECONDS } }
    }
    if (path === '/refresh_access_token' && method === 'GET') {
      if (q.grant_type !== 'ig_refresh_token') throw new GraphError(100, '(#100) Unsupported grant type: expected ig_refresh_token')
      const info = authenticate(token, 'ig')
      if (info.kind !== 'ig-user') throw new GraphError(190)
      // the old token keeps working until its own expiry, as on Meta
      const fresh = `${token!.replace(/-r\d+$/, '')}-r${++seq}`
      tokens.set(fresh, { kind: 'ig-user', accountId: info.accountId, expiresAt: now() + LONG_LIVED_SECONDS * 1000 })
      return { body: { access_token: fresh, token_type: 'bearer', expires_in: LONG_LIVED_SECONDS } }
    }
    return undefined
  }

  function instagram(method: string, path: string, q: Record<string, unknown>, info: TokenInfo): Answer {
    if (info.kind !== 'ig-user') throw new GraphError(190)
    const account = igAccounts.get(info.accountId)
    const [node, edge, ...rest] = path.split('/').filter(Boolean)
    if (!account || !node || rest.length) throw unsupported(method, path)
    const isSelf = node === 'me' || node === account.accountId || node === account.appScopedId
    if (!isSelf) throw unsupported(method, node)
    if (!edge) {
      if (method !== 'GET') throw unsupported(method, node)
      const user = { id: account.appScopedId, user_id: account.accountId, username: account.username, name: account.name, account_type: 'BUSINESS' }
      return { body: pick(user, q.fields as string | undefined, []) }
    }
    if (edge === 'subscribed_apps') return subscribedApps(method, account.accountId, q, true)
    if (edge === 'messages' && method === 'POST') return send('ig', q)
    throw unsupported(method, `${node}/${edge}`)
  }

  // ---- api.instagram.com -----------------------------------------------------------------------------
  class InstagramApiError extends Error {}
  function exchangeInstagramCode(method: string, path: string, p: Record<string, unknown>): Answer {
    if (method !== 'POST' || path !== '/oauth/access_token') return { status: 404, body: { error_type: 'OAuthException', code: 404, error_message: 'Sorry, this page isn\'t available.' } }
    const fail = (message: string): never => {
      throw new InstagramApiError(message)
    }
    if (!p.client_id || (opts.instagramAppId !== undefined && String(p.client_id) !== opts.instagramAppId)) fail('Invalid platform app')
    if (!p.client_secret || (opts.instagramAppSecret !== undefined && String(p.client_secret) !== opts.instagramAppSecret)) fail('Error validating client secret.')
    if (p.grant_type !== 'authorization_code') fail('Unsupported grant_type. Use authorization_code')
    if (!p.redirect_uri) fail('Missing required field redirect_uri')
    const g = igCodes.get(String(p.code ?? '')) ?? fail('Invalid authorization code')
    if (g.used) fail('This authorization code has been used')
    if (g.redirectUri !== undefined && p.redirect_uri !== g.redirectUri) fail('Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request')
    g.used = true
    addInstagram({ accountId: g.accountId, username: g.username, token: g.shortToken, expiresIn: SHORT_LIVED_SECONDS, appScopedId: g.appScopedId })
    const info = tokens.get(g.shortToken)
    if (info?.kind === 'ig-user' && g.longToken) info.exchangeTo = g.longToken
    const permissions = g.permissions ?? ['instagram_business_basic', 'instagram_business_manage_messages']
    if (g.shape === 'flat') return { body: { access_token: g.shortToken, user_id: Number(g.accountId), permissions } }
    return { body: { data: [{ access_token: g.shortToken, user_id: g.accountId, permissions: permissions.join(',') }] } }
  }

  // ---- HTTP ------------------------------------------------------------------------------------------
  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers })
    res.end(JSON.stringify(body))
  }
  const graphErrorBody = (e: GraphError) => ({ error: { message: e.message, type: e.type, code: e.code, ...(e.subcode !== undefined ? { error_subcode: e.subcode } : {}), fbtrace_id: fbtraceId() } })

  function handleCdn(req: IncomingMessage, res: ServerResponse, path: string) {
    const file = files.get(path)
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' })
      return res.end('URL signature expired')
    }
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': String(file.bytes.length), 'cache-control': 'max-age=1209600, no-transform' })
    return res.end(req.method === 'HEAD' ? undefined : file.bytes)
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake')
    if (url.pathname.startsWith('/cdn/')) return handleCdn(req, res, decodeURIComponent(url.pathname.slice('/cdn/'.length)))
    const m = /^\/(fb|ig-api|ig)(?:\/(v\d+\.\d+))?(\/.*)?$/.exec(url.pathname)
    if (!m) return sendJson(res, 404, { error: { message: 'Unknown path components', type: 'OAuthException', code: 2500, fbtrace_id: fbtraceId() } })
    const base = m[1] as MetaBase
    const version = m[2]
    const path = (m[3] ?? '/').replace(/\/+$/, '') || '/'
    const method = (req.method ?? 'GET').toUpperCase()
    const query = Object.fromEntries(url.searchParams)
    const call: MetaCall = { method, path, base, version, token: undefined, query, body: {}, at: now() }
    calls.push(call)
    const reply = (a: Answer) => {
      call.status = a.status ?? 200
      call.response = a.body
      sendJson(res, call.status, a.body, a.headers)
    }
    const replyError = (e: GraphError) => reply({ status: e.status, body: graphErrorBody(e), headers: e.code === 190 ? { 'www-authenticate': `OAuth "Facebook Platform" "invalid_token" "${e.message}"` } : {} })
    const replyInstagramApiError = (message: string, status = 400) => reply({ status, body: { error_type: 'OAuthException', code: status, error_message: message } })

    try {
      call.body = await parseBody(req)
    } catch (error) {
      if (error instanceof GraphError) return replyError(error)
      throw error
    }
    const { token, via } = resolveToken(req, query, call.body)
    call.token = token
    call.tokenVia = via

    const failure = failures.findIndex((f) => (f.failure.base === undefined || f.failure.base === base) && matches(f.matcher, call))
    if (failure >= 0) {
      const f = failures.splice(failure, 1)[0]!.failure
      if (base === 'ig-api') return replyInstagramApiError(f.message ?? defaultMessage(f.code, f.subcode), f.status ?? 400)
      return replyError(new GraphError(f.code, f.message, f.subcode, f.status, f.type))
    }

    // Parameters come from the query string and the body alike (Graph merges them)
    const params = decodeJsonFields({ ...query, ...call.body })
    try {
      if (base === 'ig-api') return reply(exchangeInstagramCode(method, path, params))
      if (base === 'fb' && path === '/oauth/access_token' && method === 'GET') return reply(exchangeFacebookCode(params))
      if (base === 'ig') {
        const tokenAnswer = instagramTokens(method, path, params, token)
        if (tokenAnswer) return reply(tokenAnswer)
      }
      const info = authenticate(token, base)
      return reply(base === 'fb' ? facebook(method, path, params, info) : instagram(method, path, params, info))
    } catch (error) {
      if (error instanceof GraphError) return replyError(error)
      if (error instanceof InstagramApiError) return replyInstagramApiError(error.message)
      throw error
    }
  }

  const server: Server = createServer((req, res) => void handle(req, res).catch((error: unknown) => sendJson(res, 500, { error: { message: String(error), type: 'OAuthException', code: 1, fbtrace_id: fbtraceId() } })))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const isSend = (c: MetaCall, recipientId: string) => c.method === 'POST' && /\/messages$/.test(c.path) && c.base !== 'ig-api' && String((c.body.recipient as { id?: unknown } | undefined)?.id ?? '') === recipientId

  return {
    origin,
    /** https://graph.facebook.com */
    url: `${origin}/fb`,
    /** https://graph.instagram.com */
    instagramUrl: `${origin}/ig`,
    /** https://api.instagram.com */
    instagramApiUrl: `${origin}/ig-api`,
    /** Every request, in order, with what the fake answered. */
    calls,
    /** A Facebook Page and its page access token. */
    addPage,
    /** An Instagram professional account and an Instagram-Login user token for it. */
    addInstagram,
    /** A code the Facebook Login redirect carried: `oauth/access_token` exchanges it once for `userToken`. */
    addFacebookOAuthCode(code: string, grant: FacebookOAuthGrant) {
      for (const page of grant.pages) {
        addPage({ pageId: page.pageId, name: page.name, token: page.token, category: page.category })
        if (page.tasks) pageTasks.set(page.pageId, page.tasks)
      }
      fbCodes.set(code, { ...grant })
    },
    /** A code the Instagram Login redirect carried: api.instagram.com exchanges it once for `shortToken`. */
    addInstagramOAuthCode(code: string, grant: InstagramOAuthGrant) {
      igCodes.set(code, { ...grant })
    },
    /** The token stops working: later calls answer 190 (subcode 460, "session has been invalidated", unless told). */
    revoke(token: string, revocation: Partial<Revocation> = {}) {
      const info = tokens.get(token)
      const revoked = { subcode: revocation.subcode ?? 460, message: revocation.message ?? 'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.' }
      if (info) info.revoked = revoked
    },
    /** The token's expiry passes now: later calls answer 190 / 463 "Session has expired". */
    expire(token: string) {
      const info = tokens.get(token)
      if (info) info.expiresAt = now() - 1000
    },
    /** The next call matching (a method, a path or path suffix such as `/messages`, `METHOD /path`, or a RegExp) fails with this Graph error. */
    failNext(matcher: string | RegExp, failure: MetaFailure) {
      failures.push({ matcher, failure })
    },
    /** Sends to the recipient without `tag: 'HUMAN_AGENT'` answer 10 / 2018278, as Meta does 24 h after their last message. */
    setOutsideWindow(recipientId: string, outside = true) {
      if (outside) outsideWindow.add(recipientId)
      else outsideWindow.delete(recipientId)
    },
    /** Sends to the recipient answer 551 "This person isn't available right now." (blocked the Page, left Messenger...). */
    setUnavailable(recipientId: string, value = true) {
      if (value) unavailable.add(recipientId)
      else unavailable.delete(recipientId)
    },
    /** Serves bytes at fileUrl(path) without auth, like Meta's lookaside CDN URLs in webhook attachments. */
    addFile(path: string, bytes: Buffer, contentType = 'application/octet-stream') {
      files.set(path, { bytes, contentType })
    },
    /** The CDN URL stops answering (404), as Meta's signed URLs do once they expire. */
    removeFile(path: string) {
      files.delete(path)
    },
    fileUrl(path: string) {
      return `${origin}/cdn/${path.split('/').map(encodeURIComponent).join('/')}`
    },
    /** The webhook fields currently subscribed for a Page id or an Instagram account id. */
    subscribedFields(id: string) {
      return subscriptions.get(id) ?? []
    },
    callsOf(matcher: string | RegExp) {
      return calls.filter((c) => matches(matcher, c))
    },
    /** Send API calls carrying a `message` to the recipient, every attempt (see `status`). */
    sendsTo(recipientId: string) {
      return calls.filter((c) => isSend(c, recipientId) && c.body.message !== undefined)
    },
    /** The sends to the recipient Meta accepted. */
    deliveredTo(recipientId: string) {
      return calls.filter((c) => isSend(c, recipientId) && c.body.message !== undefined && c.status === 200)
    },
    /** Sender actions (typing_on, typing_off, mark_seen...) sent to the recipient. */
    actionsTo(recipientId: string) {
      return calls.filter((c) => isSend(c, recipientId) && c.body.sender_action !== undefined)
    },
    async close() {
      const done = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await done
    },
  }
}

export type FakeMeta = Awaited<ReturnType<typeof startFakeMeta>>
