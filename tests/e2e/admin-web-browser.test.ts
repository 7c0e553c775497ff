import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { freePort, ROOT as root, startMain, type MainProcess } from '../support/main-process.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'

const OUTPUT = path.join(root, 'tests/output/admin-web')
const available = chromiumAvailable('admin web browser test')

const RETURNS_DOC = `# Returns policy

## Refunds

Customers can return any item within 30 days of delivery for a full refund. Send the parcel to 12 Harbour Street with the order number inside.

## Exchanges

An exchange for another size is free of charge and takes about five working days.
`

/**
 * The admin web in Chromium against the real app (bots/main.ts, as `npm start` runs it) on a
 * temporary DATA_DIR: sign up, create an agent, create and rename a knowledge collection, upload a
 * document by drag and drop and wait for it to be ready, write, edit and delete an article, write
 * one in the collection and move the document there, give the agent that collection, search within
 * it and see the article's passage with its scores, ask in the test chat and see a cited answer,
 * take and release a handoff, open billing; a screenshot and an axe-core check of every page.
 */
describe.skipIf(!available)('admin web in Chromium', () => {
  let dataDir: string
  let app: MainProcess | undefined
  const out = () => app!.output()
  let base: string
  let browser: Browser
  let context: BrowserContext
  let page: Page
  const errors: string[] = []

  beforeAll(async () => {
    execFileSync(process.execPath, ['admin-web/build-web.mjs'], { cwd: root, stdio: 'ignore' })
    await mkdir(OUTPUT, { recursive: true })
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-admin-web-'))
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    app = await startMain({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', DEMO_SEED: 'false', PUBLIC_URL: base }, 'Switchboard is listening')
    browser = await launchChromium()
    // axe-core is injected into each page for the check; the page's own CSP would refuse it.
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    page = await context.newPage()
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && !/status of 40[139]/.test(m.text()) && errors.push(m.text()))
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await app?.stop()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  /** Saves a full-page screenshot and runs axe-core: no serious or critical violations. */
  const check = (name: string, p: Page = page) => checkPage(p, name, OUTPUT)

  const go = async (hash: string, heading: string | RegExp) => {
    await page.click(`nav a[href="#${hash}"]`)
    await page.getByRole('heading', { level: 1, name: heading }).waitFor()
  }

  it('serves the built pages at /admin/ with a strict content security policy; / leads there', async () => {
    const root = await fetch(`${base}/`, { redirect: 'manual' })
    expect(root.status).toBe(302)
    expect(root.headers.get('location')).toBe('/admin/')
    const index = await fetch(`${base}/admin/`)
    expect(index.status).toBe(200)
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'")
    expect(index.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    expect(index.headers.get('x-frame-options')).toBe('DENY')
    const script = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(await index.text())![1]!
    const asset = await fetch(`${base}${script}`)
    expect(asset.status).toBe(200)
    expect(asset.headers.get('cache-control')).toContain('immutable')
    expect((await fetch(`${base}/admin/assets/missing.js`)).status).toBe(404)
  })

  it('signs up, creates an agent, feeds it a document, chats, handles a handoff, and shows every page', async () => {
    await page.goto(`${base}/`)
    await page.getByRole('heading', { name: 'Sign in to Switchboard' }).waitFor()
    expect(page.url()).toBe(`${base}/admin/#/signin`)
    await check('01-sign-in')

    // A wrong password is refused with a readable message.
    await page.getByLabel('Email').fill('nobody@example.com')
    await page.getByLabel('Password').fill('wrong password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'Email or password is wrong' }).waitFor()

    await page.getByRole('link', { name: 'Create an organization' }).click()
    await page.getByRole('heading', { name: 'Create your organization' }).waitFor()
    await page.getByLabel('Organization name').fill('Harbour Shop')
    await page.getByLabel('Your name').fill('Hanna Berg')
    await page.getByLabel('Email').fill('hanna@harbour.example')
    await page.getByLabel('Password').fill('a long enough password')
    await check('02-sign-up')
    await page.getByRole('button', { name: 'Create organization' }).click()
    // A new organization lands on the first-run setup (tests/e2e/admin-web-onboarding.test.ts); skipped here.
    await page.getByRole('heading', { level: 1, name: 'Set up your agent' }).waitFor()
    await page.getByRole('button', { name: 'Skip setup' }).click()
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
    await page.getByText('No responses in this period yet').waitFor()
    const cookies = await context.cookies()
    expect(cookies.find((c) => c.name === 'sb_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api' })
    await check('03-dashboard-empty')

    // Agents: create one, edit it, see it listed.
    await go('/agents', 'Agents')
    await page.getByText('No agents yet').waitFor()
    await page.getByLabel('New agent').fill('Harbour helper')
    await page.getByRole('button', { name: 'Create' }).click()
    await page.getByRole('heading', { name: 'Edit agent Harbour helper' }).waitFor()
    await page.getByLabel('Instructions').fill('Answer questions about orders, returns and exchanges.')
    await page.getByLabel('Response delay (ms)').fill('0')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
    await check('04-agent-edit')
    await go('/agents', 'Agents')
    await page.getByRole('link', { name: 'Harbour helper' }).first().waitFor()
    await check('05-agents')

    // Knowledge: a collection, created and renamed; a second one of the same name is refused.
    await go('/knowledge', 'Knowledge')
    await page.getByText('No knowledge yet').waitFor()
    // Semantic search is on (KNOWLEDGE_VECTORS): no notice says otherwise.
    expect(await page.getByTestId('semantic-off').count()).toBe(0)
    await page.getByText('No collections yet').waitFor()
    await page.getByLabel('New collection').fill('Deliveries')
    await page.getByRole('button', { name: 'Create collection' }).click()
    await page.getByRole('button', { name: 'Rename: Deliveries' }).click()
    await page.getByLabel('New name for “Deliveries”').fill('Delivery')
    await page.getByRole('button', { name: 'Save', exact: true }).click()
    await page.getByRole('button', { name: 'Rename: Delivery' }).waitFor()
    await page.getByLabel('New collection').fill('Delivery')
    await page.getByRole('button', { name: 'Create collection' }).click()
    await page.getByRole('alert').filter({ hasText: 'A collection named "Delivery" exists already' }).waitFor()
    await page.getByLabel('New collection').fill('Old offers')
    await page.getByRole('button', { name: 'Create collection' }).click()
    await page.getByRole('button', { name: 'Rename: Old offers' }).waitFor()
    await page.locator('tr', { hasText: 'Old offers' }).getByRole('button', { name: 'Delete' }).click()
    await page.getByRole('dialog').filter({ hasText: 'Delete the collection “Old offers”?' }).getByRole('button', { name: 'Delete' }).click()
    await page.locator('tr', { hasText: 'Old offers' }).waitFor({ state: 'detached' })

    // Drop a file on the drop zone, watch it upload and process until ready.
    await page.evaluate((text) => {
      const transfer = new DataTransfer()
      transfer.items.add(new File([text], 'returns.md', { type: 'text/markdown' }))
      document.querySelector('.dropzone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }))
    }, RETURNS_DOC)
    await page.getByText('returns.md is uploaded and being processed.').waitFor()
    await page.locator('tr[data-status="ready"]', { hasText: 'Returns policy' }).waitFor({ timeout: 30_000 })
    // An article written in Markdown, previewed, then added like a file.
    await page.getByLabel('Title').fill('Opening hours')
    await page.getByLabel('Text (Markdown)').fill('# Opening hours\n\nThe shop is open:\n\n- Monday to Friday: **9:00 to 18:00**\n- Saturday: 10:00 to 14:00')
    await page.getByRole('button', { name: 'Preview' }).click()
    expect(await page.locator('.preview strong').textContent()).toBe('9:00 to 18:00')
    expect(await page.locator('.preview li').count()).toBe(2)
    await page.getByRole('button', { name: 'Add to the knowledge' }).click()
    await page.getByText('“Opening hours” is added and being processed.').waitFor()
    await page.locator('tr[data-status="ready"]', { hasText: 'Opening hours' }).waitFor({ timeout: 30_000 })
    // Opened again from the table, edited and saved: it is indexed again; then deleted.
    await page.getByRole('button', { name: 'Write a new article' }).click()
    await page.getByRole('button', { name: 'Edit: Opening hours' }).click()
    await page.getByRole('heading', { name: 'Edit the article' }).waitFor()
    expect(await page.getByLabel('Text (Markdown)').inputValue()).toContain('Saturday: 10:00 to 14:00')
    // The focus moves to the opened article's title.
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.value)).toBe('Opening hours')
    await page.getByLabel('Text (Markdown)').fill('# Opening hours\n\nMonday to Saturday, 9:00 to 18:00.')
    await page.getByRole('button', { name: 'Save the article' }).click()
    await page.getByText('“Opening hours” is saved and being indexed again.').waitFor()
    await page.locator('.article-status .badge', { hasText: 'Ready' }).waitFor({ timeout: 30_000 })
    const opening = await page.evaluate(() => fetch('/api/v1/knowledge/articles').then((r) => r.json()))
    const article = await page.evaluate((id) => fetch(`/api/v1/knowledge/articles/${id}`).then((r) => r.json()), opening.articles[0].id)
    expect(article.markdown).toContain('Monday to Saturday')
    await page.getByRole('button', { name: 'Delete the article' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
    await page.getByRole('heading', { name: 'Write an article' }).waitFor()
    await page.locator('tr', { hasText: 'Opening hours' }).waitFor({ state: 'detached' })

    // An article written in the collection; the document moved into it too.
    await page.getByLabel('Title').fill('Delivery times')
    await page.getByLabel('Collection of the article').selectOption({ label: 'Delivery' })
    await page.getByLabel('Text (Markdown)').fill('# Delivery times\n\nParcels inside the city arrive the next working day. Parcels to other regions are delivered by courier in three to five working days.')
    await page.getByRole('button', { name: 'Add to the knowledge' }).click()
    await page.locator('tr[data-status="ready"]', { hasText: 'Delivery times' }).waitFor({ timeout: 30_000 })
    await page.getByLabel('Collection of “Returns policy”').selectOption({ label: 'Delivery' })
    const collectionsCard = page.locator('section', { has: page.getByRole('heading', { name: 'Collections', exact: true }) })
    await collectionsCard.locator('tbody tr', { hasText: 'Delivery' }).locator('td:nth-child(2)', { hasText: /^2$/ }).waitFor()
    await page.getByLabel('Show the sources of').selectOption({ label: 'No collection' })
    await page.getByText('No sources in this collection.').waitFor()
    await page.getByLabel('Show the sources of').selectOption({ label: 'Delivery' })
    await page.locator('tr[data-status="ready"]', { hasText: 'Delivery times' }).waitFor()
    await check('06-knowledge-collections')

    // The agent answers from that collection only.
    await go('/agents', 'Agents')
    await page.getByRole('link', { name: 'Harbour helper' }).first().click()
    await page.getByRole('heading', { name: 'Knowledge collections' }).waitFor()
    await page.getByText('Now: all knowledge.').waitFor()
    await page.getByRole('checkbox', { name: 'Delivery' }).check()
    await page.getByRole('button', { name: 'Save collections' }).click()
    await page.getByText('Now: 1 of 1 collections.').waitFor()
    const { agents: listed } = await page.evaluate(() => fetch('/api/v1/agents').then((r) => r.json()))
    const given = await page.evaluate((id) => fetch(`/api/v1/agents/${id}/collections`).then((r) => r.json()), listed[0].id)
    expect(given.collectionIds).toHaveLength(1)
    await check('06-agent-collections')

    // Search as the agent, within the collection: the article's passage with its scores.
    await go('/knowledge', 'Knowledge')
    await page.getByLabel('Question or words').fill('refund within days')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.locator('.passages li').first().waitFor()
    expect(await page.locator('.passages li').first().textContent()).toMatch(/Returns policy.*score \d\.\d{3}.*30 days/s)
    await page.getByLabel('Question or words').fill('parcels delivered to other regions')
    await page.getByLabel('As seen by').selectOption({ label: 'Harbour helper' })
    await page.getByLabel('In collection').selectOption({ label: 'Delivery' })
    await page.getByRole('button', { name: 'Search' }).click()
    const passage = page.locator('.passages li', { hasText: 'Delivery times' }).first()
    await passage.waitFor()
    expect(await passage.locator('.collection-name').textContent()).toBe('Delivery')
    expect(await passage.locator('.scores').textContent()).toMatch(/score \d\.\d{3}.*BM25 \d+\.\d{3}.*similarity -?\d\.\d{3}/s)
    expect(await passage.textContent()).toContain('three to five working days')
    await check('06-knowledge')
    await page.getByLabel('Language').selectOption('ru')
    await page.getByRole('heading', { level: 1, name: 'Знания' }).waitFor()
    await check('06-knowledge-ru')
    await page.getByLabel('Язык').selectOption('en')

    // Test chat: a streamed answer that quotes the document and names it as the source.
    await go('/chat', 'Test chat')
    await page.getByText('Ask a question to see how the agent answers').waitFor()
    await page.getByLabel('Your message').fill('How many days do I have to return an item for a refund?')
    await page.keyboard.press('Enter')
    const answer = page.locator('.bubble.agent').last()
    await answer.locator('.sources li').first().waitFor({ timeout: 20_000 })
    expect(await answer.locator('.text').textContent()).toContain('30 days')
    expect(await answer.locator('.sources li').first().textContent()).toContain('Returns policy')
    expect(await answer.locator('.meta').textContent()).toContain('Model:')
    await check('07-test-chat')

    // A customer on the web chat asks for a person: the conversation joins the handoff queue.
    const { agents } = await page.evaluate(() => fetch('/api/v1/agents').then((r) => r.json()))
    const { inboxes } = await page.evaluate((id) => fetch(`/api/v1/agents/${id}`).then((r) => r.json()), agents[0].id)
    const key = inboxes.find((i: { channel: string; key: string | null }) => i.channel === 'webchat' && i.key).key
    const customer = await fetch(`${base}/api/v1/webchat/${key}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sessionId: 'customer-e2e-0001', text: 'I want to talk to a human, please' }) })
    expect(customer.status).toBe(200)

    await go('/channels', 'Channels')
    await page.getByRole('cell', { name: /Web chat/ }).first().waitFor()
    await check('08-channels')

    await go('/conversations', 'Conversations')
    const queued = page.locator('section', { has: page.getByRole('heading', { name: 'Waiting for a person' }) }).locator('tbody tr')
    await queued.first().waitFor()
    await check('09-conversations')
    // Taking opens the transcript, held by this operator.
    await queued.first().getByRole('button', { name: /^Take/ }).click()
    await page.getByText('You hold this conversation').waitFor()
    await page.getByLabel('Reply to the customer').fill('Hello, this is Hanna from Harbour Shop. How can I help?')
    await page.getByRole('button', { name: 'Send reply' }).click()
    await page.locator('.bubble.operator', { hasText: 'this is Hanna' }).waitFor()
    await check('10-conversation')
    await page.getByRole('button', { name: 'Give back to the bot' }).click()
    await page.locator('.badge', { hasText: 'Bot' }).waitFor()
    const history = await (await fetch(`${base}/api/v1/webchat/${key}/messages?sessionId=customer-e2e-0001`)).json()
    expect(history.messages.map((m: { author: string }) => m.author)).toContain('operator')

    // Another customer gets an answer from the bot: the dashboard counts it.
    const answered = await fetch(`${base}/api/v1/webchat/${key}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sessionId: 'customer-e2e-0002', text: 'Can I exchange a jacket for another size?' }) })
    expect((await answered.json()).messages[0].sources[0].title).toContain('Returns policy')

    // Billing: plan, usage chart, plans (checkout is off without a payment provider), history.
    await go('/billing', 'Billing')
    await page.getByRole('heading', { name: 'Current plan' }).waitFor()
    expect(await page.locator('.plan-name').first().textContent()).toContain('Trial')
    await page.locator('.chart canvas').first().waitFor()
    await page.getByText('Online payment is not set up on this server').waitFor()
    await check('11-billing')

    // Organization: invite an operator.
    await go('/organization', 'Organization')
    await page.getByRole('cell', { name: 'hanna@harbour.example' }).waitFor()
    await page.locator('form').getByLabel('Email').fill('olga@harbour.example')
    await page.locator('form').getByLabel('Role').selectOption('operator')
    await page.getByRole('button', { name: 'Send invitation' }).click()
    await page.getByText('olga@harbour.example · Operator').waitFor()
    expect(out()).toContain('#/invitation?token=')
    await check('12-organization')

    // The dashboard with data, in Russian too.
    await go('/dashboard', 'Dashboard')
    await page.locator('.stat-value').first().filter({ hasText: /^[1-9]/ }).waitFor()
    expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(2)
    await check('13-dashboard')
    await page.getByLabel('Language').selectOption('ru')
    await page.getByRole('heading', { level: 1, name: 'Сводка' }).waitFor()
    await check('14-dashboard-ru')
    await page.getByLabel('Язык').selectOption('en')

    // The CSV export downloads with the session cookie.
    const csv = await page.evaluate(() => fetch('/api/v1/reports/conversations.csv').then((r) => r.text()))
    expect(csv.split('\r\n')[0]).toBe('id,channel,agent,state,contact,messages,started_at,last_message_at')
    expect(csv).toContain('Harbour helper')

    // Keyboard: the skip link is the first stop, visible when focused, and leads to the page.
    await page.reload()
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content')
    expect(await page.evaluate(() => document.activeElement!.getBoundingClientRect().left >= 0)).toBe(true)
    await page.keyboard.press('Enter')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => document.activeElement?.tagName)).toMatch(/SELECT|A|BUTTON/)

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('heading', { name: 'Sign in to Switchboard' }).waitFor()
    expect((await context.cookies()).find((c) => c.name === 'sb_session')).toBeUndefined()
    await page.getByRole('link', { name: 'Forgot your password?' }).click()
    await page.getByRole('heading', { name: 'Reset your password' }).waitFor()
    await page.getByLabel('Email').fill('hanna@harbour.example')
    await page.getByRole('button', { name: 'Send the link' }).click()
    await page.locator('.success, [role="alert"]').first().waitFor()
    expect(await page.locator('.success, [role="alert"]').first().textContent()).toContain('If an account with this email exists')
    await check('15-reset')
    expect(out()).toContain('#/reset?token=')
    expect(out()).not.toContain('a long enough password')

    // The reset link from the log sets a new password once; the new password signs in.
    const resetUrl = /http:\/\/[^\s"]+#\/reset\?token=[\w-]+/.exec(out())![0]
    await page.goto(resetUrl)
    await page.getByLabel('New password').fill('a brand new password')
    await page.getByRole('button', { name: 'Set the new password' }).click()
    await page.getByText('Your password is changed').waitFor()
    await page.getByRole('link', { name: 'Back to sign in' }).click()
    await page.getByRole('heading', { name: 'Sign in to Switchboard' }).waitFor()
    await page.getByLabel('Email').fill('hanna@harbour.example')
    await page.getByLabel('Password').fill('a brand new password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
    expect(out()).not.toContain('a brand new password')

    // The invited operator joins through the link and gets the operator's controls only.
    const invitationUrl = /http:\/\/[^\s"]+#\/invitation\?token=[\w-]+/.exec(out())![0]
    const operator = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    const op = await operator.newPage()
    await op.goto(invitationUrl)
    await op.getByRole('heading', { name: 'Join Harbour Shop' }).waitFor()
    await op.getByLabel('Your name').fill('Olga Operator')
    await op.getByLabel('Password').fill('operator password 1')
    await check('16-invitation', op)
    await op.getByRole('button', { name: 'Join' }).click()
    await op.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
    expect(await op.locator('.topbar .who').textContent()).toContain('(Operator)')
    expect(await op.getByRole('link', { name: 'Conversations (CSV)' }).count()).toBe(0)
    await op.click('nav a[href="#/agents"]')
    await op.getByRole('link', { name: 'Harbour helper' }).first().waitFor()
    expect(await op.getByLabel('New agent').count()).toBe(0)
    expect(await op.getByRole('button', { name: 'Delete' }).count()).toBe(0)
    await op.getByRole('link', { name: 'Harbour helper' }).first().click()
    await op.getByRole('heading', { name: 'Knowledge collections' }).waitFor()
    expect(await op.getByRole('checkbox', { name: 'Delivery' }).isDisabled()).toBe(true)
    expect(await op.getByRole('button', { name: 'Save collections' }).count()).toBe(0)
    await op.click('nav a[href="#/knowledge"]')
    await op.locator('tr[data-status="ready"]', { hasText: 'Delivery times' }).getByRole('cell', { name: 'Delivery', exact: true }).waitFor()
    expect(await op.getByLabel('New collection').count()).toBe(0)
    expect(await op.getByRole('button', { name: /^Rename/ }).count()).toBe(0)
    await check('17-knowledge-operator', op)
    await op.click('nav a[href="#/conversations"]')
    await op.getByText('Nobody is waiting for a person.').waitFor()
    await operator.close()
    expect(errors).toEqual([])
  }, 180_000)
})
