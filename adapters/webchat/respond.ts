import type { Request, Response } from 'express'
import type { TurnService } from '../../core/conversation/turn-service.ts'
import { streamTopic } from '../../core/conversation/turn-service.ts'
import type { Conversation, InboundMessage, Inbox, Message, Notifier, Store } from '../../core/ports.ts'

export const publicMessage = (m: Message) => ({
  id: m.id,
  author: m.author,
  text: m.text,
  sources: m.sources.map((s) => ({ title: s.title, snippet: s.snippet })),
  createdAt: m.createdAt.toISOString(),
})

export const wantsStream = (req: Request) => (req.header('accept') ?? '').includes('text/event-stream')

/**
 * Stores the message, runs its turn, and answers the HTTP request: with the reply as JSON, or,
 * when the client accepts text/event-stream, as server-sent events: `delta` while the answer is
 * written, then `message` with the stored reply, then `done`.
 */
export async function receiveAndRespond(input: {
  req: Request
  res: Response
  inbox: Inbox
  inbound: InboundMessage
  turns: TurnService
  store: Store
  notifier: Notifier
  timeoutMs: number
  view?: (m: Message) => Record<string, unknown>
}): Promise<Record<string, unknown> | undefined> {
  const { inbox, turns, store, res } = input
  const view = input.view ?? publicMessage
  const streaming = wantsStream(input.req)
  // The turn tells the state it left the conversation in; read only when it did not (a timeout, a redelivery).
  const stateOf = async (c: Conversation, known: Conversation['state'] | null) => known ?? (await store.conversations.get(inbox.organizationId, c.id))?.state ?? c.state

  if (!streaming) {
    const { conversation, message, reply, settled, state } = await turns.receiveAndWait(inbox, { ...input.inbound, streaming: false }, input.timeoutMs)
    if (!settled) res.status(202)
    return { conversationId: conversation.id, messageId: message.id, state: await stateOf(conversation, state), pending: !settled, messages: reply ? [view(reply)] : [] }
  }
  const { conversation, message } = await turns.receive(inbox, { ...input.inbound, streaming })

  res.status(200)
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8')
  res.setHeader('Cache-Control', 'no-cache, no-transform')
  res.setHeader('X-Accel-Buffering', 'no')
  res.flushHeaders()
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  send('accepted', { conversationId: conversation.id, messageId: message.id })
  const unsubscribe = await input.notifier.subscribe(streamTopic(message.id), (payload) => {
    const delta = (payload as { delta?: string })?.delta
    if (typeof delta === 'string') send('delta', { text: delta })
  })
  try {
    const { reply, settled, state } = await turns.waitForReply({ organizationId: inbox.organizationId, message, timeoutMs: input.timeoutMs })
    if (reply) send('message', view(reply))
    send('done', { conversationId: conversation.id, state: await stateOf(conversation, state), pending: !settled })
  } finally {
    await unsubscribe()
    res.end()
  }
  return undefined
}
