import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeLemonSqueezy, type FakeLemonSqueezy } from '../support/fake-lemonsqueezy.ts'
import { startFakeStripe, type FakeStripe } from '../support/fake-stripe.ts'
import { api, createOrg, freePort, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

/**
 * Payments through the whole product with the providers replaced by local fakes
 * (STRIPE_API_URL, LEMONSQUEEZY_API_URL): the admin's checkout link comes from the provider's API,
 * paying on its hosted page sends the signed webhooks to the app, the plan and quota change; the
 * customer portal link cancels and resumes, each through the provider's webhook again.
 */

const STRIPE_KEY = 'sk_test_51SwitchboardFakeKey'
const STRIPE_SECRET = 'whsec_fake_switchboard'
const LS_KEY = 'ls_fake_api_key'
const LS_SECRET = 'ls-fake-signing-secret'

describe('payments with the providers pointed at local fakes', () => {
  let t: TestApp
  let stripe: FakeStripe
  let lemon: FakeLemonSqueezy
  let org: TestOrg
  let other: TestOrg

  beforeAll(async () => {
    stripe = await startFakeStripe({ secretKey: STRIPE_KEY, webhookSecret: STRIPE_SECRET, prices: { price_fake_basic: { name: 'Basic', amount: 9900 }, price_fake_pro: { name: 'Pro', amount: 24900 } } })
    lemon = await startFakeLemonSqueezy({ apiKey: LS_KEY, storeId: '42', webhookSecret: LS_SECRET, variants: { '201': { name: 'Basic (monthly)', amount: 9900 }, '202': { name: 'Pro (monthly)', amount: 24900 } } })
    const port = await freePort()
    const publicUrl = `http://127.0.0.1:${port}`
    t = await startTestApp({
      port,
      env: {
        PUBLIC_URL: publicUrl,
        STRIPE_SECRET_KEY: STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
        STRIPE_PRICES: '{"basic:month":"price_fake_basic","pro:month":"price_fake_pro"}',
        STRIPE_API_URL: stripe.url,
        LEMONSQUEEZY_API_KEY: LS_KEY,
        LEMONSQUEEZY_STORE_ID: '42',
        LEMONSQUEEZY_WEBHOOK_SECRET: LS_SECRET,
        LEMONSQUEEZY_VARIANTS: '{"basic:month":"201","pro:month":"202"}',
        LEMONSQUEEZY_API_URL: lemon.url,
      },
    })
    stripe.webhook.url = `${t.url}/webhooks/stripe`
    lemon.webhook.url = `${t.url}/webhooks/lemonsqueezy`
    org = await createOrg(t, { name: 'Payer' })
    other = await createOrg(t, { name: 'Bystander' })
  }, 60_000)
  afterAll(async () => {
    await t?.close()
    await stripe?.close()
    await lemon?.close()
  })

  const billing = async (who: TestOrg) => (await api(t, '/api/v1/billing', { token: who.token })).json
  /** Follows a hosted page's form the way the customer's browser would: POST, then the 303. */
  const submit = async (url: string) => {
    const res = await fetch(url, { method: 'POST', redirect: 'manual' })
    await res.text()
    return { status: res.status, location: res.headers.get('location') }
  }

  it('refuses a portal link before the organization has paid (409)', async () => {
    const portal = await api(t, '/api/v1/billing/portal', { token: org.token, body: {} })
    expect(portal.status).toBe(409)
    expect(portal.json.error.code).toBe('no_subscription')
  })

  it('Stripe: checkout from the fake API, the signed webhooks after paying change the plan and quota; the portal cancels and resumes', async () => {
    expect((await billing(org)).plan.id).toBe('trial')
    expect((await billing(org)).limit).toBe(100)

    const checkout = await api(t, '/api/v1/billing/checkout', { token: org.token, body: { plan: 'pro', provider: 'stripe' } })
    expect(checkout.status).toBe(200)
    expect(checkout.json.url).toMatch(new RegExp(`^${stripe.url}/c/pay/cs_test_`))
    const created = stripe.requests.find((r) => r.path === '/v1/checkout/sessions')!
    expect(created.form).toMatchObject({ mode: 'subscription', 'line_items[0][price]': 'price_fake_pro', client_reference_id: org.organizationId, 'subscription_data[metadata][organization_id]': org.organizationId, success_url: `${t.url}/admin/#/billing?checkout=success`, cancel_url: `${t.url}/admin/#/billing?checkout=cancelled` })

    const page = await fetch(checkout.json.url)
    expect(await page.text()).toContain('Subscribe to <strong>Pro</strong>')
    const paid = await submit(`${checkout.json.url}/confirm`)
    expect(paid).toEqual({ status: 303, location: `${t.url}/admin/#/billing?checkout=success` })
    expect(stripe.deliveries.map((d) => [d.type, d.status])).toEqual([
      ['customer.subscription.created', 200],
      ['invoice.paid', 200],
    ])

    const after = await billing(org)
    expect(after.plan.id).toBe('pro')
    expect(after.limit).toBe(15_000)
    expect(after.subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: false })
    // The other organization is untouched.
    expect((await billing(other)).plan.id).toBe('trial')
    const history = await api(t, '/api/v1/billing/history', { token: org.token })
    expect(history.json.events.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['created', 'payment_succeeded']))
    expect((await api(t, '/api/v1/billing/history', { token: other.token })).json.events).toEqual([])

    const portal = await api(t, '/api/v1/billing/portal', { token: org.token, body: {} })
    expect(portal.status).toBe(200)
    expect(portal.json.provider).toBe('stripe')
    const portalSession = [...stripe.portals.values()].at(-1)!
    expect(portal.json.url).toBe(portalSession.url)
    expect(portalSession.return_url).toBe(`${t.url}/admin/#/billing`)
    const sub = [...stripe.subscriptions.values()].find((s) => s.metadata.organization_id === org.organizationId)!
    expect(portalSession.customer).toBe(sub.customer)
    expect(await (await fetch(portal.json.url)).text()).toContain('Cancel subscription')

    await submit(`${portal.json.url}/cancel/${sub.id}`)
    const cancelled = await billing(org)
    expect(cancelled.plan.id).toBe('pro') // paid until the period ends
    expect(cancelled.subscription.status).toBe('cancelled')

    await submit(`${portal.json.url}/renew/${sub.id}`)
    const resumed = await billing(org)
    expect(resumed.subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: false })
    expect(stripe.deliveries.every((d) => d.status === 200)).toBe(true)
  })

  it('Stripe: a webhook signed with another secret is refused and changes nothing', async () => {
    const saved = stripe.webhook.secret
    stripe.webhook.secret = 'whsec_not_the_one'
    try {
      const checkout = await api(t, '/api/v1/billing/checkout', { token: other.token, body: { plan: 'basic', provider: 'stripe' } })
      const paid = await submit(`${checkout.json.url}/confirm`)
      expect(paid.status).toBe(502)
      expect(stripe.deliveries.at(-1)).toMatchObject({ type: 'customer.subscription.created', status: 401 })
      expect((await billing(other)).plan.id).toBe('trial')
    } finally {
      stripe.webhook.secret = saved
    }
  })

  it('Lemon Squeezy: checkout from the fake API, paying changes the plan, the customer portal cancels and resumes', async () => {
    const payer = await createOrg(t, { name: 'Lemon payer' })
    const checkout = await api(t, '/api/v1/billing/checkout', { token: payer.token, body: { plan: 'basic', provider: 'lemonsqueezy' } })
    expect(checkout.status).toBe(200)
    expect(checkout.json.url).toMatch(new RegExp(`^${lemon.url}/checkout/custom/`))
    const sent = lemon.requests.find((r) => r.path === '/v1/checkouts')!.body as { data: { attributes: { checkout_data: { custom: unknown }; product_options: { redirect_url: string } } } }
    expect(sent.data.attributes.checkout_data.custom).toEqual({ organization_id: payer.organizationId })
    expect(sent.data.attributes.product_options.redirect_url).toBe(`${t.url}/admin/#/billing?checkout=success`)

    const checkoutPath = new URL(checkout.json.url).pathname
    const paid = await submit(`${lemon.url}${checkoutPath}/pay`)
    expect(paid).toEqual({ status: 303, location: `${t.url}/admin/#/billing?checkout=success` })
    expect(lemon.deliveries.slice(-2)).toEqual([
      { event: 'subscription_created', status: 200 },
      { event: 'subscription_payment_success', status: 200 },
    ])
    const after = await billing(payer)
    expect(after.plan.id).toBe('basic')
    expect(after.limit).toBe(5_000)

    const portal = await api(t, '/api/v1/billing/portal', { token: payer.token, body: {} })
    expect(portal.status).toBe(200)
    expect(portal.json.provider).toBe('lemonsqueezy')
    expect(portal.json.url).toMatch(new RegExp(`^${lemon.url}/billing\\?`))
    const sub = [...lemon.subscriptions.values()].find((s) => s.custom.organization_id === payer.organizationId)!
    const u = new URL(portal.json.url)
    await submit(`${lemon.url}/billing/cancel/${sub.id}${u.search}`)
    expect((await billing(payer)).subscription.status).toBe('cancelled')
    await submit(`${lemon.url}/billing/resume/${sub.id}${u.search}`)
    expect((await billing(payer)).subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: false })
    expect(lemon.deliveries.slice(-2)).toEqual([
      { event: 'subscription_cancelled', status: 200 },
      { event: 'subscription_resumed', status: 200 },
    ])
  })
})
