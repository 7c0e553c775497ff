import { beforeEach, describe, expect, it } from 'vitest'
import {
  createSubscriptionService,
  planAt,
  type ApplyResult,
  type BillingEventRecord,
  type SubscriptionEvent,
  type SubscriptionEventType,
  type SubscriptionService,
  type SubscriptionState,
  type SubscriptionStore,
  type SubscriptionStoreTx,
} from '../../core/billing/payments.ts'
import { effectivePlan } from '../../core/billing/plans.ts'

const ORG = 'org-1'
const OTHER_ORG = 'org-2'
const d = (iso: string) => new Date(iso)
const DAY = 86_400_000

/** The store's contract in memory: one transaction at a time, all of it or nothing of it. */
function memoryStore(organizations: string[] = [ORG, OTHER_ORG]) {
  let events = new Map<string, BillingEventRecord & { result: ApplyResult | 'pending' }>()
  let subscriptions = new Map<string, SubscriptionState>()
  let queue: Promise<unknown> = Promise.resolve()
  const key = (provider: string, eventId: string) => `${provider}:${eventId}`
  const tx: SubscriptionStoreTx = {
    recordEvent: async (event) => {
      if (events.has(key(event.provider, event.eventId))) return false
      events.set(key(event.provider, event.eventId), { ...event, result: 'pending' })
      return true
    },
    finishEvent: async ({ provider, eventId, result, organizationId }) => {
      const stored = events.get(key(provider, eventId))!
      events.set(key(provider, eventId), { ...stored, result, organizationId: organizationId ?? stored.organizationId })
    },
    organizationBySubscription: async (provider, id) => [...subscriptions.values()].find((s) => s.provider === provider && s.providerSubscriptionId === id)?.organizationId ?? null,
    lock: async (organizationId) => ({ exists: organizations.includes(organizationId), subscription: subscriptions.get(organizationId) ?? null }),
    save: async (state) => {
      subscriptions.set(state.organizationId, { ...state })
    },
  }
  const store: SubscriptionStore & { events: () => typeof events; failNextSave: () => void } = {
    transaction: (fn) => {
      const run = queue.then(async () => {
        const before = { events: new Map(events), subscriptions: new Map(subscriptions) }
        try {
          return await fn(tx)
        } catch (error) {
          events = before.events
          subscriptions = before.subscriptions
          throw error
        }
      })
      queue = run.catch(() => undefined)
      return run
    },
    get: async (organizationId) => subscriptions.get(organizationId) ?? null,
    events: () => events,
    failNextSave: () => {
      const save = tx.save
      tx.save = async () => {
        tx.save = save
        throw new Error('disk full')
      }
    },
  }
  return store
}

let seq = 0
function ev(type: SubscriptionEventType, at: string, extra: Partial<SubscriptionEvent> = {}): SubscriptionEvent {
  return { provider: 'stripe', eventId: `evt_${++seq}`, type, organizationId: ORG, occurredAt: d(at), providerSubscriptionId: 'sub_1', providerCustomerId: 'cus_1', ...extra }
}

// Two monthly periods.
const P1 = { periodStart: d('2026-01-01T00:00:00Z'), periodEnd: d('2026-02-01T00:00:00Z') }
const P2 = { periodStart: d('2026-02-01T00:00:00Z'), periodEnd: d('2026-03-01T00:00:00Z') }

