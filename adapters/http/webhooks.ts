import express, { type Request, type Response, type Router } from 'express'
import { AppError } from '../../core/errors.ts'
import type { Ingress } from '../../core/conversation/ingress.ts'
import type { ChannelAdapter, ChannelKind, Inbox, RawRequest, Store } from '../../core/ports.ts'

/**
 * The one ingress route of every channel: `POST|GET /webhooks/{kind}/{inboxId}`. In order:
 * handshake (a GET or a challenge the service sends when the URL is set up), verify on the raw
 * bytes, normalize once into typed events, store and queue them, answer 2xx. Nothing here waits
 * for a model: Slack retries after 3 s, Kommo's chat hooks are sent once.
 */
export function createWebhookRouter(deps: { store: Store; channels: ReadonlyMap<ChannelKind, ChannelAdapter>; ingress: Ingress }): Router {
  const router = express.Router()

  const unauthorized = (res: Response) => res.status(401).json({ error: { code: 'unauthorized', message: 'Invalid webhook signature or secret' } })

  router.all('/webhooks/:kind/:inboxId', async (req: Request, res: Response) => {
    if (req.method !== 'POST' && req.method !== 'GET') {
      res.status(405).set('Allow', 'GET, POST').json({ error: { code: 'method_not_allowed', message: 'Webhooks are POST (GET for handshakes)' } })
      return
    }
    const kind = String(req.params.kind)
    const inboxId = String(req.params.inboxId)
    const adapter = deps.channels.get(kind)
    const found = adapter && /^[\w-]{1,64}$/.test(inboxId) ? await deps.store.inboxes.get(inboxId) : null
    // An unknown inbox, another channel's inbox and a wrong secret look the same from outside.
    const inbox: Inbox | null = found && found.channel === kind ? found : null
    if (!adapter || !inbox) return unauthorized(res)
    const raw: RawRequest = { headers: req.headers, rawBody: req.rawBody ?? Buffer.alloc(0), query: req.query }

    const handshake = adapter.handshake?.(raw, inbox)
    if (handshake) {
      res.status(handshake.status).type(handshake.contentType ?? 'text/plain').send(handshake.body)
      return
    }
    if (req.method === 'GET') {
      res.status(405).set('Allow', 'POST').json({ error: { code: 'method_not_allowed', message: 'This webhook takes POST' } })
      return
    }
    if (!adapter.verify(raw, inbox)) return unauthorized(res)

    let events
    try {
      // Text PostgreSQL cannot store (NUL, half a surrogate pair) was cleaned by the text guard at the edge. A body
      // of a type no parser reads (kept as raw bytes) normalizes as an empty object: the adapter refuses it.
      events = adapter.normalize(Buffer.isBuffer(req.body) ? {} : (req.body ?? {}), inbox)
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error
      req.log.warn({ inboxId, channel: kind, err: error.message }, 'malformed webhook')
      res.status(error.status).json({ error: { code: error.code, message: error.message } })
      return
    }
    await deps.ingress.receive(inbox, events)
    res.json({ ok: true })
  })

  return router
}
