import { randomBytes } from 'node:crypto'
import { AppError } from '../../core/errors.ts'
import type { Agent, Inbox, Logger, Store } from '../../core/ports.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import { customerCommands } from '../../core/commands/registry.ts'
import { createBotApi, telegramError } from './bot-api.ts'
import { settingsOf, sha256, type TelegramChannel, type TelegramCredentials, type TelegramSettings } from './telegram-channel.ts'

// Bot tokens look like 123456789:AA... (https://core.telegram.org/bots/api#authorizing-your-bot).
export const TOKEN = /^\d{3,20}:[\w-]{20,100}$/
export const ALLOWED_UPDATES = ['message', 'edited_message', 'callback_query'] as const

export const webhookUrlOf = (publicUrl: string, inboxId: string) => `${publicUrl.replace(/\/$/, '')}/webhooks/telegram/${inboxId}`

/**
 * Connects a Telegram bot to an agent: checks the token with getMe, stores it sealed, sets the
 * webhook with a fresh secret (or switches to long polling when there is no public URL), and sets
 * the command menu. Connecting the same bot again rotates the webhook secret and keeps the inbox.
 * Disconnecting stops polling and deletes the webhook.
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

  async function connect(input: { organizationId: string; agent: Agent; token: string }): Promise<Inbox> {
    const token = input.token.trim()
    if (!TOKEN.test(token)) throw new AppError('validation_failed', 'That does not look like a bot token (it reads like 123456789:AA..., from @BotFather)', 422)
    const mode = deps.mode === 'auto' ? (deps.publicUrl ? 'webhook' : 'polling') : deps.mode
    if (mode === 'webhook' && !deps.publicUrl) throw new AppError('validation_failed', 'Webhook mode needs PUBLIC_URL (the address Telegram can reach)', 422)

    const api = await createBotApi({ token, apiRoot: deps.apiRoot, botKey: 'connect', logger: deps.logger })
    let me: Awaited<ReturnType<typeof api.getMe>>
    try {
      me = await api.getMe()
    } catch (error) {
      throw telegramError('getMe', error, token)
    }

    const existing = (await store.inboxes.listByAgent(input.organizationId, input.agent.id)).find((i) => i.channel === 'telegram' && settingsOf(i).botId === me.id)
    if (!existing) await deps.checkChannelCap(input.organizationId)
    const webhookSecret = randomBytes(32).toString('base64url')
    const credentials = deps.secrets.seal(JSON.stringify({ token, webhookSecret } satisfies TelegramCredentials))
    const settings: TelegramSettings = { ...(existing ? settingsOf(existing) : {}), botId: me.id, botUsername: me.username, mode, webhookSecretHash: sha256(webhookSecret) }
    const inbox = existing
      ? (await store.inboxes.update(input.organizationId, existing.id, { name: `@${me.username}`, settings, credentials }))!
      : await store.inboxes.create({ organizationId: input.organizationId, agentId: input.agent.id, channel: 'telegram', name: `@${me.username}`, publicKey: null, settings, credentials })
    deps.channel.forget(inbox.id)

    try {
      if (mode === 'webhook') await api.setWebhook(webhookUrlOf(deps.publicUrl!, inbox.id), { secret_token: webhookSecret, allowed_updates: [...ALLOWED_UPDATES] })
      await api.setMyCommands(customerCommands.map((c) => ({ command: c.name, description: c.description })))
    } catch (error) {
      throw telegramError(mode === 'webhook' ? 'setWebhook' : 'setMyCommands', error, token)
    }
    if (mode === 'polling') deps.startPolling(inbox)
    deps.logger.info({ inboxId: inbox.id, botUsername: me.username, mode }, 'Telegram bot connected')
    return inbox
  }

  /**
   * When Telegram cannot be reached, or no longer accepts the token, the bot is disconnected anyway
   * with a warning: a leftover webhook only reaches a route that no longer knows the inbox.
   */
  async function disconnect(inbox: Inbox): Promise<{ warning?: string }> {
    await deps.stopPolling(inbox.id)
    let token = ''
    try {
      const client = await deps.channel.apiFor(inbox)
      token = client.token
      await client.api.deleteWebhook({ drop_pending_updates: true })
      return {}
    } catch (error) {
      const warning = telegramError('deleteWebhook', error, token).message
      deps.logger.warn({ inboxId: inbox.id, err: warning }, 'deleteWebhook failed; disconnecting the bot anyway')
      return { warning }
    } finally {
      deps.channel.forget(inbox.id)
    }
  }

  return { connect, disconnect }
}
