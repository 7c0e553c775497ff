import express, { type Request, type Response, type Router } from 'express'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { Inbox, Logger, Store } from '../../core/ports.ts'
import { safeEqual } from '../../core/security/passwords.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { ChannelDeps, InboxSummary } from '../channel-module.ts'
import { metaAppError, redact, type GraphClient } from './graph.ts'
import { settingsOf } from './settings.ts'
import { cookieOf } from '../http/cookies.ts'

/*
 * "Connect with Facebook" (Messenger) and "Connect with Instagram" (Instagram Login): this
 * installation's own Meta app, signed into by a business's manager, instead of pasting a token.
 *
 *   GET /api/v1/channels/{kind}/oauth/start?agentId=   (admin session) → 302 to Meta's consent page,
 *       with a state sealed with the installation's key, also set as a cookie on /meta/oauth;
 *   GET /meta/oauth/callback/{kind}?code=&state=       (Meta's redirect) → the state checked against
 *       the cookie, the code exchanged, every account granted connected as the admin API connects it
 *       → 302 to /admin/#/channels?connected={kind}&count={n}, or ?metaError={message}.
 *
 * Facebook Login (https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow):
 * {www.facebook.com}/{version}/dialog/oauth → GET graph.facebook.com/{version}/oauth/access_token
 * (code) → the same with grant_type=fb_exchange_token (a long-lived user token, whose Page tokens do
 * not expire) → GET /me/accounts (each Page's token and the manager's tasks on it).
 *
 * Business Login for Instagram
 * (https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/business-login):
 * www.instagram.com/oauth/authorize → POST api.instagram.com/oauth/access_token (a short-lived token,
 * answered `{ data: [{ access_token, user_id, permissions }] }` or flat) → GET
 * graph.instagram.com/access_token?grant_type=ig_exchange_token (long-lived, `expires_in`).
 *
 * The accounts are then on the app's one webhook address per kind, POST /webhooks/{kind}.
 */

export type MetaOAuthKind = 'messenger' | 'instagram'

export const META_OAUTH_COOKIE = 'switchboard-meta-oauth-state'
/** The state cookie is sent to the callbacks only. */
export const META_OAUTH_PATH = '/meta/oauth'
const STATE_TTL_MS = 10 * 60_000
const TIMEOUT_MS = 20_000
/** Where the admin web shows the channels; the callback sends the manager back there. */
export const CHANNELS_PAGE = '/admin/#/channels'

export const MESSENGER_SCOPES = ['pages_show_list', 'pages_messaging', 'pages_manage_metadata'] as const
export const INSTAGRAM_SCOPES = ['instagram_business_basic', 'instagram_business_manage_messages'] as const

const base = (publicUrl: string) => publicUrl.replace(/\/+$/, '')
/** The redirect URI to list in the app's Valid OAuth Redirect URIs (Facebook Login, and Instagram Login's). */
export const oauthRedirectUrlOf = (publicUrl: string, kind: MetaOAuthKind) => `${base(publicUrl)}${META_OAUTH_PATH}/callback/${kind}`
/** The app's one webhook address for a kind (App Dashboard → Webhooks, with META_VERIFY_TOKEN). */
export const appWebhookUrlOf = (publicUrl: string, kind: MetaOAuthKind) => `${base(publicUrl)}/webhooks/${kind}`

/** One account a sign-in granted, to connect. */
export type GrantedAccount = { accountId: string; accessToken: string; name?: string; tokenExpiresAt?: string }

/** One of Meta's two sign-ins. */
export type MetaOAuthProvider = {
  /** Meta's consent page for this redirect URI and state. */
  authorizeUrl(input: { redirectUri: string; state: string }): string
  /** The code exchanged for the accounts to connect; an AppError whose message is for the manager. */
  grant(input: { code: string; redirectUri: string }): Promise<GrantedAccount[]>
}

/** Who started the sign-in: sealed in the state, read back at the callback. */
const intentSchema = z.object({ purpose: z.literal('meta-oauth'), kind: z.enum(['messenger', 'instagram']), organizationId: z.string().min(1), agentId: z.string().min(1), userId: z.string().min(1), at: z.number() })
type Intent = z.infer<typeof intentSchema>

/**
 * Registers the start route on the admin API and returns the router of the public callback (the
 * module's `Channel.routes`). Without `provider` (not configured) both answer 404.
 */
