import { createHash, createHmac } from 'node:crypto'
import { z } from 'zod'
import { providerError } from '../../core/errors.ts'
import { safeEqual } from '../../core/security/passwords.ts'
import {
  billingPageUrl,
  headerValue,
  invalidPayload,
  planByPriceId,
  priceFor,
  type IgnoredWebhook,
  type PaymentProvider,
  type PaymentsConfig,
  type PriceKey,
  type SubscriptionEvent,
  type SubscriptionEventType,
  type SubscriptionStatus,
  type WebhookHeaders,
} from '../../core/billing/payments.ts'

/**
 * Lemon Squeezy over its REST API (JSON:API), no SDK:
 * - checkout: POST https://api.lemonsqueezy.com/v1/checkouts
 *   (https://docs.lemonsqueezy.com/api/checkouts/create-checkout); the organization travels in
 *   checkout_data.custom and comes back in every webhook's meta.custom_data;
 * - webhooks: X-Signature is the hex HMAC-SHA256 of the raw body under the webhook's signing
 *   secret (https://docs.lemonsqueezy.com/help/webhooks/signing-requests); the event name is in
 *   meta.event_name (and the X-Event-Name header).
 */
export type LemonSqueezyOptions = {
  apiKey: string
  storeId: string
  webhookSecret: string
  /** Variant id per plan and interval, e.g. { 'basic:month': '123456' }. */
  variants: Partial<Record<PriceKey, string>>
  /** Where the customer lands after paying (product_options.redirect_url). */
  successUrl?: string
  /** Creates test-mode checkouts. */
  testMode?: boolean
  apiBase?: string
  timeoutMs?: number
}

export const LEMONSQUEEZY_API = 'https://api.lemonsqueezy.com'
const JSON_API = 'application/vnd.api+json'

const EVENT_TYPES: Record<string, SubscriptionEventType> = {
  subscription_created: 'created',
  subscription_updated: 'updated',
  subscription_cancelled: 'cancelled',
  subscription_expired: 'expired',
  subscription_resumed: 'resumed',
  subscription_payment_success: 'payment_succeeded',
  subscription_payment_failed: 'payment_failed',
  // subscription_payment_recovered is always sent together with subscription_payment_success: ignored.
}

/** https://docs.lemonsqueezy.com/api/subscriptions/the-subscription-object (status) */
const STATUSES: Record<string, SubscriptionStatus | undefined> = {
  on_trial: 'active',
  active: 'active',
  past_due: 'past_due',
  unpaid: 'past_due',
  cancelled: 'cancelled',
  expired: 'expired',
  paused: undefined, // payment collection paused: neither granted nor taken away here
}

const id = z.union([z.string().min(1), z.number()]).transform(String)
const isoDate = z.string().datetime({ offset: true }).transform((v) => new Date(v))
const webhookSchema = z.object({
  meta: z.object({
    event_name: z.string().min(1).optional(),
    custom_data: z.record(z.string(), z.unknown()).nullish(),
    test_mode: z.boolean().optional(),
  }),
  data: z.object({
    type: z.string().min(1),
    id,
    attributes: z.record(z.string(), z.unknown()),
  }),
})
const subscriptionAttributes = z.object({
  status: z.string(),
  variant_id: id,
  customer_id: id.nullish(),
  renews_at: isoDate.nullish(),
  ends_at: isoDate.nullish(),
  updated_at: isoDate,
})
const invoiceAttributes = z.object({
  subscription_id: id,
  customer_id: id.nullish(),
  status: z.string().optional(),
  updated_at: isoDate,
})
const portalResponse = z.object({ data: z.object({ attributes: z.object({ urls: z.object({ customer_portal: z.string().url() }) }) }) })
const checkoutResponse = z.object({ data: z.object({ attributes: z.object({ url: z.string().url() }) }) })

