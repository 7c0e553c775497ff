import { z } from 'zod'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { Inbox, Store } from '../../core/ports.ts'
import type { ChannelDeps, InboxSummary } from '../channel-module.ts'

/** The shape the Telegram routes answered with before every channel had the same routes. */
const botView = (s: InboxSummary) => ({ inboxId: s.inboxId, agentId: s.agentId, botId: s.details.botId, botUsername: s.details.botUsername, mode: s.mode, webhookUrl: s.webhookUrl })

/**
 * The Telegram routes of the admin API from before /api/v1/agents/{id}/channels/{kind}: aliases of
 * the routes every channel has, kept for scripts and `npm run cli -- telegram`.
 */
export function registerTelegramAliases(deps: { api: ChannelDeps<unknown>['api']; store: Store; channels: ChannelDeps<unknown>['channels']; summary: (inbox: Inbox) => InboxSummary }) {
  const { api, store } = deps
  api.route({
    method: 'post',
    path: '/api/v1/agents/:id/telegram',
    tag: 'channels',
    summary: 'Connect a Telegram bot to the agent (admin); the same as POST /api/v1/agents/{id}/channels/telegram',
    auth: 'session',
    body: z.object({ token: z.string().trim().min(1).max(200) }).strict(),
    responses: { 201: 'Connected', 422: 'Telegram did not accept the token' },
    handler: async ({ principal, params, body, res }) => {
      requireRole(principal, 'admin')
      const inbox = await deps.channels.connect({ organizationId: principal.organizationId, agentId: params.id!, kind: 'telegram', body, actorUserId: principal.userId })
      res.status(201)
      return { bot: botView(deps.summary(inbox)) }
    },
  })
  api.route({
    method: 'delete',
    path: '/api/v1/telegram/bots/:inboxId',
    tag: 'channels',
    summary: 'Disconnect a Telegram bot (admin); the same as DELETE /api/v1/channels/{inboxId}',
    auth: 'session',
    responses: { 200: 'Disconnected (webhookDeleted is false, with a warning, when Telegram could not be told)', 404: 'No such bot in the organization' },
    handler: async ({ principal, params }) => {
      requireRole(principal, 'admin')
      const { inbox, warning } = await deps.channels.disconnect({ organizationId: principal.organizationId, inboxId: params.inboxId!, kind: 'telegram', actorUserId: principal.userId })
      return { inboxId: inbox.id, botUsername: botView(deps.summary(inbox)).botUsername, webhookDeleted: !warning, warning }
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/telegram/bots',
    tag: 'channels',
    summary: 'The Telegram bots connected to the agents of the organization; GET /api/v1/channels lists every channel',
    auth: 'session',
    handler: async ({ principal }) => {
      const inboxes = (await store.inboxes.listByOrganization(principal.organizationId)).filter((i) => i.channel === 'telegram')
      return { bots: inboxes.map((i) => botView(deps.summary(i))) }
    },
  })
}
