import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, waitFor, TELEGRAM_DOC, BILLING_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeTelegram, updates, type FakeTelegram } from '../support/fake-telegram.ts'

const BOT = { token: '7000000001:AAH-fake-token-for-tests-only-abcdefg', id: 7000000001, username: 'acme_help_bot', first_name: 'Acme Help' }

describe('Telegram channel: webhook, replies and limits against a fake Bot API', () => {
  let tg: FakeTelegram
  let t: TestApp
  let org: TestOrg
  let inboxId: string
  let secret: string

  const deliver = (update: unknown, headers: Record<string, string> = { 'x-telegram-bot-api-secret-token': secret }) => api(t, `/webhooks/telegram/${inboxId}`, { body: update, headers })
  const sent = (chatId: number) => tg.sentTo(chatId).map((c) => c.payload)
  const waitForSent = (chatId: number, count: number) => waitFor(async () => tg.sentTo(chatId).length >= count)
  const conversations = () => t.app.store.conversations.list(org.organizationId, { limit: 200 })

  beforeAll(async () => {
    tg = await startFakeTelegram()
    tg.addBot(BOT)
    t = await startTestApp({ env: { TELEGRAM_API_ROOT: tg.url, PUBLIC_URL: 'https://switchboard.example.com' } })
    org = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC, BILLING_DOC] })
    const res = await api(t, `/api/v1/agents/${org.agentId}/telegram`, { token: org.token, body: { token: BOT.token } })
    expect(res.status).toBe(201)
    inboxId = res.json.bot.inboxId
    secret = tg.callsOf('setWebhook').at(-1)!.payload.secret_token as string
  })
  afterAll(async () => {
    await t?.close()
    await tg?.close()
  })

  it('connecting checks the token with getMe, sets the webhook with a secret and the command menu, and never returns the token', async () => {
    const setWebhook = tg.callsOf('setWebhook').at(-1)!
    expect(setWebhook.payload.url).toBe(`https://switchboard.example.com/webhooks/telegram/${inboxId}`)
    expect(secret).toMatch(/^[\w-]{32,256}$/)
    expect(tg.callsOf('getMe')).toHaveLength(1)
    expect((tg.callsOf('setMyCommands').at(-1)!.payload.commands as { command: string }[]).map((c) => c.command)).toEqual(expect.arrayContaining(['start', 'help']))
    const list = await api(t, '/api/v1/telegram/bots', { token: org.token })
    expect(list.json.bots).toEqual([{ inboxId, agentId: org.agentId, botId: BOT.id, botUsername: BOT.username, mode: 'webhook', webhookUrl: `https://switchboard.example.com/webhooks/telegram/${inboxId}` }])
    expect(list.text).not.toContain(BOT.token)
    const sealed = await t.app.store.inboxes.credentials(inboxId)
    expect(sealed).toMatch(/^v1\./)
    expect(sealed).not.toContain(BOT.token)
    expect(JSON.parse(t.app.secrets.open(sealed!))).toEqual({ token: BOT.token, webhookSecret: secret })
    const audit = await t.app.db.prisma.auditEvent.findMany({ where: { organizationId: org.organizationId, action: 'channel.telegram_connected' } })
    expect(audit).toHaveLength(1)
  })

  it('refuses a token Telegram does not accept, and one that is not a token at all', async () => {
    const rejected = await api(t, `/api/v1/agents/${org.agentId}/telegram`, { token: org.token, body: { token: '7000000002:AAH-unknown-token-abcdefghijklmnop' } })
    expect(rejected.status).toBe(422)
    expect(rejected.json.error.code).toBe('telegram_token_invalid')
    expect(rejected.text).not.toContain('AAH-unknown-token')
    const malformed = await api(t, `/api/v1/agents/${org.agentId}/telegram`, { token: org.token, body: { token: 'not a token' } })
    expect(malformed.status).toBe(422)
  })

  it('answers a private message in HTML with its sources, a "Talk to a person" button and a typing indicator', async () => {
    const res = await deliver(updates.text({ chatId: 111, text: 'How do I connect a Telegram bot?' }))
    expect(res.status).toBe(200)
    await waitForSent(111, 1)
    const [reply] = sent(111)
    expect(reply!.parse_mode).toBe('HTML')
    expect(reply!.text).toContain('@BotFather')
    expect(reply!.text).toContain('<i>Sources:</i>\n• Channels › Connecting a Telegram bot')
    expect(reply!.reply_markup).toEqual({ inline_keyboard: [[{ text: 'Talk to a person', callback_data: 'handoff' }]] })
    expect(tg.callsOf('sendChatAction').some((c) => String(c.payload.chat_id) === '111' && c.payload.action === 'typing')).toBe(true)
  })

  it('a wrong or missing secret header gets 401 and nothing is stored', async () => {
    const before = (await conversations()).length
    const wrong = await deliver(updates.text({ chatId: 222, text: 'How do I connect a Telegram bot?' }), { 'x-telegram-bot-api-secret-token': `${secret.slice(0, -1)}x` })
    const missing = await deliver(updates.text({ chatId: 222, text: 'How do I connect a Telegram bot?' }), {})
    const otherInbox = await api(t, `/webhooks/telegram/${'0'.repeat(36)}`, { body: updates.text({ chatId: 222, text: 'hi' }), headers: { 'x-telegram-bot-api-secret-token': secret } })
    expect([wrong.status, missing.status, otherInbox.status]).toEqual([401, 401, 401])
    expect(await conversations()).toHaveLength(before)
    expect(sent(222)).toEqual([])
  })

  it('a redelivered update (same update_id and message) is answered once', async () => {
    const update = updates.text({ chatId: 333, text: 'What does the Pro plan include?' })
    const results = await Promise.all([deliver(update), deliver(update)])
    await deliver(update)
    expect(results.map((r) => r.status)).toEqual([200, 200])
    await waitForSent(333, 1)
    await new Promise((r) => setTimeout(r, 300))
    expect(sent(333)).toHaveLength(1)
    expect(sent(333)[0]!.text).toContain('15,000')
  })

  it('an edited message does not trigger a second answer', async () => {
    const original = updates.text({ chatId: 444, text: 'What does the Pro plan include?' })
    await deliver(original)
    await waitForSent(444, 1)
    expect((await deliver(updates.edited(original, 'What does the Basic plan include?'))).status).toBe(200)
    await new Promise((r) => setTimeout(r, 300))
    expect(sent(444)).toHaveLength(1)
  })

  it('in groups it answers only when mentioned or replied to', async () => {
    const group = -100555
    await deliver(updates.text({ chatId: group, userId: 55, chatType: 'supergroup', text: 'How do I connect a Telegram bot?' }))
    await deliver(updates.text({ chatId: group, userId: 55, chatType: 'supergroup', text: `@${BOT.username} How do I connect a Telegram bot?`, entities: [{ offset: 0, length: BOT.username.length + 1, type: 'mention' }] }))
    await waitForSent(group, 1)
    expect(sent(group)[0]!.text).toContain('@BotFather')
    const botMessageId = 1
    await deliver(updates.text({ chatId: group, userId: 56, chatType: 'supergroup', text: 'And what does the Pro plan include?', replyTo: { message_id: botMessageId, from: { id: BOT.id, is_bot: true, first_name: BOT.first_name, username: BOT.username }, chat: { id: group, type: 'supergroup', title: 'Team' }, date: 1, text: 'x' } }))
    await waitForSent(group, 2)
    expect(sent(group)[1]!.text).toContain('15,000')
    await new Promise((r) => setTimeout(r, 200))
    expect(sent(group)).toHaveLength(2)
    const stored = await t.app.store.conversations.findByThread(inboxId, String(group))
    const history = await t.app.store.messages.history(org.organizationId, stored!.id, { limit: 20 })
    expect(history.filter((m) => m.direction === 'in').map((m) => m.text)).toEqual(['How do I connect a Telegram bot?', 'And what does the Pro plan include?'])
  })

  it('a voice message gets a polite request for text; a photo with a caption is answered and kept as an attachment', async () => {
    await deliver(updates.voice({ chatId: 666 }))
    await waitForSent(666, 1)
    expect(sent(666)[0]!.text).toMatch(/cannot listen to voice messages.*type your question/i)

    await deliver(updates.photo({ chatId: 667, fileId: 'photo-big', caption: 'How do I connect a Telegram bot?' }))
    await waitForSent(667, 1)
    expect(sent(667)[0]!.text).toContain('@BotFather')
    const conversation = await t.app.store.conversations.findByThread(inboxId, '667')
    const [inbound] = await t.app.store.messages.history(org.organizationId, conversation!.id, { limit: 5 })
    expect(inbound!.attachments).toEqual([{ kind: 'image', ref: 'photo-big', mimeType: 'image/jpeg', size: 48_000 }])

    await deliver(updates.document({ chatId: 668, fileId: 'doc-1', fileName: 'invoice.pdf', mimeType: 'application/pdf', size: 2048 }))
    await waitForSent(668, 1)
    expect(sent(668)[0]!.text).toMatch(/received your file/i)
  })

  it('the "Talk to a person" button hands the conversation over and the bot falls silent', async () => {
    await deliver(updates.text({ chatId: 777, text: 'How do I connect a Telegram bot?' }))
    await waitForSent(777, 1)
    const press = updates.callback({ chatId: 777, data: 'handoff', messageId: 1, botId: BOT.id, botUsername: BOT.username })
    await deliver(press)
    await waitForSent(777, 2)
    expect(sent(777)[1]!.text).toMatch(/asked a person from our team/)
    await waitFor(async () => tg.callsOf('answerCallbackQuery').some((c) => c.payload.callback_query_id === press.callback_query.id))
    const conversation = await t.app.store.conversations.findByThread(inboxId, '777')
    expect(conversation!.state).toBe('handoff')
    await deliver(updates.text({ chatId: 777, text: 'Hello? Anyone?' }))
    await new Promise((r) => setTimeout(r, 300))
    expect(sent(777)).toHaveLength(2)
  })

  it('on 429 it waits retry_after and sends once', async () => {
    tg.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } })
    await deliver(updates.text({ chatId: 888, text: 'What does the Pro plan include?' }))
    await waitForSent(888, 2)
    const [refused, accepted] = tg.sentTo(888)
    expect(accepted!.at - refused!.at).toBeGreaterThanOrEqual(950)
    await new Promise((r) => setTimeout(r, 200))
    expect(tg.sentTo(888)).toHaveLength(2)
    const conversation = await t.app.store.conversations.findByThread(inboxId, '888')
    const history = await t.app.store.messages.history(org.organizationId, conversation!.id, { limit: 5 })
    expect(history.map((m) => [m.direction, m.status])).toEqual([['in', 'done'], ['out', 'sent']])
  })

  it('never writes the bot token or the webhook secret into the logs', () => {
    expect(t.logs.lines.length).toBeGreaterThan(10)
    expect(t.logs.text()).not.toContain(BOT.token)
    expect(t.logs.text()).not.toContain(secret)
  })
})
