import { createHash, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'
import { AppError } from '../../../core/errors.ts'
import type { ChannelEvent, Inbox } from '../../../core/ports.ts'
import { defineChannel } from '../../../adapters/channel-module.ts'

/**
 * Echo: a throwaway channel written only against the channel contract (adapters/channel-module.ts),
 * the contract suite's own fixture. It talks to a small HTTP service of the test's
 * (./fake-service.ts) the way a real messenger's API would: a signed webhook, a handshake, a send
 * endpoint with a length limit and 429 + Retry-After, and a desk where operators work. Adding it
 * to a running Switchboard takes this folder and one line in adapters/channels.ts.
 */
const SIGNATURE_HEADER = 'x-echo-token'
const MAX_MESSAGE = 100
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

const settingsSchema = z.object({ apiUrl: z.string().url(), tokenHash: z.string(), deskPlace: z.string().optional() })
const settingsOf = (inbox: Inbox) => settingsSchema.parse(inbox.settings)

const operatorSchema = z.object({
  user: z.string(),
  place: z.string(),
  kind: z.enum(['take', 'release', 'reply', 'claim_desk']),
  conversationId: z.string().optional(),
  postId: z.string().optional(),
  text: z.string().optional(),
})
const updateSchema = z.object({
  id: z.string().min(1),
  thread: z.string().min(1),
  user: z.string().min(1),
  private: z.boolean().default(true),
  text: z.string().optional(),
  command: z.object({ name: z.string(), args: z.string() }).optional(),
  choice: z.string().optional(),
  operator: operatorSchema.optional(),
})

export const echo = defineChannel({
  kind: 'echo',
  label: 'Echo',
  config: z.object({ ECHO_SEND_RETRIES: z.coerce.number().int().min(0).default(3) }),
  connect: z.object({ apiUrl: z.string().url(), token: z.string().min(8) }).strict(),

  create(deps) {
    const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
    const post = async (inbox: Inbox, path: string, body: unknown): Promise<{ id?: string }> => {
      for (let attempt = 0; ; attempt++) {
        const res = await fetch(`${settingsOf(inbox).apiUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
        if (res.status === 429 && attempt < deps.config.ECHO_SEND_RETRIES) {
          await sleep(Number(res.headers.get('retry-after') ?? '1') * 1000)
          continue
        }
        if (!res.ok) throw new AppError('provider_error', `echo ${path} failed with HTTP ${res.status}`, 502)
        return (await res.json()) as { id?: string }
      }
    }

    return {
      adapter: {
        kind: 'echo',
        maxMessageLength: MAX_MESSAGE,
        handshake(req, inbox) {
          const challenge = req.query.challenge
          if (typeof challenge !== 'string') return undefined
          const token = String(req.query.token ?? '')
          return sha256(token) === settingsOf(inbox).tokenHash ? { status: 200, body: challenge } : { status: 403, body: 'wrong token' }
        },
        verify(req, inbox) {
          const given = req.headers[SIGNATURE_HEADER]
          if (typeof given !== 'string') return false
          return timingSafeEqual(Buffer.from(sha256(given), 'hex'), Buffer.from(settingsOf(inbox).tokenHash, 'hex'))
        },
        normalize(body, inbox): ChannelEvent[] {
          const parsed = updateSchema.safeParse(body)
          if (!parsed.success) throw new AppError('validation_failed', 'Not an echo update', 400)
          const u = parsed.data
          if (u.operator) {
            const o = u.operator
            const base = { inboxId: inbox.id, externalUserId: o.user, place: o.place, reply: { place: o.place } }
            if (o.kind === 'reply') return [{ type: 'operator', action: { ...base, kind: 'reply', postId: o.postId ?? '', text: o.text ?? '' } }]
            if (o.kind === 'claim_desk') return [{ type: 'operator', action: { ...base, kind: 'claim_desk' } }]
            return [{ type: 'operator', action: { ...base, kind: o.kind, conversationId: o.conversationId ?? '' } }]
          }
          return [{ type: 'message', message: { inboxId: inbox.id, externalThreadId: u.thread, externalMessageId: u.id, externalUserId: u.user, privateThread: u.private, text: u.text, ...(u.command ? { command: u.command } : {}), ...(u.choice ? { choiceId: u.choice } : {}), attachments: [], receivedAt: new Date(), raw: body } }]
        },
        async send({ to, message, inbox }) {
          let last: string | undefined
          for (let i = 0; i < message.text.length || i === 0; i += MAX_MESSAGE) {
            const last_part = i + MAX_MESSAGE >= message.text.length
            last = (await post(inbox, '/send', { thread: to.externalThreadId, text: message.text.slice(i, i + MAX_MESSAGE), ...(last_part && message.choices ? { choices: message.choices } : {}) })).id
          }
          return { externalMessageId: last }
        },
      },
      desk: {
        ready: (inbox) => Boolean(settingsOf(inbox).deskPlace),
        place: (inbox) => settingsOf(inbox).deskPlace ?? null,
        async announce({ inbox, conversation, transcript }) {
          if (!settingsOf(inbox).deskPlace) return false
          const { id } = await post(inbox, '/desk', { conversationId: conversation.id, transcript: transcript.map((m) => `${m.author}: ${m.text}`) })
          await deps.store.handoffs.addPost({ organizationId: inbox.organizationId, inboxId: inbox.id, conversationId: conversation.id, externalMessageId: id! })
          return true
        },
        async relay({ inbox, conversation, message }) {
          await post(inbox, '/desk', { conversationId: conversation.id, relay: message.text })
        },
        async notice({ inbox, conversation, text }) {
          await post(inbox, '/desk', { conversationId: conversation.id, notice: text })
        },
        async claim({ inbox, place }) {
          return { ...settingsOf(inbox), deskPlace: place }
        },
        async answer({ inbox, action, outcome, conversationId }) {
          await post(inbox, '/desk-answer', { place: action.place, outcome, conversationId })
        },
      },
      async connect({ organizationId, agent, input }) {
        await deps.checkChannelCap(organizationId)
        const settings = { apiUrl: input.apiUrl, tokenHash: sha256(input.token) }
        return deps.store.inboxes.create({ organizationId, agentId: agent.id, channel: 'echo', name: 'Echo', publicKey: null, settings, credentials: deps.secrets.seal(input.token) })
      },
      disconnect: async () => ({}),
      summary: (inbox) => ({ inboxId: inbox.id, kind: 'echo', agentId: inbox.agentId, name: inbox.name, purpose: inbox.purpose, mode: 'webhook', webhookUrl: deps.publicUrl ? `${deps.publicUrl}/webhooks/echo/${inbox.id}` : null, details: {} }),
    }
  },
})
