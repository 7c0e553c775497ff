import { z } from 'zod'
import { AppError } from '../errors.ts'
import type { Clock } from '../ports.ts'

/**
 * Payments: the port every payment provider implements (adapters/lemonsqueezy, adapters/stripe),
 * and the subscription lifecycle the providers' webhooks drive. No SDK here.
 *
 * The Subscription row this writes is what core/billing/plans.ts reads to decide the plan:
 * expired → Trial; cancelled → the paid plan until currentPeriodEnd; past_due → the paid plan
 * until graceUntil; a pendingPlan (a downgrade) once currentPeriodEnd has passed.
 */

// ---------- vocabulary ----------

export const PAID_PLANS = ['basic', 'pro', 'enterprise'] as const
export type PaidPlan = (typeof PAID_PLANS)[number]
export type PlanId = 'trial' | PaidPlan
export const BILLING_INTERVALS = ['month', 'year'] as const
export type BillingInterval = (typeof BILLING_INTERVALS)[number]
/** `basic:month`, `pro:year`, ...: how the configuration names a provider's price or variant. */
export type PriceKey = `${PaidPlan}:${BillingInterval}`
export type SubscriptionStatus = 'active' | 'past_due' | 'cancelled' | 'expired'
export type PaymentProviderName = 'lemonsqueezy' | 'stripe'

/** Upgrades take effect at once, downgrades at the end of the period. */
export const PLAN_RANK: Record<PlanId, number> = { trial: 0, basic: 1, pro: 2, enterprise: 3 }

export const isPaidPlan = (value: unknown): value is PaidPlan => typeof value === 'string' && (PAID_PLANS as readonly string[]).includes(value)

// ---------- the port ----------

export type SubscriptionEventType = 'created' | 'updated' | 'cancelled' | 'expired' | 'resumed' | 'payment_succeeded' | 'payment_failed'

/** One provider webhook, normalised. Every field but the first five is what the provider's object says now. */
export type SubscriptionEvent = {
  provider: PaymentProviderName
  /** Unique per provider: the same event delivered twice has the same id. */
  eventId: string
  type: SubscriptionEventType
  /**
   * From the custom data we put into the checkout. Null when the provider's object does not carry
   * it: the service then finds the organization by providerSubscriptionId.
   */
  organizationId: string | null
  /** The provider's time of the change; older than the subscription's last event = stale. */
  occurredAt: Date
  plan?: PaidPlan
  interval?: BillingInterval
  status?: SubscriptionStatus
  periodStart?: Date
  periodEnd?: Date
  providerSubscriptionId?: string
  providerCustomerId?: string
}
/** A webhook that is genuine but not one we act on (another event type, another product). */
export type IgnoredWebhook = { ignored: string }
export type WebhookHeaders = Record<string, string | string[] | undefined>
export type WebhookRequest = { rawBody: Buffer; headers: WebhookHeaders }
export type CheckoutInput = {
  organizationId: string
  plan: PaidPlan
  interval: BillingInterval
  email?: string
  successUrl?: string
  cancelUrl?: string
}

export type PaymentProvider = {
  name: PaymentProviderName
  /** A hosted checkout page for that plan; the organization travels in the checkout's custom data. */
  createCheckout(input: CheckoutInput): Promise<{ url: string }>
  /** The provider's signature over the raw body, compared in constant time. Missing or wrong = false. */
  verifyWebhook(req: WebhookRequest): boolean
  /**
   * Only after verifyWebhook. Throws AppError `invalid_payload` (400) when the body is not what
   * the provider sends; returns `{ ignored }` for event types and products that are not ours.
   */
  parseWebhook(rawBody: Buffer, headers: WebhookHeaders): SubscriptionEvent | IgnoredWebhook
  /**
   * The provider's hosted page where the customer manages the subscription (cancel, resume,
   * payment method): Stripe's customer portal, Lemon Squeezy's customer portal. The ids are the
   * ones the provider's webhooks gave (SubscriptionState.providerCustomerId / providerSubscriptionId).
   */
  portal(input: { customerId: string | null; subscriptionId: string | null; returnUrl?: string }): Promise<{ url: string }>
}

export const isIgnored = (parsed: SubscriptionEvent | IgnoredWebhook): parsed is IgnoredWebhook => 'ignored' in parsed

export const invalidPayload = (message: string) => new AppError('invalid_payload', message, 400)

