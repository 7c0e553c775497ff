import { readFileSync } from 'node:fs'
import path from 'node:path'
import nock from 'nock'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeKommo, type FakeKommo } from '../support/fake-kommo.ts'

/**
 * A customer's conversation in which the model acts in Kommo through its tools: the model is an
 * OpenAI-compatible provider replayed with nock (tests/fixtures/openai), Kommo is the local fake;
 * the app is real. The contact, the lead, the note and the task land in Kommo with the ids Kommo gave.
 */
const COMPLETION = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../fixtures/openai/chat-completion.json'), 'utf8'))
const LLM = 'https://llm-kommo.example'
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.conversationtokenforacme.signature03'
type Body = { messages: { role: string; content: string | null; tool_call_id?: string }[]; tools?: { function: { name: string; parameters: { properties: Record<string, { enum?: string[] }> } } }[] }

const completion = (content: string | null, toolCalls?: unknown[]) => ({
  ...COMPLETION,
  model: 'acme-large',
  choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [], ...(toolCalls ? { tool_calls: toolCalls } : {}) }, logprobs: null, finish_reason: toolCalls ? 'tool_calls' : 'stop' }],
})
const call = (name: string, args: unknown) => ({ id: `call_${name}_${Math.random().toString(36).slice(2, 8)}`, type: 'function', function: { name, arguments: JSON.stringify(args) } })

describe('a conversation in which the agent acts in Kommo', () => {
  let kommo: FakeKommo
  let t: TestApp
  let org: TestOrg
  const bodies: Body[] = []

  beforeAll(async () => {
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    kommo = await startFakeKommo()
    kommo.addAccount({ subdomain: 'acme', accountId: 31000001, name: 'Acme' })
    kommo.addLongLivedToken('acme', TOKEN)
    t = await startTestApp({ env: { KOMMO_API_URL: kommo.apiUrlTemplate }, overrides: { net: { lookup: async () => [{ address: '93.184.215.14', family: 4 }], fetch: (input, init) => fetch(input, init) } } })
    org = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC] })
    expect((await api(t, '/api/v1/crm/kommo', { token: org.token, body: { subdomain: 'acme', longLivedToken: TOKEN } })).status).toBe(201)
    const key = await api(t, '/api/v1/provider-keys', { token: org.token, body: { name: 'primary', provider: 'custom', baseUrl: `${LLM}/v1`, apiKey: 'sk-kommo-test-0000000000001234' } })
    await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { providerKeyId: key.json.key.id, model: 'acme-large' } })
  })
  afterAll(async () => {
    nock.cleanAll()
    nock.enableNetConnect()
    await t?.close()
    await kommo?.close()
  })

  it('the model remembers the phone, makes the lead, notes and a task; Kommo has them with its own ids', async () => {
    let leadId = ''
    const scope = nock(LLM)
      .post('/v1/chat/completions')
      .reply(200, (_uri, body) => {
        bodies.push(body as Body)
        return completion(null, [call('remember_fact', { key: 'phone', value: '+49 151 7654321' }), call('remember_fact', { key: 'name', value: 'Grace Hopper' }), call('create_or_update_lead', { title: 'Pro plan for 12 seats', value: 2400 })])
      })
      .post('/v1/chat/completions')
      .reply(200, (_uri, body) => {
        bodies.push(body as Body)
        // The model reads the lead_id back from the tool's answer.
        const result = (body as Body).messages.filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content ?? '{}') as { lead_id?: string }).find((r) => r.lead_id)
        leadId = result!.lead_id!
        return completion(null, [call('add_note', { lead_id: leadId, text: 'Needs 12 seats from next month' }), call('create_task', { lead_id: leadId, text: 'Send the Pro offer', due_at: '2031-01-15T09:00:00Z' })])
      })
      .post('/v1/chat/completions')
      .reply(200, (_uri, body) => {
        bodies.push(body as Body)
        return completion('Thank you, Grace: our sales team will send you the Pro offer.')
      })
    const res = await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'grace-hopper-1', text: 'We want the Pro plan for 12 seats. I am Grace Hopper, +49 151 7654321.' } })
    expect(res.status).toBe(200)
    expect(JSON.stringify(res.json)).toContain('Pro offer')
    expect(scope.isDone()).toBe(true)

    // The model saw Kommo's stage names in move_lead_stage.
    const stageEnum = bodies[0]!.tools!.find((tool) => tool.function.name === 'move_lead_stage')!.function.parameters.properties.stage!.enum
    const main = (await api(t, '/api/v1/crm/kommo', { token: org.token })).json.catalog.pipelines.find((p: { isMain: boolean }) => p.isMain)
    expect(stageEnum).toEqual(main.statuses.map((s: { name: string }) => s.name))

    const [lead] = kommo.leads('acme') as unknown as { id: number; name: string; price: number; _embedded: { contacts: { id: number }[] } }[]
    expect(lead).toMatchObject({ name: 'Pro plan for 12 seats', price: 2400 })
    const contact = (kommo.contacts('acme') as unknown as { id: number; name: string; custom_fields_values: unknown }[]).find((c) => c.id === lead!._embedded.contacts[0]!.id)!
    expect(contact.name).toBe('Grace Hopper')
    expect(JSON.stringify(contact.custom_fields_values)).toContain('+49 151 7654321')
    expect(kommo.notes('acme')).toEqual(expect.arrayContaining([expect.objectContaining({ entity_id: lead!.id, params: expect.objectContaining({ text: 'Needs 12 seats from next month' }) })]))
    expect(kommo.tasks('acme')).toEqual(expect.arrayContaining([expect.objectContaining({ entity_id: lead!.id, text: 'Send the Pro offer', complete_till: Date.parse('2031-01-15T09:00:00Z') / 1000 })]))
    // The mirrored lead the conversation shows carries Kommo's id.
    const mirror = await t.app.db.prisma.lead.findFirst({ where: { id: leadId } })
    expect(mirror!.externalId).toBe(String(lead!.id))
  })
})
