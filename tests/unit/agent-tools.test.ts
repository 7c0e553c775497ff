import { beforeEach, describe, expect, it } from 'vitest'
import { AppError } from '../../core/errors.ts'
import { createAgentTools, PIPELINE_STAGES, type ToolContext, type ToolOutcome, type ToolRegistry } from '../../core/crm/tools.ts'
import type { ContactFact, ContactMemory, CrmPort, Lead } from '../../core/ports.ts'

type Call = { method: string; input: unknown }

/** In-memory CRM and memory that record every call, so a test can tell that nothing was written. */
function fakes() {
  const calls: Call[] = []
  const leads = new Map<string, Lead>()
  const facts = new Map<string, ContactFact>()
  const handoffs: { organizationId: string; conversationId: string; reason: string }[] = []
  let seq = 0
  const lead = (organizationId: string, leadId: string) => {
    const l = leads.get(leadId)
    if (!l || l.organizationId !== organizationId) throw new AppError('not_found', 'Lead not found', 404)
    return l
  }
  const crm: CrmPort = {
    upsertLead: async (input) => {
      calls.push({ method: 'upsertLead', input })
      const now = new Date()
      if (input.leadId) {
        const l = lead(input.organizationId, input.leadId)
        const updated = { ...l, title: input.title, value: input.value === undefined ? l.value : input.value, updatedAt: now }
        leads.set(l.id, updated)
        return updated
      }
      const created: Lead = { id: `lead-${++seq}`, organizationId: input.organizationId, contactId: input.contactId, conversationId: input.conversationId, title: input.title, value: input.value ?? null, stage: 'new', owner: null, createdAt: now, updatedAt: now }
      leads.set(created.id, created)
      return created
    },
    moveLead: async (input) => {
      calls.push({ method: 'moveLead', input })
      const moved = { ...lead(input.organizationId, input.leadId), stage: input.stage }
      leads.set(moved.id, moved)
      return moved
    },
    addNote: async (input) => {
      calls.push({ method: 'addNote', input })
      lead(input.organizationId, input.leadId)
      return { id: `note-${++seq}` }
    },
    createTask: async (input) => {
      calls.push({ method: 'createTask', input })
      lead(input.organizationId, input.leadId)
      return { id: `task-${++seq}` }
    },
    listLeads: async (organizationId, input) => [...leads.values()].filter((l) => l.organizationId === organizationId && (!input?.contactId || l.contactId === input.contactId)),
  }
  const memory: ContactMemory = {
    list: async (organizationId, contactId) => [...facts.entries()].filter(([k]) => k.startsWith(`${organizationId}/${contactId}/`)).map(([, f]) => f),
    remember: async (input) => {
      calls.push({ method: 'remember', input })
      facts.set(`${input.organizationId}/${input.contactId}/${input.key}`, { key: input.key, value: input.value, source: input.source ?? 'agent', updatedAt: new Date() })
    },
    forget: async () => 0,
  }
  const openHandoff = async (input: { organizationId: string; conversationId: string; reason: string }) => {
    calls.push({ method: 'openHandoff', input })
    handoffs.push(input)
  }
  const writes = () => calls.map((c) => c.method)
  return { crm, memory, openHandoff, calls, leads, facts, handoffs, writes }
}

const ctx: ToolContext = { organizationId: 'org-a', contactId: 'contact-1', conversationId: 'conv-1' }
const call = (name: string, args: unknown, id = 'call-1') => ({ id, name, arguments: typeof args === 'string' ? args : JSON.stringify(args) })
const result = (outcome: ToolOutcome) => {
  if (!outcome.ok) throw new Error(`expected ok, got error: ${outcome.error}`)
  return JSON.parse(outcome.result) as Record<string, unknown>
}
const error = (outcome: ToolOutcome) => {
  if (outcome.ok) throw new Error(`expected an error, got ${outcome.result}`)
  return outcome.error
}

