import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser } from 'playwright-core'
import { chromiumAvailable, launchChromium } from '../support/browser.ts'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

const available = chromiumAvailable('browser tests')

/** The web chat page in a real browser: type, see the streamed answer with its sources, reload and keep the history; a hostile agent name stays text. */
describe.skipIf(!available)('web chat page in Chromium', () => {
  let t: TestApp
  let org: TestOrg
  let browser: Browser
  beforeAll(async () => {
    t = await startTestApp()
    org = await createOrg(t, { name: 'Browser', docs: [TELEGRAM_DOC] })
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await t?.close()
  })

  it('answers with quoted text and sources, without script errors, and keeps the conversation on reload', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(`${t.url}/chat/${org.webchatKey}`)
    expect(await page.textContent('h1')).toBe('Browser assistant')
    await page.fill('#text', 'How do I connect a Telegram bot?')
    await page.keyboard.press('Enter')
    await page.waitForSelector('.msg.agent')
    const answer = await page.textContent('.msg.agent')
    expect(answer).toContain('@BotFather')
    expect(await page.$$eval('.msg.agent .sources li', (els) => els.map((e) => e.textContent))).toContain('Source: Channels › Connecting a Telegram bot')
    expect(await page.getAttribute('#text', 'placeholder')).toBe('Ask a question…')
    expect(await page.$$eval('label[for="text"]', (els) => els.length)).toBe(1)

    await page.reload()
    await page.waitForSelector('.msg.agent')
    expect(await page.$$eval('.msg', (els) => els.map((e) => e.className))).toEqual(['msg contact', 'msg agent'])
    expect(errors).toEqual([])
  })

  it('shows a hostile agent name as text: no script of it runs, no dialog opens, and the page breaks no rule of its CSP', async () => {
    const hostile = await createOrg(t, { name: 'Hostile', docs: [TELEGRAM_DOC] })
    const name = `</script><script>alert(1)</script><img src=x onerror="alert(2)"> "Bob's" & <!--`
    const renamed = await api(t, `/api/v1/agents/${hostile.agentId}`, { method: 'PATCH', token: hostile.token, body: { name } })
    expect(renamed.status).toBe(200)

    const page = await browser.newPage()
    const dialogs: string[] = []
    const problems: string[] = []
    page.on('dialog', async (d) => {
      dialogs.push(d.message())
      await d.dismiss()
    })
    page.on('pageerror', (e) => problems.push(e.message))
    page.on('console', (m) => m.type() === 'error' && /Content Security Policy/i.test(m.text()) && problems.push(m.text()))
    await page.goto(`${t.url}/chat/${hostile.webchatKey}`)
    expect(dialogs).toEqual([])
    expect(await page.textContent('h1')).toBe(name)
    expect(await page.title()).toBe(`${name} · Switchboard`)
    await page.fill('#text', 'How do I connect a Telegram bot?')
    await page.keyboard.press('Enter')
    await page.waitForSelector('.msg.agent .who')
    expect(await page.textContent('.msg.agent .who')).toBe(name)
    expect(await page.$$eval('img', (els) => els.length)).toBe(0)
    expect(await page.$$eval('script', (els) => els.map((e) => e.getAttribute('type') ?? 'external'))).toEqual(['application/json', 'external'])
    expect(dialogs).toEqual([])
    expect(problems).toEqual([])
  })
})
