import type { Inbox, Logger } from '../../core/ports.ts'
import type { TelegramChannel } from './telegram-channel.ts'

/**
 * Long polling for bots without a public URL (development): getUpdates in a loop, each update
 * handled like a webhook delivery. The offset lives in memory: after a restart Telegram sends the
 * unconfirmed updates again and the stored message ids make them no-ops. `handle` reads the inbox
 * afresh for every update, so a setting changed meanwhile (the operators' group) counts at once.
 */
export function startPolling(input: { inbox: Inbox; channel: TelegramChannel; handle: (update: unknown) => Promise<void>; logger: Logger; timeoutSeconds?: number }) {
  const controller = new AbortController()
  const log = input.logger.child({ inboxId: input.inbox.id, polling: true })
  let offset: number | undefined
  const loop = (async () => {
    let failures = 0
    const { api } = await input.channel.apiFor(input.inbox)
    // A bot with a webhook gets no updates by polling.
    await api.deleteWebhook({ drop_pending_updates: false }, controller.signal as never).catch((error: unknown) => log.warn({ err: (error as Error).message }, 'deleteWebhook failed'))
    while (!controller.signal.aborted) {
      try {
        const updates = await api.getUpdates({ offset, timeout: input.timeoutSeconds ?? 25, allowed_updates: ['message', 'edited_message', 'callback_query'] }, controller.signal as never)
        failures = 0
        for (const update of updates) {
          try {
            await input.handle(update)
          } catch (error) {
            log.error({ err: error, updateId: update.update_id }, 'a polled update failed; it is skipped')
          }
          offset = update.update_id + 1
        }
      } catch (error) {
        if (controller.signal.aborted) break
        failures++
        log.warn({ err: (error as Error).message, failures }, 'getUpdates failed; retrying')
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 500 * 2 ** failures)))
      }
    }
  })().catch((error: unknown) => log.error({ err: (error as Error).message }, 'polling stopped'))
  log.info('polling Telegram for updates')
  return {
    async stop() {
      controller.abort()
      await loop
    },
  }
}
