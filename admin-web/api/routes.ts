import { z } from 'zod'
import { AppError, notFound } from '../../core/errors.ts'
import { AGENT_LANGUAGES } from '../../core/language/index.ts'
import type { AgentService } from '../../core/agents/agent-service.ts'
import type { KnowledgeService } from '../../core/knowledge/knowledge-service.ts'
import type { ConversationOps } from '../../core/conversation/operator-service.ts'
import type { Message, Notifier, Store } from '../../core/ports.ts'
import type { TurnService } from '../../core/conversation/turn-service.ts'
import type { QuotaService } from '../../core/billing/quota.ts'
import { maskKey, providerKeyInput, type ProviderKeyService } from '../../core/llm/provider-keys.ts'
import { receiveAndRespond } from '../../adapters/webchat/respond.ts'
import { isChatPageUrl } from '../../adapters/webchat/page.ts'
import { newId } from '../../core/ids.ts'
import type { AuthService } from '../../core/tenancy/auth-service.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'
import { setRateLimitHeaders } from '../../adapters/http/rate-limit.ts'
import { cookieOf } from '../../adapters/http/cookies.ts'
import type { Response } from 'express'
import { csrfTokenOf, isMfaChallenge, type Principal } from '../../core/tenancy/auth-service.ts'

export const SESSION_COOKIE = 'sb_session'

/**
 * Every fallback names its own key: a provider key id, or null for the installation's OPENAI_*
 * settings. A fallback without one is refused, never given the primary's key: clients that drop
 * the field would otherwise silently move the fallback to another provider account.
 */
const fallbackKeyId = z
  .string({ error: (issue) => (issue.input === undefined ? "required: the id of the provider key this fallback uses, or null for the installation's key" : undefined) })
  .uuid()
  .nullable()
const agentFields = {
  instructions: z.string().max(20_000),
  model: z.string().trim().min(1).max(200).nullable(),
  temperature: z.number().min(0).max(2),
  maxTokens: z.number().int().min(16).max(32_000),
  providerKeyId: z.string().uuid().nullable(),
  fallbacks: z.array(z.object({ providerKeyId: fallbackKeyId, model: z.string().trim().min(1).max(200) }).strict()).max(5),
  responseDelayMs: z.number().int().min(0).max(30_000),
  /** Switchboard's own messages to customers: 'auto' (the customer's language) or a fixed one. */
  language: z.enum(AGENT_LANGUAGES),
}
const createAgentSchema = z
  .object({ name: z.string().trim().min(1).max(120), ...agentFields })
  .partial({ instructions: true, model: true, temperature: true, maxTokens: true, providerKeyId: true, fallbacks: true, responseDelayMs: true, language: true })
  .strict()
const updateAgentSchema = z.object({ name: z.string().trim().min(1).max(120), ...agentFields }).partial().strict()
const sourceSchema = z
  .object({
    title: z.string().trim().min(1).max(300),
    content: z.string().min(1, 'must not be empty'),
    kind: z.enum(['markdown', 'text']).default('markdown'),
    agentId: z.string().uuid().nullable().optional(),
    collectionId: z.string().uuid().nullable().optional(),
    uri: z.string().max(2000).optional(),
  })
  .strict()

const messageView = (m: Message) => ({ id: m.id, seq: m.seq, direction: m.direction, author: m.author, text: m.text, sources: m.sources, status: m.status, meta: m.meta, createdAt: m.createdAt })

