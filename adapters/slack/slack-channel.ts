import type * as SlackWebApi from '@slack/web-api'
import type { WebClient, Logger as SlackLogger, LogLevel } from '@slack/web-api'
import { AppError } from '../../core/errors.ts'
import { readCapped } from '../net/read-capped.ts'
import type { ChannelAdapter, Inbox, Logger, RawRequest, Store } from '../../core/ports.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import type { SendLimits, SendScheduler } from '../net/send-scheduler.ts'
import { ADMIN_COMMAND_NAMES, LINK_COMMAND } from '../../core/commands/admin-console.ts'
import { customerCommands } from '../../core/commands/registry.ts'
import { toSlackMessages, type SlackBlock } from './format.ts'
import { SLASH_COMMAND } from './manifest.ts'
import { installationOf, normalizeSlack, parseBody, threadTarget } from './normalize.ts'
import { installationKey, settingsOf, slackCredentials, type SlackSettings } from './settings.ts'
import { validSignature, type createReplayGuard } from './verify.ts'

/**
 * Slack's posting limits: about one message per second in a channel (chat.postMessage's special
 * tier, https://api.slack.com/docs/rate-limits), a workspace-wide cap beyond; the 429 with
 * Retry-After is the last guard: waited out (with the injected sleep) and sent again, a few times.
 */
export const SLACK_LIMITS: SendLimits = { perChatMs: 1000, perBotPerSecond: 20, perGroupPerMinute: 600 }
const RATE_LIMIT_RETRIES = 3

/** Slack's Web API client loads with the first Slack inbox a process opens or connects: most never have one. */
let webApi: Promise<typeof SlackWebApi> | undefined
const slackWebApi = () => (webApi ??= import('@slack/web-api'))

