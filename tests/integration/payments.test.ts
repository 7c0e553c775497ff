import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import type { Request } from 'express'
import nock from 'nock'
import Stripe from 'stripe'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { postgresAnswers, scratchDatabase } from '../support/postgres.ts'
import { openDatabase, type Database } from '../../adapters/db/database.ts'
import { createPrismaSubscriptionStore } from '../../adapters/db/subscription-store.ts'
import { createApi } from '../../adapters/http/api.ts'
import { createMetrics } from '../../adapters/http/metrics.ts'
import { createHttpApp, listen } from '../../adapters/http/server.ts'
import { createLemonSqueezyProvider } from '../../adapters/lemonsqueezy/lemonsqueezy.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { createStripeProvider } from '../../adapters/stripe/stripe.ts'
import { registerPaymentRoutes } from '../../admin-web/api/payment-routes.ts'
import { checkPaymentsConfig, createSubscriptionService, paymentsConfigSchema, type PaymentProvider } from '../../core/billing/payments.ts'
import type { Role } from '../../core/ports.ts'
import type { Principal } from '../../core/tenancy/auth-service.ts'

/**
 * Payments end to end over HTTP: the admin's checkout link (the providers' APIs answered by nock
 * with their documented shapes) and the providers' webhooks, signed with their published
 * algorithms, into a real database (PGlite) through the real express app.
 */

const fixture = (path: string) => JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8'))

const LS_KEY = 'ls_test_api_key_0123456789'
const LS_SECRET = 'ls-signing-secret-42'
const STRIPE_KEY = 'sk_test_51SwitchboardTestKey'
const STRIPE_SECRET = 'whsec_test_switchboard_secret'
const SUCCESS_URL = 'https://switchboard.example.com/billing?checkout=success'
const CANCEL_URL = 'https://switchboard.example.com/billing?checkout=cancelled'
const ROLES: Role[] = ['owner', 'admin', 'operator', 'member']

async function authenticate(req: Request): Promise<Principal | null> {
  const organizationId = req.header('x-test-org')
  const role = req.header('x-test-role') as Role | undefined
  if (!organizationId || !role || !ROLES.includes(role)) return null
  return { userId: `user-${role}`, organizationId, role }
}

const lsSign = (body: string, secret = LS_SECRET) => createHmac('sha256', secret).update(body).digest('hex')
/** Stripe's scheme, by hand: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">. */
const stripeSign = (body: string, input: { secret?: string; timestamp?: number } = {}) => {
  const t = input.timestamp ?? Math.floor(Date.now() / 1000)
  return `t=${t},v1=${createHmac('sha256', input.secret ?? STRIPE_SECRET).update(`${t}.${body}`).digest('hex')}`
}

let organizationSeq = 0

