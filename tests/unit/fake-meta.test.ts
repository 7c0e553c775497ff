import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeMeta, type FakeMeta } from '../support/fake-meta.ts'

/** The fake Graph API driven with plain fetch, as the Messenger and Instagram adapters will call it. */
describe('fake Meta Graph API', () => {
  let fake: FakeMeta
  const page = { pageId: '104000000000001', name: 'Acme Support', token: 'EAAPAGE-acme' }
  const ig = { accountId: '17841400000000001', username: 'acme.support', token: 'IGAA-acme' }

  type Json = Record<string, unknown>
  const call = async (url: string, init: { method?: string; token?: string; json?: unknown; form?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = {}
    let body: string | undefined
    if (init.token) headers.authorization = `Bearer ${init.token}`
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(init.json)
    } else if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(init.form).toString()
    }
    const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body })
    return { status: res.status, headers: res.headers, body: (await res.json()) as Json }
  }
  const fb = (path: string) => `${fake.url}/v21.0${path}`
  const igUrl = (path: string) => `${fake.instagramUrl}/v21.0${path}`
  const errorOf = (r: { body: Json }) => r.body.error as Json

  beforeAll(async () => {
    fake = await startFakeMeta({ appId: '555000111', appSecret: 'fb-secret', instagramAppId: '777000222', instagramAppSecret: 'ig-secret' })
    fake.addPage(page)
    fake.addInstagram(ig)
  })
  afterAll(() => fake.close())

  it('reads a Page and an Instagram account, with the token as a header or as access_token', async () => {
    expect((await call(fb(`/${page.pageId}?fields=id,name`), { token: page.token })).body).toEqual({ id: page.pageId, name: 'Acme Support' })
    const viaQuery = await call(fb(`/me?fields=id,name&access_token=${page.token}`))
    expect(viaQuery.body).toEqual({ id: page.pageId, name: 'Acme Support' })
    expect(fake.calls.at(-1)).toMatchObject({ method: 'GET', path: '/me', base: 'fb', version: 'v21.0', token: page.token, tokenVia: 'query', status: 200 })

    const me = await call(igUrl('/me?fields=user_id,username'), { token: ig.token })
    expect(me.body).toEqual({ user_id: ig.accountId, username: 'acme.support', id: expect.any(String) })
    expect(me.body.id).not.toBe(ig.accountId) // /me's id is app-scoped; user_id is the professional account id
    expect((await call(`${fake.instagramUrl}/me?fields=username&access_token=${ig.token}`)).body).toMatchObject({ username: 'acme.support' })
  })

  it('subscribes and unsubscribes webhook fields (query or body, list or JSON array)', async () => {
    const sub = await call(fb(`/${page.pageId}/subscribed_apps?subscribed_fields=messages,messaging_postbacks,message_echoes`), { method: 'POST', token: page.token })
    expect(sub).toMatchObject({ status: 200, body: { success: true } })
    expect(fake.subscribedFields(page.pageId)).toEqual(['messages', 'messaging_postbacks', 'message_echoes'])
    expect((await call(fb(`/${page.pageId}/subscribed_apps`), { token: page.token })).body).toMatchObject({ data: [{ id: '555000111', subscribed_fields: ['messages', 'messaging_postbacks', 'message_echoes'] }] })
    expect((await call(fb(`/${page.pageId}/subscribed_apps`), { method: 'DELETE', token: page.token })).body).toEqual({ success: true })
    expect(fake.subscribedFields(page.pageId)).toEqual([])
    const missing = await call(fb(`/${page.pageId}/subscribed_apps`), { method: 'POST', token: page.token })
    expect(missing.status).toBe(400)
    expect(errorOf(missing)).toMatchObject({ code: 100, type: 'OAuthException' })

    expect((await call(igUrl('/me/subscribed_apps'), { token: ig.token, json: { subscribed_fields: ['messages', 'messaging_postbacks'] } })).body).toEqual({ success: true })
    expect((await call(igUrl(`/${ig.accountId}/subscribed_apps`), { token: ig.token, form: { subscribed_fields: 'messages,messaging_postbacks,messaging_seen' } })).body).toEqual({ success: true })
    expect(fake.subscribedFields(ig.accountId)).toEqual(['messages', 'messaging_postbacks', 'messaging_seen'])
  })

  it('Send API: text, quick replies, attachments and sender actions on both hosts', async () => {
    const sent = await call(fb(`/${page.pageId}/messages`), { token: page.token, json: { recipient: { id: 'PSID-1' }, messaging_type: 'RESPONSE', message: { text: 'Hello!', quick_replies: [{ content_type: 'text', title: 'Yes', payload: 'YES' }] } } })
    expect(sent.status).toBe(200)
    expect(sent.body).toEqual({ recipient_id: 'PSID-1', message_id: expect.stringMatching(/^m_/) })
    // Graph-style form fields carrying JSON, and /me as the Page
    const form = await call(fb('/me/messages'), { form: { access_token: page.token, recipient: '{"id":"PSID-1"}', messaging_type: 'RESPONSE', message: '{"attachment":{"type":"image","payload":{"url":"https://example.test/a.png","is_reusable":true}}}' } })
    expect(form.body).toMatchObject({ recipient_id: 'PSID-1', message_id: expect.stringMatching(/^m_/), attachment_id: expect.any(String) })
    expect(fake.calls.at(-1)).toMatchObject({ tokenVia: 'body', body: { recipient: { id: 'PSID-1' } } })
    expect((await call(fb('/me/messages'), { token: page.token, json: { recipient: { id: 'PSID-1' }, sender_action: 'typing_on' } })).body).toEqual({ recipient_id: 'PSID-1' })

    const igSent = await call(igUrl(`/${ig.accountId}/messages`), { token: ig.token, json: { recipient: { id: 'IGSID-1' }, message: { text: 'Hi from Instagram' } } })
    expect(igSent.body).toEqual({ recipient_id: 'IGSID-1', message_id: expect.stringMatching(/^aWdf/) })
    expect((await call(igUrl('/me/messages'), { token: ig.token, json: { recipient: { id: 'IGSID-1' }, sender_action: 'mark_seen' } })).body).toEqual({ recipient_id: 'IGSID-1' })

    expect(fake.sendsTo('PSID-1').map((c) => c.body.message)).toEqual([{ text: 'Hello!', quick_replies: [{ content_type: 'text', title: 'Yes', payload: 'YES' }] }, { attachment: { type: 'image', payload: { url: 'https://example.test/a.png', is_reusable: true } } }])
    expect(fake.actionsTo('PSID-1').map((c) => c.body.sender_action)).toEqual(['typing_on'])
    expect(fake.sendsTo('IGSID-1')).toHaveLength(1)
    expect(fake.actionsTo('IGSID-1').map((c) => c.body.sender_action)).toEqual(['mark_seen'])
  })

  it('enforces the text limits (Messenger 2000 characters, Instagram 1000 bytes) and 13 quick replies', async () => {
    const send = (url: string, token: string, message: unknown) => call(url, { token, json: { recipient: { id: 'LIMITS' }, messaging_type: 'RESPONSE', message } })
    expect((await send(fb('/me/messages'), page.token, { text: 'é'.repeat(2000) })).status).toBe(200)
    const long = await send(fb('/me/messages'), page.token, { text: 'x'.repeat(2001) })
    expect(long.status).toBe(400)
    expect(errorOf(long)).toEqual({ message: '(#100) Length of param message[text] must be less than or equal to 2000', type: 'OAuthException', code: 100, fbtrace_id: expect.any(String) })

    expect((await send(igUrl('/me/messages'), ig.token, { text: 'x'.repeat(1000) })).status).toBe(200)
    const bytes = await send(igUrl('/me/messages'), ig.token, { text: 'é'.repeat(501) }) // 501 characters, 1002 bytes
    expect(errorOf(bytes)).toMatchObject({ code: 100, message: expect.stringContaining('1000') })

    const replies = Array.from({ length: 14 }, (_, i) => ({ content_type: 'text', title: `Option ${i}`, payload: `P${i}` }))
    expect(errorOf(await send(fb('/me/messages'), page.token, { text: 'Pick one', quick_replies: replies }))).toMatchObject({ code: 100, type: 'OAuthException' })
    expect((await send(fb('/me/messages'), page.token, { text: 'Pick one', quick_replies: replies.slice(0, 13) })).status).toBe(200)
    expect(fake.deliveredTo('LIMITS')).toHaveLength(3)
    expect(fake.sendsTo('LIMITS')).toHaveLength(6)
  })

  it('outside the 24 h window only HUMAN_AGENT-tagged sends go through', async () => {
    fake.setOutsideWindow('PSID-LATE')
    const late = await call(fb('/me/messages'), { token: page.token, json: { recipient: { id: 'PSID-LATE' }, messaging_type: 'RESPONSE', message: { text: 'Sorry for the wait' } } })
    expect(late.status).toBe(400)
    expect(errorOf(late)).toMatchObject({ code: 10, error_subcode: 2018278, type: 'OAuthException', message: expect.stringContaining('outside of allowed window') })
    const tagged = await call(fb('/me/messages'), { token: page.token, json: { recipient: { id: 'PSID-LATE' }, messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT', message: { text: 'Sorry for the wait' } } })
    expect(tagged.status).toBe(200)
    expect(errorOf(await call(fb('/me/messages'), { token: page.token, json: { recipient: { id: 'PSID-LATE' }, messaging_type: 'MESSAGE_TAG', message: { text: 'x' } } }))).toMatchObject({ code: 100 })
    fake.setOutsideWindow('PSID-LATE', false)
    expect((await call(fb('/me/messages'), { token: page.token, json: { recipient: { id: 'PSID-LATE' }, message: { text: 'x' } } })).status).toBe(200)

    fake.setUnavailable('PSID-GONE')
    expect(errorOf(await call(fb('/me/messages'), { token: page.token, json: { recipient: { id: 'PSID-GONE' }, message: { text: 'x' } } }))).toMatchObject({ code: 551, message: "(#551) This person isn't available right now." })
  })

  it('failNext injects one Graph error for the next matching call, then answers normally', async () => {
    fake.failNext('/messages', { code: 613 })
    fake.failNext('POST /me/messages', { code: 4 })
    fake.failNext(/subscribed_apps$/, { status: 500, code: 2 })
    const send = () => call(fb('/me/messages'), { token: page.token, json: { recipient: { id: 'PSID-RL' }, message: { text: 'x' } } })
    const first = await send()
    expect(first.status).toBe(400)
    expect(errorOf(first)).toEqual({ message: '(#613) Calls to this api have exceeded the rate limit.', type: 'OAuthException', code: 613, fbtrace_id: expect.any(String) })
    expect(errorOf(await send())).toMatchObject({ code: 4, message: '(#4) Application request limit reached' })
    expect((await send()).status).toBe(200)
    const server = await call(fb(`/${page.pageId}/subscribed_apps?subscribed_fields=messages`), { method: 'POST', token: page.token })
    expect(server.status).toBe(500)
    expect(errorOf(server)).toMatchObject({ code: 2 })

    fake.failNext('GET', { code: 32, base: 'ig' })
    expect((await call(fb('/me'), { token: page.token })).status).toBe(200) // base fb: not this failure
    expect(errorOf(await call(igUrl('/me'), { token: ig.token }))).toMatchObject({ code: 32, message: '(#32) Page request limit reached' })
    fake.failNext('/messages', { code: 10, subcode: 2018278, message: 'custom' })
    expect(errorOf(await send())).toMatchObject({ code: 10, error_subcode: 2018278, message: 'custom' })
    expect(fake.callsOf('POST /me/messages').filter((c) => c.body.recipient && (c.body.recipient as Json).id === 'PSID-RL').map((c) => c.status)).toEqual([400, 400, 200, 400])
  })

  it('unknown, revoked and expired tokens answer 190; tokens do not cross hosts; foreign ids answer 100/33', async () => {
    const bad = await call(fb('/me'), { token: 'nope' })
    expect(bad.status).toBe(400)
    expect(errorOf(bad)).toMatchObject({ code: 190, type: 'OAuthException', message: 'Invalid OAuth access token - Cannot parse access token' })
    expect(bad.headers.get('www-authenticate')).toContain('invalid_token')
    expect(errorOf(await call(igUrl('/me'), { token: page.token }))).toMatchObject({ code: 190 })
    expect(errorOf(await call(fb('/me')))).toMatchObject({ code: 104 })
    expect(errorOf(await call(fb('/104999999999999?fields=id'), { token: page.token }))).toMatchObject({ code: 100, error_subcode: 33 })

    fake.addPage({ pageId: '104000000000002', name: 'Old Page', token: 'EAAPAGE-old' })
    fake.revoke('EAAPAGE-old')
    expect(errorOf(await call(fb('/me/messages'), { token: 'EAAPAGE-old', json: { recipient: { id: 'P' }, message: { text: 'x' } } }))).toMatchObject({ code: 190, error_subcode: 460 })
    fake.addInstagram({ accountId: '17841400000000009', username: 'short.lived', token: 'IGAA-short', expiresIn: 3600 })
    expect((await call(igUrl('/me'), { token: 'IGAA-short' })).status).toBe(200)
    fake.expire('IGAA-short')
    expect(errorOf(await call(igUrl('/me'), { token: 'IGAA-short' }))).toMatchObject({ code: 190, error_subcode: 463, message: expect.stringContaining('Session has expired') })
  })

  it('Connect with Facebook: code -> user token -> me/accounts with page tokens', async () => {
    fake.addFacebookOAuthCode('FB-CODE', { userToken: 'EAAUSER-1', pages: [{ pageId: '104000000000003', name: 'Beta Shop', token: 'EAAPAGE-beta', tasks: ['MESSAGING', 'MANAGE'] }], redirectUri: 'https://switchboard.test/meta/callback' })
    const q = (code: string, secret = 'fb-secret') => fb(`/oauth/access_token?client_id=555000111&client_secret=${secret}&redirect_uri=${encodeURIComponent('https://switchboard.test/meta/callback')}&code=${code}`)
    expect(errorOf(await call(q('FB-CODE', 'wrong')))).toMatchObject({ code: 1, message: 'Error validating client secret.' })
    const grant = await call(q('FB-CODE'))
    expect(grant.body).toEqual({ access_token: 'EAAUSER-1', token_type: 'bearer', expires_in: expect.any(Number) })
    expect(errorOf(await call(q('FB-CODE')))).toMatchObject({ code: 100, error_subcode: 36009, message: 'This authorization code has been used.' })
    expect(errorOf(await call(q('OTHER')))).toMatchObject({ code: 100, error_subcode: 36007 })

    const accounts = await call(fb('/me/accounts'), { token: 'EAAUSER-1' })
    expect(accounts.body).toMatchObject({ data: [{ id: '104000000000003', name: 'Beta Shop', access_token: 'EAAPAGE-beta', tasks: ['MESSAGING', 'MANAGE'] }], paging: { cursors: {} } })
    expect((await call(fb('/104000000000003?fields=id,name'), { token: 'EAAPAGE-beta' })).body).toEqual({ id: '104000000000003', name: 'Beta Shop' })
    expect(errorOf(await call(fb('/104000000000003/messages'), { token: 'EAAUSER-1', json: { recipient: { id: 'P' }, message: { text: 'x' } } }))).toMatchObject({ code: 200 })
  })

  it('Connect with Instagram: code (form) -> short token -> long-lived token -> refresh', async () => {
    fake.addInstagramOAuthCode('IG-CODE', { accountId: '17841400000000005', username: 'gamma.studio', shortToken: 'IGAA-short-g', redirectUri: 'https://switchboard.test/ig/callback' })
    const exchange = (code: string) => call(`${fake.instagramApiUrl}/oauth/access_token`, { form: { client_id: '777000222', client_secret: 'ig-secret', grant_type: 'authorization_code', redirect_uri: 'https://switchboard.test/ig/callback', code } })
    const short = await exchange('IG-CODE')
    expect(short.body).toEqual({ data: [{ access_token: 'IGAA-short-g', user_id: '17841400000000005', permissions: 'instagram_business_basic,instagram_business_manage_messages' }] })
    expect(fake.calls.at(-1)).toMatchObject({ base: 'ig-api', path: '/oauth/access_token', method: 'POST' })
    const again = await exchange('IG-CODE')
    expect(again).toMatchObject({ status: 400, body: { error_type: 'OAuthException', code: 400, error_message: 'This authorization code has been used' } })

    const long = await call(`${fake.instagramUrl}/access_token?grant_type=ig_exchange_token&client_secret=ig-secret&access_token=IGAA-short-g`)
    expect(long.body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 5184000 })
    const longToken = String(long.body.access_token)
    expect((await call(igUrl('/me?fields=user_id,username'), { token: longToken })).body).toMatchObject({ user_id: '17841400000000005', username: 'gamma.studio' })
    expect(errorOf(await call(`${fake.instagramUrl}/access_token?grant_type=ig_exchange_token&client_secret=nope&access_token=IGAA-short-g`))).toMatchObject({ code: 101 })

    const refreshed = await call(`${fake.instagramUrl}/refresh_access_token?grant_type=ig_refresh_token&access_token=${longToken}`)
    expect(refreshed.body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 5184000 })
    expect(refreshed.body.access_token).not.toBe(longToken)
    expect((await call(igUrl('/me'), { token: String(refreshed.body.access_token) })).status).toBe(200)
    expect((await call(igUrl('/me'), { token: longToken })).status).toBe(200) // the old one still works until it expires

    fake.addInstagramOAuthCode('IG-FLAT', { accountId: '17841400000000006', username: 'delta', shortToken: 'IGAA-short-d', longToken: 'IGAA-long-d', shape: 'flat' })
    expect((await exchange('IG-FLAT')).body).toEqual({ access_token: 'IGAA-short-d', user_id: 17841400000000006, permissions: ['instagram_business_basic', 'instagram_business_manage_messages'] })
    expect((await call(`${fake.instagramUrl}/access_token?grant_type=ig_exchange_token&client_secret=ig-secret&access_token=IGAA-short-d`)).body.access_token).toBe('IGAA-long-d')
  })

  it('serves attachment bytes on the public CDN path until removed', async () => {
    fake.addFile('v/t1.15752-9/photo.jpg', Buffer.from([0xff, 0xd8, 0xff, 0xe0]), 'image/jpeg')
    const res = await fetch(fake.fileUrl('v/t1.15752-9/photo.jpg'))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/jpeg')
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([0xff, 0xd8, 0xff, 0xe0])
    fake.removeFile('v/t1.15752-9/photo.jpg')
    expect((await fetch(fake.fileUrl('v/t1.15752-9/photo.jpg'))).status).toBe(404)
  })

  it('the fixtures parse, and their attachment URLs map onto the fake CDN', async () => {
    const dir = new URL('../fixtures/meta/', import.meta.url)
    const fixture = (name: string) => JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as { object: string; entry: Json[] }
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const body = fixture(name)
      expect(['page', 'instagram', 'user']).toContain(body.object)
      expect(body.entry.length).toBeGreaterThan(0)
    }
    // our own echo carries the fake's default app id; the Page inbox echo carries the Page Inbox app's
    const echoAppId = (name: string) => ((fixture(name).entry[0]!.messaging as Json[])[0]!.message as Json).app_id
    expect(String(echoAppId('messenger-echo.json'))).toBe('1200000000000001')
    expect(echoAppId('messenger-echo-page-inbox.json')).toBe(263902037430900)

    const attachments = ((fixture('messenger-attachment.json').entry[0]!.messaging as Json[])[0]!.message as { attachments: { payload: { url: string } }[] }).attachments
    for (const [i, attachment] of attachments.entries()) {
      const original = new URL(attachment.payload.url)
      fake.addFile(original.pathname.slice(1), Buffer.from(`file ${i}`), 'application/octet-stream')
      const rewritten = attachment.payload.url.replace(`${original.origin}/`, `${fake.origin}/cdn/`)
      const res = await fetch(rewritten)
      expect(await res.text()).toBe(`file ${i}`)
    }
  })
})
