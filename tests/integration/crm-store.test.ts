import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPrismaContactMemory, createPrismaCrm } from '../../adapters/db/crm-store.ts'
import { openDatabase, type Database } from '../../adapters/db/database.ts'
import { AppError } from '../../core/errors.ts'
import { createAgentTools } from '../../core/crm/tools.ts'
import type { ContactMemory, CrmPort } from '../../core/ports.ts'

const A = 'org-a'
const B = 'org-b'

async function notFound(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(AppError)
  expect(error).toMatchObject({ code: 'not_found', status: 404, message: 'Lead not found' })
}

describe('built-in CRM records and contact memory (PGlite)', () => {
  let db: Database
  let crm: CrmPort
  let memory: ContactMemory
  beforeAll(async () => {
    db = await openDatabase({ dataDir: 'memory://' })
    await db.migrate()
    crm = createPrismaCrm(db)
    memory = createPrismaContactMemory(db)
  })
  afterAll(async () => db?.close())

  describe('leads', () => {
    it('creates, updates, moves a lead and keeps its notes and tasks', async () => {
      const lead = await crm.upsertLead({ organizationId: A, contactId: 'alice', conversationId: 'conv-1', title: 'Pro plan', value: 1200 })
      expect(lead).toMatchObject({ organizationId: A, contactId: 'alice', conversationId: 'conv-1', title: 'Pro plan', value: 1200, stage: 'new' })

      const updated = await crm.upsertLead({ organizationId: A, contactId: 'alice', conversationId: 'conv-2', title: 'Pro plan, 20 seats', leadId: lead.id })
      expect(updated).toMatchObject({ id: lead.id, title: 'Pro plan, 20 seats', value: 1200, conversationId: 'conv-1' })
      expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(lead.updatedAt.getTime())
      const cleared = await crm.upsertLead({ organizationId: A, contactId: 'alice', conversationId: null, title: 'Pro plan, 20 seats', value: null, leadId: lead.id })
      expect(cleared.value).toBeNull()

      const moved = await crm.moveLead({ organizationId: A, leadId: lead.id, stage: 'qualified' })
      expect(moved).toMatchObject({ id: lead.id, stage: 'qualified' })

      const note = await crm.addNote({ organizationId: A, leadId: lead.id, text: 'Wants a demo' })
      const task = await crm.createTask({ organizationId: A, leadId: lead.id, text: 'Call back', dueAt: new Date('2026-05-01T15:00:00Z') })
      const undated = await crm.createTask({ organizationId: A, leadId: lead.id, text: 'Send the offer' })
      expect(await db.prisma.leadNote.findMany({ where: { leadId: lead.id } })).toEqual([expect.objectContaining({ id: note.id, organizationId: A, text: 'Wants a demo' })])
      const tasks = await db.prisma.leadTask.findMany({ where: { leadId: lead.id }, orderBy: { createdAt: 'asc' } })
      expect(tasks.map((t) => [t.id, t.text, t.dueAt?.toISOString() ?? null, t.done, t.organizationId])).toEqual(
        expect.arrayContaining([
          [task.id, 'Call back', '2026-05-01T15:00:00.000Z', false, A],
          [undated.id, 'Send the offer', null, false, A],
        ]),
      )

      const listed = await crm.listLeads(A, { contactId: 'alice' })
      expect(listed).toEqual([expect.objectContaining({ id: lead.id, title: 'Pro plan, 20 seats', stage: 'qualified', value: null })])
    })

    it('updates a lead only for its own contact', async () => {
      const lead = await crm.upsertLead({ organizationId: A, contactId: 'bob', conversationId: null, title: "Bob's lead" })
      await notFound(crm.upsertLead({ organizationId: A, contactId: 'carol', conversationId: null, title: 'hijacked', leadId: lead.id }))
      expect((await crm.listLeads(A, { contactId: 'bob' }))[0]).toMatchObject({ id: lead.id, title: "Bob's lead" })
      expect(await crm.listLeads(A, { contactId: 'carol' })).toEqual([])
    })

    it("never lets organization B read, move, note, task or update organization A's lead", async () => {
      const lead = await crm.upsertLead({ organizationId: A, contactId: 'dave', conversationId: null, title: 'Enterprise' })
      await notFound(crm.moveLead({ organizationId: B, leadId: lead.id, stage: 'lost' }))
      await notFound(crm.addNote({ organizationId: B, leadId: lead.id, text: 'from B' }))
      await notFound(crm.createTask({ organizationId: B, leadId: lead.id, text: 'from B' }))
      await notFound(crm.upsertLead({ organizationId: B, contactId: 'dave', conversationId: null, title: 'stolen', leadId: lead.id }))
      await notFound(crm.moveLead({ organizationId: A, leadId: 'no-such-lead', stage: 'won' }))

      expect(await db.prisma.leadNote.count({ where: { leadId: lead.id } })).toBe(0)
      expect(await db.prisma.leadTask.count({ where: { leadId: lead.id } })).toBe(0)
      expect((await crm.listLeads(A, { contactId: 'dave' }))[0]).toMatchObject({ title: 'Enterprise', stage: 'new' })

      const own = await crm.upsertLead({ organizationId: B, contactId: 'dave', conversationId: null, title: "B's own" })
      expect((await crm.listLeads(B)).map((l) => l.id)).toEqual([own.id])
      expect((await crm.listLeads(B, { contactId: 'dave' })).map((l) => l.id)).toEqual([own.id])
      expect((await crm.listLeads(A)).every((l) => l.organizationId === A)).toBe(true)
    })

    it('lists the most recently updated leads first', async () => {
      const first = await crm.upsertLead({ organizationId: 'org-order', contactId: 'c', conversationId: null, title: 'first' })
      const second = await crm.upsertLead({ organizationId: 'org-order', contactId: 'c', conversationId: null, title: 'second' })
      await new Promise((r) => setTimeout(r, 5))
      await crm.addNote({ organizationId: 'org-order', leadId: first.id, text: 'touched' })
      expect((await crm.listLeads('org-order')).map((l) => l.id)).toEqual([first.id, second.id])
    })
  })

  describe('contact facts', () => {
    it('remembers, lists and forgets facts, one row per key', async () => {
      await memory.remember({ organizationId: A, contactId: 'erin', key: 'name', value: 'Erin' })
      await memory.remember({ organizationId: A, contactId: 'erin', key: 'need', value: 'a CRM integration', source: 'admin' })
      const [before] = await memory.list(A, 'erin')
      await new Promise((r) => setTimeout(r, 5))
      await memory.remember({ organizationId: A, contactId: 'erin', key: 'name', value: 'Erin Smith' })

      const facts = await memory.list(A, 'erin')
      expect(facts.map((f) => [f.key, f.value, f.source])).toEqual([
        ['name', 'Erin Smith', 'agent'],
        ['need', 'a CRM integration', 'admin'],
      ])
      expect(facts[0]!.updatedAt.getTime()).toBeGreaterThan(before!.updatedAt.getTime())
      expect(await db.prisma.contactFact.count({ where: { organizationId: A, contactId: 'erin', key: 'name' } })).toBe(1)

      expect(await memory.forget(A, 'erin', 'name')).toBe(1)
      expect(await memory.forget(A, 'erin', 'name')).toBe(0)
      expect((await memory.list(A, 'erin')).map((f) => f.key)).toEqual(['need'])
      await memory.remember({ organizationId: A, contactId: 'erin', key: 'budget', value: '500 EUR' })
      expect(await memory.forget(A, 'erin')).toBe(2)
      expect(await memory.list(A, 'erin')).toEqual([])
    })

    it('keeps one row when the same key is remembered concurrently', async () => {
      await Promise.all(Array.from({ length: 8 }, (_, i) => memory.remember({ organizationId: A, contactId: 'frank', key: 'name', value: `Frank ${i}` })))
      const facts = await memory.list(A, 'frank')
      expect(facts).toHaveLength(1)
      expect(facts[0]!.value).toMatch(/^Frank \d$/)
    })

    it("isolates facts by organization: B neither sees nor forgets A's", async () => {
      await memory.remember({ organizationId: A, contactId: 'grace', key: 'name', value: 'Grace' })
      await memory.remember({ organizationId: B, contactId: 'grace', key: 'name', value: 'Someone else' })
      expect((await memory.list(B, 'grace')).map((f) => f.value)).toEqual(['Someone else'])
      expect(await memory.list(B, 'erin')).toEqual([])
      expect(await memory.forget(B, 'grace')).toBe(1)
      expect((await memory.list(A, 'grace')).map((f) => f.value)).toEqual(['Grace'])
      expect(await memory.forget(B, 'grace', 'name')).toBe(0)
      expect(await memory.list(A, 'grace')).toHaveLength(1)
    })
  })

  it('the agent tools work end to end over the database, for the contact of the turn only', async () => {
    const handoffs: string[] = []
    const tools = createAgentTools({ crm, memory, openHandoff: async (input) => void handoffs.push(input.conversationId) })
    const ctx = { organizationId: 'org-tools', contactId: 'henry', conversationId: 'conv-h' }
    const created = await tools.execute({ id: '1', name: 'create_or_update_lead', arguments: JSON.stringify({ title: 'Team plan', value: 300 }) }, ctx)
    if (!created.ok) throw new Error(created.error)
    const leadId = (JSON.parse(created.result) as { lead_id: string }).lead_id
    expect(await tools.execute({ id: '2', name: 'move_lead_stage', arguments: JSON.stringify({ lead_id: leadId, stage: 'proposal' }) }, ctx)).toMatchObject({ ok: true })
    expect(await tools.execute({ id: '3', name: 'remember_fact', arguments: JSON.stringify({ key: 'Company', value: 'Acme' }) }, ctx)).toMatchObject({ ok: true })

    const intruder = { ...ctx, organizationId: 'org-intruder' }
    expect(await tools.execute({ id: '4', name: 'move_lead_stage', arguments: JSON.stringify({ lead_id: leadId, stage: 'lost' }) }, intruder)).toMatchObject({ ok: false })
    expect(await tools.execute({ id: '5', name: 'add_note', arguments: JSON.stringify({ lead_id: leadId, text: 'x' }) }, { ...ctx, contactId: 'ivy' })).toMatchObject({ ok: false })

    expect(await crm.listLeads('org-tools')).toEqual([expect.objectContaining({ id: leadId, contactId: 'henry', conversationId: 'conv-h', stage: 'proposal', value: 300 })])
    expect(await db.prisma.leadNote.count({ where: { leadId } })).toBe(0)
    expect(await memory.list('org-tools', 'henry')).toEqual([expect.objectContaining({ key: 'company', value: 'Acme', source: 'agent' })])
  })
})
