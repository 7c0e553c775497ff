import { z } from 'zod'
import { AppError, notFound } from '../../core/errors.ts'
import type { ContactMemory, CrmPort, Store } from '../../core/ports.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'

const contactIdSchema = z.string().trim().min(1).max(100)
const factKeySchema = z.string().min(1).max(64)

/** Path parameters are not validated by createApi: the same zod rules, with the same 422 answer. */
function param<T>(schema: z.ZodType<T>, value: string | undefined, name: string): T {
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${name}: ${i.message}`)
    throw new AppError('validation_failed', `Invalid path: ${problems.join('; ')}`, 422, problems)
  }
  return parsed.data
}

/**
 * The built-in CRM records and contact memory in the admin API. Every read and delete is scoped
 * to the caller's organization: another organization's contact looks like one with no facts.
 */
export function registerCrmRoutes(deps: { api: ReturnType<typeof createApi>; crm: CrmPort; memory: ContactMemory; store: Store }) {
  const { api, crm, memory, store } = deps

  api.route({
    method: 'get',
    path: '/api/v1/leads',
    tag: 'crm',
    summary: 'List leads the agent recorded, most recently updated first (optionally of one contact)',
    auth: 'session',
    query: z.object({ contactId: contactIdSchema.optional() }),
    handler: async ({ principal, query }) => ({ leads: await crm.listLeads(principal.organizationId, query.contactId !== undefined ? { contactId: query.contactId } : {}) }),
  })

  api.route({
    method: 'get',
    path: '/api/v1/contacts/:id/facts',
    tag: 'crm',
    summary: 'What the agent remembers about a contact',
    auth: 'session',
    handler: async ({ principal, params }) => {
      const contactId = param(contactIdSchema, params.id, 'id')
      const facts = await memory.list(principal.organizationId, contactId)
      return { facts: facts.map((f) => ({ key: f.key, value: f.value, source: f.source, updatedAt: f.updatedAt })) }
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/contacts/:id/facts/:key',
    tag: 'crm',
    summary: 'Forget one fact about a contact (admin)',
    auth: 'session',
    responses: { 204: 'Forgotten', 404: 'No such fact' },
    handler: async ({ principal, params }) => {
      requireRole(principal, 'admin')
      const contactId = param(contactIdSchema, params.id, 'id')
      const key = param(factKeySchema, params.key, 'key')
      const deleted = await memory.forget(principal.organizationId, contactId, key)
      if (deleted === 0) throw notFound('Fact')
      await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'contact.fact.forgotten', target: contactId, data: { key } })
      return undefined
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/contacts/:id/facts',
    tag: 'crm',
    summary: 'Forget everything the agent remembers about a contact (admin); answers how many facts were deleted',
    auth: 'session',
    handler: async ({ principal, params }) => {
      requireRole(principal, 'admin')
      const contactId = param(contactIdSchema, params.id, 'id')
      const deleted = await memory.forget(principal.organizationId, contactId)
      // Recorded even when nothing was left to delete: the request to erase is itself worth keeping.
      await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'contact.facts.forgotten', target: contactId, data: { deleted } })
      return { deleted }
    },
  })
}