/** A header's first value (Node lowercases header names). */
export function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()]
  const first = Array.isArray(value) ? value[0] : value
  return first?.trim() ? first.trim() : undefined
}

/** Picks the provider (the one asked for, else the default, else the first configured) and asks it for a checkout link. */
export async function createCheckoutLink(
  providers: ReadonlyMap<string, PaymentProvider>,
  input: CheckoutInput & { provider?: string; defaultProvider?: string },
): Promise<{ url: string; provider: PaymentProviderName }> {
  const name = input.provider ?? input.defaultProvider ?? providers.keys().next().value
  const provider = name ? providers.get(name) : undefined
  if (!provider) {
    throw input.provider
      ? new AppError('payments_not_configured', `${input.provider} payments are not configured on this server`, 422)
      : new AppError('payments_not_configured', 'No payment provider is configured: set the LEMONSQUEEZY_* or STRIPE_* variables', 503)
  }
  const { provider: _p, defaultProvider: _d, ...checkout } = input
  const { url } = await provider.createCheckout(checkout)
  return { url, provider: provider.name }
}

/**
 * The provider's customer portal for the organization's subscription. AppError `no_subscription`
 * (409) when the organization has not paid through a configured provider.
 */
export async function createPortalLink(
  providers: ReadonlyMap<string, PaymentProvider>,
  subscription: Pick<SubscriptionState, 'provider' | 'providerCustomerId' | 'providerSubscriptionId'> | null,
  input: { returnUrl?: string } = {},
): Promise<{ url: string; provider: PaymentProviderName }> {
  if (!subscription?.provider || (!subscription.providerCustomerId && !subscription.providerSubscriptionId)) {
    throw new AppError('no_subscription', 'This organization has no paid subscription to manage yet: choose a plan first', 409)
  }
  const provider = providers.get(subscription.provider)
  if (!provider) throw new AppError('payments_not_configured', `${subscription.provider} payments are not configured on this server`, 422)
  const { url } = await provider.portal({ customerId: subscription.providerCustomerId, subscriptionId: subscription.providerSubscriptionId, ...(input.returnUrl ? { returnUrl: input.returnUrl } : {}) })
  return { url, provider: provider.name }
}

// ---------- configuration ----------

const trimmed = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined))

const priceKeyPattern = /^(basic|pro|enterprise):(month|year)$/
/** JSON like {"basic:month":"123","pro:year":"456"}: the provider's id for each plan and interval sold. */
const priceMap = (example: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx): Partial<Record<PriceKey, string>> => {
      if (!v?.trim()) return {}
      let raw: unknown
      try {
        raw = JSON.parse(v)
      } catch {
        ctx.addIssue({ code: 'custom', message: `expected JSON like ${example}` })
        return z.NEVER
      }
      const parsed = z.record(z.string().regex(priceKeyPattern, 'keys are plan:interval with plan basic, pro or enterprise and interval month or year'), z.union([z.string().trim().min(1), z.number().int().positive()])).safeParse(raw)
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: `expected JSON like ${example}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}` })
        return z.NEVER
      }
      return Object.fromEntries(Object.entries(parsed.data).map(([k, id]) => [k, String(id)])) as Partial<Record<PriceKey, string>>
    })

/** A provider's API base URL (http or https, no path beyond /), trailing slashes removed. */
const apiUrl = (fallback: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v) => (v ? v.replace(/\/+$/, '') : fallback))
    .refine((v) => {
      try {
        const u = new URL(v)
        return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && (u.pathname === '/' || u.pathname === '')
      } catch {
        return false
      }
    }, { message: 'expected a base URL such as https://api.example.com (http or https, no path)' })

/**
 * The environment variables of payments, to merge into core/config's schema
 * (`configSchema.extend(paymentsConfigSchema.shape)`; the cross-field checks are in
 * `checkPaymentsConfig`). Every variable is optional: a provider is on when its keys are set.
 */
