import { timingSafeEqual } from 'node:crypto'
import type { Redis } from 'ioredis'
import { AppError } from '../../core/errors.ts'
import { readCapped } from '../net/read-capped.ts'
import { HANDOFF_CHOICE } from '../../core/conversation/steps.ts'
import { DELIVERY_REFUSED, type Attachment, type ChannelAdapter, type ChannelEvent, type Inbox, type Logger, type RawRequest, type Store } from '../../core/ports.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import { toMetaMessages } from './format.ts'
import { isExpiredToken, MetaApiError, metaAppError, type GraphClient } from './graph.ts'
import { metaCredentials, settingsOf, sha256, type MetaSettings } from './settings.ts'
import { validMetaSignature } from './signature.ts'
import { parseMetaWebhook, type MetaItem } from './webhook.ts'
import { replyWindow } from './window.ts'

/** Marks Switchboard's own Messenger sends: their echoes carry it back in `metadata` (Send API `message.metadata`). */
export const OWN_METADATA = 'switchboard:reply'

/** What tells Messenger and Instagram apart; the rest of the channel is the same. */
export type MetaFlavor = {
  kind: 'messenger' | 'instagram'
  label: string
  /** The webhook's `object`: `page` for Messenger, `instagram` for Instagram. */
  object: 'page' | 'instagram'
  graph: GraphClient
  textLimit: number
  measure?: (s: string) => number
  /** Whether the Send API takes `message.metadata` (echoed back): Messenger does. */
  metadata: boolean
  /** Hosts attachments are fetched from (Meta's CDNs). */
  fileHosts: RegExp
  /** The Graph server's origin (META_GRAPH_URL): files there are fetched too (a local fake in tests). */
  graphOrigin: string
}

/**
 * Switchboard's own sends, remembered for an hour by their message id: the page's echo of one of
 * them is skipped, while an echo of a message nobody sent through Switchboard is a person answering
 * in Meta's inbox. Shared through Redis when configured (the worker sends, the server gets the echo).
 */
function createSentLog(redis?: { client: Redis; prefix: string }) {
  const local = new Map<string, number>()
  const ttl = 3600_000
  return {
    async add(key: string) {
      if (redis) await redis.client.set(`${redis.prefix}:meta:sent:${key}`, '1', 'PX', ttl)
      else {
        const now = Date.now()
        if (local.size > 20_000) for (const [k, until] of local) if (until <= now) local.delete(k)
        local.set(key, now + ttl)
      }
    },
    async has(key: string) {
      if (redis) return (await redis.client.exists(`${redis.prefix}:meta:sent:${key}`)) === 1
      return (local.get(key) ?? 0) > Date.now()
    },
  }
}

const attachmentKind = (type: string): Attachment['kind'] | null =>
  type === 'image' ? 'image' : type === 'audio' ? 'audio' : type === 'video' ? 'video' : type === 'file' ? 'document' : null

export type MetaChannel = ChannelAdapter & {
  /** The access token of an inbox (opened from its sealed credentials). */
  tokenOf(inbox: Inbox): Promise<string>
  /** Marks the inbox broken (Meta refused its token) and tells the organization's admins once. */
  markBroken(inbox: Inbox, reason: string): Promise<void>
}

/**
 * Messenger or Instagram as a channel: the GET subscription check with the inbox's verify token,
 * X-Hub-Signature-256 on the raw bytes with the sealed app secret, every entry and messaging item
 * of a batch, echoes (Switchboard's own skipped, a person's answer from Meta's inbox pausing the
 * bot), and replies as plain text within the messaging windows, with quick replies. The accounts
 * on this installation's own app (`app`) share one address, POST /webhooks/{kind}: checked once
 * with the app's secret, a body there goes to the inbox of every account it names (`locateAll`).
 */
