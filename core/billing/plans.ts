import { z } from 'zod'

/**
 * Plans as configuration. The defaults below are the product plan's; a deployment can change any
 * of them (or add a plan) with a JSON override, see `loadPlans`.
 *
 * | plan       | responses / month | price / month | price / year (20% off) | agents | knowledge chunks | channels |
 * |------------|-------------------|---------------|------------------------|--------|------------------|----------|
 * | trial      | 100               | $0            | $0                     | 1      | 500              | 2        |
 * | basic      | 5,000             | $99           | $950.40                | 3      | 20,000           | 5        |
 * | pro        | 15,000            | $249          | $2,390.40              | 10     | 100,000          | 20       |
 * | enterprise | unlimited         | $499          | $4,790.40              | ∞      | ∞                | ∞        |
 *
 * - Knowledge size is counted in chunks (a chunk is a passage of roughly a few hundred words):
 *   500 chunks is a small FAQ and a price list; 100,000 is a large documentation site.
 * - Channels are inboxes (a Telegram bot, a Slack app, a web chat...). Every agent gets a web chat
 *   inbox when it is created, so a plan's channel cap is at least its agent cap plus one.
 * - `null` means unlimited.
 * - `responsesPerPeriod` is the allowance of one monthly period. A yearly subscription's billing
 *   period is a year, and its allowance for that period is twelve months' worth (see `periodLimit`).
 */
export type PlanLimits = { agents: number | null; chunks: number | null; channels: number | null }
export type Plan = {
  id: string
  name: string
  /** Responses per monthly period; null = unlimited. */
  responsesPerPeriod: number | null
  /** Price of one month, in US dollars. */
  priceUsd: number
  /** Price of one year: 12 × monthly × (1 − YEARLY_DISCOUNT) unless configured otherwise. */
  yearlyPriceUsd: number
  limits: PlanLimits
}
export type Plans = { readonly trial: Plan; readonly [id: string]: Plan }
export type BillingInterval = 'month' | 'year'

/** What of a subscription decides the plan and the period (the Subscription row, as the payments side writes it). */
export type BillingSubscription = {
  organizationId: string
  plan: string
  /** month | year; anything else is treated as month. */
  interval: string
  /** active | past_due | cancelled | expired (other provider states count as active) */
  status: string
  currentPeriodStart: Date
  currentPeriodEnd: Date
  /** A downgrade waiting for the end of the period. */
  pendingPlan?: string | null
  cancelAtPeriodEnd?: boolean
  /** After a failed payment: the paid plan until then, then Trial. */
  graceUntil?: Date | null
}

export const YEARLY_DISCOUNT = 0.2

type PlanConfig = Omit<Plan, 'yearlyPriceUsd'> & { yearlyPriceUsd?: number }

const DEFAULT_PLAN_CONFIG: Record<string, PlanConfig> = {
  trial: { id: 'trial', name: 'Trial', responsesPerPeriod: 100, priceUsd: 0, limits: { agents: 1, chunks: 500, channels: 2 } },
  basic: { id: 'basic', name: 'Basic', responsesPerPeriod: 5_000, priceUsd: 99, limits: { agents: 3, chunks: 20_000, channels: 5 } },
  pro: { id: 'pro', name: 'Pro', responsesPerPeriod: 15_000, priceUsd: 249, limits: { agents: 10, chunks: 100_000, channels: 20 } },
  enterprise: { id: 'enterprise', name: 'Enterprise', responsesPerPeriod: null, priceUsd: 499, limits: { agents: null, chunks: null, channels: null } },
}

const cents = (usd: number) => Math.round(usd * 100) / 100
export const yearlyPrice = (monthlyUsd: number): number => cents(12 * monthlyUsd * (1 - YEARLY_DISCOUNT))

function finish(config: PlanConfig): Plan {
  return Object.freeze({
    id: config.id,
    name: config.name,
    responsesPerPeriod: config.responsesPerPeriod,
    priceUsd: config.priceUsd,
    yearlyPriceUsd: config.yearlyPriceUsd ?? yearlyPrice(config.priceUsd),
    limits: Object.freeze({ ...config.limits }),
  })
}