/** The admin API: thin over core, every route authorised by role and scoped to the caller's organization. */
export function registerAdminRoutes(deps: {
  api: ReturnType<typeof createApi>
  store: Store
  auth: AuthService
  agents: AgentService
  knowledge: KnowledgeService
  conversations: ConversationOps
  providerKeys: ProviderKeyService
  quota: QuotaService
  turns: TurnService
  notifier: Notifier
  replyTimeoutMs: number
  secureCookies: boolean
  version: string
}) {
  const { api, store, auth, agents, knowledge, providerKeys } = deps

  /** Provider keys named by an agent must be the organization's own. */
  const checkKeys = async (organizationId: string, body: { providerKeyId?: string | null; fallbacks?: { providerKeyId: string | null }[] }) => {
    const ids = [body.providerKeyId, ...(body.fallbacks ?? []).map((f) => f.providerKeyId)].filter((id): id is string => Boolean(id))
    for (const id of ids) if (!(await store.providerKeys.getSealed(organizationId, id))) throw new AppError('validation_failed', `Provider key ${id} does not exist in this organization`, 422)
  }

  const setSessionCookie = (res: Response, session: { token: string; expiresAt: Date }) =>
    res.cookie(SESSION_COOKIE, session.token, { ...sessionCookieOptions(deps.secureCookies), expires: session.expiresAt })
  const sessionView = (session: { token: string; csrfToken: string; expiresAt: Date; principal: Principal }) => ({
    token: session.token,
    csrfToken: session.csrfToken,
    expiresAt: session.expiresAt,
    organizationId: session.principal.organizationId,
    role: session.principal.role,
    ...(session.principal.mfaEnrollmentRequired ? { mfaEnrollmentRequired: true } : {}),
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/login',
    tag: 'auth',
    summary: 'Sign in: returns a bearer token and sets an HTTP-only session cookie; with MFA on, returns { mfaRequired, mfaToken } instead (then POST /api/v1/auth/login/mfa); 5 failed sign-ins a minute per account or IP get 429',
    auth: 'none',
    body: z.object({ email: z.string().trim().email(), password: z.string().min(1).max(1000) }),
    responses: { 200: 'Signed in, or the password was right and a code is needed (mfaRequired)', 401: 'Email or password is wrong', 429: 'Too many failed sign-ins (Retry-After, RateLimit headers)' },
    handler: async ({ body, req, res }) => {
      const session = await auth.login({ ...body, ip: req.ip, onLimits: (statuses) => setRateLimitHeaders(res, statuses) })
      if (isMfaChallenge(session)) return session
      setSessionCookie(res, session)
      return sessionView(session)
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/signup',
    tag: 'auth',
    summary: 'Create an organization and its owner, and sign in; a few sign-ups an hour per IP (SIGNUP_RATE_PER_IP), then 429',
    auth: 'none',
    body: z.object({
      organizationName: z.string().trim().min(1).max(120),
      name: z.string().trim().min(1).max(120),
      email: z.string().trim().email(),
      password: z.string().min(10, 'at least 10 characters').max(1000),
    }),
    responses: { 201: 'Created and signed in', 409: 'Email already registered', 429: 'Too many sign-ups from this address (Retry-After, RateLimit headers)' },
    handler: async ({ body, req, res }) => {
      await auth.createOrganizationWithOwner({ organizationName: body.organizationName, email: body.email, name: body.name, password: body.password, ip: req.ip, onLimits: (statuses) => setRateLimitHeaders(res, statuses) })
      const session = await auth.login({ email: body.email, password: body.password, ip: req.ip })
      if (isMfaChallenge(session)) throw new AppError('mfa_required', 'Sign in with your code', 409)
      setSessionCookie(res, session)
      res.status(201)
      return sessionView(session)
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/logout',
    tag: 'auth',
    summary: 'Sign out: ends the session',
    auth: 'session',
    responses: { 204: 'Signed out' },
    handler: async ({ req, res }) => {
      const session = tokenOf(req.headers)
      if (session) await auth.logout(session.token)
      res.clearCookie(SESSION_COOKIE, sessionCookieOptions(deps.secureCookies))
      // A cookie set before the session cookie moved to /api would otherwise sign the browser in again.
      res.clearCookie(SESSION_COOKIE, { ...sessionCookieOptions(deps.secureCookies), path: '/' })
      return undefined
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/password-reset',
    tag: 'auth',
    summary: 'Send a one-time link to set a new password (by mail, or to the log when SMTP_URL is not set); always 202',
    auth: 'none',
    body: z.object({ email: z.string().trim().email() }).strict(),
    responses: { 202: 'If the account exists, the link is on its way', 429: 'Too many requests (Retry-After, RateLimit headers)' },
    handler: async ({ body, req, res }) => {
      await auth.requestPasswordReset({ email: body.email, ip: req.ip, onLimits: (statuses) => setRateLimitHeaders(res, statuses) })
      res.status(202)
      return { status: 'sent' }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/password-reset/confirm',
    tag: 'auth',
    summary: 'Set a new password with the token of a reset link (once); voids the other reset links and ends every session of the account',
    auth: 'none',
    body: z.object({ token: z.string().trim().min(20).max(200), password: z.string().min(10, 'at least 10 characters').max(1000) }).strict(),
    responses: { 204: 'Password changed', 400: 'The link is invalid, expired or already used' },
    handler: async ({ body }) => {
      await auth.resetPassword(body)
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/me',
    tag: 'auth',
    summary: 'The signed-in user, organization and role, and the CSRF token for cookie sessions',
    auth: 'session',
    handler: async ({ principal, req }) => {
      const [organization, user] = await Promise.all([store.organizations.get(principal.organizationId), store.users.get(principal.userId)])
      const session = tokenOf(req.headers)
      return { userId: principal.userId, email: user?.email, name: user?.name, role: principal.role, organization, ...(principal.mfaEnrollmentRequired ? { mfaEnrollmentRequired: true } : {}), ...(session?.via === 'cookie' ? { csrfToken: csrfTokenOf(session.token) } : {}) }
    },
  })

  // ---- agents
  api.route({ method: 'get', path: '/api/v1/agents', tag: 'agents', summary: 'List agents', auth: 'session', handler: async ({ principal }) => ({ agents: await agents.list(principal) }) })
  api.route({
    method: 'post',
    path: '/api/v1/agents',
    tag: 'agents',
    summary: 'Create an agent (admin); it gets a web chat inbox',
    auth: 'session',
    body: createAgentSchema,
    responses: { 201: 'Created' },
    handler: async ({ principal, body, res }) => {
      requireRole(principal, 'admin')
      await checkKeys(principal.organizationId, body)
      // The plan caps agents and channels; every agent brings its web chat inbox.
      const existing = await store.agents.list(principal.organizationId)
      await deps.quota.checkCap({ organizationId: principal.organizationId, kind: 'agents', adding: 1, current: existing.length })
      const inboxes = (await store.inboxes.listByOrganization(principal.organizationId)).filter((i) => i.purpose !== 'test')
      await deps.quota.checkCap({ organizationId: principal.organizationId, kind: 'channels', adding: 1, current: inboxes.length })
      const { agent, webchat } = await agents.create(principal, body)
      res.status(201)
      return { agent, webchat: { inboxId: webchat.id, key: webchat.publicKey } }
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/agents/:id',
    tag: 'agents',
    summary: 'Read an agent with its inboxes',
    auth: 'session',
    handler: async ({ principal, params }) => {
      const { agent, inboxes } = await agents.get(principal, params.id!)
      return { agent, inboxes: inboxes.map((i) => ({ id: i.id, channel: i.channel, name: i.name, key: i.publicKey, purpose: i.purpose })) }
    },
  })
  api.route({
    method: 'patch',
    path: '/api/v1/agents/:id',
    tag: 'agents',
    summary: 'Update an agent (admin): instructions, model and fallbacks, temperature, max tokens, response delay',
    auth: 'session',
    body: updateAgentSchema,
    handler: async ({ principal, params, body }) => {
      await checkKeys(principal.organizationId, body)
      return { agent: await agents.update(principal, params.id!, body) }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/agents/:id/test-chat',
    tag: 'agents',
    summary: 'Ask an agent as a customer would, without using the plan (admin); streams with Accept: text/event-stream',
    auth: 'session',
    body: z.object({ text: z.string().trim().min(1).max(4000), sessionId: z.string().trim().regex(/^[\w.:-]{1,64}$/).default('default') }).strict(),
    handler: async ({ principal, params, body, req, res }) => {
      requireRole(principal, 'admin')
      const { inboxes } = await agents.get(principal, params.id!)
      const inbox =
        inboxes.find((i) => i.purpose === 'test') ??
        (await store.inboxes.create({ organizationId: principal.organizationId, agentId: params.id!, channel: 'webchat', name: 'Test chat', publicKey: null, purpose: 'test', settings: {} }))
      const thread = `test:${principal.userId}:${body.sessionId}`
      const inbound = { inboxId: inbox.id, externalThreadId: thread, externalUserId: `admin:${principal.userId}`, externalMessageId: `test:${newId()}`, text: body.text, attachments: [], receivedAt: new Date(), raw: body }
      return receiveAndRespond({ req, res, inbox, inbound, turns: deps.turns, store, notifier: deps.notifier, timeoutMs: deps.replyTimeoutMs, view: (m) => ({ ...messageView(m), meta: m.meta }) })
    },
  })

  // ---- organizations' own model provider keys (BYOK)
  api.route({ method: 'get', path: '/api/v1/provider-keys', tag: 'models', summary: 'Provider keys (only their last 4 characters), each with the agents whose model or fallbacks use it', auth: 'session', handler: async ({ principal }) => ({ keys: await providerKeys.listWithUsage(principal) }) })
  api.route({
    method: 'post',
    path: '/api/v1/provider-keys',
    tag: 'models',
    summary: 'Add a key for OpenAI or any OpenAI-compatible API (admin); stored encrypted',
    auth: 'session',
    body: providerKeyInput,
    responses: { 201: 'Added' },
    handler: async ({ principal, body, res }) => {
      const key = await providerKeys.add(principal, body)
      res.status(201)
      return { key: maskKey(key) }
    },
  })
  api.route({
    method: 'post',
    path: '/api/v1/provider-keys/reseal',
    tag: 'models',
    summary: 'After an encryption key rotation: re-encrypt every provider key with the current key (admin)',
    auth: 'session',
    handler: async ({ principal }) => {
      requireRole(principal, 'admin')
      return { resealed: await providerKeys.reseal(principal.organizationId) }
    },
  })
  api.route({
    method: 'post',
    path: '/api/v1/provider-keys/:id/test',
    tag: 'models',
    summary: "Test a key with one real call to its provider's OpenAI-compatible API (GET {baseUrl}/models) (admin): ok, HTTP status, latency, the models it offers, or why it failed",
    auth: 'session',
    responses: { 200: 'Tested (ok says whether the key works)', 404: 'No such key in this organization' },
    handler: async ({ principal, params }) => ({ test: await providerKeys.test(principal, params.id!) }),
  })
  api.route({
    method: 'delete',
    path: '/api/v1/provider-keys/:id',
    tag: 'models',
    summary: "Delete a provider key (admin); refused (409 key_in_use) while an agent's model or fallback uses it",
    auth: 'session',
    responses: { 204: 'Deleted', 409: 'An agent uses the key' },
    handler: async ({ principal, params }) => {
      await providerKeys.remove(principal, params.id!)
      return undefined
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/usage/llm',
    tag: 'billing',
    summary: 'Model calls, tokens and estimated cost: totals by day, agent and model',
    auth: 'session',
    query: z.object({ from: z.coerce.date().optional(), to: z.coerce.date().optional() }),
    handler: async ({ principal, query }) => {
      const to = query.to ?? new Date()
      const from = query.from ?? new Date(to.getTime() - 30 * 24 * 3600 * 1000)
      if (from >= to) throw new AppError('validation_failed', 'from must be before to', 422)
      return { from, to, ...(await store.usage.apiCallSummary(principal.organizationId, { from, to })) }
    },
  })
  api.route({
    method: 'delete',
    path: '/api/v1/agents/:id',
    tag: 'agents',
    summary: 'Delete an agent, its inboxes and its own knowledge (admin)',
    auth: 'session',
    responses: { 204: 'Deleted' },
    handler: async ({ principal, params }) => {
      await agents.remove(principal, params.id!)
      return undefined
    },
  })

  // ---- knowledge
  api.route({ method: 'get', path: '/api/v1/knowledge/sources', tag: 'knowledge', summary: 'List knowledge sources with their status and progress', auth: 'session', handler: async ({ principal }) => ({ sources: await store.knowledge.listSources(principal.organizationId) }) })
  api.route({
    method: 'post',
    path: '/api/v1/knowledge/sources',
    tag: 'knowledge',
    summary: 'Add Markdown or text (JSON body, or a text/markdown body with ?title=); processed as a job',
    auth: 'session',
    body: z.unknown(),
    query: z.object({ title: z.string().max(300).optional(), agentId: z.string().uuid().optional() }),
    responses: { 202: 'Queued for processing' },
    handler: async ({ principal, req, query, res }) => {
      requireRole(principal, 'admin')
      const raw = typeof req.body === 'string' ? { title: query.title ?? '', content: req.body, kind: req.is('text/markdown') ? 'markdown' : 'text', ...(query.agentId ? { agentId: query.agentId } : {}) } : req.body
      const parsed = sourceSchema.safeParse(raw)
      if (!parsed.success) throw new AppError('validation_failed', `Invalid body: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`, 422)
      const source = await knowledge.addSource({ organizationId: principal.organizationId, agentId: parsed.data.agentId ?? null, collectionId: parsed.data.collectionId ?? null, title: parsed.data.title, kind: parsed.data.kind, content: parsed.data.content, uri: parsed.data.uri ?? null, actorUserId: principal.userId })
      res.status(202)
      return { source }
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/knowledge/sources/:id',
    tag: 'knowledge',
    summary: 'One knowledge source: status, progress, error',
    auth: 'session',
    handler: async ({ principal, params }) => {
      const source = await store.knowledge.getSource(principal.organizationId, params.id!)
      if (!source) throw notFound('Knowledge source')
      return { source }
    },
  })
  api.route({
    method: 'delete',
    path: '/api/v1/knowledge/sources/:id',
    tag: 'knowledge',
    summary: 'Delete a source and every chunk of it (admin)',
    auth: 'session',
    responses: { 204: 'Deleted' },
    handler: async ({ principal, params }) => {
      requireRole(principal, 'admin')
      await knowledge.deleteSource(principal.organizationId, params.id!, principal.userId)
      return undefined
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/knowledge/search',
    tag: 'knowledge',
    summary: 'Hybrid search (BM25 over full-text lexemes fused with vectors): passages with scores and sources; with agentId as that agent sees it, with collectionId within one collection',
    auth: 'session',
    query: z.object({ q: z.string().trim().min(1).max(2000), agentId: z.string().uuid().optional(), collectionId: z.string().uuid().optional(), limit: z.coerce.number().int().min(1).max(50).default(5) }),
    handler: async ({ principal, query }) => {
      if (query.agentId && !(await store.agents.get(principal.organizationId, query.agentId))) throw notFound('Agent')
      if (query.collectionId && !(await store.collections.get(principal.organizationId, query.collectionId))) throw notFound('Collection')
      return knowledge.search({ organizationId: principal.organizationId, agentId: query.agentId ?? null, collectionId: query.collectionId ?? null, query: query.q, limit: query.limit })
    },
  })

  // ---- conversations and handoffs
  // GET /api/v1/conversations and the contact's profile: admin-web/api/conversation-routes.ts
  api.route({
    method: 'post',
    path: '/api/v1/conversations/:id/take',
    tag: 'conversations',
    summary: 'An operator takes the conversation: the bot stops answering until it is released (operator)',
    auth: 'session',
    responses: { 200: 'Taken', 409: 'Another operator took it first' },
    handler: async ({ principal, params }) => {
      requireRole(principal, 'operator')
      const organizationId = principal.organizationId
      const conversation = await store.conversations.get(organizationId, params.id!)
      if (!conversation) throw notFound('Conversation')
      const current = await store.handoffs.current(organizationId, conversation.id)
      // Held by a person outside Switchboard (answered in the service's own inbox): it may be taken over.
      if (current?.status === 'taken' && current.operatorUserId && current.operatorUserId !== principal.userId) throw new AppError('already_taken', 'Another operator has taken this conversation', 409)
      // A conversation still with the bot gets a handoff that the operator takes at once.
      const handoff = await deps.conversations.openHandoff({ organizationId, conversationId: conversation.id, reason: 'operator_took', operatorUserId: principal.userId })
      if (handoff.status !== 'taken' || handoff.operatorUserId !== principal.userId) throw new AppError('already_taken', 'Another operator has taken this conversation', 409)
      return { state: 'handoff', handoff }
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/conversations/:id/messages',
    tag: 'conversations',
    summary: 'The transcript of a conversation',
    auth: 'session',
    handler: async ({ principal, params }) => {
      const conversation = await store.conversations.get(principal.organizationId, params.id!)
      if (!conversation) throw notFound('Conversation')
      return { conversation, messages: (await store.messages.history(principal.organizationId, conversation.id, { limit: 500 })).map(messageView) }
    },
  })
  api.route({
    method: 'post',
    path: '/api/v1/conversations/:id/reply',
    tag: 'conversations',
    summary: 'An operator replies to the customer (operator)',
    auth: 'session',
    body: z.object({ text: z.string().trim().min(1).max(4000) }),
    responses: { 201: 'Sent' },
    handler: async ({ principal, params, body, res }) => {
      requireRole(principal, 'operator')
      const message = await deps.conversations.operatorReply({ organizationId: principal.organizationId, conversationId: params.id!, text: body.text, operatorUserId: principal.userId })
      res.status(201)
      return { message: messageView(message) }
    },
  })
  api.route({
    method: 'post',
    path: '/api/v1/conversations/:id/release',
    tag: 'conversations',
    summary: 'Give the conversation back to the bot (operator)',
    auth: 'session',
    handler: async ({ principal, params }) => {
      requireRole(principal, 'operator')
      await deps.conversations.release({ organizationId: principal.organizationId, conversationId: params.id!, operatorUserId: principal.userId })
      return { state: 'bot' }
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/handoffs',
    tag: 'conversations',
    summary: 'Handoffs waiting for or owned by a person',
    auth: 'session',
    query: z.object({ status: z.enum(['open', 'taken', 'closed']).optional() }),
    handler: async ({ principal, query }) => ({ handoffs: await store.handoffs.list(principal.organizationId, query.status) }),
  })

  api.route({
    method: 'get',
    path: '/api/v1/usage',
    tag: 'billing',
    summary: 'Responses used in the current monthly period',
    auth: 'session',
    handler: async ({ principal }) => {
      const summary = await deps.quota.summary(principal.organizationId)
      return { periodStart: summary.period.start, periodEnd: summary.period.end, responses: summary.used, limit: summary.limit, remaining: summary.remaining }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/openapi.json',
    tag: 'meta',
    summary: 'This document',
    auth: 'none',
    handler: async () => api.openapi({ title: 'Switchboard API', version: deps.version }),
  })
}

/**
 * The session cookie goes only with requests to the API (never to pages such as the public chat)
 * and only with requests this site starts.
 */
export const sessionCookieOptions = (secure: boolean) => ({ httpOnly: true, sameSite: 'strict' as const, secure, path: '/api' })

export type SessionToken = { token: string; via: 'bearer' | 'cookie' }

/**
 * The session token of a request and how it came: the one place that decides whether a request is
 * a bearer client or a browser with the cookie (which must pass the CSRF check). An Authorization
 * header decides alone: a malformed one means no session, never a fall back to the cookie.
 */
export function tokenOf(headers: { authorization?: string; cookie?: string }): SessionToken | null {
  if (headers.authorization !== undefined) {
    const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization)?.[1]
    return bearer ? { token: bearer, via: 'bearer' } : null
  }
  const token = cookieOf(headers.cookie, SESSION_COOKIE)
  return token ? { token, via: 'cookie' } : null
}

/**
 * Whether a request may act with the session cookie. Not from the public chat page, which shows
 * what any organization wrote: should a script ever run there, it must not act as the admin who
 * opened the link (the page sends its address to this origin: Referrer-Policy same-origin). Nor
 * from another site, even a sibling subdomain, which SameSite=Strict still lets send the cookie.
 */
export function cookieSessionAllowed(headers: { referer?: string; 'sec-fetch-site'?: string | string[] }): boolean {
  if (headers.referer && isChatPageUrl(headers.referer)) return false
  const site = headers['sec-fetch-site']
  return site !== 'same-site' && site !== 'cross-site'
}