export const paymentsConfigSchema = z.object({
  LEMONSQUEEZY_API_KEY: trimmed,
  LEMONSQUEEZY_STORE_ID: trimmed,
  LEMONSQUEEZY_WEBHOOK_SECRET: trimmed,
  LEMONSQUEEZY_VARIANTS: priceMap('{"basic:month":"123456","basic:year":"123457","pro:month":"123458"}'),
  STRIPE_SECRET_KEY: trimmed,
  STRIPE_WEBHOOK_SECRET: trimmed,
  STRIPE_PRICES: priceMap('{"basic:month":"price_123","pro:month":"price_456"}'),
  /** Where the providers' APIs are: their real addresses by default; a local fake in tests and trials. */
  STRIPE_API_URL: apiUrl('https://api.stripe.com'),
  LEMONSQUEEZY_API_URL: apiUrl('https://api.lemonsqueezy.com'),
  /** Days a past-due subscription keeps its paid plan after a failed payment. */
  BILLING_GRACE_DAYS: z.coerce.number().int().min(0).max(90).default(7),
  /** Where the provider sends the customer after paying / abandoning; default PUBLIC_URL + /billing?checkout=success|cancelled. */
  BILLING_SUCCESS_URL: trimmed.refine((v) => v === undefined || /^https?:\/\//.test(v), { message: 'expected a URL starting with http:// or https://' }),
  BILLING_CANCEL_URL: trimmed.refine((v) => v === undefined || /^https?:\/\//.test(v), { message: 'expected a URL starting with http:// or https://' }),
})
export type PaymentsConfig = z.infer<typeof paymentsConfigSchema>

/**
 * The admin web's billing page (a hash route under /admin/), where the providers send the customer
 * back: after a checkout (`?checkout=success|cancelled`) or from the customer portal.
 */
export function billingPageUrl(publicUrl: string | undefined, query?: string): string | undefined {
  const base = publicUrl?.trim().replace(/\/+$/, '')
  return base ? `${base}/admin/#/billing${query ? `?${query}` : ''}` : undefined
}

/** Problems with a half-configured provider, as `VARIABLE: what is missing` lines (empty = fine). */
export function checkPaymentsConfig(config: PaymentsConfig): string[] {
  const problems: string[] = []
  const ls = [config.LEMONSQUEEZY_API_KEY, config.LEMONSQUEEZY_STORE_ID, config.LEMONSQUEEZY_WEBHOOK_SECRET]
  if (ls.some(Boolean) || Object.keys(config.LEMONSQUEEZY_VARIANTS).length) {
    if (!config.LEMONSQUEEZY_API_KEY) problems.push('LEMONSQUEEZY_API_KEY: required when Lemon Squeezy is configured')
    if (!config.LEMONSQUEEZY_STORE_ID) problems.push('LEMONSQUEEZY_STORE_ID: required when Lemon Squeezy is configured')
    if (!config.LEMONSQUEEZY_WEBHOOK_SECRET) problems.push('LEMONSQUEEZY_WEBHOOK_SECRET: required when Lemon Squeezy is configured (the signing secret of the webhook)')
    if (!Object.keys(config.LEMONSQUEEZY_VARIANTS).length) problems.push('LEMONSQUEEZY_VARIANTS: required when Lemon Squeezy is configured, e.g. {"basic:month":"123456"}')
  }
  if (config.STRIPE_SECRET_KEY || config.STRIPE_WEBHOOK_SECRET || Object.keys(config.STRIPE_PRICES).length) {
    if (!config.STRIPE_SECRET_KEY) problems.push('STRIPE_SECRET_KEY: required when Stripe is configured')
    if (!config.STRIPE_WEBHOOK_SECRET) problems.push('STRIPE_WEBHOOK_SECRET: required when Stripe is configured (whsec_...)')
    if (!Object.keys(config.STRIPE_PRICES).length) problems.push('STRIPE_PRICES: required when Stripe is configured, e.g. {"basic:month":"price_123"}')
  }
  return problems
}

/** The reverse of a price map: the provider's id → plan and interval. */
export function planByPriceId(prices: Partial<Record<PriceKey, string>>): Map<string, { plan: PaidPlan; interval: BillingInterval }> {
  const byId = new Map<string, { plan: PaidPlan; interval: BillingInterval }>()
  for (const [key, id] of Object.entries(prices)) {
    const [plan, interval] = key.split(':') as [PaidPlan, BillingInterval]
    if (id) byId.set(String(id), { plan, interval })
  }
  return byId
}

export function priceFor(prices: Partial<Record<PriceKey, string>>, plan: PaidPlan, interval: BillingInterval, provider: string): string {
  const id = prices[`${plan}:${interval}`]
  if (!id) throw new AppError('plan_not_available', `The ${plan} plan billed per ${interval} is not sold through ${provider} here`, 422)
  return id
}

// ---------- the subscription and its store ----------

/** The Subscription row. */
export type SubscriptionState = {
  organizationId: string
  plan: PlanId
  interval: BillingInterval
  status: SubscriptionStatus
  currentPeriodStart: Date
  currentPeriodEnd: Date
  pendingPlan: PaidPlan | null
  cancelAtPeriodEnd: boolean
  graceUntil: Date | null
  provider: PaymentProviderName | null
  providerSubscriptionId: string | null
  providerCustomerId: string | null
  lastEventAt: Date | null
}

/**
 * - applied: the subscription changed;
 * - duplicate: that event id was stored before, nothing changed;
 * - stale: older than the last event applied, stored but nothing changed;
 * - plan_learned: stale, but it named the plan of a paid subscription whose plan was not known
 *   yet (its payment arrived first), so the plan and period were taken from it, nothing else;
 * - other_subscription: about a subscription the organization has replaced, nothing changed;
 * - unknown_organization: no organization to apply it to, stored only.
 */
export type ApplyResult = 'applied' | 'duplicate' | 'stale' | 'plan_learned' | 'other_subscription' | 'unknown_organization'

export type BillingEventRecord = {
  provider: PaymentProviderName
  eventId: string
  type: SubscriptionEventType
  organizationId: string | null
  occurredAt: Date
  payload: Record<string, unknown>
}

/** The store's operations inside the one transaction of one event. */
export type SubscriptionStoreTx = {
  /** Inserts the event with its id; false when (provider, eventId) is there already. */
  recordEvent(event: BillingEventRecord): Promise<boolean>
  /** Writes the outcome (and the organization found) onto the stored event. */
  finishEvent(input: { provider: PaymentProviderName; eventId: string; result: ApplyResult; organizationId: string | null }): Promise<void>
  /** The organization whose subscription this is at that provider, if any. */
  organizationBySubscription(provider: PaymentProviderName, providerSubscriptionId: string): Promise<string | null>
  /**
   * Locks the organization's subscription until the transaction ends (events of one organization
   * apply one at a time) and reads it. `exists: false` when there is no such organization.
   */
  lock(organizationId: string): Promise<{ exists: boolean; subscription: SubscriptionState | null }>
  save(state: SubscriptionState): Promise<void>
}

export type SubscriptionStore = {
  /** Everything one event writes commits together, or nothing does. */
  transaction<T>(fn: (tx: SubscriptionStoreTx) => Promise<T>): Promise<T>
  get(organizationId: string): Promise<SubscriptionState | null>
}

// ---------- the lifecycle ----------

const DAY_MS = 86_400_000

/** `date` plus whole months in UTC, keeping the time of day; the 31st becomes the last day of a shorter month. */
export function addMonthsUtc(date: Date, months: number): Date {
  const targetMonth = date.getUTCMonth() + months
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), targetMonth + 1, 0)).getUTCDate()
  return new Date(Date.UTC(date.getUTCFullYear(), targetMonth, Math.min(date.getUTCDate(), lastDay), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds()))
}
const intervalMonths = (interval: BillingInterval) => (interval === 'year' ? 12 : 1)

