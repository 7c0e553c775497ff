import type { ChatStep, OnboardingRecord, OnboardingStore } from '../../core/agents/onboarding.ts'
import type { Database } from './database.ts'
import type { Prisma } from './generated/client.ts'
import type * as Models from './generated/models.ts'

const toRecord = (r: Models.OnboardingModel): OnboardingRecord => ({
  organizationId: r.organizationId,
  agentId: r.agentId,
  steps: (r.steps ?? {}) as OnboardingRecord['steps'],
  chatAdminId: r.chatAdminId,
  chatStep: r.chatStep as ChatStep | null,
  dismissedAt: r.dismissedAt,
  completedAt: r.completedAt,
})

/** The first-run setup's state, one row per organization (keyed by it, so every query is scoped). */
export function createPrismaOnboardingStore(db: Database): OnboardingStore {
  const prisma = db.prisma
  return {
    get: async (organizationId) => {
      const row = await prisma.onboarding.findUnique({ where: { organizationId } })
      return row ? toRecord(row) : null
    },
    save: async (organizationId, patch) => {
      const { steps, ...rest } = patch
      const data = { ...rest, ...(steps ? { steps: steps as Prisma.InputJsonValue } : {}) }
      return toRecord(await prisma.onboarding.upsert({ where: { organizationId }, create: { organizationId, ...data }, update: data }))
    },
  }
}
