import { z } from 'zod'
import { loadPlans } from '../billing/plans.ts'
import { checkPaymentsConfig, paymentsConfigSchema } from '../billing/payments.ts'

const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v) => (v ? v : undefined))
    .refine((v) => v === undefined || protocols.some((p) => v.startsWith(p)), {
      message: `expected a URL starting with ${protocols.join(' or ')}`,
    })

const emptyToUndefined = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined))

export const blankToUndefined = (v: unknown) => (typeof v === 'string' && !v.trim() ? undefined : v)

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const isIpv6 = (v: string) => v.includes(':') && URL.canParse(`http://[${v}]/`)

/** An ALLOW_PRIVATE_URLS entry: a host name, an IP address, or a network in CIDR notation (10.0.0.0/8, fd00::/8). */
function isAllowEntry(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/')
  if (rest.length) return false
  // A name ending in a number is read as an IPv4 address by URLs (10.0.0.300 is no host name).
  if (bits === undefined) return IPV4.test(address) || isIpv6(address) || (HOST_NAME.test(address) && !/(^|\.)(\d+|0x[\da-f]*)$/.test(address))
  if (!/^\d{1,3}$/.test(bits)) return false
  if (IPV4.test(address)) return Number(bits) <= 32
  return isIpv6(address) && Number(bits) <= 128
}

/** `?connection_limit=` of DATABASE_URL: the pool size of each process, a whole number from 1 to 1000 (default 10). */
export function databasePoolSize(raw: string | null): number {
  if (raw === null) return 10
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || n < 1 || n > 1000) throw new Error(`connection_limit must be a whole number from 1 to 1000, not "${raw}"`)
  return n
}

