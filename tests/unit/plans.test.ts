import { describe, expect, it } from 'vitest'
import { addMonthsUtc, billingState, currentPeriod, DEFAULT_PLANS, effectivePlan, loadPlans, periodLimit, planPrice, type BillingSubscription } from '../../core/billing/plans.ts'

const d = (iso: string) => new Date(iso)
const sub = (over: Partial<BillingSubscription> = {}): BillingSubscription => ({
  organizationId: 'org',
  plan: 'pro',
  interval: 'month',
  status: 'active',
  currentPeriodStart: d('2026-03-10T12:00:00Z'),
  currentPeriodEnd: d('2026-04-10T12:00:00Z'),
  pendingPlan: null,
  cancelAtPeriodEnd: false,
  graceUntil: null,
  ...over,
})
const inPeriod = d('2026-03-20T00:00:00Z')
const afterEnd = d('2026-04-15T00:00:00Z')

describe('the default plans', () => {
  it('are the product plan: responses, prices, yearly 20% off, caps', () => {
    expect(DEFAULT_PLANS.trial).toMatchObject({ responsesPerPeriod: 100, priceUsd: 0, yearlyPriceUsd: 0, limits: { agents: 1, chunks: 500, channels: 2 } })
    expect(DEFAULT_PLANS.basic).toMatchObject({ responsesPerPeriod: 5000, priceUsd: 99, limits: { agents: 3, chunks: 20_000, channels: 5 } })
    expect(DEFAULT_PLANS.pro).toMatchObject({ responsesPerPeriod: 15_000, priceUsd: 249, limits: { agents: 10, chunks: 100_000, channels: 20 } })
    expect(DEFAULT_PLANS.enterprise).toMatchObject({ responsesPerPeriod: null, priceUsd: 499, limits: { agents: null, chunks: null, channels: null } })
  })

  it('bills a year at 12 months minus 20%', () => {
    expect(DEFAULT_PLANS.basic!.yearlyPriceUsd).toBe(950.4)
    expect(DEFAULT_PLANS.pro!.yearlyPriceUsd).toBe(2390.4)
    expect(DEFAULT_PLANS.enterprise!.yearlyPriceUsd).toBe(4790.4)
    expect(planPrice(DEFAULT_PLANS.pro!, 'year')).toBe(2390.4)
    expect(planPrice(DEFAULT_PLANS.pro!, 'month')).toBe(249)
  })

  it('gives a yearly period twelve monthly allowances; unlimited stays unlimited', () => {
    expect(periodLimit(DEFAULT_PLANS.basic!, 'month')).toBe(5000)
    expect(periodLimit(DEFAULT_PLANS.basic!, 'year')).toBe(60_000)
    expect(periodLimit(DEFAULT_PLANS.enterprise!, 'year')).toBeNull()
  })
})

describe('effectivePlan', () => {
  it('no subscription → trial', () => {
    expect(effectivePlan(null, inPeriod).id).toBe('trial')
  })
  it('active → its plan, also past the period end while the renewal is on its way', () => {
    expect(effectivePlan(sub(), inPeriod).id).toBe('pro')
    expect(effectivePlan(sub(), afterEnd).id).toBe('pro')
  })
  it('expired → trial, even inside the period', () => {
    expect(effectivePlan(sub({ status: 'expired' }), inPeriod).id).toBe('trial')
  })
  it('cancelled → the paid plan until the period end, then trial', () => {
    expect(effectivePlan(sub({ status: 'cancelled' }), inPeriod).id).toBe('pro')
    expect(effectivePlan(sub({ status: 'cancelled' }), d('2026-04-10T11:59:59Z')).id).toBe('pro')
    expect(effectivePlan(sub({ status: 'cancelled' }), d('2026-04-10T12:00:00Z')).id).toBe('trial')
  })
  it('active but set to cancel at the period end → trial after the end', () => {
    expect(effectivePlan(sub({ cancelAtPeriodEnd: true }), inPeriod).id).toBe('pro')
    expect(effectivePlan(sub({ cancelAtPeriodEnd: true }), afterEnd).id).toBe('trial')
  })
  it('past_due → the paid plan until graceUntil, then trial', () => {
    const s = sub({ status: 'past_due', graceUntil: d('2026-04-17T12:00:00Z') })
    expect(effectivePlan(s, inPeriod).id).toBe('pro')
    expect(effectivePlan(s, afterEnd).id).toBe('pro') // grace outlasts the period
    expect(effectivePlan(s, d('2026-04-17T12:00:00Z')).id).toBe('trial')
  })
  it('past_due without a grace date → the paid plan until the period end', () => {
    expect(effectivePlan(sub({ status: 'past_due' }), inPeriod).id).toBe('pro')
    expect(effectivePlan(sub({ status: 'past_due' }), afterEnd).id).toBe('trial')
  })
  it('a pending downgrade applies once the period ends', () => {
    expect(effectivePlan(sub({ pendingPlan: 'basic' }), inPeriod).id).toBe('pro')
    expect(effectivePlan(sub({ pendingPlan: 'basic' }), afterEnd).id).toBe('basic')
  })
  it('an unknown plan id → trial; a configured extra plan is found', () => {
    expect(effectivePlan(sub({ plan: 'gold' }), inPeriod).id).toBe('trial')
    const plans = loadPlans(JSON.stringify({ gold: { name: 'Gold', responsesPerPeriod: 30_000, priceUsd: 399, limits: { agents: 20, chunks: 200_000, channels: 40 } } }))
    expect(effectivePlan(sub({ plan: 'gold' }), inPeriod, plans)).toMatchObject({ id: 'gold', name: 'Gold', yearlyPriceUsd: 3830.4 })
  })
})