const count = z.number().int().min(0).max(1_000_000_000).nullable()
const price = z.number().min(0).max(10_000_000)
const limitsSchema = z.object({ agents: count, chunks: count, channels: count }).strict()
const planSchema = z
  .object({
    id: z.string(),
    name: z.string().trim().min(1).max(60),
    responsesPerPeriod: count,
    priceUsd: price,
    yearlyPriceUsd: price.optional(),
    limits: limitsSchema,
  })
  .strict()
const planPatchSchema = z
  .object({
    name: z.string().trim().min(1).max(60),
    responsesPerPeriod: count,
    priceUsd: price,
    yearlyPriceUsd: price,
    limits: limitsSchema.partial(),
  })
  .partial()
  .strict()
const PLAN_ID = /^[a-z][a-z0-9_-]{0,31}$/
const overrideSchema = z.record(z.string(), planPatchSchema).superRefine((plans, ctx) => {
  for (const id of Object.keys(plans)) {
    if (!PLAN_ID.test(id)) ctx.addIssue({ code: 'custom', path: [id], message: 'a plan id is a lowercase letter, then lowercase letters, digits, _ or - (at most 32)' })
  }
})

/** The plans a deployment uses when nothing is configured. */
export const DEFAULT_PLANS: Plans = loadPlans()

/**
 * The default plans, merged with an optional JSON override such as
 * `{"trial":{"responsesPerPeriod":50},"pro":{"priceUsd":299,"limits":{"agents":15}}}`.
 * A known plan takes any subset of fields; a new plan id needs name, responsesPerPeriod, priceUsd
 * and all three limits. The yearly price follows the monthly one (20% off) unless given.
 * Throws an Error naming every problem when the JSON is malformed or a value is out of range.
 */
export function loadPlans(overrideJson?: string): Plans {
  const merged: Record<string, PlanConfig> = structuredClone(DEFAULT_PLAN_CONFIG)
  if (overrideJson?.trim()) {
    let raw: unknown
    try {
      raw = JSON.parse(overrideJson)
    } catch (error) {
      throw new Error(`Invalid plans override: not JSON (${(error as Error).message}). Expected e.g. {"trial":{"responsesPerPeriod":50}}`, { cause: error })
    }
    const parsed = overrideSchema.safeParse(raw)
    if (!parsed.success) throw new Error(`Invalid plans override: ${describeIssues(parsed.error.issues)}`)
    const problems: string[] = []
    for (const [id, patch] of Object.entries(parsed.data)) {
      const base = merged[id]
      // A known plan's price change moves its yearly price too, unless the yearly price is given.
      const yearly = patch.yearlyPriceUsd ?? (patch.priceUsd !== undefined ? undefined : base?.yearlyPriceUsd)
      const { yearlyPriceUsd: _base, ...rest } = { ...(base ?? {}), ...patch }
      const candidate = { ...rest, id, ...(yearly !== undefined ? { yearlyPriceUsd: yearly } : {}), limits: { ...(base?.limits ?? {}), ...(patch.limits ?? {}) } }
      const full = planSchema.safeParse(candidate)
      if (!full.success) {
        problems.push(`${id}${base ? '' : ' (a new plan needs name, responsesPerPeriod, priceUsd and limits.agents/chunks/channels)'}: ${describeIssues(full.error.issues)}`)
        continue
      }
      merged[id] = full.data
    }
    if (problems.length) throw new Error(`Invalid plans override: ${problems.join('; ')}`)
  }
  const plans: Record<string, Plan> = {}
  for (const [id, config] of Object.entries(merged)) plans[id] = finish(config)
  return Object.freeze(plans) as Plans
}

function describeIssues(issues: z.ZodError['issues']): string {
  return issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
}

export const planPrice = (plan: Plan, interval: BillingInterval): number => (interval === 'year' ? plan.yearlyPriceUsd : plan.priceUsd)

const intervalOf = (subscription: BillingSubscription): BillingInterval => (subscription.interval === 'year' ? 'year' : 'month')

/**
 * Whether the subscription still gives its (paid) plan at `now`:
 * expired → no; cancelled → until currentPeriodEnd; past_due → until graceUntil (or the period
 * end when no grace was set); set to cancel at the period end → until currentPeriodEnd; otherwise yes.
 */
