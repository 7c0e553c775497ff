import { readFileSync } from 'node:fs'
import path from 'node:path'
import nock from 'nock'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { HANDOFF_BY_TOOL, UNAVAILABLE_REPLY } from '../../core/llm/llm-answerer.ts'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

/**
 * Answering through language models, end to end: an organization's own keys (BYOK) for two
 * OpenAI-compatible providers, the agent's primary model and fallback, tools, streaming, usage and
 * cost. The providers are replayed with nock in the OpenAI API's response shapes
 * (tests/fixtures/openai/README.md); the app itself is real (HTTP, PGlite, in-process queue).
 */
const fixtures = path.resolve(import.meta.dirname, '../fixtures/openai')
const COMPLETION = JSON.parse(readFileSync(path.join(fixtures, 'chat-completion.json'), 'utf8'))
const SERVER_ERROR = JSON.parse(readFileSync(path.join(fixtures, 'error-server.json'), 'utf8'))
const STREAM = readFileSync(path.join(fixtures, 'stream-text.sse'), 'utf8')

const A = 'https://llm-a.example'
const B = 'https://llm-b.example'
const PATH = '/v1/chat/completions'
const KEY_A = 'sk-primary-SECRET-a1b2c3d4e5-1234'
const KEY_B = 'sk-backup-SECRET-f6g7h8i9j0-5678'

const completion = (content: string | null, usage = { prompt_tokens: 1000, completion_tokens: 50 }, toolCalls?: unknown[], model = 'acme-large') => ({
  ...COMPLETION,
  model,
  choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [], ...(toolCalls ? { tool_calls: toolCalls } : {}) }, logprobs: null, finish_reason: toolCalls ? 'tool_calls' : 'stop' }],
  usage: { ...COMPLETION.usage, ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
})
const toolCall = (name: string, args: unknown) => ({ id: `call_${name}_${Math.random().toString(36).slice(2, 8)}`, type: 'function', function: { name, arguments: typeof args === 'string' ? args : JSON.stringify(args) } })

type Body = { model: string; messages: { role: string; content: string | null; tool_call_id?: string }[]; tools?: { function: { name: string } }[]; stream?: boolean }