describe('currentPeriod', () => {
  it('trial: the calendar month in UTC', () => {
    expect(currentPeriod(null, d('2026-02-14T23:59:00Z'))).toEqual({ start: d('2026-02-01T00:00:00Z'), end: d('2026-03-01T00:00:00Z') })
    expect(currentPeriod(null, d('2026-12-31T23:59:59.999Z'))).toEqual({ start: d('2026-12-01T00:00:00Z'), end: d('2027-01-01T00:00:00Z') })
  })

  it('a subscription inside its period: that period', () => {
    expect(currentPeriod(sub(), inPeriod)).toEqual({ start: d('2026-03-10T12:00:00Z'), end: d('2026-04-10T12:00:00Z') })
  })

  it('monthly, renewal not received: rolls over on its dates, several periods late', () => {
    expect(currentPeriod(sub(), d('2026-04-10T12:00:00Z'))).toEqual({ start: d('2026-04-10T12:00:00Z'), end: d('2026-05-10T12:00:00Z') })
    expect(currentPeriod(sub(), d('2026-07-10T11:59:59Z'))).toEqual({ start: d('2026-06-10T12:00:00Z'), end: d('2026-07-10T12:00:00Z') })
    expect(currentPeriod(sub(), d('2027-01-05T00:00:00Z'))).toEqual({ start: d('2026-12-10T12:00:00Z'), end: d('2027-01-10T12:00:00Z') })
  })

  it('monthly from the 31st: short months end on their last day, the 31st comes back', () => {
    const s = sub({ currentPeriodStart: d('2026-12-31T00:00:00Z'), currentPeriodEnd: d('2027-01-31T00:00:00Z') })
    expect(currentPeriod(s, d('2027-02-15T00:00:00Z'))).toEqual({ start: d('2027-01-31T00:00:00Z'), end: d('2027-02-28T00:00:00Z') })
    expect(currentPeriod(s, d('2027-03-01T00:00:00Z'))).toEqual({ start: d('2027-02-28T00:00:00Z'), end: d('2027-03-31T00:00:00Z') })
    expect(currentPeriod(s, d('2027-04-05T00:00:00Z'))).toEqual({ start: d('2027-03-31T00:00:00Z'), end: d('2027-04-30T00:00:00Z') })
  })

  it('yearly: rolls by whole years, several years late, leap day included', () => {
    const s = sub({ interval: 'year', currentPeriodStart: d('2023-02-28T08:00:00Z'), currentPeriodEnd: d('2024-02-29T08:00:00Z') })
    expect(currentPeriod(s, d('2024-01-01T00:00:00Z'))).toEqual({ start: d('2023-02-28T08:00:00Z'), end: d('2024-02-29T08:00:00Z') })
    expect(currentPeriod(s, d('2024-02-29T08:00:00Z'))).toEqual({ start: d('2024-02-29T08:00:00Z'), end: d('2025-02-28T08:00:00Z') })
    expect(currentPeriod(s, d('2027-06-01T00:00:00Z'))).toEqual({ start: d('2027-02-28T08:00:00Z'), end: d('2028-02-29T08:00:00Z') })
    expect(currentPeriod(s, d('2028-02-29T07:59:59Z'))).toEqual({ start: d('2027-02-28T08:00:00Z'), end: d('2028-02-29T08:00:00Z') })
  })

  it('a subscription that no longer gives its plan counts by the calendar month, like a trial', () => {
    expect(currentPeriod(sub({ status: 'expired' }), inPeriod)).toEqual({ start: d('2026-03-01T00:00:00Z'), end: d('2026-04-01T00:00:00Z') })
    expect(currentPeriod(sub({ status: 'cancelled' }), afterEnd)).toEqual({ start: d('2026-04-01T00:00:00Z'), end: d('2026-05-01T00:00:00Z') })
    expect(currentPeriod(sub({ status: 'cancelled' }), inPeriod)).toEqual({ start: d('2026-03-10T12:00:00Z'), end: d('2026-04-10T12:00:00Z') })
  })

  it('billingState ties plan, period and limit together', () => {
    expect(billingState(sub({ interval: 'year', currentPeriodEnd: d('2027-03-10T12:00:00Z') }), inPeriod)).toMatchObject({ interval: 'year', limit: 180_000, subscribed: true, plan: { id: 'pro' } })
    expect(billingState(sub({ interval: 'year', status: 'expired' }), inPeriod)).toMatchObject({ interval: 'month', limit: 100, subscribed: false, plan: { id: 'trial' } })
  })

  it('addMonthsUtc keeps the time of day and clamps to the month end', () => {
    expect(addMonthsUtc(d('2026-01-31T13:14:15.016Z'), 1)).toEqual(d('2026-02-28T13:14:15.016Z'))
    expect(addMonthsUtc(d('2026-11-30T00:00:00Z'), 3)).toEqual(d('2027-02-28T00:00:00Z'))
    expect(addMonthsUtc(d('2026-05-15T00:00:00Z'), -5)).toEqual(d('2025-12-15T00:00:00Z'))
  })
})

