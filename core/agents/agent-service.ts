import { notFound } from '../errors.ts'
import { newToken } from '../ids.ts'
import type { Agent, AgentInput, Inbox, Store } from '../ports.ts'
import type { Principal } from '../tenancy/auth-service.ts'
import { requireRole } from '../tenancy/auth-service.ts'

/** Agents of an organization. Every agent gets a web chat inbox with a public key on creation. */
export function createAgentService(deps: { store: Store }) {
  const { store } = deps

  async function create(principal: Principal, input: AgentInput & { name: string }): Promise<{ agent: Agent; webchat: Inbox }> {
    requireRole(principal, 'admin')
    return createFor(principal.organizationId, input, principal.userId)
  }

  /** Creates an agent without a signed-in person (the demo seed, the CLI). */
  async function createFor(organizationId: string, input: AgentInput & { name: string }, actorUserId: string | null = null) {
    const agent = await store.agents.create(organizationId, input)
    const webchat = await store.inboxes.create({ organizationId, agentId: agent.id, channel: 'webchat', name: `${agent.name} web chat`, publicKey: newToken(18), settings: {} })
    await store.audit.record({ organizationId, actorUserId, action: 'agent.created', target: agent.id, data: { name: agent.name } })
    return { agent, webchat }
  }

  async function list(principal: Principal) {
    return store.agents.list(principal.organizationId)
  }

  async function get(principal: Principal, id: string) {
    const agent = await store.agents.get(principal.organizationId, id)
    if (!agent) throw notFound('Agent')
    const inboxes = await store.inboxes.listByAgent(principal.organizationId, id)
    return { agent, inboxes }
  }

  async function update(principal: Principal, id: string, input: AgentInput) {
    requireRole(principal, 'admin')
    const agent = await store.agents.update(principal.organizationId, id, input)
    if (!agent) throw notFound('Agent')
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'agent.updated', target: id, data: { fields: Object.keys(input) } })
    return agent
  }

  async function remove(principal: Principal, id: string) {
    requireRole(principal, 'admin')
    if (!(await store.agents.delete(principal.organizationId, id))) throw notFound('Agent')
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'agent.deleted', target: id })
  }

  return { create, createFor, list, get, update, remove }
}

export type AgentService = ReturnType<typeof createAgentService>
