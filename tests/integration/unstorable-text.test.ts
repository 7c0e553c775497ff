import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, TELEGRAM_DOC } from '../support/test-app.ts'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'

const BOT = { token: '7000000077:AAH-fake-token-for-tests-only-nulbyte', id: 7000000077, username: 'nul_bytes_bot', first_name: 'Nul' }

// PostgreSQL stores neither NUL characters nor unpaired surrogates. JSON can carry both (\u0000, \ud800).
describe('text PostgreSQL cannot store', () => {
  let bed: TelegramTestBed
  const rows = async () => {
    const p = bed.t.app.db.prisma
    const [conversations, messages, contacts] = await Promise.all([p.conversation.count(), p.message.count(), p.contact.count()])
    return { conversations, messages, contacts }
  }
  beforeAll(async () => {
    bed = await startTelegramTestBed({ name: 'Nul', bot: BOT, docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => bed?.close())

  const chatUrl = () => `/api/v1/webchat/${bed.org.webchatKey}/messages`
  const cases: { name: string; path: () => string; raw?: string; method?: string; contentType?: string; at: string }[] = [
    { name: 'a NUL in the web chat text', path: chatUrl, raw: '{"sessionId":"nul-session-1","text":"hello\\u0000world"}', at: 'body.text' },
    { name: 'an unpaired surrogate in the web chat text', path: chatUrl, raw: '{"sessionId":"nul-session-2","text":"broken \\ud800 pair"}', at: 'body.text' },
    { name: 'a NUL in a key of the body', path: chatUrl, raw: '{"sessionId":"nul-session-3","text":"hi","x\\u0000":1}', at: 'body.x' },
    { name: 'a NUL in a query parameter', path: () => `/api/v1/webchat/${bed.org.webchatKey}/messages?sessionId=nul%00session`, method: 'GET', at: 'query.sessionId' },
    { name: 'a NUL in a text/markdown body', path: () => '/api/v1/knowledge/sources?title=Notes', raw: '# Notes\n\nline\u0000two', contentType: 'text/markdown', at: 'body' },
  ]
  for (const c of cases) {
    it(`${c.name}: 400 invalid_text naming ${c.at}, nothing stored`, async () => {
      const before = await rows()
      const res = await api(bed.t, c.path(), { method: c.method ?? (c.raw !== undefined ? 'POST' : 'GET'), raw: c.raw, token: bed.org.token, headers: { 'content-type': c.contentType ?? 'application/json' } })
      expect(res.status).toBe(400)
      expect(res.json.error.code).toBe('invalid_text')
      expect(res.json.error.message).toContain(c.at)
      expect(await rows()).toEqual(before)
    })
  }

  it('a Telegram update with a NUL and an unpaired surrogate is stored cleaned, answered 200 once, and replied to', async () => {
    const update = updates.text({ chatId: 7701, text: 'How do I connect a Telegram bot?\u0000 \ud800', firstName: 'Ma\u0000ria' })
    const res = await bed.deliver(update)
    expect(res.status).toBe(200)
    await bed.waitForSent(7701, 1)
    expect(bed.texts(7701)[0]).toContain('BotFather')
    const conversation = await bed.t.app.store.conversations.findByThread(bed.inboxId, '7701')
    const [inbound] = await bed.t.app.store.messages.history(bed.org.organizationId, conversation!.id, { limit: 1, afterSeq: 0 })
    expect(inbound!.text).toBe('How do I connect a Telegram bot? \uFFFD')
    const contact = await bed.t.app.db.prisma.contact.findFirst({ where: { id: conversation!.contactId } })
    expect(contact!.name).toBe('Maria')
    // Telegram delivers it again: no second reply.
    expect((await bed.deliver(update)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 300))
    expect(bed.texts(7701)).toHaveLength(1)
  })

  it('a first message that cannot be stored leaves no conversation or contact behind (one transaction)', async () => {
    const inbox = (await bed.t.app.store.inboxes.findByPublicKey(bed.org.webchatKey))!
    const before = await rows()
    // Past the edge on purpose: the store itself must not keep half of it.
    const receive = bed.t.app.store.messages.receive({ inbox, message: { inboxId: inbox.id, externalThreadId: 'half-written', externalUserId: 'half-written', externalMessageId: 'half-1', text: 'stop\u0000here', attachments: [], receivedAt: new Date(), raw: {} } })
    await expect(receive).rejects.toThrow()
    expect(await rows()).toEqual(before)
    expect(await bed.t.app.store.conversations.findByThread(inbox.id, 'half-written')).toBeNull()
  })

  it('the web chat still answers a normal message, and a redelivered message id gives the same conversation', async () => {
    const body = { sessionId: 'nul-session-ok', text: 'How do I connect a Telegram bot?', messageId: 'same-id-1' }
    const first = await api(bed.t, chatUrl(), { body })
    expect(first.status).toBe(200)
    const again = await api(bed.t, chatUrl(), { body })
    expect(again.status).toBe(200)
    expect(again.json.conversationId).toBe(first.json.conversationId)
    const history = await api(bed.t, `${chatUrl()}?sessionId=nul-session-ok`)
    expect(history.json.messages.map((m: { author: string }) => m.author)).toEqual(['contact', 'agent'])
  })
})
