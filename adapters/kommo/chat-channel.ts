import { createHash } from 'node:crypto'
import { z } from 'zod'
import { blankToUndefined } from '../../core/config/index.ts'
import { AppError } from '../../core/errors.ts'
import { DELIVERY_REFUSED } from '../../core/ports.ts'
import type { ChannelAdapter, Conversation, HandoffDesk, Inbox, JobContext, Message } from '../../core/ports.ts'
import type { Channel, ChannelDeps } from '../channel-module.ts'
import { defineChannel } from '../channel-module.ts'
import { splitText } from '../meta/format.ts'
import { createAmojoClient, type AmojoClient, type AmojoNewMessage, type AmojoUser } from './chat-client.ts'
import { attachmentsOf, ids, operatorText, parseChatHook } from './chat-hook.ts'
import { hookSignatureValid } from './chat-signature.ts'

/*
 * Kommo's chats (the Chats API, "amojo") as a channel of Switchboard: one inbox per organization,
 * connected to the Kommo account the organization's CRM connection reaches. Two uses:
 *
 * 1. Kommo as the operators' desk for every channel: an inbox of any channel whose handoffs are
 *    routed to this inbox (Inbox.deskInboxId) has its conversation imported into a Kommo chat when it
 *    is handed to a person (customer messages as the client's, the agent's as the channel bot's),
 *    and the customer's further messages follow. A Kommo user's reply there comes back as a hook,
 *    is stored at once and sent to the customer on their own channel by a job; the conversation is
 *    then held (by the Switchboard member with the same email, else by a person outside
 *    Switchboard) and the bot stays silent until `/bot` is written in the chat, the lead moves to
 *    the chosen "bot" stage, or no operator has written for the chosen number of minutes.
 * 2. Kommo as a customer channel: a message written in a chat of the channel that mirrors no
 *    Switchboard conversation is a question to this inbox's agent; the answer is imported into the
 *    same chat as the channel bot's message.
 *
 * Hooks go to POST /webhooks/kommo/{scope_id} (the address registered with Kommo for the channel,
 * https://host/webhooks/kommo/:scope_id) or /webhooks/kommo/{inboxId}.
 */

export const KOMMO_CHAT_OPERATOR_JOB = 'kommo.chat_operator'
export const KOMMO_CHAT_SILENCE_JOB = 'kommo.chat_silence'
export const KOMMO_CHAT_RELEASE_JOB = 'kommo.chat_release'
/** What the customer is told when the operator went silent for longer than the inbox allows. */
export const SILENCE_REPLY = 'Our team member has stepped away. I am back and happy to help; write "talk to a person" if you need them again.'
/** Kommo documents no length limit for a chat message: answers are split at 4,000 characters, as the messengers its chats show. */
const TEXT_LIMIT = 4000

