import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, waitFor, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeTelegram, updates, type FakeTelegram } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'

const WEBHOOK_BOT = { token: '7000000031:AAH-disconnect-bot-token-for-tests-ab', id: 7000000031, username: 'acme_leaving_bot', first_name: 'Acme' }
const FAILING_BOT = { token: '7000000032:AAH-disconnect-bot-token-for-tests-cd', id: 7000000032, username: 'acme_unreachable_bot', first_name: 'Acme' }
const POLLED_BOT = { token: '7000000033:AAH-disconnect-bot-token-for-tests-ef', id: 7000000033, username: 'acme_polled_bot', first_name: 'Acme' }

describe('Disconnecting a Telegram bot: DELETE /api/v1/telegram/bots/:inboxId', () => {
  let b: TelegramTestBed
  const bots = async (token: string) => (await api(b.t, '/api/v1/telegram/bots', { token })).json.bots as { inboxId: string; botUsername: string }[]
  const audit = (action: string) => b.t.app.db.prisma.auditEvent.findMany({ where: { organizationId: b.org.organizationId, action } })

  beforeAll(async () => {
    b = await startTelegramTestBed({ name: 'Acme', bot: WEBHOOK_BOT, docs: [TELEGRAM_DOC], env: { PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 2, chunks: 500, channels: 5 } } }) } })
    b.tg.addBot(FAILING_BOT)
  })
  afterAll(async () => {
    await b?.close()
  })

  it('another organization cannot see or disconnect the bot', async () => {
    const other = await createOrg(b.t, { name: 'Other' })
    expect(await bots(other.token)).toEqual([])
    const res = await api(b.t, `/api/v1/telegram/bots/${b.inboxId}`, { method: 'DELETE', token: other.token })
    expect(res.status).toBe(404)
    expect(b.tg.callsOf('deleteWebhook')).toEqual([])
    expect((await bots(b.org.token)).map((x) => x.inboxId)).toEqual([b.inboxId])
  })

  it('deletes the webhook, removes the inbox and its token, records it in the audit log; the webhook route forgets the bot', async () => {
    const res = await api(b.t, `/api/v1/telegram/bots/${b.inboxId}`, { method: 'DELETE', token: b.org.token })
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ inboxId: b.inboxId, botUsername: WEBHOOK_BOT.username, webhookDeleted: true, warning: null })
    const deleted = b.tg.callsOf('deleteWebhook')
    expect(deleted).toHaveLength(1)
    expect(deleted[0]!.token).toBe(WEBHOOK_BOT.token)
    expect(deleted[0]!.payload.drop_pending_updates).toBe(true)

    expect(await bots(b.org.token)).toEqual([])
    const channels = (await api(b.t, '/api/v1/channels', { token: b.org.token })).json.channels as { id: string; channel: string }[]
    expect(channels.map((c) => c.channel)).toEqual(['webchat'])
    expect(await b.t.app.db.prisma.inbox.findUnique({ where: { id: b.inboxId } })).toBeNull()
    const events = await audit('channel.telegram_disconnected')
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ target: b.inboxId, data: { botUsername: WEBHOOK_BOT.username, mode: 'webhook', webhookDeleted: true } })
    expect(JSON.stringify(events[0])).not.toContain(WEBHOOK_BOT.token)

    const late = await b.deliver(updates.text({ chatId: 4242, text: 'still there?' }))
    expect(late.status).toBeGreaterThanOrEqual(400)
    expect(b.tg.sentTo(4242)).toEqual([])
    expect((await api(b.t, `/api/v1/telegram/bots/${b.inboxId}`, { method: 'DELETE', token: b.org.token })).status).toBe(404)
  })

  it('when Telegram refuses deleteWebhook the bot is disconnected anyway, with a warning that never carries the token', async () => {
    const connected = await api(b.t, `/api/v1/agents/${b.org.agentId}/telegram`, { token: b.org.token, body: { token: FAILING_BOT.token } })
    expect(connected.status).toBe(201)
    const inboxId = connected.json.bot.inboxId as string
    b.tg.failNext('deleteWebhook', { error_code: 500, description: `Internal error for ${FAILING_BOT.token}` })
    const res = await api(b.t, `/api/v1/telegram/bots/${inboxId}`, { method: 'DELETE', token: b.org.token })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ inboxId, webhookDeleted: false })
    expect(res.json.warning).toContain('deleteWebhook')
    expect(res.text).not.toContain(FAILING_BOT.token)
    expect(await bots(b.org.token)).toEqual([])
  })
})

describe('Disconnecting a polled Telegram bot', () => {
  let tg: FakeTelegram
  let t: TestApp
  let org: TestOrg

  beforeAll(async () => {
    tg = await startFakeTelegram()
    tg.addBot(POLLED_BOT)
    t = await startTestApp({ env: { TELEGRAM_API_ROOT: tg.url } })
    org = await createOrg(t, { name: 'Devshop', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => {
    await t?.close()
    await tg?.close()
  })

  it('stops polling: no getUpdates after the disconnect, and queued updates stay unanswered', async () => {
    const connected = await api(t, `/api/v1/agents/${org.agentId}/telegram`, { token: org.token, body: { token: POLLED_BOT.token } })
    expect(connected.status).toBe(201)
    expect(connected.json.bot.mode).toBe('polling')
    const inboxId = connected.json.bot.inboxId as string
    await waitFor(async () => tg.callsOf('getUpdates').length > 0)

    const res = await api(t, `/api/v1/telegram/bots/${inboxId}`, { method: 'DELETE', token: org.token })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ inboxId, botUsername: POLLED_BOT.username, webhookDeleted: true })
    const polls = tg.callsOf('getUpdates').length
    tg.queueUpdate(POLLED_BOT.token, updates.text({ chatId: 5151, text: 'anyone?' }))
    await new Promise((resolve) => setTimeout(resolve, 800))
    expect(tg.callsOf('getUpdates').length).toBe(polls)
    expect(tg.sentTo(5151)).toEqual([])
  })
})
