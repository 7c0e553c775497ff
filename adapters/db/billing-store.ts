import { notFound } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import type { BillingNotification, BillingStore, ReserveOutcome } from '../../core/billing/quota.ts'
import type { Database } from './database.ts'
import { Prisma } from './generated/client.ts'

/** Thrown inside the reservation transaction to roll back its insert when the period is used up. */
class LimitReached extends Error {
  constructor() {
    super('limit reached')
  }
}

const isUniqueViolation = (e: unknown) => e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002'
const isoDay = (d: Date) => d.toISOString().slice(0, 10)
const asObject = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {})

// Many turns of one organization queue on its counter row: give them time for a connection and the lock.
const TX_OPTIONS = { maxWait: 15_000, timeout: 15_000 }

/**
 * The quota's tables over Prisma (PGlite or PostgreSQL). The reservation is one interactive
 * transaction under READ COMMITTED:
 *   1. INSERT the UsageReservation (primary key messageId) ON CONFLICT DO NOTHING: a concurrent
 *      insert of the same message waits for the first transaction, then finds the row (idempotent);
 *   2. make sure the period's UsageCounter row exists (INSERT ... ON CONFLICT DO NOTHING);
 *   3. UPDATE the counter by one only WHERE responses < limit. The row lock serialises concurrent
 *      updates and PostgreSQL re-checks the WHERE against the newest committed row after the wait,
 *      so exactly `limit - used` of them succeed; zero rows updated rolls the whole transaction back;
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

    reserve: async ({ organizationId, messageId, periodStart, periodEnd, day, limit }): Promise<ReserveOutcome> => {
      try {
        return await prisma.$transaction(async (tx) => {
          const inserted = await tx.$executeRaw`
            INSERT INTO "UsageReservation" ("messageId", "organizationId", "periodStart", "day")
            VALUES (${messageId}, ${organizationId}, ${periodStart}, ${day})
            ON CONFLICT ("messageId") DO NOTHING`
          if (inserted === 0) {
            // Reserved before (a retried turn): the same answer, nothing counted twice.
            const existing = await tx.usageReservation.findUnique({ where: { messageId } })
            if (!existing || existing.organizationId !== organizationId) throw new Error(`Message ${messageId} is reserved by another organization`)
            const counter = await tx.usageCounter.findUnique({ where: { organizationId_periodStart: { organizationId, periodStart: existing.periodStart } }, select: { responses: true } })
            return { ok: true as const, created: false, used: counter?.responses ?? 0 }
          }
          await tx.$executeRaw`
            INSERT INTO "UsageCounter" (id, "organizationId", "periodStart", "periodEnd", responses)
            VALUES (${newId()}, ${organizationId}, ${periodStart}, ${periodEnd}, 0)
            ON CONFLICT ("organizationId", "periodStart") DO NOTHING`
          const rows = await tx.$queryRaw<{ responses: number }[]>`
            UPDATE "UsageCounter" SET responses = responses + 1
            WHERE "organizationId" = ${organizationId} AND "periodStart" = ${periodStart}
              AND (${limit}::int IS NULL OR responses < ${limit}::int)
            RETURNING responses`
          if (rows.length === 0) throw new LimitReached()
          await tx.$executeRaw`
            INSERT INTO "UsageDay" ("organizationId", day, responses) VALUES (${organizationId}, ${day}, 1)
            ON CONFLICT ("organizationId", day) DO UPDATE SET responses = "UsageDay".responses + 1`
          return { ok: true as const, created: true, used: Number(rows[0]!.responses) }
        }, TX_OPTIONS)
      } catch (error) {
        if (!(error instanceof LimitReached)) throw error
        return { ok: false, used: await used(organizationId, periodStart) }
      }
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
