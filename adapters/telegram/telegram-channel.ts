import { createHash, timingSafeEqual } from 'node:crypto'
import type { Api } from 'grammy'
import type { InlineKeyboardButton } from 'grammy/types'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import { readCapped } from '../net/read-capped.ts'
import type { Attachment, ChannelAdapter, ChannelEvent, Choice, Inbox, Logger, RawRequest, Store } from '../../core/ports.ts'
import { LINK_COMMAND } from '../../core/commands/admin-console.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import { HANDOFF_CHOICE } from '../../core/conversation/steps.ts'
import { createBotApi, redactToken, TELEGRAM_LIMITS, telegramError } from './bot-api.ts'
import { MAX_MESSAGE_CHARS, sourcesHtml, toTelegramMessages } from './format.ts'
import { createSendScheduler, type SendScheduler } from '../net/send-scheduler.ts'

export const SECRET_HEADER = 'x-telegram-bot-api-secret-token'

/** What the sealed credentials of a Telegram inbox hold. */
export const telegramCredentials = z.object({ token: z.string().min(1), webhookSecret: z.string().min(1).optional() })
export type TelegramCredentials = z.infer<typeof telegramCredentials>

/** Non-secret settings of a Telegram inbox (Inbox.settings), read with this schema, never cast. */
export const telegramSettings = z.object({
  botId: z.number().int().optional(),
  botUsername: z.string().optional(),
  mode: z.enum(['webhook', 'polling']).optional(),
  /** SHA-256 (hex) of the webhook secret: the header is checked against it without opening the credentials. */
  webhookSecretHash: z.string().optional(),
  /** The chat where handoffs go for operators (a group), when set. */
  operatorsChatId: z.string().optional(),
})
export type TelegramSettings = z.infer<typeof telegramSettings>

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
/** The inbox's Telegram settings; what does not fit the schema is left out. */
export const settingsOf = (inbox: Inbox): TelegramSettings => {
  const parsed = telegramSettings.safeParse(inbox.settings)
  return parsed.success ? parsed.data : {}
}

// The parts of Telegram's Update we read (https://core.telegram.org/bots/api#update); the rest is kept in `raw`.
const user = z.object({ id: z.number(), is_bot: z.boolean().optional(), first_name: z.string().optional(), last_name: z.string().optional(), username: z.string().optional() }).passthrough()
const chat = z.object({ id: z.number(), type: z.enum(['private', 'group', 'supergroup', 'channel']) }).passthrough()
const entity = z.object({ type: z.string(), offset: z.number(), length: z.number() }).passthrough()
const file = z.object({ file_id: z.string(), file_unique_id: z.string().optional(), file_size: z.number().optional(), mime_type: z.string().optional(), file_name: z.string().optional() }).passthrough()
const message = z
  .object({
    message_id: z.number(),
    date: z.number(),
    chat,
    from: user.optional(),
    text: z.string().optional(),
    caption: z.string().optional(),
    entities: z.array(entity).optional(),
    caption_entities: z.array(entity).optional(),
    document: file.optional(),
    photo: z.array(file.extend({ width: z.number().optional(), height: z.number().optional() })).optional(),
    voice: file.optional(),
    audio: file.optional(),
    video: file.optional(),
    video_note: file.optional(),
    reply_to_message: z.object({ message_id: z.number(), from: user.optional() }).passthrough().optional(),
  })
  .passthrough()
export type TelegramMessage = z.infer<typeof message>
export const updateSchema = z
  .object({
    update_id: z.number(),
    message: message.optional(),
    edited_message: message.optional(),
    callback_query: z.object({ id: z.string(), from: user, data: z.string().optional(), message: message.optional() }).passthrough().optional(),
  })
  .passthrough()
export type TelegramUpdate = z.infer<typeof updateSchema>

const displayName = (u: z.infer<typeof user>) => [u.first_name, u.last_name].filter(Boolean).join(' ') || u.username

/** The command a message starts with (Telegram marks it with a bot_command entity): its name, arguments and the bot it names. */
function commandIn(m: TelegramMessage): { name: string; args: string; bot?: string } | undefined {
  const text = m.text ?? m.caption ?? ''
  const entity = (m.entities ?? m.caption_entities ?? []).find((e) => e.type === 'bot_command' && e.offset === 0)
  const match = entity ? /^\/([A-Za-z0-9_]{1,64})(?:@(\w+))?$/.exec(text.slice(0, entity.length)) : null
  if (!match) return undefined
  return { name: match[1]!.toLowerCase(), args: text.slice(entity!.length).trim(), ...(match[2] ? { bot: match[2] } : {}) }
}

