import { notFound } from '../errors.ts'
import type { ContactMemory, ConversationDirectory, Store } from '../ports.ts'
import { requireRole, type Principal } from '../tenancy/auth-service.ts'
import type { LiveEvents } from './live-events.ts'

/**
 * A contact as operators see them beside a conversation: who they are, what the agent remembers,
 * their leads with notes and tasks; and the erasure a data-protection request asks for.
 */
export function createContactService(deps: { store: Store; directory: ConversationDirectory; memory: ContactMemory; events?: LiveEvents }) {
  const { store, directory, memory } = deps

  async function profile(principal: Principal, contactId: string) {
    const found = await directory.contactProfile(principal.organizationId, contactId)
    if (!found) throw notFound('Contact')
    const facts = await memory.list(principal.organizationId, contactId)
    return { ...found, facts }
  }

  /** An admin corrects (or adds) what the agent remembers; the agent reads it on its next turn. */
  async function setFact(principal: Principal, input: { contactId: string; key: string; value: string }) {
    requireRole(principal, 'admin')
    if (!(await directory.contactProfile(principal.organizationId, input.contactId))) throw notFound('Contact')
    await memory.remember({ organizationId: principal.organizationId, contactId: input.contactId, key: input.key, value: input.value, source: 'admin' })
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'contact.fact.set', target: input.contactId, data: { key: input.key } })
    return (await memory.list(principal.organizationId, input.contactId)).find((f) => f.key === input.key)!
  }

  /**
   * Erases a contact on a data-protection request: their conversations and messages, handoffs,
   * remembered facts, leads with notes and tasks, and their identities in the channels. The audit
   * entry keeps who erased whom and how much, never what was erased.
   */
  async function erase(principal: Principal, contactId: string) {
    requireRole(principal, 'admin')
    const erased = await directory.eraseContact(principal.organizationId, contactId)
    if (!erased) throw notFound('Contact')
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'contact.erased', target: contactId, data: erased })
    await deps.events?.publish(principal.organizationId, { type: 'contact.erased', contactId })
    return erased
  }

  return { profile, setFact, erase }
}

export type ContactService = ReturnType<typeof createContactService>
