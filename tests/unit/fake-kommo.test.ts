import { readFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeKommo, type FakeKommo } from '../support/fake-kommo.ts'

type Json = Record<string, unknown>
const fixtureText = (name: string) => readFileSync(new URL(`../fixtures/kommo/${name}`, import.meta.url), 'utf8')
const fixture = (name: string) => JSON.parse(fixtureText(name)) as unknown

/** Keys and value types, recursively (arrays by their first element): what "the same shape" means here. */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.length ? [shapeOf(value[0])] : []
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shapeOf((value as Json)[k])]))
  return value === null ? 'null' : typeof value
}

/** The fake driven with plain fetch, as the Kommo adapter will call it. */
describe('fake Kommo', () => {
  let fake: FakeKommo
  const token = 'LONG-LIVED-acme'
  const base = () => fake.urlFor('acme')
  const call = async (path: string, init: { method?: string; json?: unknown; token?: string | null; sub?: string } = {}) => {
    const headers: Record<string, string> = {}
    const bearer = init.token === undefined ? token : init.token
    if (bearer) headers.authorization = `Bearer ${bearer}`
    if (init.json !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${init.sub ? fake.urlFor(init.sub) : base()}${path}`, { method: init.method ?? (init.json === undefined ? 'GET' : 'POST'), headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) })
    const text = await res.text()
    let body: unknown = text
    try {
      body = text ? JSON.parse(text) : ''
    } catch {
      // HTML (the 403 page) stays text
    }
    return { status: res.status, type: res.headers.get('content-type'), text, body: body as Json & unknown[] }
  }
  /** The fake's `_links` point at itself; the fixtures show Kommo's host. */
  const asKommo = (value: unknown) => JSON.parse(JSON.stringify(value).split(base()).join('https://acme.kommo.com')) as unknown

  beforeAll(async () => {
    fake = await startFakeKommo({ rateLimit: false })
    fake.addAccount({ subdomain: 'acme', accountId: 31000001, name: 'Acme Support', amojoId: 'c3a4f2a6-0b6e-4d3f-9a51-7e0d5c1b2a90' })
    fake.addLongLivedToken('acme', token)
  })
  afterAll(() => fake.close())

  it('plays any subdomain under one origin and answers the HAL shapes of the fixtures', async () => {
    expect(fake.apiUrlTemplate.replace('{subdomain}', 'acme')).toBe(base())
    const account = await call('/api/v4/account?with=amojo_id')
    expect(account.status).toBe(200)
    expect(account.type).toMatch(/^application\/hal\+json/)
    expect(asKommo(account.body)).toEqual(fixture('account.json'))
    expect((await call('/api/v4/account')).body).not.toHaveProperty('amojo_id')
    expect(asKommo((await call('/api/v4/leads/pipelines')).body)).toEqual(fixture('pipelines.json'))
    expect(asKommo((await call('/api/v4/users')).body)).toEqual(fixture('users.json'))
    expect(asKommo((await call('/api/v4/contacts/custom_fields')).body)).toEqual(fixture('contacts-custom-fields.json'))
    expect(fake.callsOf('GET /api/v4/account')).toHaveLength(2)
    expect(fake.calls[0]).toMatchObject({ method: 'GET', path: '/api/v4/account', subdomain: 'acme', token, query: { with: 'amojo_id' }, status: 200 })
  })

  it('creates leads with a contact and a company in one complex call', async () => {
    const res = await call('/api/v4/leads/complex', { json: fixture('leads-complex-request.json') })
    expect(res.status).toBe(200)
    expect(res.body).toEqual(fixture('leads-complex-response.json'))
    const [ada, ben] = fake.leads('acme')
    expect(ada).toMatchObject({ id: 21000001, pipeline_id: 6950001, status_id: 58140002, responsible_user_id: 8100002, created_by: 8100001, _embedded: { tags: [{ name: 'switchboard' }], companies: [{ id: 17500001 }], contacts: [{ id: 17000001, is_main: true }] } })
    expect(ben).toMatchObject({ name: 'Ben (Instagram)', status_id: 58140002, responsible_user_id: 8100001 }) // first stage of the main pipeline, the token's user
    expect(fake.contacts('acme')[0]).toMatchObject({
      name: 'Ada Lovelace',
      custom_fields_values: [
        { field_id: 1480002, field_code: 'PHONE', field_type: 'multitext', values: [{ value: '+1 555 010 0001', enum_id: 930003, enum_code: 'MOB' }] },
        { field_id: 1480003, field_code: 'EMAIL', values: [{ value: 'ada@example.test', enum_id: 930007, enum_code: 'WORK' }] },
      ],
      _embedded: { companies: [{ id: 17500001 }], leads: [{ id: 21000001 }] },
    })
    expect(fake.contacts('acme')[1]!.custom_fields_values).toEqual([expect.objectContaining({ values: [{ value: '+15550100002', enum_id: 930001, enum_code: 'WORK' }] })])

    const lead = await call('/api/v4/leads/21000001?with=contacts')
    expect(lead.body).toMatchObject({ id: 21000001, account_id: 31000001, _embedded: { contacts: [{ id: 17000001, is_main: true }] } })
    expect((await call('/api/v4/leads/21000001')).body._embedded).not.toHaveProperty('contacts')
    const missing = await call('/api/v4/leads/99')
    expect(missing).toMatchObject({ status: 204, text: '' })
  })

  it('answers a malformed body with the documented validation-errors shape, creating nothing', async () => {
    const before = fake.leads('acme').length
    const bad = await call('/api/v4/leads/complex', { json: [{ name: 'ok', request_id: 'r1', status_id: '58140002', custom_fields_values: [{ field_id: 1, values: [{ value: 'x' }] }] }, { price: 'ten', _embedded: { contacts: [{ custom_fields_values: [{ field_code: 'PHONE', values: [{ value: '+1', enum_code: 'PAGER' }] }] }] } }] })
    expect(bad.status).toBe(400)
    expect(bad.type).toMatch(/^application\/problem\+json/)
    expect(shapeOf(bad.body)).toEqual(shapeOf(fixture('validation-error.json')))
    expect(bad.body).toMatchObject({ title: 'Bad Request', type: 'https://httpstatus.es/400', status: 400, detail: 'Request validation failed' })
    expect(bad.body['validation-errors']).toEqual([
      { request_id: 'r1', errors: [{ code: 'InvalidType', path: 'status_id', detail: 'This value should be of type int.' }, { code: 'NotSupportedChoice', path: 'custom_fields_values.0.field_id', detail: 'The value you selected is not a valid choice.' }] },
      { request_id: '1', errors: [{ code: 'InvalidType', path: 'price', detail: 'This value should be of type int.' }, { code: 'NotSupportedChoice', path: '_embedded.contacts.0.custom_fields_values.0.values.0.enum_code', detail: 'The value you selected is not a valid choice.' }] },
    ])
    expect(fake.leads('acme')).toHaveLength(before)
    expect((await call('/api/v4/leads/complex', { json: [] })).body).toEqual({ title: 'Bad Request', type: 'https://httpstatus.es/400', status: 400, detail: 'Request data can not be empty' })
    expect((await call('/api/v4/tasks', { json: [{ entity_id: 21000001, entity_type: 'leads' }] })).body['validation-errors']).toEqual([{ request_id: '0', errors: [expect.objectContaining({ code: 'NotBlank', path: 'text' }), expect.objectContaining({ code: 'NotBlank', path: 'complete_till' })] }])
  })

  it('searches contacts by phone, email, name or field value; nothing found is 204 with an empty body', async () => {
    const none = await call(`/api/v4/contacts?query=${encodeURIComponent('nobody@nowhere.test')}`)
    expect(none.status).toBe(204)
    expect(none.text).toBe('')
    expect(none.type).toBeNull()

    for (const q of ['15550100001', '+1 (555) 010-0001', 'ADA@example.test', 'lovelace']) {
      const found = await call(`/api/v4/contacts?query=${encodeURIComponent(q)}&with=leads`)
      expect(found.status, q).toBe(200)
      expect((found.body._embedded as { contacts: Json[] }).contacts.map((c) => c.id), q).toEqual([17000001])
    }
    const page = await call('/api/v4/contacts?limit=1')
    expect(page.body).toMatchObject({ _page: 1, _links: { next: { href: expect.stringContaining('page=2') } }, _embedded: { contacts: [{ id: 17000001 }] } })

    const created = await call('/api/v4/contacts', { json: [{ first_name: 'Chloe', custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: 'chloe@example.test', enum_code: 'PRIV' }] }] }, { name: 'Dan', request_id: 'dan' }] })
    expect(created.body).toMatchObject({ _links: { self: { href: `${base()}/api/v4/contacts` } }, _embedded: { contacts: [{ id: expect.any(Number), request_id: '0' }, { id: expect.any(Number), request_id: 'dan' }] } })
    const chloe = (created.body._embedded as { contacts: { id: number }[] }).contacts[0]!.id
    const patched = await call(`/api/v4/contacts/${chloe}`, { method: 'PATCH', json: { last_name: 'Park', custom_fields_values: [{ field_code: 'PHONE', values: [{ value: '+4930123456', enum_code: 'WORK' }] }] } })
    expect(patched.body).toMatchObject({ id: chloe, name: 'Chloe Park', updated_at: expect.any(Number) })
    expect((await call('/api/v4/contacts?query=4930123456')).body).toMatchObject({ _embedded: { contacts: [{ id: chloe, custom_fields_values: [expect.objectContaining({ field_code: 'EMAIL' }), expect.objectContaining({ field_code: 'PHONE' })] }] } })
  })

  it('moves a lead, adds notes and tasks, and shows it all in the state', async () => {
    const moved = await call('/api/v4/leads/21000001', { method: 'PATCH', json: { status_id: 142, responsible_user_id: 8100001 } })
    expect(moved.body).toMatchObject({ id: 21000001, updated_at: expect.any(Number), _links: { self: { href: `${base()}/api/v4/leads/21000001` } } })
    expect(fake.leads('acme')[0]).toMatchObject({ status_id: 142, responsible_user_id: 8100001, closed_at: expect.any(Number) })
    const wrongStage = await call('/api/v4/leads/21000001', { method: 'PATCH', json: { status_id: 1 } })
    expect(wrongStage.body['validation-errors']).toEqual([{ request_id: '0', errors: [{ code: 'NotSupportedChoice', path: 'status_id', detail: 'The value you selected is not a valid choice.' }] }])

    const note = await call('/api/v4/leads/21000001/notes', { json: [{ note_type: 'common', params: { text: 'Conversation summary: asked about opening hours.' } }] })
    expect(note.body).toMatchObject({ _embedded: { notes: [{ id: expect.any(Number), entity_id: 21000001, request_id: '0' }] } })
    const notes2 = await call('/api/v4/leads/notes', { json: [{ entity_id: 21000002, note_type: 'common', params: { text: 'Handed over to a person' }, request_id: 'n2' }] })
    expect(notes2.body).toMatchObject({ _embedded: { notes: [{ entity_id: 21000002, request_id: 'n2' }] } })
    expect((await call('/api/v4/leads/notes', { json: [{ entity_id: 404, note_type: 'common', params: { text: 'x' } }] })).body['validation-errors']).toEqual([{ request_id: '0', errors: [expect.objectContaining({ code: 'NotSupportedChoice', path: 'entity_id' })] }])
    expect(fake.notes('acme').map((n) => [n.entity_id, n.note_type, n.params.text])).toEqual([[21000001, 'common', 'Conversation summary: asked about opening hours.'], [21000002, 'common', 'Handed over to a person']])
    expect((await call('/api/v4/leads/21000001/notes')).body).toMatchObject({ _embedded: { notes: [{ entity_id: 21000001, note_type: 'common' }] } })

    const task = await call('/api/v4/tasks', { json: [{ text: 'Call Ada back', complete_till: 1764600000, entity_id: 21000002, entity_type: 'leads', responsible_user_id: 8100002, task_type_id: 1 }] })
    expect(task.body).toMatchObject({ _embedded: { tasks: [{ id: expect.any(Number), request_id: '0' }] } })
    expect(fake.tasks('acme')[0]).toMatchObject({ text: 'Call Ada back', entity_id: 21000002, entity_type: 'leads', responsible_user_id: 8100002, task_type_id: 1, is_completed: false })
    expect((await call('/api/v4/tasks', { json: [{ text: 'x', complete_till: 1, task_type_id: 99 }] })).body['validation-errors']).toEqual([{ request_id: '0', errors: [expect.objectContaining({ code: 'NotSupportedChoice', path: 'task_type_id' })] }])
  })

  it('subscribes, lists and deletes API webhooks; plans without them are refused', async () => {
    const destination = 'https://switchboard.example/hooks/kommo?secret=s3cr3t'
    const added = await call('/api/v4/webhooks', { json: { destination, settings: ['status_lead', 'responsible_lead'] } })
    expect(added.status).toBe(201)
    expect(added.body).toMatchObject({ id: expect.any(Number), destination, account_id: 31000001, disabled: false, settings: ['status_lead', 'responsible_lead'] })
    expect((await call('/api/v4/webhooks', { json: { destination, settings: ['status_lead'] } })).status).toBe(201) // same destination: updated
    expect(fake.webhooks('acme')).toEqual([expect.objectContaining({ destination, settings: ['status_lead'] })])
    expect((await call('/api/v4/webhooks')).body).toMatchObject({ _total_items: 1, _embedded: { webhooks: [{ destination }] } })
    expect((await call('/api/v4/webhooks', { json: { destination, settings: ['lead_changed'] } })).body['validation-errors']).toEqual([{ request_id: '0', errors: [expect.objectContaining({ code: 'NotSupportedChoice', path: 'settings.0' })] }])
    const deleted = await call('/api/v4/webhooks', { method: 'DELETE', json: { destination } })
    expect(deleted).toMatchObject({ status: 204, text: '' })
    expect((await call('/api/v4/webhooks')).status).toBe(204)
    expect((await call('/api/v4/webhooks', { method: 'DELETE', json: { destination } })).status).toBe(404)

    fake.addAccount({ subdomain: 'basic', accountId: 31000002, name: 'Basic plan', webhooksAllowed: false })
    fake.addLongLivedToken('basic', 'LL-basic')
    const refused = await call('/api/v4/webhooks', { sub: 'basic', token: 'LL-basic', json: { destination, settings: ['status_lead'] } })
    expect(refused).toMatchObject({ status: 402, body: { title: 'Payment Required', type: 'https://httpstatus.es/402', status: 402 } })
  })

  it('builds the form-encoded CRM webhook bodies of the fixtures and delivers them', async () => {
    expect(fake.leads('acme')[0]!.status_id).toBe(142)
    await call('/api/v4/leads/21000001', { method: 'PATCH', json: { status_id: 58140002, responsible_user_id: 8100002 } })
    const sameBut = (actual: string, expected: string) => {
      const a = [...new URLSearchParams(actual)]
      const e = [...new URLSearchParams(expected)]
      expect(a.map(([k]) => k)).toEqual(e.map(([k]) => k))
      a.forEach(([k, v], i) => (/\[(last_modified|date_create|created_at|updated_at)\]$/.test(k) ? expect(v).toMatch(/^\d{10}$/) : expect(v, k).toBe(e[i]![1])))
    }
    sameBut(fake.moveLead('acme', 21000001, { status_id: 58140003, modified_user_id: 8100002 }), fixtureText('webhook-lead-status.txt'))
    sameBut(fake.moveLead('acme', 21000001, { responsible_user_id: 8100001, modified_user_id: 8100001 }), fixtureText('webhook-responsible.txt'))
    expect(fake.leads('acme')[0]).toMatchObject({ status_id: 58140003, responsible_user_id: 8100001 })

    const short = new URLSearchParams(fake.webhookBody('acme', { leadStatus: { id: 555, status_id: 142, pipeline_id: 6950001, old_status_id: 58140004 } }))
    expect([...short]).toEqual([['leads[status][0][id]', '555'], ['leads[status][0][status_id]', '142'], ['leads[status][0][pipeline_id]', '6950001'], ['leads[status][0][old_status_id]', '58140004'], ['leads[status][0][old_pipeline_id]', '6950001'], ['account[subdomain]', 'acme'], ['account[id]', '31000001'], ['account[_links][self]', 'https://acme.kommo.com']])

    let received: { headers: IncomingHttpHeaders; body: string } | undefined
    const receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        received = { headers: req.headers, body }
        res.end('ok')
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/kommo?secret=s3cr3t`
      const body = fixtureText('webhook-lead-status.txt')
      expect(await fake.deliverWebhook(url, body)).toEqual({ status: 200, body: 'ok' })
      expect(received).toMatchObject({ body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'amoCRM-WebHook-client/1.0' } })
      expect(fake.deliveries.at(-1)).toMatchObject({ url, status: 200 })
    } finally {
      await new Promise((r) => receiver.close(r))
    }
  })

  it('OAuth: codes are single-use, refresh tokens rotate and an old one is revoked', async () => {
    const client = { clientId: '5f2c8e1a-3b7d-4c9e-a1f0-6d2b8c4e7a91', clientSecret: 'client-secret', redirectUri: 'https://switchboard.example/oauth/kommo' }
    fake.addOAuthCode('acme', 'code-1', client)
    const exchange = (json: Json) => call('/oauth2/access_token', { token: null, json: { client_id: client.clientId, client_secret: client.clientSecret, redirect_uri: client.redirectUri, ...json } })

    const first = await exchange({ grant_type: 'authorization_code', code: 'code-1' })
    expect(first.status).toBe(200)
    expect(shapeOf(first.body)).toEqual(shapeOf(fixture('oauth-token-response.json')))
    expect(first.body).toMatchObject({ token_type: 'Bearer', expires_in: 86400, access_token: expect.stringMatching(/^eyJ0eXAiOiJKV1Qi/), refresh_token: expect.stringMatching(/^def50200/) })
    const again = await exchange({ grant_type: 'authorization_code', code: 'code-1' })
    expect(again.body).toMatchObject({ status: 400, hint: 'Authorization code has been revoked', type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson' })
    expect((await call('/api/v4/account', { token: String(first.body.access_token) })).body).toMatchObject({ current_user_id: 8100001 })

    const second = await exchange({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token })
    expect(second.status).toBe(200)
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token)
    expect(fake.refreshCount('acme')).toBe(1)
    const reused = await exchange({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token })
    expect(reused.status).toBe(400)
    expect(reused.type).toMatch(/^application\/json/)
    expect(reused.body).toEqual(fixture('oauth-error-revoked.json'))
    expect(fake.refreshCount('acme')).toBe(1)
    expect((await exchange({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token, client_secret: 'wrong' })).status).toBe(400)

    const unauthorized = { title: 'Unauthorized', type: 'https://httpstatus.es/401', status: 401, detail: 'Invalid user name or password' }
    expect(await call('/api/v4/account', { token: String(first.body.access_token) })).toMatchObject({ status: 401, body: unauthorized }) // revoked by the refresh
    const current = String(second.body.access_token)
    expect((await call('/api/v4/account', { token: current })).status).toBe(200)
    expect((await call('/api/v4/account', { token: current, sub: 'basic' })).status).toBe(401) // another account's token
    fake.advanceTime(86_400)
    expect((await call('/api/v4/account', { token: current })).status).toBe(401)
    expect((await call('/api/v4/account', { token: null })).body).toEqual(unauthorized)

    const fresh = await exchange({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token })
    expect((await call('/api/v4/users', { token: String(fresh.body.access_token) })).status).toBe(200)
    fake.expireAccessToken(String(fresh.body.access_token))
    expect((await call('/api/v4/users', { token: String(fresh.body.access_token) })).status).toBe(401)
  })

  it('duplicate control merges a complex lead into the open lead of a known contact', async () => {
    fake.addAccount({ subdomain: 'dupes', accountId: 31000003, name: 'Dupes', duplicateControl: true })
    const pair = fake.issueTokens('dupes', { clientId: 'c', clientSecret: 's', redirectUri: 'https://switchboard.example/oauth/kommo' })
    const lead = (phone: string, rid: string) => [{ name: `Chat ${rid}`, request_id: rid, _embedded: { contacts: [{ name: 'Eve', custom_fields_values: [{ field_code: 'PHONE', values: [{ value: phone }] }] }] } }]
    const first = await call('/api/v4/leads/complex', { sub: 'dupes', token: pair.access_token, json: lead('+44 20 7946 0000', 'a') })
    const second = await call('/api/v4/leads/complex', { sub: 'dupes', token: pair.access_token, json: lead('442079460000', 'b') })
    const [a, b] = [first.body[0] as Json, second.body[0] as Json]
    expect(a).toMatchObject({ request_id: ['a'], merged: false })
    expect(b).toEqual({ id: a.id, contact_id: a.contact_id, company_id: null, request_id: ['b'], merged: true })
    expect(fake.leads('dupes')).toHaveLength(1)
    expect(fake.contacts('dupes')).toHaveLength(1)
  })

  it('unknown paths are 404, wrong methods 405, a broken JSON body 400', async () => {
    expect(await call('/api/v4/example')).toMatchObject({ status: 404, body: { title: 'Not Found', type: 'https://httpstatus.es/404', status: 404 } })
    expect((await call('/api/v4/leads/complex')).status).toBe(405)
    const res = await fetch(`${base()}/api/v4/contacts`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '[{"name": ' })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ detail: 'Request data can not be empty' })
  })
})

