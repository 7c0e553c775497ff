import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, TELEGRAM_DOC } from '../support/test-app.ts'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'

const BOT = { token: '7000000071:AAH-quota-bot-token-for-tests-abcdefg', id: 7000000071, username: 'acme_quota_bot', first_name: 'Acme' }
const ADMIN_CHAT = 9701
const CUSTOMER_CHAT = 9801

describe("quota notices reach the admins' Telegram chat once per period", () => {
  let b: TelegramTestBed
  beforeAll(async () => {
    b = await startTelegramTestBed({ name: 'Quotaco', bot: BOT, docs: [TELEGRAM_DOC], env: { PLANS_JSON: JSON.stringify({ trial: { responsesPerPeriod: 5 } }) } })
    const code = (await api(b.t, '/api/v1/channel-admins/link-codes', { token: b.org.token, body: {} })).json.code as string
    await b.deliver(updates.text({ chatId: ADMIN_CHAT, text: `/start ${code}` }))
    await b.waitForSent(ADMIN_CHAT, 1)
  })
  afterAll(async () => b?.close())

  it('the 80% and 100% notices arrive in the linked admin chat, each once, and are listed in the admin web API', async () => {
    const linked = b.texts(ADMIN_CHAT).length
    for (let i = 0; i < 6; i++) {
      await b.deliver(updates.text({ chatId: CUSTOMER_CHAT, text: `How do I connect a Telegram bot? (${i})`, messageId: 100 + i }))
      await b.waitForSent(CUSTOMER_CHAT, i + 1)
    }
    const notices = b.texts(ADMIN_CHAT).slice(linked)
    expect(notices).toHaveLength(2)
    expect(notices[0]).toContain('4 of 5 responses (80%)')
    expect(notices[1]).toContain('used all 5 responses')
    const listed = await api(b.t, '/api/v1/notifications', { token: b.org.token })
    expect(listed.json.notifications.map((n: { kind: string }) => n.kind).sort()).toEqual(['quota_100', 'quota_80'])
    // The customer chat got answers, then the polite limit message: nothing went to the customer about the admins.
    expect(b.texts(CUSTOMER_CHAT).join('\n')).not.toContain('Upgrade the plan')
  })
})