export function mountMetaOAuth(deps: {
  kind: MetaOAuthKind
  /** What the manager signs into: "Facebook", "Instagram". */
  label: string
  provider?: MetaOAuthProvider
  /** The variables it needs, for the 404 that says what is missing. */
  needs: string
  publicUrl?: string
  /** The body of POST /api/v1/agents/{id}/channels/{kind} for a granted account: connected exactly as the admin API connects. */
  connectBody(account: GrantedAccount): Record<string, unknown>
  /** After an account is connected (Instagram: when its token expires). */
  connected?(inbox: Inbox, account: GrantedAccount): Promise<void>
  api: ChannelDeps<unknown>['api']
  channels: ChannelDeps<unknown>['channels']
  store: Store
  secrets: SecretBox
  logger: Logger
  now?: () => number
}): Router {
  const { kind, label, store } = deps
  const now = deps.now ?? Date.now
  const redirectUri = () => oauthRedirectUrlOf(deps.publicUrl!, kind)
  const secure = Boolean(deps.publicUrl?.startsWith('https:'))
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, path: META_OAUTH_PATH, secure }
  const notConfigured = () => new AppError('not_found', `"Connect with ${label}" needs ${deps.needs}`, 404)

  deps.api.route({
    method: 'get',
    path: `/api/v1/channels/${kind}/oauth/start`,
    tag: 'channels',
    summary: `"Connect with ${label}" (admin, from the admin web): redirects to Meta's consent page for this installation's app; Meta comes back to /meta/oauth/callback/${kind}, which connects every ${kind === 'messenger' ? 'Page' : 'account'} granted to the agent`,
    auth: 'session',
    query: z.object({ agentId: z.string().min(1).max(64) }),
    responses: { 302: "To Meta's consent page, with the state cookie set", 404: `No such agent, or "Connect with ${label}" is not configured (${deps.needs})` },
    handler: async ({ principal, query, res }) => {
      requireRole(principal, 'admin')
      if (!deps.provider || !deps.publicUrl) throw notConfigured()
      if (!(await store.agents.get(principal.organizationId, query.agentId))) throw new AppError('not_found', 'Agent not found', 404)
      const intent: Intent = { purpose: 'meta-oauth', kind, organizationId: principal.organizationId, agentId: query.agentId, userId: principal.userId, at: now() }
      const state = deps.secrets.seal(JSON.stringify(intent))
      res.cookie(META_OAUTH_COOKIE, state, { ...cookieOptions, maxAge: STATE_TTL_MS })
      res.redirect(302, deps.provider.authorizeUrl({ redirectUri: redirectUri(), state }))
      return undefined
    },
  })

  /** The state Meta carried back, checked against the browser's cookie, opened, and not older than 10 minutes. */
  function intentOf(state: unknown, cookie: string | undefined): Intent {
    if (typeof state !== 'string' || !state || state.length > 4000) throw new AppError('unauthorized', `The ${label} sign-in came back without its state; start again from the admin web`, 401)
    if (!cookie || !safeEqual(cookie, state)) throw new AppError('unauthorized', `The ${label} sign-in did not match this browser session; start again from the admin web`, 401)
    let parsed: unknown
    try {
      parsed = JSON.parse(deps.secrets.open(state))
    } catch {
      parsed = null
    }
    const intent = intentSchema.safeParse(parsed)
    if (!intent.success || intent.data.kind !== kind) throw new AppError('unauthorized', `The ${label} sign-in came back with a state this server did not make; start again from the admin web`, 401)
    const age = now() - intent.data.at
    if (age > STATE_TTL_MS || age < -60_000) throw new AppError('unauthorized', `The ${label} sign-in took longer than 10 minutes; start again`, 401)
    return intent.data
  }

  async function callback(req: Request, res: Response): Promise<void> {
    if (!deps.provider || !deps.publicUrl) {
      res.status(404).json({ error: { code: 'not_found', message: notConfigured().message } })
      return
    }
    // The state is used up, whatever happens next.
    res.clearCookie(META_OAUTH_COOKIE, cookieOptions)
    const back = (query: string) => {
      res.redirect(302, `${CHANNELS_PAGE}?${query}`)
    }
    let intent: Intent | undefined
    try {
      intent = intentOf(req.query.state, cookieOf(req.headers.cookie, META_OAUTH_COOKIE))
      const error = typeof req.query.error === 'string' ? req.query.error : undefined
      if (error === 'access_denied') throw new AppError('validation_failed', `The ${label} sign-in was cancelled: Switchboard was not allowed in, nothing was connected`, 422)
      if (error !== undefined) throw new AppError('validation_failed', `${label} refused the sign-in (${error.replace(/[^\w.-]/g, '').slice(0, 60)}); nothing was connected`, 422)
      const code = typeof req.query.code === 'string' ? req.query.code.replace(/#_$/, '') : ''
      if (!code || code.length > 4000) throw new AppError('validation_failed', `The ${label} sign-in came back without a code; start again`, 422)

      const accounts = await deps.provider.grant({ code, redirectUri: redirectUri() })
      const connected: Inbox[] = []
      let firstFailure: string | undefined
      for (const account of accounts) {
        try {
          const inbox = await deps.channels.connect({ organizationId: intent.organizationId, agentId: intent.agentId, kind, body: deps.connectBody(account), actorUserId: intent.userId })
          await deps.connected?.(inbox, account)
          connected.push(inbox)
        } catch (error) {
          const message = describe(error)
          firstFailure ??= message
          deps.logger.warn({ organizationId: intent.organizationId, accountId: account.accountId, err: message }, `Connect with ${label}: an account was not connected`)
        }
      }
      if (!connected.length) throw new AppError('validation_failed', firstFailure ?? `Nothing was connected from ${label}`, 422)
      deps.logger.info({ organizationId: intent.organizationId, agentId: intent.agentId, inboxIds: connected.map((i) => i.id) }, `Connect with ${label}: ${connected.length} connected`)
      back(`connected=${kind}&count=${connected.length}`)
    } catch (error) {
      const message = describe(error)
      deps.logger.warn({ organizationId: intent?.organizationId, err: message }, `Connect with ${label} failed`)
      back(`metaError=${encodeURIComponent(message)}`)
    }
  }

  const router = express.Router()
  router.get(`${META_OAUTH_PATH}/callback/${kind}`, (req, res, next) => {
    callback(req, res).catch(next)
  })
  return router
}

