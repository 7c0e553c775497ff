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

/** How the migrations treat what needs pgvector (KNOWLEDGE_VECTORS). */
export type VectorMode = 'on' | 'off'

/** The vector statements a migration left out while KNOWLEDGE_VECTORS=off, applied when it is on again. */
const DEFERRED = '_switchboard_deferred_vector_steps'

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`

/**
 * Splits SQL into its statements at the semicolons outside quotes, identifiers, comments and
 * dollar-quoted bodies. Each statement keeps its text (comments included), without the semicolon.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = []
  let start = 0
  let i = 0
  while (i < sql.length) {
    const c = sql[i]!
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i)
      i = end < 0 ? sql.length : end + 1
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2)
      i = end < 0 ? sql.length : end + 2
    } else if (c === "'" || c === '"') {
      let j = i + 1
      for (;;) {
        const k = sql.indexOf(c, j)
        if (k < 0) {
          j = sql.length
          break
        }
        if (sql[k + 1] === c) j = k + 2
        else {
          j = k + 1
          break
        }
      }
      i = j
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i, i + 64)) && !/[\w$]/.test(sql[i - 1] ?? '')) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64))![0]
      const end = sql.indexOf(tag, i + tag.length)
      i = end < 0 ? sql.length : end + tag.length
    } else if (c === ';') {
      out.push(sql.slice(start, i))
      i += 1
      start = i
    } else i += 1
  }
  out.push(sql.slice(start))
  return out.filter((s) => stripComments(s).trim())
}

const stripComments = (sql: string) => sql.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '')
/** The type of pgvector, its index methods, or the embedding column (also in an index's name). */
const NEEDS_VECTORS = /(?<![\w])vector\b|\bhnsw\b|\bivfflat\b|embedding/i
/** A column of pgvector's type in CREATE TABLE: `"embedding" vector(128),` on a line of its own. */
const VECTOR_COLUMN = /^[ \t]*("[^"]+"|\w+)[ \t]+vector(\(\d+\))?\b([^,\n]*)(,?)[ \t]*$/gim

/**
 * A migration's SQL split in two: what runs without pgvector, and what needs it (the extension,
 * columns of its type, HNSW and IVFFlat indexes, anything about the embedding column). A vector
 * column of a new table is left out of the CREATE TABLE and added by ALTER TABLE among the vector
 * steps, so applying the two halves in order gives the same schema as applying the migration.
 * A statement that needs vectors in another way, inside one that must run without them, stops here.
 */
export function separateVectorSteps(name: string, sql: string): { lexical: string; vector: string } {
  const lexical: string[] = []
  const vector: string[] = []
  for (const statement of splitStatements(sql)) {
    const code = stripComments(statement)
    if (!NEEDS_VECTORS.test(code)) {
      lexical.push(statement)
      continue
    }
    const table = /^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?("[^"]+"|\w+)/i.exec(code)
    if (!table) {
      vector.push(statement)
      continue
    }
    const added: string[] = []
    const rest = statement.replace(VECTOR_COLUMN, (line, column: string, dims: string | undefined, extra: string, comma: string) => {
      if (!comma) throw new Error(`Migration ${name}: the vector column ${column} of ${table[1]} must not be the last line of its CREATE TABLE (it is left out when KNOWLEDGE_VECTORS=off)`)
      added.push(`ALTER TABLE ${table[1]} ADD COLUMN ${column} vector${dims ?? ''}${extra.trimEnd()}`)
      return ''
    })
    if (NEEDS_VECTORS.test(stripComments(rest).replace(/"[^"]*embedding[^"]*"/gi, ''))) throw new Error(`Migration ${name}: ${table[1]} needs pgvector in a way that cannot be left out when KNOWLEDGE_VECTORS=off`)
    lexical.push(rest)
    vector.push(...added)
  }
  const join = (list: string[]) => (list.length ? `${list.map((s) => s.trim()).join(';\n')};\n` : '')
  return { lexical: join(lexical), vector: join(vector) }
}

/**
 * Applies the SQL migrations in prisma/migrations that are not yet applied, each in its own
 * transaction, and records them in `_prisma_migrations` exactly as `prisma migrate deploy` does,
 * so either tool can take over. Returns the names it applied.
 *
 * With `vectors: 'off'` what needs pgvector (separateVectorSteps) is left out and kept in
 * `_switchboard_deferred_vector_steps`; the first run with vectors on applies it first, in the
 * migrations' order, which needs pgvector on the server by then.
 */
export async function migrate(db: SqlRunner, dir = MIGRATIONS_DIR, options: { vectors?: VectorMode } = {}): Promise<string[]> {
  const vectors = options.vectors ?? 'on'
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
    if (vectors === 'off') await db.exec(`CREATE TABLE IF NOT EXISTS "${DEFERRED}" ("migration_name" VARCHAR(255) PRIMARY KEY NOT NULL, "sql" TEXT NOT NULL, "deferred_at" TIMESTAMPTZ NOT NULL DEFAULT now())`)
    else await applyDeferredVectorSteps(db)
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
      let sql = m.sql
      let logs = 'NULL'
      let deferred = ''
      if (vectors === 'off') {
        const parts = separateVectorSteps(m.name, m.sql)
        sql = parts.lexical
        if (parts.vector) {
          logs = quote('pgvector steps deferred (KNOWLEDGE_VECTORS=off)')
          deferred = `INSERT INTO "${DEFERRED}" (migration_name, sql) VALUES (${quote(m.name)}, ${quote(parts.vector)});\n`
        }
      }
      await db.exec(`BEGIN;\n${sql}\n;${deferred}INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, applied_steps_count) VALUES ('${randomUUID()}', '${m.checksum}', now(), ${quote(m.name)}, ${logs}, 1);\nCOMMIT;`).catch(async (error) => {
        await db.exec('ROLLBACK').catch(() => undefined)
        throw new Error(`Migration ${m.name} failed: ${(error as Error).message}`)
      })
      done.push(m.name)
    }
    return done
  })
}

/** The vector steps that migrations left out while KNOWLEDGE_VECTORS=off, applied in order; each migration's in one transaction. */
async function applyDeferredVectorSteps(db: SqlRunner): Promise<void> {
  const [exists] = await db.query<{ t: string | null }>(`SELECT to_regclass('"${DEFERRED}"')::text AS t`)
  if (!exists?.t) return
  const steps = await db.query<{ migration_name: string; sql: string }>(`SELECT migration_name, sql FROM "${DEFERRED}" ORDER BY migration_name`)
  for (const step of steps) {
    await db.exec(`BEGIN;\n${step.sql}\n;DELETE FROM "${DEFERRED}" WHERE migration_name = ${quote(step.migration_name)};\nCOMMIT;`).catch(async (error) => {
      await db.exec('ROLLBACK').catch(() => undefined)
      throw new Error(`Adding the vector search of migration ${step.migration_name} (it was applied with KNOWLEDGE_VECTORS=off) failed: ${(error as Error).message}`)
    })
  }
  await db.exec(`DROP TABLE "${DEFERRED}"`)
}

/** Whether migrations left vector steps for later (the database was migrated with KNOWLEDGE_VECTORS=off). */
export async function hasDeferredVectorSteps(db: SqlRunner): Promise<boolean> {
  const [exists] = await db.query<{ t: string | null }>(`SELECT to_regclass('"${DEFERRED}"')::text AS t`)
  if (!exists?.t) return false
  return (await db.query(`SELECT 1 FROM "${DEFERRED}" LIMIT 1`)).length > 0
}