describe('payments', () => {
  let db: Database
  let server: Server
  let url: string
  let now: Date
  const logLines: string[] = []

  beforeAll(async () => {
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    db = await openDatabase({ dataDir: 'memory://' })
    await db.migrate()

    const config = paymentsConfigSchema.parse({
      LEMONSQUEEZY_API_KEY: LS_KEY,
      LEMONSQUEEZY_STORE_ID: '1',
      LEMONSQUEEZY_WEBHOOK_SECRET: LS_SECRET,
      LEMONSQUEEZY_VARIANTS: '{"basic:month":"101","pro:month":"102"}',
      STRIPE_SECRET_KEY: STRIPE_KEY,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      STRIPE_PRICES: '{"basic:month":"price_1SbBasicMonthly","pro:month":"price_1SbProMonthly"}',
      BILLING_GRACE_DAYS: '7',
    })
    expect(checkPaymentsConfig(config)).toEqual([])
    const providers = new Map<string, PaymentProvider>([
      ['lemonsqueezy', createLemonSqueezyProvider({ apiKey: config.LEMONSQUEEZY_API_KEY!, storeId: config.LEMONSQUEEZY_STORE_ID!, webhookSecret: config.LEMONSQUEEZY_WEBHOOK_SECRET!, variants: config.LEMONSQUEEZY_VARIANTS, successUrl: SUCCESS_URL })],
      ['stripe', createStripeProvider({ secretKey: config.STRIPE_SECRET_KEY!, webhookSecret: config.STRIPE_WEBHOOK_SECRET!, prices: config.STRIPE_PRICES, successUrl: SUCCESS_URL, cancelUrl: CANCEL_URL })],
    ])
    const subscriptions = createSubscriptionService({ store: createPrismaSubscriptionStore(db), graceDays: config.BILLING_GRACE_DAYS, clock: { now: () => now } })
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk, _enc, done) {
          logLines.push(...String(chunk).split('\n').filter(Boolean))
          done()
        },
      }),
    })
    const api = createApi({ authenticate })
    const webhooks = registerPaymentRoutes({ api, providers, subscriptions, logger })
    const app = createHttpApp({ logger, metrics: createMetrics({ queueDepth: async () => 0 }), maxBodyBytes: 1_000_000, readiness: async () => {}, routers: [api.router, webhooks] })
    server = await listen(app, 0, '127.0.0.1')
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    nock.cleanAll()
    nock.enableNetConnect()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
    await db?.close()
  })
  beforeEach(() => {
    now = new Date('2026-01-01T10:00:30Z')
    nock.cleanAll()
  })

  async function newOrganization(): Promise<string> {
    const id = `org-pay-${++organizationSeq}`
    await db.prisma.organization.create({ data: { id, name: `Org ${organizationSeq}` } })
    return id
  }
  const subscriptionOf = (organizationId: string) => db.prisma.subscription.findUnique({ where: { organizationId } })
  const eventsOf = (provider: string) => db.prisma.billingEvent.findMany({ where: { provider }, orderBy: { createdAt: 'asc' } })

  async function post(path: string, input: { body: string; headers?: Record<string, string> }) {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...input.headers }, body: input.body })
    const text = await res.text()
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response shapes
    let json: any
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.status, json, text }
  }
  const checkout = (body: unknown, who: { org?: string; role?: Role } = {}) =>
    post('/api/v1/billing/checkout', { body: JSON.stringify(body), headers: { ...(who.org ? { 'x-test-org': who.org } : {}), ...(who.role ? { 'x-test-role': who.role } : {}) } })

  // ---------- Lemon Squeezy ----------

  /**
   * A Lemon Squeezy webhook body from a fixture, for this organization (with its own subscription
   * and invoice ids, as each organization's would be), edited by `edit`.
   */
  const lsBody = (name: string, organizationId: string, edit?: (payload: { meta: Record<string, unknown>; data: { id: string; attributes: Record<string, unknown> } }) => void) => {
    const payload = fixture(`lemonsqueezy/${name}.json`)
    payload.meta.custom_data = { organization_id: organizationId }
    const n = Number(organizationId.replace(/\D/g, '') || 0)
    if (payload.data.type === 'subscriptions') payload.data.id = String(5000 + n * 100)
    if (payload.data.type === 'subscription-invoices') {
      payload.data.id = String(Number(payload.data.id) + n * 100)
      payload.data.attributes.subscription_id = 5000 + n * 100
    }
    edit?.(payload)
    return JSON.stringify(payload)
  }
  const lsPost = (body: string, signature: string | null = lsSign(body), eventName?: string) =>
    post('/webhooks/lemonsqueezy', { body, headers: { ...(signature !== null ? { 'x-signature': signature } : {}), 'x-event-name': eventName ?? JSON.parse(body).meta.event_name } })

  describe('Lemon Squeezy', () => {
    it('an admin gets a checkout link: the JSON:API request Lemon Squeezy documents, its url returned', async () => {
      const organizationId = await newOrganization()
      const response = fixture('lemonsqueezy/checkout-created.json')
      let sent: unknown
      const scope = nock('https://api.lemonsqueezy.com')
        .post('/v1/checkouts', (body) => {
          sent = body
          return true
        })
        .matchHeader('accept', 'application/vnd.api+json')
        .matchHeader('content-type', 'application/vnd.api+json')
        .matchHeader('authorization', `Bearer ${LS_KEY}`)
        .reply(201, response, { 'content-type': 'application/vnd.api+json' })

      const res = await checkout({ plan: 'basic', interval: 'month', provider: 'lemonsqueezy', email: 'dana@example.com' }, { org: organizationId, role: 'admin' })
      expect(res.status).toBe(200)
      expect(res.json).toEqual({ url: response.data.attributes.url, provider: 'lemonsqueezy', plan: 'basic', interval: 'month' })
      expect(scope.isDone()).toBe(true)
      expect(sent).toEqual({
        data: {
          type: 'checkouts',
          attributes: {
            checkout_data: { email: 'dana@example.com', custom: { organization_id: organizationId } },
            product_options: { enabled_variants: [101], redirect_url: SUCCESS_URL },
          },
          relationships: {
            store: { data: { type: 'stores', id: '1' } },
            variant: { data: { type: 'variants', id: '101' } },
          },
        },
      })
    })

    it('checkout: only admins, only plans that are sold, and a provider error is a 502 without the key', async () => {
      const organizationId = await newOrganization()
      expect((await checkout({ plan: 'basic' })).status).toBe(401)
      expect((await checkout({ plan: 'basic' }, { org: organizationId, role: 'member' })).status).toBe(403)
      expect((await checkout({ plan: 'platinum' }, { org: organizationId, role: 'admin' })).status).toBe(422)
      const unsold = await checkout({ plan: 'enterprise', interval: 'year', provider: 'lemonsqueezy' }, { org: organizationId, role: 'owner' })
      expect(unsold.status).toBe(422)
      expect(unsold.json.error.code).toBe('plan_not_available')

      nock('https://api.lemonsqueezy.com')
        .post('/v1/checkouts')
        .reply(422, { jsonapi: { version: '1.0' }, errors: [{ detail: 'The related resource does not exist.', source: { pointer: '/data/relationships/variant' }, status: '422', title: 'Unprocessable Entity' }] })
      const failed = await checkout({ plan: 'pro', provider: 'lemonsqueezy' }, { org: organizationId, role: 'admin' })
      expect(failed.status).toBe(502)
      expect(failed.json.error.message).toContain('lemonsqueezy.createCheckout failed: HTTP 422: The related resource does not exist.')
      expect(failed.text).not.toContain(LS_KEY)
      expect(logLines.join('\n')).not.toContain(LS_KEY)
    })

    it('a signed subscription_created gives the plan; the row holds the provider period and ids', async () => {
      const organizationId = await newOrganization()
      const res = await lsPost(lsBody('subscription_created', organizationId))
      expect(res.status).toBe(200)
      expect(res.json).toEqual({ received: true, result: 'applied' })
      expect(await subscriptionOf(organizationId)).toMatchObject({
        plan: 'basic',
        interval: 'month',
        status: 'active',
        currentPeriodStart: new Date('2026-01-01T10:00:00Z'),
        currentPeriodEnd: new Date('2026-02-01T10:00:00Z'),
        provider: 'lemonsqueezy',
        providerSubscriptionId: String(5000 + Number(organizationId.replace(/\D/g, '')) * 100),
        providerCustomerId: '7001',
        lastEventAt: new Date('2026-01-01T10:00:02Z'),
      })
    })

    it('a wrong or missing signature is refused with 401 and changes nothing', async () => {
      const organizationId = await newOrganization()
      const before = (await eventsOf('lemonsqueezy')).length
      const body = lsBody('subscription_created', organizationId)
      const wrong = await lsPost(body, lsSign(body, 'not-the-secret'))
      expect(wrong.status).toBe(401)
      expect(wrong.json.error.code).toBe('invalid_signature')
      expect((await lsPost(body, null)).status).toBe(401)
      // The signature of another body.
      expect((await lsPost(body, lsSign(`${body} `))).status).toBe(401)
      expect(await subscriptionOf(organizationId)).toBeNull()
      expect((await eventsOf('lemonsqueezy')).length).toBe(before)
    })

    it('an unknown event type is answered 200 ignored, with a log line', async () => {
      const organizationId = await newOrganization()
      const res = await lsPost(lsBody('order_created', organizationId))
      expect(res.status).toBe(200)
      expect(res.json).toEqual({ ignored: 'Lemon Squeezy event order_created' })
      expect(logLines.some((l) => l.includes('webhook ignored') && l.includes('order_created'))).toBe(true)
      expect(await subscriptionOf(organizationId)).toBeNull()
    })

    it('the same event twice has one effect', async () => {
      const organizationId = await newOrganization()
      await lsPost(lsBody('subscription_created', organizationId))
      now = new Date('2026-02-01T10:00:20Z')
      const failed = lsBody('subscription_payment_failed', organizationId)
      expect((await lsPost(failed)).json.result).toBe('applied')
      const first = await subscriptionOf(organizationId)
      expect(first).toMatchObject({ status: 'past_due', graceUntil: new Date('2026-02-08T10:00:20Z') })
      now = new Date('2026-02-03T00:00:00Z')
      const again = await lsPost(failed)
      expect(again.status).toBe(200)
      expect(again.json.result).toBe('duplicate')
      expect(await subscriptionOf(organizationId)).toEqual(first)
      const stored = (await eventsOf('lemonsqueezy')).filter((e) => e.organizationId === organizationId && e.type === 'payment_failed')
      expect(stored).toHaveLength(1)
      const invoiceId = 4002 + Number(organizationId.replace(/\D/g, '')) * 100
      expect(stored[0]).toMatchObject({ eventId: `subscription_payment_failed:subscription-invoices:${invoiceId}:2026-02-01T10:00:09.000000Z`, result: 'applied' })
    })

    it('events out of order end in the right state: expired first, then the older ones', async () => {
      const organizationId = await newOrganization()
      for (const name of ['subscription_expired', 'subscription_created', 'subscription_cancelled', 'subscription_updated']) expect((await lsPost(lsBody(name, organizationId))).status).toBe(200)
      expect(await subscriptionOf(organizationId)).toMatchObject({ status: 'expired', plan: 'trial', lastEventAt: new Date('2026-02-01T10:00:05Z') })
      const results = (await eventsOf('lemonsqueezy')).filter((e) => e.organizationId === organizationId).map((e) => e.result)
      expect(results).toEqual(['applied', 'stale', 'stale', 'stale'])
    })

    it('an upgrade, a cancellation and a resumption in the order sent; a late upgrade notice changes nothing', async () => {
      const organizationId = await newOrganization()
      await lsPost(lsBody('subscription_created', organizationId))
      await lsPost(lsBody('subscription_updated', organizationId))
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'pro', pendingPlan: null })
      await lsPost(lsBody('subscription_cancelled', organizationId, (p) => (p.data.attributes.variant_id = 102)))
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'pro', status: 'cancelled', cancelAtPeriodEnd: true, currentPeriodEnd: new Date('2026-02-01T10:00:00Z') })
      await lsPost(lsBody('subscription_resumed', organizationId, (p) => (p.data.attributes.variant_id = 102)))
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'pro', status: 'active', cancelAtPeriodEnd: false })
      const late = await lsPost(lsBody('subscription_updated', organizationId, (p) => (p.data.attributes.updated_at = '2026-01-05T00:00:00.000000Z')))
      expect(late.json.result).toBe('stale')
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'pro', status: 'active' })
    })

    it('the payment arriving before its subscription still ends on the plan bought', async () => {
      const organizationId = await newOrganization()
      expect((await lsPost(lsBody('subscription_payment_success', organizationId))).json.result).toBe('applied')
      expect((await lsPost(lsBody('subscription_created', organizationId))).json.result).toBe('plan_learned')
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'basic', status: 'active', currentPeriodEnd: new Date('2026-02-01T10:00:00Z'), providerCustomerId: '7001' })
    })

    it('a downgrade waits for the period end', async () => {
      const organizationId = await newOrganization()
      await lsPost(lsBody('subscription_created', organizationId, (p) => (p.data.attributes.variant_id = 102)))
      await lsPost(lsBody('subscription_updated', organizationId, (p) => (p.data.attributes.variant_id = 101)))
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'pro', pendingPlan: 'basic' })
      // The renewal: Lemon Squeezy moves renews_at a month on.
      await lsPost(
        lsBody('subscription_updated', organizationId, (p) => {
          p.data.attributes.variant_id = 101
          p.data.attributes.renews_at = '2026-03-01T10:00:00.000000Z'
          p.data.attributes.updated_at = '2026-02-01T10:00:04.000000Z'
        }),
      )
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'basic', pendingPlan: null, currentPeriodStart: new Date('2026-02-01T10:00:00Z'), currentPeriodEnd: new Date('2026-03-01T10:00:00Z') })
    })

    it('a malformed body is a 400; any content type is read raw for the signature', async () => {
      const organizationId = await newOrganization()
      const notJson = '{"meta": {'
      expect((await lsPost(notJson, lsSign(notJson), 'subscription_created')).status).toBe(400)
      const notAnEvent = JSON.stringify({ meta: { event_name: 'subscription_created' }, data: { type: 'subscriptions' } })
      const res = await lsPost(notAnEvent)
      expect(res.status).toBe(400)
      expect(res.json.error.code).toBe('invalid_payload')

      const body = lsBody('subscription_created', organizationId)
      const octets = await post('/webhooks/lemonsqueezy', { body, headers: { 'content-type': 'application/octet-stream', 'x-signature': lsSign(body) } })
      expect(octets.json).toEqual({ received: true, result: 'applied' })
    })

    it('an event for an organization that does not exist is stored and answered 200', async () => {
      const res = await lsPost(lsBody('subscription_created', 'org-that-was-deleted'))
      expect(res.status).toBe(200)
      expect(res.json.result).toBe('unknown_organization')
      expect(await subscriptionOf('org-that-was-deleted')).toBeNull()
    })
  })

  // ---------- Stripe ----------

  /** A Stripe event from a fixture, for this organization, with a fresh event id unless kept. */
  const stripeBody = (name: string, organizationId: string, edit?: (event: Stripe.Event & { data: { object: Record<string, unknown> } }) => void) => {
    const event = fixture(`stripe/${name}.json`)
    const object = event.data.object
    if (object.object === 'subscription') object.metadata = { organization_id: organizationId }
    if (object.object === 'invoice') {
      object.parent.subscription_details.metadata = { organization_id: organizationId }
      for (const line of object.lines.data) line.metadata = { organization_id: organizationId }
    }
    event.id = `${event.id}_${organizationId}`
    edit?.(event)
    return JSON.stringify(event)
  }
  const stripePost = (body: string, signature: string | null = stripeSign(body)) => post('/webhooks/stripe', { body, headers: signature !== null ? { 'stripe-signature': signature } : {} })

  describe('Stripe', () => {
    it('an admin gets a checkout link: a Checkout Session in subscription mode, created through the SDK', async () => {
      const organizationId = await newOrganization()
      const session = fixture('stripe/checkout.session.json')
      let form: URLSearchParams | undefined
      let headers: Record<string, unknown> = {}
      const scope = nock('https://api.stripe.com')
        .post('/v1/checkout/sessions')
        .reply(function (_uri, body) {
          form = new URLSearchParams(String(body))
          headers = this.req.headers
          return [200, session, { 'content-type': 'application/json', 'request-id': 'req_test_1' }]
        })

      const res = await checkout({ plan: 'basic', interval: 'month', provider: 'stripe', email: 'dana@example.com' }, { org: organizationId, role: 'admin' })
      expect(res.status).toBe(200)
      expect(res.json).toEqual({ url: session.url, provider: 'stripe', plan: 'basic', interval: 'month' })
      expect(scope.isDone()).toBe(true)
      expect(headers['authorization']).toBe(`Bearer ${STRIPE_KEY}`)
      expect(String(headers['content-type'])).toContain('application/x-www-form-urlencoded')
      expect(Object.fromEntries(form!)).toEqual({
        mode: 'subscription',
        'line_items[0][price]': 'price_1SbBasicMonthly',
        'line_items[0][quantity]': '1',
        client_reference_id: organizationId,
        'metadata[organization_id]': organizationId,
        'subscription_data[metadata][organization_id]': organizationId,
        success_url: SUCCESS_URL,
        cancel_url: CANCEL_URL,
        customer_email: 'dana@example.com',
      })
    })

    it('a Stripe error is a 502 naming the method, without the key', async () => {
      const organizationId = await newOrganization()
      nock('https://api.stripe.com')
        .post('/v1/checkout/sessions')
        .reply(400, { error: { code: 'resource_missing', doc_url: 'https://stripe.com/docs/error-codes/resource-missing', message: "No such price: 'price_1SbProMonthly'", param: 'line_items[0][price]', type: 'invalid_request_error' } }, { 'request-id': 'req_test_2' })
      const res = await checkout({ plan: 'pro', provider: 'stripe' }, { org: organizationId, role: 'admin' })
      expect(res.status).toBe(502)
      expect(res.json.error.message).toBe("stripe.checkout.sessions.create failed: No such price: 'price_1SbProMonthly'")
      expect(res.text).not.toContain(STRIPE_KEY)
    })

    it('without a provider named, the first configured one is used', async () => {
      const organizationId = await newOrganization()
      const scope = nock('https://api.lemonsqueezy.com').post('/v1/checkouts').reply(201, fixture('lemonsqueezy/checkout-created.json'))
      const res = await checkout({ plan: 'pro' }, { org: organizationId, role: 'admin' })
      expect(res.json.provider).toBe('lemonsqueezy')
      expect(scope.isDone()).toBe(true)
    })

    it('signed with the SDK’s test header or by hand: the subscription applies', async () => {
      const organizationId = await newOrganization()
      const created = stripeBody('customer.subscription.created', organizationId)
      const header = Stripe.webhooks.generateTestHeaderString({ payload: created, secret: STRIPE_SECRET })
      expect((await stripePost(created, header)).json).toEqual({ received: true, result: 'applied' })
      expect(await subscriptionOf(organizationId)).toMatchObject({
        plan: 'basic',
        status: 'active',
        currentPeriodStart: new Date('2026-01-01T10:00:00Z'),
        currentPeriodEnd: new Date('2026-02-01T10:00:00Z'),
        provider: 'stripe',
        providerSubscriptionId: 'sub_1SbSwitchboard0001',
        providerCustomerId: 'cus_TSwitchboard01',
        lastEventAt: new Date('2026-01-01T10:00:02Z'),
      })
      const paid = stripeBody('invoice.paid', organizationId)
      expect((await stripePost(paid, stripeSign(paid))).json.result).toBe('applied')
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'basic', status: 'active', graceUntil: null })
    })

    it('a wrong signature, a missing one, or one older than the tolerance is refused with 401 and changes nothing', async () => {
      const organizationId = await newOrganization()
      const before = (await eventsOf('stripe')).length
      const body = stripeBody('customer.subscription.created', organizationId)
      expect((await stripePost(body, stripeSign(body, { secret: 'whsec_someone_else' }))).status).toBe(401)
      expect((await stripePost(body, null)).status).toBe(401)
      expect((await stripePost(body, 'garbage')).status).toBe(401)
      const stale = await stripePost(body, stripeSign(body, { timestamp: Math.floor(Date.now() / 1000) - 301 }))
      expect(stale.status).toBe(401)
      expect(stale.json.error.code).toBe('invalid_signature')
      expect(await subscriptionOf(organizationId)).toBeNull()
      expect((await eventsOf('stripe')).length).toBe(before)
      // Within the tolerance it passes.
      expect((await stripePost(body, stripeSign(body, { timestamp: Math.floor(Date.now() / 1000) - 200 }))).status).toBe(200)
    })

    it('an unknown event type is answered 200 ignored, with a log line', async () => {
      const organizationId = await newOrganization()
      const res = await stripePost(stripeBody('customer.created', organizationId))
      expect(res.status).toBe(200)
      expect(res.json).toEqual({ ignored: 'Stripe event customer.created' })
      expect(logLines.some((l) => l.includes('webhook ignored') && l.includes('customer.created'))).toBe(true)
    })

    it('the same event twice has one effect', async () => {
      const organizationId = await newOrganization()
      await stripePost(stripeBody('customer.subscription.created', organizationId))
      now = new Date('2026-02-01T11:00:10Z')
      const failed = stripeBody('invoice.payment_failed', organizationId)
      expect((await stripePost(failed)).json.result).toBe('applied')
      const first = await subscriptionOf(organizationId)
      expect(first).toMatchObject({ status: 'past_due', graceUntil: new Date('2026-02-08T11:00:10Z'), currentPeriodEnd: new Date('2026-03-01T10:00:00Z') })
      now = new Date('2026-02-02T00:00:00Z')
      const again = await stripePost(failed)
      expect(again.status).toBe(200)
      expect(again.json.result).toBe('duplicate')
      expect(await subscriptionOf(organizationId)).toEqual(first)
      expect((await eventsOf('stripe')).filter((e) => e.eventId === JSON.parse(failed).id)).toHaveLength(1)
    })

    it('events out of order end in the right state', async () => {
      const organizationId = await newOrganization()
      // Delivered: deleted, cancel, upgrade, created (they happened the other way round).
      for (const name of ['customer.subscription.deleted', 'customer.subscription.updated.cancel', 'customer.subscription.updated', 'customer.subscription.created']) {
        expect((await stripePost(stripeBody(name, organizationId))).status).toBe(200)
      }
      expect(await subscriptionOf(organizationId)).toMatchObject({ status: 'expired', plan: 'trial', lastEventAt: new Date('2026-02-01T10:00:05Z') })

      const other = await newOrganization()
      await stripePost(stripeBody('customer.subscription.updated', other))
      await stripePost(stripeBody('invoice.paid', other))
      await stripePost(stripeBody('customer.subscription.created', other))
      expect(await subscriptionOf(other)).toMatchObject({ plan: 'pro', status: 'active' })
    })

    it('upgrade at once, cancel keeps access to the period end, deleted ends it', async () => {
      const organizationId = await newOrganization()
      await stripePost(stripeBody('customer.subscription.created', organizationId))
      await stripePost(stripeBody('customer.subscription.updated', organizationId))
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'pro', pendingPlan: null })
      await stripePost(stripeBody('customer.subscription.updated.cancel', organizationId, (e) => (e.data.object.items = fixture('stripe/customer.subscription.updated.json').data.object.items)))
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'pro', status: 'cancelled', cancelAtPeriodEnd: true, currentPeriodEnd: new Date('2026-02-01T10:00:00Z') })
      await stripePost(stripeBody('customer.subscription.deleted', organizationId))
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'trial', status: 'expired' })
    })

    it('un-cancelling (cancel_at_period_end back to false) resumes', async () => {
      const organizationId = await newOrganization()
      await stripePost(stripeBody('customer.subscription.created', organizationId))
      await stripePost(stripeBody('customer.subscription.updated.cancel', organizationId))
      const resumed = stripeBody('customer.subscription.updated', organizationId, (e) => {
        e.created = Math.floor(Date.parse('2026-01-16T00:00:00Z') / 1000)
        e.data.object = fixture('stripe/customer.subscription.created.json').data.object
        e.data.object.metadata = { organization_id: organizationId }
        ;(e.data as { previous_attributes?: unknown }).previous_attributes = { cancel_at: 1769940000, cancel_at_period_end: true, canceled_at: 1768485600 }
      })
      expect((await stripePost(resumed)).json.result).toBe('applied')
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'basic', status: 'active', cancelAtPeriodEnd: false })
    })

    it('an incomplete subscription waits for its first payment', async () => {
      const organizationId = await newOrganization()
      const incomplete = await stripePost(stripeBody('customer.subscription.created', organizationId, (e) => (e.data.object.status = 'incomplete')))
      expect(incomplete.json.ignored).toContain('incomplete')
      expect(await subscriptionOf(organizationId)).toBeNull()
      await stripePost(stripeBody('invoice.paid', organizationId))
      expect(await subscriptionOf(organizationId)).toMatchObject({ plan: 'basic', status: 'active', currentPeriodEnd: new Date('2026-02-01T10:00:00Z') })
    })

    it('a body that is signed but not an event is a 400', async () => {
      const body = JSON.stringify({ hello: 'world' })
      const res = await stripePost(body)
      expect(res.status).toBe(400)
      expect(res.json.error.code).toBe('invalid_payload')
    })
  })
})

