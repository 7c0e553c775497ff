import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import type pg from 'pg'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { ConfigError } from '../../core/config/index.ts'
import type { Logger } from '../../core/ports.ts'
import { databasePoolSize } from '../../core/config/index.ts'
import { PrismaClient } from './generated/client.ts'
import { migrate, type SqlRunner, type VectorMode } from './migrate.ts'
import { createPriorityLane, throughLane } from './priority-lane.ts'
import { withPreparedStatements } from './pglite-statements.ts'
import { autoSharedBuffers } from './pglite-buffers.ts'
import { applyWasmCompiler } from './pglite-options.ts'
import { createUpkeep, scheduleUpkeep } from './pglite-upkeep.ts'

export type Database = {
  kind: 'pglite' | 'postgres'
  /** KNOWLEDGE_VECTORS: off leaves pgvector out of the migrations (and the knowledge service out of embeddings). */
  vectors: VectorMode
  prisma: PrismaClient
  runner: SqlRunner
  migrate(): Promise<string[]>
  /**
   * Runs `fn` with its statements ahead of the others: ingress (a delivery stored before it is
   * acknowledged) on the embedded database's single connection. PostgreSQL's pool has connections
   * enough: there it only runs `fn`.
   */
  urgent<T>(fn: () => Promise<T>): Promise<T>
  /** Runs a webhook delivery: urgent, and while deliveries arrive the in-process queue runs one job at a time (`ingressBusy`). */
  delivery<T>(fn: () => Promise<T>): Promise<T>
  /** Whether webhook deliveries are being handled on the embedded database now; always false on PostgreSQL. */
  ingressBusy(): boolean
  close(): Promise<void>
}

// The same advisory lock key `prisma migrate` uses, so the two never migrate at once.
const MIGRATION_LOCK = 72707369

/**
 * Opens PostgreSQL when DATABASE_URL is set, otherwise the embedded PGlite (with pgvector) in
 * `DATA_DIR/pglite`. `dataDir: 'memory://'` keeps everything in memory (tests). `vectors: 'off'`
 * (KNOWLEDGE_VECTORS=off) migrates without pgvector (see migrate()).
 */
export async function openDatabase(input: { databaseUrl?: string; dataDir: string; sharedBuffers?: string; vectors?: VectorMode; logger?: Pick<Logger, 'debug' | 'warn'> }): Promise<Database> {
  const vectors = input.vectors ?? 'on'
  if (input.databaseUrl) return openPostgres(input.databaseUrl, vectors)
  const sharedBuffers = !input.sharedBuffers || input.sharedBuffers === 'auto' ? await autoSharedBuffers(input.dataDir) : input.sharedBuffers
  return openPglite(input.dataDir, sharedBuffers, vectors, input.logger)
}

/**
 * PostgreSQL's buffer cache inside the embedded database (PGLITE_SHARED_BUFFERS): by default
 * sized by the knowledge base's tables at start (adapters/db/pglite-buffers.ts, docs/knowledge.md).
 */
const pgliteConf = (sharedBuffers: string) => [`shared_buffers = ${sharedBuffers}`, 'work_mem = 4MB', 'maintenance_work_mem = 32MB', 'hnsw.iterative_scan = relaxed_order', 'hnsw.ef_search = 40']

async function openPglite(dataDir: string, sharedBuffers: string, vectors: VectorMode, logger?: Pick<Logger, 'debug' | 'warn'>): Promise<Database> {
  let target: string | undefined
  const options = { extensions: { vector }, postgresqlconf: pgliteConf(sharedBuffers) }
  if (dataDir !== 'memory://') {
    target = path.resolve(dataDir, 'pglite')
    await mkdir(target, { recursive: true })
    if (!existsSync(path.join(target, 'PG_VERSION'))) await initdbInChildProcess(target)
  }
  applyWasmCompiler(sharedBuffers)
  const client = await PGlite.create(target, options)
  // Prisma and the raw runner reach the one connection through the lane (ingress goes first), and
  // run their statements as named prepared statements, each parsed once (adapters/db/pglite-statements.ts).
  const lane = createPriorityLane()
  const connection = throughLane(withPreparedStatements(client), lane)
  const runner: SqlRunner = {
    exec: async (sql) => {
      await connection.exec(sql)
    },
    query: async <T,>(sql: string, params: unknown[] = []) => (await connection.query<T>(sql, params)).rows,
    withLock: (fn) => fn(), // one process owns a PGlite directory
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(connection) })
  // PGlite runs no autovacuum: its upkeep (adapters/db/pglite-upkeep.ts) runs here until the database closes.
  const stopUpkeep = scheduleUpkeep(createUpkeep(runner, { busy: lane.ingressBusy }), {
    onPass: (pass, ms) => {
      if (pass.analyzed.length || pass.vacuumed.length) logger?.debug({ ...pass, ms: Math.round(ms) }, 'embedded database upkeep')
    },
    onError: (err) => logger?.warn({ err }, 'embedded database upkeep failed'),
  })
  return {
    kind: 'pglite',
    vectors,
    prisma,
    runner,
    migrate: () => migrate(runner, undefined, { vectors }),
    urgent: lane.urgent,
    delivery: lane.delivery,
    ingressBusy: lane.ingressBusy,
    close: async () => {
      await stopUpkeep()
      await prisma.$disconnect()
      await client.close()
    },
  }
}

