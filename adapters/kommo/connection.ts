import { createHash, randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { AppError } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import type { Logger, Store } from '../../core/ports.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import type { Database } from '../db/database.ts'
import type { Prisma } from '../db/generated/client.ts'
import { createKommoClient, kommoApiErrorOf, kommoApiUrl, redact, type KommoClient } from './client.ts'
import { SUBDOMAIN, type KommoConfig } from './config.ts'
import { createMemoryBucket, createRedisBucket, type RateLimiter } from './rate-limit.ts'
import { accountSchema, customFieldsSchema, pipelinesSchema, usersSchema, webhookSchema } from './schemas.ts'
import { createOAuthClient, createTokenManager, type KommoTokens, type TokenStore } from './tokens.ts'

/** What was read from the account: its pipelines with their statuses, its users, and the contact fields the agent fills. */
export type KommoCatalog = {
  pipelines: { id: number; name: string; isMain: boolean; statuses: { id: number; name: string; sort: number }[] }[]
  users: { id: number; name: string; email: string | null }[]
  /**
   * The PHONE and EMAIL fields of contacts (by their code), when the account has them, and the
   * text field "Switchboard ID" that keeps a contact's messenger identity (telegram:12345).
   */
  fields: { phone: number | null; email: number | null; identity: number | null }
}
/**
 * The organization's choices: the pipeline and status new leads start in (the main pipeline's
 * first status by default), who is responsible for them (in turn, when several; Kommo's default
 * when none), and whether every new contact gets a lead or only when the agent decides.
 */
export type KommoSettings = { pipelineId: number | null; statusId: number | null; responsibleUserIds: number[]; leadMode: 'agent' | 'every_contact' }
const DEFAULT_SETTINGS: KommoSettings = { pipelineId: null, statusId: null, responsibleUserIds: [], leadMode: 'agent' }

/**
 * Kommo's webhook to Switchboard, as the admin API shows it: `registered` when it was added through
 * the API; `manualUrl` (with its secret token) only when the account's plan does not allow API
 * webhooks (the admin pastes it in Kommo → Settings → Integrations → Web hooks), and only to admins;
 * `message` says what to do when it is not registered.
 */
export type KommoWebhookState = { registered: boolean; manualUrl: string | null; message: string | null }

/** The events Switchboard's webhook asks Kommo for (webhooks-api.md, "Возможные события"). */
export const KOMMO_WEBHOOK_EVENTS = ['status_lead', 'responsible_lead', 'update_lead', 'add_lead'] as const
/** Where Kommo posts a connection's events (a plain route, adapters/kommo/webhooks.ts); `?token=` is its secret. */
export const kommoWebhookPath = (connectionId: string) => `/webhooks/kommo-crm/${connectionId}`
/** Only the SHA-256 (hex) of a webhook's secret token is stored (`CrmConnection.webhookTokenHash`). */
export const webhookTokenHash = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex')

/**
 * What is known of the connection's webhook, kept in `settings.webhook` (never shown as it is):
 * `api` registered through POST /api/v4/webhooks, `manual` refused by the plan (402/403), `failed`
 * for another reason; `destination` is the URL with its token, sealed.
 */
type WebhookRecord = { mode: 'api' | 'manual' | 'failed'; destination?: string; reason?: string }

/** The connection as the admin API shows it: never its tokens. */
export type KommoState =
  | { connected: false; oauthAvailable: boolean }
  | {
      connected: true
      oauthAvailable: boolean
      id: string
      status: 'active' | 'broken' | 'blocked'
      statusReason: string | null
      subdomain: string
      account: { id: string | null; name: string | null }
      authKind: 'oauth' | 'long_lived'
      expiresAt: Date | null
      syncedAt: Date | null
      catalog: KommoCatalog
      settings: KommoSettings
      webhook: KommoWebhookState
    }

/** Refreshes in this process, one at a time per connection (every instance of the service shares it). */
const locks = new Map<string, Promise<unknown>>()

const EMPTY_CATALOG: KommoCatalog = { pipelines: [], users: [], fields: { phone: null, email: null, identity: null } }
/** The contact field that keeps a customer's messenger identity, made in the account when missing. */
export const IDENTITY_FIELD = 'Switchboard ID'
type Row = Prisma.CrmConnectionGetPayload<object>

/**
 * An organization's Kommo account: connected with a long-lived token (private integrations) or
 * with OAuth, its tokens sealed; one Kommo client per account, throttled at 7 requests a second
 * shared by every process (Redis when configured); access tokens refreshed before they expire,
 * one refresh at a time across processes (refresh tokens are single-use), the new pair stored
 * before it is used; a refused refresh or a blocked account marks the connection and tells the admins.
 */
export function createKommoConnections(deps: {
  db: Database
  secrets: SecretBox
  config: KommoConfig
  logger: Logger
  audit: Store['audit']
  redis?: { client: Redis; prefix: string }
  /** PUBLIC_URL: when set, connecting registers Kommo's webhook to {publicUrl}/webhooks/kommo-crm/{connectionId}. */
  publicUrl?: string
  notifyAdmins(input: { organizationId: string; text: string; key: string }): Promise<number>
  fetch?: typeof fetch
  sleep?: (ms: number) => Promise<void>
  now?: () => Date
}) {
  const prisma = deps.db.prisma
  const now = deps.now ?? (() => new Date())
  const limiter: RateLimiter = deps.redis ? createRedisBucket({ redis: deps.redis.client, prefix: deps.redis.prefix, ...(deps.sleep ? { sleep: deps.sleep } : {}) }) : createMemoryBucket(deps.sleep ? { sleep: deps.sleep } : {})
  const oauth =
    deps.config.KOMMO_CLIENT_ID && deps.config.KOMMO_CLIENT_SECRET && deps.config.KOMMO_REDIRECT_URI
      ? createOAuthClient({ apiUrlFor: (s) => kommoApiUrl(deps.config.KOMMO_API_URL, s), clientId: deps.config.KOMMO_CLIENT_ID, clientSecret: deps.config.KOMMO_CLIENT_SECRET, redirectUri: deps.config.KOMMO_REDIRECT_URI, ...(deps.fetch ? { fetch: deps.fetch } : {}) })
      : undefined

  const seal = (tokens: KommoTokens) => deps.secrets.seal(JSON.stringify({ accessToken: tokens.accessToken, ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}) }))
  const open = (row: Pick<Row, 'credentials' | 'expiresAt'>): KommoTokens => {
    const parsed = JSON.parse(deps.secrets.open(row.credentials)) as { accessToken: string; refreshToken?: string }
    return { accessToken: parsed.accessToken, ...(parsed.refreshToken ? { refreshToken: parsed.refreshToken } : {}), ...(row.expiresAt ? { expiresAt: row.expiresAt } : {}) }
  }

  async function mark(row: Pick<Row, 'id' | 'organizationId' | 'status'>, status: 'broken' | 'blocked', reason: string) {
    const { count } = await prisma.crmConnection.updateMany({ where: { id: row.id, status: { not: status } }, data: { status, statusReason: reason, updatedAt: now() } })
    recent.delete(row.organizationId)
    if (!count) return
    // Still connecting (never read): the admin who connects sees the refusal; nobody else is told.
    if (!(await prisma.crmConnection.findUnique({ where: { id: row.id }, select: { syncedAt: true } }))?.syncedAt) return
    deps.logger.warn({ organizationId: row.organizationId, status, reason }, 'Kommo connection marked')
    await deps.audit.record({ organizationId: row.organizationId, actorUserId: null, action: `crm.kommo_${status}`, target: row.id, data: { reason } }).catch(() => undefined)
    await deps.notifyAdmins({ organizationId: row.organizationId, text: `Kommo stopped working: ${reason} Open the CRM page of the admin web to connect it again.`, key: `kommo-${status}:${row.id}:${Date.now()}` }).catch(() => 0)
  }

  /** Serializes refreshes of one connection: in this process, and across processes through Redis or a database lock. */
  async function withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = locks.get(id) ?? Promise.resolve()
    const run = previous.catch(() => undefined).then(async () => {
      if (deps.redis) {
        const key = `${deps.redis.prefix}:kommo:refresh:${id}`
        const owner = randomBytes(8).toString('hex')
        for (let i = 0; !(await deps.redis.client.set(key, owner, 'PX', 30_000, 'NX')); i++) {
          if (i > 300) throw new AppError('crm_unavailable', 'Another process has been refreshing the Kommo token for too long', 503)
          await new Promise((r) => setTimeout(r, 100))
        }
        try {
          return await fn()
        } finally {
          if ((await deps.redis.client.get(key)) === owner) await deps.redis.client.del(key)
        }
      }
      // PostgreSQL without Redis: a transaction-scoped advisory lock held while the token is refreshed.
      // The embedded database is one process: the in-process chain above is the lock.
      if (deps.db.kind === 'postgres') return prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock(hashtext($1))', `kommo-refresh:${id}`)
        return fn()
      }, { timeout: 60_000 })
      return fn()
    })
    locks.set(id, run)
    try {
      return await run
    } finally {
      if (locks.get(id) === run) locks.delete(id)
    }
  }

  /** `quiet`: a refused token marks nothing (the webhook's calls: a disconnect must not tell the admins Kommo broke). */
  function tokenStore(id: string, quiet = false): TokenStore {
    const read = async () => {
      const row = await prisma.crmConnection.findUnique({ where: { id } })
      if (!row) throw new AppError('not_found', 'Kommo is not connected', 404)
      return { row, tokens: open(row) }
    }
    return {
      read: async () => (await read()).tokens,
      withRefreshLock: (fn) => withLock(id, async () => fn((await read()).tokens)),
      save: async (tokens) => {
        await prisma.crmConnection.update({ where: { id }, data: { credentials: seal(tokens), expiresAt: tokens.expiresAt ?? null, status: 'active', statusReason: null, updatedAt: now() } })
      },
      broken: async (reason) => {
        if (quiet) return
        const { row } = await read()
        await mark(row, 'broken', reason)
      },
    }
  }

  const clients = new Map<string, { subdomain: string; credentials: string; client: KommoClient }>()
  /** current(): the connection's state, kept briefly for the turns; forgotten when this process changes it. */
  const recent = new Map<string, { until: number; state: KommoState }>()
  function clientOf(row: Row): KommoClient {
    // A connection made again (or its tokens refreshed) gets a new client: one that found the account blocked stays behind.
    const cached = clients.get(row.id)
    if (cached && cached.subdomain === row.subdomain && cached.credentials === row.credentials) return cached.client
    const tokens = createTokenManager({ subdomain: row.subdomain, store: tokenStore(row.id), ...(oauth && row.authKind === 'oauth' ? { oauth } : {}), now })
    const client = createKommoClient({
      subdomain: row.subdomain,
      apiUrlTemplate: deps.config.KOMMO_API_URL,
      tokens,
      limiter,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      onBlocked: (reason) => mark(row, 'blocked', reason),
    })
    clients.set(row.id, { subdomain: row.subdomain, credentials: row.credentials, client })
    return client
  }

  /** Reads the account, its pipelines with their statuses, its users and the contact fields, and stores them. */
  async function syncRow(row: Row): Promise<KommoCatalog> {
    const client = clientOf(row)
    const [account, pipelines, users, fields] = await Promise.all([
      client.request({ method: 'GET', path: '/api/v4/account', schema: accountSchema }),
      client.request({ method: 'GET', path: '/api/v4/leads/pipelines', schema: pipelinesSchema }),
      client.request({ method: 'GET', path: '/api/v4/users', query: { limit: '250' }, schema: usersSchema }),
      client.request({ method: 'GET', path: '/api/v4/contacts/custom_fields', query: { limit: '250' }, schema: customFieldsSchema }),
    ])
    const fieldList = fields?._embedded?.custom_fields ?? []
    let identity = fieldList.find((f) => f.name.trim().toLowerCase() === IDENTITY_FIELD.toLowerCase())?.id ?? null
    if (identity === null) {
      // Made once; a user without the right to add fields leaves contacts matched by phone and email only.
      const made = await webhookClientOf(row)
        .request({ method: 'POST', path: '/api/v4/contacts/custom_fields', body: [{ name: IDENTITY_FIELD, type: 'text', sort: 1000 }], schema: customFieldsSchema })
        .catch((error: unknown) => {
          deps.logger.info({ organizationId: row.organizationId, err: (error as Error).message }, 'Kommo: the Switchboard ID contact field could not be made')
          return null
        })
      identity = made?._embedded?.custom_fields?.[0]?.id ?? null
    }
    const catalog: KommoCatalog = {
      pipelines: (pipelines?._embedded?.pipelines ?? []).map((p) => ({ id: p.id, name: p.name, isMain: Boolean(p.is_main), statuses: (p._embedded?.statuses ?? []).map((s) => ({ id: s.id, name: s.name, sort: s.sort ?? 0 })).sort((a, b) => a.sort - b.sort) })),
      users: (users?._embedded?.users ?? []).map((u) => ({ id: u.id, name: u.name, email: u.email ?? null })),
      fields: { phone: fieldList.find((f) => f.code === 'PHONE')?.id ?? null, email: fieldList.find((f) => f.code === 'EMAIL')?.id ?? null, identity },
    }
    await prisma.crmConnection.update({ where: { id: row.id }, data: { accountId: account ? String(account.id) : row.accountId, accountName: account?.name ?? row.accountName, catalog: catalog as unknown as Prisma.InputJsonValue, syncedAt: now(), updatedAt: now() } })
    recent.delete(row.organizationId)
    return catalog
  }

  /**
   * A client for the webhook's own calls. Kommo answers 402 or 403 to POST /api/v4/webhooks on plans
   * without API webhooks (webhooks-format.md: from the "advanced" plan on); the shared client would
   * take that 403 for a blocked account and stop calling it, so these calls go through their own
   * client (same tokens and rate limit) that marks nothing.
   */
  function webhookClientOf(row: Row): KommoClient {
    return createKommoClient({
      subdomain: row.subdomain,
      apiUrlTemplate: deps.config.KOMMO_API_URL,
      tokens: createTokenManager({ subdomain: row.subdomain, store: tokenStore(row.id, true), ...(oauth && row.authKind === 'oauth' ? { oauth } : {}), now }),
      limiter,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    })
  }

  const webhookOf = (row: Pick<Row, 'settings'>): WebhookRecord | null => {
    const w = (row.settings as { webhook?: Partial<WebhookRecord> } | null)?.webhook
    if (!w || (w.mode !== 'api' && w.mode !== 'manual' && w.mode !== 'failed')) return null
    return { mode: w.mode, ...(typeof w.destination === 'string' ? { destination: w.destination } : {}), ...(typeof w.reason === 'string' ? { reason: w.reason } : {}) }
  }
  /** The sealed destination opened, or null (sealed with a key no longer known). */
  const openDestination = (w: WebhookRecord | null): string | null => {
    if (!w?.destination) return null
    try {
      return deps.secrets.open(w.destination)
    } catch {
      return null
    }
  }
  const tokenIn = (destination: string) => new URL(destination).searchParams.get('token') ?? undefined

  /**
   * Asks Kommo to post the account's lead changes to Switchboard (POST /api/v4/webhooks, which
   * updates a webhook with the same destination). The URL carries a new random token, or the
   * connection's current one when `reuse` (a URL an admin pasted in Kommo keeps working); only its
   * hash is stored in clear. A plan without API webhooks (402/403) leaves the URL for the admin to
   * paste; any other failure is recorded and tried again when the account is read again. The
   * connection works either way.
   */
  async function registerWebhook(row: Row, reuse: boolean): Promise<void> {
    if (!deps.publicUrl) return
    const previous = webhookOf(row)
    const kept = reuse ? openDestination(previous) : null
    const destination = kept ?? `${deps.publicUrl.replace(/\/+$/, '')}${kommoWebhookPath(row.id)}?token=${randomBytes(32).toString('base64url')}`
    const token = tokenIn(destination)!
    // The hash first: Kommo may post as soon as it has the address.
    if (!(await prisma.crmConnection.updateMany({ where: { id: row.id }, data: { webhookTokenHash: webhookTokenHash(token) } })).count) return
    let record: WebhookRecord
    try {
      await webhookClientOf(row).request({ method: 'POST', path: '/api/v4/webhooks', body: { destination, settings: [...KOMMO_WEBHOOK_EVENTS] }, schema: webhookSchema })
      record = { mode: 'api', destination: deps.secrets.seal(destination) }
      deps.logger.info({ organizationId: row.organizationId, connectionId: row.id }, 'Kommo webhook registered')
    } catch (error) {
      const status = kommoApiErrorOf(error)?.status
      const reason = redact(error instanceof Error ? error.message : String(error), token).slice(0, 300)
      record = { mode: status === 402 || status === 403 ? 'manual' : 'failed', destination: deps.secrets.seal(destination), reason }
      deps.logger.warn({ organizationId: row.organizationId, connectionId: row.id, status, err: reason }, record.mode === 'manual' ? 'Kommo refused an API webhook (plan): the admin adds it by hand' : 'Kommo webhook not registered')
    }
    const current = await prisma.crmConnection.findUnique({ where: { id: row.id }, select: { settings: true } })
    if (!current) return
    await prisma.crmConnection.updateMany({ where: { id: row.id }, data: { settings: { ...(current.settings as object), webhook: record } as Prisma.InputJsonValue, updatedAt: now() } })
    // The previous registration, with another token, would only be refused from now on.
    const old = previous?.mode === 'api' ? openDestination(previous) : null
    if (old && old !== destination) await removeWebhook(row, old)
  }

  /** DELETE /api/v4/webhooks { destination }, best effort: false (and a warning) when Kommo did not remove it. */
  async function removeWebhook(row: Row, destination: string): Promise<boolean> {
    try {
      await webhookClientOf(row).request({ method: 'DELETE', path: '/api/v4/webhooks', body: { destination } })
      return true
    } catch (error) {
      if (kommoApiErrorOf(error)?.status === 404) return true
      const reason = redact(error instanceof Error ? error.message : String(error), tokenIn(destination)).slice(0, 300)
      deps.logger.warn({ organizationId: row.organizationId, connectionId: row.id, err: reason }, 'Kommo webhook not removed: remove it in Kommo → Settings → Integrations → Web hooks')
      return false
    }
  }

  function webhookStateOf(row: Row, reveal: boolean): KommoWebhookState {
    const w = webhookOf(row)
    if (!deps.publicUrl && w?.mode !== 'api') return { registered: false, manualUrl: null, message: 'Set PUBLIC_URL (the address Kommo can reach) and read the account again, so that Kommo tells Switchboard when a manager changes a lead.' }
    if (!w) return { registered: false, manualUrl: null, message: 'Read the account again to ask Kommo to tell Switchboard when a manager changes a lead.' }
    if (w.mode === 'api') return { registered: true, manualUrl: null, message: null }
    if (w.mode === 'manual') {
      const manualUrl = reveal ? openDestination(w) : null
      return {
        registered: false,
        manualUrl,
        message: `This Kommo plan does not allow adding webhooks through the API. In Kommo open Settings → Integrations → Web hooks, add ${reveal ? 'the URL shown here' : 'the URL an admin sees on this page'} and choose the events: lead added, lead changed, lead status changed, lead responsible changed.`,
      }
    }
    return { registered: false, manualUrl: null, message: `Kommo did not add the webhook (${w.reason ?? 'no reason given'}); read the account again to try again.` }
  }

  const stateOf = (row: Row, reveal = false): KommoState => ({
    connected: true,
    oauthAvailable: Boolean(oauth),
    id: row.id,
    status: row.status === 'broken' || row.status === 'blocked' ? row.status : 'active',
    statusReason: row.statusReason,
    subdomain: row.subdomain,
    account: { id: row.accountId, name: row.accountName },
    authKind: row.authKind === 'oauth' ? 'oauth' : 'long_lived',
    expiresAt: row.expiresAt,
    syncedAt: row.syncedAt,
    catalog: { ...EMPTY_CATALOG, ...(row.catalog as Partial<KommoCatalog>) },
    settings: settingsOf(row),
    webhook: webhookStateOf(row, reveal),
  })
  /** The organization's choices only: `settings` also keeps the turn of responsible users and the webhook's record. */
  const settingsOf = (row: Row): KommoSettings => {
    const s = (row.settings ?? {}) as Partial<KommoSettings>
    return {
      pipelineId: s.pipelineId ?? DEFAULT_SETTINGS.pipelineId,
      statusId: s.statusId ?? DEFAULT_SETTINGS.statusId,
      responsibleUserIds: Array.isArray(s.responsibleUserIds) ? s.responsibleUserIds : [],
      leadMode: s.leadMode === 'every_contact' ? 'every_contact' : DEFAULT_SETTINGS.leadMode,
    }
  }

  /** Stores the connection (replacing the organization's previous one) and reads the account; refused tokens leave nothing behind. */
  async function save(input: { organizationId: string; subdomain: string; authKind: 'oauth' | 'long_lived'; tokens: KommoTokens; actorUserId: string | null }): Promise<KommoState> {
    const subdomain = input.subdomain.trim().toLowerCase().replace(/\.kommo\.com$/, '')
    if (!SUBDOMAIN.test(subdomain)) throw new AppError('validation_failed', 'That is not a Kommo subdomain (the name before .kommo.com in the account address)', 422)
    const previous = await prisma.crmConnection.findUnique({ where: { organizationId: input.organizationId } })
    const data = { provider: 'kommo', subdomain, authKind: input.authKind, status: 'active', statusReason: null, credentials: seal(input.tokens), expiresAt: input.tokens.expiresAt ?? null, updatedAt: now() }
    const row = previous ? await prisma.crmConnection.update({ where: { id: previous.id }, data }) : await prisma.crmConnection.create({ data: { id: newId(), organizationId: input.organizationId, ...data } })
    recent.delete(input.organizationId)
    clients.delete(row.id)
    try {
      await syncRow(row)
    } catch (error) {
      // A token Kommo refuses connects nothing.
      if (!previous) await prisma.crmConnection.delete({ where: { id: row.id } }).catch(() => undefined)
      clients.delete(row.id)
      throw error
    }
    await deps.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'crm.kommo_connected', target: row.id, data: { subdomain, authKind: input.authKind } })
    deps.logger.info({ organizationId: input.organizationId, subdomain, authKind: input.authKind }, 'Kommo connected')
    const synced = (await prisma.crmConnection.findUnique({ where: { id: row.id } }))!
    // The same account connected again keeps its webhook's URL (an admin may have pasted it in Kommo); another account gets a new one.
    await registerWebhook(synced, Boolean(previous?.accountId && previous.accountId === synced.accountId))
    // Connecting is an admin's action: the answer may show the URL to paste.
    return stateOf((await prisma.crmConnection.findUnique({ where: { id: row.id } }))!, true)
  }

  return {
    oauthAvailable: () => Boolean(oauth),

    /** A long-lived token of a private integration (Kommo → Settings → Integrations → Keys and scopes). */
    connectLongLived: (input: { organizationId: string; subdomain: string; token: string; actorUserId: string | null }) => {
      const token = input.token.trim()
      if (token.length < 20 || /\s/.test(token)) throw new AppError('validation_failed', 'That is not a Kommo long-lived token', 422)
      return save({ organizationId: input.organizationId, subdomain: input.subdomain, authKind: 'long_lived', tokens: { accessToken: token }, actorUserId: input.actorUserId })
    },

    /** OAuth: the code Kommo sent back exchanged for the first pair of tokens. */
    async connectWithCode(input: { organizationId: string; subdomain: string; code: string; actorUserId: string | null }) {
      if (!oauth) throw new AppError('not_found', 'Connecting with Kommo needs KOMMO_CLIENT_ID, KOMMO_CLIENT_SECRET and KOMMO_REDIRECT_URI', 404)
      const tokens = await oauth.exchangeCode(input.subdomain, input.code)
      return save({ organizationId: input.organizationId, subdomain: input.subdomain, authKind: 'oauth', tokens, actorUserId: input.actorUserId })
    },

    /** The state; `viewer.admin` shows the webhook's URL to paste in Kommo, when the plan needs that (it holds the webhook's secret). */
    async get(organizationId: string, viewer: { admin?: boolean } = {}): Promise<KommoState> {
      const row = await prisma.crmConnection.findUnique({ where: { organizationId } })
      return row ? stateOf(row, viewer.admin === true) : { connected: false, oauthAvailable: Boolean(oauth) }
    },

    /**
     * The state for a turn (the stages and users the model is offered, the lead mode): read at most
     * once every 2 seconds per organization, so a turn does not look the connection up three times.
     * Changes made in this process are seen at once; another process's within 2 seconds.
     */
    async current(organizationId: string): Promise<KommoState> {
      const cached = recent.get(organizationId)
      if (cached && cached.until > Date.now()) return cached.state
      const row = await prisma.crmConnection.findUnique({ where: { organizationId } })
      const state: KommoState = row ? stateOf(row, false) : { connected: false, oauthAvailable: Boolean(oauth) }
      recent.set(organizationId, { until: Date.now() + 2000, state })
      if (recent.size > 10_000) recent.clear()
      return state
    },

    /**
     * Reads pipelines, users and fields again (periodically, when a webhook names a status not read
     * yet, or on an admin's request). On request (`webhook`, the default) the webhook is asked for
     * again, with the same URL: Kommo updates (and re-enables) it, a plan upgraded since allows it.
     */
    /** Every active connection read again (pipelines, users and fields change in Kommo); one failing never stops the others. */
    async syncAll(): Promise<{ synced: number; failed: number }> {
      let synced = 0
      let failed = 0
      for (const row of await prisma.crmConnection.findMany({ where: { status: 'active' }, select: { id: true, organizationId: true } })) {
        try {
          const current = await prisma.crmConnection.findUnique({ where: { id: row.id } })
          if (current) await syncRow(current)
          synced++
        } catch (error) {
          failed++
          deps.logger.warn({ organizationId: row.organizationId, err: (error as Error).message }, 'Kommo not read again; tried at the next round')
        }
      }
      return { synced, failed }
    },

    async sync(organizationId: string, options: { webhook?: boolean } = {}): Promise<KommoState> {
      const row = await prisma.crmConnection.findUnique({ where: { organizationId } })
      if (!row) throw new AppError('not_found', 'Kommo is not connected', 404)
      await syncRow(row)
      if (options.webhook !== false) await registerWebhook((await prisma.crmConnection.findUnique({ where: { id: row.id } }))!, true)
      return stateOf((await prisma.crmConnection.findUnique({ where: { id: row.id } }))!, options.webhook !== false)
    },

    /** Saves the organization's choices, checked against what was read from the account. */
    async saveSettings(input: { organizationId: string; settings: Partial<KommoSettings>; actorUserId: string | null }): Promise<KommoState> {
      const row = await prisma.crmConnection.findUnique({ where: { organizationId: input.organizationId } })
      if (!row) throw new AppError('not_found', 'Kommo is not connected', 404)
      const catalog = { ...EMPTY_CATALOG, ...(row.catalog as Partial<KommoCatalog>) }
      const next = { ...settingsOf(row), ...input.settings }
      const pipeline = next.pipelineId === null ? null : catalog.pipelines.find((p) => p.id === next.pipelineId)
      if (next.pipelineId !== null && !pipeline) throw new AppError('validation_failed', `Kommo has no pipeline ${next.pipelineId}; read the account again if it was just made`, 422)
      if (next.statusId !== null && !(pipeline ?? catalog.pipelines.find((p) => p.isMain))?.statuses.some((s) => s.id === next.statusId)) throw new AppError('validation_failed', `Status ${next.statusId} is not a stage of that pipeline`, 422)
      const unknown = next.responsibleUserIds.filter((id) => !catalog.users.some((u) => u.id === id))
      if (unknown.length) throw new AppError('validation_failed', `Kommo has no user ${unknown.join(', ')}`, 422)
      const updated = await prisma.crmConnection.update({ where: { id: row.id }, data: { settings: { ...(row.settings as object), ...next } as unknown as Prisma.InputJsonValue, updatedAt: now() } })
      recent.delete(input.organizationId)
      await deps.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'crm.kommo_settings_changed', target: row.id, data: { ...next } })
      return stateOf(updated, true)
    },

    /** The user responsible for the next lead: the chosen users in turn; undefined = Kommo's default. */
    async nextResponsible(organizationId: string): Promise<number | undefined> {
      const row = await prisma.crmConnection.findUnique({ where: { organizationId } })
      const ids = row ? settingsOf(row).responsibleUserIds : []
      if (!row || !ids.length) return undefined
      const turn = Number((row.settings as { turn?: number }).turn ?? 0)
      await prisma.crmConnection.update({ where: { id: row.id }, data: { settings: { ...(row.settings as object), turn: turn + 1 } as Prisma.InputJsonValue } })
      return ids[turn % ids.length]
    },

    /** The client of the organization's account, for the CRM's actions. */
    async client(organizationId: string): Promise<KommoClient | null> {
      const row = await prisma.crmConnection.findUnique({ where: { organizationId } })
      return row && row.status === 'active' ? clientOf(row) : null
    },

    async disconnect(input: { organizationId: string; actorUserId: string | null }): Promise<{ disconnected: boolean; webhookRemoved: boolean | null }> {
      const row = await prisma.crmConnection.findUnique({ where: { organizationId: input.organizationId } })
      if (!row) return { disconnected: false, webhookRemoved: null }
      // Kommo stops posting to the address (asked while the tokens still exist; a registration that
      // seemed to fail may have been made, and then goes too). One added by hand is the admin's to remove.
      const webhook = webhookOf(row)
      const destination = webhook?.mode === 'api' || webhook?.mode === 'failed' ? openDestination(webhook) : null
      let webhookRemoved: boolean | null = null
      if (destination && row.status === 'active') webhookRemoved = await removeWebhook(row, destination)
      else if (webhook?.mode === 'api') {
        webhookRemoved = false
        deps.logger.warn({ organizationId: row.organizationId, connectionId: row.id, status: row.status }, 'Kommo webhook not removed (the connection is not active): remove it in Kommo → Settings → Integrations → Web hooks')
      } else if (webhook?.mode === 'manual') {
        deps.logger.info({ organizationId: row.organizationId, connectionId: row.id }, 'Kommo disconnected: the webhook added by hand stays in Kommo until an admin removes it (its posts are refused)')
      }
      recent.delete(input.organizationId)
      await prisma.crmConnection.delete({ where: { id: row.id } })
      clients.delete(row.id)
      await deps.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'crm.kommo_disconnected', target: row.id, data: { subdomain: row.subdomain, ...(webhookRemoved === null ? {} : { webhookRemoved }) } })
      return { disconnected: true, webhookRemoved }
    },
  }
}

export type KommoConnections = ReturnType<typeof createKommoConnections>
