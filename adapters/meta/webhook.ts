import { z } from 'zod'
import { AppError } from '../../core/errors.ts'

/*
 * The webhook bodies Messenger and Instagram messaging post (one shape for both:
 * https://developers.facebook.com/docs/messenger-platform/reference/webhook-events,
 * https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook):
 *
 *   { object: "page" | "instagram",
 *     entry: [{ id: <Page or Instagram account id>, time, messaging: [<item>], standby: [<item>] }] }
 *
 * One POST may batch several entries, and an entry several items; every one is read, in order.
 * `standby` holds the items of conversations another app controls (Conversation Routing,
 * https://developers.facebook.com/docs/messenger-platform/conversation-routing). An item names the
 * person (`sender`), the Page or account (`recipient`) and one event: `message` (an echo of what the
 * Page sent has `is_echo`, the sending app's `app_id` and the `metadata` it set), `postback`,
 * `read`, `delivery`, `reaction`, `referral`, `optin`, ... Only the fields read by this adapter are
 * checked; everything else is kept as sent.
 */

/** Meta's ids are strings; a number is accepted and read as its decimal string. */
const id = z.union([z.string().min(1), z.number().transform((n) => String(n))])

const attachment = z
  .object({
    type: z.string(),
    // `fallback` and `location` attachments carry other fields, or none.
    payload: z.object({ url: z.string().optional() }).passthrough().nullish(),
  })
  .passthrough()

const message = z
  .object({
    mid: z.string(),
    text: z.string().optional(),
    is_echo: z.boolean().optional(),
    app_id: id.optional(),
    metadata: z.string().optional(),
    quick_reply: z.object({ payload: z.string() }).passthrough().optional(),
    attachments: z.array(attachment).optional(),
    reply_to: z
      .object({
        mid: z.string().optional(),
        story: z.object({ url: z.string(), id: id }).passthrough().optional(),
      })
      .passthrough()
      .optional(),
    is_deleted: z.boolean().optional(),
    is_unsupported: z.boolean().optional(),
  })
  .passthrough()

const postback = z.object({ mid: z.string().optional(), title: z.string().optional(), payload: z.string() }).passthrough()
const loose = z.object({}).passthrough()

export const messagingItem = z
  .object({
    // An item without `sender.id` (an `optin` of the checkbox plugin names a `user_ref`) is not read.
    sender: z.object({ id: id }).passthrough(),
    recipient: z.object({ id: id }).passthrough(),
    timestamp: z.number(),
    message: message.optional(),
    postback: postback.optional(),
    read: loose.optional(),
    delivery: loose.optional(),
    reaction: loose.optional(),
    referral: loose.optional(),
    optin: loose.optional(),
    message_edit: loose.optional(),
  })
  .passthrough()

const entry = z
  .object({
    id: id,
    time: z.number(),
    messaging: z.array(z.unknown()).optional(),
    standby: z.array(z.unknown()).optional(),
  })
  .passthrough()

const body = z.object({ object: z.string(), entry: z.array(entry) }).passthrough()

export type MetaObject = 'page' | 'instagram'
export type MetaItem = { entryId: string; item: z.infer<typeof messagingItem>; standby: boolean }

/**
 * Every messaging (and standby) item of every entry, in order; throws AppError 400 'Not a Meta
 * webhook' when the body is not `{ object: string, entry: [...] }`. `object` is returned as is (the
 * caller ignores unknown ones with 200). An item this schema cannot read (an event shape Meta added
 * later) is left out and counted in `ignored` rather than failing the whole body: Meta retries a
 * refused delivery and, after enough failures, turns the subscription off.
 */
export function parseMetaWebhook(input: unknown): { object: string; items: MetaItem[]; ignored: number } {
  const parsed = body.safeParse(input)
  if (!parsed.success) throw new AppError('validation_failed', 'Not a Meta webhook', 400)
  const items: MetaItem[] = []
  let ignored = 0
  for (const e of parsed.data.entry) {
    for (const [list, standby] of [
      [e.messaging, false],
      [e.standby, true],
    ] as const) {
      for (const raw of list ?? []) {
        const item = messagingItem.safeParse(raw)
        if (item.success) items.push({ entryId: e.id, item: item.data, standby })
        else ignored++
      }
    }
  }
  return { object: parsed.data.object, items, ignored }
}