export const kommoChatConfig = z.object({
  /** The channel's id from Kommo's channel registration. */
  KOMMO_CHANNEL_ID: z.preprocess(blankToUndefined, z.string().trim().max(100).optional()),
  /** The channel's secret from Kommo's channel registration: signs requests to amojo and Kommo's hooks. */
  KOMMO_CHANNEL_SECRET: z.preprocess(blankToUndefined, z.string().trim().max(200).optional()),
  /** The channel bot's id in the Chats API (registration: bot.id): the sender of the agent's messages. */
  KOMMO_CHANNEL_BOT_ID: z.preprocess(blankToUndefined, z.string().trim().max(100).optional()),
  /** The Chats API; a local fake in tests. */
  KOMMO_CHATS_URL: z.preprocess(blankToUndefined, z.string().trim().regex(/^https?:\/\//, 'expected a URL starting with http:// or https://').default('https://amojo.kommo.com')),
})
type KommoChatConfig = z.infer<typeof kommoChatConfig>

/** The inbox's settings: the connection to the account's chats, and how operators give a conversation back. */
export const kommoChatSettings = z.object({
  scopeId: z.string().min(1),
  amojoAccountId: z.string().min(1),
  subdomain: z.string().optional(),
  title: z.string().default('Switchboard'),
  /** Minutes without an operator's message after which the bot answers again; 0 = never by time. */
  silenceMinutes: z.number().int().min(0).max(7 * 24 * 60).default(30),
  /** The Kommo stage (status id) that hands the customer's conversations back to the bot; null = none. */
  botStatusId: z.number().int().positive().nullable().default(null),
})
export type KommoChatSettings = z.infer<typeof kommoChatSettings>

const connectBody = z
  .object({
    title: z.string().trim().min(1).max(100).optional(),
    silenceMinutes: z.number().int().min(0).max(7 * 24 * 60).optional(),
    botStatusId: z.number().int().positive().nullable().optional(),
  })
  .strict()

const amojoAccount = z.looseObject({ amojo_id: z.string().min(1).optional() })
const usersWithAmojo = z.looseObject({ _embedded: z.looseObject({ users: z.array(z.looseObject({ id: z.number(), name: z.string(), email: z.string().nullish(), amojo_id: z.string().nullish() })) }) })
const operatorJob = z.object({ organizationId: z.string().min(1), messageId: z.string().min(1), deskInboxId: z.string().min(1), kommoUserId: z.string().min(1), kommoMessageId: z.string().min(1) })
const silenceJob = z.object({ organizationId: z.string().min(1), conversationId: z.string().min(1), messageId: z.string().min(1), deskInboxId: z.string().min(1) })
const releaseJob = z.object({ organizationId: z.string().min(1), conversationId: z.string().min(1), deskInboxId: z.string().min(1), kommoUserId: z.string().min(1) })

export const settingsOf = (inbox: Inbox): KommoChatSettings | null => {
  const parsed = kommoChatSettings.safeParse(inbox.settings)
  return parsed.success ? parsed.data : null
}

export const kommo = defineChannel({
  kind: 'kommo',
  label: 'Kommo chats',
  config: kommoChatConfig,
  connect: connectBody,
  create: (deps) => createKommoChatChannel(deps),
})

export function createKommoChatChannel(deps: ChannelDeps<KommoChatConfig>): Channel<z.infer<typeof connectBody>> {
  const { store, config, logger } = deps
  const configured = Boolean(config.KOMMO_CHANNEL_ID && config.KOMMO_CHANNEL_SECRET)
  const amojo: AmojoClient | null = configured ? createAmojoClient({ baseUrl: config.KOMMO_CHATS_URL, channelId: config.KOMMO_CHANNEL_ID!, secret: config.KOMMO_CHANNEL_SECRET!, logger, ...(deps.sleep ? { sleep: deps.sleep } : {}) }) : null
  const need = () => {
    if (!amojo) throw new AppError('channel_unavailable', 'Kommo chats need KOMMO_CHANNEL_ID and KOMMO_CHANNEL_SECRET (from Kommo’s channel registration)', 409)
    return amojo
  }
  const settingsFor = (inbox: Inbox): KommoChatSettings => {
    const s = settingsOf(inbox)
    if (!s) throw new AppError('channel_unavailable', 'This Kommo chats inbox has no connection; connect it again', 409)
    return s
  }
  const hookPath = (scopeId: string) => `/webhooks/kommo/${scopeId}`
  const publicBase = deps.publicUrl?.replace(/\/+$/, '')
  /** The bot, as the sender of the agent's messages (ref_id: the bot's id in the Chats API, from the registration). */
  const botUser = (name: string): AmojoUser => ({ id: ids.bot, ...(config.KOMMO_CHANNEL_BOT_ID ? { ref_id: config.KOMMO_CHANNEL_BOT_ID } : {}), name })

  /** The customer as a participant of the chat: their name, and the phone and email the agent remembered. */
  async function clientOf(organizationId: string, contactId: string): Promise<AmojoUser> {
    const contact = deps.crm ? await deps.crm.db.prisma.contact.findFirst({ where: { id: contactId, organizationId }, select: { name: true } }) : null
    const facts = deps.crm ? await deps.crm.memory.list(organizationId, contactId) : []
    const fact = (key: string) => facts.find((f) => f.key === key)?.value
    const phone = fact('phone')
    const email = fact('email')
    return { id: ids.client(contactId), name: fact('name') ?? contact?.name ?? 'Customer', ...(phone || email ? { profile: { ...(phone ? { phone } : {}), ...(email ? { email } : {}) } } : {}) }
  }

  const payloadAt = (at: Date) => ({ timestamp: Math.floor(at.getTime() / 1000), msec_timestamp: at.getTime() })
  const textOf = (m: Message) => m.text || (m.attachments.length ? `[${m.attachments.map((a) => a.name ?? a.kind).join(', ')}]` : '')

  /** Imports a Switchboard message into the conversation's Kommo chat once (its msgid is derived from its id; a chat post remembers it). */
  async function importMessage(input: { desk: Inbox; conversation: Conversation; message: Message; silent: boolean; agentName: string }): Promise<void> {
    const { desk, conversation, message } = input
    const msgid = ids.message(message.id)
    if (await store.handoffs.findPost(desk.id, msgid)) return
    const s = settingsFor(desk)
    const client = await clientOf(conversation.organizationId, conversation.contactId)
    const fromCustomer = message.author === 'contact'
    const text = textOf(message)
    if (!text) return
    const payload: AmojoNewMessage = {
      ...payloadAt(message.createdAt),
      msgid,
      conversation_id: ids.chat(conversation.id),
      sender: fromCustomer ? client : botUser(message.author === 'operator' ? 'Operator' : input.agentName),
      ...(fromCustomer ? {} : { receiver: client }),
      message: { type: 'text', text: text.slice(0, TEXT_LIMIT) },
      silent: input.silent,
    }
    await need().send({ scopeId: s.scopeId, payload })
    await store.handoffs.addPost({ organizationId: desk.organizationId, inboxId: desk.id, conversationId: conversation.id, externalMessageId: msgid })
  }

  /** A line from the bot into the chat (the handoff's reason, the bot coming back): shown to operators, never to the customer. */
  async function botLine(input: { desk: Inbox; conversation: Conversation; text: string; key: string; silent?: boolean }) {
    const s = settingsFor(input.desk)
    const client = await clientOf(input.conversation.organizationId, input.conversation.contactId)
    const msgid = `sb-note-${createHash('sha1').update(input.key).digest('hex').slice(0, 32)}`
    await need().send({ scopeId: s.scopeId, payload: { ...payloadAt(new Date()), msgid, conversation_id: ids.chat(input.conversation.id), sender: botUser('Switchboard'), receiver: client, message: { type: 'text', text: input.text }, silent: input.silent ?? true } })
  }

  const agentNameOf = async (conversation: Conversation) => (await store.agents.get(conversation.organizationId, conversation.agentId))?.name ?? 'Bot'

  const desk: HandoffDesk = {
    ready: (inbox) => Boolean(settingsOf(inbox)),
    place: (inbox) => settingsOf(inbox)?.scopeId ?? null,
    async announce({ inbox, conversation, handoff, transcript }) {
      if (!settingsOf(inbox) || !amojo) return false
      const agentName = await agentNameOf(conversation)
      // The transcript, oldest first; all but the last imported silently (one notification, one incoming lead).
      for (const message of transcript) await importMessage({ desk: inbox, conversation, message, silent: true, agentName })
      await botLine({ desk: inbox, conversation, text: `A customer wants a person (${handoff.reason.replace(/_/g, ' ')}). Answer here: your replies reach them on their channel. Write /bot to hand the conversation back to the bot.`, key: `handoff:${handoff.id}`, silent: false })
      return true
    },
    async relay({ inbox, conversation, message }) {
      if (!settingsOf(inbox)) return
      await importMessage({ desk: inbox, conversation, message, silent: false, agentName: await agentNameOf(conversation) })
    },
    async notice({ inbox, conversation, text }) {
      if (!settingsOf(inbox)) return
      await botLine({ desk: inbox, conversation, text, key: `notice:${conversation.id}:${text}:${Date.now()}` })
    },
    // Kommo users act through the chat's hooks (handled by this channel's jobs), never through the desk service.
    async answer() {},
    async claim({ inbox }) {
      return inbox.settings
    },
  }

  /** The Kommo user behind a chat message, as a Switchboard member with the same email who may operate; null when none. */
  const usersCache = new Map<string, { until: number; users: { amojoId: string; email: string | null; name: string }[] }>()
  async function operatorOf(organizationId: string, kommoUserId: string): Promise<{ userId: string | null; name: string | null }> {
    if (!deps.crm) return { userId: null, name: null }
    let cached = usersCache.get(organizationId)
    if (!cached || cached.until < Date.now()) {
      const client = await deps.crm.kommo.client(organizationId)
      const answer = client ? await client.request({ method: 'GET', path: '/api/v4/users', query: { with: 'amojo_id', limit: '250' }, schema: usersWithAmojo }).catch(() => null) : null
      cached = { until: Date.now() + 5 * 60_000, users: (answer?._embedded.users ?? []).filter((u) => u.amojo_id).map((u) => ({ amojoId: u.amojo_id!, email: u.email ?? null, name: u.name })) }
      usersCache.set(organizationId, cached)
    }
    const user = cached.users.find((u) => u.amojoId === kommoUserId)
    if (!user?.email) return { userId: null, name: user?.name ?? null }
    const member = await store.users.findByEmail(user.email.trim().toLowerCase())
    const membership = member ? await store.users.membership(member.id, organizationId) : null
    const may = membership && (membership.role === 'operator' || membership.role === 'admin' || membership.role === 'owner')
    return { userId: may ? member!.id : null, name: user.name }
  }

  /** The conversation is held by this operator (or by a person outside Switchboard), and the bot is silent. */
  async function hold(organizationId: string, conversationId: string, operatorUserId: string | null) {
    const current = await store.handoffs.current(organizationId, conversationId)
    if (!current) await store.handoffs.open({ organizationId, conversationId, reason: 'operator_joined' })
    const handoff = await store.handoffs.current(organizationId, conversationId)
    if (handoff && (handoff.status === 'open' || (!handoff.operatorUserId && operatorUserId))) {
      if (operatorUserId && deps.operators) await deps.operators.take({ organizationId, conversationId, operatorUserId })
      else await store.handoffs.take({ organizationId, conversationId, operatorUserId })
    }
    await store.conversations.setState(organizationId, conversationId, 'handoff')
  }

  async function deliveryStatus(desk: Inbox, msgid: string, status: 1 | -1, error?: string) {
    const s = settingsOf(desk)
    if (!s || !amojo) return
    await amojo.deliveryStatus({ scopeId: s.scopeId, msgid, status, ...(status === -1 ? { errorCode: 905, error: (error ?? 'Not delivered').slice(0, 500) } : {}) }).catch((err: unknown) => logger.warn({ err: (err as Error).message, inboxId: desk.id }, 'Kommo chats: delivery status not reported'))
  }

  async function backToBot(input: { organizationId: string; conversationId: string; desk: Inbox; why: string; operatorUserId: string | null }) {
    if (!deps.operators) return
    await deps.operators.release({ organizationId: input.organizationId, conversationId: input.conversationId, operatorUserId: input.operatorUserId })
    const conversation = await store.conversations.get(input.organizationId, input.conversationId)
    if (conversation) await botLine({ desk: input.desk, conversation, text: `The bot answers this customer again (${input.why}).`, key: `back:${input.conversationId}:${Date.now()}` }).catch(() => undefined)
  }

  const jobs: Record<string, (data: unknown, ctx: JobContext) => Promise<void>> = {
    /** An operator's message stored by the hook: the conversation held, the message sent to the customer once, Kommo told how it went. */
    async [KOMMO_CHAT_OPERATOR_JOB](data, ctx) {
      const job = operatorJob.parse(data)
      const desk = await store.inboxes.get(job.deskInboxId)
      const message = await store.messages.get(job.organizationId, job.messageId)
      if (!desk || desk.organizationId !== job.organizationId || !message || message.status === 'sent' || message.status === 'failed') return
      const operator = await operatorOf(job.organizationId, job.kommoUserId)
      await hold(job.organizationId, message.conversationId, operator.userId)
      try {
        await deps.operators!.operatorReply({ organizationId: job.organizationId, conversationId: message.conversationId, text: message.text, operatorUserId: operator.userId, key: message.externalMessageId })
      } catch (error) {
        const lasting = error instanceof AppError && (error.code === DELIVERY_REFUSED || error.status < 500)
        if (!lasting && ctx.attempt < ctx.maxAttempts) throw error
        await store.messages.setStatus(job.organizationId, message.id, 'failed', (error as Error).message.slice(0, 500))
        await deliveryStatus(desk, job.kommoMessageId, -1, (error as Error).message)
        logger.warn({ conversationId: message.conversationId, err: (error as Error).message }, 'Kommo chats: an operator’s message did not reach the customer')
        return
      }
      await deliveryStatus(desk, job.kommoMessageId, 1)
      const s = settingsOf(desk)
      if (s?.silenceMinutes && deps.queue) {
        await deps.queue.add(KOMMO_CHAT_SILENCE_JOB, { organizationId: job.organizationId, conversationId: message.conversationId, messageId: message.id, deskInboxId: desk.id }, { delayMs: s.silenceMinutes * 60_000, jobId: `${KOMMO_CHAT_SILENCE_JOB}:${message.id}`, attempts: 3, backoffMs: 5_000 })
      }
    },

    /** The silence timer of one operator message: when no operator wrote since and the conversation is still held, the bot answers again. */
    async [KOMMO_CHAT_SILENCE_JOB](data) {
      const job = silenceJob.parse(data)
      const desk = await store.inboxes.get(job.deskInboxId)
      const conversation = await store.conversations.get(job.organizationId, job.conversationId)
      if (!desk || !conversation || conversation.state !== 'handoff') return
      const recent = await store.messages.history(job.organizationId, conversation.id, { limit: 200 })
      const lastOperator = recent.filter((m) => m.author === 'operator').at(-1)
      if (lastOperator && lastOperator.id !== job.messageId) return
      await backToBot({ organizationId: job.organizationId, conversationId: conversation.id, desk, why: `no operator message for ${settingsOf(desk)?.silenceMinutes ?? '?'} minutes`, operatorUserId: null })
      const inbox = await store.inboxes.get(conversation.inboxId)
      if (inbox && deps.operators) await deps.operators.sendToCustomer({ conversation: { ...conversation, state: 'bot' }, inbox, text: SILENCE_REPLY, author: 'system', key: `kommo-silence:${job.messageId}` })
      await store.audit.record({ organizationId: job.organizationId, actorUserId: null, action: 'conversation.operator_silent', target: conversation.id, data: { deskInboxId: desk.id } })
    },

    /** `/bot` written in the chat. */
    async [KOMMO_CHAT_RELEASE_JOB](data) {
      const job = releaseJob.parse(data)
      const desk = await store.inboxes.get(job.deskInboxId)
      const conversation = await store.conversations.get(job.organizationId, job.conversationId)
      if (!desk || !conversation || conversation.state !== 'handoff') return
      const operator = await operatorOf(job.organizationId, job.kommoUserId)
      await backToBot({ organizationId: job.organizationId, conversationId: conversation.id, desk, why: `${operator.name ?? 'an operator'} wrote /bot`, operatorUserId: operator.userId })
    },
  }

  /** Every Kommo chats inbox by its scope (few: one per organization). */
  async function inboxOfScope(scopeId: string): Promise<Inbox | null> {
    if (!/^[\w-]{1,200}$/.test(scopeId)) return null
    return (await store.inboxes.listByChannel('kommo')).find((i) => settingsOf(i)?.scopeId === scopeId) ?? null
  }

  /**
   * A hook, once checked: an operator's message in a chat that mirrors a conversation of another
   * channel is stored (as the operator's reply, not sent yet) and queued, or `/bot` is queued; no
   * event goes to the ingress. A message in any other chat of the scope is a customer's message to
   * this inbox's agent. Nothing here waits for Kommo, the customer's channel or a model.
   */
  async function normalize(body: unknown, inbox: Inbox) {
    const hook = parseChatHook(body)
    const s = settingsFor(inbox)
    if (hook.account_id !== s.amojoAccountId) throw new AppError('invalid_payload', 'The hook is for another Kommo account than this connection', 400)
    const m = hook.message
    const mirrored = ids.conversationOf(m.conversation.client_id)
    if (mirrored) {
      const conversation = await store.conversations.get(inbox.organizationId, mirrored)
      if (!conversation) {
        logger.info({ inboxId: inbox.id }, 'Kommo chats: a message in a chat of no conversation here; ignored')
        return []
      }
      if (!deps.queue || !deps.operators) throw new AppError('channel_unavailable', 'Kommo chats cannot act on operators’ messages in this process', 503)
      if (/^\/bot\b/i.test(m.message.text?.trim() ?? '')) {
        await deps.queue.add(KOMMO_CHAT_RELEASE_JOB, { organizationId: inbox.organizationId, conversationId: conversation.id, deskInboxId: inbox.id, kommoUserId: m.sender.id }, { jobId: `${KOMMO_CHAT_RELEASE_JOB}:${m.message.id}`, groupKey: conversation.id, attempts: 3, backoffMs: 1000 })
        return []
      }
      const text = operatorText(hook)
      if (!text) return []
      const { message, created } = await store.messages.insertReply({ organizationId: inbox.organizationId, inboxId: conversation.inboxId, conversationId: conversation.id, replyToId: null, externalMessageId: `kommo:${m.message.id}`, author: 'operator', text, sources: [], meta: { externalUserId: m.sender.id } })
      if (created) {
        // Remembered as imported: the same message is never sent back into Kommo.
        await store.handoffs.addPost({ organizationId: inbox.organizationId, inboxId: inbox.id, conversationId: conversation.id, externalMessageId: ids.message(message.id) })
        await deps.queue.add(KOMMO_CHAT_OPERATOR_JOB, { organizationId: inbox.organizationId, messageId: message.id, deskInboxId: inbox.id, kommoUserId: m.sender.id, kommoMessageId: m.message.id }, { jobId: `${KOMMO_CHAT_OPERATOR_JOB}:${message.id}`, groupKey: conversation.id, attempts: 5, backoffMs: 2000 })
      }
      return []
    }
    // A chat of the scope that is no Switchboard conversation: a question to this inbox's agent.
    return [
      {
        type: 'message' as const,
        message: {
          inboxId: inbox.id,
          externalThreadId: m.conversation.id,
          externalMessageId: m.message.id,
          externalUserId: m.receiver.id,
          userName: m.receiver.email || m.receiver.phone || 'Kommo client',
          text: m.message.text ?? '',
          attachments: attachmentsOf(hook),
          privateThread: true,
          replyContext: { receiverId: m.receiver.id, kommoConversationId: m.conversation.id, ...(m.receiver.phone ? { phone: m.receiver.phone } : {}), ...(m.receiver.email ? { email: m.receiver.email } : {}), ...(m.message.media_group_id ? { mediaGroupId: m.message.media_group_id } : {}) },
          receivedAt: new Date(m.msec_timestamp ?? m.timestamp * 1000),
          raw: hook,
        },
      },
    ]
  }

  /** The chat's client, for an answer in a customer chat: from the message answered, else the conversation's last one. */
  async function receiverFor(inbox: Inbox, to: { conversationId: string; replyContext?: Record<string, string> }): Promise<Record<string, string> | null> {
    if (to.replyContext?.receiverId) return to.replyContext
    const recent = await store.messages.history(inbox.organizationId, to.conversationId, { limit: 50 })
    return recent.filter((x) => x.direction === 'in' && x.meta.replyContext?.receiverId).at(-1)?.meta.replyContext ?? null
  }

  const adapter: ChannelAdapter = {
    kind: 'kommo',
    maxMessageLength: TEXT_LIMIT,
    verify: (req) => hookSignatureValid({ secret: config.KOMMO_CHANNEL_SECRET, rawBody: req.rawBody, signature: req.headers['x-signature'] }),
    async locateKey(key, req) {
      if (!hookSignatureValid({ secret: config.KOMMO_CHANNEL_SECRET, rawBody: req.rawBody, signature: req.headers['x-signature'] })) return 'unauthorized'
      return inboxOfScope(key)
    },
    normalize,
    /** Kommo is told the message reached Switchboard (delivered); failures only logged. */
    async acknowledge({ inbox, event }) {
      if (event.type === 'message') await deliveryStatus(inbox, event.message.externalMessageId, 1)
    },
    /** The agent's answer in a customer chat of Kommo: the channel bot's message, its msgid derived from the send key (a retry imports nothing twice). */
    async send({ to, message, inbox, sendKey }) {
      const s = settingsFor(inbox)
      const receiver = await receiverFor(inbox, to)
      if (!receiver) throw new AppError(DELIVERY_REFUSED, 'No Kommo chat client to answer in this conversation', 422)
      const msgid = `sb-${createHash('sha1').update(sendKey).digest('hex').slice(0, 32)}`
      const agent = await store.agents.get(inbox.organizationId, inbox.agentId)
      const profile = receiver.phone || receiver.email ? { profile: { ...(receiver.phone ? { phone: receiver.phone } : {}), ...(receiver.email ? { email: receiver.email } : {}) } } : {}
      const text = [message.text, ...(message.sources?.length ? [`Sources: ${message.sources.map((x) => x.title).join('; ')}`] : [])].join('\n\n')
      const chatClient = { id: `sb-k-${receiver.receiverId}`, ref_id: receiver.receiverId!, name: 'Client', ...profile }
      // A long answer goes as several messages, each with its own msgid derived from the send key.
      let last: string | undefined
      for (const [i, part] of splitText(text, TEXT_LIMIT).entries()) {
        const payload: AmojoNewMessage & { conversation_ref_id: string } = {
          ...payloadAt(new Date()),
          msgid: i ? `${msgid}-${i}` : msgid,
          conversation_id: `sb-k-${to.externalThreadId}`,
          conversation_ref_id: to.externalThreadId,
          sender: botUser(agent?.name ?? 'Bot'),
          receiver: chatClient,
          message: { type: 'text', text: part },
          silent: false,
        }
        last = (await need().send({ scopeId: s.scopeId, payload })).msgid ?? msgid
      }
      return { externalMessageId: last ?? msgid }
    },
  }

  async function accountOf(organizationId: string): Promise<{ amojoId: string; subdomain: string }> {
    if (!deps.crm) throw new AppError('channel_unavailable', 'Kommo chats need the Kommo CRM', 409)
    const state = await deps.crm.kommo.get(organizationId)
    if (!state.connected) throw new AppError('validation_failed', 'Connect Kommo on the CRM page first: its chats are the same account’s', 409)
    if (state.status !== 'active') throw new AppError('validation_failed', `The Kommo connection is ${state.status}: ${state.statusReason ?? 'connect it again'}`, 409)
    const client = await deps.crm.kommo.client(organizationId)
    const account = client ? await client.request({ method: 'GET', path: '/api/v4/account', query: { with: 'amojo_id' }, schema: amojoAccount }) : null
    if (!account?.amojo_id) throw new AppError('provider_error', 'Kommo did not give the account’s chats id (amojo_id)', 502)
    return { amojoId: account.amojo_id, subdomain: state.subdomain }
  }

  return {
    adapter,
    desk,
    jobs,
    offers: () => ({ configured, hookUrl: publicBase ? `${publicBase}/webhooks/kommo/:scope_id` : null }),

    /** Connects the channel to the organization's Kommo account (again after a reinstall: a new scope_id); one inbox per organization. */
    async connect({ organizationId, agent, input }) {
      const client = need()
      const existing = (await store.inboxes.listByOrganization(organizationId)).find((i) => i.channel === 'kommo')
      if (existing && existing.agentId !== agent.id) throw new AppError('conflict', 'Kommo chats are connected to another agent of this organization; disconnect them there first', 409)
      const { amojoId, subdomain } = await accountOf(organizationId)
      const previous = existing ? settingsOf(existing) : null
      const title = input.title ?? previous?.title ?? 'Switchboard'
      const { scopeId } = await client.connect({ accountId: amojoId, title })
      const settings: KommoChatSettings = { scopeId, amojoAccountId: amojoId, subdomain, title, silenceMinutes: input.silenceMinutes ?? previous?.silenceMinutes ?? 30, botStatusId: input.botStatusId === undefined ? (previous?.botStatusId ?? null) : input.botStatusId }
      logger.info({ organizationId, subdomain }, 'Kommo chats connected')
      if (existing) return (await store.inboxes.update(organizationId, existing.id, { settings, name: `Kommo chats (${subdomain})` }))!
      await deps.checkChannelCap(organizationId)
      return store.inboxes.create({ organizationId, agentId: agent.id, channel: 'kommo', name: `Kommo chats (${subdomain})`, publicKey: null, settings })
    },

    async disconnect({ inbox }) {
      const s = settingsOf(inbox)
      if (!s || !amojo) return s ? { warning: 'KOMMO_CHANNEL_ID and KOMMO_CHANNEL_SECRET are not set: disconnect the channel in Kommo' } : {}
      try {
        await amojo.disconnect({ accountId: s.amojoAccountId })
        return {}
      } catch (error) {
        return { warning: `Kommo did not disconnect the chats (${(error as Error).message}); disconnect the channel in Kommo → Settings → Integrations` }
      }
    },

    summary(inbox) {
      const s = settingsOf(inbox)
      return {
        inboxId: inbox.id,
        kind: 'kommo',
        agentId: inbox.agentId,
        name: inbox.name,
        purpose: inbox.purpose,
        mode: 'webhook',
        webhookUrl: s && publicBase ? `${publicBase}${hookPath(s.scopeId)}` : null,
        details: s ? { scopeId: s.scopeId, subdomain: s.subdomain ?? null, title: s.title, silenceMinutes: s.silenceMinutes, botStatusId: s.botStatusId, botConfigured: Boolean(config.KOMMO_CHANNEL_BOT_ID) } : {},
      }
    },
  }
}

/**
 * A mirrored lead moved in Kommo (the CRM's webhooks): when it moved to the stage an organization's
 * Kommo chats hand back on, the customer's conversations held by a person go back to the bot.
 */
export async function resumeOnStage(deps: Pick<ChannelDeps<unknown>, 'store' | 'operators' | 'logger'> & { db: NonNullable<ChannelDeps<unknown>['crm']>['db'] }, event: { organizationId: string; contactId: string; statusId: number }): Promise<number> {
  const chats = (await deps.store.inboxes.listByOrganization(event.organizationId)).filter((i) => i.channel === 'kommo' && settingsOf(i)?.botStatusId === event.statusId)
  if (!chats.length || !deps.operators) return 0
  const held = await deps.db.prisma.conversation.findMany({ where: { organizationId: event.organizationId, contactId: event.contactId, state: 'handoff' }, select: { id: true } })
  for (const c of held) await deps.operators.release({ organizationId: event.organizationId, conversationId: c.id, operatorUserId: null })
  if (held.length) deps.logger.info({ organizationId: event.organizationId, conversations: held.length }, 'Kommo: the lead moved to the bot stage; conversations back with the bot')
  return held.length
}
