import { AppError } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import type { ContactMemory, CrmPort, Lead } from '../../core/ports.ts'
import type { Database } from '../db/database.ts'
import type { KommoClient } from './client.ts'
import type { KommoCatalog, KommoConnections, KommoState } from './connection.ts'
import { complexLeadsSchema, contactsSchema, notesCreatedSchema, tasksCreatedSchema } from './schemas.ts'

type Connected = { client: KommoClient; state: Extract<KommoState, { connected: true }> }
const DAY_MS = 24 * 3600_000

/** The pipeline new leads go to (the chosen one, else the main one) and its first open status. */
function targetOf(state: Connected['state']): { pipeline: KommoCatalog['pipelines'][number]; statusId: number } {
  const pipelines = state.catalog.pipelines
  const pipeline = pipelines.find((p) => p.id === state.settings.pipelineId) ?? pipelines.find((p) => p.isMain) ?? pipelines[0]
  if (!pipeline) throw new AppError('crm_unavailable', 'The Kommo account has no pipeline; read the account again on the CRM page', 409)
  // 142 and 143 are Kommo's won and lost; the first other status is where leads start.
  const statusId = state.settings.statusId ?? pipeline.statuses.find((s) => s.id !== 142 && s.id !== 143)?.id ?? pipeline.statuses[0]?.id
  if (statusId === undefined) throw new AppError('crm_unavailable', `The Kommo pipeline "${pipeline.name}" has no status`, 409)
  return { pipeline, statusId }
}

/**
 * The agent's CRM actions in Kommo when the organization has connected it, the built-in records
 * otherwise. Every Kommo lead is mirrored as a built-in lead with its Kommo id (a conversation
 * shows it, tools find the customer's leads); notes and tasks are written to both. The contact is
 * found by the phone or email the agent remembered, or made with the lead in one call
 * (/api/v4/leads/complex), and remembered by its Kommo id.
 */
