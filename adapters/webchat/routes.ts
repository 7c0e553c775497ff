import express, { type RequestHandler, type Router } from 'express'
import helmet from 'helmet'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { ChannelAdapter, Notifier, RateLimiter, Store } from '../../core/ports.ts'
import type { TurnService } from '../../core/conversation/turn-service.ts'
import type { createApi } from '../http/api.ts'
import { enforceRateLimits } from '../http/rate-limit.ts'
import { webchatMessageSchema } from './webchat-channel.ts'
import { chatAssets, chatPageLanguage, renderChatPage } from './page.ts'
import { publicMessage, receiveAndRespond } from './respond.ts'


/** Reads of a conversation a minute allowed per address, for each message it may send: an open page polls every 4 s. */
const READS_PER_MESSAGE = 6

export function registerWebchatRoutes(deps: {
  api: ReturnType<typeof createApi>
  store: Store
  turns: TurnService
  channel: ChannelAdapter
  notifier: Notifier
  replyTimeoutMs: number
  /** CSP frame-ancestors of the chat page (WEBCHAT_FRAME_ANCESTORS). */
  frameAncestors: string
  limiter: RateLimiter
  /** Customer messages a minute per client IP address and per web chat key (WEBCHAT_RATE_PER_IP, WEBCHAT_RATE_PER_KEY; 0: no limit). */
  rateLimits: { perIp: number; perKey: number }
}): Router {
  const { api, store, turns, channel } = deps

  const inboxByKey = async (key: string) => {
    const inbox = /^[\w-]{8,64}$/.test(key) ? await store.inboxes.findByPublicKey(key) : null
    if (!inbox || inbox.channel !== 'webchat') throw new AppError('not_found', 'No web chat with this key', 404)
    return inbox
  }

  api.route({
    method: 'get',
    path: '/api/v1/webchat/:key',
    tag: 'webchat',
    summary: 'The agent behind a web chat key',
    auth: 'none',
    handler: async ({ params }) => {
      const inbox = await inboxByKey(params.key!)
      const agent = await store.agents.get(inbox.organizationId, inbox.agentId)
      return { agentName: agent?.name ?? inbox.name }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/webchat/:key/messages',
    tag: 'webchat',
    summary: 'Send a customer message and wait for the reply (JSON, or server-sent events with Accept: text/event-stream)',
    auth: 'none',
    body: webchatMessageSchema,
    responses: { 200: 'The reply (messages is empty when a person has taken over)', 202: 'Still being answered: poll GET .../messages', 429: 'Too many messages from this address or to this web chat (Retry-After, RateLimit headers)' },
    handler: async ({ params, res, req }) => {
      const inbox = await inboxByKey(params.key!)
      // Anyone can post here with a fresh session id, and every answer uses the organization's plan:
      // the limits are checked before anything is stored. The key's limit holds however many
      // addresses take part.
      await enforceRateLimits({
        limiter: deps.limiter,
        res,
        message: 'Too many messages; wait a moment and send it again',
        policies: [
          { name: 'webchat-ip', key: `webchat:ip:${req.ip}`, limit: deps.rateLimits.perIp, windowMs: 60_000 },
          { name: 'webchat-key', key: `webchat:key:${inbox.id}`, limit: deps.rateLimits.perKey, windowMs: 60_000 },
        ],
      })
      const header = req.header('idempotency-key')
      const [event] = await channel.normalize(header && !req.body.messageId ? { ...req.body, messageId: header } : req.body, inbox)
      if (event?.type !== 'message') throw new AppError('validation_failed', 'Invalid message', 422)
      const inbound = event.message
      return receiveAndRespond({ req, res, inbox, inbound, turns, store, notifier: deps.notifier, timeoutMs: deps.replyTimeoutMs })
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/webchat/:key/messages',
    tag: 'webchat',
    summary: 'The conversation of a web chat session, oldest first',
    auth: 'none',
    query: z.object({ sessionId: webchatMessageSchema.shape.sessionId, after: z.coerce.number().int().min(0).optional() }),
    responses: { 200: 'The messages', 429: 'Too many reads from this address (Retry-After, RateLimit headers)' },
    handler: async ({ params, query, req, res }) => {
      // The page polls every few seconds; a script that polls far faster only costs database reads.
      await enforceRateLimits({
        limiter: deps.limiter,
        res,
        message: 'Too many requests; wait a moment and try again',
        policies: [{ name: 'webchat-read-ip', key: `webchat:read:ip:${req.ip}`, limit: deps.rateLimits.perIp * READS_PER_MESSAGE, windowMs: 60_000 }],
      })
      const inbox = await inboxByKey(params.key!)
      const conversation = await store.conversations.findByThread(inbox.id, query.sessionId)
      if (!conversation) return { conversationId: null, state: 'bot', messages: [] }
      const messages = await store.messages.history(inbox.organizationId, conversation.id, query.after !== undefined ? { limit: 200, afterSeq: query.after } : { limit: 200 })
      return { conversationId: conversation.id, state: conversation.state, messages: messages.map((m) => ({ ...publicMessage(m), seq: m.seq })) }
    },
  })

  const pages = express.Router()
  pages.use('/chat', chatPageHeaders(deps.frameAncestors))
  for (const asset of Object.values(chatAssets)) {
    pages.get(asset.path, (_req, res) => {
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable')
      res.type(asset.type).send(asset.body)
    })
  }
  pages.get('/chat/:key', async (req, res) => {
    const inbox = await inboxByKey(req.params.key)
    const agent = await store.agents.get(inbox.organizationId, inbox.agentId)
    res.setHeader('Cache-Control', 'no-cache')
    // The page's words follow the visitor's browser unless the agent speaks one fixed language.
    res.setHeader('Vary', 'Accept-Language')
    const language = chatPageLanguage({ setting: agent?.language ?? 'auto', acceptLanguage: req.header('accept-language') })
    res.type('html').send(renderChatPage({ key: req.params.key, agentName: agent?.name ?? 'Assistant', language }))
  })
  return pages
}

/**
 * The chat page is public and shows what organizations wrote (the agent's name), on the origin of
 * the admin API: nothing inline may run, and only the configured sites may frame it.
 */
function chatPageHeaders(frameAncestors: string): RequestHandler {
  const ancestors = frameAncestors.split(' ')
  const csp = helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      connectSrc: ["'self'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
      objectSrc: ["'none'"],
      frameAncestors: ancestors,
    },
  })
  // X-Frame-Options can say only DENY or SAMEORIGIN; for a list of sites frame-ancestors alone decides.
  const frameOptions = frameAncestors === "'none'" ? 'DENY' : frameAncestors === "'self'" ? 'SAMEORIGIN' : null
  // The full address of the page goes only to this origin, so the API can tell requests made from a chat page.
  const referrer = helmet.referrerPolicy({ policy: 'same-origin' })
  return (req, res, next) => {
    if (frameOptions) res.setHeader('X-Frame-Options', frameOptions)
    else res.removeHeader('X-Frame-Options')
    referrer(req, res, () => csp(req, res, next))
  }
}