describe('subscription lifecycle', () => {
  let store: ReturnType<typeof memoryStore>
  let now: Date
  let service: SubscriptionService
  const state = async () => (await store.get(ORG))!

  beforeEach(() => {
    store = memoryStore()
    now = d('2026-01-01T00:00:10Z')
    service = createSubscriptionService({ store, clock: { now: () => now } })
  })

  it('a new subscription gives its plan at once, with the provider period and ids', async () => {
    const outcome = await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', status: 'active', ...P1 }))
    expect(outcome.result).toBe('applied')
    expect(await state()).toEqual({
      organizationId: ORG,
      plan: 'basic',
      interval: 'month',
      status: 'active',
      currentPeriodStart: P1.periodStart,
      currentPeriodEnd: P1.periodEnd,
      pendingPlan: null,
      cancelAtPeriodEnd: false,
      graceUntil: null,
      provider: 'stripe',
      providerSubscriptionId: 'sub_1',
      providerCustomerId: 'cus_1',
      lastEventAt: d('2026-01-01T00:00:05Z'),
    })
    expect(planAt(await state(), d('2026-01-15T00:00:00Z'))).toBe('basic')
  })

  it('an upgrade takes effect at once and keeps the period (the usage counted so far stays)', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 }))
    await service.apply(ev('updated', '2026-01-10T12:00:00Z', { plan: 'pro', interval: 'month', status: 'active', ...P1 }))
    const s = await state()
    expect(s.plan).toBe('pro')
    expect(s.pendingPlan).toBeNull()
    expect(s.currentPeriodStart).toEqual(P1.periodStart)
    expect(planAt(s, d('2026-01-10T12:00:01Z'))).toBe('pro')
  })

  it('a downgrade waits for the end of the period, then applies on the next event or read', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'pro', interval: 'month', ...P1 }))
    await service.apply(ev('updated', '2026-01-10T12:00:00Z', { plan: 'basic', interval: 'month', status: 'active', ...P1 }))
    let s = await state()
    expect(s.plan).toBe('pro')
    expect(s.pendingPlan).toBe('basic')
    expect(planAt(s, d('2026-01-31T23:59:59Z'))).toBe('pro')
    expect(planAt(s, d('2026-02-01T00:00:00Z'))).toBe('basic')

    // A read after the period's end shows the new plan.
    now = d('2026-02-01T00:00:01Z')
    expect((await service.get(ORG))!.plan).toBe('basic')

    // The renewal's payment makes it so in the row.
    await service.apply(ev('payment_succeeded', '2026-02-01T00:05:00Z', { plan: 'basic', interval: 'month', ...P2 }))
    s = await state()
    expect(s.plan).toBe('basic')
    expect(s.pendingPlan).toBeNull()
    expect([s.currentPeriodStart, s.currentPeriodEnd]).toEqual([P2.periodStart, P2.periodEnd])
  })

  it('a downgrade also applies on an event without a plan (a Lemon Squeezy invoice) after the period end', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'enterprise', interval: 'month', ...P1 }))
    await service.apply(ev('updated', '2026-01-20T00:00:00Z', { plan: 'pro', status: 'active', ...P1 }))
    await service.apply(ev('payment_succeeded', '2026-02-01T00:00:30Z'))
    expect(await state()).toMatchObject({ plan: 'pro', pendingPlan: null, status: 'active' })
  })

  it('an event that moves the period past its end ends it, even when stamped a moment before', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'pro', interval: 'month', ...P1 }))
    await service.apply(ev('updated', '2026-01-20T00:00:00Z', { plan: 'basic', status: 'active', ...P1 }))
    await service.apply(ev('updated', '2026-01-31T23:59:58Z', { plan: 'basic', status: 'active', ...P2 }))
    expect(await state()).toMatchObject({ plan: 'basic', pendingPlan: null, currentPeriodStart: P2.periodStart, currentPeriodEnd: P2.periodEnd })
  })

  it('going back to the current plan before the period ends cancels the pending downgrade; a further upgrade is immediate', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'pro', interval: 'month', ...P1 }))
    await service.apply(ev('updated', '2026-01-10T00:00:00Z', { plan: 'basic', ...P1 }))
    await service.apply(ev('updated', '2026-01-11T00:00:00Z', { plan: 'pro', ...P1 }))
    expect(await state()).toMatchObject({ plan: 'pro', pendingPlan: null })
    await service.apply(ev('updated', '2026-01-12T00:00:00Z', { plan: 'basic', ...P1 }))
    await service.apply(ev('updated', '2026-01-13T00:00:00Z', { plan: 'enterprise', ...P1 }))
    expect(await state()).toMatchObject({ plan: 'enterprise', pendingPlan: null })
  })

  it('cancelled keeps the paid plan until the period end, then Trial; expiry makes it so in the row', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'pro', interval: 'month', ...P1 }))
    await service.apply(ev('cancelled', '2026-01-15T09:00:00Z', { plan: 'pro', status: 'cancelled', periodEnd: P1.periodEnd }))
    let s = await state()
    expect(s).toMatchObject({ status: 'cancelled', cancelAtPeriodEnd: true, plan: 'pro', currentPeriodEnd: P1.periodEnd })
    expect(planAt(s, d('2026-01-31T23:59:59Z'))).toBe('pro')
    expect(planAt(s, d('2026-02-01T00:00:00Z'))).toBe('trial')

    await service.apply(ev('expired', '2026-02-01T00:00:02Z', { status: 'expired' }))
    s = await state()
    expect(s).toMatchObject({ status: 'expired', plan: 'trial', cancelAtPeriodEnd: false, pendingPlan: null })
    expect(planAt(s, d('2026-02-01T00:00:03Z'))).toBe('trial')
  })

  it('a subscription updated to status cancelled (Lemon Squeezy sends both events) is cancelled too', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 }))
    await service.apply(ev('updated', '2026-01-15T09:00:00Z', { plan: 'basic', status: 'cancelled', periodEnd: P1.periodEnd }))
    expect(await state()).toMatchObject({ status: 'cancelled', cancelAtPeriodEnd: true, plan: 'basic' })
  })

  it('resumed after a cancellation: active again, no end of access', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 }))
    await service.apply(ev('cancelled', '2026-01-15T09:00:00Z', { plan: 'basic', status: 'cancelled', ...P1 }))
    await service.apply(ev('resumed', '2026-01-16T09:00:00Z', { plan: 'basic', status: 'active', ...P1 }))
    const s = await state()
    expect(s).toMatchObject({ status: 'active', cancelAtPeriodEnd: false, plan: 'basic' })
    expect(planAt(s, d('2026-02-01T00:00:01Z'))).toBe('basic')
  })

  it('expired: Trial limits, whatever the plan was', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'enterprise', interval: 'year', periodStart: P1.periodStart, periodEnd: d('2027-01-01T00:00:00Z') }))
    await service.apply(ev('expired', '2026-03-01T00:00:00Z', { status: 'expired' }))
    const s = await state()
    expect(s).toMatchObject({ status: 'expired', plan: 'trial' })
    expect(planAt(s, d('2026-03-02T00:00:00Z'))).toBe('trial')
  })

  it('a failed payment: past due with a grace period of the paid plan, then Trial limits; a payment ends it', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'pro', interval: 'month', ...P1 }))
    now = d('2026-02-01T00:10:00Z')
    await service.apply(ev('payment_failed', '2026-02-01T00:05:00Z', { plan: 'pro', interval: 'month', ...P2 }))
    let s = await state()
    const graceUntil = new Date(now.getTime() + 7 * DAY)
    expect(s).toMatchObject({ status: 'past_due', graceUntil, plan: 'pro' })
    expect(planAt(s, new Date(graceUntil.getTime() - 1))).toBe('pro')
    expect(planAt(s, graceUntil)).toBe('trial')

    // Stripe retries: another failure does not extend the grace period.
    now = d('2026-02-04T00:00:00Z')
    await service.apply(ev('payment_failed', '2026-02-04T00:00:00Z', { plan: 'pro', interval: 'month', ...P2 }))
    expect((await state()).graceUntil).toEqual(graceUntil)

    now = d('2026-02-05T00:00:00Z')
    await service.apply(ev('payment_succeeded', '2026-02-05T00:00:00Z', { plan: 'pro', interval: 'month', ...P2 }))
    s = await state()
    expect(s).toMatchObject({ status: 'active', graceUntil: null, plan: 'pro', currentPeriodStart: P2.periodStart, currentPeriodEnd: P2.periodEnd })
    expect(planAt(s, d('2026-02-20T00:00:00Z'))).toBe('pro')
  })

  it('the grace period is configurable', async () => {
    service = createSubscriptionService({ store, clock: { now: () => now }, graceDays: 3 })
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 }))
    await service.apply(ev('payment_failed', '2026-01-02T00:00:00Z'))
    expect((await state()).graceUntil).toEqual(new Date(now.getTime() + 3 * DAY))
  })

  it('a payment does not undo a cancellation', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 }))
    await service.apply(ev('cancelled', '2026-01-15T00:00:00Z', { plan: 'basic', status: 'cancelled', ...P1 }))
    await service.apply(ev('payment_succeeded', '2026-01-15T00:00:01Z', { plan: 'basic' }))
    expect(await state()).toMatchObject({ status: 'cancelled', cancelAtPeriodEnd: true })
  })

  it('the same event twice has one effect and is stored once', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'pro', interval: 'month', ...P1 }))
    const failure = ev('payment_failed', '2026-01-20T00:00:00Z')
    now = d('2026-01-20T00:00:01Z')
    expect((await service.apply(failure)).result).toBe('applied')
    const after = await state()
    now = d('2026-01-25T00:00:00Z')
    const again = await service.apply(failure)
    expect(again.result).toBe('duplicate')
    expect(await state()).toEqual(after)
    expect([...store.events().values()].filter((e) => e.eventId === failure.eventId)).toHaveLength(1)
  })

  it('concurrent deliveries of one event apply once', async () => {
    const created = ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 })
    const results = await Promise.all(Array.from({ length: 5 }, () => service.apply(created)))
    expect(results.map((r) => r.result).sort()).toEqual(['applied', 'duplicate', 'duplicate', 'duplicate', 'duplicate'])
  })

  it('an older event arriving late is stored but changes nothing', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 }))
    await service.apply(ev('updated', '2026-01-10T00:00:00Z', { plan: 'pro', status: 'active', ...P1 }))
    const before = await state()
    const late = ev('updated', '2026-01-05T00:00:00Z', { plan: 'enterprise', status: 'active', ...P1 })
    expect((await service.apply(late)).result).toBe('stale')
    expect(await state()).toEqual(before)
    expect(store.events().get(`stripe:${late.eventId}`)?.result).toBe('stale')
  })

  it('any delivery order of a subscription’s events ends in the same state as the order they happened in', async () => {
    const history = [
      ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', status: 'active', ...P1 }),
      ev('updated', '2026-01-10T00:00:00Z', { plan: 'pro', interval: 'month', status: 'active', ...P1 }),
      ev('payment_failed', '2026-02-01T00:05:00Z', { plan: 'pro', interval: 'month', ...P2 }),
      ev('payment_succeeded', '2026-02-02T00:00:00Z', { plan: 'pro', interval: 'month', ...P2 }),
    ]
    const finalState = async (events: SubscriptionEvent[]) => {
      const s = memoryStore()
      const svc = createSubscriptionService({ store: s, clock: { now: () => d('2026-02-03T00:00:00Z') } })
      for (const e of events) await svc.apply(e)
      return s.get(ORG)
    }
    const expected = await finalState(history)
    expect(expected).toMatchObject({ plan: 'pro', status: 'active', graceUntil: null, currentPeriodEnd: P2.periodEnd, lastEventAt: d('2026-02-02T00:00:00Z') })
    for (const order of permutations(history)) expect(await finalState(order)).toEqual(expected)
  })

  it('cancelled before created (out of order) still ends cancelled with the right plan', async () => {
    const created = ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 })
    const upgraded = ev('updated', '2026-01-03T00:00:00Z', { plan: 'pro', interval: 'month', status: 'active', ...P1 })
    const cancelled = ev('cancelled', '2026-01-04T00:00:00Z', { plan: 'pro', interval: 'month', status: 'cancelled', ...P1 })
    for (const e of [cancelled, created, upgraded]) await service.apply(e)
    expect(await state()).toMatchObject({ plan: 'pro', status: 'cancelled', cancelAtPeriodEnd: true, currentPeriodEnd: P1.periodEnd })
  })

  it('a payment that arrives before its subscription (no plan in it) still ends on the plan bought', async () => {
    // Lemon Squeezy: subscription_payment_success carries an invoice (no variant, no period).
    const created = ev('created', '2026-01-01T00:00:05Z', { provider: 'lemonsqueezy', plan: 'basic', interval: 'month', status: 'active', periodEnd: P1.periodEnd })
    const paidFirst = ev('payment_succeeded', '2026-01-01T00:00:09Z', { provider: 'lemonsqueezy' })
    const inOrder = memoryStore()
    const svc = createSubscriptionService({ store: inOrder, clock: { now: () => now } })
    await svc.apply(created)
    await svc.apply(paidFirst)

    await service.apply(paidFirst)
    expect((await service.apply(created)).result).toBe('plan_learned')
    expect(await state()).toEqual(await inOrder.get(ORG))
    expect(await state()).toMatchObject({ plan: 'basic', status: 'active', currentPeriodStart: P1.periodStart, currentPeriodEnd: P1.periodEnd })
  })

  it('events of a subscription the organization replaced change nothing; a new subscription replaces the old', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 }))
    await service.apply(ev('created', '2026-01-10T00:00:00Z', { plan: 'pro', interval: 'month', providerSubscriptionId: 'sub_2', ...P1 }))
    expect(await state()).toMatchObject({ plan: 'pro', providerSubscriptionId: 'sub_2' })
    const old = await service.apply(ev('expired', '2026-01-11T00:00:00Z', { status: 'expired' }))
    expect(old.result).toBe('other_subscription')
    expect(await state()).toMatchObject({ plan: 'pro', status: 'active', providerSubscriptionId: 'sub_2' })
  })

  it('an event without an organization is matched by its subscription id, or stored as unknown', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 }))
    const matched = await service.apply(ev('payment_failed', '2026-01-20T00:00:00Z', { organizationId: null }))
    expect(matched).toMatchObject({ result: 'applied', organizationId: ORG })
    expect((await state()).status).toBe('past_due')

    const nobody = await service.apply(ev('payment_failed', '2026-01-21T00:00:00Z', { organizationId: null, providerSubscriptionId: 'sub_unknown' }))
    expect(nobody.result).toBe('unknown_organization')
    const gone = await service.apply(ev('created', '2026-01-21T00:00:00Z', { organizationId: 'org-deleted', plan: 'pro', providerSubscriptionId: 'sub_9' }))
    expect(gone.result).toBe('unknown_organization')
    expect(await store.get('org-deleted')).toBeNull()
    expect([...store.events().values()].filter((e) => e.result === 'unknown_organization')).toHaveLength(2)
  })

  it('a failure while applying rolls the event back, so a redelivery applies it', async () => {
    const created = ev('created', '2026-01-01T00:00:05Z', { plan: 'basic', interval: 'month', ...P1 })
    store.failNextSave()
    await expect(service.apply(created)).rejects.toThrow('disk full')
    expect(store.events().size).toBe(0)
    expect((await service.apply(created)).result).toBe('applied')
    expect((await state()).plan).toBe('basic')
  })

  it('organizations are independent', async () => {
    await service.apply(ev('created', '2026-01-01T00:00:05Z', { plan: 'pro', interval: 'month', ...P1 }))
    await service.apply(ev('created', '2026-01-01T00:00:06Z', { organizationId: OTHER_ORG, plan: 'basic', providerSubscriptionId: 'sub_other', ...P1 }))
    await service.apply(ev('expired', '2026-01-02T00:00:00Z', { organizationId: OTHER_ORG, providerSubscriptionId: 'sub_other' }))
    expect((await store.get(ORG))!.plan).toBe('pro')
    expect((await store.get(OTHER_ORG))!.status).toBe('expired')
  })
})

