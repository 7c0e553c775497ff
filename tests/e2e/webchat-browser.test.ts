import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser } from 'playwright-core'
import { chromiumAvailable, launchChromium } from '../support/browser.ts'
import { createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

const available = chromiumAvailable('browser tests')

/** The web chat page in a real browser: type, see the streamed answer with its sources, reload and keep the history. */
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
})
