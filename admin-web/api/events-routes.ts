import type { Response } from 'express'
import { AppError } from '../../core/errors.ts'
import type { Logger, Notifier } from '../../core/ports.ts'
import { hashToken } from '../../core/security/passwords.ts'
import { isLiveEnvelope, organizationTopic, type LiveEnvelope } from '../../core/conversation/live-events.ts'
import type { createApi } from '../../adapters/http/api.ts'
import { tokenOf } from './routes.ts'

type Stream = { sessionKey: string; res: Response; close: (reason: string) => void }
type OrganizationStreams = { streams: Set<Stream>; unsubscribe: Promise<() => Promise<void>> }

/**
 * GET /api/v1/events: the organization's live events as server-sent events, for the admin web.
 * One notifier subscription per organization and process, shared by its open streams; events
 * reach only streams of the organization they belong to (checked twice: by topic and by the
 * envelope). Heartbeats keep proxies from closing an idle stream; a stream is forgotten when its
 * connection closes. A session keeps at most `perSession` streams (the oldest closes, with a
 * `replaced` event, when one more opens: a reloaded tab); an organization at most `perOrganization`
 * per process (then 429).
 */
export function registerEventRoutes(deps: { api: ReturnType<typeof createApi>; notifier: Notifier; logger: Logger; heartbeatMs: number; perSession: number; perOrganization: number }) {
  const organizations = new Map<string, OrganizationStreams>()

  function join(organizationId: string, stream: Stream) {
    let entry = organizations.get(organizationId)
    if (!entry) {
      const streams = new Set<Stream>()
      const unsubscribe = deps.notifier.subscribe(organizationTopic(organizationId), (payload) => {
        if (!isLiveEnvelope(payload) || payload.organizationId !== organizationId) return
        for (const s of streams) write(s.res, payload)
      })
      unsubscribe.catch((error: unknown) => deps.logger.warn({ err: (error as Error).message }, 'live events: subscription failed'))
      entry = { streams, unsubscribe }
      organizations.set(organizationId, entry)
    }
    entry.streams.add(stream)
  }

  function leave(organizationId: string, stream: Stream) {
    const entry = organizations.get(organizationId)
    if (!entry) return
    entry.streams.delete(stream)
    if (entry.streams.size > 0) return
    organizations.delete(organizationId)
    void entry.unsubscribe.then((off) => off()).catch(() => undefined)
  }

  const write = (res: Response, envelope: LiveEnvelope) => {
    res.write(`id: ${envelope.id}\nevent: ${envelope.event.type}\ndata: ${JSON.stringify({ ...envelope.event, at: envelope.at })}\n\n`)
  }

  deps.api.route({
    method: 'get',
    path: '/api/v1/events',
    tag: 'live',
    summary:
      "The organization's live events as server-sent events (text/event-stream): conversation.created, message.created, handoff.opened, handoff.taken, handoff.released, source.progress, quota.notice, contact.erased. First a `ready` event (resync: true when Last-Event-ID was sent: reload what you show), then events as they happen, and a comment line as heartbeat",
    auth: 'session',
    responses: { 200: 'The event stream', 429: 'Too many open streams for this organization' },
    handler: async ({ principal, req, res }) => {
      const organizationId = principal.organizationId
      const open = organizations.get(organizationId)?.streams
      if (open && open.size >= deps.perOrganization) {
        res.setHeader('Retry-After', '30')
        throw new AppError('too_many_streams', `This organization has ${open.size} live streams open on this server; close some tabs or try again later`, 429)
      }
      const sessionKey = hashToken(`live:${tokenOf(req.headers)?.token ?? principal.userId}`)
      const mine = [...(open ?? [])].filter((s) => s.sessionKey === sessionKey)
      for (const old of mine.slice(0, Math.max(0, mine.length - deps.perSession + 1))) old.close('replaced')

      res.status(200)
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8')
      res.setHeader('Cache-Control', 'no-store, no-transform')
      res.setHeader('X-Accel-Buffering', 'no')
      res.flushHeaders()
      req.socket.setNoDelay(true)

      let closed = false
      const heartbeat = setInterval(() => res.write(`: heartbeat\n\n`), deps.heartbeatMs)
      let done: () => void = () => {}
      const ended = new Promise<void>((resolve) => (done = resolve))
      const stream: Stream = {
        sessionKey,
        res,
        close: (reason) => {
          if (closed) return
          res.write(`event: ${reason}\ndata: {}\n\n`)
          res.end()
          finish()
        },
      }
      const finish = () => {
        if (closed) return
        closed = true
        clearInterval(heartbeat)
        leave(organizationId, stream)
        done()
      }
      res.on('close', finish)
      join(organizationId, stream)
      await organizations.get(organizationId)?.unsubscribe.catch(() => undefined)
      // After a reconnect the browser cannot know what it missed: it reloads what it shows.
      res.write(`retry: 3000\nevent: ready\ndata: ${JSON.stringify({ resync: Boolean(req.header('last-event-id')) })}\n\n`)
      await ended
      return undefined
    },
  })

  return {
    /** Open streams of an organization in this process. */
    count: (organizationId: string) => organizations.get(organizationId)?.streams.size ?? 0,
    /** Closes every stream (shutdown): browsers reconnect to another process. */
    closeAll: () => {
      for (const entry of organizations.values()) for (const s of [...entry.streams]) s.close('shutdown')
    },
  }
}
