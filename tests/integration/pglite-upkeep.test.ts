import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { openDatabase, type Database } from '../../adapters/db/database.ts'
import { createUpkeep, scheduleUpkeep, type UpkeepPass } from '../../adapters/db/pglite-upkeep.ts'
import { newId } from '../../core/ids.ts'

/**
 * The embedded database's upkeep (adapters/db/pglite-upkeep.ts): autovacuum's rules applied to
 * PostgreSQL's own counters, on the app's schema. The symptom it mends: without statistics, the
 * statement that settles a turn's two messages by id read every message of the organization.
 */
describe('embedded database upkeep', () => {
  let db: Database
  const organizationId = newId()
  const ids: string[] = []
  // PostgreSQL publishes a session's table counters about a second after a change; this asks for it now.
  const flushCounters = () => db.runner.query('SELECT pg_stat_force_next_flush()')
  const counters = async (table: string) =>
    (await db.runner.query<{ dead: number; modified: number; analyzed: Date | null; vacuumed: Date | null }>(
      `SELECT n_dead_tup::int AS dead, n_mod_since_analyze::int AS modified, last_analyze AS analyzed, last_vacuum AS vacuumed FROM pg_stat_user_tables WHERE relname = $1`,
      [table],
    ))[0]!

  beforeAll(async () => {
    db = await openDatabase({ dataDir: 'memory://' })
    await db.migrate()
    const inboxId = newId()
    const conversationId = newId()
    await db.runner.query(`INSERT INTO "Organization" (id, name, settings, "createdAt") VALUES ($1, 'Upkeep', '{}', now())`, [organizationId])
    await db.runner.query(`INSERT INTO "Agent" (id, "organizationId", name, instructions, "updatedAt") VALUES ($1, $2, 'Agent', '', now())`, [newId(), organizationId])
    const [agent] = await db.runner.query<{ id: string }>(`SELECT id FROM "Agent" WHERE "organizationId" = $1`, [organizationId])
    await db.runner.query(`INSERT INTO "Inbox" (id, "organizationId", "agentId", channel, name, "publicKey") VALUES ($1, $2, $3, 'webchat', 'Web', $4)`, [inboxId, organizationId, agent!.id, newId()])
    await db.runner.query(`INSERT INTO "Contact" (id, "organizationId", "createdAt") VALUES ($1, $2, now())`, [conversationId, organizationId])
    await db.runner.query(
      `INSERT INTO "Conversation" (id, "organizationId", "inboxId", "agentId", "contactId", "externalThreadId", state, "lastMessageAt", "createdAt") VALUES ($1, $2, $3, $4, $1, 't', 'bot', now(), now())`,
      [conversationId, organizationId, inboxId, agent!.id],
    )
    // A turn's settle statement, prepared while the table was small, as the app's statements are:
    // the plan it keeps (generic, made without the values) is made now, for a table of no rows.
    await db.runner.exec(
      `SET plan_cache_mode = force_generic_plan;
       PREPARE settle_probe(text, text, text) AS UPDATE "Message" SET status = CASE WHEN id = $2 THEN 'done' ELSE 'sent' END WHERE "organizationId" = $1 AND (id = $2 OR id = $3);
       EXECUTE settle_probe('${organizationId}', 'none', 'none');
       RESET plan_cache_mode`,
    )
    for (let i = 0; i < 3000; i++) ids.push(newId())
    await db.runner.query(
      `INSERT INTO "Message" (id, "organizationId", "inboxId", "conversationId", "externalMessageId", direction, author, text, status, "createdAt")
       SELECT id, $2, $3, $4, id, 'in', 'contact', 'hello', 'pending', now() FROM unnest($1::text[]) id`,
      [ids, organizationId, inboxId, conversationId],
    )
  }, 60_000)
  afterAll(async () => {
    await db?.close()
  })

  it('analyzes a table that grew, vacuums one with dead rows, and then leaves both alone', async () => {
    const upkeep = createUpkeep(db.runner)
    await flushCounters()
    expect((await counters('Message')).modified).toBeGreaterThanOrEqual(3000)

    const first = await upkeep.pass()
    expect(first.analyzed).toContain('Message')
    expect(first.vacuumed).not.toContain('Message') // inserts leave no dead rows
    const analyzed = await counters('Message')
    expect(analyzed.analyzed).not.toBeNull()
    expect(analyzed.modified).toBe(0)
    const [stats] = await db.runner.query<{ rows: number }>(`SELECT reltuples::int AS rows FROM pg_class WHERE relname = 'Message'`)
    expect(stats!.rows).toBe(3000)

    // A third of the messages settled: their old versions are dead rows, past 50 + 20% of 3,000.
    await db.runner.query(`UPDATE "Message" SET status = 'done' WHERE id = ANY($1::text[])`, [ids.slice(0, 1000)])
    await flushCounters()
    expect((await counters('Message')).dead).toBe(1000)
    const second = await upkeep.pass()
    expect(second.vacuumed).toEqual(['Message'])
    expect(second.analyzed).toEqual(['Message']) // 1,000 rows changed: past 50 + 10% of 3,000
    expect((await counters('Message')).dead).toBe(0)

    await flushCounters()
    expect(await upkeep.pass()).toEqual({ analyzed: [], vacuumed: [] })
  })

  it('replans a turn’s settle statement for the table as it is: by the messages’ ids, not by reading the organization’s', async () => {
    await createUpkeep(db.runner).pass()
    await db.runner.exec('SET plan_cache_mode = force_generic_plan')
    try {
      const plan = (await db.runner.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF) EXECUTE settle_probe('${organizationId}', '${ids[1500]}', '${ids[1501]}')`))
        .map((r) => r['QUERY PLAN'])
        .join('\n')
      expect(plan).toMatch(/Message_pkey/)
      expect(plan).not.toMatch(/Rows Removed by Filter: [1-9]/)
    } finally {
      await db.runner.exec('RESET plan_cache_mode')
    }
  })

  it('only vacuums the knowledge tables, which the knowledge store analyzes itself', async () => {
    const upkeep = createUpkeep(db.runner, { rules: { analyzeBase: 0, analyzeScale: 0, vacuumBase: 0, vacuumScale: 0 } })
    await db.runner.query(`INSERT INTO "KnowledgeTerm" ("organizationId", term, df) SELECT $1, 'w' || g, 1 FROM generate_series(1, 100) g`, [organizationId])
    await db.runner.query(`UPDATE "KnowledgeTerm" SET df = 2 WHERE "organizationId" = $1`, [organizationId])
    await flushCounters()
    const pass = await upkeep.pass()
    expect(pass.vacuumed).toContain('KnowledgeTerm')
    expect(pass.analyzed).not.toContain('KnowledgeTerm')
    // The chunks' HNSW index makes their VACUUM hold the one connection for seconds: never here.
    expect(pass.vacuumed).not.toContain('KnowledgeChunk')
  })

  it('leaves the work for the next pass while webhook deliveries arrive', async () => {
    let deliveries = true
    const upkeep = createUpkeep(db.runner, { rules: { analyzeBase: 0, analyzeScale: 0, vacuumBase: 0, vacuumScale: 0 }, busy: () => deliveries })
    await db.runner.query(`UPDATE "Message" SET status = 'sent' WHERE id = ANY($1::text[])`, [ids.slice(0, 10)])
    await flushCounters()
    const dead = (await counters('Message')).dead
    expect(dead).toBeGreaterThanOrEqual(10)
    expect(await upkeep.pass()).toEqual({ analyzed: [], vacuumed: [] })
    expect((await counters('Message')).dead).toBe(dead)
    deliveries = false
    expect((await upkeep.pass()).vacuumed).toContain('Message')
    expect((await counters('Message')).dead).toBe(0)
  })

  it('runs passes one at a time on its schedule, and stopping waits for the pass under way', async () => {
    let running = 0
    let most = 0
    let passes = 0
    let release: () => void = () => undefined
    const slow = {
      pass: async (): Promise<UpkeepPass> => {
        running++
        most = Math.max(most, running)
        passes++
        if (passes === 3) await new Promise<void>((r) => (release = r))
        running--
        return { analyzed: [], vacuumed: [] }
      },
    }
    const seen: UpkeepPass[] = []
    const stop = scheduleUpkeep(slow, { everyMs: 5, onPass: (pass) => void seen.push(pass) })
    await vi.waitFor(() => expect(passes).toBe(3), { timeout: 10_000 })
    let stopped = false
    const stopping = stop().then(() => (stopped = true))
    await new Promise((r) => setTimeout(r, 30))
    expect(stopped).toBe(false) // the third pass is still under way
    release()
    await stopping
    expect(passes).toBe(3) // none after the stop
    expect(most).toBe(1)
    expect(seen.length).toBeGreaterThanOrEqual(2)
  })
})
