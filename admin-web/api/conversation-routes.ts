import { z } from 'zod'
import { AppError, notFound } from '../../core/errors.ts'
import type { ContactService } from '../../core/conversation/contact-service.ts'
import type { ConversationDirectory, CrmPort } from '../../core/ports.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'

const idSchema = z.string().trim().min(1).max(100)
const factKeySchema = z.string().trim().min(1).max(64)

function param<T>(schema: z.ZodType<T>, value: string | undefined, name: string): T {
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new AppError('validation_failed', `Invalid path: ${parsed.error.issues.map((i) => `${name}: ${i.message}`).join('; ')}`, 422)
  return parsed.data
}

/** The list's position as an opaque cursor: the last row's lastMessageAt and id. */
const encodeCursor = (row: { lastMessageAt: Date; id: string }) => Buffer.from(JSON.stringify([row.lastMessageAt.toISOString(), row.id])).toString('base64url')
const cursorSchema = z
  .string()
  .max(300)
  .transform((value, ctx) => {
    try {
      const [at, id] = z.tuple([z.string().datetime(), z.string().min(1).max(100)]).parse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')))
      return { lastMessageAt: new Date(at), id }
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a cursor this API gave' })
      return z.NEVER
    }
  })

/**
 * Conversations as operators work them (the list with filters, one conversation's row) and the
 * contact's profile beside the transcript: facts, leads with notes and tasks, erasure.
 */
export function registerConversationRoutes(deps: { api: ReturnType<typeof createApi>; directory: ConversationDirectory; contacts: ContactService; crm: CrmPort }) {
  const { api, directory, contacts, crm } = deps

  api.route({
    method: 'get',
    path: '/api/v1/conversations',
    tag: 'conversations',
    summary:
      'Conversations, most recent activity first: contact, channel, agent, last message, state, current handoff, who holds it and since when the customer waits. Filters: state, channel, agentId, mine (held by me), tests (include admins\' test chats); pages with cursor (nextCursor)',
    auth: 'session',
    query: z.object({
      state: z.enum(['bot', 'handoff', 'closed']).optional(),
      channel: z.string().trim().regex(/^[a-z][\w-]{0,31}$/).optional(),
      agentId: z.string().uuid().optional(),
      mine: z.enum(['true', 'false']).optional(),
      tests: z.enum(['true', 'false']).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: cursorSchema.optional(),
    }),
    handler: async ({ principal, query }) => {
      const rows = await directory.list(principal.organizationId, {
        limit: query.limit + 1,
        ...(query.state ? { state: query.state } : {}),
        ...(query.channel ? { channel: query.channel } : {}),
        ...(query.agentId ? { agentId: query.agentId } : {}),
        ...(query.mine === 'true' ? { heldBy: principal.userId } : {}),
        includeTests: query.tests === 'true',
        ...(query.cursor ? { after: query.cursor } : {}),
      })
      const page = rows.slice(0, query.limit)
      return { conversations: page, nextCursor: rows.length > query.limit ? encodeCursor(page.at(-1)!) : null }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/conversations/:id',
    tag: 'conversations',
    summary: 'One conversation as the list shows it, with who holds it',
    auth: 'session',
    handler: async ({ principal, params }) => {
      const row = await directory.get(principal.organizationId, param(idSchema, params.id, 'id'))
      if (!row) throw notFound('Conversation')
      return { conversation: row }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/contacts/:id',
    tag: 'crm',
    summary: 'A contact\'s profile: name, channels, number of conversations, what the agent remembers, leads with their notes and tasks',
    auth: 'session',
    handler: async ({ principal, params }) => ({ profile: await contacts.profile(principal, param(idSchema, params.id, 'id')) }),
  })

  api.route({
    method: 'put',
    path: '/api/v1/contacts/:id/facts/:key',
    tag: 'crm',
    summary: 'Correct or add a fact the agent remembers about a contact (admin)',
    auth: 'session',
    body: z.object({ value: z.string().trim().min(1).max(1000) }).strict(),
    handler: async ({ principal, params, body }) => {
      const fact = await contacts.setFact(principal, { contactId: param(idSchema, params.id, 'id'), key: param(factKeySchema, params.key, 'key'), value: body.value })
      return { fact: { key: fact.key, value: fact.value, source: fact.source, updatedAt: fact.updatedAt } }
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/contacts/:id',
    tag: 'crm',
    summary:
      'Erase a contact for a data-protection request (admin): their conversations and messages, handoffs, remembered facts, leads with notes and tasks, and channel identities; audited (contact.erased, with counts only). A lead mirrored in an outside CRM (Kommo) stays there',
    auth: 'session',
    responses: { 200: 'Erased: how many of each were deleted', 404: 'No such contact in this organization' },
    handler: async ({ principal, params }) => ({ erased: await contacts.erase(principal, param(idSchema, params.id, 'id')) }),
  })

  api.route({
    method: 'post',
    path: '/api/v1/leads/:id/notes',
    tag: 'crm',
    summary: 'Add a note to a lead (operator)',
    auth: 'session',
    body: z.object({ text: z.string().trim().min(1).max(4000) }).strict(),
    responses: { 201: 'Added' },
    handler: async ({ principal, params, body, res }) => {
      requireRole(principal, 'operator')
      const note = await crm.addNote({ organizationId: principal.organizationId, leadId: param(idSchema, params.id, 'id'), text: body.text })
      res.status(201)
      return { note }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/leads/:id/tasks',
    tag: 'crm',
    summary: 'Add a task to a lead, with an optional due time (operator)',
    auth: 'session',
    body: z.object({ text: z.string().trim().min(1).max(4000), dueAt: z.coerce.date().nullable().optional() }).strict(),
    responses: { 201: 'Added' },
    handler: async ({ principal, params, body, res }) => {
      requireRole(principal, 'operator')
      const task = await crm.createTask({ organizationId: principal.organizationId, leadId: param(idSchema, params.id, 'id'), text: body.text, dueAt: body.dueAt ?? null })
      res.status(201)
      return { task }
    },
  })
}
