import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local stand-in for the Telegram Bot API (what TELEGRAM_API_ROOT points at in tests). It records
 * every call and answers with the response shapes of https://core.telegram.org/bots/api:
 * `{ ok: true, result }` or `{ ok: false, error_code, description, parameters? }`.
 */
export type FakeBot = { token: string; id: number; username: string; first_name: string }
/** One call the bot made; `refused` is the failure the fake answered with instead of a result (see `failNext`). */
export type RecordedCall = { method: string; token: string; payload: Record<string, unknown>; at: number; result?: unknown; refused?: Failure }
type Failure = { error_code: number; description: string; parameters?: Record<string, unknown> }

export async function startFakeTelegram() {
  const bots = new Map<string, FakeBot>()
  const calls: RecordedCall[] = []
  const failures: { method: string; failure: Failure }[] = []
  const files = new Map<string, { path: string; bytes: Buffer }>()
  const pendingUpdates = new Map<string, Record<string, unknown>[]>()
  let nextMessageId = 1000
  const now = () => Math.floor(Date.now() / 1000)

  const chatOf = (chatId: unknown) => {
    const id = Number(chatId)
    return id < 0 ? { id, title: 'Team', type: 'supergroup' } : { id, first_name: 'Customer', type: 'private' }
  }
  const botUser = (bot: FakeBot) => ({ id: bot.id, is_bot: true, first_name: bot.first_name, username: bot.username })

  function result(bot: FakeBot, method: string, p: Record<string, unknown>): unknown {
    switch (method) {
      case 'getMe':
        return { ...botUser(bot), can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false, can_connect_to_business: false, has_main_web_app: false }
      case 'sendMessage':
        return { message_id: nextMessageId++, from: botUser(bot), chat: chatOf(p.chat_id), date: now(), text: String(p.text ?? '').replace(/<[^>]+>/g, ''), ...(p.reply_markup ? { reply_markup: p.reply_markup } : {}) }
      case 'editMessageText':
        return { message_id: Number(p.message_id), from: botUser(bot), chat: chatOf(p.chat_id), date: now(), edit_date: now(), text: String(p.text ?? '').replace(/<[^>]+>/g, '') }
      case 'getFile': {
        const file = files.get(String(p.file_id))
        if (!file) throw { error_code: 400, description: 'Bad Request: invalid file_id' } satisfies Failure
        return { file_id: p.file_id, file_unique_id: `u-${String(p.file_id)}`, file_size: file.bytes.length, file_path: file.path }
      }
      case 'getWebhookInfo':
        return { url: '', has_custom_certificate: false, pending_update_count: 0 }
      case 'setWebhook':
      case 'deleteWebhook':
      case 'sendChatAction':
      case 'setMyCommands':
      case 'deleteMyCommands':
      case 'answerCallbackQuery':
        return true
      case 'editMessageReplyMarkup':
        return { message_id: Number(p.message_id), from: botUser(bot), chat: chatOf(p.chat_id), date: now(), text: '', ...(p.reply_markup ? { reply_markup: p.reply_markup } : {}) }
      default:
        throw { error_code: 404, description: 'Not Found: method not found' } satisfies Failure
    }
  }

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake')
    const fileMatch = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname)
    if (fileMatch) {
      const file = [...files.values()].find((f) => f.path === fileMatch[2])
      if (!bots.has(fileMatch[1]!) || !file) return send(res, 404, { ok: false, error_code: 404, description: 'Not Found' })
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      return res.end(file.bytes)
    }
    const m = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname)
    if (!m) return send(res, 404, { ok: false, error_code: 404, description: 'Not Found' })
    const [, token, method] = m as unknown as [string, string, string]
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    const payload = raw && (req.headers['content-type'] ?? '').includes('json') ? (JSON.parse(raw) as Record<string, unknown>) : Object.fromEntries(url.searchParams)
    const call: RecordedCall = { method, token, payload, at: Date.now() }
    calls.push(call)
    const bot = bots.get(token)
    if (!bot) return send(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' })
    const failure = failures.findIndex((f) => f.method === method)
    if (failure >= 0) {
      const f = failures.splice(failure, 1)[0]!.failure
      call.refused = f
      return send(res, f.error_code, { ok: false, ...f })
    }
    if (method === 'getUpdates') {
      const offset = Number(payload.offset ?? 0)
      const wait = Math.min(Number(payload.timeout ?? 0), 0.3) * 1000
      const deadline = Date.now() + wait
      for (;;) {
        const queue = (pendingUpdates.get(token) ?? []).filter((u) => Number(u.update_id) >= offset)
        pendingUpdates.set(token, queue)
        if (queue.length || Date.now() >= deadline || closed) return send(res, 200, { ok: true, result: queue })
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    try {
      call.result = result(bot, method, payload)
      return send(res, 200, { ok: true, result: call.result })
    } catch (error) {
      const f = error as Failure
      return send(res, f.error_code, { ok: false, ...f })
    }
  }

  let closed = false
  const server: Server = createServer((req, res) => void handle(req, res).catch((error: unknown) => send(res, 500, { ok: false, error_code: 500, description: String(error) })))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    calls,
    addBot(bot: FakeBot) {
      bots.set(bot.token, bot)
      return bot
    },
    /** The next call of `method` fails with this Bot API error (e.g. 429 with parameters.retry_after). */
    failNext(method: string, failure: Failure) {
      failures.push({ method, failure })
    },
    addFile(fileId: string, path: string, bytes: Buffer) {
      files.set(fileId, { path, bytes })
    },
    /** Queues an update for getUpdates (long polling). */
    queueUpdate(token: string, update: Record<string, unknown>) {
      pendingUpdates.set(token, [...(pendingUpdates.get(token) ?? []), update])
    },
    callsOf(method: string) {
      return calls.filter((c) => c.method === method)
    },
    /** Messages the bot sent to a chat, in order. */
    sentTo(chatId: number | string) {
      return calls.filter((c) => c.method === 'sendMessage' && String(c.payload.chat_id) === String(chatId))
    },
    async close() {
      closed = true
      await new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections?.()
    },
  }
}

