import express, { type Request, type Response, type Router } from 'express'
import type { TurnService } from '../../core/conversation/turn-service.ts'
import type { Inbox, Logger, Store } from '../../core/ports.ts'
import { storableJson } from '../../core/security/storable-text.ts'
import { updateSchema, type TelegramChannel } from './telegram-channel.ts'

/**
 * Where Telegram updates come in, by webhook or by long polling: verified and normalized by the
 * channel, stored (a redelivered update_id is a no-op: messages are unique per inbox and chat
 * message id) and queued for their turn. No model is ever called while Telegram waits.
 */
export function createTelegramIngress(deps: { store: Store; turns: TurnService; channel: TelegramChannel; logger: Logger; onUpdate?: (inbox: Inbox, update: unknown) => Promise<boolean> }) {
  const { channel, turns, logger } = deps

  async function handleUpdate(inbox: Inbox, received: unknown): Promise<void> {
    // Polled updates do not pass the HTTP edge: text PostgreSQL cannot store is cleaned here too.
    const body = storableJson(received)
    // Other handlers (the operators' group) may take the update first.
    if (deps.onUpdate && (await deps.onUpdate(inbox, body))) return
    const update = updateSchema.safeParse(body)
    const query = update.success ? update.data.callback_query : undefined
    if (query) {
      // Stops the button's spinner; the press itself is handled as a message below.
      void channel
        .apiFor(inbox)
        .then(({ api }) => api.answerCallbackQuery(query.id))
        .catch((error: unknown) => logger.debug({ err: (error as Error).message }, 'answerCallbackQuery failed'))
    }
    for (const inbound of channel.normalize(body, inbox)) await turns.receive(inbox, inbound)
  }

  const router: Router = express.Router()
  router.post('/webhooks/telegram/:inboxId', async (req: Request, res: Response) => {
    const inboxId = String(req.params.inboxId)
    const inbox = /^[\w-]{1,64}$/.test(inboxId) ? await deps.store.inboxes.get(inboxId) : null
    // An unknown inbox and a wrong secret look the same from outside.
    if (!inbox || inbox.channel !== 'telegram' || !channel.verify({ headers: req.headers, rawBody: req.rawBody ?? Buffer.alloc(0), query: req.query }, inbox)) {
      res.status(401).json({ error: { code: 'unauthorized', message: 'Invalid webhook secret' } })
      return
    }
    if (!updateSchema.safeParse(req.body).success) {
      req.log.warn({ inboxId }, 'malformed Telegram update')
      res.status(400).json({ error: { code: 'validation_failed', message: 'Not a Telegram update' } })
      return
    }
    await handleUpdate(inbox, req.body)
    res.json({ ok: true })
  })

  return { handleUpdate, router }
}

export type TelegramIngress = ReturnType<typeof createTelegramIngress>
