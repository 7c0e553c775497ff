import { createHash, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'

/**
 * A local stand-in for the Slack Web API (what SLACK_API_URL points at in tests), Slack's private file
 * host, response_url webhooks and the Socket Mode WebSocket. It records every call and answers with the
 * response shapes of https://api.slack.com/methods: `{ ok: true, ... }` or, with HTTP 200,
 * `{ ok: false, error }`; a rate limit is HTTP 429 with `Retry-After`.
 *
 * `@slack/socket-mode` 3.x connects with undici's WebSocket, so the `ws` package is not installed; the
 * WebSocket server here is a small RFC 6455 implementation (text frames, ping/pong, close).
 */
export type FakeSlackWorkspace = {
  teamId: string
  teamName: string
  botToken: string
  botUserId: string
  botId: string
  appId: string
  userToken?: string
  /** the user a user token belongs to (the installer); auth.test with `userToken` answers as them */
  authedUserId?: string
  /** `<domain>.slack.com`; derived from teamName when absent */
  domain?: string
  /** comma-separated granted scopes, sent back in the `x-oauth-scopes` header like Slack does */
  scope?: string
}
export type FakeSlackUser = { id: string; name: string; realName?: string; displayName?: string; teamId?: string; isBot?: boolean; deleted?: boolean; tz?: string; email?: string }
export type FakeSlackChannel = { id: string; name?: string; isPrivate?: boolean; isIm?: boolean; user?: string; isArchived?: boolean; isMember?: boolean }
export type OAuthGrant = {
  teamId: string
  teamName: string
  appId: string
  botToken: string
  botUserId: string
  botId: string
  authedUserId: string
  scope: string
  /** when set, `redirect_uri` must equal it (bad_redirect_uri otherwise) */
  redirectUri?: string
  userToken?: string
  userScope?: string
}
export type SlackCall = { method: string; token: string | undefined; payload: Record<string, unknown>; at: number; status?: number; response?: Record<string, unknown> }
export type SlackFailure = { status?: number; error?: string; retryAfter?: number }
export type SocketEnvelopeInput = {
  type: 'events_api' | 'slash_commands' | 'interactive'
  payload: Record<string, unknown>
  retry_attempt?: number
  retry_reason?: string
  accepts_response_payload?: boolean
  envelope_id?: string
}
export type SocketAck = { envelope_id: string; payload?: Record<string, unknown> }
export type FakeSlackOptions = {
  /** when set, oauth.v2.access / apps.uninstall check them (invalid_client_id / bad_client_secret) */
  clientId?: string
  clientSecret?: string
  /** how long pushEnvelope waits for the ack (Slack's own deadline is 3 s) */
  ackTimeoutMs?: number
  /** chat.update / chat.delete of a ts not posted through the fake answer message_not_found (default: accepted as the bot's) */
  strictMessages?: boolean
}

type TokenInfo = { kind: 'bot' | 'user' | 'app'; workspace?: FakeSlackWorkspace; appId?: string; revoked?: string }
type Answer = { status?: number; headers?: Record<string, string>; body: Record<string, unknown> }
class SlackApiError extends Error {
  readonly error: string
  readonly extra: Record<string, unknown>
  constructor(error: string, extra: Record<string, unknown> = {}) {
    super(error)
    this.error = error
    this.extra = extra
  }
}

const JSON_FIELDS = ['blocks', 'attachments', 'metadata', 'unfurls', 'view']
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export async function startFakeSlack(opts: FakeSlackOptions = {}) {
  const tokens = new Map<string, TokenInfo>()
  const workspaces: FakeSlackWorkspace[] = []
  const users = new Map<string, FakeSlackUser>()
  const channels = new Map<string, FakeSlackChannel>()
  const oauthCodes = new Map<string, OAuthGrant & { used?: boolean }>()
  const files = new Map<string, { bytes: Buffer; teamId?: string; mimetype?: string }>()
  const messages = new Map<string, { channel: string; ts: string; text: string; user: string; botId: string; threadTs?: string; blocks?: unknown }>()
  const reactions = new Set<string>()
  const dmUsers = new Map<string, string>() // user id -> D id, for DMs opened by posting to a user
  const calls: SlackCall[] = []
  const failures: { method: string; failure: SlackFailure }[] = []
  const responses: { id: string; body: unknown; at: number }[] = []
  const responseUses = new Map<string, number>()
  const downloads: { path: string; token: string | undefined; status: number }[] = []
  const tickets = new Map<string, string>() // Socket Mode ticket -> app id
  const acks: SocketAck[] = []
  const pendingAcks = new Map<string, { resolve: (ack: SocketAck) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>()
  const connections = new Set<WsConnection>()
  let tsSeq = 0
  let roundRobin = 0
  let closed = false

  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++tsSeq).padStart(6, '0')}`
  const domainOf = (w: FakeSlackWorkspace) => w.domain ?? (w.teamName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'workspace')
  const dmChannelFor = (userId: string) => `D${userId.slice(1)}`

  const userOf = (id: string, teamId?: string): Record<string, unknown> => {
    const bot = workspaces.find((w) => w.botUserId === id)
    const u: FakeSlackUser = users.get(id) ?? (bot ? { id, name: bot.teamName.toLowerCase().replace(/\W+/g, '') + 'bot', realName: 'Switchboard', isBot: true, teamId: bot.teamId } : { id, name: id.toLowerCase(), realName: `User ${id}` })
    const realName = u.realName ?? u.name
    const displayName = u.displayName ?? ''
    return {
      id: u.id,
      team_id: u.teamId ?? teamId,
      name: u.name,
      deleted: u.deleted ?? false,
      color: '9f69e7',
      real_name: realName,
      tz: u.tz ?? 'Europe/Berlin',
      tz_label: 'Central European Time',
      tz_offset: 3600,
      profile: {
        avatar_hash: 'ge3b51ca72de',
        status_text: '',
        status_emoji: '',
        real_name: realName,
        display_name: displayName,
        real_name_normalized: realName,
        display_name_normalized: displayName,
        ...(u.email ? { email: u.email } : {}),
        image_24: 'https://a.slack-edge.com/avatar-24.png',
        image_48: 'https://a.slack-edge.com/avatar-48.png',
        image_72: 'https://a.slack-edge.com/avatar-72.png',
        team: u.teamId ?? teamId,
      },
      is_admin: false,
      is_owner: false,
      is_primary_owner: false,
      is_restricted: false,
      is_ultra_restricted: false,
      is_bot: u.isBot ?? false,
      is_app_user: false,
      updated: 1502138686,
      has_2fa: false,
    }
  }

  const channelOf = (id: string, teamId: string): Record<string, unknown> => {
    const c = channels.get(id) ?? (id.startsWith('D') ? { id, isIm: true } : id.startsWith('G') ? { id, isPrivate: true } : { id })
    const created = 1449252889
    if (c.isIm) {
      const user = c.user ?? [...dmUsers.entries()].find(([, d]) => d === id)?.[0] ?? `U${id.slice(1)}`
      return { id, created, is_im: true, is_org_shared: false, user, is_user_deleted: false, priority: 0, context_team_id: teamId }
    }
    const name = c.name ?? id.replace(/^[CG]0?/, '').toLowerCase()
    return {
      id,
      name,
      is_channel: !c.isPrivate,
      is_group: !!c.isPrivate,
      is_im: false,
      is_mpim: false,
      is_private: !!c.isPrivate,
      created,
      is_archived: c.isArchived ?? false,
      is_general: name === 'general',
      unlinked: 0,
      name_normalized: name,
      is_shared: false,
      is_org_shared: false,
      is_ext_shared: false,
      is_pending_ext_shared: false,
      pending_shared: [],
      context_team_id: teamId,
      updated: 1678229664302,
      parent_conversation: null,
      creator: 'U0ADMIN',
      is_member: c.isMember ?? true,
      topic: { value: '', creator: '', last_set: 0 },
      purpose: { value: '', creator: '', last_set: 0 },
      previous_names: [],
    }
  }
  /** Resolves `channel` as Slack does for chat.postMessage: a user id posts into the DM with that user. */
  const resolveChannel = (channel: unknown) => {
    const id = String(channel ?? '')
    if (!id) throw new SlackApiError('channel_not_found')
    if (/^[UW]/.test(id)) {
      const dm = dmUsers.get(id) ?? dmChannelFor(id)
      dmUsers.set(id, dm)
      return dm
    }
    return id
  }

  const need = (p: Record<string, unknown>, ...names: string[]) => {
    const missing = names.filter((n) => p[n] === undefined || p[n] === '')
    if (missing.length) throw new SlackApiError('invalid_arguments', { response_metadata: { messages: missing.map((n) => `[ERROR] missing required field: ${n}`) } })
  }

  const clientCredentials = (req: IncomingMessage, p: Record<string, unknown>) => {
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')
    if (basic) {
      const [id, ...secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':')
      return { clientId: id, clientSecret: secret.join(':') }
    }
    return { clientId: p.client_id === undefined ? undefined : String(p.client_id), clientSecret: p.client_secret === undefined ? undefined : String(p.client_secret) }
  }
  const checkClient = (req: IncomingMessage, p: Record<string, unknown>) => {
    const { clientId, clientSecret } = clientCredentials(req, p)
    if (!clientId || (opts.clientId !== undefined && clientId !== opts.clientId)) throw new SlackApiError('invalid_client_id')
    if (!clientSecret || (opts.clientSecret !== undefined && clientSecret !== opts.clientSecret)) throw new SlackApiError('bad_client_secret')
  }

  const addWorkspace = (w: FakeSlackWorkspace) => {
    const existing = workspaces.findIndex((x) => x.teamId === w.teamId)
    if (existing >= 0) workspaces.splice(existing, 1)
    workspaces.push(w)
    tokens.set(w.botToken, { kind: 'bot', workspace: w })
    if (w.userToken) tokens.set(w.userToken, { kind: 'user', workspace: w })
    return w
  }

  /** Methods that need no token (or authenticate the app by client id and secret). */
  function unauthenticated(method: string, p: Record<string, unknown>, req: IncomingMessage): Answer | undefined {
    if (method === 'oauth.v2.access') {
      checkClient(req, p)
      const grant = oauthCodes.get(String(p.code ?? ''))
      if (!grant) throw new SlackApiError('invalid_code')
      if (grant.used) throw new SlackApiError('code_already_used')
      if (grant.redirectUri !== undefined && p.redirect_uri !== grant.redirectUri) throw new SlackApiError('bad_redirect_uri')
      grant.used = true
      addWorkspace({ teamId: grant.teamId, teamName: grant.teamName, appId: grant.appId, botToken: grant.botToken, botUserId: grant.botUserId, botId: grant.botId, userToken: grant.userToken, authedUserId: grant.authedUserId, scope: grant.scope })
      return {
        body: {
          ok: true,
          access_token: grant.botToken,
          token_type: 'bot',
          scope: grant.scope,
          bot_user_id: grant.botUserId,
          app_id: grant.appId,
          team: { id: grant.teamId, name: grant.teamName },
          enterprise: null,
          is_enterprise_install: false,
          authed_user: grant.userToken ? { id: grant.authedUserId, scope: grant.userScope ?? '', access_token: grant.userToken, token_type: 'user' } : { id: grant.authedUserId },
        },
      }
    }
    return undefined
  }

  function answer(method: string, p: Record<string, unknown>, auth: TokenInfo, req: IncomingMessage): Answer {
    const w = auth.workspace!
    const scopeHeader: Record<string, string> = w?.scope ? { 'x-oauth-scopes': w.scope } : {}
    const ok = (body: Record<string, unknown>): Answer => ({ headers: scopeHeader, body: { ok: true, ...body } })
    switch (method) {
      case 'auth.test': {
        if (auth.kind === 'user') {
          const userId = w.authedUserId ?? 'U0INSTALLER'
          return ok({ url: `https://${domainOf(w)}.slack.com/`, team: w.teamName, user: String(userOf(userId, w.teamId).name), team_id: w.teamId, user_id: userId, is_enterprise_install: false })
        }
        return ok({ url: `https://${domainOf(w)}.slack.com/`, team: w.teamName, user: String(userOf(w.botUserId, w.teamId).name), team_id: w.teamId, user_id: w.botUserId, bot_id: w.botId, is_enterprise_install: false })
      }
      case 'auth.revoke': {
        const test = p.test === true || p.test === 'true' || p.test === '1'
        if (!test) for (const [t, info] of tokens) if (info === auth) tokens.set(t, { ...info, revoked: 'invalid_auth' })
        return ok({ revoked: !test })
      }
      case 'apps.uninstall':
        checkClient(req, p)
        for (const [t, info] of tokens) if (info.workspace?.teamId === w.teamId && info.kind !== 'app') tokens.set(t, { ...info, revoked: 'invalid_auth' })
        return ok({})
      case 'bots.info': {
        const bot = workspaces.find((x) => x.botId === String(p.bot ?? w.botId))
        if (!bot) throw new SlackApiError('bot_not_found')
        return ok({
          bot: {
            id: bot.botId,
            deleted: false,
            name: 'Switchboard',
            updated: 1449272004,
            app_id: bot.appId,
            user_id: bot.botUserId,
            icons: { image_36: 'https://a.slack-edge.com/bot-36.png', image_48: 'https://a.slack-edge.com/bot-48.png', image_72: 'https://a.slack-edge.com/bot-72.png' },
          },
        })
      }
      case 'chat.postMessage': {
        const channel = resolveChannel(p.channel)
        if (p.text === undefined && p.blocks === undefined && p.attachments === undefined) throw new SlackApiError('no_text')
        const ts = nextTs()
        const threadTs = p.thread_ts === undefined ? undefined : String(p.thread_ts)
        const text = String(p.text ?? '')
        messages.set(`${channel}:${ts}`, { channel, ts, text, user: w.botUserId, botId: w.botId, threadTs, blocks: p.blocks })
        return ok({
          channel,
          ts,
          message: {
            type: 'message',
            text,
            user: w.botUserId,
            bot_id: w.botId,
            app_id: w.appId,
            team: w.teamId,
            ts,
            ...(threadTs ? { thread_ts: threadTs, parent_user_id: messages.get(`${channel}:${threadTs}`)?.user } : {}),
            ...(p.blocks !== undefined ? { blocks: p.blocks } : {}),
            ...(p.attachments !== undefined ? { attachments: p.attachments } : {}),
            bot_profile: { id: w.botId, app_id: w.appId, name: 'Switchboard', deleted: false, team_id: w.teamId, icons: { image_36: 'https://a.slack-edge.com/bot-36.png' } },
          },
        })
      }
      case 'chat.update': {
        need(p, 'channel', 'ts')
        const key = `${String(p.channel)}:${String(p.ts)}`
        // A message the fake never saw (e.g. the one a fixture's button press refers to) counts as the bot's
        // own, unless strictMessages is set.
        if (!messages.has(key) && !opts.strictMessages) messages.set(key, { channel: String(p.channel), ts: String(p.ts), text: '', user: w.botUserId, botId: w.botId })
        const m = messages.get(key)
        if (!m) throw new SlackApiError('message_not_found')
        if (m.botId !== w.botId) throw new SlackApiError('cant_update_message')
        if (p.text !== undefined) m.text = String(p.text)
        if (p.blocks !== undefined) m.blocks = p.blocks
        return ok({ channel: m.channel, ts: m.ts, text: m.text, message: { type: 'message', text: m.text, user: m.user, bot_id: m.botId, app_id: w.appId, ...(m.blocks !== undefined ? { blocks: m.blocks } : {}), edited: { user: m.user, ts: nextTs() } } })
      }
      case 'chat.postEphemeral':
        need(p, 'channel', 'user')
        if (p.text === undefined && p.blocks === undefined && p.attachments === undefined) throw new SlackApiError('no_text')
        return ok({ message_ts: nextTs() })
      case 'chat.delete': {
        need(p, 'channel', 'ts')
        if (!messages.delete(`${String(p.channel)}:${String(p.ts)}`) && opts.strictMessages) throw new SlackApiError('message_not_found')
        return ok({ channel: p.channel, ts: p.ts })
      }
      case 'reactions.add': {
        need(p, 'channel', 'timestamp', 'name')
        const key = `${String(p.channel)}:${String(p.timestamp)}:${String(p.name)}:${w.botUserId}`
        if (reactions.has(key)) throw new SlackApiError('already_reacted')
        reactions.add(key)
        return ok({})
      }
      case 'conversations.info': {
        const id = String(p.channel ?? '')
        if (!/^[CDG][A-Z0-9]+$/.test(id)) throw new SlackApiError('channel_not_found')
        return ok({ channel: channelOf(id, w.teamId) })
      }
      case 'conversations.open': {
        const list = String(p.users ?? '').split(',').filter(Boolean)
        if (p.channel !== undefined) return ok({ channel: { id: String(p.channel) } })
        if (list.length !== 1) throw new SlackApiError(list.length ? 'not_supported' : 'users_list_not_supplied')
        return ok({ no_op: dmUsers.has(list[0]!), already_open: dmUsers.has(list[0]!), channel: { id: resolveChannel(list[0]) } })
      }
      case 'users.info': {
        const id = String(p.user ?? '')
        if (!/^[UW][A-Z0-9]+$/.test(id)) throw new SlackApiError('user_not_found')
        return ok({ user: userOf(id, w.teamId) })
      }
      default:
        throw new SlackApiError('unknown_method')
    }
  }

  const KNOWN = new Set(['auth.test', 'auth.revoke', 'apps.uninstall', 'apps.connections.open', 'bots.info', 'chat.postMessage', 'chat.update', 'chat.postEphemeral', 'chat.delete', 'reactions.add', 'conversations.info', 'conversations.open', 'users.info', 'oauth.v2.access'])

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    res.end(JSON.stringify(body))
  }
  const sendText = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers })
    res.end(text)
  }

  async function parseBody(req: IncomingMessage, url: URL): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks)
    const type = String(req.headers['content-type'] ?? '')
    const payload: Record<string, unknown> = Object.fromEntries(url.searchParams)
    if (raw.length && type.includes('json')) Object.assign(payload, JSON.parse(raw.toString('utf8')) as Record<string, unknown>)
    else if (raw.length && type.includes('multipart/form-data')) {
      const form = await new Response(raw, { headers: { 'content-type': type } }).formData()
      const fields: [string, FormDataEntryValue][] = []
      form.forEach((value, key) => fields.push([key, value]))
      for (const [key, value] of fields) payload[key] = typeof value === 'string' ? value : { filename: value.name, size: value.size, bytes: Buffer.from(await value.arrayBuffer()) }
    } else if (raw.length) Object.assign(payload, Object.fromEntries(new URLSearchParams(raw.toString('utf8'))))
    for (const field of JSON_FIELDS) {
      const v = payload[field]
      if (typeof v === 'string' && /^\s*[[{]/.test(v)) {
        try {
          payload[field] = JSON.parse(v)
        } catch {
          // left as sent: Slack answers invalid_blocks / invalid_attachments; the test sees the raw string
        }
      }
    }
    return payload
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, method: string) {
    const payload = await parseBody(req, url)
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]
    const token = bearer ?? (typeof payload.token === 'string' ? payload.token : undefined)
    delete payload.token
    const call: SlackCall = { method, token, payload, at: Date.now() }
    calls.push(call)
    const reply = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      call.status = status
      call.response = body
      sendJson(res, status, body, headers)
    }
    const fail = (error: string, extra: Record<string, unknown> = {}) => reply(200, { ok: false, error, ...extra })

    if (!KNOWN.has(method)) return fail('unknown_method')
    const failure = failures.findIndex((f) => f.method === method)
    if (failure >= 0) {
      const f = failures.splice(failure, 1)[0]!.failure
      if (f.status === 429) {
        const retryAfter = f.retryAfter ?? 1
        return reply(429, { ok: false, error: f.error ?? 'ratelimited' }, { 'retry-after': String(retryAfter) })
      }
      return reply(f.status ?? 200, { ok: false, error: f.error ?? (f.status && f.status >= 500 ? 'internal_error' : 'fatal_error') }, f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {})
    }
    try {
      const open = unauthenticated(method, payload, req)
      if (open) return reply(open.status ?? 200, open.body, open.headers)
      if (!token) return fail('not_authed')
      const auth = tokens.get(token)
      if (!auth) return fail('invalid_auth')
      if (auth.revoked) return fail(auth.revoked)
      if (method === 'apps.connections.open') {
        if (auth.kind !== 'app') return fail('not_allowed_token_type')
        const ticket = randomUUID()
        tickets.set(ticket, auth.appId!)
        return reply(200, { ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=${ticket}&app_id=${auth.appId!}` })
      }
      if (auth.kind === 'app') return fail('not_allowed_token_type')
      const a = answer(method, payload, auth, req)
      return reply(a.status ?? 200, a.body, a.headers)
    } catch (error) {
      if (error instanceof SlackApiError) return fail(error.error, error.extra)
      throw error
    }
  }

  function handleFile(req: IncomingMessage, res: ServerResponse, path: string) {
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]
    const file = files.get(path)
    const record = (status: number) => downloads.push({ path, token: bearer, status })
    if (!bearer) {
      // Slack sends a browser without credentials to the workspace sign-in page (an HTML 200 after the redirect).
      record(302)
      res.writeHead(302, { location: `${origin}/signin?redir=${encodeURIComponent(`/files-pri/${path}`)}` })
      return res.end()
    }
    const auth = tokens.get(bearer)
    if (!auth || auth.revoked || auth.kind === 'app' || !file || (file.teamId && auth.workspace?.teamId !== file.teamId)) {
      record(file ? 403 : 404)
      return sendText(res, file ? 403 : 404, file ? 'Forbidden' : 'Not Found')
    }
    record(200)
    res.writeHead(200, { 'content-type': file.mimetype ?? 'application/octet-stream', 'content-length': String(file.bytes.length), 'content-disposition': `attachment; filename="${path.split('/').pop() ?? 'file'}"` })
    return res.end(file.bytes)
  }

  async function handleResponseUrl(req: IncomingMessage, res: ServerResponse, kind: string, id: string) {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    const uses = (responseUses.get(`${kind}/${id}`) ?? 0) + 1
    responseUses.set(`${kind}/${id}`, uses)
    if (uses > 5) return sendText(res, 404, 'used_url')
    let body: unknown
    try {
      body = String(req.headers['content-type'] ?? '').includes('json') || /^\s*[[{]/.test(raw) ? JSON.parse(raw) : Object.fromEntries(new URLSearchParams(raw))
      if (body && typeof body === 'object' && 'payload' in body && typeof body.payload === 'string') body = JSON.parse(body.payload)
    } catch {
      return sendText(res, 400, 'invalid_payload')
    }
    responses.push({ id, body, at: Date.now() })
    return sendText(res, 200, 'ok')
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake')
    const api = /^\/api\/([\w.]+)$/.exec(url.pathname)
    if (api) return handleApi(req, res, url, api[1]!)
    if (url.pathname.startsWith('/files-pri/') && (req.method === 'GET' || req.method === 'HEAD')) return handleFile(req, res, decodeURIComponent(url.pathname.slice('/files-pri/'.length)))
    if (url.pathname === '/signin') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      return res.end('<!DOCTYPE html><html><head><title>Sign in | Slack</title></head><body>Sign in to your workspace</body></html>')
    }
    const hook = /^\/(commands|actions)\/(.+)$/.exec(url.pathname)
    if (hook && req.method === 'POST') return handleResponseUrl(req, res, hook[1]!, decodeURIComponent(hook[2]!))
    return sendText(res, 404, 'Not Found')
  }

  // ---- Socket Mode: a minimal RFC 6455 server on the same port -------------------------------------------
  type WsConnection = { id: number; socket: Duplex; appId: string; send: (message: unknown) => void; close: (code?: number) => void }
  let nextConnectionId = 1

  function wsFrame(opcode: number, payload: Buffer) {
    const len = payload.length
    let header: Buffer
    if (len < 126) header = Buffer.from([0x80 | opcode, len])
    else if (len < 65_536) {
      header = Buffer.alloc(4)
      header[0] = 0x80 | opcode
      header[1] = 126
      header.writeUInt16BE(len, 2)
    } else {
      header = Buffer.alloc(10)
      header[0] = 0x80 | opcode
      header[1] = 127
      header.writeBigUInt64BE(BigInt(len), 2)
    }
    return Buffer.concat([header, payload])
  }

  function onAckMessage(text: string) {
    let message: unknown
    try {
      message = JSON.parse(text)
    } catch {
      return
    }
    if (!message || typeof message !== 'object' || typeof (message as SocketAck).envelope_id !== 'string') return
    const ack = message as SocketAck
    acks.push(ack)
    const pending = pendingAcks.get(ack.envelope_id)
    if (pending) {
      clearTimeout(pending.timer)
      pendingAcks.delete(ack.envelope_id)
      pending.resolve(ack)
    }
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const url = new URL(req.url ?? '/', 'http://fake')
    const ticket = url.searchParams.get('ticket') ?? ''
    const appId = tickets.get(ticket)
    const key = req.headers['sec-websocket-key']
    if (closed || url.pathname !== '/link/' || !appId || typeof key !== 'string' || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    tickets.delete(ticket) // a ticket is good for one connection
    const accept = createHash('sha1').update(key + WS_GUID).digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)

    let buffer: Buffer = Buffer.alloc(0)
    let fragments: Buffer[] = []
    let fragmentOpcode = 0
    let closing = false
    const conn: WsConnection = {
      id: nextConnectionId++,
      socket,
      appId,
      send(message) {
        if (!socket.destroyed && !closing) socket.write(wsFrame(0x1, Buffer.from(JSON.stringify(message))))
      },
      close(code = 1000) {
        if (closing || socket.destroyed) return
        closing = true
        const body = Buffer.alloc(2)
        body.writeUInt16BE(code, 0)
        socket.write(wsFrame(0x8, body))
        setTimeout(() => socket.destroy(), 1000).unref()
      },
    }
    connections.add(conn)
    socket.on('close', () => connections.delete(conn))
    socket.on('error', () => socket.destroy())

    const onData = (chunk: Buffer) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk
      for (;;) {
        if (buffer.length < 2) return
        const fin = (buffer[0]! & 0x80) !== 0
        const opcode = buffer[0]! & 0x0f
        const masked = (buffer[1]! & 0x80) !== 0
        let len = buffer[1]! & 0x7f
        let offset = 2
        if (len === 126) {
          if (buffer.length < 4) return
          len = buffer.readUInt16BE(2)
          offset = 4
        } else if (len === 127) {
          if (buffer.length < 10) return
          len = Number(buffer.readBigUInt64BE(2))
          offset = 10
        }
        const maskOffset = offset
        if (masked) offset += 4
        if (buffer.length < offset + len) return
        const payload = Buffer.from(buffer.subarray(offset, offset + len))
        if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= buffer[maskOffset + (i % 4)]!
        buffer = buffer.subarray(offset + len)

        if (opcode === 0x8) {
          // close: answer with a close frame (echoing the code) and end the TCP connection, as a server should
          if (!closing) {
            closing = true
            socket.write(wsFrame(0x8, payload.subarray(0, 2)))
          }
          socket.end()
          return
        }
        if (opcode === 0x9) {
          if (!closing) socket.write(wsFrame(0xa, payload))
          continue
        }
        if (opcode === 0xa) continue
        if (opcode !== 0x0) {
          fragmentOpcode = opcode
          fragments = []
        }
        fragments.push(payload)
        if (fin) {
          const data = Buffer.concat(fragments)
          fragments = []
          if (fragmentOpcode === 0x1) onAckMessage(data.toString('utf8'))
        }
      }
    }
    socket.on('data', onData)
    if (head.length) onData(head)
    conn.send({ type: 'hello', num_connections: connections.size, debug_info: { host: 'applink-fake-0', build_number: 1, approximate_connection_time: 18060 }, connection_info: { app_id: appId } })
  }

  const server: Server = createServer((req, res) => void handle(req, res).catch((error: unknown) => sendJson(res, 500, { ok: false, error: String(error) })))
  server.on('upgrade', upgrade)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const origin = `http://127.0.0.1:${port}`

  async function waitForConnection(deadline: number) {
    while (!closed && connections.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    return [...connections]
  }

  return {
    /** What SLACK_API_URL / WebClient's `slackApiUrl` is set to. */
    url: `${origin}/api/`,
    origin,
    calls,
    /** Bodies POSTed to response_urls, in order (JSON, or the `payload` of a form post, decoded). */
    responses,
    /** Every GET of a private file: which path, with which token, answered how. */
    downloads,
    /** Every message received on a Socket Mode connection that carried an envelope_id (the acks). */
    acks,
    addWorkspace,
    /** The token stops working: later calls answer `{ ok: false, error }` (invalid_auth unless told, e.g. 'token_revoked'). */
    revoke(token: string, error = 'invalid_auth') {
      const info = tokens.get(token)
      if (info) tokens.set(token, { ...info, revoked: error })
      else tokens.set(token, { kind: 'bot', revoked: error })
    },
    /** An app-level (`xapp-`) token, good for apps.connections.open only. */
    addAppToken(token: string, appId?: string) {
      tokens.set(token, { kind: 'app', appId: appId ?? workspaces[0]?.appId ?? 'A0FAKEAPP' })
    },
    /** A code the OAuth redirect carried; oauth.v2.access exchanges it once and registers the workspace. */
    addOAuthCode(code: string, grant: OAuthGrant) {
      oauthCodes.set(code, { ...grant })
    },
    /** users.info answers for these; other well-formed ids get a made-up profile. */
    addUser(user: FakeSlackUser) {
      users.set(user.id, user)
    },
    /** conversations.info answers for these; other ids are made up from their prefix (C public, G private, D im). */
    addChannel(channel: FakeSlackChannel) {
      channels.set(channel.id, channel)
    },
    /** The next call of `method` fails: `{ status: 429, retryAfter }` is a rate limit, `{ error }` an `ok: false` answer. */
    failNext(method: string, failure: SlackFailure) {
      failures.push({ method, failure })
    },
    callsOf(method: string) {
      return calls.filter((c) => c.method === method)
    },
    /** chat.postMessage calls that landed in `channel` (a user id means the DM with that user). */
    postedTo(channel: string) {
      const target = /^[UW]/.test(channel) ? (dmUsers.get(channel) ?? dmChannelFor(channel)) : channel
      return calls.filter((c) => c.method === 'chat.postMessage' && c.response?.ok === true && c.response.channel === target)
    },
    /** The DM channel id chat.postMessage answers for `channel: userId`. */
    dmChannelFor,
    /** Serves `bytes` at fileUrl(path) to a bot token (of `teamId`'s workspace, when given). */
    addFile(path: string, bytes: Buffer, options: { teamId?: string; mimetype?: string } = {}) {
      files.set(path, { bytes, ...options })
    },
    /** The absolute URL of a private file: plays `url_private` / `url_private_download`. */
    fileUrl(path: string) {
      return `${origin}/files-pri/${path.split('/').map(encodeURIComponent).join('/')}`
    },
    /**
     * A response_url (https://hooks.slack.com/commands/... for slash commands, .../actions/... for block
     * actions): 5 uses, the 6th answers 404 used_url. POSTs are recorded in `responses` under `id`.
     */
    responseUrl(id: string, kind: 'commands' | 'actions' = 'commands') {
      return `${origin}/${kind}/${id.split('/').map(encodeURIComponent).join('/')}`
    },
    responsesTo(id: string) {
      return responses.filter((r) => r.id === id).map((r) => r.body)
    },
    socketConnections() {
      return connections.size
    },
    /**
     * Sends an envelope over Socket Mode (to one open connection, or `all`), waiting up to the timeout for a
     * connection to exist; resolves with the client's ack `{ envelope_id, payload? }`, rejects without one.
     */
    async pushEnvelope(input: SocketEnvelopeInput, options: { timeoutMs?: number; all?: boolean } = {}): Promise<SocketAck> {
      const timeoutMs = options.timeoutMs ?? opts.ackTimeoutMs ?? 3000
      const deadline = Date.now() + timeoutMs
      const envelope = {
        envelope_id: input.envelope_id ?? randomUUID(),
        type: input.type,
        accepts_response_payload: input.accepts_response_payload ?? input.type !== 'events_api',
        payload: input.payload,
        retry_attempt: input.retry_attempt ?? 0,
        retry_reason: input.retry_reason ?? '',
      }
      const open = await waitForConnection(deadline)
      if (!open.length) throw new Error(`fake Slack: no Socket Mode connection to deliver envelope ${envelope.envelope_id}`)
      const ack = new Promise<SocketAck>((resolve, reject) => {
        const timer = setTimeout(() => {
          pendingAcks.delete(envelope.envelope_id)
          reject(new Error(`fake Slack: no ack for envelope ${envelope.envelope_id} within ${timeoutMs} ms`))
        }, Math.max(1, deadline - Date.now()))
        pendingAcks.set(envelope.envelope_id, { resolve, reject, timer })
      })
      const targets = options.all ? open : [open[roundRobin++ % open.length]!]
      for (const conn of targets) conn.send(envelope)
      return ack
    },
    /** Slack's `{ type: 'disconnect' }` (e.g. before a connection refresh); clients reconnect by themselves. */
    sendDisconnect(reason: 'warning' | 'refresh_requested' | 'link_disabled' = 'refresh_requested') {
      for (const conn of connections) conn.send({ type: 'disconnect', reason, debug_info: { host: 'applink-fake-0' } })
    },
    /** Drops every Socket Mode connection without a close handshake (a network failure). */
    dropConnections() {
      for (const conn of connections) conn.socket.destroy()
    },
    async close() {
      closed = true
      for (const [id, pending] of pendingAcks) {
        clearTimeout(pending.timer)
        pending.reject(new Error(`fake Slack closed before envelope ${id} was acked`))
      }
      pendingAcks.clear()
      for (const conn of connections) conn.socket.destroy()
      connections.clear()
      const done = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await done
    },
  }
}

export type FakeSlack = Awaited<ReturnType<typeof startFakeSlack>>
