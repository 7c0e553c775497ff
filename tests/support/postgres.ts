import pg from 'pg'
import { openDatabase, type Database } from '../../adapters/db/database.ts'

/**
 * The machine's real PostgreSQL, for tests that need parallel connections (PGlite runs one query
 * at a time and cannot show a race). TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432) names a
 * server where the user may create databases; each test file makes its own database and drops it.
 */
export const ADMIN_URL = process.env.TEST_POSTGRES_URL || 'postgresql://postgres@127.0.0.1:5432/postgres'

/** Where no server answers the tests are skipped with a warning; under CI (CI=true) that is a failure. */
export async function postgresAnswers(what: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch (error) {
    if (process.env.CI === 'true') throw new Error(`CI=true but PostgreSQL at ${ADMIN_URL} does not answer: ${(error as Error).message}`, { cause: error })
    console.warn(`\n!!! SKIPPING ${what}: no PostgreSQL answers at ${ADMIN_URL}. Start PostgreSQL or set TEST_POSTGRES_URL to run it. !!!\n`)
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

/**
 * A fresh database with the migrations, opened with a pool of `connections`. The PostgreSQL 15 on
 * these machines has no pgvector (Debian bookworm does not package it), so the database is
 * migrated as the product does with KNOWLEDGE_VECTORS=off: what needs pgvector is left out.
 */
export async function scratchDatabase(prefix: string, connections: number): Promise<{ db: Database; drop(): Promise<void> }> {
  const name = `sbtest_${prefix}_${process.pid}_${Date.now().toString(36)}`
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE "${name}"`)
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  url.searchParams.set('connection_limit', String(connections))
  const db = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory://', vectors: 'off' })
  await db.migrate()
  return {
    db,
    async drop() {
      await db.close()
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch((e: unknown) => console.warn(`could not drop ${name}: ${(e as Error).message}`))
      await admin.end()
    },
  }
}
