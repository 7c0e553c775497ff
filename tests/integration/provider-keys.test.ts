import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.ts'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

/**
 * Organizations' provider keys through the API: testing one makes a real call to the provider's
 * OpenAI-compatible API at the key's base URL (a local fake here, allowed with ALLOW_PRIVATE_URLS
 * as an operator would allow a self-hosted model); a wrong key or an address with nothing there is
 * reported without the key; a key that an agent's model or fallback uses cannot be deleted.
 */
const GOOD = 'sk-good-SECRET-0123456789-ab12'
const WRONG = 'sk-wrong-SECRET-9876543210-cd34'

describe('provider keys: test and delete', () => {
  let llm: FakeOpenAI
  let t: TestApp
  let org: TestOrg

  beforeAll(async () => {
    llm = await startFakeOpenAI({ keys: [GOOD] })
    t = await startTestApp({ env: { ALLOW_PRIVATE_URLS: '127.0.0.1' } })
    org = await createOrg(t, { name: 'Keys' })
  })
  afterAll(async () => {
    await t?.close()
    await llm?.close()
  })

  const add = async (name: string, apiKey: string, baseUrl = `${llm.url}/v1`) => {
    const res = await api(t, '/api/v1/provider-keys', { token: org.token, body: { name, provider: 'custom', baseUrl, apiKey } })
    expect(res.status).toBe(201)
    return res.json.key.id as string
  }

  it('a working key: one authorised GET /models at its base URL, the models it offers, audited', async () => {
    const id = await add('Local good', GOOD)
    llm.hits.length = 0
    const res = await api(t, `/api/v1/provider-keys/${id}/test`, { token: org.token, method: 'POST' })
    expect(res.status).toBe(200)
    expect(res.json.test).toMatchObject({ keyId: id, ok: true, status: 200, message: null, models: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'] })
    expect(res.json.test.latencyMs).toBeGreaterThanOrEqual(0)
    expect(llm.hits).toEqual([{ method: 'GET', path: '/v1/models', authorized: true }])
    const audit = await t.app.db.prisma.auditEvent.findMany({ where: { organizationId: org.organizationId, action: 'provider_key.tested' } })
    expect(audit.map((a) => [a.target, (a.data as { ok: boolean }).ok])).toEqual([[id, true]])
  })

  it('a wrong key: refused by the provider, said so, and the key is nowhere in the answer or the logs', async () => {
    const id = await add('Local wrong', WRONG)
    const res = await api(t, `/api/v1/provider-keys/${id}/test`, { token: org.token, method: 'POST' })
    expect(res.status).toBe(200)
    expect(res.json.test).toMatchObject({ ok: false, status: 401, models: [] })
    expect(res.json.test.message).toMatch(/^the provider refused the key \(HTTP 401: Incorrect API key provided/)
    expect(res.text).not.toContain('SECRET')
    expect(t.logs.text()).not.toContain('SECRET')
  })

  it('an address where nothing answers: cannot be reached', async () => {
    const closed = await startFakeOpenAI({ keys: [GOOD] })
    const url = closed.url
    await closed.close()
    const id = await add('Gone', GOOD, `${url}/v1`)
    const res = await api(t, `/api/v1/provider-keys/${id}/test`, { token: org.token, method: 'POST' })
    expect(res.json.test.ok).toBe(false)
    expect(res.json.test.message).toBe(`${url}/v1/models cannot be reached: ECONNREFUSED`)
  })

  it('refuses to delete a key that an agent’s fallback uses, naming the agent; lists who uses each key', async () => {
    const id = await add('In use', GOOD)
    const patch = await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { fallbacks: [{ providerKeyId: id, model: 'gpt-4o-mini' }] } })
    expect(patch.status).toBe(200)
    const list = await api(t, '/api/v1/provider-keys', { token: org.token })
    expect(list.json.keys.find((k: { id: string }) => k.id === id)).toMatchObject({ name: 'In use', last4: GOOD.slice(-4), usedBy: [{ id: org.agentId, name: 'Keys assistant' }] })
    expect(list.text).not.toContain('SECRET')

    const refused = await api(t, `/api/v1/provider-keys/${id}`, { token: org.token, method: 'DELETE' })
    expect(refused.status).toBe(409)
    expect(refused.json.error).toMatchObject({ code: 'key_in_use', message: 'This key is used by the agent "Keys assistant": choose another key for their model and fallbacks first' })
    expect(await t.app.store.providerKeys.getSealed(org.organizationId, id)).not.toBeNull()

    await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { fallbacks: [] } })
    expect((await api(t, `/api/v1/provider-keys/${id}`, { token: org.token, method: 'DELETE' })).status).toBe(204)
    expect(await t.app.store.providerKeys.getSealed(org.organizationId, id)).toBeNull()
  })

  it("another organization can neither test nor see nor delete a key", async () => {
    const id = await add('Mine', GOOD)
    const other = await createOrg(t, { name: 'Other keys' })
    llm.hits.length = 0
    expect((await api(t, `/api/v1/provider-keys/${id}/test`, { token: other.token, method: 'POST' })).status).toBe(404)
    expect(llm.hits).toEqual([])
    expect((await api(t, '/api/v1/provider-keys', { token: other.token })).json.keys).toEqual([])
    expect((await api(t, `/api/v1/provider-keys/${id}`, { token: other.token, method: 'DELETE' })).status).toBe(404)
  })
})
