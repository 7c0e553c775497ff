import { spawn } from 'node:child_process'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../adapters/db/database.ts'
import { ConfigError } from '../../core/config/index.ts'
import { ADMIN_URL, postgresAnswers } from '../support/postgres.ts'

const root = path.resolve(import.meta.dirname, '../..')
const answers = await postgresAnswers('the start-up check of a PostgreSQL without pgvector')
/** A server that has pgvector has nothing to refuse: the check is for one that lacks it. */
async function vectorAvailable(): Promise<boolean> {
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  try {
    return (await admin.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).rows.length > 0
  } finally {
    await admin.end()
  }
}
const hasVector = answers ? await vectorAvailable() : false

/**
 * This machine's PostgreSQL has no pgvector (Debian does not package it). Pointing DATABASE_URL at
 * it must end the start with a message that names the fix, before any migration, not a stack trace.
 */
describe.skipIf(!answers || hasVector)('a PostgreSQL without pgvector', () => {
  const name = `sbtest_nopgv_${process.pid}_${Date.now().toString(36)}`
  let url: string

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: ADMIN_URL })
    await admin.connect()
    await admin.query(`CREATE DATABASE "${name}"`)
    await admin.end()
    const u = new URL(ADMIN_URL)
    u.pathname = `/${name}`
    url = u.toString()
  })
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: ADMIN_URL })
    await admin.connect()
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined)
    await admin.end()
  })

  it('migrating refuses with a ConfigError naming the fix, and creates no table', async () => {
    const db = await openDatabase({ databaseUrl: url, dataDir: 'memory://' })
    try {
      const error = await db.migrate().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as Error).message).toMatch(/no pgvector extension/)
      expect((error as Error).message).toMatch(/leave DATABASE_URL unset/)
      expect((error as Error).message).toMatch(/set KNOWLEDGE_VECTORS=off to search knowledge by words only/)
    } finally {
      await db.close()
    }
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    const tables = await client.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'")
    await client.end()
    expect(tables.rows[0].n).toBe(0)
  })

  it('the server ends at once with exit code 78 and the message, without a stack trace', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bots/server.ts'], { cwd: root, env: { ...process.env, DATABASE_URL: url, KNOWLEDGE_VECTORS: '', DATA_DIR: 'memory://', PORT: '0', LOG_LEVEL: 'warn', REDIS_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(code).toBe(78)
    expect(stderr).toContain('no pgvector extension')
    expect(stderr).toContain('KNOWLEDGE_VECTORS=off')
    expect(stderr).not.toMatch(/\n\s+at /)
  }, 60_000)
})