describe('planAt agrees with the quota’s effectivePlan (core/billing/plans.ts)', () => {
  const base: SubscriptionState = {
    organizationId: ORG,
    plan: 'pro',
    interval: 'month',
    status: 'active',
    currentPeriodStart: P1.periodStart,
    currentPeriodEnd: P1.periodEnd,
    pendingPlan: null,
    cancelAtPeriodEnd: false,
    graceUntil: null,
    provider: 'stripe',
    providerSubscriptionId: 'sub_1',
    providerCustomerId: 'cus_1',
    lastEventAt: P1.periodStart,
  }
  const states: SubscriptionState[] = [
    base,
    { ...base, pendingPlan: 'basic' },
    { ...base, status: 'cancelled', cancelAtPeriodEnd: true },
    { ...base, status: 'past_due', graceUntil: d('2026-01-20T00:00:00Z') },
    { ...base, status: 'expired', plan: 'trial' },
    { ...base, plan: 'enterprise', interval: 'year' },
  ]
  const times = ['2026-01-15T00:00:00Z', '2026-01-25T00:00:00Z', '2026-02-01T00:00:00Z', '2026-03-15T00:00:00Z'].map(d)
  it.each(states.map((s, i) => [i, s] as const))('state %i', (_i, s) => {
    for (const t of times) expect(planAt(s, t)).toBe(effectivePlan(s, t).id)
  })
  it('no subscription is the trial', () => {
    expect(planAt(null, times[0]!)).toBe('trial')
  })
})

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}
