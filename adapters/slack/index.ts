import express from 'express'
import { z } from 'zod'
import { blankToUndefined } from '../../core/config/index.ts'
import { AppError } from '../../core/errors.ts'
import type { Inbox } from '../../core/ports.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import { defineChannel, type InboxSummary } from '../channel-module.ts'
import { createRedisSendScheduler } from '../net/redis-send-scheduler.ts'
import { createSendScheduler } from '../net/send-scheduler.ts'
import { createSlackConnector, redirectUrlOf, requestUrlOf } from './connect.ts'
import { createSlackDesk } from './desk.ts'
import { manifestYaml, slackManifest } from './manifest.ts'
import { DEFAULT_API_URL, settingsOf } from './settings.ts'
import { createSlackChannel, SLACK_LIMITS } from './slack-channel.ts'
import { createSocketMode } from './socket.ts'
import { createReplayGuard } from './verify.ts'

/** Where the admin web shows the channels; the OAuth callback sends the manager back there. */
const CHANNELS_PAGE = '/admin/#/channels'

/**
 * Slack: customers in DMs and in the threads of mentions, admins with /switchboard, operators in a
 * channel that receives handoffs from any channel. A business's own app posts to its inbox's
 * Request URL (POST /webhooks/slack/{inboxId}); this installation's app, added with "Add to Slack",
 * posts every workspace's events to POST /webhooks/slack; with SLACK_APP_TOKEN they come over
 * Socket Mode instead.
 */
