import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { ChannelAdapter, InboundMessage, Inbox } from '../../core/ports.ts'

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

/**
 * Web chat: the browser page, `npm run chat` and scripts talk to Switchboard over HTTP. There is
 * no outside service to deliver to: a reply is stored with the conversation and handed back in the
 * HTTP response (or picked up by polling), so `send` only confirms the stored message.
 */
export function createWebchatChannel(): ChannelAdapter {
  return {
    kind: 'webchat',
    verify: () => true, // the inbox's public key in the URL selects the inbox; there is no signature
    normalize(body: unknown, inbox: Inbox): InboundMessage[] {
      const parsed = webchatMessageSchema.safeParse(body)
      if (!parsed.success) return []
      const now = new Date()
      return [
        {
          inboxId: inbox.id,
          externalThreadId: parsed.data.sessionId,
          externalUserId: parsed.data.sessionId,
          externalMessageId: webchatMessageId(parsed.data, now),
          text: parsed.data.text,
          attachments: [],
          receivedAt: now,
          raw: body,
        },
      ]
    },
    async send({ sendKey }) {
      return { externalMessageId: sendKey }
    },
  }
}
