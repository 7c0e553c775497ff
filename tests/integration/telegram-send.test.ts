import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TELEGRAM_LIMITS } from '../../adapters/telegram/bot-api.ts'
import { createTelegramChannel } from '../../adapters/telegram/telegram-channel.ts'
import { createSendScheduler } from '../../adapters/net/send-scheduler.ts'
import { createSecretBox } from '../../core/security/secrets.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import type { Inbox, Store } from '../../core/ports.ts'
import { logCapture } from '../support/test-app.ts'
import { startFakeTelegram, type FakeTelegram } from '../support/fake-telegram.ts'

const BOT = { token: '7000000061:AAH-send-bot-token-for-tests-abcdefgh', id: 7000000061, username: 'acme_send_bot', first_name: 'Acme' }

describe('sending to Telegram: splitting, escaping, buttons and the per-chat limit', () => {
  let tg: FakeTelegram
  const secrets = createSecretBox('11'.repeat(32))
  const inbox: Inbox = { id: 'inbox-send-1', organizationId: 'org-1', agentId: 'agent-1', channel: 'telegram', name: '@acme_send_bot', publicKey: null, purpose: 'customers',
  deskInboxId: null, settings: { botId: BOT.id, botUsername: BOT.username, mode: 'webhook' } }
  // The channel reads only the sealed credentials from the store.
  const store = { inboxes: { credentials: async () => secrets.seal(JSON.stringify({ token: BOT.token, webhookSecret: 'x'.repeat(43) })) } } as unknown as Store
  const logs = logCapture()
  let channel: ReturnType<typeof createTelegramChannel>
  const to = (chat: number) => ({ conversationId: `c-${chat}`, externalThreadId: String(chat) })

  beforeAll(async () => {
    tg = await startFakeTelegram()
    tg.addBot(BOT)
    channel = createTelegramChannel({ store, secrets, apiRoot: tg.url, logger: createLogger({ level: 'debug', destination: logs.destination }) })
  })
  afterAll(async () => tg?.close())

  it('a long answer goes out as several messages of at most 4096 characters, cut between paragraphs, with the button and sources on the last', async () => {
    const paragraphs = Array.from({ length: 24 }, (_, i) => `**Step ${i + 1}.** Use <b>tags</b> & ${'details '.repeat(40).trim()}.`)
    const result = await channel.send({ to: to(301), message: { text: paragraphs.join('\n\n'), sources: [{ title: 'Guide <v2>', snippet: '' }], choices: [{ id: 'handoff', label: 'Talk to a person' }] }, inbox, sendKey: 'k1' })
    const sent = tg.sentTo(301).map((c) => c.payload)
    expect(sent.length).toBeGreaterThanOrEqual(2)
    for (const m of sent) {
      expect(String(m.text).length).toBeLessThanOrEqual(4096)
      expect(m.parse_mode).toBe('HTML')
      expect(String(m.text)).toMatch(/^<b>Step \d+\.<\/b> Use &lt;b&gt;tags&lt;\/b&gt; &amp; details/)
    }
    expect(sent.map((m) => String(m.text).match(/<b>Step \d+\.<\/b>/g)!.length).reduce((a, n) => a + n, 0)).toBe(24)
    expect(sent.slice(0, -1).every((m) => m.reply_markup === undefined)).toBe(true)
    expect(sent.at(-1)!.reply_markup).toEqual({ inline_keyboard: [[{ text: 'Talk to a person', callback_data: 'handoff' }]] })
    expect(String(sent.at(-1)!.text).endsWith('<i>Sources:</i>\n• Guide &lt;v2&gt;')).toBe(true)
    expect(result.externalMessageId).toMatch(/^301:\d+$/)
  })

  it('messages to one chat go out at most one per second, none dropped; other chats are not held up', async () => {
    // The schedule is read, not timed: a fixed clock and a sleep that only records.
    const base = createSendScheduler({ limits: TELEGRAM_LIMITS, now: () => 1_000_000, sleep: async () => {} })
    const booked: { chat: string; wait: number }[] = []
    const scheduler = { slot: async (target: { bot: string; chat: string; group: boolean }) => {
      const wait = await base.slot(target)
      booked.push({ chat: target.chat, wait })
      return wait
    } }
    const limited = createTelegramChannel({ store, secrets, apiRoot: tg.url, scheduler, logger: createLogger({ level: 'debug', destination: logs.destination }) })
    await Promise.all([
      limited.send({ to: to(302), message: { text: 'one' }, inbox, sendKey: 'a' }),
      limited.send({ to: to(302), message: { text: 'two' }, inbox, sendKey: 'b' }),
      limited.send({ to: to(302), message: { text: 'three' }, inbox, sendKey: 'c' }),
      limited.send({ to: to(303), message: { text: 'elsewhere' }, inbox, sendKey: 'd' }),
    ])
    expect(tg.sentTo(302).map((c) => c.payload.text).sort()).toEqual(['one', 'three', 'two'])
    expect(tg.sentTo(303).map((c) => c.payload.text)).toEqual(['elsewhere'])
    expect(booked.filter((b) => b.chat === '302').map((b) => b.wait).sort((x, y) => x - y)).toEqual([0, 1000, 2000])
    expect(booked.filter((b) => b.chat === '303').map((b) => b.wait)).toEqual([0])
  })

  it('HTML that Telegram refuses still reaches the customer as plain text', async () => {
    tg.failNext('sendMessage', { error_code: 400, description: "Bad Request: can't parse entities: Unsupported start tag" })
    await channel.send({ to: to(304), message: { text: 'Price **5 < 6** & more' }, inbox, sendKey: 'e' })
    const [refused, plain] = tg.sentTo(304).map((c) => c.payload)
    expect(refused!.parse_mode).toBe('HTML')
    expect(plain).toMatchObject({ text: 'Price 5 < 6 & more' })
    expect(plain!.parse_mode).toBeUndefined()
  })

  it('a Bot API error names the method, never the token', async () => {
    tg.failNext('sendMessage', { error_code: 403, description: 'Forbidden: bot was blocked by the user' })
    const error = await channel.send({ to: to(305), message: { text: 'hello' }, inbox, sendKey: 'f' }).catch((e: Error) => e)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toBe('Telegram sendMessage failed: Forbidden: bot was blocked by the user')
    expect(logs.text()).not.toContain(BOT.token)
  })
})
