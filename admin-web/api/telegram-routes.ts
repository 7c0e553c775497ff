import { z } from 'zod'
import type { Store } from '../../core/ports.ts'
import type { AdminConsole } from '../../core/commands/admin-console.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'
import { connectedView, type TelegramConnector } from '../../adapters/telegram/connect.ts'

/** Telegram bots of the organization: connect one to an agent, list them, disconnect one. Tokens never come back. */
export function registerTelegramRoutes(deps: { api: ReturnType<typeof createApi>; store: Store; connector: TelegramConnector; adminConsole: AdminConsole; publicUrl?: string }) {
  const { api, store } = deps
  api.route({
    method: 'post',
    path: '/api/v1/agents/:id/telegram',
    tag: 'channels',
    summary: 'Connect a Telegram bot to the agent (admin): checks the token with getMe, stores it encrypted, sets the webhook (or polls) and the command menu',
    auth: 'session',
    body: z.object({ token: z.string().trim().min(1).max(200) }).strict(),
    responses: { 201: 'Connected', 422: 'Telegram did not accept the token' },
    handler: async ({ principal, params, body, res }) => {
      requireRole(principal, 'admin')
      const bot = await deps.connector.connect({ organizationId: principal.organizationId, agentId: params.id!, token: body.token, actorUserId: principal.userId })
      res.status(201)
      return { bot }
    },
  })
  api.route({
    method: 'post',
    path: '/api/v1/channel-admins/link-codes',
    tag: 'channels',
    summary: 'A one-time code (15 minutes, single use) to link your Telegram account: send /start <code> to the bot (admin)',
    auth: 'session',
    responses: { 201: 'Created' },
    handler: async ({ principal, res }) => {
      const { code, expiresAt } = await deps.adminConsole.createLinkCode(principal)
      res.status(201)
      return { code, expiresAt, instructions: `Send "/start ${code}" to your bot in Telegram within 15 minutes.` }
    },
  })
  api.route({
    method: 'delete',
    path: '/api/v1/telegram/bots/:inboxId',
    tag: 'channels',
    summary: 'Disconnect a Telegram bot (admin): stops polling it, deletes its webhook and removes the inbox with its stored token; its conversations stay',
    auth: 'session',
    responses: { 200: 'Disconnected (webhookDeleted is false, with a warning, when Telegram could not be told)', 404: 'No such bot in the organization' },
    handler: async ({ principal, params }) => {
      requireRole(principal, 'admin')
      return await deps.connector.disconnect({ organizationId: principal.organizationId, inboxId: params.inboxId!, actorUserId: principal.userId })
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/telegram/bots',
    tag: 'channels',
    summary: 'The Telegram bots connected to the agents of the organization',
    auth: 'session',
    handler: async ({ principal }) => {
      const agents = await store.agents.list(principal.organizationId)
      const inboxes = (await Promise.all(agents.map((a) => store.inboxes.listByAgent(principal.organizationId, a.id)))).flat().filter((i) => i.channel === 'telegram')
      return { bots: inboxes.map((i) => connectedView(i, deps.publicUrl)) }
    },
  })
}
