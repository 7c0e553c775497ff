import { z } from 'zod'
import { blankToUndefined } from '../../core/config/index.ts'

const url = (fallback: string) => z.preprocess(blankToUndefined, z.string().trim().regex(/^https?:\/\//, 'expected a URL starting with http:// or https://').default(fallback).transform((u) => u.replace(/\/$/, '')))

/** The variables Messenger and Instagram share (each module lists them; the one schema merges them). */
export const metaConfig = {
  /** The Graph API for Pages and Messenger: Meta's, or a local fake in tests. */
  META_GRAPH_URL: url('https://graph.facebook.com'),
  /** The Graph API version every call names. */
  META_GRAPH_VERSION: z.preprocess(blankToUndefined, z.string().trim().regex(/^v\d+\.\d+$/, 'expected a version such as v21.0').default('v21.0')),
  /** The app has Meta's Human Agent permission (App Review): a person's reply may go out up to 7 days after the customer wrote. */
  META_HUMAN_AGENT: z.preprocess(blankToUndefined, z.enum(['true', 'false']).default('false').transform((v) => v === 'true')),
}

/** Meta's CDNs, where the attachments customers send are kept. */
export const META_FILE_HOSTS = /^([\w-]+\.)*(fbcdn\.net|fbsbx\.com|cdninstagram\.com|facebook\.com|instagram\.com)$/