/**
 * First start: initdb grows the WASM memory of the instance that runs it to several hundred MB,
 * which is never returned. A short-lived child process does it instead, as Postgres's own initdb.
 */
async function initdbInChildProcess(target: string): Promise<void> {
  const script = fileURLToPath(new URL('./pglite-initdb.mjs', import.meta.url))
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [script, target], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`Creating the embedded database in ${target} failed (exit ${code}): ${stderr.trim()}`))))
  })
}

function connectionConfig(url: string): pg.PoolConfig {
  // Host, port, user, password and database are passed separately: see STACK.md.
  const u = new URL(url)
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: u.pathname.replace(/^\//, '') || undefined,
    ssl: u.searchParams.get('sslmode') === 'require' ? { rejectUnauthorized: false } : undefined,
    max: databasePoolSize(u.searchParams.get('connection_limit')),
  }
}

/**
 * The knowledge base's vectors need pgvector: a server without it is said plainly at start (before
 * any migration), instead of a failed migration's stack trace. KNOWLEDGE_VECTORS=off skips this.
 */
async function requirePgvector(pool: pg.Pool, url: string): Promise<void> {
  const installed = await pool.query("SELECT 1 FROM pg_extension WHERE extname = 'vector'").catch(() => null)
  if (installed?.rows.length) return
  const available = await pool.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").catch(() => null)
  if (!available || available.rows.length) return
  let where = 'DATABASE_URL'
  try {
    const u = new URL(url)
    where = `${u.hostname}${u.port ? `:${u.port}` : ''}`
  } catch {
    // keep the variable's name
  }
  throw new ConfigError([
    `DATABASE_URL: the PostgreSQL at ${where} has no pgvector extension ("vector" is not available), which the knowledge base's semantic search needs. Install pgvector on that server (https://github.com/pgvector/pgvector; docker-compose.yml uses the pgvector/pgvector image), or set KNOWLEDGE_VECTORS=off to search knowledge by words only (no embeddings), or leave DATABASE_URL unset to use the embedded database.`,
  ])
}

/** Interactive transactions on PostgreSQL: how long one may wait for a connection, and run. */
const POSTGRES_TRANSACTIONS = { maxWait: 15_000, timeout: 15_000 }

async function openPostgres(url: string, vectors: VectorMode): Promise<Database> {
  // pg and Prisma's adapter for it load only here: the embedded default never uses them, and
  // they held about 4 MB of the process (docs/operations.md, Measuring turns).
  const [{ default: pg }, { PrismaPg }] = await Promise.all([import('pg'), import('@prisma/adapter-pg')])
  const config = connectionConfig(url)
  const pool = new pg.Pool(config)
  pool.on('error', () => undefined) // an idle client dropped by the server; the pool replaces it
  const runner: SqlRunner = {
    exec: async (sql) => {
      await pool.query(sql)
    },
    query: async <T,>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as T[],
    withLock: async (fn) => {
      // The lock is held on a connection of its own, outside the pool: the migration runs on the
      // pool, and with connection_limit=1 a pooled lock holder would leave it no client (a hang).
      const { max: _max, ...single } = config
      const client = new pg.Client(single)
      client.on('error', () => undefined)
      await client.connect()
      try {
        // Other processes wait here.
        await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
        return await fn()
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined)
        await client.end().catch(() => undefined)
      }
    },
  }
  // A burst of requests waits for a pooled connection: Prisma's default (2 s to start a
  // transaction) failed stored-message transactions with 500s when 16 web chat requests met a
  // pool of 4 on a busy machine (tests/integration/scale-out.test.ts).
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool), transactionOptions: POSTGRES_TRANSACTIONS })
  return {
    kind: 'postgres',
    vectors,
    prisma,
    runner,
    migrate: async () => {
      if (vectors === 'on') await requirePgvector(pool, url)
      return migrate(runner, undefined, { vectors })
    },
    urgent: (fn) => fn(),
    delivery: (fn) => fn(),
    ingressBusy: () => false,
    close: async () => {
      await prisma.$disconnect()
      await pool.end()
    },
  }
}
