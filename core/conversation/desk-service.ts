import { AppError } from '../errors.ts'
import { DELIVERY_REFUSED } from '../ports.ts'
import type { ChannelKind, HandoffDesk, HumanReply, Inbox, OperatorAction, OperatorOutcome, Store } from '../ports.ts'
import { hasRole } from '../tenancy/auth-service.ts'
import type { ConversationOps } from './operator-service.ts'

/**
 * What operators do where they work, for every channel: the channel's adapter turns a button press
 * or a message at the desk into an OperatorAction once; this decides who may do it and what it
 * does, and the channel's desk tells the operator how it ended.
 */
export function createDeskService(deps: { store: Store; operators: ConversationOps; desks: ReadonlyMap<ChannelKind, HandoffDesk> }) {
  const { store, operators } = deps

  /** The linked Switchboard user behind the channel account, if they may operate (operator role or higher). */
  async function operatorOf(inbox: Inbox, externalUserId: string) {
    const linked = await store.channelAdmins.findByUser(inbox.id, externalUserId)
    if (!linked || linked.organizationId !== inbox.organizationId) return null
    const membership = await store.users.membership(linked.userId, inbox.organizationId)
    return membership && hasRole(membership, 'operator') ? membership : null
  }

  /** Whether the conversation's handoffs come to this desk (its own inbox's, or routed here). */
  async function routedHere(conversation: { organizationId: string; inboxId: string }, desk: Inbox): Promise<boolean> {
    if (conversation.organizationId !== desk.organizationId) return false
    if (conversation.inboxId === desk.id) return true
    const source = await store.inboxes.get(conversation.inboxId)
    return Boolean(source && (await operators.deskOf(source))?.deskInbox.id === desk.id)
  }

  async function decide(inbox: Inbox, action: OperatorAction, desk: HandoffDesk): Promise<{ outcome: OperatorOutcome; conversationId?: string; detail?: string }> {
    const organizationId = inbox.organizationId
    switch (action.kind) {
      case 'claim_desk': {
        const operator = await operatorOf(inbox, action.externalUserId)
        if (!operator || !hasRole(operator, 'admin')) return { outcome: 'not_admin' }
        const settings = await desk.claim({ inbox, place: action.place })
        await store.inboxes.update(organizationId, inbox.id, { settings })
        await store.audit.record({ organizationId, actorUserId: operator.userId, action: 'channel.operators_chat_set', target: inbox.id, data: { chatId: action.place } })
        return { outcome: 'desk_claimed' }
      }
      case 'take':
      case 'release': {
        const operator = await operatorOf(inbox, action.externalUserId)
        if (!operator) return { outcome: 'not_linked' }
        const conversation = await store.conversations.get(organizationId, action.conversationId)
        if (!conversation || !(await routedHere(conversation, inbox))) return { outcome: 'unknown_conversation' }
        const by = { organizationId, conversationId: conversation.id, operatorUserId: operator.userId }
        if (action.kind === 'release') {
          await operators.release(by)
          return { outcome: 'released', conversationId: conversation.id }
        }
        return { outcome: (await operators.take(by)) ? 'taken' : 'not_open', conversationId: conversation.id }
      }
      case 'release_held': {
        const operator = await operatorOf(inbox, action.externalUserId)
        if (!operator) return { outcome: 'not_linked' }
        const held: string[] = []
        for (const handoff of await store.handoffs.heldBy(organizationId, operator.userId)) {
          const conversation = await store.conversations.get(organizationId, handoff.conversationId)
          if (conversation && (await routedHere(conversation, inbox))) held.push(conversation.id)
        }
        if (held.length !== 1) return { outcome: held.length ? 'several_held' : 'none_held' }
        await operators.release({ organizationId, conversationId: held[0]!, operatorUserId: operator.userId })
        return { outcome: 'released', conversationId: held[0]! }
      }
      case 'reply': {
        // Only a reply to one of the desk's own posts reaches a conversation.
        const target = await store.handoffs.findPost(inbox.id, action.postId)
        if (!target || target.organizationId !== organizationId) return { outcome: 'ignored' }
        const operator = await operatorOf(inbox, action.externalUserId)
        if (!operator) return { outcome: 'not_linked' }
        const by = { organizationId, conversationId: target.conversationId, operatorUserId: operator.userId }
        if (action.release) {
          await operators.release(by)
          return { outcome: 'released', conversationId: target.conversationId }
        }
        if (!action.text) return { outcome: 'ignored' }
        const handoff = await store.handoffs.current(organizationId, target.conversationId)
        if (handoff?.status === 'taken' && handoff.operatorUserId && handoff.operatorUserId !== operator.userId) return { outcome: 'taken_by_other', conversationId: target.conversationId }
        // Open, or held by a person outside Switchboard: the operator who answers takes it.
        if (handoff && (handoff.status === 'open' || !handoff.operatorUserId)) await operators.take(by)
        try {
          await operators.operatorReply({ ...by, text: action.text })
        } catch (error) {
          if (error instanceof AppError && error.code === DELIVERY_REFUSED) return { outcome: 'not_delivered', conversationId: target.conversationId, detail: error.message }
          throw error
        }
        return { outcome: 'replied', conversationId: target.conversationId }
      }
    }
  }

  /** Carries out an operator's action and answers them where they acted. */
  async function handle(inbox: Inbox, action: OperatorAction): Promise<OperatorOutcome> {
    const desk = deps.desks.get(inbox.channel)
    if (!desk) return 'ignored'
    const { outcome, conversationId, detail } = await decide(inbox, action, desk)
    await desk.answer({ inbox, action, outcome, ...(conversationId ? { conversationId } : {}), ...(detail ? { detail } : {}) })
    return outcome
  }

  /** A person of the business answered in the service's own inbox. */
  const humanReply = (inbox: Inbox, reply: HumanReply) => operators.answeredElsewhere({ inbox, reply })

  return { handle, humanReply }
}

export type DeskService = ReturnType<typeof createDeskService>
