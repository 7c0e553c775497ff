import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { freePort, ROOT as root, startMain, type MainProcess } from '../support/main-process.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { startFakeTelegram, updates, type FakeTelegram } from '../support/fake-telegram.ts'

const OUTPUT = path.join(root, 'tests/output/admin-web')
const available = chromiumAvailable('admin web Telegram browser test')

const BOT = { token: '7000000041:AAH-browser-bot-token-for-tests-abcdef', id: 7000000041, username: 'harbour_shop_bot', first_name: 'Harbour Shop' }
const UNKNOWN_TOKEN = '7000000099:AAH-a-token-telegram-does-not-know-xyz'

/**
 * The Telegram controls of the admin web in Chromium, against the real app (bots/main.ts) pointed
 * at a fake Bot API: connect a bot from the Channels page (a wrong token shows why), see its
 * status change when a customer writes and the bot on the agent's page, make a link code on the
 * Organization page and link with it, disconnect the bot; then add and remove another web chat.
 * A screenshot and an axe-core check of each state.
 */
describe.skipIf(!available)('admin web: Telegram in Chromium', () => {
  let tg: FakeTelegram
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
    tg = await startFakeTelegram()
    tg.addBot(BOT)
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-admin-web-tg-'))
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    app = await startMain({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', DEMO_SEED: 'false', PUBLIC_URL: base, TELEGRAM_API_ROOT: tg.url, TELEGRAM_BOT_TOKEN: '' }, 'Switchboard is listening')
    browser = await launchChromium()
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    page = await context.newPage()
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && !/status of 4(0[139]|04|22)/.test(m.text()) && errors.push(m.text()))
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await app?.stop()
    await tg?.close()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  /** Saves a full-page screenshot and runs axe-core: no serious or critical violations. */
  const check = (name: string) => checkPage(page, name, OUTPUT)

  const go = async (hash: string, heading: string | RegExp) => {
    await page.click(`nav a[href="#${hash}"]`)
    await page.getByRole('heading', { level: 1, name: heading }).waitFor()
  }
  /** Delivers an update to the bot's webhook the way Telegram would, with the secret it was given. */
  const deliver = async (inboxId: string, update: unknown) => {
    const secret = tg.callsOf('setWebhook').at(-1)!.payload.secret_token as string
    const res = await fetch(`${base}/webhooks/telegram/${inboxId}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }, body: JSON.stringify(update) })
    expect(res.status).toBe(200)
  }
  const waitForSent = async (chatId: number, count: number) => {
    const deadline = Date.now() + 20_000
    while (tg.sentTo(chatId).length < count) {
      if (Date.now() > deadline) throw new Error(`no message to ${chatId}:\n${out().slice(-3000)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  it('connects a bot from the Channels page, shows its status, links an account with a code, and disconnects it', async () => {
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

    // Without an agent there is nothing to connect a bot to: the page says what to do first.
    await go('/channels', 'Channels')
    await page.getByText('Create an agent first').waitFor()
    await page.getByText('No channels yet').waitFor()
    expect(await page.getByText('connected with their settings on the server').count()).toBe(0)

    await go('/agents', 'Agents')
    await page.getByLabel('New agent').fill('Harbour helper')
    await page.getByRole('button', { name: 'Create' }).click()
    await page.getByRole('heading', { name: 'Edit agent Harbour helper' }).waitFor()

    await go('/channels', 'Channels')
    // The kinds the server offers, each with its own form in the "Connect a channel" section.
    await page.getByRole('heading', { level: 2, name: 'Connect a channel' }).waitFor()
    const connect = page.getByRole('region', { name: 'Connect a Telegram bot' })
    await connect.getByLabel('Agent').waitFor()
    expect(await connect.getByLabel('Bot token').getAttribute('type')).toBe('password')
    await check('tg-01-channels-connect')

    // A token that is not shaped like one, then one Telegram refuses: each says why.
    await connect.getByLabel('Bot token').fill('not a token')
    await connect.getByRole('button', { name: 'Connect the bot' }).click()
    await connect.getByRole('alert').filter({ hasText: 'does not look like a bot token' }).waitFor()
    await connect.getByLabel('Bot token').fill(UNKNOWN_TOKEN)
    await connect.getByLabel('Bot token').press('Enter')
    await connect.getByRole('alert').filter({ hasText: 'Telegram did not accept this bot token' }).waitFor()
    // The error never repeats the token; the field keeps it (hidden) so that a typo can be fixed.
    expect(await connect.getByRole('alert').textContent()).not.toContain(UNKNOWN_TOKEN.split(':')[1])
    await check('tg-02-channels-invalid-token')

    // The real token, by keyboard: the bot is listed with its mode; the token is gone from the page.
    await connect.getByLabel('Bot token').fill(BOT.token)
    await connect.getByLabel('Bot token').press('Enter')
    await page.getByRole('status').filter({ hasText: `@${BOT.username} is connected.` }).waitFor()
    const row = page.locator('tr[data-channel="telegram"]')
    await row.getByText(`Telegram · @${BOT.username}`).waitFor()
    await row.getByText('Webhook').waitFor()
    await row.getByText('No messages yet').waitFor()
    expect(await connect.getByLabel('Bot token').inputValue()).toBe('')
    expect(await page.content()).not.toContain(BOT.token.split(':')[1])
    expect(tg.callsOf('setWebhook')).toHaveLength(1)
    await check('tg-03-channels-connected')

    // A customer writes to the bot: the status shows the last message received.
    const { channels } = await page.evaluate(() => fetch('/api/v1/channels').then((r) => r.json()))
    const inboxId = channels.find((c: { kind: string }) => c.kind === 'telegram').inboxId as string
    await deliver(inboxId, updates.text({ chatId: 5001, text: 'Hello, are you open on Saturday?' }))
    await waitForSent(5001, 1)
    await go('/dashboard', 'Dashboard')
    await go('/channels', 'Channels')
    await row.getByText('Working').waitFor()
    expect(await row.locator('td').nth(3).textContent()).not.toBe('never')
    await check('tg-04-channels-status')
    await page.getByLabel('Language').selectOption('ru')
    await page.getByRole('heading', { level: 1, name: 'Каналы' }).waitFor()
    await page.getByRole('heading', { name: 'Подключить бота Telegram' }).waitFor()
    await check('tg-05-channels-ru')
    await page.getByLabel('Язык').selectOption('en')

    // The agent's page lists every channel connected to it: the bot and the web chat, not the test chat.
    await go('/agents', 'Agents')
    await page.getByRole('link', { name: 'Harbour helper' }).first().click()
    const agentChannels = page.getByRole('region', { name: 'Channels' })
    await agentChannels.locator('li[data-channel="telegram"]').getByText(`Telegram · @${BOT.username}`).waitFor()
    await agentChannels.locator('li[data-channel="telegram"]').getByText('Webhook').waitFor()
    await agentChannels.locator('li[data-channel="webchat"]').getByRole('link', { name: /^Open the web chat page/ }).waitFor()
    expect(await agentChannels.locator('li').count()).toBe(2)
    await check('tg-05-agent-channels')

    // Organization: a one-time link code, sent to the bot in a private chat with the command link (in Telegram /link or /start), links the account.
    await go('/organization', 'Organization')
    await page.getByRole('button', { name: 'Make a link code' }).focus()
    await page.keyboard.press('Enter')
    const command = page.locator('code.command')
    await command.waitFor()
    const text = (await command.textContent())!
    expect(text).toMatch(/^link [A-Z2-9]{10}$/)
    await page.getByText('The code works once, until').waitFor()
    await page.getByText('Send the command link with this code to your bot in a private chat').waitFor()
    const code = text.slice('link '.length)
    await page.getByText(`In Telegram: /link ${code} or /start ${code}.`).waitFor()
    await page.getByRole('heading', { name: 'Link your messenger account' }).waitFor()
    await check('tg-06-organization-link-code')
    await deliver(inboxId, updates.text({ chatId: 6001, text: `/start ${code}` }))
    await waitForSent(6001, 1)
    expect(String(tg.sentTo(6001)[0]!.payload.text)).toContain('You are linked as an admin')

    // Disconnect, after confirming: the webhook is deleted and the bot leaves the list.
    await go('/channels', 'Channels')
    await row.getByRole('button', { name: `Disconnect @${BOT.username}` }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByText(`Disconnect @${BOT.username} from Harbour helper?`).waitFor()
    await dialog.getByRole('button', { name: 'Disconnect' }).click()
    await page.getByRole('status').filter({ hasText: `@${BOT.username} is disconnected.` }).waitFor()
    await row.waitFor({ state: 'detached' })
    expect(tg.callsOf('deleteWebhook')).toHaveLength(1)
    expect(tg.callsOf('deleteWebhook')[0]!.token).toBe(BOT.token)
    await page.locator('tr[data-channel="webchat"]').waitFor()
    await check('tg-07-channels-disconnected')
    await go('/agents', 'Agents')
    await page.getByRole('link', { name: 'Harbour helper' }).first().click()
    await agentChannels.locator('li[data-channel="webchat"]').waitFor()
    expect(await agentChannels.locator('li[data-channel="telegram"]').count()).toBe(0)

    // Another web chat for the agent, from the same section: listed with its page, then removed.
    await go('/channels', 'Channels')
    const webchat = page.getByRole('region', { name: 'Add a web chat' })
    await webchat.getByLabel('Name').fill('Campaign page')
    await webchat.getByRole('button', { name: 'Add the web chat' }).click()
    await page.getByRole('status').filter({ hasText: 'Web chat “Campaign page” is added.' }).waitFor()
    const added = page.locator('tr[data-channel="webchat"]', { hasText: 'Campaign page' })
    await added.getByRole('link', { name: /^Open the web chat page/ }).waitFor()
    expect(await page.locator('tr[data-channel="webchat"]').count()).toBe(2)
    await check('tg-08-channels-webchat-added')
    await added.getByRole('button', { name: 'Remove the web chat Campaign page' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click()
    await page.getByRole('status').filter({ hasText: 'Web chat “Campaign page” is removed.' }).waitFor()
    await added.waitFor({ state: 'detached' })

    expect(out()).not.toContain(BOT.token)
    expect(errors).toEqual([])
  }, 180_000)
})