export function createKommoCrm(deps: { builtin: CrmPort; kommo: KommoConnections; db: Database; memory: ContactMemory }): CrmPort {
  const { builtin, kommo } = deps
  const prisma = deps.db.prisma

  async function connected(organizationId: string): Promise<Connected | null> {
    const state = await kommo.get(organizationId)
    if (!state.connected || state.status !== 'active') return null
    const client = await kommo.client(organizationId)
    return client ? { client, state } : null
  }

  async function mirrorOf(organizationId: string, leadId: string) {
    return prisma.lead.findFirst({ where: { id: leadId, organizationId } })
  }

  /** The customer's messenger identity, as kept in Kommo's "Switchboard ID" field: the channel and their id there (telegram:12345). */
  async function identityOf(organizationId: string, contactId: string): Promise<string | null> {
    const identity = await prisma.contactIdentity.findFirst({ where: { organizationId, contactId }, orderBy: { createdAt: 'asc' } })
    if (!identity) return null
    const inbox = await prisma.inbox.findFirst({ where: { id: identity.inboxId, organizationId }, select: { channel: true } })
    return `${inbox?.channel ?? 'chat'}:${identity.externalUserId}`
  }

  /** The contact's Kommo id: remembered, or found by their messenger identity or the phone or email the agent remembered; null when Kommo has none. */
  async function knownContact(c: Connected, organizationId: string, contactId: string): Promise<number | null> {
    const known = await prisma.crmContactLink.findUnique({ where: { organizationId_contactId_provider: { organizationId, contactId, provider: 'kommo' } } })
    if (known) return Number(known.externalId)
    const facts = await deps.memory.list(organizationId, contactId)
    const identity = c.state.catalog.fields.identity ? await identityOf(organizationId, contactId) : null
    const candidates: [string, string | undefined][] = [['identity', identity ?? undefined], ['phone', facts.find((f) => f.key === 'phone')?.value], ['email', facts.find((f) => f.key === 'email')?.value]]
    for (const [, value] of candidates) {
      if (!value) continue
      // 204 (nothing found) comes back as null.
      const found = await c.client.request({ method: 'GET', path: '/api/v4/contacts', query: { query: value, limit: '1' }, schema: contactsSchema })
      const id = found?._embedded.contacts[0]?.id
      if (id !== undefined) {
        await link(organizationId, contactId, id)
        return id
      }
    }
    return null
  }
  const link = (organizationId: string, contactId: string, externalId: number) =>
    prisma.crmContactLink.upsert({ where: { organizationId_contactId_provider: { organizationId, contactId, provider: 'kommo' } }, create: { organizationId, contactId, provider: 'kommo', externalId: String(externalId) }, update: { externalId: String(externalId) } })

  /** A new Kommo contact for the lead: the name and what the agent remembered, in the account's PHONE and EMAIL fields. */
  async function newContact(c: Connected, organizationId: string, contactId: string) {
    const contact = await prisma.contact.findFirst({ where: { id: contactId, organizationId }, select: { name: true } })
    const facts = await deps.memory.list(organizationId, contactId)
    const value = (key: string) => facts.find((f) => f.key === key)?.value
    const identity = c.state.catalog.fields.identity ? await identityOf(organizationId, contactId) : null
    const fields = [
      ...(c.state.catalog.fields.identity && identity ? [{ field_id: c.state.catalog.fields.identity, values: [{ value: identity }] }] : []),
      ...(c.state.catalog.fields.phone && value('phone') ? [{ field_id: c.state.catalog.fields.phone, values: [{ value: value('phone'), enum_code: 'WORK' }] }] : []),
      ...(c.state.catalog.fields.email && value('email') ? [{ field_id: c.state.catalog.fields.email, values: [{ value: value('email'), enum_code: 'WORK' }] }] : []),
    ]
    return { name: value('name') ?? contact?.name ?? 'Customer', ...(fields.length ? { custom_fields_values: fields } : {}) }
  }

  const statusName = (state: Connected['state'], pipelineId: number, statusId: number) => state.catalog.pipelines.find((p) => p.id === pipelineId)?.statuses.find((s) => s.id === statusId)?.name ?? String(statusId)

  return {
    async upsertLead(input) {
      const c = await connected(input.organizationId)
      if (!c) return builtin.upsertLead(input)
      if (input.leadId !== undefined) {
        const mirror = await mirrorOf(input.organizationId, input.leadId)
        if (mirror?.externalId) await c.client.request({ method: 'PATCH', path: `/api/v4/leads/${mirror.externalId}`, body: { name: input.title, ...(input.value !== undefined && input.value !== null ? { price: Math.round(input.value) } : {}) } })
        return builtin.upsertLead(input)
      }
      const { pipeline, statusId } = targetOf(c.state)
      const contactId = await knownContact(c, input.organizationId, input.contactId)
      const responsible = await kommo.nextResponsible(input.organizationId)
      const requestId = newId()
      const created = await c.client.request({
        method: 'POST',
        path: '/api/v4/leads/complex',
        body: [
          {
            name: input.title,
            ...(input.value !== undefined && input.value !== null ? { price: Math.round(input.value) } : {}),
            pipeline_id: pipeline.id,
            status_id: statusId,
            ...(responsible ? { responsible_user_id: responsible } : {}),
            _embedded: { contacts: [contactId !== null ? { id: contactId } : await newContact(c, input.organizationId, input.contactId)], tags: [{ name: 'Switchboard' }] },
            request_id: requestId,
          },
        ],
        schema: complexLeadsSchema,
      })
      const made = created?.[0]
      if (!made) throw new AppError('provider_error', 'Kommo made no lead', 502)
      if (made.contact_id) await link(input.organizationId, input.contactId, made.contact_id)
      const lead = await builtin.upsertLead({ ...input, leadId: undefined })
      const owner = responsible ? (c.state.catalog.users.find((u) => u.id === responsible)?.name ?? null) : null
      await prisma.lead.updateMany({ where: { id: lead.id, organizationId: input.organizationId }, data: { externalId: String(made.id), stage: statusName(c.state, pipeline.id, statusId), owner } })
      return { ...lead, stage: statusName(c.state, pipeline.id, statusId), owner }
    },

    async moveLead(input) {
      const c = await connected(input.organizationId)
      const mirror = await mirrorOf(input.organizationId, input.leadId)
      if (!c || !mirror?.externalId) return builtin.moveLead(input)
      const wanted = input.stage.trim().toLowerCase()
      const { pipeline } = targetOf(c.state)
      const pipelines = [pipeline, ...c.state.catalog.pipelines.filter((p) => p.id !== pipeline.id)]
      const match = pipelines.flatMap((p) => p.statuses.map((s) => ({ pipeline: p, status: s }))).find((x) => x.status.name.trim().toLowerCase() === wanted)
      if (!match) throw new AppError('validation_failed', `Kommo has no stage "${input.stage}"; the stages are: ${pipeline.statuses.map((s) => s.name).join(', ')}`, 422)
      await c.client.request({ method: 'PATCH', path: `/api/v4/leads/${mirror.externalId}`, body: { status_id: match.status.id, pipeline_id: match.pipeline.id } })
      return builtin.moveLead({ ...input, stage: match.status.name })
    },

    async addNote(input) {
      const c = await connected(input.organizationId)
      const mirror = await mirrorOf(input.organizationId, input.leadId)
      if (c && mirror?.externalId) {
        await c.client.request({ method: 'POST', path: '/api/v4/leads/notes', body: [{ entity_id: Number(mirror.externalId), note_type: 'common', params: { text: input.text } }], schema: notesCreatedSchema })
      }
      return builtin.addNote(input)
    },

    async createTask(input) {
      const c = await connected(input.organizationId)
      const mirror = await mirrorOf(input.organizationId, input.leadId)
      if (c && mirror?.externalId) {
        const responsible = await kommo.nextResponsible(input.organizationId)
        const due = input.dueAt ?? new Date(Date.now() + DAY_MS)
        await c.client.request({ method: 'POST', path: '/api/v4/tasks', body: [{ text: input.text, complete_till: Math.floor(due.getTime() / 1000), entity_id: Number(mirror.externalId), entity_type: 'leads', task_type_id: 1, ...(responsible ? { responsible_user_id: responsible } : {}) }], schema: tasksCreatedSchema })
      }
      return builtin.createTask(input)
    },

    listLeads: (organizationId, input) => builtin.listLeads(organizationId, input),

    async users(organizationId) {
      const state = await kommo.current(organizationId)
      if (!state.connected || state.status !== 'active' || !state.catalog.users.length) return null
      return state.catalog.users.map((u) => u.name)
    },

    async assignLead(input) {
      const c = await connected(input.organizationId)
      const mirror = await mirrorOf(input.organizationId, input.leadId)
      if (!c || !mirror) throw new AppError('not_found', 'Lead not found', 404)
      if (!mirror.externalId) throw new AppError('validation_failed', 'This lead is not in Kommo; only Kommo leads have a responsible user', 422)
      const wanted = input.user.trim().toLowerCase()
      const user = c.state.catalog.users.find((u) => u.name.trim().toLowerCase() === wanted)
      if (!user) throw new AppError('validation_failed', `Kommo has no user "${input.user}"; the users are: ${c.state.catalog.users.map((u) => u.name).join(', ')}`, 422)
      await c.client.request({ method: 'PATCH', path: `/api/v4/leads/${mirror.externalId}`, body: { responsible_user_id: user.id } })
      await prisma.lead.updateMany({ where: { id: mirror.id, organizationId: input.organizationId }, data: { owner: user.name, updatedAt: new Date() } })
      const lead = (await builtin.listLeads(input.organizationId, { contactId: mirror.contactId })).find((l) => l.id === mirror.id)
      if (!lead) throw new AppError('not_found', 'Lead not found', 404)
      return lead
    },

    /** With "every new customer", a customer with no lead yet gets one in Kommo before the agent answers. */
    async customerWrote(input) {
      const state = await kommo.current(input.organizationId)
      if (!state.connected || state.status !== 'active' || state.settings.leadMode !== 'every_contact') return
      if (await prisma.lead.findFirst({ where: { organizationId: input.organizationId, contactId: input.contactId }, select: { id: true } })) return
      const contact = await prisma.contact.findFirst({ where: { id: input.contactId, organizationId: input.organizationId }, select: { name: true } })
      await this.upsertLead({ organizationId: input.organizationId, contactId: input.contactId, conversationId: input.conversationId, title: `New customer${contact?.name ? `: ${contact.name}` : ''}` })
    },

    /** The customer's newest Kommo lead (made for the handoff when they have none) gets the transcript as a note and a task to answer them. */
    async handoff(input) {
      const c = await connected(input.organizationId)
      if (!c) return
      let mirror = await prisma.lead.findFirst({ where: { organizationId: input.organizationId, contactId: input.contactId, externalId: { not: null } }, orderBy: { updatedAt: 'desc' } })
      if (!mirror) {
        const lead = await this.upsertLead({ organizationId: input.organizationId, contactId: input.contactId, conversationId: input.conversationId, title: `Conversation handed to a person (${input.reason.replace(/_/g, ' ')})` })
        mirror = await mirrorOf(input.organizationId, lead.id)
      }
      if (!mirror?.externalId) return
      const who: Record<string, string> = { contact: 'Customer', agent: 'Bot', operator: 'Operator', system: 'Bot' }
      const lines = input.transcript.map((m) => `${who[m.author] ?? m.author}: ${m.text || (m.attachments.length ? `[${m.attachments.map((a) => a.kind).join(', ')}]` : '')}`)
      let text = `Handed to a person (${input.reason.replace(/_/g, ' ')}). Transcript:\n${lines.join('\n')}`
      if (text.length > 15_000) text = `${text.slice(0, 14_990)}…`
      await this.addNote({ organizationId: input.organizationId, leadId: mirror.id, text })
      await this.createTask({ organizationId: input.organizationId, leadId: mirror.id, text: 'A customer asked for a person: answer them in Switchboard’s conversation', dueAt: new Date(Date.now() + 3600_000) })
    },

    async describe(organizationId) {
      const state = await kommo.get(organizationId)
      if (!state.connected) return 'Kommo is not connected: leads are kept in Switchboard. Connect Kommo on the CRM page of the admin web.'
      const lines = [`Kommo: ${state.account.name ?? state.subdomain} (${state.subdomain}.kommo.com), ${state.status}${state.statusReason ? `: ${state.statusReason}` : ''}.`]
      if (state.status === 'active') {
        try {
          const { pipeline, statusId } = targetOf(state)
          lines.push(`New leads go to "${pipeline.name}", stage "${pipeline.statuses.find((s) => s.id === statusId)?.name ?? statusId}".`)
        } catch (error) {
          lines.push((error as Error).message)
        }
      }
      // Kommo chats (the channel of adapters/kommo/chat-channel.ts): connected or not, and which channels' handoffs go there.
      const chats = await prisma.inbox.findFirst({ where: { organizationId, channel: 'kommo' }, select: { id: true, settings: true } })
      if (chats) {
        const routed = await prisma.inbox.findMany({ where: { organizationId, deskInboxId: chats.id }, select: { name: true } })
        const minutes = Number((chats.settings as { silenceMinutes?: number } | null)?.silenceMinutes ?? 0)
        lines.push(`Kommo chats: connected; handoffs answered in Kommo from ${routed.length ? routed.map((r) => r.name).join(', ') : 'no channel yet (choose Kommo chats on the Channels page)'}; back to the bot on /bot${minutes ? `, after ${minutes} minutes without an operator's message` : ''} or at the chosen stage.`)
      } else lines.push('Kommo chats: not connected (the CRM page of the admin web connects them).')
      const recent = await prisma.lead.findMany({ where: { organizationId, externalId: { not: null } }, orderBy: { updatedAt: 'desc' }, take: 5 })
      const when = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`
      lines.push(recent.length ? `Last leads:\n${recent.map((l) => `• ${l.title} — ${l.stage}${l.owner ? `, ${l.owner}` : ''} (Kommo #${l.externalId}), ${when(l.updatedAt)}`).join('\n')}` : 'No lead made in Kommo yet.')
      // The connection's own last events (connected, settings changed, broken, blocked, a lead given to someone in Kommo).
      const actions = await prisma.auditEvent.findMany({ where: { organizationId, action: { startsWith: 'crm.kommo_' } }, orderBy: { createdAt: 'desc' }, take: 5, select: { action: true, createdAt: true } })
      if (actions.length) lines.push(`Last actions:\n${actions.map((a) => `• ${a.action.slice('crm.kommo_'.length).replace(/_/g, ' ')}, ${when(a.createdAt)}`).join('\n')}`)
      return lines.join('\n')
    },

    async stages(organizationId) {
      const state = await kommo.current(organizationId)
      if (!state.connected || state.status !== 'active') return null
      try {
        return targetOf(state).pipeline.statuses.map((s) => s.name)
      } catch {
        return null
      }
    },
  } satisfies CrmPort & { upsertLead(input: Parameters<CrmPort['upsertLead']>[0]): Promise<Lead> }
}
