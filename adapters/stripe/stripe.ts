import Stripe from 'stripe'
import { providerError } from '../../core/errors.ts'
import {
  billingPageUrl,
  headerValue,
  invalidPayload,
  planByPriceId,
  priceFor,
  type BillingInterval,
  type IgnoredWebhook,
  type PaidPlan,
  type PaymentProvider,
  type PaymentsConfig,
  type PriceKey,
  type SubscriptionEvent,
  type SubscriptionStatus,
  type WebhookHeaders,
} from '../../core/billing/payments.ts'

/**
 * Stripe with its official SDK:
 * - checkout: a Checkout Session in subscription mode (https://docs.stripe.com/api/checkout/sessions/create);
 *   the organization is the session's client_reference_id and the subscription's metadata, which
 *   every subscription event and every subscription invoice carries back;
 * - webhooks: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, checked by
 *   `stripe.webhooks.constructEvent` with a timestamp tolerance (300 s by default)
 *   (https://docs.stripe.com/webhooks#verify-events).
 */
export type StripeProviderOptions = {
  secretKey: string
  webhookSecret: string
  /** Price id per plan and interval, e.g. { 'basic:month': 'price_123' }. */
  prices: Partial<Record<PriceKey, string>>
  successUrl?: string
  cancelUrl?: string
  /** Seconds a signed webhook stays acceptable; Stripe's default is 300. */
  toleranceSeconds?: number
  /** Where the customer portal sends the customer back (the billing page). */
  portalReturnUrl?: string
  /** Stripe's API base URL (default https://api.stripe.com): a local fake in tests. */
  apiUrl?: string
  /** An SDK client to use instead of a new one (tests, or a shared client). */
  client?: Stripe
}

/** The SDK's host, port and protocol for an API base URL; nothing for Stripe's own. */
function hostOf(apiUrl: string | undefined): { host?: string; port?: number; protocol?: 'http' | 'https' } {
  if (!apiUrl) return {}
  const u = new URL(apiUrl)
  if (u.hostname === 'api.stripe.com' && u.protocol === 'https:' && !u.port) return {}
  const protocol = u.protocol === 'http:' ? 'http' : 'https'
  return { host: u.hostname, port: u.port ? Number(u.port) : protocol === 'http' ? 80 : 443, protocol }
}

type PriceInfo = { plan: PaidPlan; interval: BillingInterval }

/** https://docs.stripe.com/api/subscriptions/object#subscription_object-status */
const STATUSES: Record<string, SubscriptionStatus | 'incomplete' | undefined> = {
  trialing: 'active',
  active: 'active',
  past_due: 'past_due',
  unpaid: 'past_due',
  canceled: 'expired',
  incomplete_expired: 'expired',
  // No period advances while paused: no access until it resumes.
  paused: 'expired',
  incomplete: 'incomplete',
}

const fromUnix = (seconds: number | null | undefined) => (typeof seconds === 'number' ? new Date(seconds * 1000) : undefined)
const idOf = (value: string | { id: string } | null | undefined) => (typeof value === 'string' ? value : (value?.id ?? undefined))
const orgOf = (metadata: Record<string, string> | null | undefined) => metadata?.organization_id?.trim() || null

