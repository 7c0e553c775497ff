import { z } from 'zod'
import { blankToUndefined } from '../../core/config/index.ts'

const url = (fallback: string) => z.preprocess(blankToUndefined, z.string().trim().regex(/^https?:\/\//, 'expected a URL starting with http:// or https://').default(fallback).transform((u) => u.replace(/\/$/, '')))
const optional = (pattern: RegExp, message: string) => z.preprocess(blankToUndefined, z.string().trim().regex(pattern, message).optional())
// Meta app ids are digits; app secrets 32 hexadecimal characters (App Dashboard → App settings → Basic).
const appId = optional(/^\d{5,40}$/, 'expected a Meta app id (digits, App settings → Basic)')
const appSecret = optional(/^[0-9a-f]{32}$/i, 'expected a Meta app secret (32 hexadecimal characters, App settings → Basic)')

/** The variables Messenger and Instagram share (each module lists them; the one schema merges them). */
export const metaConfig = {
  /** The Graph API for Pages and Messenger: Meta's, or a local fake in tests. */
  META_GRAPH_URL: url('https://graph.facebook.com'),
  /** The Graph API version every call names. */
  META_GRAPH_VERSION: z.preprocess(blankToUndefined, z.string().trim().regex(/^v\d+\.\d+$/, 'expected a version such as v21.0').default('v21.0')),
  /** The app has Meta's Human Agent permission (App Review): a person's reply may go out up to 7 days after the customer wrote. */
  META_HUMAN_AGENT: z.preprocess(blankToUndefined, z.enum(['true', 'false']).default('false').transform((v) => v === 'true')),
  /**
   * This installation's own Meta app ("Connect with Facebook"): its id for Facebook Login, and its
   * secret, which exchanges the login's code and signs the app's webhooks (POST /webhooks/messenger).
   */
  META_APP_ID: appId,
  META_APP_SECRET: appSecret,
  /** The verify token typed into the app's Webhooks settings (the GET check of /webhooks/messenger and /webhooks/instagram). */
  META_VERIFY_TOKEN: optional(/^[\x21-\x7e]{8,100}$/, 'expected 8 to 100 visible characters, without spaces'),
  /** Where Facebook Login's dialog is: {META_DIALOG_URL}/{version}/dialog/oauth. */
  META_DIALOG_URL: url('https://www.facebook.com'),
}

/** Instagram Login ("Connect with Instagram"): the Instagram app id and secret of the same Meta app, shown under Instagram → API setup with Instagram login. */
export const instagramLoginConfig = {
  /** Instagram Login's app id and secret; META_APP_ID and META_APP_SECRET when not set. */
  INSTAGRAM_APP_ID: appId,
  INSTAGRAM_APP_SECRET: appSecret,
  /** The Instagram Login authorization window. */
  INSTAGRAM_AUTHORIZE_URL: url('https://www.instagram.com/oauth/authorize'),
  /** Where Instagram Login's code is exchanged (POST {INSTAGRAM_API_URL}/oauth/access_token): Meta's, or a local fake in tests. */
  INSTAGRAM_API_URL: url('https://api.instagram.com'),
}

/** Meta's CDNs, where the attachments customers send are kept. */
export const META_FILE_HOSTS = /^([\w-]+\.)*(fbcdn\.net|fbsbx\.com|cdninstagram\.com|facebook\.com|instagram\.com)$/
