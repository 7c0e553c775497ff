import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

/**
 * An agent's ordered fallbacks keep the key each was given. Saving an agent in the admin web used
 * to send every fallback with the primary's key, moving a fallback from the backup key to the
 * primary one without a word: the API now refuses a fallback that names no key (never defaults it),
 * and a save that does not mention fallbacks leaves them as they were.
 */
describe('agent fallbacks across provider keys', () => {
  let t: TestApp
  let org: TestOrg
  let primary: string
  let backup: string

  beforeAll(async () => {
    // The providers' names resolve to a public address; nothing calls them here.
    t = await startTestApp({ overrides: { net: { lookup: async () => [{ address: '93.184.215.14', family: 4 }] } } })
    org = await createOrg(t, { name: 'Fallbacks' })
    const a = await api(t, '/api/v1/provider-keys', { token: org.token, body: { name: 'primary', provider: 'custom', baseUrl: 'https://llm-a.example/v1', apiKey: 'sk-primary-aaaa1111' } })
    const b = await api(t, '/api/v1/provider-keys', { token: org.token, body: { name: 'backup', provider: 'custom', baseUrl: 'https://llm-b.example/v1', apiKey: 'sk-backup-bbbb2222' } })
    expect([a.status, b.status]).toEqual([201, 201])
    primary = a.json.key.id
    backup = b.json.key.id
  })
  afterAll(async () => {
    await t?.close()
  })

  const setUp = async () => {
    const res = await api(t, `/api/v1/agents/${org.agentId}`, {
      token: org.token,
      method: 'PATCH',
      body: { providerKeyId: primary, model: 'acme-large', fallbacks: [{ providerKeyId: backup, model: 'acme-small' }, { providerKeyId: null, model: 'house-model' }] },
    })
    expect(res.status).toBe(200)
  }
  const stored = async () => (await t.app.store.agents.get(org.organizationId, org.agentId))!

  it('a save of other fields leaves the fallbacks and their keys as they were', async () => {
    await setUp()
    const res = await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { name: 'Renamed', instructions: 'Be brief.' } })
    expect(res.status).toBe(200)
    expect(res.json.agent.fallbacks).toEqual([{ providerKeyId: backup, model: 'acme-small' }, { providerKeyId: null, model: 'house-model' }])
    expect((await stored()).fallbacks).toEqual([{ providerKeyId: backup, model: 'acme-small' }, { providerKeyId: null, model: 'house-model' }])
  })

  it('the agent as read, sent back with a new name and another primary key, keeps each fallback on its own key', async () => {
    await setUp()
    const { agent } = (await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token })).json
    const { name: _name, providerKeyId: _key, id: _id, organizationId: _org, createdAt: _c, updatedAt: _u, ...rest } = agent
    const res = await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { ...rest, name: 'Harbour helper', providerKeyId: backup } })
    expect(res.status).toBe(200)
    expect((await stored()).providerKeyId).toBe(backup)
    expect((await stored()).fallbacks).toEqual([{ providerKeyId: backup, model: 'acme-small' }, { providerKeyId: null, model: 'house-model' }])
  })

  it('refuses a fallback that names no key, says which one, and changes nothing', async () => {
    await setUp()
    const before = await stored()
    const res = await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { name: 'Never saved', fallbacks: [{ providerKeyId: backup, model: 'acme-small' }, { model: 'house-model' }] } })
    expect(res.status).toBe(422)
    expect(res.json.error.code).toBe('validation_failed')
    expect(res.json.error.message).toContain("fallbacks.1.providerKeyId: required: the id of the provider key this fallback uses, or null for the installation's key")
    const after = await stored()
    expect(after.name).toBe(before.name)
    expect(after.fallbacks).toEqual(before.fallbacks)
  })

  it('reorders fallbacks exactly as sent, each with its key', async () => {
    await setUp()
    const res = await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { fallbacks: [{ providerKeyId: null, model: 'house-model' }, { providerKeyId: backup, model: 'acme-small' }] } })
    expect(res.status).toBe(200)
    expect((await stored()).fallbacks).toEqual([{ providerKeyId: null, model: 'house-model' }, { providerKeyId: backup, model: 'acme-small' }])
  })

  it("refuses a fallback on another organization's key", async () => {
    const other = await createOrg(t, { name: 'Other fallbacks' })
    const res = await api(t, `/api/v1/agents/${other.agentId}`, { token: other.token, method: 'PATCH', body: { fallbacks: [{ providerKeyId: backup, model: 'acme-small' }] } })
    expect(res.status).toBe(422)
    expect(res.json.error.message).toBe(`Provider key ${backup} does not exist in this organization`)
    expect((await t.app.store.agents.get(other.organizationId, other.agentId))!.fallbacks).toEqual([])
  })
})
