import type { SqlRunner } from './migrate.ts'

/**
 * What autovacuum does on a PostgreSQL server, for the embedded database, which has none: tables
 * that changed enough get fresh planner statistics (ANALYZE) and their dead row versions reclaimed
 * (VACUUM). Without it PGlite never has statistics for the tables that grow in use (messages,
 * conversations), and the planner guessed: settling a turn's two messages by id picked the index
 * on the organization and read every message it had (3.3 ms at 3,700 messages, against 0.2 ms by
 * the primary key once the table was analyzed). Updated rows (a message's status) were never
 * reclaimed either.
 *
 * A pass reads the counters PostgreSQL keeps per table (pg_stat_user_tables, flushed about a second
 * after a change) and applies autovacuum's own default rules:
 * - ANALYZE when the rows changed since the last one exceed 50 + 10% of the table;
 * - VACUUM when the dead row versions exceed 50 + 20% of the table.
 * The knowledge base's tables are analyzed by the knowledge store itself when their size doubles
 * or halves (an ANALYZE of 100,000 chunks takes about a second): here they are only vacuumed, but
 * for the chunks, whose HNSW index VACUUM repairs around every deleted row (5.4 s for 5,000 of
 * 20,000 chunks), which would hold the one connection, and every turn, for that long.
 *
 * The connection is shared: a pass runs one statement per table, lets the others' statements in
 * between, and stops when `busy()` says webhook deliveries are arriving (the rest is for the next pass).
 */
export type UpkeepPass = { analyzed: string[]; vacuumed: string[] }

const ANALYZED_BY_THE_KNOWLEDGE_STORE = new Set(['KnowledgeChunk', 'KnowledgeSource', 'KnowledgePostingList', 'KnowledgeTerm'])
const NOT_VACUUMED = new Set(['KnowledgeChunk'])
export const UPKEEP_RULES = { analyzeBase: 50, analyzeScale: 0.1, vacuumBase: 50, vacuumScale: 0.2 }

type TableCounters = { name: string; rows: number; dead: number; modified: number }

export function createUpkeep(runner: Pick<SqlRunner, 'exec' | 'query'>, options: { rules?: typeof UPKEEP_RULES; busy?: () => boolean } = {}): { pass(): Promise<UpkeepPass> } {
  const rules = options.rules ?? UPKEEP_RULES
  const busy = options.busy ?? (() => false)
  return {
    async pass() {
      const tables = await runner.query<TableCounters>(
        `SELECT s.relname AS name, greatest(c.reltuples, s.n_live_tup, 0)::float8 AS rows, s.n_dead_tup::float8 AS dead, s.n_mod_since_analyze::float8 AS modified
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
         WHERE s.schemaname = current_schema() ORDER BY s.relname`,
      )
      const done: UpkeepPass = { analyzed: [], vacuumed: [] }
      for (const t of tables) {
        const vacuum = !NOT_VACUUMED.has(t.name) && Number(t.dead) > rules.vacuumBase + rules.vacuumScale * Number(t.rows)
        const analyze = !ANALYZED_BY_THE_KNOWLEDGE_STORE.has(t.name) && Number(t.modified) > rules.analyzeBase + rules.analyzeScale * Number(t.rows)
        if (!vacuum && !analyze) continue
        if (busy()) break
        const table = `"${t.name.replace(/"/g, '""')}"`
        await runner.exec(vacuum ? `VACUUM ${analyze ? '(ANALYZE) ' : ''}${table}` : `ANALYZE ${table}`)
        if (vacuum) done.vacuumed.push(t.name)
        if (analyze) done.analyzed.push(t.name)
      }
      return done
    },
  }
}

/**
 * A pass every `everyMs` (10 s: reading the counters takes about a millisecond, and a table is
 * analyzed or vacuumed only once it changed enough) until the returned function stops it; passes
 * never overlap, and stopping waits for one under way, so the database closes after it.
 */
export function scheduleUpkeep(upkeep: { pass(): Promise<UpkeepPass> }, options: { everyMs?: number; onPass?: (pass: UpkeepPass, ms: number) => void; onError?: (error: unknown) => void } = {}): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  let stopped = false
  const next = () => {
    if (stopped) return
    timer = setTimeout(() => {
      const started = performance.now()
      running = upkeep
        .pass()
        .then((pass) => options.onPass?.(pass, performance.now() - started))
        .catch((error: unknown) => {
          if (!stopped) options.onError?.(error)
        })
        .finally(next)
    }, options.everyMs ?? 10_000)
    timer.unref()
  }
  next()
  return async () => {
    stopped = true
    clearTimeout(timer)
    await running
  }
}
