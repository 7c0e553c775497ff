import { z } from 'zod'
import type { QuotaService } from '../../core/billing/quota.ts'
import type { Store } from '../../core/ports.ts'
import type { Plans } from '../../core/billing/plans.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'

const settingsSchema = z
  .object({
    /** The message customers get when the organization's responses are used up; null restores the default. */
    quotaMessage: z.string().trim().min(1).max(500).nullable().optional(),
    /** Also hand the conversation to a person at the limit; null restores the default (no). */
    handoffOnQuota: z.boolean().nullable().optional(),
    /** Percentages of the period's responses at which admins are told; null restores 80 and 100. */
    quotaNoticeThresholds: z.array(z.number().int().min(1).max(100)).min(1).max(10).nullable().optional(),
    /** Also tell the admins' linked chats (default yes); the admin web always shows the notices. */
    quotaNoticeChats: z.boolean().nullable().optional(),
  })
  .strict()

/**
 * Billing and quota in the admin API: the plan and usage of the caller's organization, its
 * notifications (quota at 80% and 100%), and what customers get at the limit. Payments (checkout,
 * provider webhooks) are registered elsewhere.
 */
export function registerBillingRoutes(deps: { api: ReturnType<typeof createApi>; quota: QuotaService; store?: Pick<Store, 'audit'>; plans?: Plans; paymentsEnabled?: boolean }) {
  const { api, quota } = deps

  api.route({
    method: 'get',
    path: '/api/v1/billing/plans',
    tag: 'billing',
    summary: 'The plans on offer with their prices and limits, and whether checkout is available',
    auth: 'session',
    handler: async () => ({ plans: Object.values(deps.plans ?? {}), checkout: deps.paymentsEnabled ?? false }),
  })

  api.route({
    method: 'get',
    path: '/api/v1/billing',
    tag: 'billing',
    summary: 'Plan, billing period, responses used and remaining, and responses per day in the period',
    auth: 'session',
    handler: async ({ principal }) => quota.summary(principal.organizationId),
  })

  api.route({
    method: 'get',
    path: '/api/v1/notifications',
    tag: 'billing',
    summary: "Notices for the organization's admins (quota at 80% and 100%, or the organization's thresholds), newest first",
    auth: 'session',
    query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
    handler: async ({ principal, query }) => ({ notifications: await quota.notifications(principal.organizationId, { limit: query.limit }) }),
  })

  api.route({
    method: 'get',
    path: '/api/v1/organization/settings',
    tag: 'billing',
    summary: 'What customers get when the responses are used up, and when and where admins are told about the quota',
    auth: 'session',
    handler: async ({ principal }) => ({ settings: await quota.settings(principal.organizationId) }),
  })

  api.route({
    method: 'patch',
    path: '/api/v1/organization/settings',
    tag: 'billing',
    summary: 'Set the quota message, whether the limit hands the conversation to a person, and the quota notices: thresholds (percent) and whether they also go to admins\' chats (admin)',
    auth: 'session',
    body: settingsSchema,
    handler: async ({ principal, body }) => {
      requireRole(principal, 'admin')
      const settings = await quota.updateSettings(principal.organizationId, body)
      await deps.store?.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'organization.settings_updated', data: { keys: Object.keys(body) } })
      return { settings }
    },
  })
}