/**
 * Redeliveries racing each other, on the machine's real PostgreSQL with parallel connections
 * (PGlite runs one query at a time). Skipped with a warning when no server answers, like the
 * quota's concurrency test (TEST_POSTGRES_URL, default postgres@127.0.0.1:5432).
 */
const postgres = await postgresAnswers('the webhook concurrency test')

describe.skipIf(!postgres)('webhook events racing on PostgreSQL (10 connections)', () => {
  let db: Database
  let drop: () => Promise<void>

  beforeAll(async () => {
    ;({ db, drop } = await scratchDatabase('payments', 10))
  })
  afterAll(async () => drop?.())

  it('one event delivered 20 times at once applies once; 20 events of one organization at once end on the newest', async () => {
    await db.prisma.organization.create({ data: { id: 'org-race', name: 'Race' } })
    const service = createSubscriptionService({ store: createPrismaSubscriptionStore(db), clock: { now: () => new Date('2026-01-01T10:00:30Z') } })
    const event = (eventId: string, type: 'created' | 'updated', at: Date, plan: 'basic' | 'pro' | 'enterprise') => ({
      provider: 'stripe' as const,
      eventId,
      type,
      organizationId: 'org-race',
      occurredAt: at,
      plan,
      interval: 'month' as const,
      status: 'active' as const,
      periodStart: new Date('2026-01-01T10:00:00Z'),
      periodEnd: new Date('2026-02-01T10:00:00Z'),
      providerSubscriptionId: 'sub_race',
    })
    const created = event('evt_race_created', 'created', new Date('2026-01-01T10:00:02Z'), 'basic')
    const results = await Promise.all(Array.from({ length: 20 }, () => service.apply(created)))
    expect(results.filter((r) => r.result === 'applied')).toHaveLength(1)
    expect(results.filter((r) => r.result === 'duplicate')).toHaveLength(19)
    expect(await db.prisma.billingEvent.count({ where: { provider: 'stripe', eventId: 'evt_race_created' } })).toBe(1)

    // Twenty plan changes, delivered at once in a shuffled order: the newest (enterprise) wins.
    const plans = ['basic', 'pro'] as const
    const updates = Array.from({ length: 20 }, (_, i) => event(`evt_race_${i}`, 'updated', new Date(Date.parse('2026-01-02T00:00:00Z') + i * 60_000), i === 19 ? 'enterprise' : plans[i % 2]!))
    const shuffled = [...updates].sort((a, b) => (a.eventId.split('').reverse().join('') < b.eventId.split('').reverse().join('') ? -1 : 1))
    await Promise.all(shuffled.map((e) => service.apply(e)))
    expect(await db.prisma.subscription.findUnique({ where: { organizationId: 'org-race' } })).toMatchObject({ plan: 'enterprise', pendingPlan: null, lastEventAt: updates[19]!.occurredAt })
    expect(await db.prisma.billingEvent.count({ where: { organizationId: 'org-race' } })).toBe(21)
  })
})
