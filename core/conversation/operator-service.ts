import { AppError, notFound } from '../errors.ts'
import { DELIVERY_REFUSED } from '../ports.ts'
import type { ChannelAdapter, ChannelKind, Conversation, CrmPort, Handoff, HandoffDesk, HumanReply, Inbox, Logger, Message, Notifier, Queue, Store } from '../ports.ts'
import { newId } from '../ids.ts'
import { conversationTopic } from './turn-service.ts'
import type { LiveEvents } from './live-events.ts'
import { conversationLanguage, say, type MessageKey } from '../language/index.ts'

export const HANDOFF_TIMEOUT_JOB = 'handoff.timeout'
/** In English; the customer gets it in the conversation's language (core/language/messages.ts). */
export const HANDOFF_TIMEOUT_REPLY = say('en', 'handoffTimedOut')
export type HandoffTimeoutJob = { organizationId: string; conversationId: string; handoffId: string }

/**
 * What a human operator does with a conversation: get it announced where they work, take it,
 * reply to the customer, hand it back to the bot. A handoff nobody takes in time either returns
 * the customer to the agent or pings the desk and the linked admins, as configured.
 */
export function createOperatorService(deps: {
  store: Store
  notifier: Notifier
  channels: ReadonlyMap<ChannelKind, ChannelAdapter>
  desks?: ReadonlyMap<ChannelKind, HandoffDesk>
  /** The CRM gets the transcript and a task when a conversation goes to a person. */
  crm?: Pick<CrmPort, 'handoff'>
  queue?: Queue
  logger?: Logger
  handoffTimeout?: { ms: number; action: 'resume' | 'ping' }
  /** What the admin web shows live: messages, handoffs opened, taken and released. */
  events?: LiveEvents
}) {
  const { store } = deps
  const live = deps.events

  async function load(organizationId: string, conversationId: string): Promise<{ conversation: Conversation; inbox: Inbox }> {
    const conversation = await store.conversations.get(organizationId, conversationId)
    if (!conversation) throw notFound('Conversation')
    const inbox = await store.inboxes.get(conversation.inboxId)
    if (!inbox || inbox.organizationId !== organizationId) throw new AppError('channel_unavailable', 'This conversation has no channel to reply through', 409)
    return { conversation, inbox }
  }

  /**
   * Where operators hear about this inbox's handoffs: the desk of the inbox it routes them to
   * (Inbox.deskInboxId, any channel of the organization with a desk), else its own channel's desk.
   */
  async function deskOf(inbox: Inbox): Promise<{ desk: HandoffDesk; deskInbox: Inbox } | null> {
    if (inbox.deskInboxId && inbox.deskInboxId !== inbox.id) {
      const routed = await store.inboxes.get(inbox.deskInboxId)
      const desk = routed && routed.organizationId === inbox.organizationId ? deps.desks?.get(routed.channel) : undefined
      if (routed && desk) return { desk, deskInbox: routed }
    }
    const own = deps.desks?.get(inbox.channel)
    return own ? { desk: own, deskInbox: inbox } : null
  }

  /** A built-in message in the conversation's language: the agent's fixed one, or the customer's. */
  async function systemText(conversation: Conversation, key: MessageKey): Promise<string> {
    const agent = await store.agents.get(conversation.organizationId, conversation.agentId)
    return say(conversationLanguage({ setting: agent?.language ?? 'auto', remembered: conversation.language }), key)
  }

  /** Sends a message to the customer as the business and stores it. */
  async function sendToCustomer(input: { conversation: Conversation; inbox: Inbox; text: string; author: 'operator' | 'system'; key: string }): Promise<Message> {
    const channel = deps.channels.get(input.inbox.channel)
    if (!channel) throw new AppError('channel_unavailable', 'This conversation has no channel to reply through', 409)
    const { conversation, inbox } = input
    const { message, created } = await store.messages.insertReply({ organizationId: inbox.organizationId, inboxId: inbox.id, conversationId: conversation.id, replyToId: null, externalMessageId: input.key, author: input.author, text: input.text, sources: [] })
    if (created || message.status !== 'sent') {
      try {
        await channel.send({ to: { conversationId: conversation.id, externalThreadId: conversation.externalThreadId }, message: { text: input.text, author: input.author }, inbox, sendKey: input.key })
      } catch (error) {
        // Kept in the transcript as not sent, with the reason; whoever wrote it is told (422).
        if (error instanceof AppError && error.code === DELIVERY_REFUSED) await store.messages.setStatus(inbox.organizationId, message.id, 'failed', error.message)
        throw error
      }
      await store.messages.setStatus(inbox.organizationId, message.id, 'sent')
    }
    await deps.notifier.publish(conversationTopic(conversation.id), { messageId: message.id })
    if (created) await live?.publish(inbox.organizationId, { type: 'message.created', conversationId: conversation.id, messageId: message.id, author: input.author })
    return { ...message, status: 'sent' }
  }

  /**
   * The one way a conversation goes to a person: the handoff is opened (or the open one kept) and
   * the bot stops answering. Unless `announce` is false, operators are told where they work and the
   * handoff's timer starts; a turn passes false and announces after the customer's reply is stored.
   * An operator who joins by themselves (`operatorUserId`) takes it at once: nobody needs telling.
   */
  async function openHandoff(input: { organizationId: string; conversationId: string; reason: string; operatorUserId?: string; announce?: boolean }): Promise<Handoff> {
    const existing = await store.handoffs.current(input.organizationId, input.conversationId)
    const handoff = existing ?? (await store.handoffs.open({ organizationId: input.organizationId, conversationId: input.conversationId, reason: input.reason }))
    await store.conversations.setState(input.organizationId, input.conversationId, 'handoff')
    if (!existing) await live?.publish(input.organizationId, { type: 'handoff.opened', conversationId: input.conversationId, handoffId: handoff.id, reason: input.reason })
    if (input.operatorUserId) {
      if (handoff.status === 'open' || !handoff.operatorUserId) await take({ organizationId: input.organizationId, conversationId: input.conversationId, operatorUserId: input.operatorUserId })
      return (await store.handoffs.current(input.organizationId, input.conversationId)) ?? handoff
    }
    if (!existing && input.announce !== false) await opened(input)
    return handoff
  }

  /**
   * An operator's reply sent to the customer. `operatorUserId` null: a person of the business not
   * known in Switchboard (a Kommo user whose email no member has). `key`: the reply's stored id when
   * the desk stored it first (Kommo's hooks are stored before they are acknowledged), so a retried
   * job sends it once.
   */
  async function operatorReply(input: { organizationId: string; conversationId: string; text: string; operatorUserId: string | null; key?: string }): Promise<Message> {
    const { conversation, inbox } = await load(input.organizationId, input.conversationId)
    // Only the person who holds the conversation answers; one that nobody holds yet is taken by the
    // operator who answers (also one held by a person outside Switchboard). A person not known in
    // Switchboard (a Kommo user) answers as the desk's holder.
    const current = await store.handoffs.current(input.organizationId, conversation.id)
    if (input.operatorUserId) {
      if (heldByOther(current, input.operatorUserId)) throw heldError()
      if (conversation.state !== 'handoff' || !current || current.status === 'open' || !current.operatorUserId) {
        const handoff = await openHandoff({ organizationId: input.organizationId, conversationId: conversation.id, reason: 'operator_joined', operatorUserId: input.operatorUserId })
        if (handoff.operatorUserId !== input.operatorUserId) throw heldError()
      }
    } else if (conversation.state !== 'handoff') {
      await openHandoff({ organizationId: input.organizationId, conversationId: conversation.id, reason: 'operator_joined', announce: false })
    }
    const message = await sendToCustomer({ conversation, inbox, text: input.text, author: 'operator', key: input.key ?? `operator:${newId()}` })
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.operatorUserId, action: 'conversation.operator_reply', target: conversation.id })
    return message
  }

  async function release(input: { organizationId: string; conversationId: string; operatorUserId: string | null }) {
    const conversation = await store.conversations.get(input.organizationId, input.conversationId)
    if (!conversation) throw notFound('Conversation')
    const handoff = await store.handoffs.current(input.organizationId, conversation.id)
    await store.conversations.setState(input.organizationId, conversation.id, 'bot')
    await store.handoffs.close(input.organizationId, conversation.id)
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.operatorUserId, action: 'conversation.released', target: conversation.id })
    await live?.publish(input.organizationId, { type: 'handoff.released', conversationId: conversation.id, operatorUserId: input.operatorUserId, why: 'released' })
    // The customer hears that the person has left and the assistant answers again (once per handoff).
    // A channel that refuses it now (a closed messaging window) does not undo the release.
    if (conversation.state === 'handoff' && handoff) {
      const inbox = await store.inboxes.get(conversation.inboxId)
      if (inbox && inbox.organizationId === input.organizationId) {
        await sendToCustomer({ conversation, inbox, text: await systemText(conversation, 'handoffEnded'), author: 'system', key: `handoff-ended:${handoff.id}` }).catch((error: unknown) =>
          deps.logger?.warn({ err: (error as Error).message, conversationId: conversation.id }, 'customer not told the conversation is back with the bot'),
        )
      }
    }
  }

  /** The operator takes an open handoff; false when someone else took it first. */
  async function take(input: { organizationId: string; conversationId: string; operatorUserId: string }): Promise<boolean> {
    const taken = await store.handoffs.take(input)
    if (taken) {
      await store.audit.record({ organizationId: input.organizationId, actorUserId: input.operatorUserId, action: 'conversation.taken', target: input.conversationId })
      await live?.publish(input.organizationId, { type: 'handoff.taken', conversationId: input.conversationId, operatorUserId: input.operatorUserId })
    }
    return taken
  }

  /** A handoff was opened (by the customer, the agent's tool or the plan limit): announce it where operators work and start its timer. */
  async function opened(input: { organizationId: string; conversationId: string }): Promise<void> {
    const handoff = await store.handoffs.current(input.organizationId, input.conversationId)
    if (!handoff) return
    const { conversation, inbox } = await load(input.organizationId, input.conversationId)
    const found = await deskOf(inbox)
    const transcript = found || deps.crm?.handoff ? await store.messages.history(input.organizationId, conversation.id, { limit: 30 }) : []
    if (found) {
      await found.desk.announce({ inbox: found.deskInbox, from: inbox, conversation, handoff, transcript }).catch((error: unknown) => deps.logger?.warn({ err: (error as Error).message, conversationId: conversation.id }, 'handoff not announced to operators'))
    }
    if (deps.crm?.handoff && inbox.purpose !== 'test') {
      await deps.crm.handoff({ organizationId: input.organizationId, conversationId: conversation.id, contactId: conversation.contactId, reason: handoff.reason, transcript }).catch((error: unknown) => deps.logger?.warn({ err: (error as Error).message, conversationId: conversation.id }, 'handoff not written to the CRM'))
    }
    if (deps.queue && deps.handoffTimeout) {
      await deps.queue.add(HANDOFF_TIMEOUT_JOB, { organizationId: input.organizationId, conversationId: conversation.id, handoffId: handoff.id } satisfies HandoffTimeoutJob, { delayMs: deps.handoffTimeout.ms, jobId: `handoff-timeout:${handoff.id}`, attempts: 3, backoffMs: 1000 })
    }
  }

  /** A customer wrote while a person owns the conversation: the operators see it. */
  async function customerMessage(input: { conversation: Conversation; inbox: Inbox; message: Message }): Promise<void> {
    const found = await deskOf(input.inbox)
    if (found) await found.desk.relay({ inbox: found.deskInbox, from: input.inbox, conversation: input.conversation, message: input.message })
  }

  /**
   * A person answered the customer in the service's own inbox (not through Switchboard): the reply
   * joins the transcript, and the bot steps back as if an operator had taken the conversation
   * (held by nobody in Switchboard, so any operator may still take it over or hand it back).
   */
  async function answeredElsewhere(input: { inbox: Inbox; reply: HumanReply }): Promise<void> {
    const { inbox, reply } = input
    const organizationId = inbox.organizationId
    const conversation = await store.conversations.resolve({ inbox, externalThreadId: reply.externalThreadId, externalUserId: reply.externalUserId })
    const { message, created } = await store.messages.insertReply({ organizationId, inboxId: inbox.id, conversationId: conversation.id, replyToId: null, externalMessageId: reply.externalMessageId, author: 'operator', text: reply.text, sources: [] })
    // The same echo again: already in the transcript.
    if (!created) return
    await store.messages.setStatus(organizationId, message.id, 'sent')
    const existing = await store.handoffs.current(organizationId, conversation.id)
    if (!existing) await store.handoffs.open({ organizationId, conversationId: conversation.id, reason: 'answered_elsewhere' })
    if (!existing || existing.status === 'open') await store.handoffs.take({ organizationId, conversationId: conversation.id, operatorUserId: null })
    await store.conversations.setState(organizationId, conversation.id, 'handoff')
    await store.audit.record({ organizationId, actorUserId: null, action: 'conversation.answered_elsewhere', target: conversation.id, data: { inboxId: inbox.id } })
    await deps.notifier.publish(conversationTopic(conversation.id), { messageId: message.id })
    await live?.publish(organizationId, { type: 'message.created', conversationId: conversation.id, messageId: message.id, author: 'operator' })
    if (!existing || existing.status === 'open') await live?.publish(organizationId, { type: 'handoff.taken', conversationId: conversation.id, operatorUserId: null })
    if (conversation.state !== 'handoff') {
      const found = await deskOf(inbox)
      await found?.desk
        .notice({ inbox: found.deskInbox, from: inbox, conversation, text: `A person answered this customer in ${inbox.name}'s own inbox; the bot stays silent in this conversation until it is handed back.` })
        .catch((error: unknown) => deps.logger?.warn({ err: (error as Error).message }, 'desk not told of a reply made elsewhere'))
    }
  }

  /** Nobody took the handoff in time. */
  async function timeout(job: HandoffTimeoutJob): Promise<void> {
    const handoff = await store.handoffs.get(job.organizationId, job.handoffId)
    if (!handoff || handoff.status !== 'open') return
    const { conversation, inbox } = await load(job.organizationId, job.conversationId)
    const found = await deskOf(inbox)
    const notice = (text: string) => found?.desk.notice({ inbox: found.deskInbox, from: inbox, conversation, text })
    if (deps.handoffTimeout?.action === 'ping') {
      await notice('Still waiting: nobody has taken this conversation yet.')
      const channel = deps.channels.get(inbox.channel)
      for (const admin of await store.channelAdmins.listByInbox(job.organizationId, inbox.id)) {
        const membership = await store.users.membership(admin.userId, job.organizationId)
        if (membership?.role !== 'admin' && membership?.role !== 'owner') continue
        await channel
          ?.send({ to: { conversationId: `admin:${admin.id}`, externalThreadId: admin.externalThreadId }, message: { text: 'A customer has been waiting for a person and nobody has taken the conversation yet. See /handoffs.' }, inbox, sendKey: `handoff-ping:${handoff.id}:${admin.id}` })
          .catch((error: unknown) => deps.logger?.warn({ err: (error as Error).message }, 'admin not pinged'))
      }
      await store.audit.record({ organizationId: job.organizationId, actorUserId: null, action: 'handoff.timeout_pinged', target: conversation.id })
      return
    }
    await store.handoffs.close(job.organizationId, conversation.id)
    await store.conversations.setState(job.organizationId, conversation.id, 'bot')
    await live?.publish(job.organizationId, { type: 'handoff.released', conversationId: conversation.id, operatorUserId: null, why: 'timeout' })
    await sendToCustomer({ conversation, inbox, text: await systemText(conversation, 'handoffTimedOut'), author: 'system', key: `handoff-timeout:${handoff.id}` })
    await notice('Nobody took this conversation in time: the customer is back with the bot.')?.catch(() => undefined)
    await store.audit.record({ organizationId: job.organizationId, actorUserId: null, action: 'handoff.timed_out', target: conversation.id })
  }

  return { openHandoff, operatorReply, release, take, opened, customerMessage, timeout, deskOf, answeredElsewhere, sendToCustomer }
}

/** Held by a person of Switchboard other than this operator. */
export const heldByOther = (handoff: Handoff | null, operatorUserId: string) => handoff?.status === 'taken' && Boolean(handoff.operatorUserId) && handoff.operatorUserId !== operatorUserId
const heldError = () => new AppError('held_by_other', 'Another operator holds this conversation: only they can reply, until they hand it back', 409)

export type ConversationOps = ReturnType<typeof createOperatorService>
