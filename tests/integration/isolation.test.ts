import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, BILLING_DOC, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

describe('tenants are isolated', () => {
  let t: TestApp
  let a: TestOrg
  let b: TestOrg
  let aConversationId: string
  let aSourceId: string
  beforeAll(async () => {
    t = await startTestApp()
    a = await createOrg(t, { name: 'Alpha', docs: [TELEGRAM_DOC] })
    b = await createOrg(t, { name: 'Beta', docs: [BILLING_DOC] })
    const chat = await api(t, `/api/v1/webchat/${a.webchatKey}/messages`, { body: { sessionId: 'alpha-customer-1', text: 'How do I connect a Telegram bot?' } })
    aConversationId = chat.json.conversationId
    aSourceId = (await api(t, '/api/v1/knowledge/sources', { token: a.token })).json.sources[0].id
  })
  afterAll(async () => t?.close())

  it("lists only the caller's own agents, sources and conversations", async () => {
    const agents = await api(t, '/api/v1/agents', { token: b.token })
    expect(agents.json.agents.map((x: { id: string }) => x.id)).toEqual([b.agentId])
    const sources = await api(t, '/api/v1/knowledge/sources', { token: b.token })
    expect(sources.json.sources.map((s: { title: string }) => s.title)).toEqual(['Billing'])
    const conversations = await api(t, '/api/v1/conversations', { token: b.token })
    expect(conversations.json.conversations).toEqual([])
  })

  it("answers 404 for another organization's agent, source and conversation, and changes nothing", async () => {
    expect((await api(t, `/api/v1/agents/${a.agentId}`, { token: b.token })).status).toBe(404)
    expect((await api(t, `/api/v1/agents/${a.agentId}`, { token: b.token, method: 'PATCH', body: { name: 'stolen' } })).status).toBe(404)
    expect((await api(t, `/api/v1/agents/${a.agentId}`, { token: b.token, method: 'DELETE' })).status).toBe(404)
    expect((await api(t, `/api/v1/knowledge/sources/${aSourceId}`, { token: b.token })).status).toBe(404)
    expect((await api(t, `/api/v1/knowledge/sources/${aSourceId}`, { token: b.token, method: 'DELETE' })).status).toBe(404)
    expect((await api(t, `/api/v1/conversations/${aConversationId}/messages`, { token: b.token })).status).toBe(404)
    expect((await api(t, `/api/v1/conversations/${aConversationId}/reply`, { token: b.token, body: { text: 'hi' } })).status).toBe(404)
    expect((await api(t, `/api/v1/knowledge/search?q=telegram&agentId=${a.agentId}`, { token: b.token })).status).toBe(404)

    const stillThere = await api(t, `/api/v1/agents/${a.agentId}`, { token: a.token })
    expect(stillThere.json.agent.name).toBe('Alpha assistant')
    expect((await api(t, `/api/v1/knowledge/sources/${aSourceId}`, { token: a.token })).json.source.status).toBe('ready')
  })

  it("never finds another organization's knowledge in search or in answers", async () => {
    const search = await api(t, '/api/v1/knowledge/search?q=connect%20telegram%20bot%20BotFather', { token: b.token })
    expect(search.status).toBe(200)
    expect(search.json.passages.every((p: { title: string }) => p.title === 'Billing')).toBe(true)
    expect(search.json.relevant).toBe(false)

    const own = await api(t, '/api/v1/knowledge/search?q=connect%20telegram%20bot', { token: a.token })
    expect(own.json.relevant).toBe(true)
    expect(own.json.passages[0].title).toBe('Channels')

    const chat = await api(t, `/api/v1/webchat/${b.webchatKey}/messages`, { body: { sessionId: 'beta-customer-1', text: 'How do I connect a Telegram bot?' } })
    expect(chat.json.messages[0].text).not.toContain('BotFather')
    expect(chat.json.messages[0].sources).toEqual([])
  })

  it("a web chat session id used in two organizations makes two separate conversations", async () => {
    const inB = await api(t, `/api/v1/webchat/${b.webchatKey}/messages?sessionId=alpha-customer-1`)
    expect(inB.json.messages).toEqual([])
  })

  it('the store refuses cross-organization reads even with a known id', async () => {
    expect(await t.app.store.agents.get(b.organizationId, a.agentId)).toBeNull()
    expect(await t.app.store.conversations.get(b.organizationId, aConversationId)).toBeNull()
    expect(await t.app.store.knowledge.getSource(b.organizationId, aSourceId)).toBeNull()
  })
})
