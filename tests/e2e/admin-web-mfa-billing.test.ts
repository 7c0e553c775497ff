import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { generateSync } from 'otplib'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { startFakeStripe, type FakeStripe } from '../support/fake-stripe.ts'
import { ROOT } from '../support/main-process.ts'
import { api, createOrg, freePort, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

const OUTPUT = path.join(ROOT, 'tests/output/admin-web')
const available = chromiumAvailable('MFA and billing browser test')
const STRIPE_KEY = 'sk_test_51SwitchboardBrowser'
const STRIPE_SECRET = 'whsec_browser_switchboard'
const totp = (secret: string, offsetSteps = 0) => generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 })

/**
 * The admin web in Chromium against the app with Stripe replaced by a local fake (STRIPE_API_URL):
 * - MFA: enrol on the Security page (the code computed from the key the page shows), sign out,
 *   sign in with a code, sign in with a recovery code (and not twice with the same one);
 * - payments: the billing page's upgrade button, Stripe's checkout page, the signed webhooks, the
 *   plan and quota shown changed; cancel and renew in Stripe's customer portal and back;
 * - quota notices and the quota message saved on the billing page, and a customer over the quota
 *   getting that message in the web chat.
 * Each page passes axe at 1366 px and 390 px; screenshots in tests/output/admin-web/.
 */