/** Whether a group message is meant for the bot: it mentions the bot, replies to one of its messages, or is a /command@bot. */
function addressedToBot(m: TelegramMessage, settings: TelegramSettings): boolean {
  if (m.reply_to_message?.from?.id !== undefined && m.reply_to_message.from.id === settings.botId) return true
  const username = settings.botUsername?.toLowerCase()
  if (!username) return false
  const text = m.text ?? m.caption ?? ''
  const entities = m.entities ?? m.caption_entities ?? []
  return entities.some((e) => e.type === 'mention' && text.slice(e.offset, e.offset + e.length).toLowerCase() === `@${username}`) || commandIn(m)?.bot?.toLowerCase() === username
}

function attachmentsOf(m: TelegramMessage): Attachment[] {
  const out: Attachment[] = []
  if (m.document) out.push({ kind: 'document', ref: m.document.file_id, name: m.document.file_name, mimeType: m.document.mime_type, size: m.document.file_size })
  if (m.photo?.length) {
    const largest = [...m.photo].sort((a, b) => (b.file_size ?? (b.width ?? 0) * (b.height ?? 0)) - (a.file_size ?? (a.width ?? 0) * (a.height ?? 0)))[0]!
    out.push({ kind: 'image', ref: largest.file_id, mimeType: 'image/jpeg', size: largest.file_size })
  }
  for (const audio of [m.voice, m.audio]) if (audio) out.push({ kind: 'audio', ref: audio.file_id, mimeType: audio.mime_type, size: audio.file_size })
  for (const video of [m.video, m.video_note]) if (video) out.push({ kind: 'video', ref: video.file_id, mimeType: video.mime_type, size: video.file_size })
  return out
}

/** The id under which a message is stored: unique per chat, so a redelivered update is a no-op. */
export const messageKey = (chatId: number | string, messageId: number | string) => `${chatId}:${messageId}`

/** The label of the pressed button, from the message it was under; for the transcript. */
function buttonLabel(m: TelegramMessage | undefined, data: string): string | undefined {
  const markup = (m as { reply_markup?: { inline_keyboard?: { text?: string; callback_data?: string }[][] } } | undefined)?.reply_markup
  return markup?.inline_keyboard?.flat().find((b) => b.callback_data === data)?.text
}

/** Button presses are stored under the callback query's id, which also answers it. */
const CALLBACK_PREFIX = 'cb:'

/**
 * An update as events, parsed once: a customer's or admin's message (commands from their
 * bot_command entity, `/start <code>` as the command `link`), a button press as a choice, and in the
 * operators' group the operators' actions. Throws 400 when the body is not a Telegram update.
 */
