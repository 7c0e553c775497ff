import { AppError, notFound } from '../errors.ts'
import type { ChannelAdapter, ChannelKind, Message, Notifier, Store } from '../ports.ts'
import { newId } from '../ids.ts'
import { conversationTopic } from './turn-service.ts'

/** What a human operator does with a conversation: reply to the customer, hand it back to the bot. */
export function createOperatorService(deps: { store: Store; notifier: Notifier; channels: Map<ChannelKind, ChannelAdapter> }) {
  const { store } = deps

  async function operatorReply(input: { organizationId: string; conversationId: string; text: string; operatorUserId: string }): Promise<Message> {
    const conversation = await store.conversations.get(input.organizationId, input.conversationId)
    if (!conversation) throw notFound('Conversation')
    const inbox = await store.inboxes.get(conversation.inboxId)
    const channel = inbox && deps.channels.get(inbox.channel)
    if (!inbox || !channel) throw new AppError('channel_unavailable', 'This conversation has no channel to reply through', 409)
    if (conversation.state !== 'handoff') {
      await store.conversations.setState(input.organizationId, conversation.id, 'handoff')
      await store.handoffs.open({ organizationId: input.organizationId, conversationId: conversation.id, reason: 'operator_joined' })
    }
    const key = `operator:${newId()}`
    const { message } = await store.messages.insertReply({ organizationId: input.organizationId, inboxId: inbox.id, conversationId: conversation.id, replyToId: null, externalMessageId: key, author: 'operator', text: input.text, sources: [] })
    await channel.send({ to: { conversationId: conversation.id, externalThreadId: conversation.externalThreadId }, message: { text: input.text }, inbox, sendKey: key })
    await store.messages.setStatus(input.organizationId, message.id, 'sent')
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.operatorUserId, action: 'conversation.operator_reply', target: conversation.id })
    await deps.notifier.publish(conversationTopic(conversation.id), { messageId: message.id })
    return { ...message, status: 'sent' }
  }

  async function release(input: { organizationId: string; conversationId: string; operatorUserId: string }) {
    const conversation = await store.conversations.get(input.organizationId, input.conversationId)
    if (!conversation) throw notFound('Conversation')
    await store.conversations.setState(input.organizationId, conversation.id, 'bot')
    await store.handoffs.close(input.organizationId, conversation.id)
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.operatorUserId, action: 'conversation.released', target: conversation.id })
  }

  /** The operator takes an open handoff; false when someone else took it first. */
  async function take(input: { organizationId: string; conversationId: string; operatorUserId: string }): Promise<boolean> {
    const taken = await store.handoffs.take(input)
    if (taken) await store.audit.record({ organizationId: input.organizationId, actorUserId: input.operatorUserId, action: 'conversation.taken', target: input.conversationId })
    return taken
  }

  return { operatorReply, release, take }
}

export type ConversationOps = ReturnType<typeof createOperatorService>