export const slack = defineChannel({
  kind: 'slack',
  label: 'Slack',
  linkHint: (code) => `In Slack: /switchboard link ${code}.`,
  config: z.object({
    /** The Web API (every call goes there): Slack's, or a local fake in tests. */
    SLACK_API_URL: z.preprocess(blankToUndefined, z.string().trim().regex(/^https?:\/\//, 'expected a URL starting with http:// or https://').default(DEFAULT_API_URL).transform((u) => (u.endsWith('/') ? u : `${u}/`))),
    /** This installation's own Slack app ("Add to Slack"): its OAuth client and signing secret. */
    SLACK_CLIENT_ID: z.preprocess(blankToUndefined, z.string().trim().optional()),
    SLACK_CLIENT_SECRET: z.preprocess(blankToUndefined, z.string().trim().optional()),
    SLACK_SIGNING_SECRET: z.preprocess(blankToUndefined, z.string().trim().optional()),
    /** An app-level token (xapp-…, connections:write): Socket Mode, no public address needed. */
    SLACK_APP_TOKEN: z.preprocess(blankToUndefined, z.string().trim().regex(/^xapp-[\w-]+$/, 'expected an app-level token (xapp-...)').optional()),
  }),
  connect: z.object({ botToken: z.string().trim().min(1).max(300), signingSecret: z.string().trim().min(1).max(200) }).strict(),

  create(deps) {
    const { config, logger, store } = deps
    const apiUrl = config.SLACK_API_URL
    const scheduler = deps.redis
      ? createRedisSendScheduler({ redis: deps.redis.client, prefix: deps.redis.prefix, namespace: 'slack', limits: SLACK_LIMITS, ...(deps.sleep ? { sleep: deps.sleep } : {}) })
      : createSendScheduler({ limits: SLACK_LIMITS, ...(deps.sleep ? { sleep: deps.sleep } : {}) })
    const channel = createSlackChannel({ store, secrets: deps.secrets, apiUrl, appSigningSecret: config.SLACK_SIGNING_SECRET, logger, scheduler, replays: createReplayGuard({ redis: deps.redis }), ...(deps.sleep ? { sleep: deps.sleep } : {}) })
    const oauth = config.SLACK_CLIENT_ID && config.SLACK_CLIENT_SECRET && config.SLACK_SIGNING_SECRET ? { clientId: config.SLACK_CLIENT_ID, clientSecret: config.SLACK_CLIENT_SECRET } : undefined
    const connector = createSlackConnector({
      store,
      secrets: deps.secrets,
      channel,
      apiUrl,
      publicUrl: deps.publicUrl,
      socketMode: Boolean(config.SLACK_APP_TOKEN),
      oauth,
      logger,
      checkChannelCap: deps.checkChannelCap,
      connected: async (inbox, actorUserId) => {
        await store.audit.record({ organizationId: inbox.organizationId, actorUserId, action: 'channel.slack_connected', target: inbox.id, data: { agentId: inbox.agentId, name: inbox.name, mode: settingsOf(inbox)?.mode, install: 'oauth' } })
      },
    })
    const socket = config.SLACK_APP_TOKEN && deps.receives ? createSocketMode({ appToken: config.SLACK_APP_TOKEN, apiUrl, channel, ingress: deps.ingress, logger }) : undefined

    const requestUrl = (inbox?: Inbox): string | null => {
      if (!deps.publicUrl) return null
      const s = inbox ? settingsOf(inbox) : null
      if (s?.mode === 'socket') return null
      return s?.install === 'oauth' ? requestUrlOf(deps.publicUrl) : inbox ? requestUrlOf(deps.publicUrl, inbox.id) : null
    }
    const summary = (inbox: Inbox): InboxSummary => {
      const s = settingsOf(inbox)
      return {
        inboxId: inbox.id,
        kind: inbox.channel,
        agentId: inbox.agentId,
        name: inbox.name,
        purpose: inbox.purpose,
        mode: s?.mode ?? null,
        webhookUrl: requestUrl(inbox),
        details: { teamId: s?.teamId ?? null, teamName: s?.teamName ?? null, appId: s?.appId ?? null, botUserId: s?.botUserId ?? null, install: s?.install ?? null, deskChannelId: s?.deskChannelId ?? null },
      }
    }

    deps.api.route({
      method: 'get',
      path: '/api/v1/channels/slack/manifest',
      tag: 'channels',
      summary: "A Slack app manifest to paste into \"Create app from manifest\" (admin): with ?inboxId= of a connected Slack inbox it carries that inbox's Request URL for events, interactivity and /switchboard",
      auth: 'session',
      query: z.object({ inboxId: z.string().max(64).optional() }),
      responses: { 200: '{ manifest, json, yaml, requestUrl }', 404: 'No such Slack inbox in the organization' },
      handler: async ({ principal, query }) => {
        requireRole(principal, 'admin')
        let inbox: Inbox | undefined
        if (query.inboxId) {
          const found = await store.inboxes.get(query.inboxId)
          if (!found || found.organizationId !== principal.organizationId || found.channel !== 'slack') throw new AppError('not_found', 'Channel not found', 404)
          inbox = found
        }
        const url = requestUrl(inbox)
        const manifest = slackManifest({
          name: 'Switchboard',
          ...(url ? { requestUrl: url } : {}),
          socketMode: inbox ? settingsOf(inbox)?.mode === 'socket' : !deps.publicUrl && Boolean(config.SLACK_APP_TOKEN),
          ...(oauth && deps.publicUrl ? { redirectUrl: redirectUrlOf(deps.publicUrl) } : {}),
        })
        return { manifest, json: JSON.stringify(manifest, null, 2), yaml: manifestYaml(manifest), requestUrl: url }
      },
    })

    deps.api.route({
      method: 'get',
      path: '/api/v1/channels/slack/install',
      tag: 'channels',
      summary: '"Add to Slack" (admin, from the admin web): redirects to Slack\'s consent page for this installation\'s app; Slack comes back to /slack/oauth/callback, which connects the workspace to the agent',
      auth: 'session',
      query: z.object({ agentId: z.string().min(1).max(64) }),
      responses: { 302: "To Slack's consent page", 404: 'No such agent, or "Add to Slack" is not configured (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_SIGNING_SECRET, PUBLIC_URL)' },
      handler: async ({ principal, query, req, res }) => {
        requireRole(principal, 'admin')
        if (!(await store.agents.get(principal.organizationId, query.agentId))) throw new AppError('not_found', 'Agent not found', 404)
        await connector.startInstall(req, res, { organizationId: principal.organizationId, agentId: query.agentId, userId: principal.userId })
        return undefined
      },
    })

    const routes = express.Router()
    routes.get('/slack/oauth/callback', (req, res, next) => {
      connector.finishInstall(req, res, { done: `${CHANNELS_PAGE}?connected=slack`, failed: (message) => `${CHANNELS_PAGE}?slackError=${encodeURIComponent(message)}` }).catch(next)
    })

    return {
      adapter: channel,
      desk: createSlackDesk({ store, channel }),
      routes,
      offers: () => ({ addToSlack: connector.oauthReady() }),
      connect: ({ organizationId, agent, input }) => connector.connect({ organizationId, agent, botToken: input.botToken, signingSecret: input.signingSecret }),
      disconnect: ({ inbox }) => connector.disconnect(inbox),
      summary,
      async start() {
        if (socket) await socket.start().catch((error: unknown) => logger.error({ err: (error as Error).message }, 'Slack Socket Mode could not connect (SLACK_APP_TOKEN)'))
      },
      async stop() {
        await socket?.stop()
      },
    }
  },
})
