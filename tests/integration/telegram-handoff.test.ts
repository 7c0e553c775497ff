import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, waitFor, TELEGRAM_DOC, BILLING_DOC } from '../support/test-app.ts'
import { updates, type RecordedCall } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'
import { hashPassword } from '../../core/security/passwords.ts'

const BOT = { token: '7000000031:AAH-handoff-bot-token-for-tests-abc', id: 7000000031, username: 'acme_desk_bot', first_name: 'Acme Desk' }
const GROUP = -100900
const ADMIN = 9301
const OPERATOR = 9302
const CUSTOMER = 9400

/** Links a Telegram chat to a new or the owner's account with the given role. */
async function link(b: TelegramTestBed, chatId: number, role: 'owner' | 'operator') {
  let token = b.org.token
  if (role === 'operator') {
    const email = `olga-${chatId}@example.com`
    const user = await b.t.app.store.users.create({ email, name: 'Olga', passwordHash: await hashPassword('operator password 1') })
    await b.t.app.store.users.addMembership({ organizationId: b.org.organizationId, userId: user.id, role: 'operator' })
    token = (await api(b.t, '/api/v1/auth/login', { body: { email, password: 'operator password 1' } })).json.token
  }
  const code = (await api(b.t, '/api/v1/channel-admins/link-codes', { token, body: {} })).json.code
  const before = b.tg.sentTo(chatId).length
  await b.deliver(updates.text({ chatId, text: `/start ${code}` }))
  await b.waitForSent(chatId, before + 1)
  return b.texts(chatId)[before]!
}

const groupText = (input: { userId: number; text: string; firstName?: string; replyTo?: RecordedCall }) =>
  updates.text({
    chatId: GROUP,
    chatType: 'supergroup',
    userId: input.userId,
    firstName: input.firstName,
    text: input.text,
    ...(input.replyTo ? { replyTo: { message_id: (input.replyTo.result as { message_id: number }).message_id, from: { id: BOT.id, is_bot: true, first_name: BOT.first_name, username: BOT.username }, chat: { id: GROUP, type: 'supergroup', title: 'Team' }, date: 1, text: 'x' } } : {}),
  })

describe('handoff to the operators’ Telegram group', () => {
  let b: TelegramTestBed
  beforeAll(async () => {
    b = await startTelegramTestBed({ name: 'Acme', bot: BOT, docs: [TELEGRAM_DOC, BILLING_DOC], env: { HANDOFF_TIMEOUT_MS: '600000' } })
  })
  afterAll(async () => b?.close())

  it('the whole loop: group chosen by an admin, transcript with Take, relay, reply to the customer, release', async () => {
    expect(await link(b, ADMIN, 'owner')).toContain('You are linked as an admin')
    expect(await link(b, OPERATOR, 'operator')).toContain('You are linked as an operator')

    // Only an admin picks the group.
    await b.deliver(groupText({ userId: OPERATOR, text: '/operatorgroup' }))
    await b.waitForSent(GROUP, 1)
    expect(b.texts(GROUP)[0]).toMatch(/Only a linked admin/)
    await b.deliver(groupText({ userId: ADMIN, text: `/operatorgroup@${BOT.username}` }))
    await b.waitForSent(GROUP, 2)
    expect(b.texts(GROUP)[1]).toContain('This group now receives')
    expect((await b.t.app.store.inboxes.get(b.inboxId))!.settings.operatorsChatId).toBe(String(GROUP))

    // The customer asks, then presses "Talk to a person".
    await b.deliver(updates.text({ chatId: CUSTOMER, text: 'How do I connect a Telegram bot?' }))
    await b.waitForSent(CUSTOMER, 1)
    await b.deliver(updates.callback({ chatId: CUSTOMER, data: 'handoff', messageId: 5, botId: BOT.id, botUsername: BOT.username }))
    await b.waitForSent(CUSTOMER, 2)
    expect(b.texts(CUSTOMER)[1]).toMatch(/asked a person from our team/)
    await b.waitForSent(GROUP, 3)
    const announcement = b.tg.sentTo(GROUP)[2]!
    expect(announcement.payload.text).toContain('A customer wants a person')
    expect(announcement.payload.text).toContain('<b>Customer:</b> How do I connect a Telegram bot?')
    expect(announcement.payload.text).toContain('<b>Bot:</b>')
    const [[take]] = (announcement.payload.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] }).inline_keyboard as [[{ text: string; callback_data: string }]]
    expect(take.text).toBe('Take')

    // The customer writes again: the bot stays silent and the operators see it.
    await b.deliver(updates.text({ chatId: CUSTOMER, text: 'Are you there?' }))
    await b.waitForSent(GROUP, 4)
    expect(b.texts(GROUP)[3]).toContain('Are you there?')
    expect(b.tg.sentTo(CUSTOMER)).toHaveLength(2)

    // Someone who is not linked cannot take it; the operator can.
    const messageId = (announcement.result as { message_id: number }).message_id
    const stranger = updates.callback({ chatId: GROUP, userId: 9999, data: take.callback_data, messageId, botId: BOT.id, botUsername: BOT.username })
    await b.deliver(stranger)
    await waitFor(async () => b.tg.callsOf('answerCallbackQuery').some((c) => c.payload.callback_query_id === stranger.callback_query.id && c.payload.show_alert === true))
    const conversation = (await b.t.app.store.conversations.findByThread(b.inboxId, String(CUSTOMER)))!
    expect((await b.t.app.store.handoffs.current(b.org.organizationId, conversation.id))!.status).toBe('open')

    await b.deliver(updates.callback({ chatId: GROUP, userId: OPERATOR, firstName: 'Olga', data: take.callback_data, messageId, botId: BOT.id, botUsername: BOT.username }))
    await b.waitForSent(GROUP, 5)
    expect(b.texts(GROUP)[4]).toMatch(/^Olga took conversation/)
    expect((await b.t.app.store.handoffs.current(b.org.organizationId, conversation.id))!.status).toBe('taken')
    expect(b.tg.callsOf('editMessageReplyMarkup').at(-1)!.payload.reply_markup).toEqual({ inline_keyboard: [[{ text: 'Back to bot', callback_data: `op:release:${conversation.id}` }]] })

    // The operator's reply to the bot's message reaches the customer as the business.
    await b.deliver(groupText({ userId: OPERATOR, text: 'Hi, this is Olga from Acme. Let me help.', replyTo: announcement }))
    await b.waitForSent(CUSTOMER, 3)
    expect(b.texts(CUSTOMER)[2]).toBe('Hi, this is Olga from Acme. Let me help.')
    const history = await b.t.app.store.messages.history(b.org.organizationId, conversation.id, { limit: 20 })
    expect(history.at(-1)).toMatchObject({ author: 'operator', status: 'sent', text: 'Hi, this is Olga from Acme. Let me help.' })
    // Plain chatter in the group is not for the agent, and not for the customer.
    await b.deliver(groupText({ userId: OPERATOR, text: 'brb, coffee' }))
    await new Promise((r) => setTimeout(r, 300))
    expect(b.tg.sentTo(CUSTOMER)).toHaveLength(3)

    // /release hands it back: the agent answers again.
    await b.deliver(groupText({ userId: OPERATOR, text: '/release', replyTo: announcement }))
    await waitFor(async () => (await b.t.app.store.conversations.get(b.org.organizationId, conversation.id))!.state === 'bot')
    await b.waitForSent(CUSTOMER, 4)
    expect(b.texts(CUSTOMER)[3]).toMatch(/handed the conversation back to me/)
    await b.deliver(updates.text({ chatId: CUSTOMER, text: 'What does the Pro plan include?' }))
    await b.waitForSent(CUSTOMER, 5)
    expect(b.texts(CUSTOMER)[4]).toContain('15,000')
    const actions = (await b.t.app.db.prisma.auditEvent.findMany({ where: { organizationId: b.org.organizationId }, orderBy: { createdAt: 'asc' } })).map((e) => e.action)
    expect(actions).toEqual(expect.arrayContaining(['channel.operators_chat_set', 'conversation.taken', 'conversation.operator_reply', 'conversation.released']))
  })
})