export function normalizeUpdate(body: unknown, inbox: Inbox): ChannelEvent[] {
  const parsed = updateSchema.safeParse(body)
  if (!parsed.success) throw new AppError('validation_failed', 'Not a Telegram update', 400)
  const update = parsed.data
  const settings = settingsOf(inbox)
  // Edited messages were answered as first sent: an edit never makes a second answer.
  if (update.edited_message) return []
  if (update.callback_query) {
    const q = update.callback_query
    if (!q.data || !q.message) return []
    const chatId = q.message.chat.id
    const operatorButton = /^op:(take|release):([\w-]{1,64})$/.exec(q.data)
    if (operatorButton) {
      const reply = { callbackQueryId: q.id, chatId, messageId: q.message.message_id }
      return [{ type: 'operator', action: { inboxId: inbox.id, externalUserId: String(q.from.id), userName: q.from.first_name ?? displayName(q.from), place: String(chatId), reply, kind: operatorButton[1] as 'take' | 'release', conversationId: operatorButton[2]! } }]
    }
    const label = buttonLabel(q.message, q.data) ?? (q.data === HANDOFF_CHOICE.id ? HANDOFF_CHOICE.label : q.data)
    return [{ type: 'message', message: { inboxId: inbox.id, externalThreadId: String(chatId), externalMessageId: `${CALLBACK_PREFIX}${q.id}`, externalUserId: String(q.from.id), userName: displayName(q.from), privateThread: q.message.chat.type === 'private', text: label, choiceId: q.data, attachments: [], receivedAt: new Date(), raw: update } }]
  }
  const m = update.message
  if (!m || !m.from || m.from.is_bot) return []
  if (m.chat.type === 'channel') return []
  const group = m.chat.type !== 'private'
  const command = commandIn(m)
  const forThisBot = !command?.bot || command.bot.toLowerCase() === settings.botUsername?.toLowerCase()
  if (group) {
    const operator = { inboxId: inbox.id, externalUserId: String(m.from.id), userName: m.from.first_name ?? displayName(m.from), place: String(m.chat.id), reply: { chatId: m.chat.id, messageId: m.message_id } }
    if (command?.name === 'operatorgroup' && forThisBot) return [{ type: 'operator', action: { ...operator, kind: 'claim_desk' } }]
    if (settings.operatorsChatId === String(m.chat.id)) {
      // The operators' group is for operators: the agent never answers there. A reply to the bot's post reaches its conversation.
      const repliedTo = m.reply_to_message
      if (!repliedTo || repliedTo.from?.id !== settings.botId) return []
      const text = (m.text ?? m.caption ?? '').trim()
      return [{ type: 'operator', action: { ...operator, kind: 'reply', postId: messageKey(m.chat.id, repliedTo.message_id), text, release: command?.name === 'release' && forThisBot } }]
    }
    if (!addressedToBot(m, settings)) return []
  }
  let text = m.text ?? m.caption
  if (text && group && settings.botUsername) text = text.replace(new RegExp(`@${settings.botUsername}\\b`, 'gi'), '').replace(/\s{2,}/g, ' ').trim()
  const attachments = attachmentsOf(m)
  if (!text && !attachments.length) return []
  // Telegram's deep link /start <payload> carries a link code: the channel-neutral `link <code>`.
  const recognised = command && forThisBot ? (command.name === 'start' && command.args ? { name: LINK_COMMAND, args: command.args } : { name: command.name, args: command.args }) : undefined
  return [
    {
      type: 'message',
      message: {
        inboxId: inbox.id,
        externalThreadId: String(m.chat.id),
        externalMessageId: messageKey(m.chat.id, m.message_id),
        externalUserId: String(m.from.id),
        userName: displayName(m.from),
        privateThread: !group,
        text: text || undefined,
        ...(recognised ? { command: recognised } : {}),
        attachments,
        receivedAt: new Date(m.date * 1000),
        raw: update,
      },
    },
  ]
}

export function keyboardOf(choices: Choice[] | undefined): { inline_keyboard: InlineKeyboardButton[][] } | undefined {
  if (!choices?.length) return undefined
  // callback_data is at most 64 bytes (Bot API): longer ids cannot be buttons.
  const buttons = choices.filter((c) => Buffer.byteLength(c.id) <= 64).map((c) => ({ text: c.label.slice(0, 64), callback_data: c.id }))
  const rows: InlineKeyboardButton[][] = []
  for (let i = 0; i < buttons.length; i += 2) rows.push(buttons.slice(i, i + 2))
  return { inline_keyboard: rows }
}

export type TelegramChannel = ChannelAdapter & {
  /** The grammY client of an inbox's bot (opened from its sealed credentials). */
  apiFor(inbox: Inbox): Promise<{ api: Api; token: string }>
  /** Forgets the cached client after the credentials changed. */
  forget(inboxId: string): void
}

/**
 * Telegram as a channel: verifies the webhook secret header, turns updates into inbound messages,
 * and sends replies as HTML (split at 4096 characters, sources listed, choices as inline buttons)
 * under Telegram's outbound limits.
 */