const COMMANDS = new Set<string>([...ADMIN_COMMAND_NAMES, ...customerCommands.map((c) => c.name), LINK_COMMAND, 'release'])
/** Replies name commands as /name; in Slack they are typed /switchboard name. A path such as /kb/x or a word that is no command is left alone. */
export const withSlashCommand = (text: string) => text.replace(/(^|[\s(“"'])\/([a-z]+)(?![\w/])/g, (whole, before: string, name: string) => (COMMANDS.has(name) ? `${before}${SLASH_COMMAND} ${name}` : whole))

/** The client's log lines go to the channel's logger at debug level (its warnings are about retries it makes itself). */
export const slackLogger = (logger: Logger): SlackLogger => ({
  debug: () => {},
  info: (...m: unknown[]) => logger.debug({ slack: m.join(' ') }, 'slack web api'),
  warn: (...m: unknown[]) => logger.warn({ slack: m.join(' ') }, 'slack web api'),
  error: (...m: unknown[]) => logger.warn({ slack: m.join(' ') }, 'slack web api'),
  setLevel: () => {},
  getLevel: () => 'info' as LogLevel.INFO,
  setName: () => {},
})

/** A Web API failure as an AppError: Slack's error code, never the token. */
export function slackError(method: string, error: unknown): AppError {
  const e = error as { code?: string; data?: { error?: string; needed?: string }; message?: string }
  const code = e.data?.error
  if (code === 'invalid_auth' || code === 'not_authed' || code === 'token_revoked' || code === 'account_inactive') return new AppError('channel_unauthorized', `Slack refused the bot token (${code})`, 422)
  if (code === 'missing_scope') return new AppError('channel_unauthorized', `The Slack app lacks the scope ${e.data?.needed ?? ''} for ${method}: add it and reinstall the app`, 422)
  if (code) return new AppError('provider_error', `Slack ${method} failed: ${code}`, 502)
  return new AppError('channel_unreachable', `Slack ${method} failed: ${(e.message ?? 'no answer').replace(/xox[a-z]-[\w-]+/g, 'xox…')}`, 502)
}

export type SlackChannel = ChannelAdapter & {
  /** The Web API client of an inbox's bot (opened from its sealed credentials). */
  clientFor(inbox: Inbox): Promise<{ client: WebClient; settings: SlackSettings }>
  /** Calls the Web API as the inbox's bot: a 429 is waited out (Retry-After) and tried again; failures become AppErrors. */
  call<T>(inbox: Inbox, method: string, fn: (client: WebClient) => Promise<T>): Promise<T>
  /** A client for a token not stored yet (connecting). */
  clientWith(token: string): Promise<WebClient>
  /** Forgets the cached client after the credentials changed. */
  forget(inboxId: string): void
  /** Posts to a channel, a thread or a person's DM under Slack's limits; returns `{channel}:{ts}`. */
  post(inbox: Inbox, input: { channel: string; threadTs?: string; text: string; blocks?: SlackBlock[] }): Promise<string>
  /** Answers through an interaction's response_url (ephemeral); false when it is not Slack's or no longer usable. */
  respondVia(responseUrl: string, body: Record<string, unknown>): Promise<boolean>
}

/**
 * Slack as a channel: verifies the signature on the raw bytes (and refuses replays), answers
 * url_verification, turns events, slash commands and button presses into events, and sends
 * replies as mrkdwn with sources and buttons, split below Block Kit's limits, about one message
 * per second per channel.
 */
export function createSlackChannel(deps: {
  store: Store
  secrets: SecretBox
  apiUrl: string
  /** The signing secret of this installation's own app (SLACK_SIGNING_SECRET): OAuth installs are signed with it. */
  appSigningSecret?: string
  logger: Logger
  scheduler: SendScheduler
  replays: ReturnType<typeof createReplayGuard>
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}): SlackChannel {
  const now = deps.now ?? Date.now
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const clients = new Map<string, { envelope: string; client: WebClient }>()
  const apiOrigin = new URL(deps.apiUrl).origin
  /** Files, response_urls: Slack's own hosts, or the server SLACK_API_URL names (a local fake in tests). */
  const slackUrl = (raw: string, hosts: RegExp): URL | null => {
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      return null
    }
    if (url.origin === apiOrigin) return url
    return url.protocol === 'https:' && hosts.test(url.hostname) && !url.username && !url.password ? url : null
  }

  // Rate limits are handled in call() (the wait is Retry-After, with the injected sleep); the client retries only failed connections and 5xx.
  const clientWith = async (token: string) => new (await slackWebApi()).WebClient(token, { slackApiUrl: deps.apiUrl, logger: slackLogger(deps.logger), rejectRateLimitedCalls: true, retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 5_000 }, timeout: 15_000 })

  /** `recent`: as read at most a moment ago (a delivery's signature check), else afresh (sending). */
  async function open(inbox: Inbox, recent = false) {
    const envelope = await (recent ? deps.store.inboxes.recentCredentials(inbox.id) : deps.store.inboxes.credentials(inbox.id))
    if (!envelope) throw new AppError('channel_unavailable', 'This Slack inbox has no bot token', 409)
    const parsed = slackCredentials.safeParse(JSON.parse(deps.secrets.open(envelope)))
    if (!parsed.success) throw new AppError('channel_unavailable', 'The stored Slack credentials are unreadable', 500)
    return { envelope, credentials: parsed.data }
  }

  async function clientFor(inbox: Inbox) {
    const settings = settingsOf(inbox)
    if (!settings) throw new AppError('channel_unavailable', 'This Slack inbox has no workspace settings', 409)
    const { envelope, credentials } = await open(inbox)
    const cached = clients.get(inbox.id)
    if (cached && cached.envelope === envelope) return { client: cached.client, settings }
    const client = await clientWith(credentials.botToken)
    clients.set(inbox.id, { envelope, client })
    return { client, settings }
  }

  async function call<T>(inbox: Inbox, method: string, fn: (client: WebClient) => Promise<T>): Promise<T> {
    const { client } = await clientFor(inbox)
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(client)
      } catch (error) {
        const limited = (error as { code?: string }).code === (await slackWebApi()).ErrorCode.RateLimitedError
        if (!limited || attempt >= RATE_LIMIT_RETRIES) throw slackError(method, limited ? { data: { error: 'ratelimited' } } : error)
        const seconds = Math.min(Math.max((error as { retryAfter?: number }).retryAfter ?? 1, 1), 60)
        deps.logger.info({ inboxId: inbox.id, method, retryAfter: seconds }, 'Slack rate limit: waiting as told')
        await sleep(seconds * 1000)
      }
    }
  }

  async function post(inbox: Inbox, input: { channel: string; threadTs?: string; text: string; blocks?: SlackBlock[] }): Promise<string> {
    const { settings } = await clientFor(inbox)
    await deps.scheduler.slot({ bot: `${settings.teamId}:${settings.appId}`, chat: input.channel, group: false })
    const sent = await call(inbox, 'chat.postMessage', (client) =>
      client.chat.postMessage({ channel: input.channel, text: input.text, ...(input.blocks?.length ? { blocks: input.blocks as never } : {}), ...(input.threadTs ? { thread_ts: input.threadTs } : {}), unfurl_links: false, unfurl_media: false }),
    )
    return `${sent.channel ?? input.channel}:${sent.ts}`
  }

  async function respondVia(responseUrl: string, body: Record<string, unknown>): Promise<boolean> {
    const url = slackUrl(responseUrl, /^hooks\.slack\.com$/)
    if (!url) return false
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), redirect: 'error', signal: AbortSignal.timeout(10_000) })
      return res.ok
    } catch {
      return false
    }
  }

  const openSealed = (value: string | undefined): string | undefined => {
    if (!value) return undefined
    try {
      return deps.secrets.open(value)
    } catch {
      return undefined
    }
  }

  return {
    kind: 'slack',
    clientFor,
    call,
    clientWith,
    forget: (inboxId) => void clients.delete(inboxId),
    post,
    respondVia,

    async verify(req: RawRequest, inbox: Inbox): Promise<boolean> {
      const settings = settingsOf(inbox)
      if (!settings) return false
      const signingSecret = settings.install === 'oauth' ? deps.appSigningSecret : (await open(inbox, true).catch(() => null))?.credentials.signingSecret
      if (!signingSecret || !validSignature({ req, signingSecret, nowMs: now() })) return false
      // A request signed for one workspace's app is not accepted for another's inbox.
      const target = installationOf(parseRawBody(req))
      if (target && (target.teamId !== settings.teamId || target.appId !== settings.appId)) return false
      // The same signed request again is a replay. Slack's own retries count up X-Slack-Retry-Num (and
      // may fall in the same second, with the same signature): they pass, and the event is stored once.
      return deps.replays.first(`${inbox.id}:${String(req.headers['x-slack-signature'])}:${String(req.headers['x-slack-retry-num'] ?? 0)}`)
    },

    handshake(req: RawRequest) {
      // Reached only once verified: Slack checks the Request URL with url_verification and wants its challenge back.
      const body = parseRawBody(req) as { type?: unknown; challenge?: unknown; ssl_check?: unknown } | null
      if (body?.type === 'url_verification' && typeof body.challenge === 'string') return { status: 200, body: body.challenge, contentType: 'text/plain' }
      if (body?.ssl_check === '1') return { status: 200, body: '', contentType: 'text/plain' }
      return undefined
    },

    appHandshake(req: RawRequest) {
      // Slack checks the app's Request URL before any workspace installs it: signed with the app's own secret.
      const body = parseRawBody(req) as { type?: unknown; challenge?: unknown } | null
      if (body?.type !== 'url_verification' || typeof body.challenge !== 'string') return undefined
      if (!deps.appSigningSecret || !validSignature({ req, signingSecret: deps.appSigningSecret, nowMs: now() })) return { status: 401, body: JSON.stringify({ error: { code: 'unauthorized', message: 'Invalid webhook signature or secret' } }), contentType: 'application/json' }
      return { status: 200, body: body.challenge, contentType: 'text/plain' }
    },

    async locate(_req, body) {
      const target = installationOf(body)
      if (!target) return null
      return deps.store.inboxes.findByPublicKey(installationKey(target.teamId, target.appId))
    },

    async normalize(body, inbox) {
      const settings = settingsOf(inbox)
      if (!settings) throw new AppError('channel_unavailable', 'This Slack inbox has no workspace settings', 409)
      return normalizeSlack(body, inbox, settings, {
        knownThread: async (i, thread) => Boolean(await deps.store.conversations.findByThread(i.id, thread)),
        seal: (v) => deps.secrets.seal(v),
      })
    },

    // Slack shows the body of a slash command's or a button's answer: it stays empty, the reply follows.
    respond: () => ({ status: 200, body: '', contentType: 'text/plain' }),

    maxMessageLength: 3000,

    async send({ to, message, inbox }) {
      const parts = toSlackMessages({ ...message, text: withSlashCommand(message.text) })
      // The answer to a /switchboard command goes only to the person who typed it.
      const responseUrl = openSealed(to.replyContext?.responseUrl)
      if (responseUrl) {
        let delivered = true
        for (const part of parts) if (delivered) delivered = await respondVia(responseUrl, { response_type: 'ephemeral', replace_original: false, text: part.text, blocks: part.blocks })
        if (delivered) return {}
        // Used up (5 answers) or expired (30 minutes): the person's DM with the bot instead.
      }
      const target = threadTarget(to.externalThreadId)
      let last: string | undefined
      for (const part of parts) last = await post(inbox, { channel: target.channel, ...(target.threadTs ? { threadTs: target.threadTs } : {}), text: part.text, blocks: part.blocks })
      return { externalMessageId: last }
    },

    async edit({ externalMessageId, text, inbox }) {
      const at = externalMessageId.lastIndexOf(':')
      if (at < 0) return
      const [first] = toSlackMessages({ text: withSlashCommand(text) })
      if (!first) return
      await call(inbox, 'chat.update', (client) => client.chat.update({ channel: externalMessageId.slice(0, at), ts: externalMessageId.slice(at + 1), text: first.text, blocks: first.blocks as never }))
    },

    async download({ attachment, inbox, maxBytes }) {
      if (attachment.size && attachment.size > maxBytes) throw new AppError('file_too_large', `The file is larger than ${Math.round(maxBytes / 1024 / 1024)} MB`, 413)
      let url = attachment.ref ? slackUrl(attachment.ref, /^files\.slack\.com$/) : null
      if (!url) throw new AppError('validation_failed', 'This attachment is not a Slack file', 422)
      const { credentials } = await open(inbox)
      let res: Response | undefined
      // Slack's file URLs need the bot token; redirects are followed only to Slack's own file hosts.
      for (let hop = 0; hop < 3 && url; hop++) {
        try {
          res = await fetch(url, { headers: { authorization: `Bearer ${credentials.botToken}` }, redirect: 'manual', signal: AbortSignal.timeout(60_000) })
        } catch (error) {
          throw new AppError('channel_unreachable', `Slack file download failed: ${(error as Error).message}`, 502)
        }
        if (res.status < 300 || res.status >= 400) break
        const next = res.headers.get('location')
        url = next ? slackUrl(new URL(next, url).toString(), /^(files\.slack\.com|[\w-]+\.slack-edge\.com)$/) : null
        res = undefined
      }
      if (!res) throw new AppError('provider_error', 'Slack redirected the file download elsewhere', 502)
      if (!res.ok) throw new AppError('provider_error', `Slack file download failed with HTTP ${res.status}`, 502)
      // Without files:read Slack answers its sign-in page instead of the file.
      if ((res.headers.get('content-type') ?? '').startsWith('text/html') && !(attachment.mimeType ?? '').includes('html')) throw new AppError('channel_unauthorized', 'Slack did not hand over the file: the app needs the files:read scope', 422)
      return readCapped(res, maxBytes)
    },
  }
}

/** The request's body as Slack sent it (JSON, or a form whose `payload` is JSON), read from the raw bytes; null when unreadable. */
function parseRawBody(req: RawRequest): unknown {
  const text = req.rawBody.toString('utf8')
  const type = String(req.headers['content-type'] ?? '')
  try {
    if (type.includes('application/x-www-form-urlencoded')) return parseBody(Object.fromEntries(new URLSearchParams(text)))
    return JSON.parse(text)
  } catch {
    return null
  }
}
