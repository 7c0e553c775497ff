import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExtractiveAnswerer } from '../../adapters/local-ai/extractive-answerer.ts'
import { createWebchatChannel } from '../../adapters/webchat/webchat-channel.ts'
import { FAILURE_REPLY } from '../../core/conversation/turn-service.ts'
import type { ChannelAdapter, ChatModel } from '../../core/ports.ts'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

/** A model that fails on the questions it is told to, a set number of times. */
function flakyModel() {
  const real = createExtractiveAnswerer()
  const failures = new Map<string, number>()
  let calls = 0
  const model: ChatModel = {
    name: 'flaky',
    async answer(input) {
      calls++
      const left = failures.get(input.question) ?? 0
      if (left > 0) {
        failures.set(input.question, left - 1)
        throw new Error('model unavailable (test)')
      }
      return real.answer(input)
    },
  }
  return { model, failNext: (question: string, times: number) => failures.set(question, times), calls: () => calls }
}

/** Web chat delivery that fails the first time for chosen send keys' conversations. */
function flakyChannel() {
  const real = createWebchatChannel()
  let failSends = 0
  const sends: string[] = []
  const channel: ChannelAdapter = {
    ...real,
    async send(input) {
      sends.push(input.sendKey)
      if (failSends > 0) {
        failSends--
        throw new Error('delivery failed (test)')
      }
      return real.send(input)
    },
  }
  return { channel, failNextSends: (n: number) => (failSends = n), sends }
}

describe('retries never produce a second reply', () => {
  let t: TestApp
  let org: TestOrg
  const model = flakyModel()
  const channel = flakyChannel()
  beforeAll(async () => {
    t = await startTestApp({ overrides: { chatModel: model.model, channels: [channel.channel] } })
    org = await createOrg(t, { name: 'Retry', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => t?.close())

  const history = async (sessionId: string) => (await api(t, `/api/v1/webchat/${org.webchatKey}/messages?sessionId=${sessionId}`)).json.messages as { author: string; text: string }[]

  it('a turn whose answer fails once is retried and answered once', async () => {
    const question = 'How do I connect a Telegram bot? (retry case)'
    model.failNext(question, 1)
    const res = await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'retry-session-1', text: question } })
    expect(res.status).toBe(200)
    expect(res.json.messages[0].text).toContain('@BotFather')
    const messages = await history('retry-session-1')
    expect(messages.map((m) => m.author)).toEqual(['contact', 'agent'])
  })

  it('a reply stored but not delivered is delivered on the retry, with the same send key, and stored once', async () => {
    channel.failNextSends(1)
    const before = channel.sends.length
    const res = await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'retry-session-2', text: 'How do I connect a Telegram bot?' } })
    expect(res.status).toBe(200)
    const keys = channel.sends.slice(before)
    expect(keys).toHaveLength(2)
    expect(keys[0]).toBe(keys[1])
    expect((await history('retry-session-2')).map((m) => m.author)).toEqual(['contact', 'agent'])
  })

  it('a turn re-run after a crash (reply stored and sent, message not marked done) does not send again', async () => {
    const inbox = (await t.app.store.inboxes.findByPublicKey(org.webchatKey))!
    const conversation = await t.app.store.conversations.resolve({ inbox, externalThreadId: 'crash-session-1', externalUserId: 'crash-session-1' })
    const { message } = await t.app.store.messages.insertInbound({ conversation, message: { inboxId: inbox.id, externalThreadId: 'crash-session-1', externalUserId: 'crash-session-1', externalMessageId: 'crash-1', text: 'How do I connect a Telegram bot?', attachments: [], receivedAt: new Date(), raw: {} } })
    const { message: reply } = await t.app.store.messages.insertReply({ organizationId: org.organizationId, inboxId: inbox.id, conversationId: conversation.id, replyToId: message.id, externalMessageId: `reply:${message.id}`, author: 'agent', text: 'stored before the crash', sources: [] })
    await t.app.store.messages.setStatus(org.organizationId, reply.id, 'sent')
    const before = channel.sends.length
    const callsBefore = model.calls()
    await t.app.turns.processConversation({ organizationId: org.organizationId, conversationId: conversation.id }, { jobId: 'recovered', attempt: 1, maxAttempts: 3 })
    expect(channel.sends.length).toBe(before)
    // The model is not asked again: the stored reply stands, and no second cost is recorded.
    expect(model.calls()).toBe(callsBefore)
    expect((await t.app.store.messages.get(org.organizationId, message.id))!.status).toBe('done')
    expect((await history('crash-session-1')).map((m) => m.text)).toEqual(['How do I connect a Telegram bot?', 'stored before the crash'])
  })

  it('after a restart (attempt 1 again) a reply stored but not sent is sent without asking the model again', async () => {
    const inbox = (await t.app.store.inboxes.findByPublicKey(org.webchatKey))!
    const conversation = await t.app.store.conversations.resolve({ inbox, externalThreadId: 'crash-session-2', externalUserId: 'crash-session-2' })
    const { message } = await t.app.store.messages.insertInbound({ conversation, message: { inboxId: inbox.id, externalThreadId: 'crash-session-2', externalUserId: 'crash-session-2', externalMessageId: 'crash-2', text: 'How do I connect a Telegram bot?', attachments: [], receivedAt: new Date(), raw: {} } })
    const { message: reply } = await t.app.store.messages.insertReply({ organizationId: org.organizationId, inboxId: inbox.id, conversationId: conversation.id, replyToId: message.id, externalMessageId: `reply:${message.id}`, author: 'agent', text: 'stored, then the process stopped', sources: [] })
    const [sendsBefore, callsBefore] = [channel.sends.length, model.calls()]
    await t.app.turns.processConversation({ organizationId: org.organizationId, conversationId: conversation.id }, { jobId: 'after-restart', attempt: 1, maxAttempts: 3 })
    expect(model.calls()).toBe(callsBefore)
    expect(channel.sends.slice(sendsBefore)).toEqual([reply.externalMessageId])
    expect((await t.app.store.messages.get(org.organizationId, reply.id))!.status).toBe('sent')
    expect((await t.app.store.messages.get(org.organizationId, message.id))!.status).toBe('done')
  })

  it('when every attempt fails the customer gets a short honest message, not silence', async () => {
    const question = 'How do I connect a Telegram bot? (always failing)'
    model.failNext(question, 10)
    const res = await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'retry-session-3', text: question } })
    expect(res.status).toBe(200)
    expect(res.json.messages[0].text).toBe(FAILURE_REPLY)
    const conversations = await t.app.store.conversations.list(org.organizationId, { limit: 50 })
    const conversation = conversations.find((c) => c.externalThreadId === 'retry-session-3')!
    const [inbound] = await t.app.store.messages.history(org.organizationId, conversation.id, { limit: 1, afterSeq: 0 })
    expect(inbound!.status).toBe('failed')
    expect(t.logs.text()).toContain('turn failed after its last attempt')
  })
})
