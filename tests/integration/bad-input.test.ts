import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

/** Counts every table a bad request could half-write. */
async function counts(t: TestApp) {
  const p = t.app.db.prisma
  const [messages, conversations, contacts, sources, chunks, agents, sessions] = await Promise.all([
    p.message.count(),
    p.conversation.count(),
    p.contact.count(),
    p.knowledgeSource.count(),
    p.knowledgeChunk.count(),
    p.agent.count(),
    p.session.count(),
  ])
  return { messages, conversations, contacts, sources, chunks, agents, sessions }
}

describe('bad input gets a 4xx JSON error and writes nothing', () => {
  let t: TestApp
  let org: TestOrg
  beforeAll(async () => {
    t = await startTestApp({ env: { MAX_BODY_BYTES: '65536' } })
    org = await createOrg(t, { name: 'Strict', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => t?.close())

  const chatUrl = () => `/api/v1/webchat/${org.webchatKey}/messages`
  const cases: { name: string; status: number; code: string; request: () => { path: string; init: Parameters<typeof api>[2] } }[] = [
    { name: 'web chat: malformed JSON', status: 400, code: 'invalid_json', request: () => ({ path: chatUrl(), init: { raw: '{"sessionId": "abc', headers: { 'content-type': 'application/json' } } }) },
    { name: 'web chat: missing text', status: 422, code: 'validation_failed', request: () => ({ path: chatUrl(), init: { body: { sessionId: 'bad-input-session' } } }) },
    { name: 'web chat: empty text', status: 422, code: 'validation_failed', request: () => ({ path: chatUrl(), init: { body: { sessionId: 'bad-input-session', text: '   ' } } }) },
    { name: 'web chat: text too long', status: 422, code: 'validation_failed', request: () => ({ path: chatUrl(), init: { body: { sessionId: 'bad-input-session', text: 'x'.repeat(4001) } } }) },
    { name: 'web chat: session id with spaces', status: 422, code: 'validation_failed', request: () => ({ path: chatUrl(), init: { body: { sessionId: 'has spaces in it', text: 'hi' } } }) },
    { name: 'web chat: body is an array', status: 422, code: 'validation_failed', request: () => ({ path: chatUrl(), init: { body: [1, 2] } }) },
    { name: 'web chat: oversized body', status: 413, code: 'payload_too_large', request: () => ({ path: chatUrl(), init: { body: { sessionId: 'bad-input-session', text: 'y'.repeat(70_000) } } }) },
    { name: 'web chat: unknown key', status: 404, code: 'not_found', request: () => ({ path: '/api/v1/webchat/no-such-key-123/messages', init: { body: { sessionId: 'bad-input-session', text: 'hi' } } }) },
    { name: 'web chat history: missing session id', status: 422, code: 'validation_failed', request: () => ({ path: chatUrl(), init: {} }) },
    { name: 'login: malformed JSON', status: 400, code: 'invalid_json', request: () => ({ path: '/api/v1/auth/login', init: { raw: 'email=a', headers: { 'content-type': 'application/json' } } }) },
    { name: 'login: not an email', status: 422, code: 'validation_failed', request: () => ({ path: '/api/v1/auth/login', init: { body: { email: 'nobody', password: 'x' } } }) },
    { name: 'login: wrong password', status: 401, code: 'invalid_credentials', request: () => ({ path: '/api/v1/auth/login', init: { body: { email: org.email, password: 'wrong password' } } }) },
    { name: 'login: unknown account', status: 401, code: 'invalid_credentials', request: () => ({ path: '/api/v1/auth/login', init: { body: { email: 'ghost@example.com', password: 'whatever' } } }) },
    { name: 'agents: no session', status: 401, code: 'unauthorized', request: () => ({ path: '/api/v1/agents', init: { body: { name: 'x' } } }) },
    { name: 'agents: bad token', status: 401, code: 'unauthorized', request: () => ({ path: '/api/v1/agents', init: { token: 'not-a-real-token', body: { name: 'x' } } }) },
    { name: 'agents: missing name', status: 422, code: 'validation_failed', request: () => ({ path: '/api/v1/agents', init: { token: org.token, body: { temperature: 0.5 } } }) },
    { name: 'agents: temperature out of range', status: 422, code: 'validation_failed', request: () => ({ path: '/api/v1/agents', init: { token: org.token, body: { name: 'Hot', temperature: 9 } } }) },
    { name: 'agents: unknown field', status: 422, code: 'validation_failed', request: () => ({ path: '/api/v1/agents', init: { token: org.token, body: { name: 'X', organizationId: 'other' } } }) },
    { name: 'agents: update unknown id', status: 404, code: 'not_found', request: () => ({ path: '/api/v1/agents/00000000-0000-4000-8000-000000000000', init: { token: org.token, method: 'PATCH', body: { name: 'Y' } } }) },
    { name: 'knowledge: empty content', status: 422, code: 'validation_failed', request: () => ({ path: '/api/v1/knowledge/sources', init: { token: org.token, body: { title: 'Empty', content: '' } } }) },
    { name: 'knowledge: whitespace-only content', status: 422, code: 'empty_source', request: () => ({ path: '/api/v1/knowledge/sources', init: { token: org.token, body: { title: 'Blank', content: ' \n\n ' } } }) },
    { name: 'knowledge: text body without title', status: 422, code: 'validation_failed', request: () => ({ path: '/api/v1/knowledge/sources', init: { token: org.token, raw: '# Hello', headers: { 'content-type': 'text/markdown' } } }) },
    { name: 'knowledge: unknown agent', status: 404, code: 'not_found', request: () => ({ path: '/api/v1/knowledge/sources', init: { token: org.token, body: { title: 'T', content: 'text', agentId: '00000000-0000-4000-8000-000000000000' } } }) },
    { name: 'knowledge: unsupported kind', status: 422, code: 'validation_failed', request: () => ({ path: '/api/v1/knowledge/sources', init: { token: org.token, body: { title: 'T', content: 'text', kind: 'pdf' } } }) },
    { name: 'knowledge search: empty query', status: 422, code: 'validation_failed', request: () => ({ path: '/api/v1/knowledge/search?q=', init: { token: org.token } }) },
    { name: 'operator reply: empty text', status: 422, code: 'validation_failed', request: () => ({ path: '/api/v1/conversations/00000000-0000-4000-8000-000000000000/reply', init: { token: org.token, body: { text: '' } } }) },
    { name: 'unknown route', status: 404, code: 'not_found', request: () => ({ path: '/api/v1/nothing-here', init: {} }) },
  ]

  for (const c of cases) {
    it(`${c.name} -> ${c.status} ${c.code}`, async () => {
      const before = await counts(t)
      const { path, init } = c.request()
      const res = await api(t, path, init)
      expect(res.status).toBe(c.status)
      expect(res.headers.get('content-type')).toMatch(/application\/json/)
      expect(res.json.error).toEqual({ code: c.code, message: expect.any(String) })
      expect(await counts(t)).toEqual(before)
    })
  }

  it('the process stays up and keeps answering after all of that', async () => {
    const res = await api(t, chatUrl(), { body: { sessionId: 'after-bad-input', text: 'How do I connect a Telegram bot?' } })
    expect(res.status).toBe(200)
    expect(res.json.messages[0].text).toContain('BotFather')
    expect((await api(t, '/healthz')).status).toBe(200)
  })

  it('a member may read but not change agents or knowledge', async () => {
    const { hashPassword } = await import('../../core/security/passwords.ts')
    const user = await t.app.store.users.create({ email: 'member@example.com', name: 'Member', passwordHash: await hashPassword('member password') })
    await t.app.store.users.addMembership({ organizationId: org.organizationId, userId: user.id, role: 'member' })
    const login = await api(t, '/api/v1/auth/login', { body: { email: 'member@example.com', password: 'member password' } })
    const token = login.json.token
    expect((await api(t, '/api/v1/agents', { token })).status).toBe(200)
    const before = await counts(t)
    const create = await api(t, '/api/v1/agents', { token, body: { name: 'Nope' } })
    expect(create.status).toBe(403)
    expect(create.json.error.code).toBe('forbidden')
    expect((await api(t, '/api/v1/knowledge/sources', { token, body: { title: 'Nope', content: 'nope' } })).status).toBe(403)
    expect((await api(t, `/api/v1/agents/${org.agentId}`, { token, method: 'DELETE' })).status).toBe(403)
    expect(await counts(t)).toEqual(before)
  })
})
