import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, waitFor, TELEGRAM_DOC, BILLING_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeMeta, type FakeMeta } from '../support/fake-meta.ts'
import { metaFixture, metaSender, metaSignature, metaText } from '../support/meta.ts'

const PAGE = { pageId: '104000000000001', name: 'Acme Support', token: 'EAAGtestpagetoken0000000000000000000001' }
const APP_SECRET = '0123456789abcdef0123456789abcdef'
const ADA = '7000000000000001'
const IG = { accountId: '17841400000000001', username: 'acme.support', token: 'IGAAtestinstagramtoken000000000000000001' }
const IG_ADA = '1330000000000001'
const PUBLIC_URL = 'https://switchboard.example.com'

describe('Messenger and Instagram against a fake Graph API', () => {
  let meta: FakeMeta
  let t: TestApp
  let org: TestOrg
  let messengerId: string
  let instagramId: string
  let verifyToken: string
  const slept: number[] = []

  const toMessenger = () => metaSender(t, { path: `/webhooks/messenger/${messengerId}`, appSecret: () => APP_SECRET })
  const toInstagram = () => metaSender(t, { path: `/webhooks/instagram/${instagramId}`, appSecret: () => APP_SECRET })
  const delivered = (recipient: string) => meta.deliveredTo(recipient).map((c) => c.body as { messaging_type?: string; tag?: string; message: { text: string; quick_replies?: { title: string; payload: string }[]; metadata?: string } })
  const conversationOf = async (inboxId: string, thread: string) => (await t.app.store.conversations.findByThread(inboxId, thread))!

  beforeAll(async () => {
    meta = await startFakeMeta()
    meta.addPage(PAGE)
    meta.addInstagram({ accountId: IG.accountId, username: IG.username, token: IG.token, expiresIn: 60 * 24 * 3600 })
    t = await startTestApp({
      env: { META_GRAPH_URL: meta.url, INSTAGRAM_GRAPH_URL: meta.instagramUrl, PUBLIC_URL, PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 2, chunks: 500, channels: 5 } } }) },
      overrides: { sleep: async (ms) => void slept.push(ms) },
    })
    org = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC, BILLING_DOC] })
    const m = await api(t, `/api/v1/agents/${org.agentId}/channels/messenger`, { token: org.token, body: { pageId: PAGE.pageId, pageAccessToken: PAGE.token, appSecret: APP_SECRET } })
    expect(m.status).toBe(201)
    messengerId = m.json.inbox.inboxId
    verifyToken = m.json.inbox.details.verifyToken
    const i = await api(t, `/api/v1/agents/${org.agentId}/channels/instagram`, { token: org.token, body: { accountId: IG.accountId, accessToken: IG.token, appSecret: APP_SECRET } })
    expect(i.status).toBe(201)
    instagramId = i.json.inbox.inboxId
  })
  afterAll(async () => {
    await t?.close()
    await meta?.close()
  })

  it('connecting checks the Page token, subscribes the app to the Page’s messaging fields, seals the secrets, and gives the webhook URL and verify token', async () => {
    expect(meta.callsOf(`/${PAGE.pageId}`).some((c) => c.method === 'GET' && c.status === 200)).toBe(true)
    expect(meta.subscribedFields(PAGE.pageId)).toEqual(expect.arrayContaining(['messages', 'messaging_postbacks', 'message_echoes']))
    const list = await api(t, '/api/v1/channels', { token: org.token })
    const row = list.json.channels.find((c: { inboxId: string }) => c.inboxId === messengerId)
    expect(row).toMatchObject({ kind: 'messenger', name: 'Acme Support', webhookUrl: `${PUBLIC_URL}/webhooks/messenger/${messengerId}`, details: { accountId: PAGE.pageId, appId: '1200000000000001', broken: null } })
    expect(verifyToken).toMatch(/^[\w-]{16,}$/)
    for (const secret of [PAGE.token, APP_SECRET, IG.token]) {
      expect(list.text).not.toContain(secret)
      expect(t.logs.text()).not.toContain(secret)
    }
    expect(await t.app.store.inboxes.credentials(messengerId)).not.toContain(PAGE.token)
    // A token for another Page, a malformed app secret: refused with the reason.
    expect((await api(t, `/api/v1/agents/${org.agentId}/channels/messenger`, { token: org.token, body: { pageId: '104000000000009', pageAccessToken: PAGE.token, appSecret: APP_SECRET } })).status).toBe(422)
    const badSecret = await api(t, `/api/v1/agents/${org.agentId}/channels/messenger`, { token: org.token, body: { pageId: PAGE.pageId, pageAccessToken: PAGE.token, appSecret: 'not-a-secret' } })
    expect(badSecret.json.error.message).toMatch(/app secret/)
  })

  it('answers Meta’s subscription check with the challenge only for the inbox’s verify token', async () => {
    const good = await api(t, `/webhooks/messenger/${messengerId}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(verifyToken)}&hub.challenge=1158201444`)
    expect(good).toMatchObject({ status: 200, text: '1158201444' })
    expect((await api(t, `/webhooks/messenger/${messengerId}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1`)).status).toBe(403)
  })

  it('answers a customer in the 24-hour window, marks the message seen and shows typing, once however often Meta redelivers', async () => {
    const body = metaFixture('messenger-text.json')
    expect((await toMessenger()(body)).status).toBe(200)
    expect((await toMessenger()(body)).status).toBe(200)
    await waitFor(async () => delivered(ADA).length >= 1)
    await new Promise((r) => setTimeout(r, 300))
    expect(delivered(ADA)).toHaveLength(1)
    expect(delivered(ADA)[0]).toMatchObject({ messaging_type: 'RESPONSE', message: { metadata: 'switchboard:reply' } })
    expect(delivered(ADA)[0]!.message.quick_replies?.some((q) => q.payload === 'handoff')).toBe(true)
    const actions = meta.actionsTo(ADA).map((c) => c.body.sender_action)
    expect(actions).toContain('mark_seen')
    expect(actions).toContain('typing_on')
  })

  it('handles every entry and item of a batch, and only this Page’s', async () => {
    const before = meta.calls.length
    expect((await toMessenger()(metaFixture('messenger-batch.json'))).status).toBe(200)
    const batch = metaFixture('messenger-batch.json')
    const ours = (batch.entry as { id: string; messaging: { sender: { id: string } }[] }[]).filter((e) => e.id === PAGE.pageId).flatMap((e) => e.messaging.map((m) => m.sender.id))
    const theirs = (batch.entry as { id: string; messaging: { sender: { id: string } }[] }[]).filter((e) => e.id !== PAGE.pageId).flatMap((e) => e.messaging.map((m) => m.sender.id))
    expect(ours.length).toBeGreaterThanOrEqual(2)
    await waitFor(async () => ours.every((psid) => delivered(psid).length >= 1))
    for (const psid of theirs) expect(meta.calls.slice(before).some((c) => (c.body as { recipient?: { id?: string } }).recipient?.id === psid)).toBe(false)
  })

  it('refuses a wrong signature (401) and a body that is not Meta’s (400), acknowledges other objects and receipts and stores nothing', async () => {
    const before = (await t.app.store.conversations.list(org.organizationId, { limit: 500 })).length
    const body = metaText({ object: 'page', accountId: PAGE.pageId, customer: '7000000000000099', text: 'hello?' })
    expect((await toMessenger()(body, { signature: 'sha256=00' })).status).toBe(401)
    // The body changed after signing, another algorithm, no header at all.
    expect((await toMessenger()(body, { signature: metaSignature(APP_SECRET, JSON.stringify(body)), raw: JSON.stringify(body).replace('hello', 'hallo') })).status).toBe(401)
    expect((await toMessenger()(body, { signature: 'md5=1' })).status).toBe(401)
    expect((await api(t, `/webhooks/messenger/${messengerId}`, { body })).status).toBe(401)
    expect((await toMessenger()({ hello: 'world' })).status).toBe(400)
    expect((await toMessenger()(null, { raw: '{"object":' })).status).toBe(400)
    expect((await toMessenger()(metaFixture('unknown-object.json'))).status).toBe(200)
    expect((await toMessenger()(metaFixture('messenger-read.json'))).status).toBe(200)
    expect((await toMessenger()(metaFixture('messenger-delivery.json'))).status).toBe(200)
    await new Promise((r) => setTimeout(r, 200))
    expect((await t.app.store.conversations.list(org.organizationId, { limit: 500 })).length).toBeLessThanOrEqual(before + 1)
    expect(await t.app.store.conversations.findByThread(messengerId, '7000000000000099')).toBeNull()
  })

  it('a quick reply and a postback arrive as the choice: "Talk to a person" hands the conversation over', async () => {
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer: '7000000000000010', text: 'Talk to a person', quickReply: 'handoff' }))
    await waitFor(async () => (await t.app.store.conversations.findByThread(messengerId, '7000000000000010'))?.state === 'handoff')
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer: '7000000000000011', postback: { title: 'Talk to a person', payload: 'handoff' } }))
    await waitFor(async () => (await t.app.store.conversations.findByThread(messengerId, '7000000000000011'))?.state === 'handoff')
  })

  it('the Page’s echo of Switchboard’s own reply is skipped; a person answering from Meta’s inbox pauses the bot', async () => {
    const conversation = await conversationOf(messengerId, ADA)
    expect((await toMessenger()(metaFixture('messenger-echo.json'))).status).toBe(200)
    await new Promise((r) => setTimeout(r, 200))
    expect((await t.app.store.conversations.get(org.organizationId, conversation.id))!.state).toBe('bot')
    expect((await toMessenger()(metaFixture('messenger-echo-page-inbox.json'))).status).toBe(200)
    await waitFor(async () => (await t.app.store.conversations.get(org.organizationId, conversation.id))!.state === 'handoff')
    const history = await t.app.store.messages.history(org.organizationId, conversation.id, { limit: 20 })
    const echo = metaFixture('messenger-echo-page-inbox.json').entry[0].messaging[0].message
    expect(history.at(-1)).toMatchObject({ author: 'operator', text: echo.text, status: 'sent' })
    expect((await t.app.store.handoffs.current(org.organizationId, conversation.id))).toMatchObject({ status: 'taken', operatorUserId: null, reason: 'answered_elsewhere' })
    // The customer writes again: the bot stays silent.
    const sent = delivered(ADA).length
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer: ADA, text: 'thanks!' }))
    await new Promise((r) => setTimeout(r, 500))
    expect(delivered(ADA)).toHaveLength(sent)
    // The same echo again changes nothing.
    await toMessenger()(metaFixture('messenger-echo-page-inbox.json'))
    expect((await t.app.store.messages.history(org.organizationId, conversation.id, { limit: 50 })).filter((m) => m.author === 'operator')).toHaveLength(1)
    // An operator in Switchboard may take it over from the person outside.
    const take = await api(t, `/api/v1/conversations/${conversation.id}/take`, { method: 'POST', token: org.token, body: {} })
    expect(take.status).toBeLessThan(300)
    expect((await t.app.store.handoffs.current(org.organizationId, conversation.id))!.operatorUserId).not.toBeNull()
  })

  it('outside the window Meta refuses the bot’s reply: kept as not sent with the reason, never retried', async () => {
    const customer = '7000000000000020'
    meta.setOutsideWindow(customer, true)
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer, text: 'How do I pay?' }))
    const conversation = await (async () => {
      await waitFor(async () => Boolean(await t.app.store.conversations.findByThread(messengerId, customer)))
      return conversationOf(messengerId, customer)
    })()
    await waitFor(async () => (await t.app.store.messages.history(org.organizationId, conversation.id, { limit: 10 })).some((m) => m.direction === 'out' && m.status === 'failed'))
    await new Promise((r) => setTimeout(r, 500))
    expect(meta.sendsTo(customer)).toHaveLength(1)
    expect(delivered(customer)).toHaveLength(0)
  })

  it('a rate-limit error (613) waits and sends again, once', async () => {
    const customer = '7000000000000030'
    meta.failNext('/messages', { code: 613 })
    const waits = slept.length
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer, text: 'Do you ship abroad?' }))
    await waitFor(async () => delivered(customer).length >= 1)
    expect(slept.length).toBeGreaterThan(waits)
    expect(delivered(customer)).toHaveLength(1)
  })

  it('Instagram: answers within Instagram’s byte limit through graph.instagram.com, reads story replies and mentions with a note, skips its own echoes', async () => {
    await toInstagram()(metaFixture('instagram-text.json'))
    await waitFor(async () => delivered(IG_ADA).length >= 1)
    const call = meta.deliveredTo(IG_ADA)[0]!
    expect(call.base).toBe('ig')
    expect(call.token).toBe(IG.token)
    for (const m of delivered(IG_ADA)) expect(Buffer.byteLength(m.message.text, 'utf8')).toBeLessThanOrEqual(1000)
    // Its own echo (no app_id on Instagram): known by the message id the Send API returned.
    const mid = (call.response as { message_id: string }).message_id
    const echo = metaFixture('instagram-echo.json', (b) => (b.entry[0].messaging[0].message.mid = mid))
    await toInstagram()(echo)
    await new Promise((r) => setTimeout(r, 200))
    expect((await conversationOf(instagramId, IG_ADA)).state).toBe('bot')
    await toInstagram()(metaFixture('instagram-story-mention.json'))
    await toInstagram()(metaFixture('instagram-story-reply.json'))
    await waitFor(async () => (await t.app.store.messages.history(org.organizationId, (await conversationOf(instagramId, IG_ADA)).id, { limit: 30 })).filter((m) => /story/i.test(m.text) && m.direction === 'in').length >= 2)
  })

  it('Instagram tokens are refreshed before they expire; a refused token marks the inbox broken and shows it', async () => {
    const adapter = t.app.channels.get('instagram').adapter as unknown as { refreshTokens(now?: Date): Promise<Record<string, string>> }
    // Expiring in 60 days: nothing to do yet... once its expiry is known.
    expect((await adapter.refreshTokens())[instagramId]).toBe('refreshed')
    expect((await adapter.refreshTokens())[instagramId]).toBe('fresh')
    const inFiftyFiveDays = new Date(Date.now() + 55 * 24 * 3600_000)
    expect((await adapter.refreshTokens(inFiftyFiveDays))[instagramId]).toBe('refreshed')
    const newest = JSON.parse(t.app.secrets.open((await t.app.store.inboxes.credentials(instagramId))!)).accessToken as string
    expect(newest).not.toBe(IG.token)
    meta.revoke(newest)
    expect((await adapter.refreshTokens(new Date(Date.now() + 110 * 24 * 3600_000)))[instagramId]).toBe('broken')
    const row = (await api(t, '/api/v1/channels', { token: org.token })).json.channels.find((c: { inboxId: string }) => c.inboxId === instagramId)
    expect(row.details.broken.reason).toMatch(/token/i)
    expect(t.logs.text()).not.toContain(newest)
  })
})
