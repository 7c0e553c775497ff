import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { Attachment } from '../../core/ports.ts'

/*
 * The hook Kommo's Chats API posts when a Kommo user writes in a chat of the channel (hook v2,
 * https://www.amocrm.ru/developers/content/chats/chat-webhooks "Хук сообщения v2", mirror amo-docs
 * chats/chat-webhooks.md; fixture tests/fixtures/kommo/chat-hook-text.json):
 *
 *   { account_id, time, message: { receiver: { id, phone, email, client_id? }, sender: { id },
 *     conversation: { id, client_id? }, source: { external_id }, timestamp, msec_timestamp,
 *     message: { id, type, text, media, thumbnail, file_name, file_size, markup, template, reply_to,
 *     media_group_id? } } }
 *
 * Sent once, never retried, 5 seconds to answer. Several attachments sent at once arrive as several
 * hooks sharing message.message.media_group_id. conversation.client_id is the chat's id on
 * Switchboard's side (absent for a chat a Kommo user opened with "Write first").
 */

export const chatHookSchema = z.object({
  account_id: z.string().min(1).max(100),
  time: z.number().optional(),
  message: z.looseObject({
    receiver: z.looseObject({ id: z.string().min(1).max(200), phone: z.string().max(100).optional(), email: z.string().max(300).optional(), client_id: z.string().max(200).optional() }),
    sender: z.looseObject({ id: z.string().min(1).max(200) }),
    conversation: z.looseObject({ id: z.string().min(1).max(200), client_id: z.string().max(200).optional() }),
    source: z.looseObject({ external_id: z.string().max(200).optional() }).optional(),
    timestamp: z.number(),
    msec_timestamp: z.number().optional(),
    message: z.looseObject({
      id: z.string().min(1).max(200),
      type: z.string().min(1).max(40),
      text: z.string().max(100_000).optional(),
      media: z.string().max(4000).optional(),
      file_name: z.string().max(1000).optional(),
      file_size: z.number().optional(),
      media_group_id: z.string().max(200).optional(),
    }),
  }),
})
export type ChatHook = z.infer<typeof chatHookSchema>

/** The hook's body, or a 400 naming what is wrong (not a Chats hook). */
export function parseChatHook(body: unknown): ChatHook {
  const parsed = chatHookSchema.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new AppError('invalid_payload', `Not a Kommo chat hook: ${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'unexpected shape'}`, 400)
  }
  return parsed.data
}

/** What Kommo calls a file, picture, video...: the attachment as Switchboard keeps it (the URL is Kommo's own download link). */
export function attachmentsOf(hook: ChatHook): Attachment[] {
  const m = hook.message.message
  if (!m.media || m.type === 'text') return []
  const kind: Attachment['kind'] = m.type === 'picture' || m.type === 'sticker' ? 'image' : m.type === 'voice' || m.type === 'audio' ? 'audio' : m.type === 'video' ? 'video' : 'document'
  return [{ kind, url: m.media, ...(m.file_name ? { name: m.file_name } : {}), ...(m.file_size ? { size: m.file_size } : {}) }]
}

/** The text an operator's message carries to a customer: its words, then each attachment's name and link. */
export function operatorText(hook: ChatHook): string {
  const m = hook.message.message
  const parts = [m.text?.trim() ?? '']
  for (const a of attachmentsOf(hook)) parts.push(`${a.name || (a.kind === 'image' ? 'Picture' : 'File')}: ${a.url}`)
  return parts.filter(Boolean).join('\n')
}

/** Ids on Switchboard's side of a Kommo chat: `sb-` + the conversation, the contact, the message. */
export const ids = {
  chat: (conversationId: string) => `sb-${conversationId}`,
  client: (contactId: string) => `sb-contact-${contactId}`,
  bot: 'sb-bot',
  message: (messageId: string) => `sb-${messageId}`,
  /** The Switchboard conversation a chat mirrors, from the hook's conversation.client_id. */
  conversationOf: (clientId: string | undefined) => (clientId && /^sb-[\w-]{1,64}$/.test(clientId) && !clientId.startsWith('sb-k-') ? clientId.slice(3) : null),
}