export function createLemonSqueezyProvider(options: LemonSqueezyOptions): PaymentProvider {
  const apiBase = (options.apiBase ?? LEMONSQUEEZY_API).replace(/\/+$/, '')
  const byVariant = planByPriceId(options.variants)

  return {
    name: 'lemonsqueezy',

    async createCheckout(input) {
      const variantId = priceFor(options.variants, input.plan, input.interval, 'Lemon Squeezy')
      const successUrl = input.successUrl ?? options.successUrl
      const body = {
        data: {
          type: 'checkouts',
          attributes: {
            checkout_data: {
              ...(input.email ? { email: input.email } : {}),
              custom: { organization_id: input.organizationId },
            },
            product_options: {
              // Only the variant asked for: the customer cannot pick another plan on the page.
              ...(/^\d+$/.test(variantId) ? { enabled_variants: [Number(variantId)] } : {}),
              ...(successUrl ? { redirect_url: successUrl } : {}),
            },
            ...(options.testMode ? { test_mode: true } : {}),
          },
          relationships: {
            store: { data: { type: 'stores', id: String(options.storeId) } },
            variant: { data: { type: 'variants', id: String(variantId) } },
          },
        },
      }
      let response: Response
      try {
        response = await fetch(`${apiBase}/v1/checkouts`, {
          method: 'POST',
          headers: { Accept: JSON_API, 'Content-Type': JSON_API, Authorization: `Bearer ${options.apiKey}` },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(options.timeoutMs ?? 20_000),
        })
      } catch (error) {
        throw providerError('lemonsqueezy.createCheckout', error)
      }
      const text = await response.text()
      if (!response.ok) throw providerError('lemonsqueezy.createCheckout', new Error(`HTTP ${response.status}: ${errorDetail(text)}`))
      const parsed = checkoutResponse.safeParse(safeJson(text))
      if (!parsed.success) throw providerError('lemonsqueezy.createCheckout', new Error('the response has no data.attributes.url'))
      return { url: parsed.data.data.attributes.url }
    },

    async portal(input) {
      // The subscription object carries a signed customer portal URL, valid for 24 hours
      // (https://docs.lemonsqueezy.com/api/subscriptions/retrieve-subscription, attributes.urls.customer_portal).
      if (!input.subscriptionId) throw providerError('lemonsqueezy.getSubscription', new Error('no Lemon Squeezy subscription is known for this organization'))
      let response: Response
      try {
        response = await fetch(`${apiBase}/v1/subscriptions/${encodeURIComponent(input.subscriptionId)}`, {
          headers: { Accept: JSON_API, Authorization: `Bearer ${options.apiKey}` },
          signal: AbortSignal.timeout(options.timeoutMs ?? 20_000),
        })
      } catch (error) {
        throw providerError('lemonsqueezy.getSubscription', error)
      }
      const text = await response.text()
      if (!response.ok) throw providerError('lemonsqueezy.getSubscription', new Error(`HTTP ${response.status}: ${errorDetail(text)}`))
      const parsed = portalResponse.safeParse(safeJson(text))
      if (!parsed.success) throw providerError('lemonsqueezy.getSubscription', new Error('the response has no data.attributes.urls.customer_portal'))
      return { url: parsed.data.data.attributes.urls.customer_portal }
    },

    verifyWebhook({ rawBody, headers }) {
      const signature = headerValue(headers, 'x-signature')
      if (!signature) return false
      const expected = createHmac('sha256', options.webhookSecret).update(rawBody).digest('hex')
      return safeEqual(expected, signature)
    },

    parseWebhook(rawBody, headers) {
      return parseLemonSqueezyWebhook(rawBody, headers, byVariant)
    },
  }
}

/**
 * Lemon Squeezy sends no event id. A stable one is derived from what identifies the change: the
 * event name, the object (type and id) and its updated_at. A redelivery of the same event carries
 * the same object at the same updated_at, so it gets the same id even if other bytes of the body
 * differ (the pre-signed `urls` in a subscription are regenerated); two different changes of one
 * subscription have different updated_at. Without an updated_at, the SHA-256 of the raw body.
 */
export function lemonSqueezyEventId(input: { eventName: string; dataType: string; dataId: string; updatedAt?: string; rawBody: Buffer }): string {
  if (input.updatedAt) return `${input.eventName}:${input.dataType}:${input.dataId}:${input.updatedAt}`
  return `sha256:${createHash('sha256').update(input.rawBody).digest('hex')}`
}

