import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, TELEGRAM_DOC, waitFor, type TestApp, type TestOrg } from '../support/test-app.ts'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'
import { say } from '../../core/language/index.ts'

// Three responses a period per organization: the fourth customer question meets the quota.
const PLANS = JSON.stringify({ trial: { responsesPerPeriod: 3 } })

describe('customers writing in Russian get Switchboard’s own messages in Russian: web chat', () => {
  let t: TestApp
  let auto: TestOrg
  let english: TestOrg
  beforeAll(async () => {
    t = await startTestApp({ env: { PLANS_JSON: PLANS } })
    auto = await createOrg(t, { name: 'Avto', docs: [TELEGRAM_DOC] })
    english = await createOrg(t, { name: 'Fixed', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => t?.close())

  const ask = (org: TestOrg, sessionId: string, text: string) => api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId, text } })
  const texts = async (org: TestOrg, sessionId: string) => (await api(t, `/api/v1/webchat/${org.webchatKey}/messages?sessionId=${sessionId}`)).json.messages.map((m: { text: string }) => m.text) as string[]

  it('not found, handoff started and ended, quota used up: all in Russian; a short "ok" keeps the language', async () => {
    const first = await ask(auto, 'session-ru-1', 'Здравствуйте! Какие у вас часы работы в выходные?')
    expect(first.json.messages[0].text).toBe(say('ru', 'notFound'))
    const conversation = await t.app.store.conversations.get(auto.organizationId, first.json.conversationId)
    expect(conversation!.language).toBe('ru')
    // "ok" has too few letters to tell: the conversation stays Russian.
    expect((await ask(auto, 'session-ru-1', 'ok')).json.messages[0].text).toBe(say('ru', 'notFound'))

    const handoff = await ask(auto, 'session-ru-2', 'Позовите оператора, пожалуйста')
    expect(handoff.json.messages[0].text).toBe(say('ru', 'handoffStarted'))
    expect(handoff.json.state).toBe('handoff')
    const released = await api(t, `/api/v1/conversations/${handoff.json.conversationId}/release`, { token: auto.token, body: {} })
    expect(released.status).toBe(200)
    expect((await texts(auto, 'session-ru-2')).at(-1)).toBe(say('ru', 'handoffEnded'))

    expect((await ask(auto, 'session-ru-3', 'А сколько стоит годовая подписка?')).json.messages[0].text).toBe(say('ru', 'notFound'))
    const refused = await ask(auto, 'session-ru-4', 'Ещё вопрос: как оплатить картой?')
    expect(refused.json.messages[0].text).toBe(say('ru', 'quotaUsedUp'))

    // An English customer of the same agent still gets English.
    const englishCustomer = await ask(auto, 'session-en-1', 'Hello, one more question about payments please')
    expect(englishCustomer.json.messages[0].text).toBe(say('en', 'quotaUsedUp'))
  })

  it('an agent fixed to English answers a Russian-writing customer in English (set through the API)', async () => {
    const patch = await api(t, `/api/v1/agents/${english.agentId}`, { token: english.token, method: 'PATCH', body: { language: 'en' } })
    expect(patch.status).toBe(200)
    expect(patch.json.agent.language).toBe('en')
    expect((await ask(english, 'session-fixed-1', 'Здравствуйте! Какие у вас часы работы в выходные?')).json.messages[0].text).toBe(say('en', 'notFound'))
    expect((await ask(english, 'session-fixed-2', 'Позовите оператора, пожалуйста')).json.messages[0].text).toBe(say('en', 'handoffStarted'))
    // The chat page is in English too, whatever the browser prefers.
    const page = await fetch(`${t.url}/chat/${english.webchatKey}`, { headers: { 'accept-language': 'ru-RU,ru;q=0.9' } })
    expect(await page.text()).toContain('<html lang="en">')
  })

  it('rejects a language Switchboard does not speak, and the auto agent’s page follows the browser', async () => {
    const bad = await api(t, `/api/v1/agents/${english.agentId}`, { token: english.token, method: 'PATCH', body: { language: 'de' } })
    expect(bad.status).toBe(422)
    expect((await api(t, `/api/v1/agents/${english.agentId}`, { token: english.token })).json.agent.language).toBe('en')
    const page = await fetch(`${t.url}/chat/${auto.webchatKey}`, { headers: { 'accept-language': 'ru-RU,ru;q=0.9,en;q=0.8' } })
    expect(page.headers.get('vary')).toContain('Accept-Language')
    const html = await page.text()
    expect(html).toContain('<html lang="ru">')
    expect(html).toContain('>Отправить</button>')
  })
})

const BOT = { token: '7000000091:AAH-language-bot-token-for-tests-abc', id: 7000000091, username: 'acme_lang_bot', first_name: 'Acme' }

describe('customers writing in Russian get Switchboard’s own messages in Russian: Telegram', () => {
  let b: TelegramTestBed
  beforeAll(async () => {
    b = await startTelegramTestBed({ name: 'Telegramco', bot: BOT, docs: [TELEGRAM_DOC], env: { PLANS_JSON: PLANS } })
  })
  afterAll(async () => b?.close())

  it('not found with a Russian button, handoff started and ended, quota used up', async () => {
    await b.deliver(updates.text({ chatId: 9901, text: 'Здравствуйте! Какие у вас часы работы в выходные?' }))
    await b.waitForSent(9901, 1)
    expect(b.texts(9901)[0]).toBe(say('ru', 'notFound'))
    expect(JSON.stringify(b.tg.sentTo(9901)[0]!.payload.reply_markup)).toContain('Позвать человека')

    // Pressing the Russian button asks for a person, as typing it would.
    await b.deliver(updates.text({ chatId: 9902, text: 'Позвать человека' }))
    await b.waitForSent(9902, 1)
    expect(b.texts(9902)[0]).toBe(say('ru', 'handoffStarted'))
    const [conversation] = await b.t.app.store.conversations.list(b.org.organizationId, { limit: 1, state: 'handoff' })
    expect((await api(b.t, `/api/v1/conversations/${conversation!.id}/release`, { token: b.org.token, body: {} })).status).toBe(200)
    await b.waitForSent(9902, 2)
    expect(b.texts(9902)[1]).toBe(say('ru', 'handoffEnded'))

    for (const [i, text] of ['Сколько стоит подписка?', 'А можно оплатить картой?'].entries()) {
      await b.deliver(updates.text({ chatId: 9903, text }))
      await b.waitForSent(9903, i + 1)
    }
    await b.deliver(updates.text({ chatId: 9903, text: 'И последний вопрос про доставку' }))
    await b.waitForSent(9903, 3)
    expect(b.texts(9903)[2]).toBe(say('ru', 'quotaUsedUp'))
    await waitFor(async () => (await b.t.app.store.conversations.list(b.org.organizationId, { limit: 10 })).every((c) => c.language === 'ru'))
  })
})
