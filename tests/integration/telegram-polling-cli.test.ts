import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOrg, startTestApp, waitFor, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeTelegram, updates, type FakeTelegram } from '../support/fake-telegram.ts'
import { runTelegram } from '../../bots/telegram-cli.ts'

const BOT = { token: '7000000021:AAH-polling-bot-token-for-tests-xyz', id: 7000000021, username: 'acme_dev_bot', first_name: 'Acme Dev' }

describe('Telegram without a public URL: connected from the CLI, answered by long polling', () => {
  let tg: FakeTelegram
  let t: TestApp
  let org: TestOrg
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    let out = ''
    let err = ''
    const code = await runTelegram([...args, '--url', t.url, '--email', org.email, '--password', org.password], { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) }, env, readToken: async () => '' })
    return { code, out, err }
  }

  beforeAll(async () => {
    tg = await startFakeTelegram()
    tg.addBot(BOT)
    t = await startTestApp({ env: { TELEGRAM_API_ROOT: tg.url } })
    org = await createOrg(t, { name: 'Devshop', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => {
    await t?.close()
    await tg?.close()
  })

  it('connect needs a token, then polls: deleteWebhook, getUpdates, and a queued update is answered once', async () => {
    expect((await cli(['connect', '--agent', org.agentId])).err).toContain('TELEGRAM_BOT_TOKEN')
    const connected = await cli(['connect', '--agent', org.agentId], { TELEGRAM_BOT_TOKEN: BOT.token })
    expect(connected).toMatchObject({ code: 0, err: '' })
    expect(connected.out).toBe(`Connected @${BOT.username} (polling).\n`)
    expect(tg.callsOf('setWebhook')).toEqual([])
    await waitFor(async () => tg.callsOf('deleteWebhook').length === 1 && tg.callsOf('getUpdates').length > 0)

    const update = updates.text({ chatId: 5150, text: 'How do I connect a Telegram bot?' })
    tg.queueUpdate(BOT.token, update)
    await waitFor(async () => tg.sentTo(5150).length === 1)
    expect(String(tg.sentTo(5150)[0]!.payload.text)).toContain('@BotFather')
    // the offset moves past the update: it is not fetched (or answered) again
    await waitFor(async () => tg.callsOf('getUpdates').some((c) => c.payload.offset === update.update_id + 1))
    await new Promise((r) => setTimeout(r, 400))
    expect(tg.sentTo(5150)).toHaveLength(1)

    const bots = await cli(['bots'])
    expect(bots.out).toMatch(new RegExp(`^@${BOT.username}  agent ${org.agentId}  polling  inbox `))
    expect(t.logs.text()).not.toContain(BOT.token)
  })

  it('link-code prints a code that links the chat it is sent from', async () => {
    const res = await cli(['link-code'])
    expect(res.code).toBe(0)
    const code = /\/start ([A-Z2-9]{10})/.exec(res.out)![1]!
    tg.queueUpdate(BOT.token, updates.text({ chatId: 5151, text: `/start ${code}` }))
    await waitFor(async () => tg.sentTo(5151).length === 1)
    expect(String(tg.sentTo(5151)[0]!.payload.text)).toContain('You are linked as an admin')
  })

  it("in polling mode /operatorgroup counts at once: an operator's reply in the group reaches the customer, and the bot never answers there", async () => {
    const GROUP = -100555
    const ADMIN = 5151 // linked as the owner in the test above
    const inGroup = (text: string, replyTo?: { message_id: number }) =>
      updates.text({ chatId: GROUP, chatType: 'supergroup', userId: ADMIN, text, ...(replyTo ? { replyTo: { message_id: replyTo.message_id, from: { id: BOT.id, is_bot: true, first_name: BOT.first_name, username: BOT.username }, chat: { id: GROUP, type: 'supergroup', title: 'Team' }, date: 1, text: 'x' } } : {}) })
    tg.queueUpdate(BOT.token, inGroup('/operatorgroup'))
    await waitFor(async () => tg.sentTo(GROUP).some((c) => String(c.payload.text).includes('This group now receives')))

    // No restart: the very next handoff is announced in the group.
    tg.queueUpdate(BOT.token, updates.text({ chatId: 5160, text: 'I want to talk to a person' }))
    await waitFor(async () => tg.sentTo(GROUP).some((c) => String(c.payload.text).includes('A customer wants a person')))
    const announcement = tg.sentTo(GROUP).find((c) => String(c.payload.text).includes('A customer wants a person'))!
    const before = tg.sentTo(GROUP).length
    tg.queueUpdate(BOT.token, inGroup('Hello from the team', announcement.result as { message_id: number }))
    await waitFor(async () => tg.sentTo(5160).length === 2)
    expect(String(tg.sentTo(5160)[1]!.payload.text)).toBe('Hello from the team')
    await new Promise((r) => setTimeout(r, 300))
    // The group heard no answer of the agent's to the operator's message.
    expect(tg.sentTo(GROUP).slice(before).map((c) => String(c.payload.text))).toEqual([])
  })
})
