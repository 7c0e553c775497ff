import { createHash, createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, TELEGRAM_DOC, waitFor } from '../support/test-app.ts'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'
import { kommoUserAmojoId, startFakeKommo, type FakeKommo } from '../support/fake-kommo.ts'
import { startFakeAmojo, type FakeAmojo } from '../support/fake-amojo.ts'
import { KOMMO_CHAT_SILENCE_JOB, SILENCE_REPLY } from '../../adapters/kommo/chat-channel.ts'
import type { Conversation } from '../../core/ports.ts'

const PUBLIC_URL = 'https://switchboard.example.com'
const CHANNEL = 'f90ba33d-c9d9-44da-b76c-c349b0ecbe41'
const SECRET = '5a44c5dff55f3c15a4cce8d7c4cc27e207c7e189'
const BOT_REF = 'f1910c7f-b1e0-4184-bd09-c7def2a9109a'
const AMOJO_ACCOUNT = 'c3a4f2a6-0b6e-4d3f-9a51-7e0d5c1b2a90'
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.kommochatstokenforacme.signature00000000007'
const BOT = { token: '7000000077:AAH-kommo-chat-bot-token-for-tests-ab', id: 7000000077, username: 'acme_chat_bot', first_name: 'Acme' }
const CUSTOMER = 77001
const ANNA = 8100001
const MARK = 8100002
const DECISION = 58140004
const fixture = (name: string) => readFileSync(new URL(`../fixtures/kommo/${name}`, import.meta.url), 'utf8')

/**
 * Kommo's chats as the operators' desk of a Telegram bot: the conversation imported into a Kommo
 * chat at the handoff, a Kommo user's reply reaching Telegram, the bot silent meanwhile and back
 * after /bot, the silence timeout or the "bot" stage; bad hooks refused; Kommo's chats as a
 * customer channel of their own.
 */
