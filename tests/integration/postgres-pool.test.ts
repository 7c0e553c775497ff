import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../adapters/db/database.ts'
import { migrate } from '../../adapters/db/migrate.ts'
import { ADMIN_URL, postgresAnswers } from '../support/postgres.ts'

const available = await postgresAnswers('the PostgreSQL pool tests')

// Start-up takes the migration lock, then migrates through the pool. With a pool of one client the
// lock must not hold that client, or the migration waits for it forever.
describe.skipIf(!available)('PostgreSQL with a pool of one connection', () => {
  const name = `sbtest_pool_${process.pid}_${Date.now().toString(36)}`
  let dir: string
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  beforeAll(async () => {
    await admin.connect()
    await admin.query(`CREATE DATABASE "${name}"`)
    dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-migrations-'))
    await mkdir(path.join(dir, '20260101000000_first'))
    await writeFile(path.join(dir, '20260101000000_first', 'migration.sql'), 'CREATE TABLE "Probe" ("id" TEXT PRIMARY KEY);')
  })
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined)
    await admin.end()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('migrates with ?connection_limit=1 instead of hanging, and the pool still serves queries', async () => {
    const url = new URL(ADMIN_URL)
    url.pathname = `/${name}`
    url.searchParams.set('connection_limit', '1')
    const db = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory://' })
    try {
      const outcome = await Promise.race([migrate(db.runner, dir), new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000))])
      expect(outcome).toEqual(['20260101000000_first'])
      expect(await db.runner.query('SELECT count(*)::int AS n FROM "Probe"')).toEqual([{ n: 0 }])
      // The lock's own connection is gone after start-up: only the pool's one client remains.
      expect(await db.runner.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name])).toEqual([{ n: 1 }])
    } finally {
      await db.close()
    }
  })

  it('refuses a pool size that is not a whole number from 1 to 1000, naming the setting', async () => {
    await expect(openDatabase({ databaseUrl: `${ADMIN_URL}?connection_limit=0`, dataDir: 'memory://' })).rejects.toThrow(/connection_limit must be a whole number from 1 to 1000, not "0"/)
  })
})
