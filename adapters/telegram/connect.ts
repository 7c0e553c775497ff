import { randomBytes } from 'node:crypto'
import { AppError, notFound } from '../../core/errors.ts'
import type { Inbox, Logger, Store } from '../../core/ports.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import { customerCommands } from '../../core/commands/registry.ts'
import { createBotApi, telegramError } from './bot-api.ts'
import { settingsOf, sha256, type TelegramChannel, type TelegramCredentials, type TelegramSettings } from './telegram-channel.ts'

// Bot tokens look like 123456789:AA... (https://core.telegram.org/bots/api#authorizing-your-bot).
const TOKEN = /^\d{3,20}:[\w-]{20,100}$/

export type ConnectedBot = { inboxId: string; agentId: string; botId: number; botUsername: string; mode: 'webhook' | 'polling'; webhookUrl: string | null }

export const connectedView = (inbox: Inbox, publicUrl?: string): ConnectedBot => {
  const s = settingsOf(inbox)
  return { inboxId: inbox.id, agentId: inbox.agentId, botId: s.botId!, botUsername: s.botUsername!, mode: s.mode ?? 'polling', webhookUrl: s.mode === 'webhook' && publicUrl ? webhookUrlOf(publicUrl, inbox.id) : null }
}

export const webhookUrlOf = (publicUrl: string, inboxId: string) => `${publicUrl.replace(/\/$/, '')}/webhooks/telegram/${inboxId}`

/**
 * Connects a Telegram bot to an agent: checks the token with getMe, stores it sealed, sets the
 * webhook with a fresh secret (or switches to long polling when there is no public URL), and sets
 * the command menu. Connecting the same bot again rotates the webhook secret and keeps the inbox.
 */
export function createTelegramConnector(deps: {
  store: Store
  secrets: SecretBox
  channel: TelegramChannel
  apiRoot: string
  /** Where Telegram can reach this server; without it the bot is polled. */
  publicUrl?: string
  mode: 'auto' | 'webhook' | 'polling'
  logger: Logger
  checkChannelCap: (organizationId: string) => Promise<void>
  startPolling: (inbox: Inbox) => void
  stopPolling: (inboxId: string) => Promise<void>
}) {
  const { store } = deps

  async function connect(input: { organizationId: string; agentId: string; token: string; actorUserId: string | null }): Promise<ConnectedBot> {
    const token = input.token.trim()
    if (!TOKEN.test(token)) throw new AppError('validation_failed', 'That does not look like a bot token (it reads like 123456789:AA..., from @BotFather)', 422)
    const agent = await store.agents.get(input.organizationId, input.agentId)
    if (!agent) throw notFound('Agent')
    const mode = deps.mode === 'auto' ? (deps.publicUrl ? 'webhook' : 'polling') : deps.mode
    if (mode === 'webhook' && !deps.publicUrl) throw new AppError('validation_failed', 'Webhook mode needs PUBLIC_URL (the address Telegram can reach)', 422)

    const api = await createBotApi({ token, apiRoot: deps.apiRoot, botKey: 'connect', logger: deps.logger })
    let me: Awaited<ReturnType<typeof api.getMe>>
    try {
      me = await api.getMe()
    } catch (error) {
      throw telegramError('getMe', error, token)
    }

    const existing = (await store.inboxes.listByAgent(input.organizationId, input.agentId)).find((i) => i.channel === 'telegram' && settingsOf(i).botId === me.id)
    if (!existing) await deps.checkChannelCap(input.organizationId)
    const webhookSecret = randomBytes(32).toString('base64url')
    const credentials = deps.secrets.seal(JSON.stringify({ token, webhookSecret } satisfies TelegramCredentials))
    const settings: TelegramSettings = { ...(existing ? settingsOf(existing) : {}), botId: me.id, botUsername: me.username, mode, webhookSecretHash: sha256(webhookSecret) }
    const inbox = existing
      ? (await store.inboxes.update(input.organizationId, existing.id, { name: `@${me.username}`, settings, credentials }))!
      : await store.inboxes.create({ organizationId: input.organizationId, agentId: input.agentId, channel: 'telegram', name: `@${me.username}`, publicKey: null, settings, credentials })
    deps.channel.forget(inbox.id)

    try {
      if (mode === 'webhook') {
        await api.setWebhook(webhookUrlOf(deps.publicUrl!, inbox.id), { secret_token: webhookSecret, allowed_updates: ['message', 'edited_message', 'callback_query'] })
      }
      await api.setMyCommands(customerCommands.map((c) => ({ command: c.name, description: c.description })))
    } catch (error) {
      throw telegramError(mode === 'webhook' ? 'setWebhook' : 'setMyCommands', error, token)
    }
    if (mode === 'polling') deps.startPolling(inbox)
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'channel.telegram_connected', target: inbox.id, data: { botUsername: me.username, mode, agentId: input.agentId } })
    deps.logger.info({ inboxId: inbox.id, botUsername: me.username, mode }, 'Telegram bot connected')
    return connectedView(inbox, deps.publicUrl)
  }

  /**
   * Disconnects a bot: stops polling it, deletes its webhook, and removes the inbox with its sealed
   * token (its conversations stay). When Telegram cannot be reached, or no longer accepts the token,
   * the bot is disconnected anyway and `webhookDeleted` is false: a leftover webhook only reaches a
   * route that no longer knows the inbox.
   */
  async function disconnect(input: { organizationId: string; inboxId: string; actorUserId: string | null }): Promise<{ inboxId: string; botUsername: string; webhookDeleted: boolean; warning: string | null }> {
    const inbox = await store.inboxes.get(input.inboxId)
    if (!inbox || inbox.organizationId !== input.organizationId || inbox.channel !== 'telegram') throw notFound('Telegram bot')
    const settings = settingsOf(inbox)
    await deps.stopPolling(inbox.id)
    let webhookDeleted = false
    let warning: string | null = null
    let token = ''
    try {
      const client = await deps.channel.apiFor(inbox)
      token = client.token
      await client.api.deleteWebhook({ drop_pending_updates: true })
      webhookDeleted = true
    } catch (error) {
      warning = telegramError('deleteWebhook', error, token).message
      deps.logger.warn({ inboxId: inbox.id, err: warning }, 'deleteWebhook failed; disconnecting the bot anyway')
    }
    deps.channel.forget(inbox.id)
    await store.inboxes.delete(input.organizationId, inbox.id)
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'channel.telegram_disconnected', target: inbox.id, data: { botUsername: settings.botUsername ?? null, mode: settings.mode ?? null, agentId: inbox.agentId, webhookDeleted } })
    deps.logger.info({ inboxId: inbox.id, botUsername: settings.botUsername, webhookDeleted }, 'Telegram bot disconnected')
    return { inboxId: inbox.id, botUsername: settings.botUsername ?? inbox.name.replace(/^@/, ''), webhookDeleted, warning }
  }

  return { connect, disconnect }
}

export type TelegramConnector = ReturnType<typeof createTelegramConnector>
