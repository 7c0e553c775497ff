import { z } from 'zod'
import { defineChannel, type InboxSummary } from '../channel-module.ts'
import { registerTelegramAliases } from './admin-routes.ts'
import { blankToUndefined } from '../../core/config/index.ts'
import type { Inbox } from '../../core/ports.ts'
import { storableJson } from '../../core/security/storable-text.ts'
import { DEFAULT_API_ROOT, TELEGRAM_LIMITS } from './bot-api.ts'
import { createTelegramConnector, TOKEN, webhookUrlOf } from './connect.ts'
import { createTelegramDesk } from './desk.ts'
import { startPolling } from './polling.ts'
import { createRedisSendScheduler } from '../net/redis-send-scheduler.ts'
import { createTelegramChannel, settingsOf } from './telegram-channel.ts'

/**
 * Telegram: customers and admins in private chats and groups, operators in a group. Updates come
 * by webhook (POST /webhooks/telegram/{inboxId}) when PUBLIC_URL is set, else by long polling.
 */
export const telegram = defineChannel({
  kind: 'telegram',
  label: 'Telegram',
  linkHint: (code) => `In Telegram: /link ${code} (or /start ${code}).`,
  config: z.object({
    /** A bot to connect at start-up to the first agent (long polling unless PUBLIC_URL is set): `npm start` then answers in Telegram. */
    TELEGRAM_BOT_TOKEN: z.preprocess(blankToUndefined, z.string().trim().regex(TOKEN, 'expected a bot token from @BotFather (123456789:AA...)').optional()),
    /** The Bot API server: the public one, or a self-hosted telegram-bot-api. */
    TELEGRAM_API_ROOT: z.preprocess(blankToUndefined, z.string().trim().regex(/^https?:\/\//, 'expected a URL starting with http:// or https://').default(DEFAULT_API_ROOT)),
    /** webhook needs PUBLIC_URL; auto = webhook when PUBLIC_URL is set, else long polling. */
    TELEGRAM_MODE: z.preprocess(blankToUndefined, z.enum(['auto', 'webhook', 'polling']).default('auto')),
  }),
  connect: z.object({ token: z.string().trim().min(1).max(200) }).strict(),

  create(deps) {
    const logger = deps.logger
    const channel = createTelegramChannel({
      store: deps.store,
      secrets: deps.secrets,
      apiRoot: deps.config.TELEGRAM_API_ROOT,
      logger,
      sleep: deps.sleep,
      // Telegram's per-chat and per-bot limits hold across every worker that sends.
      ...(deps.redis ? { scheduler: createRedisSendScheduler({ redis: deps.redis.client, prefix: deps.redis.prefix, namespace: 'telegram', limits: TELEGRAM_LIMITS, ...(deps.sleep ? { sleep: deps.sleep } : {}) }) } : {}),
    })
    const pollers = new Map<string, { stop(): Promise<void> }>()
    const poll = (inbox: Inbox) => {
      if (!deps.receives || pollers.has(inbox.id)) return
      const handle = async (update: unknown) => {
        // Read afresh (at most a moment ago): settings may have changed since polling started (e.g. the operators' group).
        const current = await deps.store.inboxes.recent(inbox.id)
        // Polled updates do not pass the HTTP edge: text PostgreSQL cannot store is cleaned here.
        if (current) await deps.ingress.receive(current, await channel.normalize(storableJson(update), current))
      }
      pollers.set(inbox.id, startPolling({ inbox, channel, handle, logger }))
    }
    const stopPolling = async (inboxId: string) => {
      const poller = pollers.get(inboxId)
      pollers.delete(inboxId)
      await poller?.stop()
    }
    const connector = createTelegramConnector({
      store: deps.store,
      secrets: deps.secrets,
      channel,
      apiRoot: deps.config.TELEGRAM_API_ROOT,
      publicUrl: deps.publicUrl,
      mode: deps.config.TELEGRAM_MODE,
      logger,
      checkChannelCap: deps.checkChannelCap,
      startPolling: poll,
      stopPolling,
    })

    const summary = (inbox: Inbox): InboxSummary => {
      const s = settingsOf(inbox)
      const mode = s.mode ?? 'polling'
      return {
        inboxId: inbox.id,
        kind: inbox.channel,
        agentId: inbox.agentId,
        name: inbox.name,
        purpose: inbox.purpose,
        mode,
        webhookUrl: mode === 'webhook' && deps.publicUrl ? webhookUrlOf(deps.publicUrl, inbox.id) : null,
        details: { botId: s.botId ?? null, botUsername: s.botUsername ?? inbox.name.replace(/^@/, ''), operatorsChatSet: Boolean(s.operatorsChatId) },
      }
    }
    registerTelegramAliases({ api: deps.api, store: deps.store, channels: deps.channels, summary })

    return {
      adapter: channel,
      desk: createTelegramDesk({ store: deps.store, channel }),
      connect: ({ organizationId, agent, input }) => connector.connect({ organizationId, agent, token: input.token }),
      disconnect: ({ inbox }) => connector.disconnect(inbox),
      summary,
      async demo({ organizationId, agent }) {
        const token = deps.config.TELEGRAM_BOT_TOKEN
        if (!token) return null
        // Development: the bot answers as the demo agent, by long polling unless PUBLIC_URL is set.
        try {
          const inbox = await deps.channels.connect({ organizationId, agentId: agent.id, kind: 'telegram', body: { token }, actorUserId: null })
          return `  Telegram:     @${settingsOf(inbox).botUsername} answers as the demo agent (${settingsOf(inbox).mode})`
        } catch (error) {
          logger.error({ err: (error as Error).message }, 'TELEGRAM_BOT_TOKEN: could not connect the bot')
          return null
        }
      },
      /** Starts polling every bot connected in polling mode. */
      async start() {
        if (!deps.config.DEMO_SEED && deps.config.TELEGRAM_BOT_TOKEN && deps.receives) logger.warn('TELEGRAM_BOT_TOKEN is used with the demo workspace only; connect bots to your agents with `npm run cli -- telegram connect`')
        for (const inbox of await deps.store.inboxes.listByChannel('telegram')) if (settingsOf(inbox).mode === 'polling') poll(inbox)
      },
      async stop() {
        await Promise.all([...pollers.values()].map((p) => p.stop()))
        pollers.clear()
      },
    }
  },
})