export type FakeTelegram = Awaited<ReturnType<typeof startFakeTelegram>>

let updateId = 500_000
let messageId = 1
/** A message from Ada in her private chat with the bot, carrying `content` (a document, photo, voice...). */
const privateMessage = (chatId: number, content: Record<string, unknown>) => ({
  update_id: updateId++,
  message: {
    message_id: messageId++,
    from: { id: chatId, is_bot: false, first_name: 'Ada' },
    chat: { id: chatId, first_name: 'Ada', type: 'private' },
    date: Math.floor(Date.now() / 1000),
    ...content,
  },
})

/** Updates in the shapes of https://core.telegram.org/bots/api#update (ids counted up per test run). */
export const updates = {
  text(input: { chatId: number; userId?: number; text: string; firstName?: string; messageId?: number; chatType?: 'private' | 'group' | 'supergroup'; entities?: unknown[]; replyTo?: Record<string, unknown> }) {
    const userId = input.userId ?? input.chatId
    const chat = (input.chatType ?? 'private') === 'private' ? { id: input.chatId, first_name: input.firstName ?? 'Ada', type: 'private' } : { id: input.chatId, title: 'Team', type: input.chatType }
    return {
      update_id: updateId++,
      message: {
        message_id: input.messageId ?? messageId++,
        from: { id: userId, is_bot: false, first_name: input.firstName ?? 'Ada', language_code: 'en' },
        chat,
        date: Math.floor(Date.now() / 1000),
        text: input.text,
        ...(input.entities ? { entities: input.entities } : input.text.startsWith('/') ? { entities: [{ offset: 0, length: input.text.split(/\s/)[0]!.length, type: 'bot_command' }] } : {}),
        ...(input.replyTo ? { reply_to_message: input.replyTo } : {}),
      },
    }
  },
  document(input: { chatId: number; fileId: string; fileName: string; mimeType: string; size: number; caption?: string }) {
    return privateMessage(input.chatId, {
      document: { file_name: input.fileName, mime_type: input.mimeType, file_id: input.fileId, file_unique_id: `u-${input.fileId}`, file_size: input.size },
      ...(input.caption ? { caption: input.caption } : {}),
    })
  },
  photo(input: { chatId: number; fileId: string; caption?: string }) {
    return privateMessage(input.chatId, {
      photo: [
        { file_id: `${input.fileId}-s`, file_unique_id: 'ps', file_size: 1200, width: 90, height: 60 },
        { file_id: input.fileId, file_unique_id: 'pl', file_size: 48_000, width: 1280, height: 853 },
      ],
      ...(input.caption ? { caption: input.caption } : {}),
    })
  },
  voice(input: { chatId: number }) {
    return privateMessage(input.chatId, { voice: { duration: 2, mime_type: 'audio/ogg', file_id: 'voice-1', file_unique_id: 'v1', file_size: 6000 } })
  },
  edited(original: { message: Record<string, unknown> }, text: string) {
    return { update_id: updateId++, edited_message: { ...original.message, text, edit_date: Math.floor(Date.now() / 1000) } }
  },
  callback(input: { chatId: number; userId?: number; data: string; messageId: number; botId: number; botUsername: string; firstName?: string }) {
    const chat = input.chatId < 0 ? { id: input.chatId, title: 'Team', type: 'supergroup' } : { id: input.chatId, first_name: 'Ada', type: 'private' }
    return {
      update_id: updateId++,
      callback_query: {
        id: String(4_000_000 + updateId),
        from: { id: input.userId ?? input.chatId, is_bot: false, first_name: input.firstName ?? 'Ada' },
        message: { message_id: input.messageId, from: { id: input.botId, is_bot: true, first_name: 'Bot', username: input.botUsername }, chat, date: Math.floor(Date.now() / 1000), text: 'An answer' },
        chat_instance: '-1234567890',
        data: input.data,
      },
    }
  },
}