describe('agent tools', () => {
  let f: ReturnType<typeof fakes>
  let tools: ToolRegistry
  beforeEach(() => {
    f = fakes()
    tools = createAgentTools({ crm: f.crm, memory: f.memory, openHandoff: f.openHandoff })
  })

  async function newLead(title = 'Pro plan for 12 seats', context = ctx) {
    return result(await tools.execute(call('create_or_update_lead', { title }), context)).lead_id as string
  }

  describe('specs', () => {
    it('offers the six tools with JSON Schema object parameters and their required fields', () => {
      const byName = Object.fromEntries(tools.specs.map((s) => [s.name, s]))
      expect(Object.keys(byName).sort()).toEqual(['add_note', 'create_or_update_lead', 'create_task', 'handoff_to_human', 'move_lead_stage', 'remember_fact'])
      const required: Record<string, string[]> = {
        handoff_to_human: ['reason'],
        create_or_update_lead: ['title'],
        move_lead_stage: ['lead_id', 'stage'],
        add_note: ['lead_id', 'text'],
        create_task: ['lead_id', 'text'],
        remember_fact: ['key', 'value'],
      }
      for (const [name, fields] of Object.entries(required)) {
        const spec = byName[name]!
        expect(spec.name).toMatch(/^[a-z][a-z_]*$/)
        expect(spec.description.length).toBeGreaterThan(20)
        const params = spec.parameters as { type: string; properties: Record<string, { type?: string; enum?: string[]; format?: string; pattern?: string }>; required?: string[]; additionalProperties?: boolean; $schema?: string }
        expect(params.$schema).toBeUndefined()
        expect(params.type).toBe('object')
        expect(params.additionalProperties).toBe(false)
        expect([...(params.required ?? [])].sort()).toEqual([...fields].sort())
        for (const field of fields) expect(params.properties[field]).toBeDefined()
      }
      const lead = byName.create_or_update_lead!.parameters as { properties: Record<string, { type: string; minimum?: number; maxLength?: number }> }
      expect(lead.properties.value).toMatchObject({ type: 'number', minimum: 0 })
      expect(lead.properties.title).toMatchObject({ type: 'string', maxLength: 200 })
      const move = byName.move_lead_stage!.parameters as { properties: { stage: { enum: string[] } } }
      expect(move.properties.stage.enum).toEqual([...PIPELINE_STAGES])
      const task = byName.create_task!.parameters as { properties: { due_at: { type: string; format: string; pattern?: string } } }
      expect(task.properties.due_at).toMatchObject({ type: 'string', format: 'date-time' })
      expect(task.properties.due_at.pattern).toBeUndefined()
      // What is sent to the provider must survive JSON.
      expect(JSON.parse(JSON.stringify(tools.specs))).toEqual(tools.specs)
    })
  })

  describe('happy paths', () => {
    it('handoff_to_human opens a handoff for the turn and says a person will reply', async () => {
      const outcome = await tools.execute(call('handoff_to_human', { reason: 'wants a refund' }), ctx)
      expect(outcome).toMatchObject({ ok: true, handoff: true })
      expect(f.handoffs).toEqual([{ organizationId: 'org-a', conversationId: 'conv-1', reason: 'wants a refund' }])
      expect(JSON.stringify(result(outcome))).toMatch(/person/i)
    })

    it('create_or_update_lead creates a lead for the contact and conversation of the turn', async () => {
      const outcome = result(await tools.execute(call('create_or_update_lead', { title: '  Pro plan  ', value: 1200 }), ctx))
      expect(f.calls).toEqual([{ method: 'upsertLead', input: { organizationId: 'org-a', contactId: 'contact-1', conversationId: 'conv-1', title: 'Pro plan', value: 1200 } }])
      expect(outcome).toMatchObject({ lead_id: expect.any(String), title: 'Pro plan', value: 1200, stage: 'new', created: true })
    })

    it('create_or_update_lead with lead_id updates that lead and keeps the value when none is given', async () => {
      const id = await newLead()
      await tools.execute(call('create_or_update_lead', { title: 'x', value: 50, lead_id: id }), ctx)
      const outcome = result(await tools.execute(call('create_or_update_lead', { title: 'Pro plan, 20 seats', lead_id: id }), ctx))
      expect(f.calls.at(-1)).toEqual({ method: 'upsertLead', input: { organizationId: 'org-a', contactId: 'contact-1', conversationId: 'conv-1', title: 'Pro plan, 20 seats', leadId: id } })
      expect(outcome).toMatchObject({ lead_id: id, title: 'Pro plan, 20 seats', value: 50, created: false })
      expect(f.leads.size).toBe(1)
    })

    it('move_lead_stage moves the lead', async () => {
      const id = await newLead()
      const outcome = result(await tools.execute(call('move_lead_stage', { lead_id: id, stage: 'qualified' }), ctx))
      expect(f.calls.at(-1)).toEqual({ method: 'moveLead', input: { organizationId: 'org-a', leadId: id, stage: 'qualified' } })
      expect(outcome).toMatchObject({ lead_id: id, stage: 'qualified', previous_stage: 'new' })
    })

    it('add_note adds a note to the lead', async () => {
      const id = await newLead()
      const outcome = result(await tools.execute(call('add_note', { lead_id: id, text: 'Wants a demo on Friday' }), ctx))
      expect(f.calls.at(-1)).toEqual({ method: 'addNote', input: { organizationId: 'org-a', leadId: id, text: 'Wants a demo on Friday' } })
      expect(outcome).toEqual({ note_id: expect.stringMatching(/^note-/), lead_id: id })
    })

    it('create_task creates a task with a due date, or without one', async () => {
      const id = await newLead()
      const withDue = result(await tools.execute(call('create_task', { lead_id: id, text: 'Call back', due_at: '2026-05-01T17:00:00+02:00' }), ctx))
      expect(f.calls.at(-1)).toEqual({ method: 'createTask', input: { organizationId: 'org-a', leadId: id, text: 'Call back', dueAt: new Date('2026-05-01T15:00:00Z') } })
      expect(withDue).toMatchObject({ task_id: expect.any(String), lead_id: id, due_at: '2026-05-01T15:00:00.000Z' })
      const without = result(await tools.execute(call('create_task', { lead_id: id, text: 'Send the offer' }), ctx))
      expect(f.calls.at(-1)).toEqual({ method: 'createTask', input: { organizationId: 'org-a', leadId: id, text: 'Send the offer', dueAt: null } })
      expect(without.due_at).toBeNull()
    })

    it('remember_fact stores the fact for the contact, with the key normalised', async () => {
      const outcome = result(await tools.execute(call('remember_fact', { key: ' Name ', value: 'Anna' }), ctx))
      expect(f.calls).toEqual([{ method: 'remember', input: { organizationId: 'org-a', contactId: 'contact-1', key: 'name', value: 'Anna', source: 'agent' } }])
      expect(outcome).toEqual({ remembered: true, key: 'name', value: 'Anna' })
    })

    it('accepts an empty argument string as {} and then names the missing field', async () => {
      expect(error(await tools.execute(call('handoff_to_human', ''), ctx))).toMatch(/^arguments invalid for handoff_to_human: reason: /)
      expect(f.calls).toEqual([])
    })
  })

  describe('invalid calls execute nothing and say what to fix', () => {
    const cases: { name: string; tool: string; args: unknown; message: RegExp }[] = [
      { name: 'invalid JSON', tool: 'create_or_update_lead', args: '{"title": "Pro plan",', message: /^arguments are not valid JSON .*e\.g\. \{"title"/ },
      { name: 'a JSON array instead of an object', tool: 'remember_fact', args: '["name","Anna"]', message: /^arguments invalid for remember_fact: arguments: .*expected object/ },
      { name: 'an unknown stage', tool: 'move_lead_stage', args: { lead_id: 'lead-1', stage: 'closed-won' }, message: /^arguments invalid for move_lead_stage: stage: expected one of new\|qualified\|proposal\|negotiation\|won\|lost$/ },
      { name: 'an empty title', tool: 'create_or_update_lead', args: { title: '   ' }, message: /title: must not be empty/ },
      { name: 'a title over 200 characters', tool: 'create_or_update_lead', args: { title: 'x'.repeat(201) }, message: /title: .*200/ },
      { name: 'a negative value', tool: 'create_or_update_lead', args: { title: 'Pro', value: -5 }, message: /value: .*>=0/ },
      { name: 'a value sent as a string', tool: 'create_or_update_lead', args: { title: 'Pro', value: '1200' }, message: /value: .*expected number, received string/ },
      { name: 'a date that is not ISO', tool: 'create_task', args: { lead_id: 'lead-1', text: 'Call', due_at: 'next Tuesday' }, message: /due_at: expected an ISO 8601 date-time/ },
      { name: 'a date without a time zone', tool: 'create_task', args: { lead_id: 'lead-1', text: 'Call', due_at: '2026-05-01' }, message: /due_at: expected an ISO 8601 date-time/ },
      { name: 'an empty note', tool: 'add_note', args: { lead_id: 'lead-1', text: '' }, message: /text: must not be empty/ },
      { name: 'a note over 2000 characters', tool: 'add_note', args: { lead_id: 'lead-1', text: 'x'.repeat(2001) }, message: /text: .*2000/ },
      { name: 'a missing lead_id', tool: 'add_note', args: { text: 'hello' }, message: /lead_id: .*expected string, received undefined/ },
      { name: 'a fact key over 64 characters', tool: 'remember_fact', args: { key: 'k'.repeat(65), value: 'v' }, message: /key: .*64/ },
      { name: 'an unknown argument', tool: 'remember_fact', args: { key: 'name', value: 'Anna', confidence: 0.9 }, message: /Unrecognized key: "confidence"/ },
      { name: 'an empty handoff reason', tool: 'handoff_to_human', args: { reason: '' }, message: /reason: must not be empty/ },
    ]
    for (const c of cases) {
      it(`rejects ${c.name}`, async () => {
        const outcome = await tools.execute(call(c.tool, c.args), ctx)
        expect(outcome.ok).toBe(false)
        expect(error(outcome)).toMatch(c.message)
        expect(f.writes()).toEqual([])
      })
    }

    it('rejects an unknown tool and lists the real ones', async () => {
      const message = error(await tools.execute(call('delete_all_leads', {}), ctx))
      expect(message).toMatch(/^unknown tool "delete_all_leads"; available tools: .*move_lead_stage/)
      expect(error(await tools.execute(call('toString', {}), ctx))).toMatch(/^unknown tool/)
      expect(f.writes()).toEqual([])
    })

    it("never touches a lead of another organization or of another contact", async () => {
      const otherOrgLead = await newLead('Other org', { ...ctx, organizationId: 'org-b' })
      const otherContactLead = await newLead('Other contact', { ...ctx, contactId: 'contact-2' })
      f.calls.length = 0
      for (const id of [otherOrgLead, otherContactLead, 'no-such-lead']) {
        const attempts = [
          call('move_lead_stage', { lead_id: id, stage: 'won' }),
          call('add_note', { lead_id: id, text: 'note' }),
          call('create_task', { lead_id: id, text: 'task' }),
          call('create_or_update_lead', { title: 'hijacked', lead_id: id }),
        ]
        for (const attempt of attempts) {
          const message = error(await tools.execute(attempt, ctx))
          expect(message).toContain(`lead_id "${id}" is not a lead of this customer`)
          expect(message).toMatch(/create_or_update_lead/)
        }
      }
      expect(f.writes()).toEqual([])
      expect(f.leads.get(otherOrgLead)).toMatchObject({ title: 'Other org', stage: 'new' })
      expect(f.leads.get(otherContactLead)).toMatchObject({ title: 'Other contact', stage: 'new' })
    })

    it("names the contact's own leads when the model got the id wrong", async () => {
      const id = await newLead()
      expect(error(await tools.execute(call('add_note', { lead_id: 'lead-999', text: 'x' }), ctx))).toContain(`Their leads: ${id}.`)
    })

    it('turns an AppError from the port into an error the model reads, and throws anything else', async () => {
      const id = await newLead()
      f.crm.addNote = async () => {
        throw new AppError('not_found', 'Lead not found', 404)
      }
      expect(error(await tools.execute(call('add_note', { lead_id: id, text: 'x' }), ctx))).toBe('add_note failed: Lead not found')
      f.memory.remember = async () => {
        throw new Error('connection refused')
      }
      await expect(tools.execute(call('remember_fact', { key: 'name', value: 'Anna' }), ctx)).rejects.toThrow('connection refused')
    })
  })
})
