import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The smallest surface the migrator needs from a database driver. */
export type SqlRunner = {
  /** Runs one or more statements without parameters. */
  exec(sql: string): Promise<void>
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  /** Runs fn while holding a lock that other processes migrating the same database wait for. */
  withLock<T>(fn: () => Promise<T>): Promise<T>
}

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prisma/migrations')

type Migration = { name: string; sql: string; checksum: string }

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8')
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
    }),
  )
}

/**
 * Applies the SQL migrations in prisma/migrations that are not yet applied, each in its own
 * transaction, and records them in `_prisma_migrations` exactly as `prisma migrate deploy` does,
 * so either tool can take over. Returns the names it applied.
 */
export async function migrate(db: SqlRunner, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(dir)
  return db.withLock(async () => {
    await db.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`)
    const rows = await db.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`,
    )
    const applied = new Map(rows.map((r) => [r.migration_name, r]))
    const done: string[] = []
    for (const m of migrations) {
      const row = applied.get(m.name)
      if (row) {
        if (!row.finished_at) throw new Error(`Migration ${m.name} started earlier but did not finish; resolve it by hand before starting again`)
        if (row.checksum !== m.checksum) throw new Error(`Migration ${m.name} was changed after it was applied; add a new migration instead`)
        continue
      }
      await db.exec(`BEGIN;\n${m.sql}\n;INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ('${randomUUID()}', '${m.checksum}', now(), '${m.name.replace(/'/g, "''")}', 1);\nCOMMIT;`).catch(async (error) => {
        await db.exec('ROLLBACK').catch(() => undefined)
        throw new Error(`Migration ${m.name} failed: ${(error as Error).message}`)
      })
      done.push(m.name)
    }
    return done
  })
}
