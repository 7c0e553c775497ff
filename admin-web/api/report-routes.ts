import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { ReportBucket, Store } from '../../core/ports.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'

const DAY = 24 * 3600 * 1000
const range = z.object({ from: z.coerce.date().optional(), to: z.coerce.date().optional() })
const defaultDays: Record<ReportBucket, number> = { day: 30, week: 84, month: 365 }

function window(query: { from?: Date; to?: Date }, days: number) {
  const to = query.to ?? new Date()
  const from = query.from ?? new Date(to.getTime() - days * DAY)
  if (from >= to) throw new AppError('validation_failed', 'from must be before to', 422)
  if (to.getTime() - from.getTime() > 800 * DAY) throw new AppError('validation_failed', 'The range can be at most 800 days', 422)
  return { from, to }
}

/** One CSV field: quoted when needed; a leading = + - @ is defused so spreadsheets do not run it as a formula. */
export function csvField(value: unknown): string {
  let s = value instanceof Date ? value.toISOString() : value === null || value === undefined ? '' : String(value)
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}
export const toCsv = (header: string[], rows: unknown[][]) => [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n'

/** Reports for the dashboard: responses by period, channel and agent; handoff rate; model cost; CSV exports. */
export function registerReportRoutes(deps: { api: ReturnType<typeof createApi>; store: Store }) {
  const { api, store } = deps

  api.route({
    method: 'get',
    path: '/api/v1/reports/dashboard',
    tag: 'reports',
    summary: 'Responses per day, week or month by channel and agent, handoff rate, and model cost by model',
    auth: 'session',
    query: range.extend({ bucket: z.enum(['day', 'week', 'month']).default('day') }),
    handler: async ({ principal, query }) => {
      const { from, to } = window(query, defaultDays[query.bucket])
      const organizationId = principal.organizationId
      const [responses, stats, usage, agents] = await Promise.all([
        store.reports.responses(organizationId, { from, to, bucket: query.bucket }),
        store.reports.conversationStats(organizationId, { from, to }),
        store.usage.apiCallSummary(organizationId, { from, to }),
        store.agents.list(organizationId),
      ])
      return {
        from,
        to,
        bucket: query.bucket,
        responses,
        totals: { responses: responses.reduce((a, r) => a + r.responses, 0), conversations: stats.conversations, handoffs: stats.handoffs, handoffRate: stats.conversations ? stats.handoffs / stats.conversations : 0 },
        costByModel: usage.byModel,
        cost: usage.totals,
        agents: agents.map((a) => ({ id: a.id, name: a.name })),
      }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/billing/history',
    tag: 'billing',
    summary: "Payment events applied to the organization's subscription (payments, plan changes, cancellations), newest first",
    auth: 'session',
    handler: async ({ principal }) => ({ events: await store.reports.billingEvents(principal.organizationId, 100) }),
  })

  api.route({
    method: 'get',
    path: '/api/v1/reports/conversations.csv',
    tag: 'reports',
    summary: 'Conversations active in the range as CSV (admin): id, channel, agent, state, contact, messages, started, last message',
    auth: 'session',
    query: range,
    responses: { 200: 'text/csv' },
    handler: async ({ principal, query, res }) => {
      requireRole(principal, 'admin')
      const { from, to } = window(query, 30)
      const rows = await store.reports.conversations(principal.organizationId, { from, to, limit: 50_000 })
      res.type('text/csv; charset=utf-8').attachment('conversations.csv')
      res.send(toCsv(['id', 'channel', 'agent', 'state', 'contact', 'messages', 'started_at', 'last_message_at'], rows.map((r) => [r.id, r.channel, r.agentName, r.state, r.contactName, r.messages, r.createdAt, r.lastMessageAt])))
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/reports/usage.csv',
    tag: 'reports',
    summary: 'Usage per day as CSV (admin): responses by channel and agent, then model calls, tokens and cost by day',
    auth: 'session',
    query: range,
    responses: { 200: 'text/csv' },
    handler: async ({ principal, query, res }) => {
      requireRole(principal, 'admin')
      const { from, to } = window(query, 30)
      const [responses, usage, agents] = await Promise.all([
        store.reports.responses(principal.organizationId, { from, to, bucket: 'day' }),
        store.usage.apiCallSummary(principal.organizationId, { from, to }),
        store.agents.list(principal.organizationId),
      ])
      const names = new Map(agents.map((a) => [a.id, a.name]))
      const rows: unknown[][] = [
        ...responses.map((r) => [r.period, 'responses', r.channel, names.get(r.agentId) ?? r.agentId, r.responses, '', '', '']),
        ...usage.byDay.map((d) => [d.day, 'model_calls', '', '', d.calls, d.inputTokens, d.outputTokens, d.costUsd]),
      ]
      res.type('text/csv; charset=utf-8').attachment('usage.csv')
      res.send(toCsv(['day', 'kind', 'channel', 'agent', 'count', 'input_tokens', 'output_tokens', 'cost_usd'], rows))
      return undefined
    },
  })
}