/** The one schema of the environment. Parsed once at boot; a bad value stops start-up. */
const baseSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  PUBLIC_URL: optionalUrl(['http://', 'https://']),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: optionalUrl(['postgres://', 'postgresql://']).superRefine((v, ctx) => {
    if (!v) return
    try {
      databasePoolSize(new URL(v).searchParams.get('connection_limit'))
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message })
    }
  }),
  PGLITE_SHARED_BUFFERS: z.string().regex(/^(auto|\d{1,6}(kB|MB|GB))$/, 'expected auto or a size such as 128MB').default('auto'),
  REDIS_URL: optionalUrl(['redis://', 'rediss://']),
  REDIS_PREFIX: z.string().regex(/^[\w.-]{1,64}$/, 'expected letters, digits, _ . - (at most 64)').default('switchboard'),
  ENCRYPTION_KEY: emptyToUndefined.refine((v) => v === undefined || /^[0-9a-fA-F]{64}$/.test(v) || Buffer.from(v, 'base64').length === 32, {
    message: 'expected 32 bytes as 64 hex characters or base64',
  }),
  ENCRYPTION_KEYS_PREVIOUS: z
    .string()
    .optional()
    .transform((v) => (v ? v.split(',').map((k) => k.trim()).filter(Boolean) : []))
    .refine((keys) => keys.every((k) => /^[0-9a-fA-F]{64}$/.test(k) || Buffer.from(k, 'base64').length === 32), { message: 'expected comma-separated 32-byte keys (64 hex characters or base64)' }),
  OPENAI_API_KEY: emptyToUndefined,
  OPENAI_BASE_URL: optionalUrl(['http://', 'https://']),
  OPENAI_CHAT_MODEL: z.string().default('gpt-4o-mini'),
  OPENAI_EMBEDDING_MODEL: z.string().default('text-embedding-3-small'),
  /**
   * Hosts, addresses and networks that organizations' URLs (web imports, provider keys) may reach
   * although they are not public, e.g. `ollama.internal,10.0.0.0/8`. Everything else must be public.
   */
  ALLOW_PRIVATE_URLS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const entries = (v ?? '').split(',').map((e) => e.trim().toLowerCase().replace(/^\[|\](?=\/|$)/g, '').replace(/\.$/, '')).filter(Boolean)
      const bad = entries.findIndex((e) => !isAllowEntry(e))
      if (bad >= 0) ctx.addIssue({ code: 'custom', message: `entry ${bad + 1} is not a host name, IP address or CIDR network (expected e.g. ollama.internal,10.0.0.0/8)` })
      return entries
    }),
  PLANS_JSON: z
    .string()
    .optional()
    .superRefine((v, ctx) => {
      if (!v) return
      try {
        loadPlans(v)
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message })
      }
    }),
  LLM_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(20_000),
  LLM_PRICES: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return {}
      try {
        return z.record(z.string(), z.object({ input: z.number().min(0), output: z.number().min(0) })).parse(JSON.parse(v))
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected JSON like {"model":{"input":0.15,"output":0.6}} (USD per million tokens)' })
        return z.NEVER
      }
    }),
  OPENAI_EMBEDDING_DIMENSIONS: z.coerce.number().int().min(1).max(16_000).optional(),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  /** How long a job stays locked to its worker without a sign of life: a worker that dies gives its jobs (and their conversations) to another within this time, and again as long. */
  JOB_LOCK_MS: z.preprocess(blankToUndefined, z.coerce.number().int().min(1000).max(600_000).default(30_000)),
  /**
   * on (default): knowledge search is hybrid, words and meaning (vectors, pgvector). off: no
   * embeddings are made or stored and search uses words only (BM25), so a PostgreSQL without
   * pgvector can run; the migrations then leave out what needs pgvector until it is on again.
   */
  KNOWLEDGE_VECTORS: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().toLowerCase() || undefined : v),
    z.enum(['on', 'off'], { message: 'expected on or off' }).default('on'),
  ),
  KNOWLEDGE_MAX_FILE_BYTES: z.coerce.number().int().min(1024).default(10 * 1024 * 1024),
  /** The most one knowledge file may inflate to (all parts of a DOCX, all streams of a PDF); 20 times KNOWLEDGE_MAX_FILE_BYTES when not set. */
  KNOWLEDGE_MAX_INFLATED_BYTES: z.preprocess(blankToUndefined, z.coerce.number().int().min(1024).optional()),
  /** The most sections (headings, pages, rows), and so passages, one knowledge source may make. */
  KNOWLEDGE_MAX_SECTIONS: z.preprocess(blankToUndefined, z.coerce.number().int().min(1).default(20_000)),
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  DEMO_SEED: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  WEBCHAT_REPLY_TIMEOUT_MS: z.coerce.number().int().min(100).default(20_000),
  /** Organizations one IP address may create through sign-up in an hour (0: no limit). */
  SIGNUP_RATE_PER_IP: z.preprocess(blankToUndefined, z.coerce.number().int().min(0).default(10)),
  /** Password reset links one account may be sent in an hour, whoever asks (0: no limit). */
  PASSWORD_RESET_RATE_PER_ACCOUNT: z.preprocess(blankToUndefined, z.coerce.number().int().min(0).default(3)),
  /** Mail for password reset and invitation links; without it they are written to the log. */
  SMTP_URL: optionalUrl(['smtp://', 'smtps://']),
  MAIL_FROM: z.string().trim().min(3).default('Switchboard <no-reply@localhost>'),

  /** Voice messages are transcribed with this model (e.g. whisper-1) of TRANSCRIPTION_BASE_URL/TRANSCRIPTION_API_KEY, or of OPENAI_*. */
  TRANSCRIPTION_MODEL: emptyToUndefined,
  TRANSCRIPTION_API_KEY: emptyToUndefined,
  TRANSCRIPTION_BASE_URL: optionalUrl(['http://', 'https://']),
  /** How long a handoff may wait for an operator before HANDOFF_TIMEOUT_ACTION. */
  HANDOFF_TIMEOUT_MS: z.preprocess(blankToUndefined, z.coerce.number().int().min(100).default(15 * 60_000)),
  /** resume: the customer is told and the agent answers again; ping: the operators' group and linked admins are reminded. */
  HANDOFF_TIMEOUT_ACTION: z.preprocess(blankToUndefined, z.enum(['resume', 'ping']).default('resume')),
  /** Live updates (GET /api/v1/events): a comment line this often keeps proxies from closing an idle stream. */
  LIVE_HEARTBEAT_MS: z.preprocess(blankToUndefined, z.coerce.number().int().min(10).max(300_000).default(25_000)),
  /** Open live streams per signed-in session (the oldest closes when one more opens) and per organization per process (then 429). */
  LIVE_STREAMS_PER_SESSION: z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(100).default(4)),
  LIVE_STREAMS_PER_ORGANIZATION: z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(10_000).default(100)),
})

/**
 * Payments (Lemon Squeezy, Stripe) add their settings from core/billing/payments.ts; each channel
 * module adds its own (adapters/channels.ts builds the whole schema with them).
 */
export const configSchema = baseSchema.extend(paymentsConfigSchema.shape)

export type Config = z.infer<typeof configSchema>

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Parses the environment. Errors name the variable and what is expected, never the value. */
export function loadConfig<S extends typeof configSchema = typeof configSchema>(env: Record<string, string | undefined> = process.env, schema?: S): z.infer<S> {
  const parsed = (schema ?? configSchema).safeParse(env)
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`))
  }
  const config = parsed.data as z.infer<S>
  const payments = checkPaymentsConfig(config)
  if (payments.length) throw new ConfigError(payments)
  if (config.NODE_ENV === 'production' && !config.ENCRYPTION_KEY) {
    throw new ConfigError(['ENCRYPTION_KEY: required when NODE_ENV=production (32 bytes as 64 hex characters)'])
  }
  return config
}