export function createStripeProvider(options: StripeProviderOptions): PaymentProvider {
  const stripe = options.client ?? new Stripe(options.secretKey, { maxNetworkRetries: 2, timeout: 20_000, appInfo: { name: 'Switchboard' }, ...hostOf(options.apiUrl) })
  const byPrice = planByPriceId(options.prices)
  const tolerance = options.toleranceSeconds ?? stripe.webhooks.DEFAULT_TOLERANCE

  const construct = (rawBody: Buffer, headers: WebhookHeaders) => {
    const signature = headerValue(headers, 'stripe-signature')
    if (!signature) throw new Error('No Stripe-Signature header')
    return stripe.webhooks.constructEvent(rawBody, signature, options.webhookSecret, tolerance)
  }

  return {
    name: 'stripe',

    async createCheckout(input) {
      const price = priceFor(options.prices, input.plan, input.interval, 'Stripe')
      const successUrl = input.successUrl ?? options.successUrl
      const cancelUrl = input.cancelUrl ?? options.cancelUrl
      try {
        const session = await stripe.checkout.sessions.create({
          mode: 'subscription',
          line_items: [{ price, quantity: 1 }],
          client_reference_id: input.organizationId,
          metadata: { organization_id: input.organizationId },
          subscription_data: { metadata: { organization_id: input.organizationId } },
          ...(successUrl ? { success_url: successUrl } : {}),
          ...(cancelUrl ? { cancel_url: cancelUrl } : {}),
          ...(input.email ? { customer_email: input.email } : {}),
        })
        if (!session.url) throw new Error('the session has no url')
        return { url: session.url }
      } catch (error) {
        throw providerError('stripe.checkout.sessions.create', error)
      }
    },

    async portal(input) {
      if (!input.customerId) throw providerError('stripe.billingPortal.sessions.create', new Error('the subscription names no Stripe customer'))
      const returnUrl = input.returnUrl ?? options.portalReturnUrl
      try {
        // https://docs.stripe.com/api/customer_portal/sessions/create
        const session = await stripe.billingPortal.sessions.create({ customer: input.customerId, ...(returnUrl ? { return_url: returnUrl } : {}) })
        return { url: session.url }
      } catch (error) {
        throw providerError('stripe.billingPortal.sessions.create', error)
      }
    },

    verifyWebhook({ rawBody, headers }) {
      try {
        construct(rawBody, headers)
        return true
      } catch (error) {
        // constructEvent checks the signature first and parses after: a JSON error means the
        // signature was right and the body is malformed (parseWebhook answers that one with 400).
        return error instanceof SyntaxError
      }
    },

    parseWebhook(rawBody, headers) {
      let event: Stripe.Event
      try {
        event = construct(rawBody, headers)
      } catch (error) {
        if (error instanceof SyntaxError) throw invalidPayload('The Stripe webhook body is not JSON')
        throw error
      }
      if (!event || typeof event.id !== 'string' || typeof event.type !== 'string' || typeof event.created !== 'number' || !event.data?.object) {
        throw invalidPayload('The Stripe webhook body is not an event')
      }
      return mapStripeEvent(event, byPrice)
    },
  }
}

function mapStripeEvent(event: Stripe.Event, byPrice: Map<string, PriceInfo>): SubscriptionEvent | IgnoredWebhook {
  const base = { provider: 'stripe' as const, eventId: event.id, occurredAt: new Date(event.created * 1000) }
  switch (event.type) {
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const subscription = event.data.object
      const previous = (event.data as { previous_attributes?: Partial<Stripe.Subscription> }).previous_attributes
      return fromSubscription({ base, kind: event.type, subscription, previous, byPrice })
    }
    case 'invoice.paid':
    case 'invoice.payment_succeeded':
    case 'invoice.payment_failed':
      return fromInvoice({ base, failed: event.type === 'invoice.payment_failed', invoice: event.data.object, byPrice })
    default:
      return { ignored: `Stripe event ${event.type}` }
  }
}

type Base = { provider: 'stripe'; eventId: string; occurredAt: Date }

function fromSubscription(input: { base: Base; kind: string; subscription: Stripe.Subscription; previous?: Partial<Stripe.Subscription>; byPrice: Map<string, PriceInfo> }): SubscriptionEvent | IgnoredWebhook {
  const { base, kind, subscription: sub, previous, byPrice } = input
  const items = sub.items?.data ?? []
  if (!Array.isArray(items)) throw invalidPayload('The Stripe subscription has no items')
  const item = items.find((i) => byPrice.has(i.price?.id)) ?? items[0]
  const price = item?.price?.id ? byPrice.get(item.price.id) : undefined
  if (!price) return { ignored: `Stripe subscription ${sub.id} is not for one of the configured prices (STRIPE_PRICES)` }
  const status = STATUSES[sub.status]
  if (status === 'incomplete') return { ignored: `Stripe subscription ${sub.id} is incomplete: waiting for its first payment` }

  // Since API version 2025-03-31 the period is on the subscription items; before, on the subscription.
  const legacy = sub as unknown as { current_period_start?: number; current_period_end?: number }
  let periodStart = fromUnix(item?.current_period_start ?? legacy.current_period_start)
  let periodEnd = fromUnix(item?.current_period_end ?? legacy.current_period_end)

  let type: SubscriptionEvent['type']
  let mapped: SubscriptionStatus | undefined = status
  const cancelAt = fromUnix(sub.cancel_at)
  if (kind === 'customer.subscription.deleted' || status === 'expired') {
    type = 'expired'
    mapped = 'expired'
  } else if (kind === 'customer.subscription.created') {
    type = 'created'
  } else if (sub.cancel_at_period_end || (cancelAt && (!periodEnd || cancelAt.getTime() <= periodEnd.getTime()))) {
    // Cancelled in Stripe's sense: it stays active until the period (or cancel_at) ends.
    type = 'cancelled'
    mapped = 'cancelled'
    if (cancelAt) {
      periodEnd = cancelAt
      periodStart = periodStart && periodStart.getTime() < cancelAt.getTime() ? periodStart : undefined
    }
  } else if (previous && (previous.cancel_at_period_end === true || (previous.cancel_at !== undefined && previous.cancel_at !== null))) {
    type = 'resumed'
  } else {
    type = 'updated'
  }

  return {
    ...base,
    type,
    organizationId: orgOf(sub.metadata),
    plan: price.plan,
    interval: price.interval,
    ...(mapped ? { status: mapped } : {}),
    ...(periodStart ? { periodStart } : {}),
    ...(periodEnd ? { periodEnd } : {}),
    providerSubscriptionId: sub.id,
    ...(idOf(sub.customer) ? { providerCustomerId: idOf(sub.customer) } : {}),
  }
}

