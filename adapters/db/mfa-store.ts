import { newId } from '../../core/ids.ts'
import type { MfaStore } from '../../core/security/mfa.ts'
import type { Database } from './database.ts'
import type { Prisma } from './generated/client.ts'

const asObject = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {})

/** MFA's columns on User, its recovery codes, and Organization.settings.requireMfaForAdmins, over Prisma. */
export function createPrismaMfaStore(db: Database): MfaStore {
  const { prisma } = db
  return {
    async get(userId) {
      const u = await prisma.user.findUnique({ where: { id: userId }, select: { id: true, email: true, mfaSecret: true, mfaPendingSecret: true, mfaEnabledAt: true, mfaLastTimeStep: true } })
      return u ? { id: u.id, email: u.email, secret: u.mfaSecret, pendingSecret: u.mfaPendingSecret, enabledAt: u.mfaEnabledAt, lastTimeStep: u.mfaLastTimeStep } : null
    },
    async setPending(userId, sealed) {
      await prisma.user.update({ where: { id: userId }, data: { mfaPendingSecret: sealed } })
    },
    async enable({ userId, pendingSecret, timeStep, codeHashes, at }) {
      return prisma.$transaction(async (tx) => {
        // Only while that pending secret is still the one (a second enrolment started meanwhile wins).
        const updated = await tx.user.updateMany({ where: { id: userId, mfaPendingSecret: pendingSecret, mfaEnabledAt: null }, data: { mfaSecret: pendingSecret, mfaPendingSecret: null, mfaEnabledAt: at, mfaLastTimeStep: timeStep } })
        if (updated.count !== 1) return false
        await tx.mfaRecoveryCode.deleteMany({ where: { userId } })
        await tx.mfaRecoveryCode.createMany({ data: codeHashes.map((codeHash) => ({ id: newId(), userId, codeHash })) })
        return true
      })
    },
    async advanceTimeStep(userId, timeStep) {
      const updated = await prisma.user.updateMany({ where: { id: userId, mfaEnabledAt: { not: null }, OR: [{ mfaLastTimeStep: null }, { mfaLastTimeStep: { lt: timeStep } }] }, data: { mfaLastTimeStep: timeStep } })
      return updated.count === 1
    },
    async useRecoveryCode(userId, codeHash, at) {
      const updated = await prisma.mfaRecoveryCode.updateMany({ where: { userId, codeHash, usedAt: null }, data: { usedAt: at } })
      return updated.count === 1
    },
    recoveryCodesLeft: (userId) => prisma.mfaRecoveryCode.count({ where: { userId, usedAt: null } }),
    async replaceRecoveryCodes(userId, codeHashes) {
      await prisma.$transaction([prisma.mfaRecoveryCode.deleteMany({ where: { userId } }), prisma.mfaRecoveryCode.createMany({ data: codeHashes.map((codeHash) => ({ id: newId(), userId, codeHash })) })])
    },
    async disable(userId) {
      await prisma.$transaction([
        prisma.user.update({ where: { id: userId }, data: { mfaSecret: null, mfaPendingSecret: null, mfaEnabledAt: null, mfaLastTimeStep: null } }),
        prisma.mfaRecoveryCode.deleteMany({ where: { userId } }),
      ])
    },
    async organizationRequires(organizationId) {
      const org = await prisma.organization.findUnique({ where: { id: organizationId }, select: { settings: true } })
      return asObject(org?.settings).requireMfaForAdmins === true
    },
    async setOrganizationRequires(organizationId, value) {
      await prisma.$transaction(async (tx) => {
        const org = await tx.organization.findUnique({ where: { id: organizationId }, select: { settings: true } })
        if (!org) return
        const next = asObject(org.settings)
        if (value) next.requireMfaForAdmins = true
        else delete next.requireMfaForAdmins
        await tx.organization.update({ where: { id: organizationId }, data: { settings: next as Prisma.InputJsonValue } })
      })
    },
  }
}
