import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, waitFor, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeKommo, type FakeKommo } from '../support/fake-kommo.ts'
import { createAgentTools, type ToolRegistry } from '../../core/crm/tools.ts'
import type { Conversation } from '../../core/ports.ts'

const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.crmtoolstokenforacme.signature0000000002'
type Lead = { id: number; name: string; price: number; status_id: number; pipeline_id: number; responsible_user_id: number; _embedded?: { contacts?: { id: number }[] } }

/** The agent's CRM tools acting in a connected Kommo account, with the ids Kommo gave. */
describe('the agent’s CRM tools in Kommo', () => {
  let kommo: FakeKommo
  let t: TestApp
  let org: TestOrg
  let tools: ToolRegistry
  let conversation: Conversation
  let stages: { id: number; name: string }[]
  let pipelineId: number
  let managerId: number
  const run = async (name: string, args: Record<string, unknown>) => tools.execute({ id: `call-${name}-${Math.random()}`, name, arguments: JSON.stringify(args) }, { organizationId: org.organizationId, contactId: conversation.contactId, conversationId: conversation.id })
  const leads = () => kommo.leads('acme') as unknown as Lead[]

  beforeAll(async () => {
    kommo = await startFakeKommo()
    kommo.addAccount({ subdomain: 'acme', accountId: 31000001, name: 'Acme' })
    kommo.addLongLivedToken('acme', TOKEN)
    t = await startTestApp({ env: { KOMMO_API_URL: kommo.apiUrlTemplate } })
    org = await createOrg(t, { name: 'Acme' })
    const state = (await api(t, '/api/v1/crm/kommo', { token: org.token, body: { subdomain: 'acme', longLivedToken: TOKEN } })).json
    const main = state.catalog.pipelines.find((p: { isMain: boolean }) => p.isMain)
    pipelineId = main.id
    stages = main.statuses
    managerId = state.catalog.users.at(-1).id
    const settings = await api(t, '/api/v1/crm/kommo/settings', { method: 'PUT', token: org.token, body: { pipelineId, statusId: stages[1]!.id, responsibleUserIds: [managerId] } })
    expect(settings.status).toBe(200)
    const inbox = (await t.app.store.inboxes.listByOrganization(org.organizationId)).find((i) => i.channel === 'webchat' && i.purpose === 'customers')!
    conversation = await t.app.store.conversations.resolve({ inbox, externalThreadId: 'visitor-ada', externalUserId: 'visitor-ada', userName: 'Ada Lovelace' })
    await t.app.memory.remember({ organizationId: org.organizationId, contactId: conversation.contactId, key: 'phone', value: '+49 151 2345678' })
    await t.app.memory.remember({ organizationId: org.organizationId, contactId: conversation.contactId, key: 'email', value: 'ada@example.com' })
    tools = createAgentTools({ crm: t.app.crm, memory: t.app.memory, openHandoff: async () => {} })
  })
  afterAll(async () => {
    await t?.close()
    await kommo?.close()
  })

  it('settings are checked against the account: an unknown pipeline, status or user is refused', async () => {
    expect((await api(t, '/api/v1/crm/kommo/settings', { method: 'PUT', token: org.token, body: { pipelineId: 1 } })).status).toBe(422)
    expect((await api(t, '/api/v1/crm/kommo/settings', { method: 'PUT', token: org.token, body: { statusId: 1 } })).status).toBe(422)
    expect((await api(t, '/api/v1/crm/kommo/settings', { method: 'PUT', token: org.token, body: { responsibleUserIds: [1] } })).status).toBe(422)
  })

  it('the model sees the real stage names of the pipeline', async () => {
    const spec = (await tools.specsFor(org.organizationId)).find((s) => s.name === 'move_lead_stage')!
    const stage = (spec.parameters as { properties: { stage: { enum: string[] } } }).properties.stage
    expect(stage.enum).toEqual(stages.map((s) => s.name))
    // Without Kommo, the built-in stages.
    const other = await createOrg(t, { name: 'Globex' })
    const builtin = (await tools.specsFor(other.organizationId)).find((s) => s.name === 'move_lead_stage')!
    expect((builtin.parameters as { properties: { stage: { enum: string[] } } }).properties.stage.enum).toContain('qualified')
  })

  it('create_or_update_lead makes the lead with its new contact in one call, in the chosen pipeline, status and responsible user', async () => {
    const state0 = (await api(t, '/api/v1/crm/kommo', { token: org.token })).json
    const outcome = await run('create_or_update_lead', { title: 'Pro plan for 12 seats', value: 1200 })
    expect(outcome.ok).toBe(true)
    expect(kommo.callsOf('/api/v4/leads/complex', 'acme')).toHaveLength(1)
    const [lead] = leads()
    expect(lead).toMatchObject({ name: 'Pro plan for 12 seats', price: 1200, pipeline_id: pipelineId, status_id: stages[1]!.id, responsible_user_id: managerId })
    const contact = (kommo.contacts('acme') as unknown as { id: number; name: string; custom_fields_values?: { field_code?: string; values: { value: string }[] }[] }[]).find((c) => c.id === lead!._embedded?.contacts?.[0]?.id)!
    expect(contact.name).toBe('Ada Lovelace')
    expect(JSON.stringify(contact.custom_fields_values)).toContain('+49 151 2345678')
    expect(JSON.stringify(contact.custom_fields_values)).toContain('ada@example.com')
    // The messenger identity, in the "Switchboard ID" field made at connect.
    expect(JSON.stringify(contact.custom_fields_values)).toContain('webchat:visitor-ada')
    const mirrored = await t.app.crm.listLeads(org.organizationId, { contactId: conversation.contactId })
    expect(mirrored).toHaveLength(1)
    expect(mirrored[0]).toMatchObject({ title: 'Pro plan for 12 seats', stage: stages[1]!.name, owner: state0.catalog.users.at(-1).name })
    const row = await t.app.db.prisma.lead.findFirst({ where: { id: mirrored[0]!.id } })
    expect(row!.externalId).toBe(String(lead!.id))
  })

  it('a second lead of the same customer reuses their Kommo contact', async () => {
    const before = kommo.contacts('acme').length
    expect((await run('create_or_update_lead', { title: 'Onboarding workshop' })).ok).toBe(true)
    expect(kommo.contacts('acme')).toHaveLength(before)
    const [first, second] = leads()
    expect(second!._embedded?.contacts?.[0]?.id).toBe(first!._embedded?.contacts?.[0]?.id)
  })

  it('move_lead_stage moves it to a stage named as Kommo names it; another name is refused with the list', async () => {
    const [mirror] = await t.app.crm.listLeads(org.organizationId, { contactId: conversation.contactId })
    const target = stages[2]!
    const outcome = await run('move_lead_stage', { lead_id: mirror!.id, stage: target.name })
    expect(outcome.ok).toBe(true)
    const externalId = (await t.app.db.prisma.lead.findFirst({ where: { id: mirror!.id } }))!.externalId
    expect(leads().find((l) => String(l.id) === externalId)!.status_id).toBe(target.id)
    const wrong = await run('move_lead_stage', { lead_id: mirror!.id, stage: 'qualified' })
    expect(wrong.ok).toBe(false)
    expect(!wrong.ok && wrong.error).toContain(stages[0]!.name)
  })

  it('add_note and create_task land on the Kommo lead, the task for the responsible user with its due time', async () => {
    const leadsOfAda = await t.app.crm.listLeads(org.organizationId, { contactId: conversation.contactId })
    const mirror = leadsOfAda.find((l) => l.title === 'Pro plan for 12 seats')!
    const externalId = Number((await t.app.db.prisma.lead.findFirst({ where: { id: mirror.id } }))!.externalId)
    expect((await run('add_note', { lead_id: mirror.id, text: 'Wants a demo next week' })).ok).toBe(true)
    expect(kommo.notes('acme').some((n) => (n as { entity_id: number; params?: { text?: string } }).entity_id === externalId && (n as { params?: { text?: string } }).params?.text === 'Wants a demo next week')).toBe(true)
    expect((await run('create_task', { lead_id: mirror.id, text: 'Call back', due_at: '2030-05-01T15:00:00Z' })).ok).toBe(true)
    const task = kommo.tasks('acme').at(-1) as { entity_id: number; entity_type: string; text: string; complete_till: number; responsible_user_id: number }
    expect(task).toMatchObject({ entity_id: externalId, entity_type: 'leads', text: 'Call back', complete_till: Date.parse('2030-05-01T15:00:00Z') / 1000, responsible_user_id: managerId })
  })

  it('an organization without Kommo keeps the built-in records, and Kommo sees nothing of them', async () => {
    const other = await createOrg(t, { name: 'Initech' })
    const inbox = (await t.app.store.inboxes.listByOrganization(other.organizationId)).find((i) => i.channel === 'webchat' && i.purpose === 'customers')!
    const c = await t.app.store.conversations.resolve({ inbox, externalThreadId: 'v-1', externalUserId: 'v-1' })
    const before = leads().length
    const outcome = await tools.execute({ id: 'x', name: 'create_or_update_lead', arguments: JSON.stringify({ title: 'Local lead' }) }, { organizationId: other.organizationId, contactId: c.contactId, conversationId: c.id })
    expect(outcome.ok).toBe(true)
    expect(leads()).toHaveLength(before)
    expect(await t.app.crm.listLeads(other.organizationId)).toHaveLength(1)
  })

  it('a conversation handed to a person puts its transcript on the customer’s Kommo lead, with a task to answer them', async () => {
    const before = kommo.notes('acme').length
    const res = await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'kommo-handoff-visitor', text: 'I want to talk to a person about my invoice' } })
    expect(res.status).toBeLessThan(300)
    await waitFor(async () => kommo.notes('acme').length > before)
    const note = kommo.notes('acme').at(-1) as { entity_id: number; params?: { text?: string } }
    expect(note.params?.text).toContain('Transcript')
    expect(note.params?.text).toContain('I want to talk to a person about my invoice')
    const lead = leads().find((l) => l.id === note.entity_id)!
    expect(lead.name).toMatch(/handed to a person/)
    await waitFor(async () => kommo.tasks('acme').some((task) => (task as { entity_id: number }).entity_id === lead.id))
  })

  it('/crm tells an admin the connection, where new leads go and the last leads', async () => {
    const text = await t.app.crm.describe!(org.organizationId)
    expect(text).toContain('Kommo: Acme (acme.kommo.com), active.')
    expect(text).toContain(`stage "${stages[1]!.name}"`)
    expect(text).toContain('Pro plan for 12 seats')
    expect(text).toMatch(/Last actions:\n• settings changed, /)
    expect(text).toContain('• connected, ')
  })

  it('with "every new customer", a new customer gets a Kommo lead before the agent answers, once', async () => {
    expect((await api(t, '/api/v1/crm/kommo/settings', { method: 'PUT', token: org.token, body: { leadMode: 'every_contact' } })).status).toBe(200)
    const before = leads().length
    const send = (text: string) => api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'kommo-new-customer', text } })
    expect((await send('Hello, how do I connect Telegram?')).status).toBeLessThan(300)
    await waitFor(async () => leads().length === before + 1)
    expect(leads().at(-1)!.name).toMatch(/^New customer/)
    expect((await send('And the webhook?')).status).toBeLessThan(300)
    await new Promise((r) => setTimeout(r, 300))
    expect(leads()).toHaveLength(before + 1)
    await api(t, '/api/v1/crm/kommo/settings', { method: 'PUT', token: org.token, body: { leadMode: 'agent' } })
  })

  it('a customer whose Kommo contact is not remembered is found again by their messenger identity', async () => {
    await t.app.db.prisma.crmContactLink.deleteMany({ where: { organizationId: org.organizationId, contactId: conversation.contactId } })
    const contacts = kommo.contacts('acme').length
    expect((await run('create_or_update_lead', { title: 'Extra seats' })).ok).toBe(true)
    expect(kommo.contacts('acme')).toHaveLength(contacts)
    expect(kommo.callsOf('/api/v4/contacts', 'acme').at(-1)!.query).toMatchObject({ query: 'webchat:visitor-ada' })
  })

  it('assign_lead gives a lead to a person of the team, named as Kommo names them; it is offered only with Kommo', async () => {
    const state = (await api(t, '/api/v1/crm/kommo', { token: org.token })).json
    const names = state.catalog.users.map((u: { name: string }) => u.name)
    const spec = (await tools.specsFor(org.organizationId)).find((x) => x.name === 'assign_lead')!
    expect((spec.parameters as { properties: { user: { enum: string[] } } }).properties.user.enum).toEqual(names)
    const [mirror] = await t.app.crm.listLeads(org.organizationId, { contactId: conversation.contactId })
    const first = state.catalog.users[0]
    expect((await run('assign_lead', { lead_id: mirror!.id, user: first.name })).ok).toBe(true)
    const externalId = (await t.app.db.prisma.lead.findFirst({ where: { id: mirror!.id } }))!.externalId
    expect(leads().find((l) => String(l.id) === externalId)!.responsible_user_id).toBe(first.id)
    expect((await t.app.crm.listLeads(org.organizationId, { contactId: conversation.contactId })).find((l) => l.id === mirror!.id)!.owner).toBe(first.name)
    const wrong = await run('assign_lead', { lead_id: mirror!.id, user: 'Nobody Here' })
    expect(wrong.ok).toBe(false)
    const other = await createOrg(t, { name: 'Umbrella' })
    expect((await tools.specsFor(other.organizationId)).some((x) => x.name === 'assign_lead')).toBe(false)
  })
})
