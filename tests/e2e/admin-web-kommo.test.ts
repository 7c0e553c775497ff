import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { startFakeKommo, type FakeKommo } from '../support/fake-kommo.ts'
import { ROOT as root } from '../support/main-process.ts'
import { createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'
import { hashPassword } from '../../core/security/passwords.ts'

const OUTPUT = path.join(root, 'tests/output/admin-web')
const available = chromiumAvailable('admin web Kommo browser test')

const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.adminwebkommotokenforacme.signature0000000003'
const REFUSED = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.a-token-kommo-does-not-know.signature0000000004'
const CLIENT = { KOMMO_CLIENT_ID: 'c0ffee00-0000-4000-8000-000000000003', KOMMO_CLIENT_SECRET: 'kommo-client-secret-for-admin-web-000000003', KOMMO_REDIRECT_URI: 'https://switchboard.example.com/crm/kommo/oauth/callback' }
const USERS = { anna: { id: 9_100_001, name: 'Anna Admin', email: 'anna@acme.example', is_admin: true }, mark: { id: 9_100_002, name: 'Mark Manager', email: 'mark@acme.example' }, olga: { id: 9_100_003, name: 'Olga Sales', email: 'olga@acme.example' } }
const SALES = { id: 7_100_001, name: 'Sales pipeline', is_main: true, statuses: [{ id: 71_000_011, name: 'Incoming leads', sort: 10, type: 1 as const }, { id: 71_000_012, name: 'Initial contact', sort: 20 }, { id: 71_000_013, name: 'Discussions', sort: 30 }, { id: 71_000_014, name: 'Decision making', sort: 40 }] }
const PARTNERS = { id: 7_100_002, name: 'Partners', is_main: false, statuses: [{ id: 71_000_021, name: 'Partner incoming', sort: 10, type: 1 as const }, { id: 71_000_022, name: 'Partner talks', sort: 20 }] }

type State = { connected: boolean; status?: string; settings?: { pipelineId: number | null; statusId: number | null; responsibleUserIds: number[]; leadMode: string }; catalog?: { users: { id: number }[] } }

/**
 * The CRM page of the admin web in Chromium, against the app pointed at a fake Kommo: the steps
 * and the form to connect an account with a long-lived token (a refused token says why), the
 * account with its pipelines (stages in order) and users, where new leads go (only the changed
 * settings are sent; a user no longer in Kommo is refused inline), reading the account again, a
 * blocked account's warning with "Connect again", the webhook to add by hand, the notices
 * "Connect with Kommo" comes back with, a member's read-only view, Russian, and disconnecting.
 * At 1366 px nothing overflows sideways; a screenshot and an axe-core check of each state.
 */
describe.skipIf(!available)('admin web: Kommo in Chromium', () => {
  let kommo: FakeKommo
  let t: TestApp
  let org: TestOrg
  let browser: Browser
  let page: Page
  const errors: string[] = []

  beforeAll(async () => {
    execFileSync(process.execPath, ['admin-web/build-web.mjs'], { cwd: root, stdio: 'ignore' })
    await mkdir(OUTPUT, { recursive: true })
    kommo = await startFakeKommo()
    kommo.addAccount({ subdomain: 'acme', accountId: 31000003, name: 'Acme', users: [USERS.anna, USERS.mark, USERS.olga], pipelines: [SALES, PARTNERS] })
    kommo.addLongLivedToken('acme', TOKEN)
    t = await startTestApp({ env: { KOMMO_API_URL: kommo.apiUrlTemplate, ...CLIENT } })
    org = await createOrg(t, { name: 'Acme' })
    browser = await launchChromium()
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    page = await context.newPage()
    page.on('pageerror', (e) => errors.push(e.message))
    // 4xx answers the page shows as it should, and the 503 of reading a blocked account.
    page.on('console', (m) => m.type() === 'error' && !/status of (4(0[139]|04|22)|503)/.test(m.text()) && errors.push(m.text()))
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await t?.close()
    await kommo?.close()
  })

  const check = (name: string, p: Page = page) => checkPage(p, name, OUTPUT)
  /** Nothing on the page is wider than the window (1366 px). */
  const noSidewaysScroll = async (p: Page = page) => {
    const { scroll, client } = await p.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }))
    expect(scroll).toBeLessThanOrEqual(client)
  }
  const state = async () => (await page.evaluate(() => fetch('/api/v1/crm/kommo').then((r) => r.json()))) as State
  const go = async (p: Page, hash: string, heading: string | RegExp) => {
    await p.click(`nav a[href="#${hash}"]`)
    await p.getByRole('heading', { level: 1, name: heading }).waitFor()
  }
  const signIn = async (p: Page, email: string, password: string) => {
    await p.goto(`${t.url}/admin/#/signin`)
    await p.getByLabel('Email').fill(email)
    await p.getByLabel('Password').fill(password)
    await p.getByRole('button', { name: 'Sign in' }).click()
    await p.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
  }
  const stages = (name: string) => page.getByRole('list', { name: `Stages of ${name}` }).getByRole('listitem').allTextContents()

  it('connects Kommo with a long-lived token, shows its pipelines and users, saves where new leads go, reads it again, warns when it is blocked, and disconnects', async () => {
    await signIn(page, org.email, org.password)
    await go(page, '/crm', 'CRM')

    // Not connected: the steps, the subdomain and the token (a password field), and "Connect with Kommo" as this server offers it.
    const kommoCard = page.getByRole('region', { name: 'Kommo', exact: true })
    await kommoCard.getByText('Kommo is not connected.').waitFor()
    const connect = page.getByRole('region', { name: 'Connect Kommo with a long-lived token' })
    await connect.getByText('open Settings → Integrations, choose Create integration and make it a private integration').waitFor()
    await connect.getByText('open Keys and scopes and generate a long-lived token').waitFor()
    await connect.getByText('Copy your account’s subdomain').waitFor()
    expect(await connect.getByLabel('Long-lived token').getAttribute('type')).toBe('password')
    expect(await page.getByRole('link', { name: 'Connect with Kommo' }).getAttribute('href')).toBe('/api/v1/crm/kommo/oauth/start')
    await noSidewaysScroll()
    await check('kommo-01-connect')

    // A token Kommo refuses: the form says why, keeps the fields, and nothing is connected.
    await connect.getByLabel('Subdomain').fill('acme')
    await connect.getByLabel('Long-lived token').fill(REFUSED)
    await connect.getByRole('button', { name: 'Connect Kommo' }).click()
    await connect.getByRole('alert').waitFor()
    expect(await connect.getByRole('alert').textContent()).not.toContain(REFUSED)
    expect(await connect.getByLabel('Subdomain').inputValue()).toBe('acme')
    expect((await state()).connected).toBe(false)

    // The account's whole address is accepted as its subdomain.
    await connect.getByLabel('Subdomain').fill('Acme.kommo.com')
    await connect.getByLabel('Long-lived token').fill(TOKEN)
    await connect.getByRole('button', { name: 'Connect Kommo' }).click()
    await page.getByRole('status').filter({ hasText: 'Kommo is connected: Acme. Pipelines: 2, users: 3.' }).waitFor()
    await kommoCard.getByText('Acme (acme.kommo.com)').waitFor()
    await kommoCard.getByText('Long-lived token of a private integration').waitFor()
    await kommoCard.getByText('Working', { exact: true }).waitFor()
    await kommoCard.getByText('phone, email').waitFor()
    expect(await connect.count()).toBe(0)
    expect(await page.content()).not.toContain(TOKEN)
    expect(kommo.callsOf('/api/v4/account', 'acme').at(-1)!.token).toBe(TOKEN)

    // The pipelines with their stages in Kommo's order (won and lost last), and the users.
    const pipelines = page.getByRole('region', { name: 'Pipelines' })
    expect((await pipelines.getByRole('heading', { level: 4 }).allTextContents()).map((h) => h.trim())).toEqual(['Sales pipeline main', 'Partners'])
    expect(await stages('Sales pipeline')).toEqual(['Incoming leads', 'Initial contact', 'Discussions', 'Decision making', 'Closed - won', 'Closed - lost'])
    expect(await stages('Partners')).toEqual(['Partner incoming', 'Partner talks', 'Closed - won', 'Closed - lost'])
    const users = page.getByRole('region', { name: 'Users' })
    for (const u of Object.values(USERS)) await users.getByRole('cell', { name: u.name }).waitFor()
    await noSidewaysScroll()
    await check('kommo-02-connected')

    // Where new leads go: the main pipeline's first stage by default; the starting stage and a responsible user change, and only they are sent.
    const settings = page.getByRole('region', { name: 'New leads' })
    const pipeline = settings.getByLabel('Pipeline', { exact: true })
    const start = settings.getByLabel('Starting status')
    expect(await pipeline.locator('option:checked').textContent()).toBe('The main pipeline (Sales pipeline)')
    expect(await start.locator('option:checked').textContent()).toBe('Its first stage (Incoming leads)')
    // Won and lost are where leads end, not where they start.
    expect(await start.locator('option').allTextContents()).toEqual(['Its first stage (Incoming leads)', 'Incoming leads', 'Initial contact', 'Discussions', 'Decision making'])
    await settings.getByText('New leads go to the checked users in turn').waitFor()
    expect(await settings.getByRole('radio', { name: 'When the agent decides' }).isChecked()).toBe(true)
    await start.selectOption({ label: 'Discussions' })
    await settings.getByRole('checkbox', { name: USERS.mark.name }).check()
    const [put] = await Promise.all([page.waitForRequest((r) => r.url().endsWith('/api/v1/crm/kommo/settings') && r.method() === 'PUT'), settings.getByRole('button', { name: 'Save the settings' }).click()])
    expect(put.postDataJSON()).toEqual({ statusId: 71_000_013, responsibleUserIds: [USERS.mark.id] })
    await settings.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
    expect((await state()).settings).toEqual({ pipelineId: null, statusId: 71_000_013, responsibleUserIds: [USERS.mark.id], leadMode: 'agent' })
    await settings.getByRole('button', { name: 'Save the settings' }).click()
    await settings.getByRole('status').filter({ hasText: 'Nothing has changed.' }).waitFor()

    // Two responsible users: in turn, in the order listed.
    await settings.getByRole('checkbox', { name: USERS.anna.name }).check()
    await settings.getByText('In turn: Anna Admin → Mark Manager, then the first again.').waitFor()
    await settings.getByRole('checkbox', { name: USERS.anna.name }).uncheck()

    // Read again after Kommo changed: Mark left, Nina came. Mark, still chosen, is listed as gone; saving is refused inline until he is unchecked.
    const account = kommo.account('acme')
    account.users.splice(account.users.findIndex((u) => u.id === USERS.mark.id), 1)
    account.users.push({ id: 9_100_004, name: 'Nina New', email: 'nina@acme.example' })
    await page.getByRole('button', { name: 'Read again' }).click()
    await page.getByRole('status').filter({ hasText: 'The account is read again. Pipelines: 2, users: 3.' }).waitFor()
    await users.getByRole('cell', { name: 'Nina New' }).waitFor()
    expect(await users.getByRole('cell', { name: USERS.mark.name }).count()).toBe(0)
    const gone = settings.getByRole('checkbox', { name: `${USERS.mark.id} (no longer in Kommo)` })
    expect(await gone.isChecked()).toBe(true)
    await settings.getByRole('radio', { name: 'For every new customer' }).check()
    await settings.getByRole('button', { name: 'Save the settings' }).click()
    await settings.getByRole('alert').filter({ hasText: `Kommo has no user ${USERS.mark.id}` }).waitFor()
    expect((await state()).settings!.leadMode).toBe('agent')
    await gone.uncheck()
    await settings.getByRole('checkbox', { name: 'Nina New' }).check()
    await settings.getByRole('button', { name: 'Save the settings' }).click()
    await settings.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
    expect(await settings.getByRole('alert').count()).toBe(0)
    expect((await state()).settings).toEqual({ pipelineId: null, statusId: 71_000_013, responsibleUserIds: [9_100_004], leadMode: 'every_contact' })

    // Another pipeline starts at its own stages.
    await pipeline.selectOption({ label: 'Partners' })
    expect(await start.locator('option').allTextContents()).toEqual(['Its first stage (Partner incoming)', 'Partner incoming', 'Partner talks'])
    await start.selectOption({ label: 'Partner talks' })
    const [second] = await Promise.all([page.waitForRequest((r) => r.url().endsWith('/api/v1/crm/kommo/settings') && r.method() === 'PUT'), settings.getByRole('button', { name: 'Save the settings' }).click()])
    expect(second.postDataJSON()).toEqual({ pipelineId: PARTNERS.id, statusId: 71_000_022 })
    await settings.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
    expect((await state()).settings).toMatchObject({ pipelineId: PARTNERS.id, statusId: 71_000_022 })
    await noSidewaysScroll()
    await check('kommo-03-settings')

    // Russian.
    await page.getByLabel('Language').selectOption('ru')
    await page.getByRole('heading', { level: 1, name: 'CRM' }).waitFor()
    await page.getByRole('heading', { name: 'Новые сделки' }).waitFor()
    await page.getByRole('status').filter({ hasText: 'Аккаунт прочитан снова. Воронок: 2, пользователей: 3.' }).waitFor()
    await page.getByLabel('Начальный этап').waitFor()
    await page.getByRole('group', { name: 'Ответственные' }).waitFor()
    await page.getByRole('radio', { name: 'Для каждого нового клиента' }).waitFor()
    await page.getByRole('button', { name: 'Прочитать снова' }).waitFor()
    await page.getByText('Долгосрочный токен частной интеграции').waitFor()
    await page.getByRole('heading', { name: 'Воронки' }).waitFor()
    await page.getByText('Работает', { exact: true }).waitFor()
    await noSidewaysScroll()
    await check('kommo-04-ru')
    await page.getByLabel('Язык').selectOption('en')

    // Kommo blocks the account: reading it fails, the page warns and offers to connect again, with the subdomain filled in.
    kommo.blockAccount('acme')
    await page.getByRole('button', { name: 'Read again' }).click()
    const warning = page.locator('.kommo-problem[role="alert"]')
    await warning.filter({ hasText: 'Kommo has blocked API access for this account' }).waitFor()
    await kommoCard.getByText('Blocked by Kommo', { exact: true }).waitFor()
    expect((await state()).status).toBe('blocked')
    await noSidewaysScroll()
    await check('kommo-05-blocked')
    await warning.getByRole('button', { name: 'Connect again' }).click()
    const again = page.getByRole('region', { name: 'Connect Kommo with a long-lived token' })
    expect(await again.getByLabel('Subdomain').inputValue()).toBe('acme')
    kommo.unblockAccount('acme')
    await again.getByLabel('Long-lived token').fill(TOKEN)
    await again.getByRole('button', { name: 'Connect Kommo' }).click()
    await page.getByRole('status').filter({ hasText: 'Kommo is connected: Acme.' }).waitFor()
    await kommoCard.getByText('Working', { exact: true }).waitFor()
    expect(await warning.count()).toBe(0)
    expect(await again.count()).toBe(0)
    // The settings stay with the account.
    expect((await state()).settings).toMatchObject({ pipelineId: PARTNERS.id, statusId: 71_000_022, leadMode: 'every_contact' })

    // A webhook the server could not register: the URL to add in Kommo by hand, with the steps and a Copy button.
    const manualUrl = `${t.url}/webhooks/kommo/abc123`
    await page.route('**/api/v1/crm/kommo', async (route) => {
      if (route.request().method() !== 'GET') return route.fallback()
      const res = await route.fetch()
      await route.fulfill({ response: res, json: { ...(await res.json()), webhook: { registered: false, manualUrl } } })
    })
    await page.reload()
    const webhook = page.getByRole('region', { name: 'Changes made in Kommo' })
    await webhook.getByText('This Kommo plan does not let Switchboard add its webhook through the API').waitFor()
    await webhook.getByText('lead status changed and lead responsible changed').waitFor()
    await webhook.getByText('choose Web hooks (top right)').waitFor()
    expect(await webhook.locator('.webhook-url code').textContent()).toBe(manualUrl)
    await webhook.getByRole('button', { name: 'Copy the webhook URL' }).waitFor()
    await noSidewaysScroll()
    await check('kommo-06-webhook')
    await page.unroute('**/api/v1/crm/kommo')

    // A member sees the account and its settings, and changes nothing.
    const email = `member-${Date.now()}@example.com`
    const user = await t.app.store.users.create({ email, name: 'Mia Member', passwordHash: await hashPassword('member password 1') })
    await t.app.store.users.addMembership({ organizationId: org.organizationId, userId: user.id, role: 'member' })
    const memberContext = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    const member = await memberContext.newPage()
    await signIn(member, email, 'member password 1')
    await go(member, '/crm', 'CRM')
    await member.getByText('Acme (acme.kommo.com)').waitFor()
    await member.getByText('Only owners and admins change these settings.').waitFor()
    expect(await member.getByLabel('Starting status').isDisabled()).toBe(true)
    expect(await member.getByRole('button', { name: 'Read again' }).count()).toBe(0)
    expect(await member.getByRole('button', { name: 'Disconnect Kommo' }).count()).toBe(0)
    expect(await member.getByRole('button', { name: 'Save the settings' }).count()).toBe(0)
    await noSidewaysScroll(member)
    await check('kommo-07-member', member)
    await memberContext.close()

    // Disconnect, after confirming: the form is back.
    await page.getByRole('button', { name: 'Disconnect Kommo' }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByText('Disconnect the Kommo account Acme?').waitFor()
    await dialog.getByRole('button', { name: 'Disconnect' }).click()
    await page.getByRole('status').filter({ hasText: 'Kommo is disconnected.' }).waitFor()
    await page.getByRole('region', { name: 'Connect Kommo with a long-lived token' }).waitFor()
    expect((await state()).connected).toBe(false)
    await check('kommo-08-disconnected')

    // What "Connect with Kommo" comes back with (a page load): a notice, or why it failed; the address forgets it.
    await page.goto('about:blank')
    await page.goto(`${t.url}/admin/#/crm?connected=kommo`)
    await page.getByRole('status').filter({ hasText: 'Kommo is connected.' }).waitFor()
    expect(new URL(page.url()).hash).toBe('#/crm')
    await page.goto('about:blank')
    await page.goto(`${t.url}/admin/#/crm?kommoError=${encodeURIComponent('Kommo says: access_denied')}`)
    await page.getByRole('alert').filter({ hasText: 'Kommo could not be connected: Kommo says: access_denied' }).waitFor()
    expect(new URL(page.url()).hash).toBe('#/crm')

    expect(t.logs.text()).not.toContain(TOKEN)
    expect(errors).toEqual([])
  }, 180_000)
})
