import { createHash } from 'node:crypto'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { ChannelAdapter, ChannelEvent, Inbox } from '../../core/ports.ts'

export const webchatMessageSchema = z.object({
  sessionId: z.string().trim().min(8, 'at least 8 characters').max(128).regex(/^[\w.:-]+$/, 'letters, digits, _ . : - only'),
  text: z.string().trim().min(1, 'must not be empty').max(4000, 'at most 4000 characters'),
  /** Client-made id of this message; a retry with the same id gets the same reply. */
  messageId: z.string().trim().min(1).max(128).optional(),
})
export type WebchatMessage = z.infer<typeof webchatMessageSchema>

/** Retries within this window without a messageId count as the same message. */
const DEDUPE_WINDOW_MS = 30_000

export function webchatMessageId(body: WebchatMessage, now: Date): string {
  if (body.messageId) return `c:${body.sessionId}:${body.messageId}`
  const bucket = Math.floor(now.getTime() / DEDUPE_WINDOW_MS)
  return `h:${createHash('sha256').update(`${body.sessionId}\n${body.text}\n${bucket}`).digest('base64url').slice(0, 32)}`
}

/** A line such as `/help` or `/start`: the web chat has no command entities, so its adapter reads them off the text. */
const COMMAND = /^\/([a-z][a-z0-9_]{0,31})(?:\s+([\s\S]*))?$/i

/**
 * Web chat: the browser page, `npm run chat` and scripts talk to Switchboard over HTTP. There is
 * no outside service to deliver to: a reply is stored with the conversation and handed back in the
 * HTTP response (or picked up by polling), so `send` only confirms the stored message.
 */
export function createWebchatChannel(): ChannelAdapter {
  return {
    kind: 'webchat',
    // The web chat takes no webhooks: its messages come through its own API (routes.ts), under its rate limits.
    verify: () => false,
    normalize(body: unknown, inbox: Inbox): ChannelEvent[] {
      const parsed = webchatMessageSchema.safeParse(body)
      if (!parsed.success) throw new AppError('validation_failed', `Invalid message: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; ')}`, 422)
      const now = new Date()
      const command = COMMAND.exec(parsed.data.text)
      return [
        {
          type: 'message',
          message: {
            inboxId: inbox.id,
            externalThreadId: parsed.data.sessionId,
            externalUserId: parsed.data.sessionId,
            externalMessageId: webchatMessageId(parsed.data, now),
            text: parsed.data.text,
            ...(command ? { command: { name: command[1]!.toLowerCase(), args: command[2]?.trim() ?? '' } } : {}),
            attachments: [],
            receivedAt: now,
            raw: body,
          },
        },
      ]
    },
    async send({ sendKey }) {
      return { externalMessageId: sendKey }
    },
  }
}