/** An error as the manager reads it, never with a token. */
const describe = (error: unknown): string => redact(error instanceof AppError ? error.message : metaAppError('The sign-in', error).message).slice(0, 500)

/** A Meta call outside the Graph client (Instagram's code and token exchanges): JSON back, Meta's error message on failure, never the token. */
async function callJson(operation: string, url: URL, init: RequestInit): Promise<{ json: Record<string, unknown>; text: string }> {
  let answer: globalThis.Response
  try {
    answer = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) })
  } catch (cause) {
    const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')
    throw new AppError('provider_error', `${operation} failed: ${timedOut ? `no answer within ${TIMEOUT_MS / 1000} s` : 'Meta could not be reached'}`, 502)
  }
  const text = await answer.text().catch(() => '')
  let json: Record<string, unknown> = {}
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed && typeof parsed === 'object') json = parsed as Record<string, unknown>
  } catch {
    // Not JSON: reported by status below.
  }
  // Graph's { error: { message } } or Instagram's own { error_type, code, error_message }.
  const graphError = json.error && typeof json.error === 'object' ? (json.error as { message?: unknown }).message : undefined
  const message = typeof graphError === 'string' ? graphError : typeof json.error_message === 'string' ? json.error_message : undefined
  if (!answer.ok || message !== undefined) throw new AppError('provider_error', `${operation} failed: ${redact(message ?? `HTTP ${answer.status}`)}`, 502)
  return { json, text }
}

const withQuery = (url: string, query: Record<string, string>) => {
  const u = new URL(url)
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v)
  return u
}

type Page = { id?: string | number; name?: string; access_token?: string; tasks?: string[] }

/** Facebook Login: every Page the manager granted on which they have the MESSAGING task, with its Page token. */
export function facebookLogin(input: { graph: GraphClient; dialogUrl: string; version: string; appId: string; appSecret: string }): MetaOAuthProvider {
  const { graph, appId, appSecret } = input
  const call = async <T>(operation: string, req: Parameters<GraphClient['call']>[0]): Promise<T> => {
    try {
      return await graph.call<T>(req)
    } catch (error) {
      throw metaAppError(operation, error)
    }
  }
  return {
    authorizeUrl: ({ redirectUri, state }) =>
      withQuery(`${input.dialogUrl.replace(/\/+$/, '')}/${input.version}/dialog/oauth`, { client_id: appId, redirect_uri: redirectUri, state, scope: MESSENGER_SCOPES.join(','), response_type: 'code' }).toString(),

    async grant({ code, redirectUri }) {
      const first = await call<{ access_token?: string }>('Exchanging the Facebook sign-in code', { method: 'GET', path: '/oauth/access_token', query: { client_id: appId, client_secret: appSecret, redirect_uri: redirectUri, code } })
      if (!first.access_token) throw new AppError('provider_error', 'Facebook did not hand out an access token for this sign-in', 502)
      // A long-lived user token: the Page tokens listed with it do not expire.
      const long = await call<{ access_token?: string }>('Getting a long-lived Facebook token', { method: 'GET', path: '/oauth/access_token', query: { grant_type: 'fb_exchange_token', client_id: appId, client_secret: appSecret, fb_exchange_token: first.access_token } })
      const userToken = long.access_token ?? first.access_token
      const pages: Page[] = []
      let after: string | undefined
      for (let i = 0; i < 20; i++) {
        const list = await call<{ data?: Page[]; paging?: { next?: string; cursors?: { after?: string } } }>('Listing your Facebook Pages', { method: 'GET', path: '/me/accounts', token: userToken, query: { fields: 'id,name,access_token,tasks', limit: '100', ...(after ? { after } : {}) } })
        pages.push(...(list.data ?? []))
        after = list.paging?.cursors?.after
        if (!list.paging?.next || !after) break
      }
      if (!pages.length) throw new AppError('validation_failed', 'No Facebook Page was shared with Switchboard: connect again and choose the Pages whose messages the agent should answer', 422)
      const messaging = pages.filter((p) => p.id !== undefined && typeof p.access_token === 'string' && p.access_token && Array.isArray(p.tasks) && p.tasks.includes('MESSAGING'))
      if (!messaging.length) throw new AppError('validation_failed', "You cannot manage the messages of the Pages you chose (no MESSAGING task on them): ask an admin of the Page to connect it, or choose another Page", 422)
      return messaging.map((p) => ({ accountId: String(p.id), accessToken: p.access_token!, ...(p.name ? { name: p.name } : {}) }))
    },
  }
}