/** The Trial an organization has before its first payment event. */
export function initialSubscription(organizationId: string, event: Pick<SubscriptionEvent, 'occurredAt' | 'interval' | 'periodStart' | 'periodEnd'>): SubscriptionState {
  const interval = event.interval ?? 'month'
  const end = event.periodEnd ?? addMonthsUtc(event.periodStart ?? event.occurredAt, intervalMonths(interval))
  return {
    organizationId,
    plan: 'trial',
    interval,
    status: 'active',
    currentPeriodStart: event.periodStart ?? addMonthsUtc(end, -intervalMonths(interval)),
    currentPeriodEnd: end,
    pendingPlan: null,
    cancelAtPeriodEnd: false,
    graceUntil: null,
    provider: null,
    providerSubscriptionId: null,
    providerCustomerId: null,
    lastEventAt: null,
  }
}

/**
 * The plan the subscription gives at `now` (the same rule as plans.ts `effectivePlan`):
 * expired → trial; cancelled (or set to cancel) → the paid plan until currentPeriodEnd;
 * past_due → the paid plan until graceUntil; a pending downgrade once currentPeriodEnd has passed.
 */
export function planAt(state: SubscriptionState | null, now: Date): PlanId {
  if (!state) return 'trial'
  const t = now.getTime()
  const end = state.currentPeriodEnd.getTime()
  if (state.status === 'expired') return 'trial'
  if ((state.status === 'cancelled' || state.cancelAtPeriodEnd) && t >= end) return 'trial'
  if (state.status === 'past_due' && t >= (state.graceUntil ?? state.currentPeriodEnd).getTime()) return 'trial'
  return state.pendingPlan && t >= end ? state.pendingPlan : state.plan
}