describe('loadPlans', () => {
  it('without an override: the defaults', () => {
    expect(loadPlans()).toEqual(DEFAULT_PLANS)
    expect(loadPlans('  ')).toEqual(DEFAULT_PLANS)
  })

  it('merges an override field by field; the yearly price follows a new monthly price', () => {
    const plans = loadPlans(JSON.stringify({ trial: { responsesPerPeriod: 5 }, pro: { priceUsd: 299, limits: { agents: 15 } }, basic: { yearlyPriceUsd: 900 } }))
    expect(plans.trial).toMatchObject({ name: 'Trial', responsesPerPeriod: 5, priceUsd: 0, limits: { agents: 1, chunks: 500, channels: 2 } })
    expect(plans.pro).toMatchObject({ priceUsd: 299, yearlyPriceUsd: 2870.4, limits: { agents: 15, chunks: 100_000, channels: 20 } })
    expect(plans.basic).toMatchObject({ priceUsd: 99, yearlyPriceUsd: 900 })
    expect(plans.enterprise).toEqual(DEFAULT_PLANS.enterprise)
    expect(Object.isFrozen(plans)).toBe(true)
  })

  it('makes a plan unlimited with null', () => {
    expect(loadPlans('{"pro":{"responsesPerPeriod":null}}').pro!.responsesPerPeriod).toBeNull()
  })

  it('rejects what is not JSON', () => {
    expect(() => loadPlans('{trial: 5}')).toThrow(/Invalid plans override: not JSON/)
  })

  it('rejects wrong types and ranges, naming the field', () => {
    expect(() => loadPlans('{"trial":{"responsesPerPeriod":-1}}')).toThrow(/Invalid plans override: trial\.responsesPerPeriod/)
    expect(() => loadPlans('{"basic":{"priceUsd":"99"}}')).toThrow(/basic\.priceUsd/)
    expect(() => loadPlans('{"pro":{"limits":{"agents":1.5}}}')).toThrow(/pro\.limits\.agents/)
    expect(() => loadPlans('{"pro":{"responses":10}}')).toThrow(/pro.*responses/)
    expect(() => loadPlans('[1,2]')).toThrow(/Invalid plans override/)
    expect(() => loadPlans('{"Bad Id":{"priceUsd":1}}')).toThrow(/lowercase/)
  })

  it('a new plan needs every field', () => {
    expect(() => loadPlans('{"gold":{"priceUsd":399}}')).toThrow(/gold \(a new plan needs name, responsesPerPeriod, priceUsd and limits/)
    expect(() => loadPlans('{"gold":{"name":"Gold","responsesPerPeriod":1,"priceUsd":1,"limits":{"agents":1}}}')).toThrow(/gold.*limits\.chunks/)
  })
})
