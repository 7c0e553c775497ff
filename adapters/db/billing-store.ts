import { notFound } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import type { BillingNotification, BillingStore, ReserveOutcome } from '../../core/billing/quota.ts'
import type { Database } from './database.ts'
import { Prisma } from './generated/client.ts'

const isUniqueViolation = (e: unknown) => e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002'
const isoDay = (d: Date) => d.toISOString().slice(0, 10)
const asObject = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {})

// Many turns of one organization queue on its counter row: give them time for a connection and the lock.
const TX_OPTIONS = { maxWait: 15_000, timeout: 15_000 }

/**
 * The quota's tables over Prisma (PGlite or PostgreSQL). The reservation is one statement, a
 * function (switchboard_reserve_response) that runs under READ COMMITTED:
 *   1. INSERT the UsageReservation (primary key messageId) ON CONFLICT DO NOTHING: a concurrent
 *      insert of the same message waits for the first transaction, then finds the row (idempotent);
 *   2. make sure the period's UsageCounter row exists (INSERT ... ON CONFLICT DO NOTHING);
 *   3. UPDATE the counter by one only WHERE responses < limit. The row lock serialises concurrent
 *      updates and PostgreSQL re-checks the WHERE against the newest committed row after the wait,
 *      so exactly `limit - used` of them succeed; zero rows updated deletes the reservation again;
 *   4. add one to the day's UsageDay row.
 * Every transaction takes its locks in that order (its own reservation, the counter, the day), so
 * they cannot deadlock.
 */
export function createPrismaBillingStore(db: Database): BillingStore {
  const prisma = db.prisma

  const used = async (organizationId: string, periodStart: Date) =>
    (await prisma.usageCounter.findUnique({ where: { organizationId_periodStart: { organizationId, periodStart } }, select: { responses: true } }))?.responses ?? 0

  const toNotification = (n: { id: string; organizationId: string; kind: string; periodStart: Date; message: string; createdAt: Date; readAt: Date | null }): BillingNotification => ({
    id: n.id,
    organizationId: n.organizationId,
    kind: n.kind,
    periodStart: n.periodStart,
    message: n.message,
    createdAt: n.createdAt,
    readAt: n.readAt,
  })

  return {
    subscription: async (organizationId) => {
      const s = await prisma.subscription.findUnique({ where: { organizationId } })
      if (!s) return null
      return {
        organizationId: s.organizationId,
        plan: s.plan,
        interval: s.interval,
        status: s.status,
        currentPeriodStart: s.currentPeriodStart,
        currentPeriodEnd: s.currentPeriodEnd,
        pendingPlan: s.pendingPlan,
        cancelAtPeriodEnd: s.cancelAtPeriodEnd,
        graceUntil: s.graceUntil,
      }
    },

    // One statement (migration 20261208500000_reserve_response): the steps above, in a function.
    reserve: async ({ organizationId, messageId, periodStart, periodEnd, day, limit }): Promise<ReserveOutcome> => {
      const [row] = await prisma.$queryRawUnsafe<{ ok: boolean; created: boolean; used: number }[]>(
        'SELECT ok, created, used FROM switchboard_reserve_response($1, $2, $3::timestamp(3), $4::timestamp(3), $5::timestamp(3), $6::int, $7)',
        messageId,
        organizationId,
        periodStart,
        periodEnd,
        day,
        limit,
        newId(),
      )
      if (!row) throw new Error('switchboard_reserve_response returned nothing')
      const used = Number(row.used)
      return row.ok ? { ok: true, created: row.created, used } : { ok: false, used }
    },

    release: async ({ organizationId, messageId }) =>
      prisma.$transaction(async (tx) => {
        const gone = await tx.$queryRaw<{ periodStart: Date; day: Date }[]>`
          DELETE FROM "UsageReservation" WHERE "messageId" = ${messageId} AND "organizationId" = ${organizationId}
          RETURNING "periodStart", day`
        const reservation = gone[0]
        if (!reservation) return false
        await tx.$executeRaw`
          UPDATE "UsageCounter" SET responses = GREATEST(responses - 1, 0)
          WHERE "organizationId" = ${organizationId} AND "periodStart" = ${reservation.periodStart}`
        await tx.$executeRaw`
          UPDATE "UsageDay" SET responses = GREATEST(responses - 1, 0)
          WHERE "organizationId" = ${organizationId} AND day = ${reservation.day}`
        return true
      }, TX_OPTIONS),

    used,

    history: async (organizationId, { from, to }) => {
      const rows = await prisma.usageDay.findMany({ where: { organizationId, day: { gte: from, lt: to } }, orderBy: { day: 'asc' } })
      return rows.filter((r) => r.responses > 0).map((r) => ({ day: isoDay(r.day), responses: r.responses }))
    },

    createNotification: async ({ organizationId, kind, periodStart, message }) => {
      try {
        return toNotification(await prisma.notification.create({ data: { id: newId(), organizationId, kind, periodStart, message } }))
      } catch (error) {
        if (isUniqueViolation(error)) return null
        throw error
      }
    },

    listNotifications: async (organizationId, { limit }) =>
      (await prisma.notification.findMany({ where: { organizationId }, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], take: limit })).map(toNotification),

    settings: async (organizationId) => asObject((await prisma.organization.findUnique({ where: { id: organizationId }, select: { settings: true } }))?.settings),

    updateSettings: async (organizationId, patch) =>
      prisma.$transaction(async (tx) => {
        // Lock the row: two admins saving at once both keep their keys.
        await tx.$queryRaw`SELECT id FROM "Organization" WHERE id = ${organizationId} FOR UPDATE`
        const current = await tx.organization.findUnique({ where: { id: organizationId }, select: { settings: true } })
        if (!current) throw notFound('Organization')
        const next = asObject(current.settings)
        for (const [key, value] of Object.entries(patch)) {
          if (value === null || value === undefined) delete next[key]
          else next[key] = value
        }
        await tx.organization.update({ where: { id: organizationId }, data: { settings: next as Prisma.InputJsonValue } })
        return next
      }),
  }
}