/** A pending downgrade becomes the plan once a moment at or after the period's end is seen. */
export function rollover(state: SubscriptionState, at: Date): SubscriptionState {
  if (!state.pendingPlan || at.getTime() < state.currentPeriodEnd.getTime()) return state
  return { ...state, plan: state.pendingPlan, pendingPlan: null }
}

type Ctx = { now: Date; graceDays: number }

const hasPaidPlan = (s: SubscriptionState) => s.status !== 'expired' && s.plan !== 'trial'

/** Higher plan (or no paid plan yet): at once. Lower: pending until the period ends. Same: cancels a pending downgrade. */
function withPlan(s: SubscriptionState, e: SubscriptionEvent, immediate = false): SubscriptionState {
  if (!e.plan) return s
  const interval = e.interval ?? s.interval
  if (immediate || !hasPaidPlan(s) || PLAN_RANK[e.plan] > PLAN_RANK[s.plan]) return { ...s, plan: e.plan, interval, pendingPlan: null }
  if (e.plan === s.plan) return { ...s, interval, pendingPlan: null }
  return { ...s, pendingPlan: e.plan }
}

const activate = (s: SubscriptionState): SubscriptionState => ({ ...s, status: 'active', graceUntil: null, cancelAtPeriodEnd: false })
const cancel = (s: SubscriptionState): SubscriptionState => (s.status === 'expired' ? s : { ...s, status: 'cancelled', cancelAtPeriodEnd: true, graceUntil: null })
const expire = (s: SubscriptionState): SubscriptionState => ({ ...s, status: 'expired', plan: 'trial', pendingPlan: null, cancelAtPeriodEnd: false, graceUntil: null })
/** Repeated failures while already past due keep the first grace deadline. */
const pastDue = (s: SubscriptionState, ctx: Ctx): SubscriptionState =>
  s.status === 'expired' ? s : { ...s, status: 'past_due', graceUntil: s.status === 'past_due' && s.graceUntil ? s.graceUntil : new Date(ctx.now.getTime() + ctx.graceDays * DAY_MS) }
/** A payment does not undo a cancellation (the customer asked for it); it ends any grace period. */
const paid = (s: SubscriptionState): SubscriptionState => (s.status === 'cancelled' ? { ...s, graceUntil: null } : { ...s, status: 'active', graceUntil: null })

function withStatus(s: SubscriptionState, status: SubscriptionStatus | undefined, ctx: Ctx): SubscriptionState {
  switch (status) {
    case 'active':
      return activate(s)
    case 'past_due':
      return pastDue(s, ctx)
    case 'cancelled':
      return cancel(s)
    case 'expired':
      return expire(s)
    default:
      return s
  }
}

/** The event's period; the same end keeps the current start (usage is counted per period start). */
function withPeriod(s: SubscriptionState, e: SubscriptionEvent): SubscriptionState {
  if (!e.periodEnd || e.periodEnd.getTime() === s.currentPeriodEnd.getTime()) return s
  const start = e.periodStart ?? addMonthsUtc(e.periodEnd, -intervalMonths(s.interval))
  return { ...s, currentPeriodStart: start, currentPeriodEnd: e.periodEnd }
}

/**
 * One event applied to one subscription: a pure function, so that the lifecycle can be tested
 * without a database. See ApplyResult for the outcomes.
 */