describe.skipIf(!available)('MFA and billing in Chromium', () => {
  let t: TestApp
  let stripe: FakeStripe
  let browser: Browser
  const errors: string[] = []

  beforeEach(() => {
    errors.length = 0
  })

  beforeAll(async () => {
    await mkdir(OUTPUT, { recursive: true })
    stripe = await startFakeStripe({ secretKey: STRIPE_KEY, webhookSecret: STRIPE_SECRET, prices: { price_browser_basic: { name: 'Basic', amount: 9900 }, price_browser_pro: { name: 'Pro', amount: 24900 } } })
    const port = await freePort()
    t = await startTestApp({
      port,
      env: {
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        STRIPE_SECRET_KEY: STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
        STRIPE_PRICES: '{"basic:month":"price_browser_basic","pro:month":"price_browser_pro"}',
        STRIPE_API_URL: stripe.url,
        // One response a period on the trial, so that a customer reaches the quota at once.
        PLANS_JSON: '{"trial":{"responsesPerPeriod":1}}',
      },
    })
    stripe.webhook.url = `${t.url}/webhooks/stripe`
    browser = await launchChromium()
  }, 180_000)
  afterAll(async () => {
    await browser?.close()
    await t?.close()
    await stripe?.close()
  })

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    const page = await context.newPage()
    page.on('pageerror', (e) => errors.push(e.message))
    // Refusals the test provokes on purpose (a wrong code: 401 while signing in, 422 when signed in) are logged by Chromium too.
    page.on('console', (m) => m.type() === 'error' && !/status of (40[139]|422)/.test(m.text()) && errors.push(m.text()))
    return { context, page }
  }
  /** axe and a screenshot at 1366 px and at 390 px. */
  async function checkBoth(page: Page, name: string) {
    await checkPage(page, `${name}-1366`, OUTPUT)
    await page.setViewportSize({ width: 390, height: 844 })
    await checkPage(page, `${name}-390`, OUTPUT)
    await page.setViewportSize({ width: 1366, height: 900 })
  }
  async function signIn(page: Page, org: { email: string; password: string }) {
    await page.goto(`${t.url}/admin/#/signin`)
    await page.fill('input[name=email]', org.email)
    await page.fill('input[name=password]', org.password)
    await page.click('button[type=submit]')
  }
  const signedIn = (page: Page) => page.getByRole('navigation', { name: 'Main' }).waitFor()
  async function signOut(page: Page) {
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('heading', { level: 1, name: 'Sign in to Switchboard' }).waitFor()
  }
  const go = async (page: Page, hash: string, heading: string) => {
    await page.click(`nav a[href="#${hash}"]`)
    await page.getByRole('heading', { level: 1, name: heading }).waitFor()
  }

  it('enrols in MFA, then signs in with a code and with a recovery code (once)', async () => {
    const org = await createOrg(t, { name: 'Browser MFA' })
    const { context, page } = await newPage()
    await signIn(page, org)
    await signedIn(page)
    await go(page, '/security', 'Security')
    await page.getByText('Off.').waitFor()
    await checkBoth(page, 'security')

    await page.getByRole('button', { name: 'Set up multi-factor sign-in' }).click()
    await page.locator('img.qr').waitFor()
    expect(await page.getAttribute('img.qr', 'src')).toMatch(/^data:image\/svg\+xml;base64,/)
    expect(await page.evaluate(() => (document.querySelector('img.qr') as HTMLImageElement).naturalWidth)).toBeGreaterThan(0)
    const secret = (await page.getAttribute('.mfa-secret', 'data-secret'))!
    expect(secret).toMatch(/^[A-Z2-7]{32}$/)
    await checkBoth(page, 'security-enrol')

    const wrong = totp(secret) === '000000' ? '111111' : '000000'
    await page.fill('input[name=code]', wrong)
    await page.getByRole('button', { name: 'Turn on' }).click()
    await page.getByRole('alert').getByText('The code is wrong').waitFor()
    await page.fill('input[name=code]', totp(secret))
    await page.getByRole('button', { name: 'Turn on' }).click()
    await page.locator('.recovery-codes li').nth(9).waitFor()
    const codes = await page.locator('.recovery-codes code').allTextContents()
    expect(codes).toHaveLength(10)
    await checkBoth(page, 'security-recovery-codes')
    await page.getByRole('button', { name: 'I have saved them' }).click()
    await page.getByText(/On since .*Recovery codes left: 10\./).waitFor()

    // Sign out; the password alone now leads to the code step.
    await signOut(page)
    await signIn(page, org)
    await page.getByRole('heading', { level: 1, name: 'Enter your code' }).waitFor()
    await checkBoth(page, 'signin-code')
    // The step of the enrolment's code is spent: the next step's code.
    await page.fill('input[name=code]', totp(secret, 1))
    await page.getByRole('button', { name: 'Verify' }).click()
    await signedIn(page)

    // With a recovery code, once.
    await signOut(page)
    await signIn(page, org)
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click()
    await page.fill('input[name=recoveryCode]', codes[0]!)
    await checkPage(page, 'signin-recovery-1366', OUTPUT)
    await page.getByRole('button', { name: 'Verify' }).click()
    await signedIn(page)
    await go(page, '/security', 'Security')
    await page.getByText(/Recovery codes left: 9\./).waitFor()

    await signOut(page)
    await signIn(page, org)
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click()
    await page.fill('input[name=recoveryCode]', codes[0]!)
    await page.getByRole('button', { name: 'Verify' }).click()
    await page.getByRole('alert').getByText('The code is wrong, expired or used already').waitFor()
    await page.fill('input[name=recoveryCode]', codes[1]!)
    await page.getByRole('button', { name: 'Verify' }).click()
    await signedIn(page)
    await context.close()
    expect(errors).toEqual([])
  }, 300_000)

  it('upgrades through Stripe checkout, shows the new plan and quota, cancels and renews in the customer portal', async () => {
    const org = await createOrg(t, { name: 'Browser payer' })
    const other = await createOrg(t, { name: 'Browser bystander' })
    const { context, page } = await newPage()
    await signIn(page, org)
    await signedIn(page)
    await go(page, '/billing', 'Billing')
    await page.locator('.plan-name', { hasText: 'Trial' }).waitFor()
    await checkBoth(page, 'billing-trial')

    const popup = context.waitForEvent('page')
    await page.getByRole('button', { name: 'Choose Pro' }).click()
    const checkout = await popup
    await checkout.waitForLoadState()
    expect(checkout.url()).toMatch(new RegExp(`^${stripe.url}/c/pay/cs_test_`))
    await checkout.getByText('Subscribe to Pro').waitFor()
    await checkout.getByRole('button', { name: 'Subscribe' }).click()
    // Back on the billing page: the signed webhooks arrived before the redirect.
    await checkout.waitForURL(`${t.url}/admin/#/billing?checkout=success`)
    await checkout.locator('.plan-name', { hasText: 'Pro' }).waitFor()
    await checkout.close()
    expect(stripe.deliveries.map((d) => `${d.type} ${d.status}`)).toEqual(['customer.subscription.created 200', 'invoice.paid 200'])

    await page.reload()
    await page.locator('.plan-name', { hasText: 'Pro' }).waitFor()
    await page.getByText('0 of 15,000 responses used').waitFor()
    await checkBoth(page, 'billing-pro')
    expect((await api(t, '/api/v1/billing', { token: other.token })).json.plan.id).toBe('trial')

    // Cancel in the customer portal, then come back.
    await page.getByRole('button', { name: 'Manage subscription' }).click()
    await page.waitForURL(new RegExp(`^${stripe.url}/p/session/bps_`))
    await page.getByRole('button', { name: 'Cancel subscription' }).click()
    await page.getByText(/Cancels on/).waitFor()
    await page.getByRole('link', { name: 'Return to Switchboard' }).click()
    await page.getByRole('heading', { level: 1, name: 'Billing' }).waitFor()
    await page.getByText(/Cancelled: the plan stays until/).waitFor()
    await page.locator('.plan-name', { hasText: 'Pro' }).waitFor()
    await checkBoth(page, 'billing-cancelled')

    // Renew it the same way.
    await page.getByRole('button', { name: 'Manage subscription' }).click()
    await page.getByRole('button', { name: 'Renew subscription' }).click()
    await page.getByText(/Renews on/).waitFor()
    await page.getByRole('link', { name: 'Return to Switchboard' }).click()
    await page.getByRole('heading', { level: 1, name: 'Billing' }).waitFor()
    await page.locator('.plan-name', { hasText: 'Pro' }).waitFor()
    expect(await page.getByText(/Cancelled: the plan stays until/).count()).toBe(0)
    const summary = (await api(t, '/api/v1/billing', { token: org.token })).json
    expect(summary.subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: false })
    expect(stripe.deliveries.slice(-2).map((d) => `${d.type} ${d.status}`)).toEqual(['customer.subscription.updated 200', 'customer.subscription.updated 200'])
    await context.close()
    expect(errors).toEqual([])
  }, 300_000)

  it('saves the quota notices and the quota message; a customer over the quota gets that message', async () => {
    const org: TestOrg = await createOrg(t, { name: 'Browser quota', docs: [TELEGRAM_DOC] })
    const { context, page } = await newPage()
    await signIn(page, org)
    await signedIn(page)
    await go(page, '/billing', 'Billing')
    const message = 'We have answered all the questions we can this month. Please write to help@example.com.'
    await page.getByLabel('Tell admins at (% of the responses used)').fill('50, 100')
    await page.getByLabel('In the admins’ linked chats (Telegram, Slack…)').uncheck()
    await page.getByLabel('Message customers get when the responses are used up').fill(message)
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByText('Settings saved.').waitFor()
    await checkBoth(page, 'billing-notices')
    const saved = await api(t, '/api/v1/organization/settings', { token: org.token })
    expect(saved.json.settings).toEqual({ quotaMessage: message, handoffOnQuota: false, quotaNoticeThresholds: [50, 100], quotaNoticeChats: false })

    // A bad threshold is refused on the page, and nothing is saved.
    await page.getByLabel('Tell admins at (% of the responses used)').fill('50, 120')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByRole('alert').waitFor()
    expect((await api(t, '/api/v1/organization/settings', { token: org.token })).json.settings.quotaNoticeThresholds).toEqual([50, 100])

    // The customer: the first question is answered (the trial's one response), the second gets the message.
    const chat = await context.newPage()
    await chat.goto(`${t.url}/chat/${org.webchatKey}`)
    await chat.fill('#text', 'How do I connect a Telegram bot?')
    await chat.keyboard.press('Enter')
    await chat.waitForSelector('.msg.agent')
    await chat.fill('#text', 'And how do I add a Slack channel?')
    await chat.keyboard.press('Enter')
    await chat.getByText(message).waitFor()

    const notices = await api(t, '/api/v1/notifications', { token: org.token })
    expect(notices.json.notifications.map((n: { kind: string }) => n.kind).sort()).toEqual(['quota_100', 'quota_50'])
    await page.reload()
    await page.getByRole('heading', { name: 'Recent notices' }).waitFor()
    expect(await page.locator('.notices li').count()).toBe(2)
    await context.close()
    expect(errors).toEqual([])
  }, 300_000)
})
