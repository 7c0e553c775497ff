import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, waitFor, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeKommo, type FakeKommo } from '../support/fake-kommo.ts'
import { createAgentTools, type ToolRegistry } from '../../core/crm/tools.ts'
import { createKommoConnections } from '../../adapters/kommo/connection.ts'
import { kommoConfig } from '../../adapters/kommo/config.ts'
import { parseForm } from '../../adapters/kommo/webhooks.ts'
import { hashPassword } from '../../core/security/passwords.ts'
import type { Conversation } from '../../core/ports.ts'

const PUBLIC_URL = 'https://switchboard.example.com'
const ACME_TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.webhookstokenforacme.signature0000000003'
const GLOBEX_TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.webhookstokenforglobex.signature000000004'
const EVENTS = ['status_lead', 'responsible_lead', 'update_lead', 'add_lead']
type Lead = { id: number; name: string; status_id: number; pipeline_id: number; responsible_user_id: number }
type Status = { id: number; name: string }

/** Kommo tells Switchboard about leads a manager changed: a webhook registered at connect, checked, stored, applied by a job. */
describe('webhooks from Kommo', () => {
  let kommo: FakeKommo
  let t: TestApp
  let org: TestOrg
  let connectionId: string
  let destination: string
  let token: string
  let stages: Status[]
  let tools: ToolRegistry
  let conversation: Conversation
  const local = (url: string) => url.replace(PUBLIC_URL, t.url)
  const hookUrl = (query = `token=${encodeURIComponent(token)}`) => `${t.url}/webhooks/kommo-crm/${connectionId}?${query}`
  const events = () => t.app.db.prisma.crmEvent.findMany({ where: { connectionId }, orderBy: { createdAt: 'asc' } })
  const mirrorOf = async (externalId: number) => (await t.app.db.prisma.lead.findFirst({ where: { organizationId: org.organizationId, externalId: String(externalId) } }))!

  beforeAll(async () => {
    kommo = await startFakeKommo()
    kommo.addAccount({ subdomain: 'acme', accountId: 31000001, name: 'Acme' })
    kommo.addLongLivedToken('acme', ACME_TOKEN)
    kommo.addAccount({ subdomain: 'globex', accountId: 31000002, name: 'Globex', webhooksAllowed: false })
    kommo.addLongLivedToken('globex', GLOBEX_TOKEN)
    t = await startTestApp({ env: { KOMMO_API_URL: kommo.apiUrlTemplate, PUBLIC_URL } })
    org = await createOrg(t, { name: 'Acme' })
    const connected = await api(t, '/api/v1/crm/kommo', { token: org.token, body: { subdomain: 'acme', longLivedToken: ACME_TOKEN } })
    expect(connected.status).toBe(201)
    connectionId = connected.json.id
    stages = connected.json.catalog.pipelines.find((p: { isMain: boolean }) => p.isMain).statuses
    const inbox = (await t.app.store.inboxes.listByOrganization(org.organizationId)).find((i) => i.channel === 'webchat' && i.purpose === 'customers')!
    conversation = await t.app.store.conversations.resolve({ inbox, externalThreadId: 'visitor-grace', externalUserId: 'visitor-grace', userName: 'Grace Hopper' })
    await t.app.memory.remember({ organizationId: org.organizationId, contactId: conversation.contactId, key: 'email', value: 'grace@example.com' })
    tools = createAgentTools({ crm: t.app.crm, memory: t.app.memory, openHandoff: async () => {} })
  })
  afterAll(async () => {
    await t?.close()
    await kommo?.close()
  })

  it('connecting registers the webhook with the connection id and a secret token; the token shows nowhere', async () => {
    const hooks = kommo.webhooks('acme')
    expect(hooks).toHaveLength(1)
    expect(hooks[0]!.settings).toEqual(EVENTS)
    destination = hooks[0]!.destination
    const url = new URL(destination)
    expect(`${url.origin}${url.pathname}`).toBe(`${PUBLIC_URL}/webhooks/kommo-crm/${connectionId}`)
    token = url.searchParams.get('token')!
    expect(token.length).toBeGreaterThanOrEqual(32)
    const state = await api(t, '/api/v1/crm/kommo', { token: org.token })
    expect(state.json.webhook).toEqual({ registered: true, manualUrl: null, message: null })
    const row = await t.app.db.prisma.crmConnection.findUnique({ where: { id: connectionId } })
    expect(row!.webhookTokenHash).toBe(createHash('sha256').update(token).digest('hex'))
    expect(JSON.stringify(row)).not.toContain(token)
    for (const text of [state.text, t.logs.text()]) expect(text).not.toContain(token)
    // Reading the account again asks Kommo for the same address (it updates, never duplicates).
    const synced = await api(t, '/api/v1/crm/kommo/sync', { method: 'POST', token: org.token })
    expect(synced.status).toBe(200)
    expect(kommo.webhooks('acme').map((h) => h.destination)).toEqual([destination])
    expect(synced.text).not.toContain(token)
  })

  it('a lead the agent made and a manager moved in Kommo gets the new stage; a new responsible user is recorded', async () => {
    expect((await tools.execute({ id: 'call-1', name: 'create_or_update_lead', arguments: JSON.stringify({ title: 'Compiler licences' }) }, { organizationId: org.organizationId, contactId: conversation.contactId, conversationId: conversation.id })).ok).toBe(true)
    const lead = (kommo.leads('acme') as unknown as Lead[]).at(-1)!
    const before = await mirrorOf(lead.id)
    const target = stages.find((s) => s.id !== lead.status_id && s.id !== 142 && s.id !== 143 && s.name !== before.stage)!
    expect(before.stage).not.toBe(target.name)
    const reads = kommo.callsOf(`GET /api/v4/leads/${lead.id}`, 'acme').length
    const body = kommo.moveLead('acme', lead.id, { status_id: target.id })
    const started = Date.now()
    const res = await kommo.deliverWebhook(local(destination), body)
    expect(res.status).toBe(200)
    expect(Date.now() - started).toBeLessThan(2000)
    await waitFor(async () => (await mirrorOf(lead.id)).stage === target.name)
    // The job read the lead from Kommo before acting.
    expect(kommo.callsOf(`GET /api/v4/leads/${lead.id}`, 'acme').length).toBeGreaterThan(reads)
    await waitFor(async () => (await events()).every((e) => e.status === 'done'))
    expect((await events()).at(-1)).toMatchObject({ organizationId: org.organizationId, kind: 'lead.status', entityId: String(lead.id), status: 'done', error: null })

    // Won, the manager hands it to the other user: stage and responsible arrive in one body.
    const users = kommo.account('acme').users
    const other = users.find((u) => u.id !== lead.responsible_user_id)!
    const won = kommo.moveLead('acme', lead.id, { status_id: 142, responsible_user_id: other.id })
    expect((await kommo.deliverWebhook(local(destination), won)).status).toBe(200)
    await waitFor(async () => (await mirrorOf(lead.id)).stage === 'Closed - won')
    await waitFor(async () => (await t.app.db.prisma.auditEvent.count({ where: { organizationId: org.organizationId, action: 'crm.kommo_lead_responsible_changed', target: before.id } })) === 1)
    const audit = await t.app.db.prisma.auditEvent.findFirst({ where: { organizationId: org.organizationId, action: 'crm.kommo_lead_responsible_changed' } })
    expect(audit!.data).toMatchObject({ externalId: String(lead.id), responsibleUserId: other.id, responsibleName: other.name, previousUserId: lead.responsible_user_id })
    // The mirrored lead shows who has it now.
    expect((await mirrorOf(lead.id)).owner).toBe(other.name)
  })

  it('a status made in Kommo after the account was read: the account is read again for its name', async () => {
    const lead = (kommo.leads('acme') as unknown as Lead[]).at(-1)!
    const pipeline = kommo.account('acme').pipelines.find((p) => p.id === lead.pipeline_id)!
    pipeline.statuses.push({ id: 58_999_001, name: 'Contract sent', sort: 55 })
    const syncs = kommo.callsOf('GET /api/v4/leads/pipelines', 'acme').length
    expect((await kommo.deliverWebhook(local(destination), kommo.moveLead('acme', lead.id, { status_id: 58_999_001 }))).status).toBe(200)
    await waitFor(async () => (await mirrorOf(lead.id)).stage === 'Contract sent')
    expect(kommo.callsOf('GET /api/v4/leads/pipelines', 'acme').length).toBe(syncs + 1)
    const state = await api(t, '/api/v1/crm/kommo', { token: org.token })
    expect(JSON.stringify(state.json.catalog)).toContain('Contract sent')
  })

  it('a lead Switchboard does not mirror is ignored, without calling Kommo', async () => {
    const calls = kommo.calls.length
    const body = kommo.webhookBody('acme', { leadStatus: { id: 29_000_001, status_id: stages[1]!.id, pipeline_id: 1, old_status_id: stages[0]!.id } })
    expect((await kommo.deliverWebhook(hookUrl(), body)).status).toBe(200)
    await waitFor(async () => (await events()).find((e) => e.entityId === '29000001')?.status === 'done')
    expect(kommo.calls.length).toBe(calls)
  })

  it('a wrong token, another connection or another account is refused with 401, and nothing is stored', async () => {
    const body = kommo.webhookBody('acme', { leadStatus: { id: 29_000_002, status_id: stages[1]!.id, pipeline_id: 1, old_status_id: stages[0]!.id } })
    const stored = (await events()).length
    const wrong = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`
    expect((await kommo.deliverWebhook(hookUrl(`token=${encodeURIComponent(wrong)}`), body)).status).toBe(401)
    expect((await kommo.deliverWebhook(hookUrl(''), body)).status).toBe(401)
    expect((await kommo.deliverWebhook(hookUrl(`token=${encodeURIComponent(token)}`).replace(connectionId, 'f0f0f0f0-0000-4000-8000-000000000000'), body)).status).toBe(401)
    // The right token with another account's body (a webhook of another account pointed here).
    const foreign = body.replace('account%5Bid%5D=31000001', 'account%5Bid%5D=31000999')
    expect(foreign).not.toBe(body)
    expect((await kommo.deliverWebhook(hookUrl(), foreign)).status).toBe(401)
    expect((await kommo.deliverWebhook(hookUrl(), body.replace(/&?account%5Bid%5D=31000001/, ''))).status).toBe(401)
    expect((await events()).length).toBe(stored)
    expect(t.logs.text()).not.toContain(token)
  })

  it('a malformed body is refused with 400', async () => {
    const stored = (await events()).length
    const account = 'account%5Bsubdomain%5D=acme&account%5Bid%5D=31000001'
    for (const body of [
      '',
      `leads%5Bstatus%5D%5B0%5D%5Bid%5D=%E0%A4%A&${account}`, // a broken %-escape
      `leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142&${account}`, // a lead without its id
      `leads%5Bstatus%5D%5B0%5D=5&leads%5Bstatus%5D%5B0%5D%5Bid%5D=5&${account}`, // a value and a group at once
      `leads=5&${account}`,
    ]) {
      const res = await kommo.deliverWebhook(hookUrl(), body)
      expect(res.status, body).toBe(400)
    }
    const json = await fetch(hookUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ account: { id: '31000001' } }) })
    expect(json.status).toBe(400)
    expect((await events()).length).toBe(stored)
  })

  it('a body with 50 leads, each nested deeper than qs would read, is read whole; a repeated delivery is stored once', async () => {
    const parts: string[] = []
    const put = (key: string, value: string | number) => parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    // 50 leads with 25 fields each: more than the 1000 parameters the other form routes accept.
    for (let i = 0; i < 50; i++) {
      const p = `leads[update][${i}]`
      for (let f = 1; f <= 18; f++) put(`${p}[custom_fields][${f}][values][0][value]`, `extra ${f}`)
      put(`${p}[id]`, 30_000_000 + i)
      put(`${p}[name]`, `Lead ${i}`)
      put(`${p}[status_id]`, stages[0]!.id)
      put(`${p}[last_modified]`, 1_760_000_000 + i)
      put(`${p}[custom_fields][0][id]`, 427_183)
      put(`${p}[custom_fields][0][values][0][value]`, `value ${i}`)
      put(`${p}[custom_fields][0][values][0][enum]`, 311_321)
    }
    put('__proto__[polluted]', 'yes')
    put('leads[update][0][constructor][prototype][polluted]', 'yes')
    put('account[subdomain]', 'acme')
    put('account[id]', 31000001)
    put('account[_links][self]', 'https://acme.kommo.com')
    const body = parts.join('&')
    const res = await kommo.deliverWebhook(hookUrl(), body)
    expect(res.status).toBe(200)
    expect(JSON.parse(res.body)).toMatchObject({ received: 50, stored: 50 })
    const updates = (await events()).filter((e) => e.kind === 'lead.update')
    expect(updates.map((e) => Number(e.entityId)).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => 30_000_000 + i))
    const payload = updates.find((e) => e.entityId === '30000049')!.payload as { custom_fields: unknown[] }
    expect(payload).toMatchObject({ id: '30000049', name: 'Lead 49', status_id: String(stages[0]!.id), last_modified: '1760000049' })
    expect(payload.custom_fields).toHaveLength(19)
    expect(payload.custom_fields[0]).toEqual({ id: '427183', values: [{ value: 'value 49', enum: '311321' }] })
    expect(payload.custom_fields[18]).toEqual({ values: [{ value: 'extra 18' }] })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    // Kommo delivers again (our answer came too late for it): nothing new is stored.
    const again = await kommo.deliverWebhook(hookUrl(), body)
    expect(again.status).toBe(200)
    expect(JSON.parse(again.body)).toMatchObject({ received: 50, stored: 0 })
    expect((await events()).filter((e) => e.kind === 'lead.update')).toHaveLength(50)
    await waitFor(async () => (await events()).every((e) => e.status !== 'pending'))
  })

  it('the form parser: PHP-style keys at any depth, arrays in index order, no prototype keys', () => {
    const deep = `a${'[x]'.repeat(30)}=deep`
    const parsed = parseForm(`${deep}&l[2]=c&l[0]=a&l[]=d&q=a+b%20c&__proto__[x]=1&o[constructor]=2`)
    let node: unknown = parsed.a
    for (let i = 0; i < 30; i++) node = (node as Record<string, unknown>).x
    expect(node).toBe('deep')
    expect(parsed.l).toEqual(['a', 'c', 'd'])
    expect(parsed.q).toBe('a b c')
    // A key naming __proto__, constructor or prototype is left out whole.
    expect(Object.keys(parsed)).toEqual(['a', 'l', 'q'])
    expect(Object.getPrototypeOf(parsed)).toBeNull()
    expect(parseForm('l[99999999999]=x').l).toEqual(['x'])
    expect(() => parseForm(`a${'[x]'.repeat(100)}=1`)).toThrow(/deeper/)
  })

  it('a plan without API webhooks keeps the connection and gives admins the URL to paste in Kommo', async () => {
    const globex = await createOrg(t, { name: 'Globex' })
    const res = await api(t, '/api/v1/crm/kommo', { token: globex.token, body: { subdomain: 'globex', longLivedToken: GLOBEX_TOKEN } })
    expect(res.status).toBe(201)
    expect(res.json).toMatchObject({ connected: true, status: 'active', webhook: { registered: false } })
    const manualUrl: string = res.json.webhook.manualUrl
    expect(manualUrl).toMatch(new RegExp(`^${PUBLIC_URL}/webhooks/kommo-crm/${res.json.id}\\?token=[\\w-]{32,}$`))
    expect(res.json.webhook.message).toContain('Web hooks')
    expect(kommo.webhooks('globex')).toHaveLength(0)
    // The connection was not taken for a blocked account, and still works.
    expect((await api(t, '/api/v1/crm/kommo/sync', { method: 'POST', token: globex.token })).json).toMatchObject({ status: 'active', webhook: { registered: false, manualUrl } })
    // A member sees that the webhook must be added by hand, not its secret.
    const email = `member-${Date.now()}@example.com`
    const user = await t.app.store.users.create({ email, name: 'Max', passwordHash: await hashPassword('member password 1') })
    await t.app.store.users.addMembership({ organizationId: globex.organizationId, userId: user.id, role: 'member' })
    const member = (await api(t, '/api/v1/auth/login', { body: { email, password: 'member password 1' } })).json.token
    // The admin sees it when they open the page.
    expect((await api(t, '/api/v1/crm/kommo', { token: globex.token })).json.webhook).toMatchObject({ registered: false, manualUrl })
    const seen = await api(t, '/api/v1/crm/kommo', { token: member })
    expect(seen.json.webhook).toMatchObject({ registered: false, manualUrl: null })
    expect(seen.text).not.toContain(new URL(manualUrl).searchParams.get('token'))
    expect(t.logs.text()).not.toContain(new URL(manualUrl).searchParams.get('token'))
    // The URL pasted in Kommo works.
    const body = kommo.webhookBody('globex', { leadStatus: { id: 29_100_001, status_id: 142, pipeline_id: 1, old_status_id: 143 } })
    expect((await kommo.deliverWebhook(local(manualUrl), body)).status).toBe(200)
    expect(await t.app.db.prisma.crmEvent.count({ where: { connectionId: res.json.id } })).toBe(1)
  })

  it('a plan refusing with 403 is not taken for a blocked account', async () => {
    const config = kommoConfig.parse({ KOMMO_API_URL: kommo.apiUrlTemplate })
    const service = createKommoConnections({ db: t.app.db, secrets: t.app.secrets, config, logger: t.app.logger, audit: t.app.store.audit, publicUrl: PUBLIC_URL, notifyAdmins: async () => 0 })
    kommo.addAccount({ subdomain: 'initech', accountId: 31000003, name: 'Initech' })
    const initechToken = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.webhookstokenforinitech.signature00000005'
    kommo.addLongLivedToken('initech', initechToken)
    const initech = await createOrg(t, { name: 'Initech' })
    kommo.failNext('POST /api/v4/webhooks', { status: 403, subdomain: 'initech' })
    const state = await service.connectLongLived({ organizationId: initech.organizationId, subdomain: 'initech', token: initechToken, actorUserId: null })
    expect(state).toMatchObject({ connected: true, status: 'active', webhook: { registered: false, manualUrl: expect.stringContaining('/webhooks/kommo-crm/') } })
    expect(await service.client(initech.organizationId)).not.toBeNull()
    // Read again (the plan allows it now): registered, with the same URL the admin may have pasted.
    const manualUrl = (state as { webhook: { manualUrl: string } }).webhook.manualUrl
    const synced = await service.sync(initech.organizationId)
    expect(synced).toMatchObject({ webhook: { registered: true, manualUrl: null } })
    expect(kommo.webhooks('initech').map((h) => h.destination)).toEqual([manualUrl])
    // Kommo fails to remove it at disconnect: disconnected all the same, with a warning (without the token).
    kommo.failNext('DELETE /api/v4/webhooks', { status: 500, subdomain: 'initech' })
    expect(await service.disconnect({ organizationId: initech.organizationId, actorUserId: null })).toEqual({ disconnected: true, webhookRemoved: false })
    expect(t.logs.lines.some((l) => l.includes('Kommo webhook not removed'))).toBe(true)
    expect(t.logs.text()).not.toContain(new URL(manualUrl).searchParams.get('token'))
    expect(await t.app.db.prisma.crmConnection.count({ where: { organizationId: initech.organizationId } })).toBe(0)
  })

  it('connecting with OAuth registers the webhook too', async () => {
    const client = { clientId: 'c0ffee00-0000-4000-8000-000000000002', clientSecret: 'kommo-client-secret-for-webhook-tests-0002', redirectUri: `${PUBLIC_URL}/crm/kommo/oauth/callback` }
    const config = kommoConfig.parse({ KOMMO_API_URL: kommo.apiUrlTemplate, KOMMO_CLIENT_ID: client.clientId, KOMMO_CLIENT_SECRET: client.clientSecret, KOMMO_REDIRECT_URI: client.redirectUri })
    const service = createKommoConnections({ db: t.app.db, secrets: t.app.secrets, config, logger: t.app.logger, audit: t.app.store.audit, publicUrl: PUBLIC_URL, notifyAdmins: async () => 0 })
    kommo.addAccount({ subdomain: 'umbrella', accountId: 31000004, name: 'Umbrella' })
    kommo.addOAuthCode('umbrella', 'code-umbrella', client)
    const umbrella = await createOrg(t, { name: 'Umbrella' })
    const state = await service.connectWithCode({ organizationId: umbrella.organizationId, subdomain: 'umbrella', code: 'code-umbrella', actorUserId: null })
    expect(state).toMatchObject({ connected: true, authKind: 'oauth', webhook: { registered: true, manualUrl: null } })
    const [hook] = kommo.webhooks('umbrella')
    expect(hook!.destination).toMatch(new RegExp(`^${PUBLIC_URL}/webhooks/kommo-crm/${(state as { id: string }).id}\\?token=[\\w-]{32,}$`))
    expect(hook!.settings).toEqual(EVENTS)
  })

  it('disconnecting removes the webhook from Kommo', async () => {
    const res = await api(t, '/api/v1/crm/kommo', { method: 'DELETE', token: org.token })
    expect(res.json).toEqual({ disconnected: true, webhookRemoved: true })
    expect(kommo.webhooks('acme')).toHaveLength(0)
    expect(kommo.callsOf('DELETE /api/v4/webhooks', 'acme').at(-1)!.body).toEqual({ destination })
    // Its events went with it; a late delivery is refused.
    expect(await t.app.db.prisma.crmEvent.count({ where: { connectionId } })).toBe(0)
    const body = kommo.webhookBody('acme', { leadStatus: { id: 29_000_003, status_id: 142, pipeline_id: 1, old_status_id: 143 } })
    expect((await kommo.deliverWebhook(hookUrl(), body)).status).toBe(401)
    expect(t.logs.text()).not.toContain(token)
  })
})
