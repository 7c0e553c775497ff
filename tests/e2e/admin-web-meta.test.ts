import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { startFakeMeta, type FakeMeta } from '../support/fake-meta.ts'
import { ROOT as root } from '../support/main-process.ts'
import { createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

const OUTPUT = path.join(root, 'tests/output/admin-web')
const available = chromiumAvailable('admin web Messenger and Instagram browser test')

const PAGE = { pageId: '104000000000001', name: 'Harbour Shop Page', token: 'EAAGtestpagetoken0000000000000000000001' }
const APP_SECRET = '0123456789abcdef0123456789abcdef'
const IG = { accountId: '17841400000000001', username: 'harbour.shop', token: 'IGAAtestinstagramtoken000000000000000001' }
const PUBLIC_URL = 'https://switchboard.example.com'
const DAY = 24 * 3600_000

type Adapter = { refreshTokens(now?: Date): Promise<Record<string, string>> }
type Listed = { inboxId: string; kind: string; name: string; webhookUrl: string | null; details: { verifyToken: string | null; tokenExpiresAt: string | null; broken: { reason: string } | null } }

/**
 * The Messenger and Instagram controls of the admin web in Chromium, against the app pointed at a
 * fake Graph API: Meta's dashboard steps, connecting a Facebook Page and an Instagram account with
 * their tokens and app secret, the Callback URL and Verify token to paste into Meta (the one shown
 * answers Meta's check), the Instagram token's expiry and, once Meta refuses the token, the warning;
 * "Connect with Facebook / Instagram" only when the server offers it, the notices Meta's consent
 * page comes back with, and disconnecting. At 1366 px nothing overflows sideways; a screenshot
 * and an axe-core check of each state.
 */
describe.skipIf(!available)('admin web: Messenger and Instagram in Chromium', () => {
  let meta: FakeMeta
  let t: TestApp
  let org: TestOrg
  let browser: Browser
  let page: Page
  const errors: string[] = []

  beforeAll(async () => {
    execFileSync(process.execPath, ['admin-web/build-web.mjs'], { cwd: root, stdio: 'ignore' })
    await mkdir(OUTPUT, { recursive: true })
    meta = await startFakeMeta()
    meta.addPage(PAGE)
    meta.addInstagram({ accountId: IG.accountId, username: IG.username, token: IG.token, expiresIn: 60 * 24 * 3600 })
    t = await startTestApp({ env: { META_GRAPH_URL: meta.url, INSTAGRAM_GRAPH_URL: meta.instagramUrl, PUBLIC_URL, PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 1, chunks: 500, channels: 5 } } }) } })
    org = await createOrg(t, { name: 'Harbour Shop' })
    browser = await launchChromium()
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    page = await context.newPage()
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && !/status of 4(0[139]|04|22)/.test(m.text()) && errors.push(m.text()))
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await t?.close()
    await meta?.close()
  })

  /** Saves a full-page screenshot and runs axe-core: no serious or critical violations. */
  const check = (name: string) => checkPage(page, name, OUTPUT)
  /** Nothing on the page is wider than the window (1366 px). */
  const noSidewaysScroll = async () => {
    const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }))
    expect(scroll).toBeLessThanOrEqual(client)
  }
  const listed = async (kind: string) => {
    const { channels } = (await page.evaluate(() => fetch('/api/v1/channels').then((r) => r.json()))) as { channels: Listed[] }
    return channels.find((c) => c.kind === kind)!
  }
  const go = async (hash: string, heading: string | RegExp) => {
    await page.click(`nav a[href="#${hash}"]`)
    await page.getByRole('heading', { level: 1, name: heading }).waitFor()
  }

  it('connects a Facebook Page and an Instagram account, shows what to paste into Meta, warns when Meta refuses a token, and disconnects', async () => {
    await page.goto(`${t.url}/admin/#/signin`)
    await page.getByLabel('Email').fill(org.email)
    await page.getByLabel('Password').fill(org.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
    await go('/channels', 'Channels')

    // Messenger: Meta's dashboard steps, the secrets as password fields, the verify token optional; no "Connect with Facebook" on this server.
    const messenger = page.getByRole('region', { name: 'Connect a Facebook Page (Messenger)' })
    await messenger.getByLabel('Agent').waitFor()
    await messenger.getByText('add the Messenger product').waitFor()
    await messenger.getByText('subscribe to the fields messages, messaging_postbacks and message_echoes').waitFor()
    await messenger.getByText('request the pages_messaging permission in App Review').waitFor()
    expect(await messenger.getByLabel('Page access token').getAttribute('type')).toBe('password')
    expect(await messenger.getByLabel('App secret').getAttribute('type')).toBe('password')
    expect(await messenger.getByLabel('Verify token (optional)').getAttribute('required')).toBeNull()
    expect(await messenger.getByRole('link', { name: 'Connect with Facebook' }).count()).toBe(0)
    const instagram = page.getByRole('region', { name: 'Connect an Instagram account' })
    await instagram.getByText('instagram_business_manage_messages').first().waitFor()
    expect(await instagram.getByLabel('Access token').getAttribute('type')).toBe('password')
    expect(await instagram.getByLabel('Instagram app secret').getAttribute('type')).toBe('password')
    expect(await instagram.getByRole('link', { name: 'Connect with Instagram' }).count()).toBe(0)
    await noSidewaysScroll()
    await check('meta-01-channels-connect')

    // A token for another Page: the form says why and keeps the fields.
    await messenger.getByLabel('Page ID').fill('104000000000009')
    await messenger.getByLabel('Page access token').fill(PAGE.token)
    await messenger.getByLabel('App secret').fill(APP_SECRET)
    await messenger.getByRole('button', { name: 'Connect the Page' }).click()
    await messenger.getByRole('alert').filter({ hasText: 'cannot read Page 104000000000009' }).waitFor()
    expect(await page.locator('tr[data-channel="messenger"]').count()).toBe(0)

    // The Page: listed with the Callback URL and the Verify token to paste into Meta, each with a Copy button; the secrets are gone from the page.
    await messenger.getByLabel('Page ID').fill(PAGE.pageId)
    await messenger.getByRole('button', { name: 'Connect the Page' }).click()
    await page.getByRole('status').filter({ hasText: `${PAGE.name} is connected. Last step:` }).waitFor()
    const pageRow = page.locator('tr[data-channel="messenger"]')
    await pageRow.getByText(`Messenger · ${PAGE.name}`).waitFor()
    await pageRow.getByText(`Page ID ${PAGE.pageId}`).waitFor()
    const callback = (await pageRow.locator('.callback-url code').textContent())!
    expect(callback).toMatch(new RegExp(`^${PUBLIC_URL}/webhooks/messenger/[\\w-]+$`))
    const shownToken = (await pageRow.locator('.verify-token code').textContent())!
    expect(shownToken).toMatch(/^[\w-]{16,}$/)
    await pageRow.getByRole('button', { name: `Copy the Callback URL of ${PAGE.name}` }).waitFor()
    await pageRow.getByRole('button', { name: `Copy the Verify token of ${PAGE.name}` }).waitFor()
    expect(await messenger.getByLabel('Page access token').inputValue()).toBe('')
    expect(await messenger.getByLabel('App secret').inputValue()).toBe('')
    expect(await page.content()).not.toContain(PAGE.token)
    expect(await page.content()).not.toContain(APP_SECRET)
    expect(meta.subscribedFields(PAGE.pageId)).toEqual(expect.arrayContaining(['messages', 'messaging_postbacks', 'message_echoes']))
    // What the page shows is what Meta's check of the Callback URL needs.
    const messengerRow = await listed('messenger')
    expect(callback).toBe(messengerRow.webhookUrl)
    const challenge = await fetch(`${t.url}/webhooks/messenger/${messengerRow.inboxId}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(shownToken)}&hub.challenge=1158201444`)
    expect(await challenge.text()).toBe('1158201444')
    await noSidewaysScroll()
    await check('meta-02-messenger-connected')

    // Instagram, with a verify token of the organization's own.
    await instagram.getByLabel('Instagram account ID').fill(IG.accountId)
    await instagram.getByLabel('Access token').fill(IG.token)
    await instagram.getByLabel('Instagram app secret').fill(APP_SECRET)
    await instagram.getByLabel('Verify token (optional)').fill('harbour-verify-2024')
    await instagram.getByRole('button', { name: 'Connect the account' }).click()
    await page.getByRole('status').filter({ hasText: `@${IG.username} is connected. Last step:` }).waitFor()
    const igRow = page.locator('tr[data-channel="instagram"]')
    await igRow.getByText(`Instagram · @${IG.username}`).waitFor()
    expect(await igRow.locator('.callback-url code').textContent()).toMatch(new RegExp(`^${PUBLIC_URL}/webhooks/instagram/[\\w-]+$`))
    expect(await igRow.locator('.verify-token code').textContent()).toBe('harbour-verify-2024')
    expect(await page.content()).not.toContain(IG.token)

    // Its token is renewed: the page says until when.
    const instagramInbox = (await listed('instagram')).inboxId
    const adapter = t.app.channels.get('instagram').adapter as unknown as Adapter
    expect((await adapter.refreshTokens())[instagramInbox]).toBe('refreshed')
    await page.reload()
    await igRow.getByText(/Token renewed automatically, valid until /).waitFor()
    await check('meta-03-instagram-connected')

    // Meta refuses the token when it is renewed next: after a reload the account says so, in the list and in its status.
    const newest = JSON.parse(t.app.secrets.open((await t.app.store.inboxes.credentials(instagramInbox))!)).accessToken as string
    meta.revoke(newest)
    expect((await adapter.refreshTokens(new Date(Date.now() + 55 * DAY)))[instagramInbox]).toBe('broken')
    await page.reload()
    const warning = igRow.getByRole('alert')
    await warning.waitFor()
    expect(await warning.textContent()).toMatch(/^Meta refused the token: .*token.*\. Connect it again\.$/)
    expect(await warning.textContent()).not.toContain('..')
    await igRow.getByText('Token refused').waitFor()
    expect(await igRow.getByText(/Token renewed automatically/).count()).toBe(0)
    expect(await pageRow.getByRole('alert').count()).toBe(0)
    expect((await listed('instagram')).details.broken).not.toBeNull()
    await noSidewaysScroll()
    await check('meta-04-instagram-broken')

    // In Russian.
    await page.getByLabel('Language').selectOption('ru')
    await page.getByRole('heading', { name: 'Подключить страницу Facebook (Messenger)' }).waitFor()
    await igRow.getByText(/^Meta отклонила токен: /).waitFor()
    await noSidewaysScroll()
    await check('meta-05-channels-ru')
    await page.getByLabel('Язык').selectOption('en')
    await page.getByRole('heading', { name: 'Connect an Instagram account' }).waitFor()

    // A server that has its own Meta app offers "Connect with Facebook / Instagram": full navigations to its start, with the agent chosen.
    await page.route('**/api/v1/channels', async (route) => {
      const response = await route.fetch()
      const body = (await response.json()) as { kinds: { kind: string; offers?: Record<string, unknown> }[] }
      for (const k of body.kinds) if (k.kind === 'messenger' || k.kind === 'instagram') k.offers = { ...k.offers, oauth: true }
      await route.fulfill({ response, json: body })
    })
    await page.reload()
    const facebook = messenger.getByRole('link', { name: 'Connect with Facebook' })
    expect(await facebook.getAttribute('href')).toBe(`/api/v1/channels/messenger/oauth/start?agentId=${org.agentId}`)
    expect(await instagram.getByRole('link', { name: 'Connect with Instagram' }).getAttribute('href')).toBe(`/api/v1/channels/instagram/oauth/start?agentId=${org.agentId}`)
    await noSidewaysScroll()
    await check('meta-06-oauth-offered')
    await page.unroute('**/api/v1/channels')

    // What Meta's consent page comes back with (a page load): how many were connected, or why not; shown once.
    await page.goto('about:blank')
    await page.goto(`${t.url}/admin/#/channels?connected=messenger&count=2`)
    await page.getByRole('status').filter({ hasText: 'Messenger is connected. Facebook Pages connected: 2; they are in the list.' }).waitFor()
    expect(new URL(page.url()).hash).toBe('#/channels')
    await page.goto('about:blank')
    await page.goto(`${t.url}/admin/#/channels?connected=instagram&count=1`)
    await page.getByRole('status').filter({ hasText: 'Instagram is connected. Accounts connected: 1' }).waitFor()
    await page.goto('about:blank')
    await page.goto(`${t.url}/admin/#/channels?metaError=${encodeURIComponent('Meta says: access_denied')}`)
    await page.getByRole('alert').filter({ hasText: 'Connecting with Meta failed: Meta says: access_denied' }).waitFor()
    expect(new URL(page.url()).hash).toBe('#/channels')
    await check('meta-07-oauth-error')

    // Disconnect the Page, after confirming: it leaves the list and the app is unsubscribed from it.
    await pageRow.getByRole('button', { name: `Disconnect ${PAGE.name}` }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByText(`Disconnect the Page ${PAGE.name} from Harbour Shop assistant?`).waitFor()
    await dialog.getByRole('button', { name: 'Disconnect' }).click()
    await page.getByRole('status').filter({ hasText: `${PAGE.name} is disconnected.` }).waitFor()
    await pageRow.waitFor({ state: 'detached' })
    expect(meta.subscribedFields(PAGE.pageId)).toEqual([])

    for (const secret of [PAGE.token, IG.token, newest, APP_SECRET]) expect(t.logs.text()).not.toContain(secret)
    expect(errors).toEqual([])
  }, 180_000)
})
