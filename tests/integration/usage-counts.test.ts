import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, TELEGRAM_DOC } from '../support/test-app.ts'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'

const BOT = { token: '7000000092:AAH-usage-bot-token-for-tests-abcdef', id: 7000000092, username: 'acme_usage_bot', first_name: 'Acme' }
const CUSTOMER = 9951

/**
 * The dashboard's responses and the quota's "used" are one figure: both count the customer
 * messages that used a response of the plan. Greetings from /start, a handoff's notice, the quota
 * message and the admins' test chat are replies too, but they use nothing and count nowhere.
 */
describe('the dashboard counts responses as the quota does', () => {
  let b: TelegramTestBed
  beforeAll(async () => {
    b = await startTelegramTestBed({ name: 'Countco', bot: BOT, docs: [TELEGRAM_DOC], env: { PLANS_JSON: JSON.stringify({ trial: { responsesPerPeriod: 2 } }) } })
  })
  afterAll(async () => b?.close())

  it('after commands, answers, a handoff, a test chat and the quota message, both say 2', async () => {
    const say = async (text: string, count: number) => {
      await b.deliver(updates.text({ chatId: CUSTOMER, text }))
      await b.waitForSent(CUSTOMER, count)
    }
    await say('/start', 1)
    await say('How do I connect a Telegram bot?', 2)
    await say('/help', 3)
    await say('How do I connect a Telegram bot? I mean the token part.', 4)
    // Over the limit: the polite quota message, which is a reply but not a response of the plan.
    await say('And the web chat?', 5)
    expect(b.texts(CUSTOMER)[4]).toMatch(/cannot answer more questions/)
    await api(b.t, `/api/v1/agents/${b.org.agentId}/test-chat`, { token: b.org.token, body: { text: 'How do I connect a Telegram bot?' } })

    const billing = (await api(b.t, '/api/v1/billing', { token: b.org.token })).json
    const dashboard = (await api(b.t, '/api/v1/reports/dashboard', { token: b.org.token })).json
    expect(billing.used).toBe(2)
    expect(dashboard.totals.responses).toBe(2)
    expect(dashboard.responses).toEqual([expect.objectContaining({ channel: 'telegram', agentId: b.org.agentId, responses: 2 })])
    // The usage CSV says the same.
    const csv = (await api(b.t, '/api/v1/reports/usage.csv', { token: b.org.token })).text
    const responseRows = csv.split('\r\n').filter((line) => line.includes(',responses,'))
    expect(responseRows.map((line) => Number(line.split(',')[4])).reduce((a, n) => a + n, 0)).toBe(2)
  })
})
