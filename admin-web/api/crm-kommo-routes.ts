import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { Logger } from '../../core/ports.ts'
import { safeEqual } from '../../core/security/passwords.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import { hasRole, requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'
import { cookieOf } from '../../adapters/http/cookies.ts'
import type { KommoConfig } from '../../adapters/kommo/config.ts'
import type { KommoConnections } from '../../adapters/kommo/connection.ts'

/** Where the admin web shows the CRM; "Connect with Kommo" comes back there. */
const CRM_PAGE = '/admin/#/crm'
const STATE_COOKIE = 'switchboard-kommo-oauth-state'
const STATE_TTL_MS = 10 * 60_000
const intentSchema = z.object({ purpose: z.literal('kommo-oauth'), organizationId: z.string().min(1), userId: z.string().min(1), at: z.number() })


/**
 * The organization's Kommo account: connect it with a long-lived token, read its state (the
 * account, pipelines with their statuses, users, the contact fields found), read it again, and
 * disconnect it. Tokens are sealed and never come back.
 */
export function registerKommoRoutes(deps: { api: ReturnType<typeof createApi>; kommo: KommoConnections; config: KommoConfig; secrets: SecretBox; logger: Logger; now?: () => number }) {
  const { api, kommo } = deps
  const now = deps.now ?? Date.now
  const callbackPath = deps.config.KOMMO_REDIRECT_URI ? new URL(deps.config.KOMMO_REDIRECT_URI).pathname : '/crm/kommo/oauth/callback'
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, path: callbackPath, secure: Boolean(deps.config.KOMMO_REDIRECT_URI?.startsWith('https:')) }

  api.route({
    method: 'get',
    path: '/api/v1/crm/kommo/oauth/start',
    tag: 'crm',
    summary: '"Connect with Kommo" (admin, from the admin web): redirects to Kommo\'s consent page with a state sealed with the installation\'s key and bound to this browser by a cookie; Kommo comes back to KOMMO_REDIRECT_URI',
    auth: 'session',
    responses: { 302: "To Kommo's consent page", 404: 'Not configured (KOMMO_CLIENT_ID, KOMMO_CLIENT_SECRET, KOMMO_REDIRECT_URI)' },
    handler: async ({ principal, res }) => {
      requireRole(principal, 'admin')
      if (!kommo.oauthAvailable() || !deps.config.KOMMO_CLIENT_ID) throw new AppError('not_found', '"Connect with Kommo" needs KOMMO_CLIENT_ID, KOMMO_CLIENT_SECRET and KOMMO_REDIRECT_URI', 404)
      const state = deps.secrets.seal(JSON.stringify({ purpose: 'kommo-oauth', organizationId: principal.organizationId, userId: principal.userId, at: now() }))
      res.cookie(STATE_COOKIE, state, { ...cookieOptions, maxAge: STATE_TTL_MS })
      const url = new URL(deps.config.KOMMO_AUTH_URL)
      url.searchParams.set('client_id', deps.config.KOMMO_CLIENT_ID)
      url.searchParams.set('state', state)
      url.searchParams.set('mode', 'post_message')
      res.redirect(302, url.toString())
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: callbackPath,
    tag: 'crm',
    summary: "Kommo's redirect back after \"Connect with Kommo\" (public): the state checked against the browser's cookie, the code exchanged at the account (`referer`), the account read; then back to the admin web",
    auth: 'none',
    responses: { 302: 'To the admin web: ?connected=kommo or ?kommoError=' },
    handler: async ({ req, res }) => {
      res.clearCookie(STATE_COOKIE, cookieOptions)
      const back = (query: string) => res.redirect(302, `${CRM_PAGE}?${query}`)
      let organizationId: string | undefined
      try {
        if (!kommo.oauthAvailable()) throw new AppError('not_found', '"Connect with Kommo" is not configured here', 404)
        const state = typeof req.query.state === 'string' ? req.query.state : ''
        const cookie = cookieOf(req.headers.cookie, STATE_COOKIE)
        if (!state || !cookie || !safeEqual(state, cookie)) throw new AppError('unauthorized', 'The Kommo sign-in did not match this browser session; start again from the admin web', 401)
        let intent: z.infer<typeof intentSchema>
        try {
          intent = intentSchema.parse(JSON.parse(deps.secrets.open(state)))
        } catch {
          throw new AppError('unauthorized', 'The Kommo sign-in came back with a state this server did not make', 401)
        }
        if (now() - intent.at > STATE_TTL_MS) throw new AppError('unauthorized', 'The Kommo sign-in took longer than 10 minutes; start again', 401)
        organizationId = intent.organizationId
        if (req.query.error === 'access_denied') throw new AppError('validation_failed', 'The Kommo sign-in was cancelled; nothing was connected', 422)
        const code = typeof req.query.code === 'string' ? req.query.code : ''
        // The account's address comes back as `referer` (acme.kommo.com).
        const referer = typeof req.query.referer === 'string' ? req.query.referer.toLowerCase() : ''
        const subdomain = /^([a-z0-9-]+)\.(kommo\.com|amocrm\.(ru|com))$/.exec(referer)?.[1] ?? ''
        if (!code || !subdomain) throw new AppError('validation_failed', 'Kommo came back without a code or an account address; start again', 422)
        await kommo.connectWithCode({ organizationId: intent.organizationId, subdomain, code, actorUserId: intent.userId })
        back('connected=kommo')
      } catch (error) {
        const message = (error instanceof AppError ? error.message : 'Kommo did not complete the connection').slice(0, 300)
        deps.logger.warn({ organizationId, err: message }, 'Connect with Kommo failed')
        back(`kommoError=${encodeURIComponent(message)}`)
      }
      return undefined
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/crm/kommo',
    tag: 'crm',
    summary: "Connect the organization's Kommo account with a long-lived token of a private integration (admin): the token is checked by reading the account, its pipelines, users and contact fields, then stored encrypted",
    auth: 'session',
    body: z.object({ subdomain: z.string().trim().min(1).max(100), longLivedToken: z.string().trim().min(1).max(5000) }).strict(),
    responses: { 201: 'Connected: the state, as GET answers', 422: 'Not a subdomain or a token, or Kommo refused the token', 502: 'Kommo could not be reached' },
    handler: async ({ principal, body, res }) => {
      requireRole(principal, 'admin')
      const state = await kommo.connectLongLived({ organizationId: principal.organizationId, subdomain: body.subdomain, token: body.longLivedToken, actorUserId: principal.userId })
      res.status(201)
      return state
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/crm/kommo',
    tag: 'crm',
    summary: "The Kommo connection: its state (active, broken, blocked, with the reason), the account, pipelines with their statuses, users and the contact fields found; { connected: false } when none",
    auth: 'session',
    handler: async ({ principal }) => kommo.get(principal.organizationId, { admin: hasRole(principal, 'admin') }),
  })

  api.route({
    method: 'post',
    path: '/api/v1/crm/kommo/sync',
    tag: 'crm',
    summary: 'Read the pipelines, users and contact fields from Kommo again (admin)',
    auth: 'session',
    responses: { 200: 'The state after reading', 404: 'Kommo is not connected' },
    handler: async ({ principal }) => {
      requireRole(principal, 'admin')
      return kommo.sync(principal.organizationId)
    },
  })

  api.route({
    method: 'put',
    path: '/api/v1/crm/kommo/settings',
    tag: 'crm',
    summary: "The organization's Kommo choices (admin): the pipeline and status new leads start in, the users responsible for them in turn, and whether every new contact gets a lead or only when the agent decides",
    auth: 'session',
    body: z
      .object({
        pipelineId: z.number().int().positive().nullable().optional(),
        statusId: z.number().int().positive().nullable().optional(),
        responsibleUserIds: z.array(z.number().int().positive()).max(50).optional(),
        leadMode: z.enum(['agent', 'every_contact']).optional(),
      })
      .strict(),
    responses: { 200: 'The state with the saved settings', 404: 'Kommo is not connected', 422: 'A pipeline, status or user the account does not have' },
    handler: async ({ principal, body }) => {
      requireRole(principal, 'admin')
      const settings = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined))
      return kommo.saveSettings({ organizationId: principal.organizationId, settings, actorUserId: principal.userId })
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/crm/kommo',
    tag: 'crm',
    summary: 'Disconnect Kommo (admin): the stored tokens are deleted; the built-in CRM records stay',
    auth: 'session',
    responses: { 200: '{ disconnected }' },
    handler: async ({ principal }) => {
      requireRole(principal, 'admin')
      return kommo.disconnect({ organizationId: principal.organizationId, actorUserId: principal.userId })
    },
  })
}