describe('fake Kommo limits', () => {
  let fake: FakeKommo
  const get = (path: string, sub = 'busy', token = 'LL-busy') => fetch(`${fake.urlFor(sub)}${path}`, { headers: { authorization: `Bearer ${token}` } })

  beforeAll(async () => {
    fake = await startFakeKommo({ blockAfterRateLimited: 5 })
    fake.addAccount({ subdomain: 'busy', accountId: 32000001, name: 'Busy' })
    fake.addLongLivedToken('busy', 'LL-busy')
    fake.addAccount({ subdomain: 'calm', accountId: 32000002, name: 'Calm' })
    fake.addLongLivedToken('calm', 'LL-calm')
  })
  afterAll(() => fake.close())

  it('answers 429 past 7 requests in a second, per account, and lets requests through once the window moves', async () => {
    const burst = await Promise.all(Array.from({ length: 9 }, () => get('/api/v4/account')))
    expect(burst.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 429, 429])
    const limited = burst.find((r) => r.status === 429)!
    expect(await limited.json()).toEqual({ title: 'Too Many Requests', type: 'https://httpstatus.es/429', status: 429, detail: 'You have sent too many requests in a given amount of time. Please try again later.', retry_after: 1 })
    expect((await get('/api/v4/account', 'calm', 'LL-calm')).status).toBe(200) // the limit is per account
    fake.advanceTime(1.01)
    expect((await get('/api/v4/account')).status).toBe(200)
    expect(fake.callsOf('GET /api/v4/account', 'busy').filter((c) => c.status === 429)).toHaveLength(2)
  })

  it('failNext injects one answer; a blocked account gets 403 on everything', async () => {
    fake.failNext('POST /leads/complex', { status: 504, body: null })
    fake.failNext('/api/v4/users', { status: 500, subdomain: 'calm' })
    const complex = await fetch(`${fake.urlFor('calm')}/api/v4/leads/complex`, { method: 'POST', headers: { authorization: 'Bearer LL-calm', 'content-type': 'application/json' }, body: '[{}]' })
    expect(complex.status).toBe(504)
    expect(await complex.text()).toBe('')
    const users = await get('/api/v4/users', 'calm', 'LL-calm')
    expect(users.status).toBe(500)
    expect(await users.json()).toMatchObject({ title: 'ErrInternalServer', status: 500 })
    expect((await get('/api/v4/users', 'calm', 'LL-calm')).status).toBe(200)

    fake.blockAccount('calm')
    const blocked = await get('/api/v4/account', 'calm', 'LL-calm')
    expect(blocked.status).toBe(403)
    expect(blocked.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await blocked.text()).toContain('403 Forbidden')
    const oauth = await fetch(`${fake.urlFor('calm')}/oauth2/access_token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(oauth.status).toBe(403)
    fake.unblockAccount('calm')
    expect((await get('/api/v4/account', 'calm', 'LL-calm')).status).toBe(200)
  })

  it('repeated 429s get the account blocked (blockAfterRateLimited)', async () => {
    fake.advanceTime(2)
    const statuses = (await Promise.all(Array.from({ length: 12 }, () => get('/api/v4/account')))).map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(7)
    fake.advanceTime(2)
    expect((await get('/api/v4/account')).status).toBe(403) // 2 + 3 = 5 rate-limited answers: blocked
  })
})
