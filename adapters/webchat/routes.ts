import express, { type Router } from 'express'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { ChannelAdapter, Notifier, Store } from '../../core/ports.ts'
import type { TurnService } from '../../core/conversation/turn-service.ts'
import type { createApi } from '../http/api.ts'
import { webchatMessageSchema } from './webchat-channel.ts'
import { renderChatPage } from './page.ts'
import { publicMessage, receiveAndRespond } from './respond.ts'


export function registerWebchatRoutes(deps: {
  api: ReturnType<typeof createApi>
  store: Store
  turns: TurnService
  channel: ChannelAdapter
  notifier: Notifier
  replyTimeoutMs: number
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
    responses: { 200: 'The reply (messages is empty when a person has taken over)', 202: 'Still being answered: poll GET .../messages' },
    handler: async ({ params, res, req }) => {
      const inbox = await inboxByKey(params.key!)
      const header = req.header('idempotency-key')
      const [inbound] = channel.normalize(header && !req.body.messageId ? { ...req.body, messageId: header } : req.body, inbox)
      if (!inbound) throw new AppError('validation_failed', 'Invalid message', 422)
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
    handler: async ({ params, query }) => {
      const inbox = await inboxByKey(params.key!)
      const conversation = await store.conversations.findByThread(inbox.id, query.sessionId)
      if (!conversation) return { conversationId: null, state: 'bot', messages: [] }
      const messages = await store.messages.history(inbox.organizationId, conversation.id, query.after !== undefined ? { limit: 200, afterSeq: query.after } : { limit: 200 })
      return { conversationId: conversation.id, state: conversation.state, messages: messages.map((m) => ({ ...publicMessage(m), seq: m.seq })) }
    },
  })

  const pages = express.Router()
  pages.get('/chat/:key', async (req, res) => {
    const inbox = await inboxByKey(req.params.key)
    const agent = await store.agents.get(inbox.organizationId, inbox.agentId)
    res.type('html').send(renderChatPage({ key: req.params.key, agentName: agent?.name ?? 'Assistant' }))
  })
  return pages
}
