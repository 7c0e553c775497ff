import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { freePort, ROOT as root, startMain, type MainProcess } from '../support/main-process.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.ts'

const OUTPUT = path.join(root, 'tests/output/admin-web')
const available = chromiumAvailable('admin web Slack browser test')

const WORKSPACE = { teamId: 'T0HARBOUR', teamName: 'Harbour Shop', botToken: 'xoxb-1-2-abcdefghijkl', botUserId: 'U0HARBOURBOT', botId: 'B0HARBOUR', appId: 'A0HARBOUR' }
const SIGNING_SECRET = '8f14e45fceea167a5a36dedd4bea2543'
const UNKNOWN_TOKEN = 'xoxb-1-2-abc'

/**
 * The Slack controls of the admin web in Chromium, against the real app (bots/main.ts) pointed at
 * a fake Slack Web API: the manifest to make an app from (JSON and YAML), connecting the app with
 * its bot token and signing secret, its details (workspace, mode, Request URL, operators' channel,
 * its own manifest with the Request URL), where the web chat's handoffs go (the Slack app is a
 * desk without a channel yet: listed, disabled), the notices "Add to Slack" comes back with, the
 * link hint, and disconnecting. A screenshot and an axe-core check of each state.
 */
describe.skipIf(!available)('admin web: Slack in Chromium', () => {
  let slack: FakeSlack
  let dataDir: string
  let app: MainProcess | undefined
  const out = () => app!.output()
  let base: string
  let browser: Browser
  let page: Page
  const errors: string[] = []

  beforeAll(async () => {
    execFileSync(process.execPath, ['admin-web/build-web.mjs'], { cwd: root, stdio: 'ignore' })
    await mkdir(OUTPUT, { recursive: true })
    slack = await startFakeSlack()
    slack.addWorkspace(WORKSPACE)
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-admin-web-slack-'))
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    app = await startMain({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', DEMO_SEED: 'false', PUBLIC_URL: base, SLACK_API_URL: slack.url, TELEGRAM_BOT_TOKEN: '' }, 'Switchboard is listening')
    browser = await launchChromium()
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    page = await context.newPage()
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && !/status of 4(0[139]|04|22)/.test(m.text()) && errors.push(m.text()))
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await app?.stop()
    await slack?.close()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  /** Saves a full-page screenshot and runs axe-core: no serious or critical violations. */
  const check = (name: string) => checkPage(page, name, OUTPUT)

  const go = async (hash: string, heading: string | RegExp) => {
    await page.click(`nav a[href="#${hash}"]`)
    await page.getByRole('heading', { level: 1, name: heading }).waitFor()
  }

  it('shows the manifest, connects an app with its token and signing secret, shows its Request URL and manifest, offers it as a desk, and disconnects it', async () => {
    await page.goto(`${base}/admin/#/signup`)
    await page.getByRole('heading', { name: 'Create your organization' }).waitFor()
    await page.getByLabel('Organization name').fill('Harbour Shop')
    await page.getByLabel('Your name').fill('Hanna Berg')
    await page.getByLabel('Email').fill('hanna@harbour.example')
    await page.getByLabel('Password').fill('a long enough password')
    await page.getByRole('button', { name: 'Create organization' }).click()
    // A new organization lands on the first-run setup (tests/e2e/admin-web-onboarding.test.ts); skipped here.
    await page.getByRole('heading', { level: 1, name: 'Set up your agent' }).waitFor()
    await page.getByRole('button', { name: 'Skip setup' }).click()
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()

    await go('/agents', 'Agents')
    await page.getByLabel('New agent').fill('Harbour helper')
    await page.getByRole('button', { name: 'Create' }).click()
    await page.getByRole('heading', { name: 'Edit agent Harbour helper' }).waitFor()

    // The Slack section: the steps, the manifest to make the app from (no Request URL yet), the two secrets as password fields.
    await go('/channels', 'Channels')
    const connect = page.getByRole('region', { name: 'Connect a Slack app' })
    await connect.getByLabel('Agent').waitFor()
    await connect.getByText('Create New App → From an app manifest').waitFor()
    const manifest = connect.getByRole('region', { name: 'The manifest of the Slack app' })
    await manifest.waitFor()
    // Before the app is connected there is no Request URL, so no events and no slash command yet (Slack refuses them without one).
    expect(JSON.parse((await manifest.textContent())!)).toMatchObject({ display_information: { name: expect.any(String) }, oauth_config: { scopes: { bot: expect.arrayContaining(['chat:write', 'commands']) } } })
    await connect.getByText('This first manifest has no Request URL yet').waitFor()
    await connect.getByRole('button', { name: 'YAML' }).click()
    expect(await connect.getByRole('button', { name: 'YAML' }).getAttribute('aria-pressed')).toBe('true')
    expect(await manifest.textContent()).toMatch(/^display_information:\n/)
    await connect.getByRole('button', { name: 'Copy the manifest' }).waitFor()
    expect(await connect.getByLabel('Bot token').getAttribute('type')).toBe('password')
    expect(await connect.getByLabel('Signing secret').getAttribute('type')).toBe('password')
    // No client id and secret on this server: no "Add to Slack".
    expect(await connect.getByRole('link', { name: 'Add to Slack' }).count()).toBe(0)
    await check('slack-01-channels-connect')

    // A token Slack does not know (or that is not shaped like one): the form says why and keeps the fields.
    await connect.getByLabel('Bot token').fill(UNKNOWN_TOKEN)
    await connect.getByLabel('Signing secret').fill(SIGNING_SECRET)
    await connect.getByRole('button', { name: 'Connect the app' }).click()
    await connect.getByRole('alert').waitFor()
    expect(await connect.getByRole('alert').textContent()).not.toContain(SIGNING_SECRET)
    expect(await page.locator('tr[data-channel="slack"]').count()).toBe(0)

    // Connect the app: it is listed with its workspace, its mode and the Request URL to give Slack; the secrets are gone from the page.
    await connect.getByLabel('Bot token').fill(WORKSPACE.botToken)
    await connect.getByLabel('Signing secret').fill(SIGNING_SECRET)
    await connect.getByRole('button', { name: 'Connect the app' }).click()
    await page.getByRole('status').filter({ hasText: 'is connected' }).waitFor()
    const row = page.locator('tr[data-channel="slack"]')
    await row.getByText(/^Slack · /).waitFor()
    await row.getByText('Events by HTTP').waitFor()
    const requestUrl = row.locator('.request-url code')
    expect(await requestUrl.textContent()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webhooks\/slack\//)
    await row.getByRole('button', { name: /^Copy the Request URL of / }).waitFor()
    await row.getByText('No operators’ channel yet').waitFor()
    await row.getByText('/switchboard operators here').waitFor()
    expect(await connect.getByLabel('Bot token').inputValue()).toBe('')
    expect(await connect.getByLabel('Signing secret').inputValue()).toBe('')
    expect(await page.content()).not.toContain(SIGNING_SECRET)
    expect(await page.content()).not.toContain(WORKSPACE.botToken)
    expect(slack.calls.some((c) => c.method === 'auth.test' && c.token === WORKSPACE.botToken)).toBe(true)
    await check('slack-02-channels-connected')

    // The app's own manifest, now with its Request URL (what step 4 pastes into Slack's App Manifest page).
    await row.locator('summary', { hasText: 'Manifest' }).click()
    const own = row.getByRole('region', { name: 'The manifest of the Slack app' })
    await own.waitFor()
    const ownText = (await own.textContent())!
    expect(ownText).toContain('/switchboard')
    expect(ownText).toContain((await requestUrl.textContent())!)
    await row.getByText('Request URL in this manifest:').waitFor()
    await check('slack-03-channels-manifest')

    // Where the web chat's handoffs go: its own place (none), or the Slack app, which has no channel chosen yet, so it cannot be picked.
    const { channels } = await page.evaluate(() => fetch('/api/v1/channels').then((r) => r.json()))
    const slackRow = channels.find((c: { kind: string }) => c.kind === 'slack') as { inboxId: string; name: string; desk: { ready: boolean } | null }
    expect(slackRow.desk).toMatchObject({ ready: false })
    const webchat = page.locator('tr[data-channel="webchat"]')
    const target = webchat.getByRole('combobox', { name: /^Handoffs from Web chat · .* go to$/ })
    expect(await target.inputValue()).toBe('')
    expect(await target.locator('option').first().textContent()).toBe('Its own operators’ place (none set)')
    const option = target.locator(`option[value="${slackRow.inboxId}"]`)
    expect(await option.textContent()).toBe(`Slack · ${slackRow.name} (no channel chosen yet)`)
    expect(await option.isDisabled()).toBe(true)
    await check('slack-04-channels-handoffs')

    await page.getByLabel('Language').selectOption('ru')
    await page.getByRole('heading', { level: 1, name: 'Каналы' }).waitFor()
    await page.getByRole('heading', { name: 'Подключить приложение Slack' }).waitFor()
    await page.locator('tr[data-channel="slack"]').getByText('События по HTTP').waitFor()
    await check('slack-05-channels-ru')
    await page.getByLabel('Язык').selectOption('en')

    // What the server's "Add to Slack" redirect comes back with (a page load): a notice, or why it failed.
    await page.goto('about:blank')
    await page.goto(`${base}/admin/#/channels?connected=slack`)
    await page.getByRole('status').filter({ hasText: 'Slack is connected: its channel is in the list.' }).waitFor()
    expect(new URL(page.url()).hash).toBe('#/channels')
    await page.goto('about:blank')
    await page.goto(`${base}/admin/#/channels?slackError=${encodeURIComponent('Slack says: access_denied')}`)
    await page.getByRole('alert').filter({ hasText: 'Slack could not be connected: Slack says: access_denied' }).waitFor()
    expect(new URL(page.url()).hash).toBe('#/channels')

    // Organization: the link code's hint says how to send it in Slack.
    await go('/organization', 'Organization')
    await page.getByRole('button', { name: 'Make a link code' }).click()
    const code = (await page.locator('code.command').textContent())!.slice('link '.length)
    await page.getByText(`In Slack: /switchboard link ${code}`).waitFor()

    // Disconnect, after confirming: the app leaves the list, and the web chat's choice with it.
    await go('/channels', 'Channels')
    await row.getByRole('button', { name: `Disconnect ${slackRow.name}` }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByText(`Disconnect ${slackRow.name} from Harbour helper?`).waitFor()
    await dialog.getByRole('button', { name: 'Disconnect' }).click()
    await page.getByRole('status').filter({ hasText: `${slackRow.name} is disconnected.` }).waitFor()
    await row.waitFor({ state: 'detached' })
    expect(await page.getByRole('columnheader', { name: 'Handoffs go to' }).count()).toBe(0)
    await check('slack-06-channels-disconnected')

    expect(out()).not.toContain(WORKSPACE.botToken)
    expect(out()).not.toContain(SIGNING_SECRET)
    expect(errors).toEqual([])
  }, 180_000)
})