export function createTelegramChannel(deps: { store: Store; secrets: SecretBox; apiRoot: string; logger: Logger; scheduler?: SendScheduler; sleep?: (ms: number) => Promise<void> }): TelegramChannel {
  const scheduler = deps.scheduler ?? createSendScheduler({ limits: TELEGRAM_LIMITS })
  const clients = new Map<string, { envelope: string; api: Api; token: string }>()

  async function apiFor(inbox: Inbox) {
    const envelope = await deps.store.inboxes.credentials(inbox.id)
    if (!envelope) throw new AppError('channel_unavailable', 'This Telegram inbox has no bot token', 409)
    const cached = clients.get(inbox.id)
    if (cached && cached.envelope === envelope) return cached
    const parsed = telegramCredentials.safeParse(JSON.parse(deps.secrets.open(envelope)))
    if (!parsed.success) throw new AppError('channel_unavailable', 'The stored Telegram credentials are unreadable', 500)
    const token = parsed.data.token
    const client = { envelope, token, api: await createBotApi({ token, apiRoot: deps.apiRoot, scheduler, botKey: inbox.id, logger: deps.logger, sleep: deps.sleep }) }
    clients.set(inbox.id, client)
    return client
  }

  async function call<T>(inbox: Inbox, method: string, fn: (api: Api) => Promise<T>): Promise<T> {
    const { api, token } = await apiFor(inbox)
    try {
      return await fn(api)
    } catch (error) {
      throw telegramError(method, error, token)
    }
  }

  return {
    kind: 'telegram',
    apiFor,
    forget: (inboxId) => void clients.delete(inboxId),

    maxMessageLength: MAX_MESSAGE_CHARS,

    verify(req: RawRequest, inbox: Inbox): boolean {
      const expected = settingsOf(inbox).webhookSecretHash
      const header = req.headers[SECRET_HEADER]
      const given = Array.isArray(header) ? header[0] : header
      if (!expected || !given) return false
      // Both sides hashed to the same length: the comparison takes the same time whatever was sent.
      return timingSafeEqual(Buffer.from(sha256(given), 'hex'), Buffer.from(expected, 'hex'))
    },

    normalize: normalizeUpdate,

    async acknowledge({ inbox, event }) {
      // Stops a pressed button's spinner; the operators' buttons are answered by the desk with a text.
      if (event.type !== 'message' || !event.message.externalMessageId.startsWith(CALLBACK_PREFIX)) return
      await call(inbox, 'answerCallbackQuery', (api) => api.answerCallbackQuery(event.message.externalMessageId.slice(CALLBACK_PREFIX.length)))
    },

    async send({ to, message, inbox }) {
      const footer = message.sources?.length ? sourcesHtml(message.sources) : undefined
      const parts = toTelegramMessages(message.text, { footer })
      const keyboard = keyboardOf(message.choices)
      let lastId: number | undefined
      for (const [i, html] of parts.entries()) {
        const last = i === parts.length - 1
        const options = { parse_mode: 'HTML' as const, link_preview_options: { is_disabled: true }, ...(last && keyboard ? { reply_markup: keyboard } : {}) }
        const sent = await call(inbox, 'sendMessage', async (api) => {
          try {
            return await api.sendMessage(to.externalThreadId, html, options)
          } catch (error) {
            // HTML Telegram refuses to parse still reaches the customer, as plain text.
            if ((error as { error_code?: number; description?: string }).error_code === 400 && /parse entities/i.test((error as { description?: string }).description ?? '')) {
              return api.sendMessage(to.externalThreadId, html.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'), { ...(last && keyboard ? { reply_markup: keyboard } : {}) })
            }
            throw error
          }
        })
        lastId = sent.message_id
      }
      return { externalMessageId: lastId !== undefined ? messageKey(to.externalThreadId, lastId) : undefined }
    },

    async typing({ to, inbox }) {
      await call(inbox, 'sendChatAction', (api) => api.sendChatAction(to.externalThreadId, 'typing'))
    },

    async edit({ to, externalMessageId, text, inbox }) {
      const messageId = Number(externalMessageId.split(':').pop())
      const [html] = toTelegramMessages(text)
      await call(inbox, 'editMessageText', (api) => api.editMessageText(to.externalThreadId, messageId, html!, { parse_mode: 'HTML' })).catch((error: AppError) => {
        // "message is not modified" is not a failure: the text is already what we want.
        if (!/not modified/i.test(error.message)) throw error
      })
    },

    async setCommandMenu({ inbox, externalThreadId, commands }) {
      await call(inbox, 'setMyCommands', (api) => api.setMyCommands(commands.map((c) => ({ command: c.name, description: c.description.slice(0, 256) })), { scope: { type: 'chat', chat_id: Number(externalThreadId) } }))
    },

    async download({ attachment, inbox, maxBytes }) {
      if (!attachment.ref) throw new AppError('validation_failed', 'This attachment cannot be fetched', 422)
      if (attachment.size && attachment.size > maxBytes) throw new AppError('file_too_large', `The file is larger than ${Math.round(maxBytes / 1024 / 1024)} MB`, 413)
      const { token } = await apiFor(inbox)
      const file = await call(inbox, 'getFile', (api) => api.getFile(attachment.ref!))
      if (!file.file_path) throw new AppError('provider_error', 'Telegram getFile returned no file path', 502)
      const url = `${deps.apiRoot.replace(/\/$/, '')}/file/bot${token}/${file.file_path}`
      let res: Response
      try {
        res = await fetch(url)
      } catch (error) {
        throw new AppError('telegram_unreachable', `Telegram file download failed: ${redactToken((error as Error).message, token)}`, 502)
      }
      if (!res.ok) throw new AppError('provider_error', `Telegram file download failed with HTTP ${res.status}`, 502)
      return readCapped(res, maxBytes)
    },
  }
}