describe('Kommo chats', () => {
  let b: TelegramTestBed
  let kommo: FakeKommo
  let amojo: FakeAmojo
  let kommoInboxId: string
  let scopeId: string
  let conversation: Conversation
  const hookTo = (key: string, raw: string, signature?: string) => api(b.t, `/webhooks/kommo/${key}`, { raw, headers: { 'content-type': 'application/json', ...(signature ? { 'x-signature': signature } : {}) } })
  const operatorWrites = async (input: { user: number; text: string; id?: string; type?: string; media?: string; fileName?: string }) => {
    const hook = amojo.hook({ accountId: AMOJO_ACCOUNT, conversationId: '8e4d4baa-9e6c-4a88-838a-5f62be227bdc', conversationClientId: `sb-${conversation.id}`, senderId: kommoUserAmojoId(input.user), receiver: { id: '2ed64e26-70a1-4857-8382-bb066a076219', clientId: `sb-contact-${conversation.contactId}` }, message: { text: input.text, ...(input.id ? { id: input.id } : {}), ...(input.type ? { type: input.type } : {}), ...(input.media ? { media: input.media } : {}), ...(input.fileName ? { fileName: input.fileName } : {}) } })
    const res = await hookTo(scopeId, hook.raw, hook.signature)
    return { res, hook }
  }
  const chat = () => amojo.messages(scopeId, `sb-${conversation.id}`)
  const state = async () => (await b.t.app.store.conversations.get(b.org.organizationId, conversation.id))!.state
  const customerTexts = () => b.texts(CUSTOMER)

  beforeAll(async () => {
    amojo = await startFakeAmojo({ channelId: CHANNEL, secret: SECRET })
    kommo = await startFakeKommo()
    b = await startTelegramTestBed({
      name: 'Acme',
      bot: BOT,
      docs: [TELEGRAM_DOC],
      env: { KOMMO_API_URL: kommo.apiUrlTemplate, PUBLIC_URL, KOMMO_CHANNEL_ID: CHANNEL, KOMMO_CHANNEL_SECRET: SECRET, KOMMO_CHANNEL_BOT_ID: BOT_REF, KOMMO_CHATS_URL: amojo.url, HANDOFF_TIMEOUT_MS: '600000', PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 2, chunks: 500, channels: 5 } } }) },
    })
    // Anna, in Kommo, has the email of the organization's owner in Switchboard.
    kommo.addAccount({ subdomain: 'acme', accountId: 31000001, name: 'Acme', amojoId: AMOJO_ACCOUNT, users: [{ id: ANNA, name: 'Anna Admin', email: b.org.email, is_admin: true }, { id: MARK, name: 'Mark Manager', email: 'mark@acme.example' }] })
    kommo.addLongLivedToken('acme', TOKEN)
    const crm = await api(b.t, '/api/v1/crm/kommo', { token: b.org.token, body: { subdomain: 'acme', longLivedToken: TOKEN } })
    expect(crm.status).toBe(201)
  })
  afterAll(async () => {
    await b?.close()
    await kommo?.close()
    await amojo?.close()
  })

  it('connecting asks amojo for the account’s scope (amojo_id from Kommo, hook v2) and shows the hook URL', async () => {
    const res = await api(b.t, `/api/v1/agents/${b.org.agentId}/channels/kommo`, { token: b.org.token, body: { silenceMinutes: 15, botStatusId: DECISION } })
    expect(res.status).toBe(201)
    kommoInboxId = res.json.inbox.inboxId
    scopeId = `${CHANNEL}_${AMOJO_ACCOUNT}`
    expect(res.json.inbox).toMatchObject({ kind: 'kommo', webhookUrl: `${PUBLIC_URL}/webhooks/kommo/${scopeId}`, details: { scopeId, subdomain: 'acme', silenceMinutes: 15, botStatusId: DECISION } })
    const connect = amojo.calls.find((c) => c.path === `/v2/origin/custom/${CHANNEL}/connect`)!
    expect(connect).toMatchObject({ status: 200, body: { account_id: AMOJO_ACCOUNT, hook_api_version: 'v2' } })
    // Connecting again (after a reinstall) keeps one inbox and asks for the scope again.
    const again = await api(b.t, `/api/v1/agents/${b.org.agentId}/channels/kommo`, { token: b.org.token, body: {} })
    expect(again.status).toBe(201)
    expect(again.json.inbox.inboxId).toBe(kommoInboxId)
    expect(again.json.inbox.details).toMatchObject({ silenceMinutes: 15, botStatusId: DECISION })
    expect(amojo.calls.filter((c) => c.path.endsWith('/connect'))).toHaveLength(2)
    for (const text of [res.text, b.t.logs.text()]) expect(text).not.toContain(SECRET)
    // The Telegram bot's handoffs go to Kommo.
    const routed = await api(b.t, `/api/v1/channels/${b.inboxId}/desk`, { method: 'PUT', token: b.org.token, body: { deskInboxId: kommoInboxId } })
    expect(routed.status).toBe(200)
    // /crm in chat says so.
    const telegram = (await b.t.app.store.inboxes.get(b.inboxId))!
    expect(await b.t.app.crm.describe!(b.org.organizationId)).toContain(`Kommo chats: connected; handoffs answered in Kommo from ${telegram.name}; back to the bot on /bot, after 15 minutes`)
  })

  it('a handoff imports the conversation into a Kommo chat; the lead gets the transcript and a task', async () => {
    await b.deliver(updates.text({ chatId: CUSTOMER, firstName: 'Grace', text: 'How do I connect a Telegram bot?' }))
    await b.waitForSent(CUSTOMER, 1)
    await b.deliver(updates.text({ chatId: CUSTOMER, firstName: 'Grace', text: 'Talk to a person' }))
    await b.waitForSent(CUSTOMER, 2)
    conversation = (await b.t.app.store.conversations.findByThread(b.inboxId, String(CUSTOMER)))!
    await waitFor(async () => chat().length >= 5)
    const [q, a, ask, told, line] = chat().map((m) => m.payload)
    // The customer's messages as the client's (sender only), the bot's with sender.ref_id and the receiver.
    expect(q).toMatchObject({ sender: { id: `sb-contact-${conversation.contactId}`, name: 'Grace' }, message: { type: 'text', text: 'How do I connect a Telegram bot?' }, silent: true })
    expect(q!.receiver).toBeUndefined()
    expect(a).toMatchObject({ sender: { id: 'sb-bot', ref_id: BOT_REF }, receiver: { id: `sb-contact-${conversation.contactId}` }, silent: true })
    expect(ask!.message.text).toBe('Talk to a person')
    expect(told!.message.text).toMatch(/asked a person from our team/)
    expect(line).toMatchObject({ sender: { ref_id: BOT_REF }, silent: false })
    expect(line!.message.text).toMatch(/wants a person.*\/bot/s)
    // Every msgid is derived from a Switchboard message id: importing again adds nothing.
    const history = await b.t.app.store.messages.history(b.org.organizationId, conversation.id, { limit: 10 })
    expect(chat().slice(0, 4).map((m) => m.payload.msgid)).toEqual(history.slice(0, 4).map((m) => `sb-${m.id}`))
    await waitFor(async () => kommo.notes('acme').length >= 1 && kommo.tasks('acme').length >= 1)
    expect(kommo.notes('acme')[0]!.params.text).toContain('How do I connect a Telegram bot?')
  })

  it('a Kommo user’s reply is stored at once and reaches Telegram; the same hook again sends nothing more', async () => {
    const before = customerTexts().length
    const started = performance.now()
    const { res, hook } = await operatorWrites({ user: ANNA, text: 'Hi Grace, Anna here. Happy to help!' })
    expect(res.status).toBe(200)
    expect(performance.now() - started).toBeLessThan(5000)
    const stored = await b.t.app.store.messages.history(b.org.organizationId, conversation.id, { limit: 30 })
    expect(stored.some((m) => m.author === 'operator' && m.text === 'Hi Grace, Anna here. Happy to help!')).toBe(true)
    await waitFor(async () => customerTexts().length > before)
    expect(customerTexts().at(-1)).toBe('Hi Grace, Anna here. Happy to help!')
    // Held by the Switchboard member with Anna's email; Kommo is told it was delivered.
    const handoff = (await b.t.app.store.handoffs.current(b.org.organizationId, conversation.id))!
    const owner = await b.t.app.store.users.findByEmail(b.org.email)
    expect(handoff).toMatchObject({ status: 'taken', operatorUserId: owner!.id })
    await waitFor(async () => amojo.statuses.some((s) => s.msgid === hook.body.message.message.id))
    expect(amojo.statuses.find((s) => s.msgid === hook.body.message.message.id)!.body).toMatchObject({ status_code: 1 })
    // Kommo never retries, but a second delivery of the same message is one message.
    expect((await hookTo(scopeId, hook.raw, hook.signature)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 300))
    expect(customerTexts().filter((t) => t === 'Hi Grace, Anna here. Happy to help!')).toHaveLength(1)
    // The reply is not imported back into the chat it came from.
    expect(chat().some((m) => m.payload.message.text === 'Hi Grace, Anna here. Happy to help!')).toBe(false)
  })

  it('a picture with a caption reaches the customer with its link', async () => {
    const picture = JSON.parse(fixture('chat-hook-picture.json').replace(/CONVERSATION_ID/g, conversation.id).replace(/CONTACT_ID/g, conversation.contactId))
    const raw = JSON.stringify(picture)
    const signature = createHmacHex(raw)
    const before = customerTexts().length
    expect((await hookTo(scopeId, raw, signature)).status).toBe(200)
    await waitFor(async () => customerTexts().length > before)
    expect(customerTexts().at(-1)).toBe('The invoice, as promised\ninvoice.jpg: https://amojo.kommo.com/attachments/image.jpg')
  })

  it('while the operator is there the bot is silent, and the customer’s messages appear in the Kommo chat', async () => {
    const before = customerTexts().length
    await b.deliver(updates.text({ chatId: CUSTOMER, firstName: 'Grace', text: 'Thanks! One more question about pricing' }))
    await waitFor(async () => chat().some((m) => m.payload.message.text === 'Thanks! One more question about pricing'))
    const relayed = chat().find((m) => m.payload.message.text === 'Thanks! One more question about pricing')!
    expect(relayed.payload).toMatchObject({ sender: { id: `sb-contact-${conversation.contactId}` }, silent: false })
    await new Promise((r) => setTimeout(r, 300))
    expect(customerTexts()).toHaveLength(before)
  })

  it('after the silence timeout (no operator message since) the bot answers again and the customer is told', async () => {
    const kommoChannel = b.t.app.channels.get('kommo')
    const stored = await b.t.app.store.messages.history(b.org.organizationId, conversation.id, { limit: 50 })
    const operatorMessages = stored.filter((m) => m.author === 'operator')
    const ctx = { jobId: 'test', attempt: 1, maxAttempts: 3 }
    // The first message's timer: a later operator message keeps the conversation with the person.
    await kommoChannel.jobs![KOMMO_CHAT_SILENCE_JOB]!({ organizationId: b.org.organizationId, conversationId: conversation.id, messageId: operatorMessages[0]!.id, deskInboxId: kommoInboxId }, ctx)
    expect(await state()).toBe('handoff')
    // The last one's timer fires with nothing written since: back to the bot.
    await kommoChannel.jobs![KOMMO_CHAT_SILENCE_JOB]!({ organizationId: b.org.organizationId, conversationId: conversation.id, messageId: operatorMessages.at(-1)!.id, deskInboxId: kommoInboxId }, ctx)
    expect(await state()).toBe('bot')
    expect(customerTexts().at(-1)).toBe(SILENCE_REPLY)
    expect(chat().at(-1)!.payload.message.text).toMatch(/bot answers this customer again/)
    const before = customerTexts().length
    await b.deliver(updates.text({ chatId: CUSTOMER, firstName: 'Grace', text: 'How do I connect a Telegram bot?' }))
    await b.waitForSent(CUSTOMER, before + 1)
  })

  it('/bot written in the chat hands the conversation back; Mark (no Switchboard account) holds it as a person outside', async () => {
    await operatorWrites({ user: MARK, text: 'Mark here, I will take it from now.' })
    await waitFor(async () => customerTexts().at(-1) === 'Mark here, I will take it from now.')
    expect(await state()).toBe('handoff')
    expect((await b.t.app.store.handoffs.current(b.org.organizationId, conversation.id))).toMatchObject({ status: 'taken', operatorUserId: null })
    const { res } = await operatorWrites({ user: MARK, text: '/bot' })
    expect(res.status).toBe(200)
    await waitFor(async () => (await state()) === 'bot')
    expect(customerTexts().at(-1)).not.toBe('/bot')
  })

  it('moving the lead to the chosen "bot" stage in Kommo hands the conversation back', async () => {
    await operatorWrites({ user: ANNA, text: 'Anna again: let me check.' })
    await waitFor(async () => (await state()) === 'handoff' && customerTexts().at(-1) === 'Anna again: let me check.')
    const lead = (await b.t.app.db.prisma.lead.findFirst({ where: { organizationId: b.org.organizationId, contactId: conversation.contactId, externalId: { not: null } } }))!
    const url = kommo.webhooks('acme')[0]!.destination.replace(PUBLIC_URL, b.t.url)
    const delivered = await kommo.deliverWebhook(url, kommo.moveLead('acme', Number(lead.externalId), { status_id: DECISION }))
    expect(delivered.status).toBe(200)
    await waitFor(async () => (await state()) === 'bot')
  })

  it('bad hooks: no or wrong signature 401 and nothing stored; unknown scope 404; not a chat hook 400', async () => {
    // What these hooks carry, stored anywhere (the earlier steps' last notices may still be landing meanwhile).
    const count = () => b.t.app.db.prisma.message.count({ where: { OR: [{ text: { in: ['sneaky', 'x'] } }, { inboxId: kommoInboxId }] } })
    const before = await count()
    const good = amojo.hook({ accountId: AMOJO_ACCOUNT, conversationId: 'c-1', conversationClientId: `sb-${conversation.id}`, senderId: kommoUserAmojoId(ANNA), receiver: { id: 'r-1' }, message: { text: 'sneaky' } })
    expect((await hookTo(scopeId, good.raw)).status).toBe(401)
    expect((await hookTo(scopeId, good.raw, 'a'.repeat(40))).status).toBe(401)
    const forged = amojo.hook({ accountId: AMOJO_ACCOUNT, conversationId: 'c-1', conversationClientId: `sb-${conversation.id}`, senderId: 'x', receiver: { id: 'r-1' }, message: { text: 'sneaky' }, secret: 'another-secret' })
    expect((await hookTo(scopeId, forged.raw, forged.signature)).status).toBe(401)
    expect((await hookTo(kommoInboxId, good.raw, forged.signature)).status).toBe(401)
    expect((await hookTo(`${CHANNEL}_00000000-0000-0000-0000-000000000000`, good.raw, good.signature)).status).toBe(404)
    const notHook = JSON.stringify({ hello: 'world' })
    const bad = await hookTo(scopeId, notHook, createHmacHex(notHook))
    expect(bad.status).toBe(400)
    expect(bad.json.error.message).toMatch(/Not a Kommo chat hook/)
    const otherAccount = amojo.hook({ accountId: '11111111-2222-3333-4444-555555555555', conversationId: 'c-1', senderId: 'x', receiver: { id: 'r-1' }, message: { text: 'x' } })
    expect((await hookTo(scopeId, otherAccount.raw, otherAccount.signature)).status).toBe(400)
    expect(await count()).toBe(before)
    expect(before).toBe(0)
  })

  it('a chat naming another organization’s conversation reaches nothing', async () => {
    const other = await createOrg(b.t, { name: 'Globex' })
    const inbox = (await b.t.app.store.inboxes.listByOrganization(other.organizationId)).find((i) => i.channel === 'webchat' && i.purpose === 'customers')!
    const foreign = await b.t.app.store.conversations.resolve({ inbox, externalThreadId: 'visitor-1', externalUserId: 'visitor-1' })
    const hook = amojo.hook({ accountId: AMOJO_ACCOUNT, conversationId: 'c-2', conversationClientId: `sb-${foreign.id}`, senderId: kommoUserAmojoId(ANNA), receiver: { id: 'r-2' }, message: { text: 'Hello from the wrong tenant' } })
    expect((await hookTo(scopeId, hook.raw, hook.signature)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 300))
    expect(await b.t.app.db.prisma.message.count({ where: { conversationId: foreign.id } })).toBe(0)
  })

  it('Kommo as a customer channel: a chat of the scope that mirrors nothing is answered by the agent as the channel bot, once', async () => {
    const hook = amojo.hook({ accountId: AMOJO_ACCOUNT, conversationId: 'kommo-chat-77', senderId: kommoUserAmojoId(MARK), receiver: { id: 'client-77', phone: '+15550100', email: 'ada@example.com' }, message: { id: 'kommo-msg-77', text: 'How do I connect a Telegram bot?' } })
    expect((await hookTo(kommoInboxId, hook.raw, hook.signature)).status).toBe(200)
    await waitFor(async () => amojo.messages(scopeId, 'sb-k-kommo-chat-77').length >= 1)
    const answer = amojo.messages(scopeId, 'sb-k-kommo-chat-77')[0]!.payload
    expect(answer).toMatchObject({ conversation_ref_id: 'kommo-chat-77', sender: { id: 'sb-bot', ref_id: BOT_REF }, receiver: { ref_id: 'client-77', profile: { phone: '+15550100', email: 'ada@example.com' } }, silent: false })
    expect(answer.message.text).toMatch(/BotFather|token|webhook/i)
    const thread = (await b.t.app.store.conversations.findByThread(kommoInboxId, 'kommo-chat-77'))!
    const reply = (await b.t.app.store.messages.history(b.org.organizationId, thread.id, { limit: 5 })).find((m) => m.direction === 'out')!
    expect(answer.msgid).toBe(`sb-${createHash('sha1').update(reply.externalMessageId).digest('hex').slice(0, 32)}`)
    // The same hook again: one message, one answer.
    expect((await hookTo(kommoInboxId, hook.raw, hook.signature)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 300))
    expect(amojo.messages(scopeId, 'sb-k-kommo-chat-77')).toHaveLength(1)
    expect(amojo.statuses.some((s) => s.msgid === 'kommo-msg-77')).toBe(true)
  })

  it('disconnecting tells amojo and removes the inbox', async () => {
    const res = await api(b.t, `/api/v1/channels/${kommoInboxId}`, { method: 'DELETE', token: b.org.token })
    expect(res.status).toBe(200)
    expect(amojo.calls.some((c) => c.path === `/v2/origin/custom/${CHANNEL}/disconnect` && c.status === 200)).toBe(true)
    expect(await b.t.app.store.inboxes.get(kommoInboxId)).toBeNull()
  })
})

/** X-Signature as Kommo computes it: hex HMAC-SHA1 of the raw body with the channel secret. */
function createHmacHex(raw: string) {
  return createHmac('sha1', SECRET).update(raw).digest('hex')
}
