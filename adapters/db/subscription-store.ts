import { newId } from '../../core/ids.ts'
import type { BillingInterval, PaidPlan, PaymentProviderName, PlanId, SubscriptionState, SubscriptionStatus, SubscriptionStore, SubscriptionStoreTx } from '../../core/billing/payments.ts'
import type { Database } from './database.ts'
import type { Prisma } from './generated/client.ts'

type Row = {
  organizationId: string
  plan: string
  interval: string
  status: string
  currentPeriodStart: Date
  currentPeriodEnd: Date
  pendingPlan: string | null
  cancelAtPeriodEnd: boolean
  graceUntil: Date | null
  provider: string | null
  providerSubscriptionId: string | null
  providerCustomerId: string | null
  lastEventAt: Date | null
}

const PLANS = new Set(['trial', 'basic', 'pro', 'enterprise'])
const STATUSES = new Set(['active', 'past_due', 'cancelled', 'expired'])

/** A row written by hand or by an older version is read as safely as it can be: unknown values fall back to Trial / active. */
function toState(row: Row): SubscriptionState {
  return {
    organizationId: row.organizationId,
    plan: (PLANS.has(row.plan) ? row.plan : 'trial') as PlanId,
    interval: (row.interval === 'year' ? 'year' : 'month') as BillingInterval,
    status: (STATUSES.has(row.status) ? row.status : 'active') as SubscriptionStatus,
    currentPeriodStart: row.currentPeriodStart,
    currentPeriodEnd: row.currentPeriodEnd,
    pendingPlan: row.pendingPlan && PLANS.has(row.pendingPlan) && row.pendingPlan !== 'trial' ? (row.pendingPlan as PaidPlan) : null,
    cancelAtPeriodEnd: row.cancelAtPeriodEnd,
    graceUntil: row.graceUntil,
    provider: row.provider === 'lemonsqueezy' || row.provider === 'stripe' ? (row.provider as PaymentProviderName) : null,
    providerSubscriptionId: row.providerSubscriptionId,
    providerCustomerId: row.providerCustomerId,
    lastEventAt: row.lastEventAt,
  }
}

// Webhooks of one organization queue on its lock; give them time for a connection and the lock.
const TX_OPTIONS = { maxWait: 15_000, timeout: 15_000 }

/**
 * Subscriptions and provider events over Prisma (PGlite or PostgreSQL). Everything one event
 * writes happens in one interactive transaction:
 *   1. INSERT the BillingEvent ON CONFLICT (provider, eventId) DO NOTHING: a redelivery inserts
 *      nothing (a concurrent one waits for the first transaction, then inserts nothing);
 *   2. lock the Organization row (FOR NO KEY UPDATE: it does not block inserts that reference the
 *      organization), so one organization's events apply one at a time;
 *   3. read, then upsert the Subscription; 4. write the outcome onto the BillingEvent.
 * A failure anywhere rolls all of it back, the provider retries, and the event applies then.
 */
export function createPrismaSubscriptionStore(db: Database): SubscriptionStore {
  const prisma = db.prisma

  const txApi = (tx: Prisma.TransactionClient): SubscriptionStoreTx => ({
    recordEvent: async (event) => {
      const inserted = await tx.$executeRaw`
        INSERT INTO "BillingEvent" (id, provider, "eventId", type, "organizationId", "occurredAt", payload, result)
        VALUES (${newId()}, ${event.provider}, ${event.eventId}, ${event.type}, ${event.organizationId}, ${event.occurredAt}, ${JSON.stringify(event.payload)}::jsonb, 'pending')
        ON CONFLICT (provider, "eventId") DO NOTHING`
      return inserted > 0
    },
    finishEvent: async ({ provider, eventId, result, organizationId }) => {
      await tx.billingEvent.update({ where: { provider_eventId: { provider, eventId } }, data: { result, ...(organizationId ? { organizationId } : {}) } })
    },
    organizationBySubscription: async (provider, providerSubscriptionId) =>
      (await tx.subscription.findFirst({ where: { provider, providerSubscriptionId }, select: { organizationId: true } }))?.organizationId ?? null,
    lock: async (organizationId) => {
      const found = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "Organization" WHERE id = ${organizationId} FOR NO KEY UPDATE`
      if (found.length === 0) return { exists: false, subscription: null }
      const row = await tx.subscription.findUnique({ where: { organizationId } })
      return { exists: true, subscription: row ? toState(row) : null }
    },
    save: async (state) => {
      const data = {
        plan: state.plan,
        interval: state.interval,
        status: state.status,
        currentPeriodStart: state.currentPeriodStart,
        currentPeriodEnd: state.currentPeriodEnd,
        pendingPlan: state.pendingPlan,
        cancelAtPeriodEnd: state.cancelAtPeriodEnd,
        graceUntil: state.graceUntil,
        provider: state.provider,
        providerSubscriptionId: state.providerSubscriptionId,
        providerCustomerId: state.providerCustomerId,
        lastEventAt: state.lastEventAt,
        updatedAt: new Date(),
      }
      await tx.subscription.upsert({ where: { organizationId: state.organizationId }, create: { id: newId(), organizationId: state.organizationId, ...data }, update: data })
    },
  })

  return {
    transaction: (fn) => prisma.$transaction((tx) => fn(txApi(tx)), TX_OPTIONS),
    get: async (organizationId) => {
      const row = await prisma.subscription.findUnique({ where: { organizationId } })
      return row ? toState(row) : null
    },
  }
}
