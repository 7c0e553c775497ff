import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { ROOT as root } from '../support/main-process.ts'
import { createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'
import { execFileSync } from 'node:child_process'

const OUTPUT = path.join(root, 'tests/output/admin-web')
const available = chromiumAvailable('live admin web browser test')

/**
 * Two browsers at once: a customer on the web chat page, an operator in the admin web. The
 * customer asks for a person; without a reload the operator sees the handoff in the list and the
 * menu's badge (and a browser notification, which they allowed), takes it, sees the next customer
 * message arrive in the open transcript, and replies; the customer sees the reply.
 */
describe.skipIf(!available)('live conversations in Chromium', () => {
  let t: TestApp
  let org: TestOrg
  let browser: Browser
  let operatorContext: BrowserContext
  let customerContext: BrowserContext
  let op: Page
  let customer: Page
  const errors: string[] = []

  beforeAll(async () => {
    execFileSync(process.execPath, ['admin-web/build-web.mjs'], { cwd: root, stdio: 'ignore' })
    await mkdir(OUTPUT, { recursive: true })
    t = await startTestApp()
    org = await createOrg(t, { name: 'Harbour', docs: [TELEGRAM_DOC] })
    browser = await launchChromium()
    // axe-core is injected into each page for the check; the page's own CSP would refuse it.
    operatorContext = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    await operatorContext.grantPermissions(['notifications'], { origin: t.url })
    // Notifications the page shows are recorded, to be asserted on.
    await operatorContext.addInitScript(() => {
      const shown: string[] = []
      ;(window as unknown as { shownNotifications: string[] }).shownNotifications = shown
      const Original = window.Notification
      class Recorded extends Original {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options)
          shown.push(`${title}: ${options?.body ?? ''}`)
        }
      }
      Object.defineProperty(window, 'Notification', { value: Recorded })
    })
    customerContext = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-GB' })
    op = await operatorContext.newPage()
    op.on('pageerror', (e) => errors.push(e.message))
    op.on('console', (m) => m.type() === 'error' && !/status of 40[139]/.test(m.text()) && errors.push(m.text()))
    customer = await customerContext.newPage()
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await t?.close()
  })

  it('shows a handoff live to the operator, who takes it and replies; the customer sees the reply', async () => {
    await op.goto(`${t.url}/admin/#/signin`)
    await op.getByLabel('Email').fill(org.email)
    await op.getByLabel('Password').fill(org.password)
    await op.getByRole('button', { name: 'Sign in' }).click()
    await op.click('nav a[href="#/conversations"]')
    await op.getByRole('heading', { level: 1, name: 'Conversations' }).waitFor()
    await op.getByText('Live updates on').waitFor()
    await op.getByRole('button', { name: 'Notify me of new handoffs' }).click()
    await op.getByText('Browser notifications are on for new handoffs.').waitFor()
    await op.getByText('Nobody is waiting for a person.').waitFor()
    await checkPage(op, 'live-01-conversations-empty-1366', OUTPUT)
    // A marker that a reload would wipe.
    await op.evaluate(() => ((window as unknown as { marker: number }).marker = 42))

    // The customer, in another browser, asks for a person.
    await customer.goto(`${t.url}/chat/${org.webchatKey}`)
    await customer.fill('#text', 'I want to talk to a person about my order')
    await customer.keyboard.press('Enter')
    await customer.locator('.msg.system, .msg.agent').first().waitFor()

    const waiting = op.locator('section', { has: op.getByRole('heading', { name: 'Waiting for a person' }) }).locator('tbody tr')
    await waiting.first().waitFor({ timeout: 15_000 })
    await expect.poll(() => waiting.first().textContent()).toContain('Customer asked for a person')
    expect(await waiting.first().textContent()).toContain('System: I have asked a person from our team to join')
    expect(await waiting.first().textContent()).toContain('Harbour assistant')
    expect(await waiting.first().textContent()).not.toContain('customer_request')
    await op.locator('nav .nav-badge', { hasText: '1' }).waitFor()
    expect(await op.getByRole('status', { name: '1 waiting for a person' }).count()).toBe(1)
    await expect.poll(() => op.evaluate(() => (window as unknown as { shownNotifications: string[] }).shownNotifications)).toEqual(['A customer is waiting for a person: Customer asked for a person'])
    expect(await op.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42)
    await checkPage(op, 'live-02-conversations-handoff-1366', OUTPUT)

    // Take: the transcript opens, held by the operator; Take is no longer offered.
    await waiting.first().getByRole('button', { name: /^Take/ }).click()
    await op.getByText('You hold this conversation').waitFor()
    expect(await op.getByRole('button', { name: /^Take/ }).count()).toBe(0)
    await op.locator('.bubble.you', { hasText: 'about my order' }).waitFor()
    await op.getByRole('heading', { name: 'What the agent remembers' }).waitFor()
    await expect.poll(() => op.locator('nav .nav-badge').count()).toBe(0)

    // The customer writes again: it appears in the open transcript without a reload.
    await customer.fill('#text', 'My order number is 4711')
    await customer.keyboard.press('Enter')
    await op.locator('.bubble.you', { hasText: 'My order number is 4711' }).waitFor({ timeout: 15_000 })

    await op.getByLabel('Reply to the customer').fill('Hello, this is Hanna. Order 4711 ships tomorrow.')
    await op.getByRole('button', { name: 'Send reply' }).click()
    await op.locator('.bubble.operator', { hasText: 'this is Hanna' }).waitFor()
    expect(await op.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42)
    await checkPage(op, 'live-03-conversation-held-1366', OUTPUT)

    // The customer sees the operator's reply in the chat.
    await customer.locator('.msg', { hasText: 'Order 4711 ships tomorrow' }).waitFor({ timeout: 20_000 })

    // The list row now names the holder; then both pages at a phone's width.
    await op.click('nav a[href="#/conversations"]')
    const row = op.locator('section', { has: op.getByRole('heading', { name: 'All conversations' }) }).locator('tbody tr').first()
    await expect.poll(() => row.textContent()).toContain('You')
    await op.setViewportSize({ width: 390, height: 844 })
    await checkPage(op, 'live-04-conversations-390', OUTPUT)
    await row.getByRole('link', { name: /^Open/ }).click()
    await op.getByText('You hold this conversation').waitFor()
    await checkPage(op, 'live-05-conversation-390', OUTPUT)
    await op.setViewportSize({ width: 1366, height: 900 })
    expect(errors).toEqual([])
  }, 180_000)

  it('filters the list, and erases a contact after a confirmation', async () => {
    const contactId = (await t.app.store.conversations.list(org.organizationId, { limit: 1, state: 'handoff' }))[0]!.contactId
    await t.app.memory.remember({ organizationId: org.organizationId, contactId, key: 'order', value: '4711' })
    await op.click('nav a[href="#/conversations"]')
    const all = op.locator('section', { has: op.getByRole('heading', { name: 'All conversations' }) })
    await all.locator('tbody tr').first().waitFor()
    await op.getByLabel('Channel').selectOption('telegram')
    await all.getByText('No conversations yet').waitFor()
    await op.getByLabel('Channel').selectOption('')
    await op.getByLabel('Only mine').check()
    await expect.poll(() => all.locator('tbody tr').count()).toBe(1)

    await all.locator('tbody tr').first().getByRole('link', { name: /^Open/ }).click()
    await op.getByText('order: 4711').waitFor()
    await checkPage(op, 'live-06-contact-profile-1366', OUTPUT)
    await op.getByRole('button', { name: 'Erase this contact' }).click()
    await op.getByRole('dialog').getByRole('button', { name: 'Erase for good' }).click()
    await op.getByText(/Contact erased: \d+ messages, 1 facts and 0 leads deleted/).waitFor()
    expect(await t.app.db.prisma.contact.count({ where: { id: contactId } })).toBe(0)
    expect(await t.app.db.prisma.auditEvent.count({ where: { organizationId: org.organizationId, action: 'contact.erased', target: contactId } })).toBe(1)
    expect(errors).toEqual([])
  }, 120_000)
})
