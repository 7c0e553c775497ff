import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, waitFor, TELEGRAM_DOC, BILLING_DOC } from '../support/test-app.ts'
import { updates, type RecordedCall } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'
import { startFakeMeta, type FakeMeta } from '../support/fake-meta.ts'
import { metaSender, metaText } from '../support/meta.ts'

const BOT = { token: '7000000051:AAH-meta-desk-bot-token-for-tests-ab', id: 7000000051, username: 'acme_team_bot', first_name: 'Acme Team' }
const PAGE = { pageId: '104000000000001', name: 'Acme Support', token: 'EAAGhandofftestpagetoken00000000000001' }
const APP_SECRET = 'fedcba9876543210fedcba9876543210'
const GROUP = -100951
const ADMIN = 9511
const CUSTOMER = '7000000000000051'

const groupText = (input: { userId: number; text: string; replyTo?: RecordedCall }) =>
  updates.text({
    chatId: GROUP,
    chatType: 'supergroup',
    userId: input.userId,
    firstName: 'Olga',
    text: input.text,
    ...(input.replyTo ? { replyTo: { message_id: (input.replyTo.result as { message_id: number }).message_id, from: { id: BOT.id, is_bot: true, first_name: BOT.first_name, username: BOT.username }, chat: { id: GROUP, type: 'supergroup', title: 'Team' }, date: 1, text: 'x' } } : {}),
  })

/**
 * A Messenger customer handed to the operators' Telegram group: the Page has no desk of its own,
 * so the organization routes its handoffs to the Telegram bot's group; the operator's reply goes
 * back through the Send API inside the window, and a refusal by Meta is told to the operator.
 */
describe('a Messenger customer handed to the operators’ Telegram group and back', () => {
  let b: TelegramTestBed
  let meta: FakeMeta
  let messengerId: string
  const toMessenger = () => metaSender(b.t, { path: `/webhooks/messenger/${messengerId}`, appSecret: () => APP_SECRET })
  const delivered = (psid: string) => meta.deliveredTo(psid).map((c) => c.body as { messaging_type: string; message: { text: string } })

  beforeAll(async () => {
    meta = await startFakeMeta()
    meta.addPage(PAGE)
    b = await startTelegramTestBed({ name: 'Acme', bot: BOT, docs: [TELEGRAM_DOC, BILLING_DOC], env: { META_GRAPH_URL: meta.url, HANDOFF_TIMEOUT_MS: '600000', PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 2, chunks: 500, channels: 5 } } }) } })
    const res = await api(b.t, `/api/v1/agents/${b.org.agentId}/channels/messenger`, { token: b.org.token, body: { pageId: PAGE.pageId, pageAccessToken: PAGE.token, appSecret: APP_SECRET } })
    expect(res.status).toBe(201)
    messengerId = res.json.inbox.inboxId
    // The owner links Telegram and makes the group the desk; the Page's handoffs go there.
    const code = (await api(b.t, '/api/v1/channel-admins/link-codes', { token: b.org.token, body: {} })).json.code
    await b.deliver(updates.text({ chatId: ADMIN, text: `/start ${code}` }))
    await b.waitForSent(ADMIN, 1)
    await b.deliver(groupText({ userId: ADMIN, text: `/operatorgroup@${BOT.username}` }))
    await b.waitForSent(GROUP, 1)
    const routed = await api(b.t, `/api/v1/channels/${messengerId}/desk`, { method: 'PUT', token: b.org.token, body: { deskInboxId: b.inboxId } })
    expect(routed.status).toBe(200)
  })
  afterAll(async () => {
    await b?.close()
    await meta?.close()
  })

  it('announcement in the group, the operator’s reply through the Send API, release', async () => {
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer: CUSTOMER, text: 'How do I connect a Telegram bot?' }))
    await waitFor(async () => delivered(CUSTOMER).length >= 1)
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer: CUSTOMER, text: 'Talk to a person', quickReply: 'handoff' }))
    await b.waitForSent(GROUP, 2)
    const announcement = b.tg.sentTo(GROUP)[1]!
    expect(announcement.payload.text).toContain('A customer wants a person')
    expect(announcement.payload.text).toContain('Acme Support (messenger)')
    expect(announcement.payload.text).toContain('How do I connect a Telegram bot?')
    await waitFor(async () => delivered(CUSTOMER).length >= 2)
    expect(delivered(CUSTOMER)[1]!.message.text).toMatch(/asked a person from our team/)

    const conversation = (await b.t.app.store.conversations.findByThread(messengerId, CUSTOMER))!
    await b.deliver(updates.callback({ chatId: GROUP, userId: ADMIN, firstName: 'Olga', data: `op:take:${conversation.id}`, messageId: (announcement.result as { message_id: number }).message_id, botId: BOT.id, botUsername: BOT.username }))
    await waitFor(async () => (await b.t.app.store.handoffs.current(b.org.organizationId, conversation.id))?.status === 'taken')

    // The customer writes: relayed to the group, the bot stays silent.
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer: CUSTOMER, text: 'Is anyone there?' }))
    await waitFor(async () => b.texts(GROUP).some((t) => t.includes('Is anyone there?')))
    expect(delivered(CUSTOMER)).toHaveLength(2)

    // The operator's reply reaches Messenger, inside the 24-hour window.
    await b.deliver(groupText({ userId: ADMIN, text: 'Hi, Olga here. Happy to help!', replyTo: announcement }))
    await waitFor(async () => delivered(CUSTOMER).length >= 3)
    expect(delivered(CUSTOMER)[2]).toMatchObject({ messaging_type: 'RESPONSE', message: { text: 'Hi, Olga here. Happy to help!' } })

    // Meta refuses a reply (outside the window for this person): the operator is told why; nothing is retried.
    meta.setOutsideWindow(CUSTOMER, true)
    const attempts = meta.sendsTo(CUSTOMER).length
    await b.deliver(groupText({ userId: ADMIN, text: 'One more thing…', replyTo: announcement }))
    await waitFor(async () => b.texts(GROUP).some((t) => /Not delivered to the customer/.test(t)))
    expect(meta.sendsTo(CUSTOMER).length).toBe(attempts + 1)
    const history = await b.t.app.store.messages.history(b.org.organizationId, conversation.id, { limit: 30 })
    expect(history.at(-1)).toMatchObject({ author: 'operator', text: 'One more thing…', status: 'failed' })
    meta.setOutsideWindow(CUSTOMER, false)

    // Back to the bot.
    await b.deliver(groupText({ userId: ADMIN, text: '/release', replyTo: announcement }))
    await waitFor(async () => (await b.t.app.store.conversations.get(b.org.organizationId, conversation.id))!.state === 'bot')
    await waitFor(async () => delivered(CUSTOMER).length >= 4)
    expect(delivered(CUSTOMER)[3]!.message.text).toMatch(/handed the conversation back to me/)
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer: CUSTOMER, text: 'What does the Pro plan include?' }))
    await waitFor(async () => delivered(CUSTOMER).length >= 5)
  })
})
