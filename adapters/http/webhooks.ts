import express, { type Request, type Response, type Router } from 'express'
import { AppError } from '../../core/errors.ts'
import type { Ingress } from '../../core/conversation/ingress.ts'
import type { ChannelAdapter, ChannelEvent, ChannelKind, Inbox, RawRequest, Store } from '../../core/ports.ts'

/**
 * The one ingress route of every channel: `POST|GET /webhooks/{kind}/{inboxId}`. In order: a GET
 * is a handshake (Meta's hub.challenge) or 405; a POST is verified on its raw bytes, may be a
 * handshake the service sends once verified (Slack's url_verification), is normalized once into
 * typed events, stored and queued, and answered 2xx. Nothing here waits for a model: Slack retries
 * after 3 s, Kommo's chat hooks are sent once.
 *
 * `POST /webhooks/{kind}` (no inbox) is for a service that posts every installation's events to one
 * address (a Slack app installed with OAuth): the channel finds the inbox from the body. Meta's app
 * posts every connected Page's (or Instagram account's) messages there, several accounts in one body:
 * checked once with the app's secret, the body goes to every inbox it names. A GET there is the
 * app's own set-up check (Meta's hub.challenge with the app's verify token), or 405.
 */
export function createWebhookRouter(deps: {
  store: Store
  channels: ReadonlyMap<ChannelKind, ChannelAdapter>
  ingress: Ingress
  /** Runs a delivery, its statements ahead of the turns' (the embedded database's single connection, see adapters/db/priority-lane.ts). */
  delivery?: <T>(fn: () => Promise<T>) => Promise<T>
}): Router {
  const router = express.Router()
  const delivery = deps.delivery ?? ((fn) => fn())

  const unauthorized = (res: Response) => res.status(401).json({ error: { code: 'unauthorized', message: 'Invalid webhook signature or secret' } })
  const methodNotAllowed = (res: Response, allow: string, message: string) => res.status(405).set('Allow', allow).json({ error: { code: 'method_not_allowed', message } })
  // A body of a type no parser reads (kept as raw bytes) normalizes as an empty object: the adapter refuses it.
  const bodyOf = (req: Request): unknown => (Buffer.isBuffer(req.body) ? {} : (req.body ?? {}))
  const rawOf = (req: Request): RawRequest => ({ headers: req.headers, rawBody: req.rawBody ?? Buffer.alloc(0), query: req.query })

  /** Verified, a POST is a handshake or events: normalized once, stored and queued, then acknowledged. */
  async function deliver(req: Request, res: Response, adapter: ChannelAdapter, inbox: Inbox, raw: RawRequest): Promise<void> {
    if (!(await adapter.verify(raw, inbox))) return void unauthorized(res)
    const handshake = adapter.handshake?.(raw, inbox)
    if (handshake) return void res.status(handshake.status).type(handshake.contentType ?? 'text/plain').send(handshake.body)
    let events: ChannelEvent[]
    try {
      // Text PostgreSQL cannot store (NUL, half a surrogate pair) was cleaned by the text guard at the edge.
      events = await adapter.normalize(bodyOf(req), inbox)
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error
      req.log.warn({ inboxId: inbox.id, channel: inbox.channel, err: error.message }, 'malformed webhook')
      return void res.status(error.status).json({ error: { code: error.code, message: error.message } })
    }
    await deps.ingress.receive(inbox, events)
    const answer = adapter.respond?.(events, inbox)
    if (answer) res.status(answer.status).type(answer.contentType ?? 'text/plain').send(answer.body)
    else res.json({ ok: true })
  }

  router.all('/webhooks/:kind/:inboxId', (req: Request, res: Response) => delivery(() => inboxRoute(req, res)))
  async function inboxRoute(req: Request, res: Response) {
    if (req.method !== 'POST' && req.method !== 'GET') return void methodNotAllowed(res, 'GET, POST', 'Webhooks are POST (GET for handshakes)')
    const kind = String(req.params.kind)
    const inboxId = String(req.params.inboxId)
    const adapter = deps.channels.get(kind)
    const found = adapter && /^[\w-]{1,64}$/.test(inboxId) ? await deps.store.inboxes.recent(inboxId) : null
    // An unknown inbox, another channel's inbox and a wrong secret look the same from outside.
    let inbox: Inbox | null = found && found.channel === kind ? found : null
    const raw = rawOf(req)
    // A service that names its own key in the address (Kommo's scope_id): signed first, then found, or 404.
    if (adapter?.locateKey && !inbox && req.method === 'POST') {
      const located = await adapter.locateKey(inboxId, raw)
      if (located === 'unauthorized') return void unauthorized(res)
      if (!located || located.channel !== kind) return void res.status(404).json({ error: { code: 'not_found', message: 'No connection here for that key' } })
      inbox = located
    }
    if (!adapter || !inbox) return void unauthorized(res)
    if (req.method === 'GET') {
      // A GET carries its check in the query; a body sent with it is not read (a POST's handshake is verified first).
      const handshake = adapter.handshake?.({ ...raw, rawBody: Buffer.alloc(0) }, inbox)
      if (handshake) return void res.status(handshake.status).type(handshake.contentType ?? 'text/plain').send(handshake.body)
      return void methodNotAllowed(res, 'POST', 'This webhook takes POST')
    }
    await deliver(req, res, adapter, inbox, raw)
  }

  router.all('/webhooks/:kind', (req: Request, res: Response) => delivery(() => appRoute(req, res)))
  async function appRoute(req: Request, res: Response) {
    const adapter = deps.channels.get(String(req.params.kind))
    if (!adapter?.locate && !adapter?.locateAll) return void res.status(404).json({ error: { code: 'not_found', message: 'Webhooks are posted to /webhooks/{kind}/{inboxId}' } })
    if (req.method !== 'POST' && req.method !== 'GET') return void methodNotAllowed(res, 'POST', 'This webhook takes POST')
    const raw = rawOf(req)
    // The app's own set-up check: a GET carries it in the query (Meta's hub.challenge), a POST in its body (Slack's url_verification).
    const handshake = adapter.appHandshake?.(req.method === 'GET' ? { ...raw, rawBody: Buffer.alloc(0) } : raw)
    if (handshake) return void res.status(handshake.status).type(handshake.contentType ?? 'text/plain').send(handshake.body)
    if (req.method !== 'POST') return void methodNotAllowed(res, 'POST', 'This webhook takes POST')
    if (adapter.locateAll) return void (await deliverAll(req, res, adapter, raw))
    const inbox = await adapter.locate!(raw, bodyOf(req))
    if (!inbox || inbox.channel !== adapter.kind) return void unauthorized(res)
    await deliver(req, res, adapter, inbox, raw)
  }

  /**
   * One body for several inboxes (Meta batches the entries of several Pages, of any organization):
   * checked once by the adapter with the app's secret, then normalized, stored and queued for each
   * inbox it names, and acknowledged once. Ids no inbox has are acknowledged too.
   */
  async function deliverAll(req: Request, res: Response, adapter: ChannelAdapter, raw: RawRequest): Promise<void> {
    const body = bodyOf(req)
    let inboxes: Inbox[] | null
    try {
      inboxes = await adapter.locateAll!(raw, body)
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error
      req.log.warn({ channel: adapter.kind, err: error.message }, 'malformed webhook')
      return void res.status(error.status).json({ error: { code: error.code, message: error.message } })
    }
    if (!inboxes) return void unauthorized(res)
    const seen = new Set<string>()
    for (const inbox of inboxes) {
      if (inbox.channel !== adapter.kind || seen.has(inbox.id)) continue
      seen.add(inbox.id)
      let events: ChannelEvent[]
      try {
        events = await adapter.normalize(body, inbox)
      } catch (error) {
        // One inbox that cannot read its part (its settings gone) does not hold back the others'.
        if (!(error instanceof AppError) || error.status >= 500) throw error
        req.log.warn({ inboxId: inbox.id, channel: inbox.channel, err: error.message }, 'webhook part not read')
        continue
      }
      await deps.ingress.receive(inbox, events)
    }
    res.json({ ok: true })
  }

  return router
}
