import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { Inbox } from '../../core/ports.ts'

/** What the sealed credentials of a Messenger or Instagram inbox hold: the access token and the app secret that signs deliveries. */
export const metaCredentials = z.object({ accessToken: z.string().min(1), appSecret: z.string().min(1) })
export type MetaCredentials = z.infer<typeof metaCredentials>

/** Non-secret settings of a Messenger or Instagram inbox, read with this schema, never cast. */
export const metaSettings = z.object({
  /** The Facebook Page id (Messenger) or the Instagram professional account id. */
  accountId: z.string(),
  /** The Page's name or the Instagram @username. */
  accountName: z.string().optional(),
  /** The Meta app the token belongs to: the page's echoes of this app's own sends are skipped. */
  appId: z.string().optional(),
  /**
   * The verify token Meta sends back when the webhook is set up in its dashboard. Not a credential:
   * it only lets Meta confirm the subscription; every delivery is signed with the sealed app secret.
   */
  verifyToken: z.string(),
  /** When a long-lived Instagram token expires (ISO time); refreshed before. */
  tokenExpiresAt: z.string().optional(),
  /** Set when Meta refused the token (expired or revoked, error 190): shown on the Channels page until connected again. */
  broken: z.object({ reason: z.string(), at: z.string() }).optional(),
})
export type MetaSettings = z.infer<typeof metaSettings>

export const settingsOf = (inbox: Inbox): MetaSettings | null => {
  const parsed = metaSettings.safeParse(inbox.settings)
  return parsed.success ? parsed.data : null
}

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