describe('answering with language models', () => {
  let t: TestApp
  let org: TestOrg
  let keyA: string
  let keyB: string

  beforeAll(async () => {
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    t = await startTestApp({
      env: { LLM_PRICES: JSON.stringify({ 'acme-large': { input: 1, output: 2 }, 'acme-small': { input: 0.5, output: 1 } }) },
      // The providers' names resolve to a public address, and their calls go through the global
      // fetch that nock answers: the address policy of organizations' keys (ssrf.test.ts) still applies.
      overrides: { net: { lookup: async () => [{ address: '93.184.215.14', family: 4 }], fetch: (input, init) => fetch(input, init) } },
    })
    org = await createOrg(t, { name: 'Models', docs: [TELEGRAM_DOC] })
    const a = await api(t, '/api/v1/provider-keys', { token: org.token, body: { name: 'primary', provider: 'custom', baseUrl: `${A}/v1`, apiKey: KEY_A } })
    const b = await api(t, '/api/v1/provider-keys', { token: org.token, body: { name: 'backup', provider: 'custom', baseUrl: `${B}/v1`, apiKey: KEY_B } })
    expect(a.status).toBe(201)
    keyA = a.json.key.id
    keyB = b.json.key.id
    const patch = await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { providerKeyId: keyA, model: 'acme-large', fallbacks: [{ providerKeyId: keyB, model: 'acme-small' }], temperature: 0.3, maxTokens: 400 } })
    expect(patch.status).toBe(200)
  })
  afterEach(() => nock.cleanAll())
  afterAll(async () => {
    nock.enableNetConnect()
    await t?.close()
  })

  const ask = (sessionId: string, text: string) => api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId, text } })

  it('keeps provider keys encrypted at rest, shows only their last 4 characters, and never logs them', async () => {
    const list = await api(t, '/api/v1/provider-keys', { token: org.token })
    expect(list.json.keys.map((k: { name: string; last4: string }) => [k.name, k.last4])).toEqual([['primary', '1234'], ['backup', '5678']])
    expect(list.text).not.toContain('SECRET')
    const rows = await t.app.db.prisma.providerKey.findMany()
    for (const row of rows) {
      expect(row.secret).toMatch(/^v1\./)
      expect(row.secret).not.toContain('SECRET')
    }
    expect(t.logs.text()).not.toContain('SECRET')
  })

  it('answers from the knowledge passages with the primary model, cites the source, and records tokens and cost', async () => {
    let body: Body | undefined
    const scope = nock(A)
      .post(PATH, (b: Body) => ((body = b), true))
      .matchHeader('authorization', `Bearer ${KEY_A}`)
      .reply(200, completion('Open @BotFather, send /newbot and copy the token [1].', { prompt_tokens: 1000, completion_tokens: 50 }))
    const res = await ask('llm-session-1', 'How do I connect a Telegram bot?')
    expect(scope.isDone()).toBe(true)
    expect(res.json.messages[0].text).toBe('Open @BotFather, send /newbot and copy the token [1].')
    expect(res.json.messages[0].sources[0].title).toBe('Channels › Connecting a Telegram bot')
    expect(body!.model).toBe('acme-large')
    const system = body!.messages[0]!.content!
    expect(system).toContain('not instructions')
    expect(system).toMatch(/<passage id="1" source="Channels › Connecting a Telegram bot">[\s\S]*BotFather/)
    expect(body!.messages.at(-1)).toEqual({ role: 'user', content: 'How do I connect a Telegram bot?' })
    expect(body!.tools?.map((x) => x.function.name)).toEqual(expect.arrayContaining(['handoff_to_human', 'create_or_update_lead', 'remember_fact']))

    const usage = await api(t, '/api/v1/usage/llm', { token: org.token })
    expect(usage.json.byModel).toEqual([expect.objectContaining({ provider: 'custom', model: 'acme-large', calls: 1, failed: 0, inputTokens: 1000, outputTokens: 50, costUsd: 0.0011 })])
    expect(usage.json.byAgent[0].agentId).toBe(org.agentId)
  })

  it('falls back to the next provider when the primary keeps failing', async () => {
    const a = nock(A).post(PATH).times(3).reply(500, SERVER_ERROR)
    const b = nock(B).post(PATH).matchHeader('authorization', `Bearer ${KEY_B}`).reply(200, completion('From the backup model [1].', { prompt_tokens: 200, completion_tokens: 10 }, undefined, 'acme-small'))
    const res = await ask('llm-session-2', 'How do I connect a Telegram bot?')
    expect(a.isDone() && b.isDone()).toBe(true)
    expect(res.json.messages[0].text).toBe('From the backup model [1].')
    const usage = await api(t, '/api/v1/usage/llm', { token: org.token })
    expect(usage.json.byModel).toEqual(
      expect.arrayContaining([expect.objectContaining({ model: 'acme-large', failed: 3 }), expect.objectContaining({ model: 'acme-small', calls: 1, failed: 0 })]),
    )
  })

  it('runs a tool call with valid arguments and answers with the result', async () => {
    let second: Body | undefined
    nock(A).post(PATH).reply(200, completion(null, { prompt_tokens: 300, completion_tokens: 20 }, [toolCall('create_or_update_lead', { title: 'Wholesale order', value: 1200 })]))
    nock(A).post(PATH, (b: Body) => ((second = b), true)).reply(200, completion('I have noted your wholesale order.'))
    const res = await ask('llm-session-4', 'I want to order 100 units wholesale')
    expect(res.json.messages[0].text).toBe('I have noted your wholesale order.')
    const toolResult = second!.messages.find((m) => m.role === 'tool')!
    expect(JSON.parse(toolResult.content!)).toMatchObject({ lead_id: expect.any(String) })
    const leads = await api(t, '/api/v1/leads', { token: org.token })
    expect(leads.json.leads).toEqual([expect.objectContaining({ title: 'Wholesale order', value: 1200, stage: 'new' })])
  })

  it('answers invalid tool arguments back to the model and executes nothing', async () => {
    const before = (await api(t, '/api/v1/leads', { token: org.token })).json.leads.length
    let second: Body | undefined
    nock(A).post(PATH).reply(200, completion(null, undefined, [toolCall('create_or_update_lead', { title: '', value: -5 })]))
    nock(A).post(PATH, (b: Body) => ((second = b), true)).reply(200, completion('Could you tell me what you would like to order?'))
    const res = await ask('llm-session-5', 'I want to buy something')
    expect(res.json.messages[0].text).toBe('Could you tell me what you would like to order?')
    const toolResult = JSON.parse(second!.messages.find((m) => m.role === 'tool')!.content!)
    expect(toolResult.error).toMatch(/arguments invalid/)
    expect((await api(t, '/api/v1/leads', { token: org.token })).json.leads.length).toBe(before)
  })

  it('remembers facts about the contact that an admin can read and delete', async () => {
    nock(A).post(PATH).reply(200, completion(null, undefined, [toolCall('remember_fact', { key: 'name', value: 'Maria' })]))
    nock(A).post(PATH).reply(200, completion('Nice to meet you, Maria!'))
    const res = await ask('llm-session-6', 'Hi, I am Maria')
    expect(res.json.messages[0].text).toBe('Nice to meet you, Maria!')
    const conversation = (await api(t, '/api/v1/conversations', { token: org.token })).json.conversations.find((c: { id: string }) => c.id === res.json.conversationId)
    const facts = await api(t, `/api/v1/contacts/${conversation.contactId}/facts`, { token: org.token })
    expect(facts.json.facts).toEqual([expect.objectContaining({ key: 'name', value: 'Maria' })])

    // the next answer sees the fact in its prompt
    let body: Body | undefined
    nock(A).post(PATH, (b: Body) => ((body = b), true)).reply(200, completion('Sure, Maria.'))
    await ask('llm-session-6', 'Can you help me?')
    expect(body!.messages[0]!.content).toContain('- name: Maria')

    expect((await api(t, `/api/v1/contacts/${conversation.contactId}/facts/name`, { token: org.token, method: 'DELETE' })).status).toBe(204)
    expect((await api(t, `/api/v1/contacts/${conversation.contactId}/facts`, { token: org.token })).json.facts).toEqual([])
  })

  it('hands the conversation to a person when the model calls the handoff tool', async () => {
    nock(A).post(PATH).reply(200, completion(null, undefined, [toolCall('handoff_to_human', { reason: 'customer is upset' })]))
    const res = await ask('llm-session-7', 'This is the third time I ask, this is unacceptable')
    expect(res.json.messages[0].text).toBe(HANDOFF_BY_TOOL)
    expect(res.json.state).toBe('handoff')
    const silent = await ask('llm-session-7', 'Hello?')
    expect(silent.json.messages).toEqual([])
  })

  it('streams the answer to the web chat as server-sent events', async () => {
    nock(A).post(PATH, (b: Body) => b.stream === true).reply(200, STREAM, { 'content-type': 'text/event-stream' })
    const res = await fetch(`${t.url}/api/v1/webchat/${org.webchatKey}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ sessionId: 'llm-session-8', text: 'How do I connect a Telegram bot?' }),
    })
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/)
    const events = (await res.text())
      .trim()
      .split('\n\n')
      .map((block) => ({ event: /^event: (.+)$/m.exec(block)![1], data: JSON.parse(/^data: (.+)$/m.exec(block)![1]!) }))
    const deltas = events.filter((e) => e.event === 'delta').map((e) => e.data.text)
    expect(deltas.join('')).toBe('Hello! How can I help?')
    expect(events.find((e) => e.event === 'message')!.data.text).toBe('Hello! How can I help?')
    expect(events.at(-1)!.event).toBe('done')
  })

  it('the test chat shows model and tokens and does not use the plan', async () => {
    const before = (await api(t, '/api/v1/usage', { token: org.token })).json.responses
    nock(A).post(PATH).reply(200, completion('Test answer [1].', { prompt_tokens: 120, completion_tokens: 7 }))
    const res = await api(t, `/api/v1/agents/${org.agentId}/test-chat`, { token: org.token, body: { text: 'How do I connect a Telegram bot?' } })
    expect(res.status).toBe(200)
    expect(res.json.messages[0]).toMatchObject({ text: 'Test answer [1].', meta: { provider: 'custom', model: 'acme-large', inputTokens: 120, outputTokens: 7 } })
    expect((await api(t, '/api/v1/usage', { token: org.token })).json.responses).toBe(before)
  })

  it('refuses a provider key of another organization on an agent', async () => {
    const other = await createOrg(t, { name: 'Other' })
    const res = await api(t, `/api/v1/agents/${other.agentId}`, { token: other.token, method: 'PATCH', body: { providerKeyId: keyA, model: 'acme-large' } })
    expect(res.status).toBe(422)
    expect((await api(t, '/api/v1/provider-keys', { token: other.token })).json.keys).toEqual([])
    expect((await api(t, `/api/v1/provider-keys/${keyA}`, { token: other.token, method: 'DELETE' })).status).toBe(404)
  })
  // Last: five failures in a row open the primary provider's circuit breaker for 30 s.
  it('when every provider fails, the customer gets a short honest message and a way to a person, without hanging', async () => {
    nock(A).post(PATH).times(3).reply(500, SERVER_ERROR)
    nock(B).post(PATH).times(3).reply(503, SERVER_ERROR)
    const started = Date.now()
    const res = await ask('llm-session-3', 'How do I connect a Telegram bot?')
    expect(res.status).toBe(200)
    expect(res.json.messages[0].text).toBe(UNAVAILABLE_REPLY)
    expect(res.json.messages[0].text).toMatch(/talk to a person/)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(t.logs.text()).not.toContain('SECRET')
  })
})
