import { spawn } from 'node:child_process'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../../adapters/db/database.ts'
import { hasDeferredVectorSteps, migrate, readMigrations, separateVectorSteps } from '../../adapters/db/migrate.ts'
import { ConfigError } from '../../core/config/index.ts'
import type { Embedder } from '../../core/ports.ts'
import { freePort, ROOT } from '../support/main-process.ts'
import { ADMIN_URL, postgresAnswers } from '../support/postgres.ts'
import { api, createOrg, startTestApp, TELEGRAM_DOC, BILLING_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

/** The schema as PostgreSQL describes it, in an order that does not depend on how it was built. */
async function schemaOf(db: Database) {
  const columns = await db.runner.query<{ t: string; c: string; type: string; nullable: string }>(
    `SELECT table_name AS t, column_name AS c, format_type(a.atttypid, a.atttypmod) AS type, is_nullable AS nullable
     FROM information_schema.columns i JOIN pg_attribute a ON a.attrelid = ('"' || i.table_name || '"')::regclass AND a.attname = i.column_name
     WHERE i.table_schema = 'public' AND i.table_name NOT LIKE '\\_%' ORDER BY 1, 2`,
  )
  const indexes = await db.runner.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE '\\_%' ORDER BY indexname`)
  const extensions = await db.runner.query<{ extname: string }>(`SELECT extname FROM pg_extension ORDER BY 1`)
  return { columns, indexes: indexes.map((i) => i.indexdef), extensions: extensions.map((e) => e.extname) }
}

describe('migrations with KNOWLEDGE_VECTORS=off', () => {
  it('separate every statement that needs pgvector from the rest, and refuse what they cannot separate', async () => {
    for (const m of await readMigrations()) {
      const { lexical, vector } = separateVectorSteps(m.name, m.sql)
      const code = lexical.replace(/--[^\n]*/g, '')
      expect(code, m.name).not.toMatch(/(?<!\w)vector\b|hnsw|embedding/i)
      if (m.name.endsWith('_init')) {
        expect(vector).toContain('CREATE EXTENSION IF NOT EXISTS vector')
        expect(vector).toContain('ALTER TABLE "KnowledgeChunk" ADD COLUMN "embedding" vector')
        expect(code).toContain('"tsv" tsvector')
      }
    }
    expect(() => separateVectorSteps('x', 'CREATE TABLE "T" (\n  "id" TEXT NOT NULL,\n  "e" vector(3)\n);')).toThrow(/must not be the last line/)
    expect(() => separateVectorSteps('x', 'CREATE TABLE "T" ("id" TEXT, "e" vector(3));')).toThrow(/cannot be left out/)
    // Semicolons inside strings, identifiers and dollar quotes do not split a statement.
    const tricky = separateVectorSteps('x', `INSERT INTO "a;b" VALUES ('x;y');\nDO $$ BEGIN PERFORM 1; END $$;\nCREATE INDEX i ON t USING hnsw (e vector_cosine_ops);`)
    expect(tricky.lexical).toBe(`INSERT INTO "a;b" VALUES ('x;y');\nDO $$ BEGIN PERFORM 1; END $$;\n`)
    expect(tricky.vector).toBe('CREATE INDEX i ON t USING hnsw (e vector_cosine_ops);\n')
  })

  it('leave pgvector out (PGlite), and switching vectors on later applies what was left out: the same schema as migrating with vectors', async () => {
    const off = await openDatabase({ dataDir: 'memory://', vectors: 'off' })
    const reference = await openDatabase({ dataDir: 'memory://' })
    try {
      const names = (await readMigrations()).map((m) => m.name)
      expect(await off.migrate()).toEqual(names)
      const lexical = await schemaOf(off)
      expect(lexical.extensions).not.toContain('vector')
      expect(lexical.columns.find((c) => c.t === 'KnowledgeChunk' && c.c === 'embedding')).toBeUndefined()
      expect(await hasDeferredVectorSteps(off.runner)).toBe(true)
      const logs = await off.runner.query<{ migration_name: string; logs: string | null }>(`SELECT migration_name, logs FROM "_prisma_migrations" WHERE logs IS NOT NULL ORDER BY 1`)
      expect(logs.map((l) => l.migration_name)).toEqual(names.filter((n) => /_init$|_knowledge_posting_lists$/.test(n)))
      // The next start with vectors on (what openDatabase's migrate does on a server with pgvector).
      expect(await migrate(off.runner, undefined, { vectors: 'on' })).toEqual([])
      expect(await hasDeferredVectorSteps(off.runner)).toBe(false)
      await reference.migrate()
      const switched = await schemaOf(off)
      expect(switched).toEqual(await schemaOf(reference))
      expect(switched.indexes.some((i) => i.includes('KnowledgeChunk_embedding_128_idx'))).toBe(true)
      expect(switched.indexes.some((i) => i.includes('KnowledgeChunk_embedding_384_idx'))).toBe(false)
    } finally {
      await off.close()
      await reference.close()
    }
  }, 120_000)
})

const answers = await postgresAnswers('knowledge search with KNOWLEDGE_VECTORS=off on PostgreSQL')

/** An embedder that must never be asked: with vectors off, no embedding model is called. */
function refusingEmbedder(): Embedder & { calls: number } {
  const e = {
    name: 'refusing',
    dimensions: 8,
    searchWeight: 1,
    calls: 0,
    embed: async () => {
      e.calls += 1
      throw new Error('an embedding was asked for with KNOWLEDGE_VECTORS=off')
    },
  }
  return e
}

describe.skipIf(!answers)('KNOWLEDGE_VECTORS=off on the machine\'s PostgreSQL (no pgvector)', () => {
  const name = `sbtest_lexical_${process.pid}_${Date.now().toString(36)}`
  let url: string
  let t: TestApp
  let acme: TestOrg
  let globex: TestOrg
  const embedder = refusingEmbedder()

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: ADMIN_URL })
    await admin.connect()
    await admin.query(`CREATE DATABASE "${name}"`)
    await admin.end()
    const u = new URL(ADMIN_URL)
    u.pathname = `/${name}`
    url = u.toString()
    t = await startTestApp({ env: { DATABASE_URL: url, KNOWLEDGE_VECTORS: 'off' }, overrides: { embedder } })
    acme = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC, BILLING_DOC] })
    globex = await createOrg(t, { name: 'Globex', docs: [{ title: 'Returns', content: '# Returns\n\nParcels can be returned within 30 days with the original receipt.' }] })
  }, 120_000)
  afterAll(async () => {
    await t?.close()
    const admin = new pg.Client({ connectionString: ADMIN_URL })
    await admin.connect()
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined)
    await admin.end()
  })

  it('indexes and searches by words only, without calling an embedder, within the organization', async () => {
    const found = await t.app.knowledge.search({ organizationId: acme.organizationId, agentId: null, query: 'How do I connect a Telegram bot?' })
    expect(found.relevant).toBe(true)
    expect(found.passages[0]).toMatchObject({ title: 'Channels', heading: expect.stringContaining('Connecting a Telegram bot'), vectorRank: null, similarity: null, ftsRank: 1 })
    expect(found.passages[0]!.text).toContain('@BotFather')
    const plans = await t.app.knowledge.search({ organizationId: acme.organizationId, agentId: acme.agentId, query: 'responses in the Basic plan' })
    expect(plans.passages[0]?.title).toBe('Billing')
    // Another organization's knowledge is not searched.
    const other = await t.app.knowledge.search({ organizationId: globex.organizationId, agentId: null, query: 'How do I connect a Telegram bot?' })
    expect(other.passages.every((p) => p.title !== 'Channels')).toBe(true)
    expect((await t.app.knowledge.search({ organizationId: globex.organizationId, agentId: null, query: 'return a parcel' })).passages[0]?.title).toBe('Returns')
    expect(embedder.calls).toBe(0)
    const [chunks] = await t.app.db.runner.query<{ n: number; embedders: string[] }>(`SELECT count(*)::int AS n, array_agg(DISTINCT embedder) AS embedders FROM "KnowledgeChunk"`)
    expect(chunks!.n).toBeGreaterThan(2)
    expect(chunks!.embedders).toEqual(['none'])
  })

  it('a web chat question is answered from the knowledge', async () => {
    const res = await api(t, `/api/v1/webchat/${acme.webchatKey}/messages`, { body: { sessionId: 'lexical-1', text: 'How many responses does the Basic plan include?' } })
    expect(res.status).toBe(200)
    expect(res.json.messages[0].text).toContain('5,000 responses')
    expect(embedder.calls).toBe(0)
  })

  it('says so in /readyz, in the admin API the Knowledge page reads, and in the log at start', async () => {
    const ready = await api(t, '/readyz')
    expect(ready.json).toEqual({ status: 'ready', knowledge: { semantic: false, mode: 'lexical', reason: expect.stringMatching(/^Semantic search off: KNOWLEDGE_VECTORS=off/) } })
    const mode = await api(t, '/api/v1/knowledge/search-mode', { token: acme.token })
    expect(mode.json).toMatchObject({ semantic: false, mode: 'lexical' })
    expect((await api(t, '/api/v1/knowledge/search-mode')).status).toBe(401)
    expect(t.logs.text()).toContain('Semantic search off: KNOWLEDGE_VECTORS=off')
  })

  it('switching vectors on while the server still has no pgvector is refused with the fix named, and changes nothing', async () => {
    const db = await openDatabase({ databaseUrl: url, dataDir: 'memory://' })
    try {
      const error = await db.migrate().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as Error).message).toMatch(/Install pgvector on that server/)
      expect((error as Error).message).toMatch(/KNOWLEDGE_VECTORS=off/)
      expect(await hasDeferredVectorSteps(db.runner)).toBe(true)
    } finally {
      await db.close()
    }
  })

  it('bots/server.ts starts on it with KNOWLEDGE_VECTORS=off and says so', async () => {
    const port = await freePort()
    const child = spawn(process.execPath, ['--import', 'tsx', 'bots/server.ts'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: url, KNOWLEDGE_VECTORS: 'off', DATA_DIR: 'memory://', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', REDIS_URL: '', OPENAI_API_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    try {
      const deadline = Date.now() + 60_000
      while (!out.includes('Switchboard server is listening')) {
        if (child.exitCode !== null) throw new Error(`exited early:\n${out}`)
        if (Date.now() > deadline) throw new Error(`did not start in time:\n${out}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(out).toContain('Semantic search off: KNOWLEDGE_VECTORS=off')
      expect(out).toMatch(/"knowledgeSearch":"lexical".*Switchboard server is listening/)
      const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { knowledge: { mode: string } }
      expect(ready.knowledge.mode).toBe('lexical')
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
    }
  }, 90_000)
})
