import type { Api } from 'grammy'
import { AppError } from '../../core/errors.ts'
import type { Logger } from '../../core/ports.ts'
import type { SendLimits, SendScheduler } from '../net/send-scheduler.ts'

/** Telegram's outbound limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this). */
export const TELEGRAM_LIMITS: SendLimits = { perChatMs: 1000, perBotPerSecond: 30, perGroupPerMinute: 20 }

export const DEFAULT_API_ROOT = 'https://api.telegram.org'

/** Methods that put a message into a chat: these wait for their slot under Telegram's limits. */
const SENDING = new Set(['sendMessage', 'sendPhoto', 'sendDocument', 'sendVoice', 'sendAudio', 'sendVideo', 'copyMessage', 'forwardMessage', 'editMessageText'])
const MAX_429_RETRIES = 5

/** Removes the bot token from any text that may end up in a log or an error (URLs of failed requests). */
export function redactToken(text: string, token: string): string {
  return token ? text.split(token).join('<token>') : text
}

/**
 * A grammY API client for one bot: every call goes to `apiRoot` (the public Bot API, or a
 * self-hosted one), messages wait for their slot under the outbound limits, a 429 is retried
 * after the `retry_after` Telegram names, and errors never carry the token.
 */
export async function createBotApi(input: { token: string; apiRoot: string; scheduler?: SendScheduler; botKey: string; logger?: Logger; sleep?: (ms: number) => Promise<void> }): Promise<Api> {
  const { token, scheduler, botKey } = input
  // grammY loads with the first Telegram bot: installs without one stay small.
  const { Api } = await import('grammy')
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const api = new Api(token, { apiRoot: input.apiRoot.replace(/\/$/, '') })
  api.config.use(async (prev, method, payload, signal) => {
    const chatId = (payload as { chat_id?: unknown } | undefined)?.chat_id
    for (let attempt = 1; ; attempt++) {
      if (scheduler && SENDING.has(method) && chatId !== undefined) {
        const chat = String(chatId)
        await scheduler.slot({ bot: botKey, chat, group: chat.startsWith('-') })
      }
      let response: Awaited<ReturnType<typeof prev>>
      try {
        response = await prev(method, payload, signal)
      } catch (error) {
        if (signal?.aborted) throw error
        throw new AppError('telegram_unreachable', `Telegram ${method} failed: ${redactToken((error as Error).message ?? String(error), token)}`, 502)
      }
      if (response.ok || response.error_code !== 429 || attempt > MAX_429_RETRIES) return response
      const retryAfter = Math.max(1, Number(response.parameters?.retry_after ?? 1))
      input.logger?.warn({ method, retryAfter, attempt }, 'telegram rate limited the bot: waiting retry_after')
      await sleep(retryAfter * 1000)
    }
  })
  return api
}

/** A Bot API error (the request reached Telegram and it said no) as an AppError; the token is never in it. */
export function telegramError(method: string, error: unknown, token: string): AppError {
  if (error instanceof AppError) return error
  const e = error as { error_code?: number; description?: string; message?: string }
  const description = redactToken(e.description ?? e.message ?? String(error), token)
  if (e.error_code === 401 || e.error_code === 404) return new AppError('telegram_token_invalid', 'Telegram did not accept this bot token (check it with @BotFather)', 422)
  if (e.error_code === 429) return new AppError('channel_rate_limited', `Telegram ${method}: too many requests`, 429)
  return new AppError('provider_error', `Telegram ${method} failed: ${description}`, 502)
}
