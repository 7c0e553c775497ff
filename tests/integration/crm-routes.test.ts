import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Request } from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPrismaContactMemory, createPrismaCrm } from '../../adapters/db/crm-store.ts'
import { openDatabase, type Database } from '../../adapters/db/database.ts'
import { createPrismaStore } from '../../adapters/db/prisma-store.ts'
import { createApi } from '../../adapters/http/api.ts'
import { createMetrics } from '../../adapters/http/metrics.ts'
import { createHttpApp, listen } from '../../adapters/http/server.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { registerCrmRoutes } from '../../admin-web/api/crm-routes.ts'
import type { Role } from '../../core/ports.ts'
import type { Principal } from '../../core/tenancy/auth-service.ts'

const A = 'org-a'
const B = 'org-b'
const ROLES: Role[] = ['owner', 'admin', 'operator', 'member']

/** The caller is whoever the x-test-* headers say; no header = not signed in. */
async function authenticate(req: Request): Promise<Principal | null> {
  const organizationId = req.header('x-test-org')
  const role = req.header('x-test-role') as Role | undefined
  if (!organizationId || !role || !ROLES.includes(role)) return null
  return { userId: `user-${role}-${organizationId}`, organizationId, role }
}

describe('CRM and contact memory routes', () => {
  let db: Database
  let server: Server
  let url: string
  let leadOfAlice: string

  beforeAll(async () => {
    db = await openDatabase({ dataDir: 'memory://' })
    await db.migrate()
    const store = createPrismaStore(db)
    const crm = createPrismaCrm(db)
    const memory = createPrismaContactMemory(db)
    const api = createApi({ authenticate })
    registerCrmRoutes({ api, crm, memory, store })
    const app = createHttpApp({
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ queueDepth: async () => 0 }),
      maxBodyBytes: 1_000_000,
      readiness: async () => {},
      routers: [api.router],
    })
    server = await listen(app, 0, '127.0.0.1')
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    leadOfAlice = (await crm.upsertLead({ organizationId: A, contactId: 'alice', conversationId: 'conv-1', title: 'Pro plan', value: 1200 })).id
    await crm.upsertLead({ organizationId: A, contactId: 'bob', conversationId: null, title: 'Team plan' })
    await crm.upsertLead({ organizationId: B, contactId: 'zed', conversationId: null, title: "B's lead" })
    await memory.remember({ organizationId: A, contactId: 'alice', key: 'name', value: 'Alice' })
    await memory.remember({ organizationId: A, contactId: 'alice', key: 'need', value: 'a CRM integration' })
    await memory.remember({ organizationId: A, contactId: 'bob', key: 'name', value: 'Bob' })
  })
  afterAll(async () => {
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
    await db?.close()
  })

  async function call(path: string, input: { org?: string; role?: Role; method?: string } = {}) {
    const headers: Record<string, string> = {}
    if (input.org) headers['x-test-org'] = input.org
    if (input.role) headers['x-test-role'] = input.role
    const res = await fetch(`${url}${path}`, { method: input.method ?? 'GET', headers })
    const text = await res.text()
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response shapes
    const json: any = text ? JSON.parse(text) : undefined
    return { status: res.status, json }
  }
  const auditOf = (organizationId: string) => db.prisma.auditEvent.findMany({ where: { organizationId }, orderBy: { createdAt: 'asc' } })

  it('asks for a session first', async () => {
    expect((await call('/api/v1/leads')).status).toBe(401)
    expect((await call('/api/v1/contacts/alice/facts')).status).toBe(401)
    expect((await call('/api/v1/contacts/alice/facts', { method: 'DELETE' })).status).toBe(401)
  })

  it("lists the organization's leads to any member, optionally of one contact", async () => {
    const all = await call('/api/v1/leads', { org: A, role: 'member' })
    expect(all.status).toBe(200)
    expect(all.json.leads.map((l: { title: string }) => l.title).sort()).toEqual(['Pro plan', 'Team plan'])
    const alice = await call('/api/v1/leads?contactId=alice', { org: A, role: 'member' })
    expect(alice.json.leads).toEqual([expect.objectContaining({ id: leadOfAlice, contactId: 'alice', title: 'Pro plan', value: 1200, stage: 'new' })])
    expect((await call(`/api/v1/leads?contactId=${'x'.repeat(101)}`, { org: A, role: 'member' })).status).toBe(422)
  })

  it("shows a contact's facts to any member", async () => {
    const facts = await call('/api/v1/contacts/alice/facts', { org: A, role: 'member' })
    expect(facts.status).toBe(200)
    expect(facts.json.facts.map((f: { key: string; value: string; source: string }) => [f.key, f.value, f.source])).toEqual([
      ['name', 'Alice', 'agent'],
      ['need', 'a CRM integration', 'agent'],
    ])
    expect(Date.parse(facts.json.facts[0].updatedAt)).not.toBeNaN()
  })

  it("never shows organization A's leads or facts to organization B", async () => {
    const leads = await call('/api/v1/leads', { org: B, role: 'owner' })
    expect(leads.json.leads.map((l: { title: string }) => l.title)).toEqual(["B's lead"])
    expect((await call('/api/v1/leads?contactId=alice', { org: B, role: 'owner' })).json.leads).toEqual([])
    const facts = await call('/api/v1/contacts/alice/facts', { org: B, role: 'owner' })
    expect(facts.status).toBe(200)
    expect(facts.json.facts).toEqual([])
  })

  it('refuses to let a member or operator forget facts, and changes nothing', async () => {
    for (const role of ['member', 'operator'] as const) {
      const one = await call('/api/v1/contacts/alice/facts/name', { org: A, role, method: 'DELETE' })
      expect(one.status).toBe(403)
      expect(one.json.error.code).toBe('forbidden')
      expect((await call('/api/v1/contacts/alice/facts', { org: A, role, method: 'DELETE' })).status).toBe(403)
    }
    expect((await call('/api/v1/contacts/alice/facts', { org: A, role: 'member' })).json.facts).toHaveLength(2)
    expect((await auditOf(A)).filter((e) => e.action.startsWith('contact.'))).toEqual([])
  })

  it("answers 404 when organization B tries to forget A's facts, and keeps them", async () => {
    const one = await call('/api/v1/contacts/alice/facts/name', { org: B, role: 'admin', method: 'DELETE' })
    expect(one.status).toBe(404)
    const all = await call('/api/v1/contacts/alice/facts', { org: B, role: 'admin', method: 'DELETE' })
    expect(all.status).toBe(200)
    expect(all.json).toEqual({ deleted: 0 })
    expect((await call('/api/v1/contacts/alice/facts', { org: A, role: 'member' })).json.facts).toHaveLength(2)
  })

  it('lets an admin forget one fact, then all of them, and audits both', async () => {
    const one = await call('/api/v1/contacts/alice/facts/need', { org: A, role: 'admin', method: 'DELETE' })
    expect(one.status).toBe(204)
    expect((await call('/api/v1/contacts/alice/facts/need', { org: A, role: 'admin', method: 'DELETE' })).status).toBe(404)
    expect((await call('/api/v1/contacts/alice/facts', { org: A, role: 'member' })).json.facts.map((f: { key: string }) => f.key)).toEqual(['name'])

    const all = await call('/api/v1/contacts/alice/facts', { org: A, role: 'owner', method: 'DELETE' })
    expect(all.status).toBe(200)
    expect(all.json).toEqual({ deleted: 1 })
    expect((await call('/api/v1/contacts/alice/facts', { org: A, role: 'member' })).json.facts).toEqual([])
    // Another contact's facts are untouched.
    expect((await call('/api/v1/contacts/bob/facts', { org: A, role: 'member' })).json.facts).toHaveLength(1)

    const events = (await auditOf(A)).filter((e) => e.action.startsWith('contact.'))
    expect(events.map((e) => [e.action, e.actorUserId, e.target, e.data]).sort((x, y) => String(x[0]).localeCompare(String(y[0])))).toEqual([
      ['contact.fact.forgotten', `user-admin-${A}`, 'alice', { key: 'need' }],
      ['contact.facts.forgotten', `user-owner-${A}`, 'alice', { deleted: 1 }],
    ])
  })

  it('answers 422 for a fact key that is too long', async () => {
    const res = await call(`/api/v1/contacts/alice/facts/${'k'.repeat(65)}`, { org: A, role: 'admin', method: 'DELETE' })
    expect(res.status).toBe(422)
    expect(res.json.error.code).toBe('validation_failed')
  })
})
