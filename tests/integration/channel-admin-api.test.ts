import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeTelegram, type FakeTelegram } from '../support/fake-telegram.ts'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

const BOT = { token: '7000000081:AAH-channels-api-token-for-tests-ab', id: 7000000081, username: 'acme_channels_bot', first_name: 'Acme' }

describe('the admin API for every channel: /api/v1/agents/{id}/channels/{kind}, /api/v1/channels', () => {
  let tg: FakeTelegram
  let t: TestApp
  let acme: TestOrg
  let other: TestOrg

  beforeAll(async () => {
    tg = await startFakeTelegram()
    tg.addBot(BOT)
    t = await startTestApp({ env: { TELEGRAM_API_ROOT: tg.url, PUBLIC_URL: 'https://switchboard.example.com', PLANS_JSON: JSON.stringify({ trial: { limits: { channels: 3 } } }) } })
    acme = await createOrg(t, { name: 'Acme channels' })
    other = await createOrg(t, { name: 'Other channels' })
  })
  afterAll(async () => {
    await t?.close()
    await tg?.close()
  })

  it('connects a Telegram bot with the body its module checks; the answer and the list never carry the token or secret', async () => {
    const bad = await api(t, `/api/v1/agents/${acme.agentId}/channels/telegram`, { token: acme.token, body: { token: BOT.token, extra: 1 } })
    expect(bad.status).toBe(422)
    const res = await api(t, `/api/v1/agents/${acme.agentId}/channels/telegram`, { token: acme.token, body: { token: BOT.token } })
    expect(res.status).toBe(201)
    expect(res.json.inbox).toMatchObject({ kind: 'telegram', agentId: acme.agentId, name: `@${BOT.username}`, purpose: 'customers', mode: 'webhook', details: { botUsername: BOT.username, operatorsChatSet: false } })
    expect(res.json.inbox.webhookUrl).toBe(`https://switchboard.example.com/webhooks/telegram/${res.json.inbox.inboxId}`)
    const secret = tg.callsOf('setWebhook').at(-1)!.payload.secret_token as string
    const list = await api(t, '/api/v1/channels', { token: acme.token })
    expect(list.json.channels.map((c: { kind: string }) => c.kind).sort()).toEqual(['telegram', 'webchat'])
    expect(list.json.kinds.map((k: { kind: string }) => k.kind)).toEqual(['webchat', 'telegram', 'slack', 'messenger', 'instagram', 'kommo'])
    for (const text of [res.text, list.text]) {
      expect(text).not.toContain(BOT.token)
      expect(text).not.toContain(secret)
    }
    const audit = await t.app.db.prisma.auditEvent.findMany({ where: { organizationId: acme.organizationId, action: 'channel.telegram_connected' } })
    expect(audit).toHaveLength(1)
  })

  it('connects another web chat to an agent, with its page', async () => {
    const res = await api(t, `/api/v1/agents/${acme.agentId}/channels/webchat`, { token: acme.token, body: { name: 'Shop footer chat' } })
    expect(res.status).toBe(201)
    expect(res.json.inbox).toMatchObject({ kind: 'webchat', name: 'Shop footer chat', mode: 'http', webhookUrl: null })
    const page = await fetch(`${t.url}${res.json.inbox.details.chatPath}`)
    expect(page.status).toBe(200)
  })

  it('refuses an unknown kind and another organization’s agent with 404, members with 403, and a fourth channel over the plan', async () => {
    expect((await api(t, `/api/v1/agents/${acme.agentId}/channels/carrier-pigeon`, { token: acme.token, body: {} })).status).toBe(404)
    expect((await api(t, `/api/v1/agents/${other.agentId}/channels/webchat`, { token: acme.token, body: {} })).status).toBe(404)
    const over = await api(t, `/api/v1/agents/${acme.agentId}/channels/webchat`, { token: acme.token, body: {} })
    expect(over.status).toBeGreaterThanOrEqual(402)
    expect(over.status).toBeLessThan(500)
    expect(over.json.error.code).toBe('plan_limit')
  })

  it('keeps tenants apart: another organization neither sees nor disconnects the channels', async () => {
    const mine = (await api(t, '/api/v1/channels', { token: acme.token })).json.channels as { inboxId: string; kind: string }[]
    const theirs = (await api(t, '/api/v1/channels', { token: other.token })).json.channels as { inboxId: string }[]
    expect(theirs.map((c) => c.inboxId)).not.toEqual(expect.arrayContaining(mine.map((c) => c.inboxId)))
    const bot = mine.find((c) => c.kind === 'telegram')!
    expect((await api(t, `/api/v1/channels/${bot.inboxId}`, { method: 'DELETE', token: other.token })).status).toBe(404)
    expect(await t.app.store.inboxes.get(bot.inboxId)).not.toBeNull()
  })

  it('disconnects any kind through one route; an agent’s test chat cannot be', async () => {
    const bot = ((await api(t, '/api/v1/channels', { token: acme.token })).json.channels as { inboxId: string; kind: string }[]).find((c) => c.kind === 'telegram')!
    const res = await api(t, `/api/v1/channels/${bot.inboxId}`, { method: 'DELETE', token: acme.token })
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ inboxId: bot.inboxId, kind: 'telegram', name: `@${BOT.username}`, warning: null })
    expect(tg.callsOf('deleteWebhook')).toHaveLength(1)
    expect(await t.app.store.inboxes.get(bot.inboxId)).toBeNull()

    await api(t, `/api/v1/agents/${acme.agentId}/test-chat`, { token: acme.token, body: { sessionId: 'contract-test-1', text: 'hello' } })
    const testChat = (await t.app.store.inboxes.listByAgent(acme.organizationId, acme.agentId)).find((i) => i.purpose === 'test')!
    expect((await api(t, `/api/v1/channels/${testChat.id}`, { method: 'DELETE', token: acme.token })).status).toBe(409)
  })

  it('a link code says how to send it: the command link, and how each channel that needs it types that', async () => {
    const res = await api(t, '/api/v1/channel-admins/link-codes', { token: acme.token, body: {} })
    expect(res.status).toBe(201)
    const code = res.json.code as string
    expect(res.json.instructions).toBe(`Send "link ${code}" to your bot in a private chat within 15 minutes. In Telegram: /link ${code} (or /start ${code}). In Slack: /switchboard link ${code}.`)
  })

  it('the web chat takes no webhooks: its messages come only through its API, under its limits', async () => {
    const inbox = (await t.app.store.inboxes.findByPublicKey(acme.webchatKey))!
    const before = await t.app.db.prisma.message.count({ where: { inboxId: inbox.id } })
    const res = await api(t, `/webhooks/webchat/${inbox.id}`, { body: { sessionId: 'sneaky-session', text: 'free answers?' } })
    expect(res.status).toBe(401)
    expect(await t.app.db.prisma.message.count({ where: { inboxId: inbox.id } })).toBe(before)
  })
})
