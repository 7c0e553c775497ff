import { z } from 'zod'
import type { Store } from '../../core/ports.ts'
import type { AdminConsole } from '../../core/commands/admin-console.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'
import type { ChannelSet } from '../../adapters/channel-set.ts'

/**
 * Channels of the organization, for every kind alike: connect one to an agent (the body is checked
 * by the channel module's schema), list them with their status, disconnect one. Credentials are
 * sealed by the channel and never come back.
 */
export function registerChannelRoutes(deps: { api: ReturnType<typeof createApi>; store: Store; channels: ChannelSet; adminConsole: AdminConsole }) {
  const { api, store, channels } = deps

  api.route({
    method: 'post',
    path: '/api/v1/agents/:id/channels/:kind',
    tag: 'channels',
    summary: "Connect a channel to the agent (admin): the body is the channel's own (Telegram: { token }; web chat: { name? }). Checks the credentials with the service, stores them encrypted and registers its webhook",
    auth: 'session',
    body: z.unknown(),
    responses: { 201: 'Connected: { inbox }', 404: 'No such agent, or no such channel here', 422: 'The body or the credentials were refused' },
    handler: async ({ principal, params, body, res }) => {
      requireRole(principal, 'admin')
      const inbox = await channels.connect({ organizationId: principal.organizationId, agentId: params.id!, kind: params.kind!, body, actorUserId: principal.userId })
      res.status(201)
      return { inbox: channels.summary(inbox) }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/channels',
    tag: 'channels',
    summary: "The organization's channels (not agents' test chats) with how they receive, their status (last customer message, failed replies in 7 days, the last error), and the kinds that can be connected",
    auth: 'session',
    handler: async ({ principal }) => {
      const [rows, inboxes] = await Promise.all([store.reports.inboxes(principal.organizationId), store.inboxes.listByOrganization(principal.organizationId)])
      const byId = new Map(inboxes.map((i) => [i.id, i]))
      const listed = rows.map((row) => {
        const inbox = byId.get(row.id)
        const routing = { deskInboxId: inbox?.deskInboxId ?? null, desk: inbox && channels.has(inbox.channel) ? channels.deskOf(inbox) : null }
        return inbox && channels.has(inbox.channel) ? { ...row, ...channels.summary(inbox), ...routing } : { ...row, inboxId: row.id, kind: row.channel, mode: null, webhookUrl: null, purpose: 'customers', details: {}, ...routing }
      })
      return { channels: listed, kinds: channels.kinds().map((k) => ({ ...k, connectable: true })) }
    },
  })

  api.route({
    method: 'put',
    path: '/api/v1/channels/:inboxId/desk',
    tag: 'channels',
    summary: "Where this channel's handoffs go (admin): another channel of the organization whose operators' place is chosen (a Slack channel, a Telegram group), or null for the channel's own",
    auth: 'session',
    body: z.object({ deskInboxId: z.string().min(1).max(64).nullable() }).strict(),
    responses: { 200: '{ inboxId, deskInboxId }', 404: 'No such channel in the organization', 422: 'The target has no desk, no place chosen, or routes elsewhere itself' },
    handler: async ({ principal, params, body }) => {
      requireRole(principal, 'admin')
      const inbox = await channels.routeHandoffs({ organizationId: principal.organizationId, inboxId: params.inboxId!, deskInboxId: body.deskInboxId, actorUserId: principal.userId })
      return { inboxId: inbox.id, deskInboxId: inbox.deskInboxId }
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/channels/:inboxId',
    tag: 'channels',
    summary: 'Disconnect a channel (admin): the service is told (webhook deleted, polling stopped), the inbox and its stored credentials are removed; its conversations stay',
    auth: 'session',
    responses: { 200: 'Disconnected (warning says so when the service could not be told)', 404: 'No such channel in the organization' },
    handler: async ({ principal, params }) => {
      requireRole(principal, 'admin')
      const { inbox, warning } = await channels.disconnect({ organizationId: principal.organizationId, inboxId: params.inboxId!, actorUserId: principal.userId })
      return { inboxId: inbox.id, kind: inbox.channel, name: inbox.name, warning }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/channel-admins/link-codes',
    tag: 'channels',
    summary: 'A one-time code (15 minutes, single use) to link your messenger account: send the command link with it to the bot in a private chat; `instructions` says how in each channel (operator)',
    auth: 'session',
    responses: { 201: 'Created' },
    handler: async ({ principal, res }) => {
      const { code, expiresAt } = await deps.adminConsole.createLinkCode(principal)
      res.status(201)
      return { code, expiresAt, instructions: [`Send "link ${code}" to your bot in a private chat within 15 minutes.`, ...channels.linkHints(code)].join(' ') }
    },
  })
}
