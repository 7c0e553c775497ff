import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { startFakeKommo, type FakeKommo } from '../support/fake-kommo.ts'
import { startFakeAmojo, type FakeAmojo } from '../support/fake-amojo.ts'
import { ROOT as root } from '../support/main-process.ts'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

const OUTPUT = path.join(root, 'tests/output/admin-web')
const available = chromiumAvailable('admin web Kommo chats browser test')
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.adminwebkommochatstoken.signature00000000005'
const CHANNEL = 'f90ba33d-c9d9-44da-b76c-c349b0ecbe41'
const SECRET = '5a44c5dff55f3c15a4cce8d7c4cc27e207c7e189'
const AMOJO_ACCOUNT = 'c3a4f2a6-0b6e-4d3f-9a51-7e0d5c1b2a90'
const PUBLIC_URL = 'https://switchboard.example.com'

/**
 * The "Kommo chats" part of the CRM page in Chromium, against a fake Kommo and a fake amojo: the hook
 * URL to give Kommo, connecting the chats to an agent with the minutes of silence and the "bot"
 * stage, changing them, disconnecting; axe at 1366 px and 390 px, screenshots.
 */
describe.skipIf(!available)('admin web: Kommo chats in Chromium', () => {
  let kommo: FakeKommo
  let amojo: FakeAmojo
  let t: TestApp
  let org: TestOrg
  let browser: Browser
  let page: Page
  const errors: string[] = []

  beforeAll(async () => {
    execFileSync(process.execPath, ['admin-web/build-web.mjs'], { cwd: root, stdio: 'ignore' })
    await mkdir(OUTPUT, { recursive: true })
    kommo = await startFakeKommo()
    amojo = await startFakeAmojo({ channelId: CHANNEL, secret: SECRET })
    kommo.addAccount({ subdomain: 'acme', accountId: 31000005, name: 'Acme', amojoId: AMOJO_ACCOUNT })
    kommo.addLongLivedToken('acme', TOKEN)
    t = await startTestApp({ env: { KOMMO_API_URL: kommo.apiUrlTemplate, KOMMO_CHANNEL_ID: CHANNEL, KOMMO_CHANNEL_SECRET: SECRET, KOMMO_CHATS_URL: amojo.url, PUBLIC_URL, PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 2, chunks: 500, channels: 5 } } }) } })
    org = await createOrg(t, { name: 'Acme' })
    expect((await api(t, '/api/v1/crm/kommo', { token: org.token, body: { subdomain: 'acme', longLivedToken: TOKEN } })).status).toBe(201)
    browser = await launchChromium()
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    page = await context.newPage()
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && !/status of 4(0[139]|04|22)/.test(m.text()) && errors.push(m.text()))
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await t?.close()
    await kommo?.close()
    await amojo?.close()
  })

  const section = () => page.locator('section:has(> h3#kommo-chats)')

  it('connects the chats to the agent, shows the hook URL and the choices, changes them and disconnects', async () => {
    await page.goto(`${t.url}/admin/#/signin`)
    await page.getByLabel('Email').fill(org.email)
    await page.getByLabel('Password').fill(org.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
    await page.click('nav a[href="#/crm"]')
    await page.getByRole('heading', { level: 3, name: 'Kommo chats' }).waitFor()
    await expect.poll(() => section().textContent()).toContain(`${PUBLIC_URL}/webhooks/kommo/:scope_id`)
    expect(await section().textContent()).toContain('Kommo chats are not connected.')
    await checkPage(page, 'kommo-chats-not-connected', OUTPUT)

    await section().getByLabel('Minutes without an operator’s message before the bot answers again').fill('20')
    await section().getByLabel('Stage that hands the conversation back to the bot').selectOption({ label: 'Decision making' })
    await section().getByRole('button', { name: 'Connect Kommo chats' }).click()
    await expect.poll(() => section().textContent()).toContain('20 minutes without an operator’s message')
    expect(await section().textContent()).toContain(`${CHANNEL}_${AMOJO_ACCOUNT}`)
    expect(await section().textContent()).toContain('Decision making')
    expect(amojo.calls.some((c) => c.path === `/v2/origin/custom/${CHANNEL}/connect` && c.status === 200)).toBe(true)
    await checkPage(page, 'kommo-chats-connected', OUTPUT)
    await page.setViewportSize({ width: 390, height: 844 })
    await checkPage(page, 'kommo-chats-connected-390', OUTPUT)
    await page.setViewportSize({ width: 1366, height: 900 })

    // Changing the minutes: 0 = only /bot or the stage.
    await section().getByLabel('Minutes without an operator’s message before the bot answers again').fill('0')
    await section().getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => section().textContent()).toContain('only when an operator writes /bot')

    await section().getByRole('button', { name: 'Disconnect Kommo chats' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Disconnect Kommo chats' }).click()
    await expect.poll(() => section().textContent()).toContain('Kommo chats are not connected.')
    expect(amojo.calls.some((c) => c.path === `/v2/origin/custom/${CHANNEL}/disconnect` && c.status === 200)).toBe(true)
    expect(errors).toEqual([])
  })
})
