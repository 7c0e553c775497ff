import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { AppError } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import type { Logger, Store } from '../../core/ports.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import type { Database } from '../db/database.ts'
import type { Prisma } from '../db/generated/client.ts'
import { createKommoClient, kommoApiUrl, type KommoClient } from './client.ts'
import { SUBDOMAIN, type KommoConfig } from './config.ts'
import { createMemoryBucket, createRedisBucket, type RateLimiter } from './rate-limit.ts'
import { accountSchema, customFieldsSchema, pipelinesSchema, usersSchema } from './schemas.ts'
import { createOAuthClient, createTokenManager, type KommoTokens, type TokenStore } from './tokens.ts'

/** What was read from the account: its pipelines with their statuses, its users, and the contact fields the agent fills. */
export type KommoCatalog = {
  pipelines: { id: number; name: string; isMain: boolean; statuses: { id: number; name: string; sort: number }[] }[]
  users: { id: number; name: string; email: string | null }[]
  /** The PHONE and EMAIL fields of contacts (by their code), when the account has them. */
  fields: { phone: number | null; email: number | null }
}
/**
 * The organization's choices: the pipeline and status new leads start in (the main pipeline's
 * first status by default), who is responsible for them (in turn, when several; Kommo's default
 * when none), and whether every new contact gets a lead or only when the agent decides.
 */
export type KommoSettings = { pipelineId: number | null; statusId: number | null; responsibleUserIds: number[]; leadMode: 'agent' | 'every_contact' }
const DEFAULT_SETTINGS: KommoSettings = { pipelineId: null, statusId: null, responsibleUserIds: [], leadMode: 'agent' }

/** The connection as the admin API shows it: never its tokens. */
export type KommoState =
  | { connected: false; oauthAvailable: boolean }
  | {
      connected: true
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
    }

/** Refreshes in this process, one at a time per connection (every instance of the service shares it). */
const locks = new Map<string, Promise<unknown>>()

const EMPTY_CATALOG: KommoCatalog = { pipelines: [], users: [], fields: { phone: null, email: null } }
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
    if (!count) return
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

  function tokenStore(id: string): TokenStore {
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
        const { row } = await read()
        await mark(row, 'broken', reason)
      },
    }
  }

  const clients = new Map<string, { subdomain: string; client: KommoClient }>()
  function clientOf(row: Row): KommoClient {
    const cached = clients.get(row.id)
    if (cached && cached.subdomain === row.subdomain) return cached.client
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
    clients.set(row.id, { subdomain: row.subdomain, client })
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
    const catalog: KommoCatalog = {
      pipelines: (pipelines?._embedded?.pipelines ?? []).map((p) => ({ id: p.id, name: p.name, isMain: Boolean(p.is_main), statuses: (p._embedded?.statuses ?? []).map((s) => ({ id: s.id, name: s.name, sort: s.sort ?? 0 })).sort((a, b) => a.sort - b.sort) })),
      users: (users?._embedded?.users ?? []).map((u) => ({ id: u.id, name: u.name, email: u.email ?? null })),
      fields: { phone: fieldList.find((f) => f.code === 'PHONE')?.id ?? null, email: fieldList.find((f) => f.code === 'EMAIL')?.id ?? null },
    }
    await prisma.crmConnection.update({ where: { id: row.id }, data: { accountId: account ? String(account.id) : row.accountId, accountName: account?.name ?? row.accountName, catalog: catalog as unknown as Prisma.InputJsonValue, syncedAt: now(), updatedAt: now() } })
    return catalog
  }

  const stateOf = (row: Row): KommoState => ({
    connected: true,
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
  })
  const settingsOf = (row: Row): KommoSettings => {
    const s = (row.settings ?? {}) as Partial<KommoSettings>
    return { ...DEFAULT_SETTINGS, ...s, responsibleUserIds: Array.isArray(s.responsibleUserIds) ? s.responsibleUserIds : [] }
  }

  /** Stores the connection (replacing the organization's previous one) and reads the account; refused tokens leave nothing behind. */
  async function save(input: { organizationId: string; subdomain: string; authKind: 'oauth' | 'long_lived'; tokens: KommoTokens; actorUserId: string | null }): Promise<KommoState> {
    const subdomain = input.subdomain.trim().toLowerCase().replace(/\.kommo\.com$/, '')
    if (!SUBDOMAIN.test(subdomain)) throw new AppError('validation_failed', 'That is not a Kommo subdomain (the name before .kommo.com in the account address)', 422)
    const previous = await prisma.crmConnection.findUnique({ where: { organizationId: input.organizationId } })
    const data = { provider: 'kommo', subdomain, authKind: input.authKind, status: 'active', statusReason: null, credentials: seal(input.tokens), expiresAt: input.tokens.expiresAt ?? null, updatedAt: now() }
    const row = previous ? await prisma.crmConnection.update({ where: { id: previous.id }, data }) : await prisma.crmConnection.create({ data: { id: newId(), organizationId: input.organizationId, ...data } })
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
    return stateOf((await prisma.crmConnection.findUnique({ where: { id: row.id } }))!)
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

    async get(organizationId: string): Promise<KommoState> {
      const row = await prisma.crmConnection.findUnique({ where: { organizationId } })
      return row ? stateOf(row) : { connected: false, oauthAvailable: Boolean(oauth) }
    },

    /** Reads pipelines, users and fields again (periodically, when a webhook says something changed, or on request). */
    async sync(organizationId: string): Promise<KommoState> {
      const row = await prisma.crmConnection.findUnique({ where: { organizationId } })
      if (!row) throw new AppError('not_found', 'Kommo is not connected', 404)
      await syncRow(row)
      return stateOf((await prisma.crmConnection.findUnique({ where: { id: row.id } }))!)
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
      const updated = await prisma.crmConnection.update({ where: { id: row.id }, data: { settings: next as unknown as Prisma.InputJsonValue, updatedAt: now() } })
      await deps.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'crm.kommo_settings_changed', target: row.id, data: { ...next } })
      return stateOf(updated)
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

    async disconnect(input: { organizationId: string; actorUserId: string | null }): Promise<boolean> {
      const row = await prisma.crmConnection.findUnique({ where: { organizationId: input.organizationId } })
      if (!row) return false
      await prisma.crmConnection.delete({ where: { id: row.id } })
      clients.delete(row.id)
      await deps.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'crm.kommo_disconnected', target: row.id, data: { subdomain: row.subdomain } })
      return true
    },
  }
}

export type KommoConnections = ReturnType<typeof createKommoConnections>
