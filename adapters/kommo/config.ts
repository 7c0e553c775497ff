import { z } from 'zod'
import { blankToUndefined } from '../../core/config/index.ts'

/**
 * The Kommo CRM's variables (merged into the one configuration schema with the channels'):
 * an OAuth integration of this installation, and where the API is.
 */
export const kommoConfig = z.object({
  /** The integration's id and secret (Kommo → Settings → Integrations), for "Connect Kommo". */
  KOMMO_CLIENT_ID: z.preprocess(blankToUndefined, z.string().trim().optional()),
  KOMMO_CLIENT_SECRET: z.preprocess(blankToUndefined, z.string().trim().optional()),
  /** The redirect URI registered with the integration: {PUBLIC_URL}/crm/kommo/oauth/callback. */
  KOMMO_REDIRECT_URI: z.preprocess(blankToUndefined, z.string().trim().regex(/^https?:\/\//, 'expected a URL starting with http:// or https://').optional()),
  /** The account's API: Kommo's, with {subdomain} replaced by the account's; a local fake in tests. */
  KOMMO_API_URL: z.preprocess(blankToUndefined, z.string().trim().regex(/^https?:\/\/.*\{subdomain\}/, 'expected a URL with the {subdomain} placeholder, e.g. https://{subdomain}.kommo.com').default('https://{subdomain}.kommo.com')),
  /** Kommo's consent page for "Connect Kommo". */
  KOMMO_AUTH_URL: z.preprocess(blankToUndefined, z.string().trim().regex(/^https?:\/\//, 'expected a URL starting with http:// or https://').default('https://www.kommo.com/oauth')),
})
export type KommoConfig = z.infer<typeof kommoConfig>

/** A Kommo subdomain: the account's address is https://{subdomain}.kommo.com. */
export const SUBDOMAIN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