export function subscriptionInEffect(subscription: BillingSubscription | null, now: Date): subscription is BillingSubscription {
  if (!subscription) return false
  const t = now.getTime()
  switch (subscription.status) {
    case 'expired':
      return false
    case 'cancelled':
      return t < subscription.currentPeriodEnd.getTime()
    case 'past_due':
      return t < (subscription.graceUntil ?? subscription.currentPeriodEnd).getTime()
    default:
      return !(subscription.cancelAtPeriodEnd && t >= subscription.currentPeriodEnd.getTime())
  }
}

/**
 * The plan an organization has at `now`: no subscription → trial; expired → trial; cancelled →
 * the paid plan until currentPeriodEnd, then trial; past_due → the paid plan until graceUntil,
 * then trial; otherwise the subscription's plan. A pending downgrade applies once the period it
 * was waiting for has ended. An unknown plan id (configuration removed it) → trial.
 */
export function effectivePlan(subscription: BillingSubscription | null, now: Date, plans: Plans = DEFAULT_PLANS): Plan {
  if (!subscriptionInEffect(subscription, now)) return plans.trial
  const id = subscription.pendingPlan && now.getTime() >= subscription.currentPeriodEnd.getTime() ? subscription.pendingPlan : subscription.plan
  return plans[id] ?? plans.trial
}

/** The calendar month of `now` in UTC: the trial's period. */
export function calendarMonth(now: Date): { start: Date; end: Date } {
  return { start: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), end: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)) }
}

/** `date` plus whole months in UTC, keeping the time of day; the 31st becomes the last day of a shorter month. */
export function addMonthsUtc(date: Date, months: number): Date {
  const targetMonth = date.getUTCMonth() + months
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), targetMonth + 1, 0)).getUTCDate()
  return new Date(Date.UTC(date.getUTCFullYear(), targetMonth, Math.min(date.getUTCDate(), lastDay), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds()))
}

/**
 * The billing period that contains `now`, as [start, end).
 * - No subscription, or one that no longer gives its plan (expired, cancelled past its end, past
 *   due past its grace): the calendar month in UTC, like any trial.
 * - Otherwise the subscription's [currentPeriodStart, currentPeriodEnd); when `now` is past the end
 *   (the renewal has not arrived yet) the period rolls forward by the interval as many times as
 *   needed, counted from currentPeriodEnd so that month ends do not drift (Jan 31 → Feb 28 → Mar 31).
 */
export function currentPeriod(subscription: BillingSubscription | null, now: Date): { start: Date; end: Date } {
  if (!subscriptionInEffect(subscription, now)) return calendarMonth(now)
  const { currentPeriodStart: start, currentPeriodEnd: end } = subscription
  if (now.getTime() < end.getTime()) return { start, end }
  const step = intervalOf(subscription) === 'year' ? 12 : 1
  const monthsLate = (now.getUTCFullYear() - end.getUTCFullYear()) * 12 + (now.getUTCMonth() - end.getUTCMonth())
  // Start a little before the estimate and walk forward: the estimate is off by at most one step.
  let k = Math.max(1, Math.floor(monthsLate / step))
  while (k > 1 && addMonthsUtc(end, (k - 1) * step).getTime() > now.getTime()) k--
  while (addMonthsUtc(end, k * step).getTime() <= now.getTime()) k++
  return { start: addMonthsUtc(end, (k - 1) * step), end: addMonthsUtc(end, k * step) }
}

/** Responses allowed in one billing period of that plan: a year holds twelve monthly allowances. */
export function periodLimit(plan: Plan, interval: BillingInterval): number | null {
  if (plan.responsesPerPeriod === null) return null
  return interval === 'year' ? plan.responsesPerPeriod * 12 : plan.responsesPerPeriod
}

export type BillingState = {
  plan: Plan
  /** The interval of the period below: a trial's period is always a month. */
  interval: BillingInterval
  period: { start: Date; end: Date }
  /** Responses allowed in that period; null = unlimited. */
  limit: number | null
  /** Whether the plan comes from the subscription (false: trial). */
  subscribed: boolean
}

/** Plan, period and limit together, from the same reading of the subscription. */
export function billingState(subscription: BillingSubscription | null, now: Date, plans: Plans = DEFAULT_PLANS): BillingState {
  const plan = effectivePlan(subscription, now, plans)
  const period = currentPeriod(subscription, now)
  const subscribed = subscriptionInEffect(subscription, now)
  const interval: BillingInterval = subscribed ? intervalOf(subscription) : 'month'
  return { plan, interval, period, limit: periodLimit(plan, interval), subscribed }
}