export function createMetaChannel(deps: {
  flavor: MetaFlavor
  store: Store
  secrets: SecretBox
  logger: Logger
  /** The app has Meta's Human Agent permission: a person's reply may use the HUMAN_AGENT tag up to 7 days. */
  humanAgent: boolean
  notifyAdmins(input: { organizationId: string; text: string; key: string }): Promise<number>
  redis?: { client: Redis; prefix: string }
  /**
   * This installation's own Meta app, which accounts connected with "Connect with Facebook / Instagram"
   * are subscribed to: it posts all their messages to one address, POST /webhooks/{kind}, signed with
   * its secret, after Meta's GET check with its verify token.
   */
  app?: { appSecret?: string; verifyToken?: string }
  now?: () => Date
}): MetaChannel {
  const { flavor, store } = deps
  const now = deps.now ?? (() => new Date())
  const sent = createSentLog(deps.redis)

  /** `recent`: as read at most a moment ago (a delivery's signature check), else afresh (sending). */
  async function credentialsOf(inbox: Inbox, recent = false) {
    const envelope = await (recent ? store.inboxes.recentCredentials(inbox.id) : store.inboxes.credentials(inbox.id))
    if (!envelope) throw new AppError('channel_unavailable', `This ${flavor.label} inbox has no access token`, 409)
    const parsed = metaCredentials.safeParse(JSON.parse(deps.secrets.open(envelope)))
    if (!parsed.success) throw new AppError('channel_unavailable', `The stored ${flavor.label} credentials are unreadable`, 500)
    return parsed.data
  }
  const settingsFor = (inbox: Inbox): MetaSettings => {
    const s = settingsOf(inbox)
    if (!s) throw new AppError('channel_unavailable', `This ${flavor.label} inbox has no account settings`, 409)
    return s
  }

  async function markBroken(inbox: Inbox, reason: string) {
    const current = await store.inboxes.get(inbox.id)
    const s = current ? settingsOf(current) : null
    if (!current || !s || s.broken) return
    await store.inboxes.update(inbox.organizationId, inbox.id, { settings: { ...s, broken: { reason, at: now().toISOString() } } })
    deps.logger.warn({ inboxId: inbox.id, reason }, `${flavor.label} token refused: inbox marked broken`)
    await store.audit.record({ organizationId: inbox.organizationId, actorUserId: null, action: `channel.${flavor.kind}_broken`, target: inbox.id, data: { reason } })
    // Once per token: connecting again (or a refreshed token) seals new credentials, so a later break is told again.
    // (The verify token would not do: it is kept on reconnection, and all accounts on the app's webhook share it.)
    const sealed = await store.inboxes.credentials(inbox.id).catch(() => null)
    await deps
      .notifyAdmins({ organizationId: inbox.organizationId, text: `${flavor.label} (${inbox.name}) stopped working: ${reason} Connect it again on the Channels page of the admin web.`, key: `${flavor.kind}-broken:${inbox.id}:${sha256(sealed ?? s.verifyToken).slice(0, 12)}` })
      .catch(() => 0)
  }

  /**
   * One Graph call as the inbox's account; a refused token marks the inbox broken. `recent`: the
   * token as read a moment ago (mark_seen, sent for every delivery of a burst, needs no fresh read).
   */
  async function call<T>(inbox: Inbox, operation: string, input: Parameters<GraphClient['call']>[0], recent = false): Promise<T> {
    const { accessToken } = await credentialsOf(inbox, recent)
    try {
      return await flavor.graph.call<T>({ ...input, token: accessToken })
    } catch (error) {
      const appError = metaAppError(operation, error)
      if (error instanceof MetaApiError && isExpiredToken(error)) await markBroken(inbox, appError.message)
      throw appError
    }
  }

  /** One messaging item as events. */
  async function eventOf(inbox: Inbox, settings: MetaSettings, { item, standby }: MetaItem): Promise<ChannelEvent[]> {
    // Standby: another app owns the conversation (Conversation Routing); Switchboard only listens.
    if (standby) return []
    const message = item.message
    if (message?.is_echo) {
      // Sender is the account, recipient the customer.
      const mid = message.mid
      const own = (message.metadata === OWN_METADATA) || (message.app_id !== undefined && String(message.app_id) === settings.appId) || (mid !== undefined && (await sent.has(`${inbox.id}:${mid}`)))
      if (own || !mid || !message.text) return []
      const customerId = item.recipient?.id
      if (!customerId) return []
      return [{ type: 'human_reply', reply: { inboxId: inbox.id, externalThreadId: customerId, externalUserId: customerId, externalMessageId: mid, text: message.text, sentAt: new Date(item.timestamp ?? now().getTime()) } }]
    }
    const customer = item.sender?.id
    if (!customer || customer === settings.accountId) return []
    const base = { inboxId: inbox.id, externalThreadId: customer, externalUserId: customer, privateThread: true, receivedAt: new Date(item.timestamp ?? now().getTime()), raw: item }
    if (item.postback) {
      const payload = item.postback.payload
      const mid = item.postback.mid ?? `postback:${customer}:${item.timestamp}`
      return [{ type: 'message', message: { ...base, externalMessageId: mid, text: item.postback.title || (payload === HANDOFF_CHOICE.id ? HANDOFF_CHOICE.label : payload), choiceId: payload, attachments: [] } }]
    }
    if (!message?.mid || message.is_deleted || message.is_unsupported) return []
    const attachments: Attachment[] = []
    const notes: string[] = []
    for (const a of message.attachments ?? []) {
      const url = typeof a.payload?.url === 'string' ? a.payload.url : undefined
      if (a.type === 'story_mention') notes.push('[The customer mentioned the business in their story]')
      const kind = attachmentKind(a.type)
      if (kind && url) attachments.push({ kind, ref: url, mimeType: kind === 'image' ? 'image/jpeg' : undefined })
    }
    if (message.reply_to?.story) notes.push('[Replying to the business’s story]')
    const text = [...notes, message.text ?? ''].filter(Boolean).join(' ')
    if (!text && !attachments.length) return []
    const choiceId = message.quick_reply?.payload
    return [{ type: 'message', message: { ...base, externalMessageId: message.mid, ...(text ? { text } : {}), ...(choiceId ? { choiceId } : {}), attachments } }]
  }

  return {
    kind: flavor.kind,
    maxMessageLength: flavor.textLimit,
    tokenOf: async (inbox) => (await credentialsOf(inbox)).accessToken,
    markBroken,

    handshake: (req: RawRequest, inbox: Inbox) => hubChallenge(req, settingsOf(inbox)?.verifyToken),

    async verify(req, inbox) {
      const credentials = await credentialsOf(inbox, true).catch(() => null)
      return Boolean(credentials) && validMetaSignature(req.rawBody, req.headers['x-hub-signature-256'], credentials!.appSecret)
    },

    // The app's one address: Meta's GET check with the app's verify token (reached without a body; a POST with one is never a check).
    appHandshake: (req: RawRequest) => (req.rawBody.length ? undefined : hubChallenge(req, deps.app?.verifyToken)),

    async locateAll(req, body) {
      // Checked once, with the app's secret: the entries may be any organization's accounts.
      const appSecret = deps.app?.appSecret
      if (!appSecret || !validMetaSignature(req.rawBody, req.headers['x-hub-signature-256'], appSecret)) return null
      const { object, items } = parseMetaWebhook(body)
      if (object !== flavor.object) return []
      const inboxes: Inbox[] = []
      for (const id of new Set(items.map((i) => i.entryId))) {
        if (!/^\d{1,40}$/.test(id)) continue
        const inbox = await store.inboxes.findByPublicKey(`${flavor.kind}:${id}`)
        if (inbox && inbox.channel === flavor.kind) inboxes.push(inbox)
      }
      return inboxes
    },

    async normalize(body, inbox) {
      const { object, items } = parseMetaWebhook(body)
      // Another kind of object (a page feed, permissions): acknowledged and ignored, as Meta disables endpoints that keep failing.
      if (object !== flavor.object) return []
      const settings = settingsFor(inbox)
      const events: ChannelEvent[] = []
      for (const item of items) {
        // A delivery for another page or account than this inbox's is not this inbox's.
        if (item.entryId !== settings.accountId) continue
        events.push(...(await eventOf(inbox, settings, item)))
      }
      return events
    },

    async acknowledge({ inbox, event }) {
      if (event.type !== 'message') return
      await call(inbox, 'mark_seen', { method: 'POST', path: `/${settingsFor(inbox).accountId}/messages`, body: { recipient: { id: event.message.externalThreadId }, sender_action: 'mark_seen' } }, true)
    },

    async typing({ to, inbox }) {
      await call(inbox, 'typing_on', { method: 'POST', path: `/${settingsFor(inbox).accountId}/messages`, body: { recipient: { id: to.externalThreadId }, sender_action: 'typing_on' } })
    },

    async send({ to, message, inbox }) {
      const settings = settingsFor(inbox)
      if (settings.broken) throw new AppError(DELIVERY_REFUSED, `${flavor.label} refused this inbox's token (${settings.broken.reason}); connect it again`, 422)
      const conversation = to.conversationId.startsWith('admin:') ? await store.conversations.findByThread(inbox.id, to.externalThreadId) : { id: to.conversationId }
      const lastCustomerAt = conversation ? await store.messages.lastInboundAt(inbox.organizationId, conversation.id) : null
      const decision = replyWindow({ lastCustomerAt, now: now(), author: message.author === 'operator' ? 'operator' : message.author === 'system' ? 'system' : 'agent', humanAgentAllowed: deps.humanAgent })
      if (!decision.send) throw new AppError(DELIVERY_REFUSED, decision.reason, 422)
      let last: string | undefined
      for (const part of toMetaMessages(message, flavor.textLimit, flavor.measure)) {
        const body = {
          recipient: { id: to.externalThreadId },
          messaging_type: decision.messagingType,
          ...(decision.messagingType === 'MESSAGE_TAG' ? { tag: decision.tag } : {}),
          message: { text: part.text, ...(part.quick_replies?.length ? { quick_replies: part.quick_replies } : {}), ...(flavor.metadata ? { metadata: OWN_METADATA } : {}) },
        }
        const result = await call<{ message_id?: string }>(inbox, 'send', { method: 'POST', path: `/${settings.accountId}/messages`, body })
        if (result.message_id) {
          last = result.message_id
          await sent.add(`${inbox.id}:${result.message_id}`)
        }
      }
      return { externalMessageId: last }
    },

    async download({ attachment, maxBytes }) {
      let url: URL
      try {
        url = new URL(attachment.ref ?? '')
      } catch {
        throw new AppError('validation_failed', 'This attachment has no address', 422)
      }
      // Meta's CDN links are signed: fetched as they are, never with the token, and only from Meta's hosts.
      const allowed = (url.protocol === 'https:' && flavor.fileHosts.test(url.hostname)) || url.origin === flavor.graphOrigin
      if (!allowed || url.username || url.password) throw new AppError('validation_failed', `This attachment is not on ${flavor.label}'s servers`, 422)
      let res: Response
      try {
        res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(60_000) })
      } catch (error) {
        throw new AppError('channel_unreachable', `${flavor.label} file download failed: ${(error as Error).message}`, 502)
      }
      if (!res.ok) throw new AppError('provider_error', `${flavor.label} file download failed with HTTP ${res.status}`, 502)
      return readCapped(res, maxBytes)
    },
  }
}

/**
 * Meta's subscription check (https://developers.facebook.com/docs/graph-api/webhooks/getting-started):
 * hub.mode=subscribe and hub.verify_token equal to the expected one → 200 with hub.challenge; any
 * other → 403; undefined when the request is not one (no hub.mode).
 */
function hubChallenge(req: RawRequest, expected: string | undefined) {
  const hub = (req.query.hub ?? {}) as Record<string, unknown>
  const param = (name: string) => first(req.query[`hub.${name}`]) ?? first(hub[name])
  const mode = param('mode')
  if (mode === undefined) return undefined
  const given = param('verify_token') ?? ''
  const challenge = param('challenge') ?? ''
  // Both sides hashed to the same length: compared in constant time.
  const ok = mode === 'subscribe' && expected !== undefined && timingSafeEqual(Buffer.from(sha256(given), 'hex'), Buffer.from(sha256(expected), 'hex'))
  return ok ? { status: 200, body: challenge, contentType: 'text/plain' } : { status: 403, body: 'Forbidden', contentType: 'text/plain' }
}

const first = (v: unknown): string | undefined => (Array.isArray(v) ? (typeof v[0] === 'string' ? v[0] : undefined) : typeof v === 'string' ? v : undefined)