describe('a handoff nobody takes in time', () => {
  let b: TelegramTestBed
  beforeAll(async () => {
    b = await startTelegramTestBed({ name: 'Slowco', bot: { ...BOT, token: '7000000032:AAH-timeout-bot-token-for-tests-abc', id: 7000000032 }, docs: [TELEGRAM_DOC], env: { HANDOFF_TIMEOUT_MS: '400', HANDOFF_TIMEOUT_ACTION: 'resume' } })
  })
  afterAll(async () => b?.close())

  it('tells the customer, and the agent answers again', async () => {
    await b.deliver(updates.text({ chatId: CUSTOMER, text: 'I want to talk to a person' }))
    await b.waitForSent(CUSTOMER, 2)
    expect(b.texts(CUSTOMER)[0]).toMatch(/asked a person from our team/)
    expect(b.texts(CUSTOMER)[1]).toMatch(/nobody from our team is free right now/)
    const conversation = (await b.t.app.store.conversations.findByThread(b.inboxId, String(CUSTOMER)))!
    expect(conversation.state).toBe('bot')
    expect(await b.t.app.store.handoffs.current(b.org.organizationId, conversation.id)).toBeNull()
    await b.deliver(updates.text({ chatId: CUSTOMER, text: 'How do I connect a Telegram bot?' }))
    await b.waitForSent(CUSTOMER, 3)
    expect(b.texts(CUSTOMER)[2]).toContain('@BotFather')
  })
})

describe('a handoff nobody takes, with HANDOFF_TIMEOUT_ACTION=ping', () => {
  let b: TelegramTestBed
  beforeAll(async () => {
    b = await startTelegramTestBed({ name: 'Pingco', bot: { ...BOT, token: '7000000033:AAH-ping-bot-token-for-tests-abcdef', id: 7000000033 }, docs: [TELEGRAM_DOC], env: { HANDOFF_TIMEOUT_MS: '1500', HANDOFF_TIMEOUT_ACTION: 'ping' } })
  })
  afterAll(async () => b?.close())

  it('reminds the operators’ group and pings the linked admins; the customer stays with the team', async () => {
    expect(await link(b, ADMIN, 'owner')).toContain('You are linked as an admin')
    await b.deliver(groupText({ userId: ADMIN, text: '/operatorgroup' }))
    await b.waitForSent(GROUP, 1)
    const adminMessages = b.tg.sentTo(ADMIN).length
    await b.deliver(updates.text({ chatId: CUSTOMER, text: 'Can I speak to a human?' }))
    await b.waitForSent(CUSTOMER, 1)
    await b.waitForSent(GROUP, 3)
    expect(b.texts(GROUP)[1]).toContain('A customer wants a person')
    expect(b.texts(GROUP)[2]).toContain('Still waiting: nobody has taken this conversation yet.')
    await b.waitForSent(ADMIN, adminMessages + 1)
    expect(b.texts(ADMIN)[adminMessages]).toContain('nobody has taken the conversation yet')
    const conversation = (await b.t.app.store.conversations.findByThread(b.inboxId, String(CUSTOMER)))!
    expect(conversation.state).toBe('handoff')
    expect(b.tg.sentTo(CUSTOMER)).toHaveLength(1)
  })
})
