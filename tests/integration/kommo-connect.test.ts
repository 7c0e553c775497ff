import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeKommo, type FakeKommo } from '../support/fake-kommo.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'
import { createKommoConnections } from '../../adapters/kommo/connection.ts'
import { kommoConfig } from '../../adapters/kommo/config.ts'
import { hashPassword } from '../../core/security/passwords.ts'

const LONG_LIVED = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.longlivedtokenforacme.signature0000000001'
const CLIENT = { clientId: 'c0ffee00-0000-4000-8000-000000000001', clientSecret: 'kommo-client-secret-for-tests-000000000001', redirectUri: 'https://switchboard.example.com/crm/kommo/oauth/callback' }

describe('Kommo CRM: connecting an account and reading it', () => {
  let kommo: FakeKommo
  let t: TestApp
  let org: TestOrg
  let other: TestOrg

  beforeAll(async () => {
    kommo = await startFakeKommo()
    kommo.addAccount({ subdomain: 'acme', accountId: 31000001, name: 'Acme' })
    kommo.addLongLivedToken('acme', LONG_LIVED)
    t = await startTestApp({ env: { KOMMO_API_URL: kommo.apiUrlTemplate, KOMMO_CLIENT_ID: CLIENT.clientId, KOMMO_CLIENT_SECRET: CLIENT.clientSecret, KOMMO_REDIRECT_URI: CLIENT.redirectUri } })
    org = await createOrg(t, { name: 'Acme' })
    other = await createOrg(t, { name: 'Globex' })
  })
  afterAll(async () => {
    await t?.close()
    await kommo?.close()
  })

  it('refuses a token Kommo does not accept and a subdomain that is none, and stores nothing', async () => {
    const refused = await api(t, '/api/v1/crm/kommo', { token: org.token, body: { subdomain: 'acme', longLivedToken: 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.not-a-token-kommo-knows' } })
    expect(refused.status).toBe(422)
    expect(refused.json.error.message).not.toContain('not-a-token-kommo-knows')
    expect((await api(t, '/api/v1/crm/kommo', { token: org.token, body: { subdomain: 'acme.evil.com/x', longLivedToken: LONG_LIVED } })).status).toBe(422)
    expect((await api(t, '/api/v1/crm/kommo', { token: org.token })).json).toEqual({ connected: false, oauthAvailable: true })
  })

  it('connects with a long-lived token: reads the account, pipelines with statuses, users and contact fields, and never shows the token', async () => {
    const res = await api(t, '/api/v1/crm/kommo', { token: org.token, body: { subdomain: 'Acme.kommo.com', longLivedToken: LONG_LIVED } })
    expect(res.status).toBe(201)
    expect(res.json).toMatchObject({ connected: true, status: 'active', subdomain: 'acme', authKind: 'long_lived', account: { id: '31000001', name: 'Acme' } })
    const main = res.json.catalog.pipelines.find((p: { isMain: boolean }) => p.isMain)
    expect(main.statuses.map((s: { id: number }) => s.id)).toEqual(expect.arrayContaining([142, 143]))
    expect(res.json.catalog.users.length).toBeGreaterThanOrEqual(2)
    expect(res.json.catalog.fields.phone).toEqual(expect.any(Number))
    expect(res.json.catalog.fields.email).toEqual(expect.any(Number))
    const state = await api(t, '/api/v1/crm/kommo', { token: org.token })
    expect(state.json).toMatchObject({ connected: true, subdomain: 'acme' })
    for (const text of [res.text, state.text, t.logs.text()]) expect(text).not.toContain(LONG_LIVED)
    const row = await t.app.db.prisma.crmConnection.findUnique({ where: { organizationId: org.organizationId } })
    expect(row!.credentials).not.toContain(LONG_LIVED)
    // Every call carried the token as a Bearer header, to this account only.
    expect(kommo.callsOf('/api/v4/account', 'acme').at(-1)!.token).toBe(LONG_LIVED)
  })

  it('only admins connect or disconnect; another organization sees nothing of it', async () => {
    expect((await api(t, '/api/v1/crm/kommo', { token: other.token })).json).toMatchObject({ connected: false })
    const email = `member-${Date.now()}@example.com`
    const user = await t.app.store.users.create({ email, name: 'Mia', passwordHash: await hashPassword('member password 1') })
    await t.app.store.users.addMembership({ organizationId: org.organizationId, userId: user.id, role: 'member' })
    const token = (await api(t, '/api/v1/auth/login', { body: { email, password: 'member password 1' } })).json.token
    expect((await api(t, '/api/v1/crm/kommo', { token, body: { subdomain: 'acme', longLivedToken: LONG_LIVED } })).status).toBe(403)
    expect((await api(t, '/api/v1/crm/kommo', { method: 'DELETE', token })).status).toBe(403)
    expect(await t.app.db.prisma.crmConnection.count({ where: { organizationId: other.organizationId } })).toBe(0)
  })

  it('many reads asked for at once all succeed: the calls are queued for the account, not dropped (a 429 is waited out and sent again)', async () => {
    const before = kommo.calls.length
    const results = await Promise.all(Array.from({ length: 4 }, () => api(t, '/api/v1/crm/kommo/sync', { method: 'POST', token: org.token })))
    for (const r of results) expect(r.status).toBe(200)
    // Four reads of four calls each reached Kommo; the spacing itself is checked with an injected clock in tests/unit/kommo-rate-limit.test.ts.
    expect(kommo.calls.slice(before).filter((c) => c.status !== 429)).toHaveLength(16)
  })

  it('every connection is read again on schedule: a user added in Kommo appears', async () => {
    const before = (await api(t, '/api/v1/crm/kommo', { token: org.token })).json.catalog.users.length
    kommo.account('acme').users.push({ id: 9_100_001, name: 'New Manager', email: 'new@acme.example' } as never)
    expect(await t.app.kommo.syncAll()).toMatchObject({ synced: 1, failed: 0 })
    const users = (await api(t, '/api/v1/crm/kommo', { token: org.token })).json.catalog.users as { name: string }[]
    expect(users).toHaveLength(before + 1)
    expect(users.map((u) => u.name)).toContain('New Manager')
  })

  it('an account Kommo blocks (403) is marked blocked, and no further call is made', async () => {
    kommo.blockAccount('acme')
    const res = await api(t, '/api/v1/crm/kommo/sync', { method: 'POST', token: org.token })
    expect(res.status).toBe(503)
    expect((await api(t, '/api/v1/crm/kommo', { token: org.token })).json).toMatchObject({ status: 'blocked' })
    const calls = kommo.calls.length
    await api(t, '/api/v1/crm/kommo/sync', { method: 'POST', token: org.token })
    expect(kommo.calls.length).toBe(calls)
    kommo.unblockAccount('acme')
  })

  it('disconnecting deletes the tokens', async () => {
    const res = await api(t, '/api/v1/crm/kommo', { method: 'DELETE', token: org.token })
    expect(res.json).toEqual({ disconnected: true, webhookRemoved: null })
    expect(await t.app.db.prisma.crmConnection.count({ where: { organizationId: org.organizationId } })).toBe(0)
    expect((await api(t, '/api/v1/crm/kommo', { token: org.token })).json).toMatchObject({ connected: false })
  })

  it('OAuth: two processes refreshing at once make one refresh (refresh tokens are single-use), both go on, and the new pair is stored', async () => {
    const redisUrl = await redisForTests()
    const clients = redisUrl ? [new Redis(redisUrl), new Redis(redisUrl)] : []
    const prefix = uniquePrefix('kommo')
    const config = kommoConfig.parse({ KOMMO_API_URL: kommo.apiUrlTemplate, KOMMO_CLIENT_ID: CLIENT.clientId, KOMMO_CLIENT_SECRET: CLIENT.clientSecret, KOMMO_REDIRECT_URI: CLIENT.redirectUri })
    const process = (i: number) => createKommoConnections({ db: t.app.db, secrets: t.app.secrets, config, logger: t.app.logger, audit: t.app.store.audit, notifyAdmins: async () => 0, ...(clients[i] ? { redis: { client: clients[i]!, prefix } } : {}) })
    const [a, b] = [process(0), process(1)]
    kommo.addOAuthCode('acme', 'code-1', CLIENT)
    const connected = await a.connectWithCode({ organizationId: org.organizationId, subdomain: 'acme', code: 'code-1', actorUserId: null })
    expect(connected).toMatchObject({ connected: true, authKind: 'oauth' })
    const first = await t.app.db.prisma.crmConnection.findUnique({ where: { organizationId: org.organizationId } })
    // The access token is about to expire: both processes read at once.
    await t.app.db.prisma.crmConnection.update({ where: { id: first!.id }, data: { expiresAt: new Date(Date.now() + 1000) } })
    const refreshesBefore = kommo.refreshCount('acme')
    const [ca, cb] = [await a.client(org.organizationId), await b.client(org.organizationId)]
    const [ra, rb] = await Promise.all([ca!.request({ method: 'GET', path: '/api/v4/account' }), cb!.request({ method: 'GET', path: '/api/v4/account' })])
    expect(ra).toMatchObject({ id: 31000001 })
    expect(rb).toMatchObject({ id: 31000001 })
    expect(kommo.refreshCount('acme') - refreshesBefore).toBe(1)
    const after = await t.app.db.prisma.crmConnection.findUnique({ where: { organizationId: org.organizationId } })
    expect(after!.credentials).not.toBe(first!.credentials)
    expect(after!.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 3600_000)
    expect(after!.status).toBe('active')
    for (const c of clients) c.disconnect()
  })

  it('"Connect with Kommo": the consent page with a sealed state and its cookie; the callback exchanges the code at the account it names', async () => {
    const start = await fetch(`${t.url}/api/v1/crm/kommo/oauth/start`, { headers: { authorization: `Bearer ${other.token}` }, redirect: 'manual' })
    expect(start.status).toBe(302)
    const location = new URL(start.headers.get('location')!)
    expect(`${location.origin}${location.pathname}`).toBe('https://www.kommo.com/oauth')
    expect(location.searchParams.get('client_id')).toBe(CLIENT.clientId)
    const state = location.searchParams.get('state')!
    const cookie = start.headers.getSetCookie().find((c) => c.startsWith('switchboard-kommo-oauth-state='))!.split(';')[0]!
    const callback = (query: string, withCookie = cookie) => fetch(`${t.url}/crm/kommo/oauth/callback?${query}`, { headers: withCookie ? { cookie: withCookie } : {}, redirect: 'manual' })
    // Another browser (no cookie) or a tampered state: nothing connected.
    const stranger = await callback(`code=x&state=${encodeURIComponent(state)}&referer=acme.kommo.com`, '')
    expect(stranger.headers.get('location')).toMatch(/^\/admin\/#\/crm\?kommoError=/)
    kommo.addOAuthCode('acme', 'code-other', CLIENT)
    const done = await callback(`code=code-other&state=${encodeURIComponent(state)}&referer=acme.kommo.com&platform=2`)
    expect(done.headers.get('location')).toBe('/admin/#/crm?connected=kommo')
    expect((await api(t, '/api/v1/crm/kommo', { token: other.token })).json).toMatchObject({ connected: true, authKind: 'oauth', subdomain: 'acme' })
    expect(t.logs.text()).not.toContain('code-other')
  })
})