/** Instagram Login: the professional account that signed in, with a long-lived token and when it expires. */
export function instagramLogin(input: { graph: GraphClient; graphUrl: string; apiUrl: string; authorizeUrl: string; appId: string; appSecret: string; now?: () => number }): MetaOAuthProvider {
  const { appId, appSecret } = input
  const now = input.now ?? Date.now
  return {
    authorizeUrl: ({ redirectUri, state }) => withQuery(input.authorizeUrl, { client_id: appId, redirect_uri: redirectUri, response_type: 'code', scope: INSTAGRAM_SCOPES.join(','), state }).toString(),

    async grant({ code, redirectUri }) {
      const form = new URLSearchParams({ client_id: appId, client_secret: appSecret, grant_type: 'authorization_code', redirect_uri: redirectUri, code })
      const short = await callJson('Exchanging the Instagram sign-in code', new URL(`${input.apiUrl.replace(/\/+$/, '')}/oauth/access_token`), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() })
      // Documented as { data: [{ access_token, user_id, permissions }] }; often answered flat.
      const data = Array.isArray(short.json.data) ? (short.json.data[0] as Record<string, unknown> | undefined) : short.json
      const shortToken = typeof data?.access_token === 'string' ? data.access_token : undefined
      if (!shortToken) throw new AppError('provider_error', 'Instagram did not hand out an access token for this sign-in', 502)
      // user_id may come as a JSON number too long for a double: read from the text as written.
      const userId = /"user_id"\s*:\s*"?(\d{1,40})/.exec(short.text)?.[1]

      const longUrl = withQuery(`${input.graphUrl.replace(/\/+$/, '')}/access_token`, { grant_type: 'ig_exchange_token', client_secret: appSecret, access_token: shortToken })
      const long = await callJson('Getting a long-lived Instagram token', longUrl, { method: 'GET', headers: { accept: 'application/json' } })
      const accessToken = typeof long.json.access_token === 'string' ? long.json.access_token : undefined
      if (!accessToken) throw new AppError('provider_error', 'Instagram did not hand out a long-lived access token', 502)
      const expiresIn = typeof long.json.expires_in === 'number' && long.json.expires_in > 0 ? long.json.expires_in : 60 * 24 * 3600

      // The professional account's id (user_id on /me) is the one webhooks name as entry.id.
      let me: { user_id?: string | number; username?: string }
      try {
        me = await input.graph.call<typeof me>({ method: 'GET', path: '/me', token: accessToken, query: { fields: 'user_id,username' } })
      } catch (error) {
        throw metaAppError('Reading the Instagram account', error)
      }
      const accountId = typeof me.user_id === 'string' ? me.user_id : (userId ?? (me.user_id !== undefined ? String(me.user_id) : undefined))
      if (!accountId) throw new AppError('provider_error', 'Instagram did not say which account signed in', 502)
      return [{ accountId, accessToken, ...(me.username ? { name: `@${me.username}` } : {}), tokenExpiresAt: new Date(now() + expiresIn * 1000).toISOString() }]
    },
  }
}

/**
 * The inbox summary of an account on the app's webhook (connected with "Connect with ..."; known
 * by the app's verify token): its address is the app's one, POST /webhooks/{kind}, and there is
 * nothing to paste into Meta's dashboard. `details.install` says which: 'oauth' or 'token'.
 */
export function withAppWebhook(summary: (inbox: Inbox) => InboxSummary, input: { kind: MetaOAuthKind; publicUrl?: string; verifyToken?: string }) {
  return (inbox: Inbox): InboxSummary => {
    const s = summary(inbox)
    const viaApp = Boolean(input.verifyToken) && settingsOf(inbox)?.verifyToken === input.verifyToken
    if (!viaApp) return { ...s, details: { ...s.details, install: 'token' } }
    return { ...s, webhookUrl: input.publicUrl ? appWebhookUrlOf(input.publicUrl, input.kind) : null, details: { ...s.details, verifyToken: null, install: 'oauth' } }
  }
}