function parseLemonSqueezyWebhook(rawBody: Buffer, headers: WebhookHeaders, byVariant: ReturnType<typeof planByPriceId>): SubscriptionEvent | IgnoredWebhook {
  const json = safeJson(rawBody.toString('utf8'))
  if (json === undefined) throw invalidPayload('The Lemon Squeezy webhook body is not JSON')
  const parsed = webhookSchema.safeParse(json)
  if (!parsed.success) throw invalidPayload(`The Lemon Squeezy webhook body is not an event: ${describe(parsed.error)}`)
  const { meta, data } = parsed.data
  const eventName = meta.event_name ?? headerValue(headers, 'x-event-name')
  if (!eventName) throw invalidPayload('The Lemon Squeezy webhook names no event (meta.event_name)')
  const type = EVENT_TYPES[eventName]
  if (!type) return { ignored: `Lemon Squeezy event ${eventName}` }

  const custom = meta.custom_data?.organization_id
  const organizationId = typeof custom === 'string' && custom.trim() ? custom.trim() : typeof custom === 'number' ? String(custom) : null
  const rawUpdatedAt = typeof data.attributes.updated_at === 'string' ? data.attributes.updated_at : undefined
  const base = {
    provider: 'lemonsqueezy' as const,
    eventId: lemonSqueezyEventId({ eventName, dataType: data.type, dataId: data.id, updatedAt: rawUpdatedAt, rawBody }),
    type,
    organizationId,
  }

  if (data.type === 'subscriptions') {
    const a = subscriptionAttributes.safeParse(data.attributes)
    if (!a.success) throw invalidPayload(`The Lemon Squeezy subscription in ${eventName} is incomplete: ${describe(a.error)}`)
    const price = byVariant.get(a.data.variant_id)
    if (!price) return { ignored: `Lemon Squeezy variant ${a.data.variant_id} is not one of the configured plans (LEMONSQUEEZY_VARIANTS)` }
    const status = STATUSES[a.data.status]
    // renews_at is the end of the paid period; once cancelled, ends_at is when access ends.
    const periodEnd = (status === 'cancelled' || status === 'expired' ? a.data.ends_at : undefined) ?? a.data.renews_at ?? undefined
    return {
      ...base,
      occurredAt: a.data.updated_at,
      plan: price.plan,
      interval: price.interval,
      ...(status ? { status } : {}),
      ...(periodEnd ? { periodEnd } : {}),
      providerSubscriptionId: data.id,
      ...(a.data.customer_id ? { providerCustomerId: a.data.customer_id } : {}),
    }
  }
  if (data.type === 'subscription-invoices') {
    const a = invoiceAttributes.safeParse(data.attributes)
    if (!a.success) throw invalidPayload(`The Lemon Squeezy subscription invoice in ${eventName} is incomplete: ${describe(a.error)}`)
    return {
      ...base,
      occurredAt: a.data.updated_at,
      providerSubscriptionId: a.data.subscription_id,
      ...(a.data.customer_id ? { providerCustomerId: a.data.customer_id } : {}),
    }
  }
  return { ignored: `Lemon Squeezy ${eventName} about a ${data.type} object` }
}

/** Lemon Squeezy, when its four variables are set; null otherwise (see checkPaymentsConfig). */
export function lemonSqueezyFromConfig(config: PaymentsConfig & { PUBLIC_URL?: string }): PaymentProvider | null {
  if (!config.LEMONSQUEEZY_API_KEY || !config.LEMONSQUEEZY_STORE_ID || !config.LEMONSQUEEZY_WEBHOOK_SECRET || !Object.keys(config.LEMONSQUEEZY_VARIANTS).length) return null
  return createLemonSqueezyProvider({
    apiKey: config.LEMONSQUEEZY_API_KEY,
    storeId: config.LEMONSQUEEZY_STORE_ID,
    webhookSecret: config.LEMONSQUEEZY_WEBHOOK_SECRET,
    variants: config.LEMONSQUEEZY_VARIANTS,
    apiBase: config.LEMONSQUEEZY_API_URL,
    successUrl: config.BILLING_SUCCESS_URL ?? billingPageUrl(config.PUBLIC_URL, 'checkout=success'),
  })
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** JSON:API errors: { errors: [{ detail, status, title }] }. Never the request (it has the key). */
function errorDetail(text: string): string {
  const body = safeJson(text) as { errors?: { detail?: string; title?: string }[] } | undefined
  const first = body?.errors?.[0]
  return (first?.detail ?? first?.title ?? text.slice(0, 200)) || 'no body'
}

const describe = (error: z.ZodError) => error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