function fromInvoice(input: { base: Base; failed: boolean; invoice: Stripe.Invoice; byPrice: Map<string, PriceInfo> }): SubscriptionEvent | IgnoredWebhook {
  const { base, failed, invoice, byPrice } = input
  // Since API version 2025-03-31 the subscription is under parent.subscription_details.
  const legacy = invoice as unknown as { subscription?: string | { id: string } | null; subscription_details?: { metadata?: Record<string, string> | null } | null }
  const details = invoice.parent?.subscription_details ?? null
  const subscriptionId = idOf(details?.subscription) ?? idOf(legacy.subscription)
  if (!subscriptionId) return { ignored: `Stripe invoice ${invoice.id} is not for a subscription` }

  const lines = invoice.lines?.data ?? []
  const line = lines.find((l) => !isProration(l)) ?? lines[0]
  const lineLegacy = line as unknown as { price?: { id?: string } | null; plan?: { id?: string } | null } | undefined
  const priceId = line?.pricing?.price_details?.price ? idOf(line.pricing.price_details.price) : (lineLegacy?.price?.id ?? lineLegacy?.plan?.id)
  const price = priceId ? byPrice.get(priceId) : undefined
  // Only a full (non-proration) subscription line is a billing period.
  const period = line && !isProration(line) ? line.period : undefined

  return {
    ...base,
    type: failed ? 'payment_failed' : 'payment_succeeded',
    organizationId: orgOf(details?.metadata) ?? orgOf(legacy.subscription_details?.metadata) ?? orgOf(line?.metadata),
    ...(price ? { plan: price.plan, interval: price.interval } : {}),
    ...(period?.start ? { periodStart: new Date(period.start * 1000) } : {}),
    ...(period?.end ? { periodEnd: new Date(period.end * 1000) } : {}),
    providerSubscriptionId: subscriptionId,
    ...(idOf(invoice.customer) ? { providerCustomerId: idOf(invoice.customer) } : {}),
  }
}

function isProration(line: Stripe.InvoiceLineItem): boolean {
  const parent = line.parent
  const legacy = line as unknown as { proration?: boolean }
  return Boolean(parent?.subscription_item_details?.proration ?? parent?.invoice_item_details?.proration ?? legacy.proration)
}

/** Stripe, when its three variables are set; null otherwise (see checkPaymentsConfig). */
export function stripeFromConfig(config: PaymentsConfig & { PUBLIC_URL?: string }): PaymentProvider | null {
  if (!config.STRIPE_SECRET_KEY || !config.STRIPE_WEBHOOK_SECRET || !Object.keys(config.STRIPE_PRICES).length) return null
  return createStripeProvider({
    secretKey: config.STRIPE_SECRET_KEY,
    webhookSecret: config.STRIPE_WEBHOOK_SECRET,
    prices: config.STRIPE_PRICES,
    apiUrl: config.STRIPE_API_URL,
    successUrl: config.BILLING_SUCCESS_URL ?? billingPageUrl(config.PUBLIC_URL, 'checkout=success'),
    cancelUrl: config.BILLING_CANCEL_URL ?? billingPageUrl(config.PUBLIC_URL, 'checkout=cancelled'),
    portalReturnUrl: billingPageUrl(config.PUBLIC_URL),
  })
}