export function transition(current: SubscriptionState, e: SubscriptionEvent, ctx: Ctx): { state: SubscriptionState; result: ApplyResult } {
  const sameSubscription = !current.providerSubscriptionId || !e.providerSubscriptionId || (current.provider === e.provider && current.providerSubscriptionId === e.providerSubscriptionId)
  const stale = current.lastEventAt !== null && e.occurredAt.getTime() < current.lastEventAt.getTime()
  if (!sameSubscription && (e.type !== 'created' || stale)) return { state: current, result: stale ? 'stale' : 'other_subscription' }
  if (stale) {
    // The payment of a new subscription can arrive before the subscription itself (Lemon Squeezy's
    // invoices do not name the plan): the late subscription event still tells which plan was bought.
    // Its period too: the state's came from the payment, which names none (or from nothing).
    if (e.plan && e.type !== 'expired' && current.plan === 'trial' && current.status !== 'expired') {
      const learned = withPeriod({ ...current, plan: e.plan, interval: e.interval ?? current.interval }, e)
      return {
        state: {
          ...learned,
          provider: learned.provider ?? e.provider,
          providerSubscriptionId: learned.providerSubscriptionId ?? e.providerSubscriptionId ?? null,
          providerCustomerId: learned.providerCustomerId ?? e.providerCustomerId ?? null,
        },
        result: 'plan_learned',
      }
    }
    return { state: current, result: 'stale' }
  }

  // A later event that happens after the period's end, or moves the period past it, ends the period.
  const end = current.currentPeriodEnd.getTime()
  const crossesEnd = e.occurredAt.getTime() >= end || (e.periodEnd !== undefined && e.periodEnd.getTime() > end)
  let s = crossesEnd ? rollover(current, current.currentPeriodEnd) : current
  const replacing = !sameSubscription
  switch (e.type) {
    case 'created':
      s = activate(withPlan(s, e, true))
      break
    case 'resumed':
      s = activate(withPlan(s, e))
      break
    case 'updated':
      s = withStatus(withPlan(s, e), e.status, ctx)
      break
    case 'cancelled':
      s = cancel(withPlan(s, e))
      break
    case 'expired':
      s = expire(s)
      break
    case 'payment_failed':
      s = pastDue(withPlan(s, e), ctx)
      break
    case 'payment_succeeded':
      s = paid(withPlan(s, e))
      break
  }
  if (e.type !== 'expired') s = withPeriod(s, e)
  s = {
    ...s,
    provider: e.provider,
    providerSubscriptionId: e.providerSubscriptionId ?? (replacing ? null : s.providerSubscriptionId),
    providerCustomerId: e.providerCustomerId ?? (replacing ? null : s.providerCustomerId),
    lastEventAt: e.occurredAt,
  }
  return { state: s, result: 'applied' }
}

/** The event as stored in BillingEvent.payload. */
const eventPayload = (e: SubscriptionEvent): Record<string, unknown> =>
  Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]).filter(([, v]) => v !== undefined))

export type ApplyOutcome = { result: ApplyResult; organizationId: string | null; subscription: SubscriptionState | null }
export type SubscriptionService = {
  /** Applies one verified provider event: at most once per event id, in one transaction. */
  apply(event: SubscriptionEvent): Promise<ApplyOutcome>
  /** The organization's subscription as of now (a downgrade whose period has ended shows as the plan). */
  get(organizationId: string): Promise<SubscriptionState | null>
  graceDays: number
}

export function createSubscriptionService(deps: { store: SubscriptionStore; graceDays?: number; clock?: Clock }): SubscriptionService {
  const { store } = deps
  const graceDays = deps.graceDays ?? 7
  const now = () => deps.clock?.now() ?? new Date()

  async function apply(event: SubscriptionEvent): Promise<ApplyOutcome> {
    return store.transaction(async (tx) => {
      const { provider, eventId } = event
      // The event id first: a redelivered event stops here, whatever happened since.
      const fresh = await tx.recordEvent({ provider, eventId, type: event.type, organizationId: event.organizationId, occurredAt: event.occurredAt, payload: eventPayload(event) })
      if (!fresh) return { result: 'duplicate', organizationId: event.organizationId, subscription: null }

      let organizationId = event.organizationId
      if (!organizationId && event.providerSubscriptionId) organizationId = await tx.organizationBySubscription(provider, event.providerSubscriptionId)
      const locked = organizationId ? await tx.lock(organizationId) : { exists: false, subscription: null }
      if (!organizationId || !locked.exists) {
        await tx.finishEvent({ provider, eventId, result: 'unknown_organization', organizationId: null })
        return { result: 'unknown_organization', organizationId, subscription: null }
      }

      const current = locked.subscription ?? initialSubscription(organizationId, event)
      const { state, result } = transition(current, event, { now: now(), graceDays })
      if (result === 'applied' || result === 'plan_learned') await tx.save(state)
      await tx.finishEvent({ provider, eventId, result, organizationId })
      return { result, organizationId, subscription: state }
    })
  }

  async function get(organizationId: string): Promise<SubscriptionState | null> {
    const state = await store.get(organizationId)
    return state ? rollover(state, now()) : null
  }

  return { apply, get, graceDays }
}
