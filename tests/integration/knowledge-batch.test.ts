import { cp, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../../adapters/db/database.ts'
import { migrate, MIGRATIONS_DIR, readMigrations } from '../../adapters/db/migrate.ts'
import { createPrismaStore } from '../../adapters/db/prisma-store.ts'
import { createHashingEmbedder } from '../../adapters/local-ai/hashing-embedder.ts'
import { AppError } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import { createKnowledgeService, INGEST_JOB, SMALL_SOURCE_BURST, type IngestJob } from '../../core/knowledge/knowledge-service.ts'
import type { Embedder, JobOptions, Queue, Store } from '../../core/ports.ts'
import { ADMIN_URL, postgresAnswers } from '../support/postgres.ts'

/**
 * Many small sources: one ingest job takes the organization's other queued small sources with it.
 * The queue here only records jobs, so which job runs when is up to the test, not to timing.
 */
describe('knowledge ingestion of many small sources', () => {
  let db: Database
  let store: Store
  beforeAll(async () => {
    db = await openDatabase({ dataDir: 'memory://' })
    await db.migrate()
    store = createPrismaStore(db)
  })
  afterAll(async () => db.close())

  type Call = { method: string; sources?: number; texts?: number }
  function setup(input: { cap?: number; batch?: { sources: number; sourceBytes: number }; embedder?: Embedder } = {}) {
    const jobs: { name: string; data: IngestJob; options?: JobOptions }[] = []
    const queue: Queue = {
      kind: 'in-process',
      add: async (name, data, options) => {
        if (!jobs.some((j) => j.options?.jobId && j.options.jobId === options?.jobId)) jobs.push({ name, data: data as IngestJob, options })
      },
      process: () => undefined,
      depth: async () => jobs.length,
      cancel: async (name, jobIds) => {
        const before = jobs.length
        jobs.splice(0, jobs.length, ...jobs.filter((j) => !(j.name === name && j.options?.jobId && jobIds.includes(j.options.jobId))))
        return before - jobs.length
      },
      ping: async () => undefined,
      close: async () => undefined,
    }
    // Counts the calls that cost statements or embedding requests.
    const calls: Call[] = []
    const knowledge: Store['knowledge'] = {
      ...store.knowledge,
      claimSources: async (i) => {
        const claimed = await store.knowledge.claimSources(i)
        calls.push({ method: 'claimSources', sources: claimed.length })
        return claimed
      },
      indexSources: async (i) => {
        calls.push({ method: 'indexSources', sources: i.sources.length })
        return store.knowledge.indexSources(i)
      },
      updateSource: async (...args) => {
        calls.push({ method: 'updateSource' })
        return store.knowledge.updateSource(...args)
      },
    }
    const base = input.embedder ?? createHashingEmbedder()
    const embedder: Embedder = { ...base, embed: async (texts) => (calls.push({ method: 'embed', texts: texts.length }), base.embed(texts)) }
    const events: { sourceId: string; status: string | null; progress: number | null }[] = []
    const service = createKnowledgeService({
      store: { ...store, knowledge },
      embedder,
      queue,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never,
      ...(input.batch ? { ingestBatch: input.batch } : {}),
      ...(input.cap !== undefined
        ? {
            checkChunkCap: async ({ adding, current }: { adding: number; current: number }) => {
              if (current + adding > input.cap!) throw new AppError('quota_exceeded', `The plan allows ${input.cap} passages`, 402)
            },
          }
        : {}),
      events: { publish: async (_organizationId: string, event: { type: string }) => void events.push(event as never) } as never,
    })
    const run = async () => {
      for (const job of jobs.splice(0)) if (job.name === INGEST_JOB) await service.processSource(job.data)
    }
    return { service, jobs, calls, events, run }
  }

  async function organization(name: string) {
    const id = newId()
    await db.prisma.organization.create({ data: { id, name } })
    return id
  }
  const paragraph = (i: number) => `Paragraph ${i} is about the harbour crane number ${i} and the ferry timetable of pier ${i % 7}.`

  it('one job indexes every queued small source: one claim, one transaction, shared embedding batches; the other jobs are cancelled', async () => {
    const org = await organization('Many')
    const { service, jobs, calls, events, run } = setup()
    const added = []
    for (let i = 0; i < 40; i++) added.push(await service.addSource({ organizationId: org, agentId: null, title: `Note ${i}`, kind: 'text', content: paragraph(i), uri: `note/${i}` }))
    expect(jobs).toHaveLength(40)
    // The first source's job may start at once; those added right after it wait, so that one job takes them together.
    expect(jobs.map((j) => j.options?.delayMs ?? 0)).toEqual(added.map((_, i) => (i === 0 ? 0 : SMALL_SOURCE_BURST.waitMs)))
    await service.processSource(jobs.shift()!.data)
    // 40 sources of one chunk each: one claim, one write, two embedding requests (32 + 8), no progress writes in between.
    expect(calls.filter((c) => c.method === 'claimSources')).toEqual([{ method: 'claimSources', sources: 40 }])
    expect(calls.filter((c) => c.method === 'indexSources')).toEqual([{ method: 'indexSources', sources: 40 }])
    expect(calls.filter((c) => c.method === 'embed').map((c) => c.texts)).toEqual([32, 8])
    expect(calls.filter((c) => c.method === 'updateSource')).toHaveLength(0)
    const sources = await store.knowledge.listSources(org)
    expect(sources.map((s) => [s.status, s.progress, s.chunkCount])).toEqual(added.map(() => ['ready', 100, 1]))
    // Every source's status went out live: processing, then ready.
    for (const s of added) expect(events.filter((e) => e.sourceId === s.id).map((e) => e.status)).toEqual(['queued', 'processing', 'ready'])
    // The other 39 jobs are gone from the queue: none of them runs.
    expect(jobs).toHaveLength(0)
    calls.length = 0
    await run()
    expect(calls).toEqual([])
    expect(await store.knowledge.countChunks(org)).toBe(40)
    const found = await service.search({ organizationId: org, agentId: null, query: 'harbour crane number 17', limit: 3 })
    expect(found.passages[0]?.sourceId).toBe(added[17]!.id)
  })

  it('a claim takes only its own organization\'s sources, at most the batch size, oldest first', async () => {
    const mine = await organization('Mine')
    const theirs = await organization('Theirs')
    const { service, jobs, calls, run } = setup({ batch: { sources: 5, sourceBytes: 64 * 1024 } })
    for (let i = 0; i < 3; i++) await service.addSource({ organizationId: theirs, agentId: null, title: `Theirs ${i}`, kind: 'text', content: paragraph(i) })
    const jobsOfTheirs = jobs.splice(0)
    for (let i = 0; i < 12; i++) await service.addSource({ organizationId: mine, agentId: null, title: `Mine ${i}`, kind: 'text', content: paragraph(i) })
    await run()
    expect(calls.filter((c) => c.method === 'indexSources').map((c) => c.sources)).toEqual([5, 5, 2])
    expect((await store.knowledge.listSources(mine)).every((s) => s.status === 'ready')).toBe(true)
    expect((await store.knowledge.listSources(theirs)).every((s) => s.status === 'queued')).toBe(true)
    expect(await store.knowledge.countChunks(theirs)).toBe(0)
    jobs.push(...jobsOfTheirs)
    await run()
    expect((await store.knowledge.listSources(theirs)).every((s) => s.status === 'ready')).toBe(true)
    expect(await store.knowledge.countChunks(mine)).toBe(12)
    expect(await store.knowledge.countChunks(theirs)).toBe(3)
  })

  it('a source too large for a batch is processed alone, with its progress; small ones are left to their own claim', async () => {
    const org = await organization('Large')
    const { service, jobs, calls, run } = setup({ batch: { sources: 50, sourceBytes: 2000 } })
    const large = await service.addSource({ organizationId: org, agentId: null, title: 'Handbook', kind: 'markdown', content: Array.from({ length: 40 }, (_, i) => `## Part ${i}\n\n${paragraph(i)}`).join('\n\n') })
    for (let i = 0; i < 3; i++) await service.addSource({ organizationId: org, agentId: null, title: `Small ${i}`, kind: 'text', content: paragraph(i) })
    await service.processSource(jobs.shift()!.data)
    expect(calls.find((c) => c.method === 'claimSources')).toEqual({ method: 'claimSources', sources: 1 })
    expect(calls.filter((c) => c.method === 'updateSource').length).toBeGreaterThan(0) // progress while embedding
    expect((await store.knowledge.getSource(org, large.id))!.status).toBe('ready')
    calls.length = 0
    await run()
    expect(calls.filter((c) => c.method === 'indexSources').map((c) => c.sources)).toEqual([3])
    expect((await store.knowledge.listSources(org)).map((s) => s.status)).toEqual(['ready', 'ready', 'ready', 'ready'])
  })

  it('in a batch, each source keeps its own outcome: an empty one fails, those over the chunk cap fail with its reason, the rest are ready', async () => {
    const org = await organization('Capped')
    const { service, jobs, run } = setup({ cap: 3 })
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await service.addSource({ organizationId: org, agentId: null, title: `Source ${i}`, kind: i === 1 ? 'markdown' : 'text', content: i === 1 ? '# Only a heading' : paragraph(i) })).id)
    expect(jobs).toHaveLength(5)
    await run()
    const byId = new Map((await store.knowledge.listSources(org)).map((s) => [s.id, s]))
    expect(ids.map((id) => byId.get(id)!.status)).toEqual(['ready', 'failed', 'ready', 'ready', 'failed'])
    expect(byId.get(ids[1]!)!.error).toMatch(/no text to index/)
    expect(byId.get(ids[4]!)!.error).toMatch(/allows 3 passages/)
    expect(byId.get(ids[4]!)!.chunkCount).toBe(0)
    expect(await store.knowledge.countChunks(org)).toBe(3)
  })

  it('an embedder that fails fails the whole claim and the job is tried again; the other sources are tried again by their own jobs', async () => {
    const org = await organization('Flaky')
    let failures = 1
    const base = createHashingEmbedder()
    const flaky: Embedder = { ...base, embed: async (texts) => (failures-- > 0 ? Promise.reject(new Error('embeddings API down')) : base.embed(texts)) }
    const { service, jobs, run } = setup({ embedder: flaky })
    for (let i = 0; i < 3; i++) await service.addSource({ organizationId: org, agentId: null, title: `Flaky ${i}`, kind: 'text', content: paragraph(i) })
    const first = jobs.shift()!
    await expect(service.processSource(first.data)).rejects.toThrow(/embeddings API down/)
    expect((await store.knowledge.listSources(org)).map((s) => [s.status, s.chunkCount])).toEqual([['failed', 0], ['failed', 0], ['failed', 0]])
    await service.processSource(first.data) // the queue's retry
    expect((await store.knowledge.listSources(org)).map((s) => s.status)).toEqual(['ready', 'failed', 'failed'])
    await run()
    expect((await store.knowledge.listSources(org)).map((s) => s.status)).toEqual(['ready', 'ready', 'ready'])
    expect(await store.knowledge.countChunks(org)).toBe(3)
  })

  it('content added again while a batch runs is not marked ready with the old chunks: its own job indexes it', async () => {
    const org = await organization('Changed')
    const { service, jobs, run } = setup()
    const source = await service.addSource({ organizationId: org, agentId: null, title: 'Tariffs', kind: 'text', content: 'The old tariff is five euros.', uri: 'tariffs' })
    const [claimed] = await store.knowledge.claimSources({ organizationId: org, sourceId: source.id, limit: 10, maxBytes: 65536, progress: 5 })
    await service.addSource({ organizationId: org, agentId: null, title: 'Tariffs', kind: 'text', content: 'The new tariff is seven euros.', uri: 'tariffs' })
    const written = await store.knowledge.indexSources({
      organizationId: org,
      embedder: 'none',
      dimensions: 0,
      sources: [{ sourceId: source.id, title: 'Tariffs', checksum: claimed!.source.checksum, chunks: [{ ordinal: 0, heading: '', text: 'The old tariff is five euros.', language: 'english', embedding: null }], outcome: { status: 'ready', dropContent: false } }],
    })
    expect(written).toEqual([])
    expect((await store.knowledge.getSource(org, source.id))!.status).toBe('queued')
    expect(jobs).toHaveLength(2)
    await run()
    expect((await store.knowledge.getSource(org, source.id))!.status).toBe('ready')
    const found = await service.search({ organizationId: org, agentId: null, query: 'tariff euros', limit: 3 })
    expect(found.passages.map((p) => p.text)).toEqual(['The new tariff is seven euros.'])
  })

  it('a source is added, with its audit record, in one statement; added again under its URI it is the same source', async () => {
    const org = await organization('Added')
    const other = await organization('Other')
    const { service, jobs } = setup()
    const audit = async () => (await db.prisma.auditEvent.findMany({ where: { organizationId: org, action: 'knowledge.source.added' }, orderBy: { createdAt: 'asc' } })).map((a) => [a.target, a.actorUserId, a.data])
    const statements: string[] = []
    const query = db.runner.query
    db.runner.query = (async (sql: string, params?: unknown[]) => (statements.push(sql), query(sql, params))) as typeof query
    const first = await service.addSource({ organizationId: org, agentId: null, title: 'Tariffs', kind: 'text', content: 'The tariff is five euros.', uri: 'tariffs' }).finally(() => (db.runner.query = query))
    expect(statements).toHaveLength(1)
    expect(first).toMatchObject({ status: 'queued', uri: 'tariffs', title: 'Tariffs' })
    expect(await audit()).toEqual([[first.id, null, { title: 'Tariffs', bytes: 25, kind: 'text' }]])
    expect(jobs.map((j) => j.data.sourceId)).toEqual([first.id])
    // Another organization's source under the same URI is its own.
    const theirs = await service.addSource({ organizationId: other, agentId: null, title: 'Tariffs', kind: 'text', content: 'The tariff is five euros.', uri: 'tariffs' })
    expect(theirs.id).not.toBe(first.id)
    jobs.length = 0
    await service.processSource({ organizationId: org, sourceId: first.id })
    // The same content again: the ready source, nothing written, no job.
    expect(await service.addSource({ organizationId: org, agentId: null, title: 'Tariffs', kind: 'text', content: 'The tariff is five euros.', uri: 'tariffs' })).toMatchObject({ id: first.id, status: 'ready' })
    expect(jobs).toEqual([])
    expect(await audit()).toHaveLength(1)
    // New content: the same source, queued again, audited again.
    const changed = await service.addSource({ organizationId: org, agentId: null, title: 'Tariffs', kind: 'text', content: 'The tariff is seven euros.', uri: 'tariffs' })
    expect(changed).toMatchObject({ id: first.id, status: 'queued' })
    expect(jobs.map((j) => j.data.sourceId)).toEqual([first.id])
    expect((await audit()).map(([target]) => target)).toEqual([first.id, first.id])
    expect((await store.knowledge.listSources(org)).map((s) => s.id)).toEqual([first.id])
  })

  // Posting lists per batch: the sources indexed together share one row per lexeme.
  const postingRows = (org: string) =>
    db.runner.query<{ term: string; batchId: string; sources: string[] | null; ordinals: number[] }>(`SELECT term, "batchId", sources, ordinals FROM "KnowledgePostingList" WHERE "organizationId" = $1 ORDER BY term, "batchId"`, [org])
  const df = async (org: string, term: string) => (await db.prisma.knowledgeTerm.findUnique({ where: { organizationId_term: { organizationId: org, term } } }))?.df ?? 0
  const topics = ['harbour crane', 'ferry timetable', 'lighthouse keeper', 'fish market', 'customs office', 'dry dock']
  const note = (i: number) => `Note ${i} tells how the ${topics[i % topics.length]} works on pier ${i}, and the crane rota of week ${i % 4}.`
  const ranked = async (service: ReturnType<typeof setup>['service'], org: string, query: string, titles: Map<string, string>) =>
    (await service.search({ organizationId: org, agentId: null, query, limit: 50 })).passages.map((p) => [titles.get(p.sourceId), p.bm25?.toFixed(9), p.score.toFixed(9)]).sort()

  it('a batch writes one posting row per lexeme, and search ranks its sources as when each was indexed alone', async () => {
    const batched = await organization('Batched')
    const alone = await organization('Alone')
    const a = setup()
    const b = setup({ batch: { sources: 1, sourceBytes: 64 * 1024 } })
    const titles = new Map<string, string>()
    for (let i = 0; i < 12; i++) {
      titles.set((await a.service.addSource({ organizationId: batched, agentId: null, title: `Note ${i}`, kind: 'text', content: note(i) })).id, `Note ${i}`)
      titles.set((await b.service.addSource({ organizationId: alone, agentId: null, title: `Note ${i}`, kind: 'text', content: note(i) })).id, `Note ${i}`)
    }
    await a.run()
    await b.run()
    expect(a.calls.filter((c) => c.method === 'indexSources').map((c) => c.sources)).toEqual([12])
    const rowsA = await postingRows(batched)
    const rowsB = await postingRows(alone)
    // One batch: each lexeme once, its entries naming their sources; alone: one row per lexeme and source, keyed by the source.
    expect(new Set(rowsA.map((r) => r.batchId)).size).toBe(1)
    expect(rowsA.every((r) => r.sources && r.sources.length === r.ordinals.length && r.sources.every((s) => titles.has(s)))).toBe(true)
    expect(rowsA.map((r) => r.term)).toEqual([...new Set(rowsB.map((r) => r.term))])
    expect(rowsB.every((r) => r.sources === null && titles.has(r.batchId))).toBe(true)
    expect(rowsA.reduce((n, r) => n + r.ordinals.length, 0)).toBe(rowsB.reduce((n, r) => n + r.ordinals.length, 0))
    const crane = rowsA.find((r) => r.term === 'crane')!
    expect(crane.sources).toHaveLength(12)
    expect((await db.runner.query<{ id: string }>(`SELECT id FROM "KnowledgeSource" WHERE "organizationId" = $1 AND "postingBatch" = $2`, [batched, crane.batchId])).length).toBe(12)
    for (const query of ['harbour crane', 'ferry timetable on pier 7', 'crane rota of week 3', 'lighthouse keeper']) {
      const found = await ranked(a.service, batched, query, titles)
      expect(found.length).toBeGreaterThan(0)
      expect(found).toEqual(await ranked(b.service, alone, query, titles))
    }
    // Another organization's batch is never read: each search found its own organization's sources only.
    const own = await a.service.search({ organizationId: batched, agentId: null, query: 'crane', limit: 50 })
    const ids = new Set((await store.knowledge.listSources(batched)).map((s) => s.id))
    expect(own.passages.length).toBe(12)
    expect(own.passages.every((p) => ids.has(p.sourceId))).toBe(true)
  })

  it('a source deleted from a batch leaves no postings: its batch keeps the others, and the statistics return to what they were', async () => {
    const org = await organization('Deleted')
    const { service, run } = setup()
    const ids: string[] = []
    for (let i = 0; i < 6; i++) ids.push((await service.addSource({ organizationId: org, agentId: null, title: `Note ${i}`, kind: 'text', content: note(i) })).id)
    await run()
    const before = { crane: await df(org, 'crane'), lighthouse: await df(org, 'lighthous'), chunks: await store.knowledge.countChunks(org) }
    expect(before).toEqual({ crane: 6, lighthouse: 1, chunks: 6 })
    await service.deleteSource(org, ids[2]!, null) // the only lighthouse note
    const rows = await postingRows(org)
    expect(rows.some((r) => r.batchId === ids[2] || r.sources?.includes(ids[2]!))).toBe(false)
    expect(rows.some((r) => r.term === 'lighthous')).toBe(false)
    expect(rows.every((r) => r.sources!.length === r.ordinals.length && r.sources!.length > 0)).toBe(true)
    expect({ crane: await df(org, 'crane'), lighthouse: await df(org, 'lighthous'), chunks: await store.knowledge.countChunks(org) }).toEqual({ crane: 5, lighthouse: 0, chunks: 5 })
    expect((await service.search({ organizationId: org, agentId: null, query: 'lighthouse keeper', limit: 5 })).passages.map((p) => p.sourceId)).not.toContain(ids[2])
    expect((await service.search({ organizationId: org, agentId: null, query: 'customs office', limit: 5 })).passages[0]?.sourceId).toBe(ids[4])
    for (const id of ids) if (id !== ids[2]) await service.deleteSource(org, id, null)
    expect(await postingRows(org)).toEqual([])
    expect(await db.runner.query(`SELECT term FROM "KnowledgeTerm" WHERE "organizationId" = $1 AND df <> 0`, [org])).toEqual([])
  })

  it('a source of a batch indexed again keeps only its new entries; while it is queued its old ones are never found', async () => {
    const org = await organization('Reindexed')
    const { service, run } = setup()
    const ids: string[] = []
    for (let i = 0; i < 4; i++) ids.push((await service.addSource({ organizationId: org, agentId: null, title: `Note ${i}`, kind: 'text', content: note(i), uri: `note/${i}` })).id)
    await run()
    // The passages found by their words (with only four sources, the vector search returns every one).
    const find = async (query: string) => (await service.search({ organizationId: org, agentId: null, query, limit: 10 })).passages.filter((p) => p.bm25 !== null).map((p) => p.sourceId)
    expect(await find('ferry timetable')).toContain(ids[1])
    await service.addSource({ organizationId: org, agentId: null, title: 'Note 1', kind: 'text', content: 'The tugboat captain keeps the tide tables.', uri: 'note/1' })
    // Queued again: its old entries are still in the batch's rows, and the search leaves them out.
    expect((await store.knowledge.getSource(org, ids[1]!))!.status).toBe('queued')
    expect(await find('ferry timetable')).not.toContain(ids[1])
    expect(await find('crane rota')).toEqual(expect.arrayContaining([ids[0], ids[2], ids[3]]))
    await run()
    expect(await find('ferry timetable')).not.toContain(ids[1])
    expect((await find('tugboat captain'))[0]).toBe(ids[1])
    const rows = await postingRows(org)
    // Its new lexemes (title and text) in rows of its own (a batch of one source), none left in the old batch.
    expect(rows.filter((r) => r.sources?.includes(ids[1]!))).toEqual([])
    expect(rows.filter((r) => r.batchId === ids[1]).map((r) => r.term)).toEqual(['1', 'captain', 'keep', 'note', 'tabl', 'tide', 'tugboat'])
    expect(await df(org, 'ferri')).toBe(0)
    expect(await df(org, 'crane')).toBe(3)
  })

  it('a collection narrows a batch to its own sources', async () => {
    const org = await organization('Narrowed')
    const { service, run } = setup()
    const collection = await store.collections.create(org, { name: 'Piers' })
    const ids: string[] = []
    for (let i = 0; i < 6; i++) ids.push((await service.addSource({ organizationId: org, agentId: null, collectionId: i % 2 ? collection.id : null, title: `Note ${i}`, kind: 'text', content: note(i) })).id)
    await run()
    const found = await service.search({ organizationId: org, agentId: null, collectionId: collection.id, query: 'crane rota', limit: 10 })
    expect(found.passages.map((p) => p.sourceId).sort()).toEqual([ids[1], ids[3], ids[5]].sort())
    expect((await service.search({ organizationId: org, agentId: null, query: 'crane rota', limit: 10 })).passages).toHaveLength(6)
  })
})

/** A knowledge base indexed before posting lists were shared by a batch: one row per lexeme and source. */
const onPostgres = await postgresAnswers('a knowledge base indexed before posting lists per batch, on PostgreSQL')
/** PGlite with pgvector, and the machine's PostgreSQL without it (KNOWLEDGE_VECTORS=off), each in a database of its own. */
const targets: { name: string; open: () => Promise<{ db: Database; vectors: 'on' | 'off'; drop: () => Promise<void> }> }[] = [
  { name: 'PGlite', open: async () => ({ db: await openDatabase({ dataDir: 'memory://' }), vectors: 'on', drop: async () => undefined }) },
  ...(onPostgres
    ? [
        {
          name: 'PostgreSQL without pgvector',
          open: async () => {
            const name = `sbtest_batches_${process.pid}_${Date.now().toString(36)}`
            const admin = async (sql: string) => {
              const client = new pg.Client({ connectionString: ADMIN_URL })
              await client.connect()
              await client.query(sql).finally(() => client.end())
            }
            await admin(`CREATE DATABASE "${name}"`)
            const url = new URL(ADMIN_URL)
            url.pathname = `/${name}`
            return { db: await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory://', vectors: 'off' }), vectors: 'off' as const, drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) }
          },
        },
      ]
    : []),
]

describe.each(targets)('knowledge indexed before posting lists per batch ($name)', ({ open }) => {
  it('is still searched after the migration, and its sources are deleted as before', async () => {
    const migrations = await readMigrations()
    const last = migrations.findIndex((m) => m.name === '20261210000000_knowledge_posting_batches')
    expect(last).toBeGreaterThan(0)
    const earlier = await mkdtemp(path.join(tmpdir(), 'migrations-'))
    for (const m of migrations.slice(0, last)) await cp(path.join(MIGRATIONS_DIR, m.name), path.join(earlier, m.name), { recursive: true })
    const { db, vectors, drop } = await open()
    try {
      await migrate(db.runner, earlier, { vectors })
      const org = newId()
      await db.prisma.organization.create({ data: { id: org, name: 'Before' } })
      const texts = ['The harbour crane lifts containers.', 'The ferry timetable changes in winter.', 'The harbour pilot boards the ferry.']
      const ids = texts.map(() => newId())
      // As the store wrote them then: chunks, then each source's own posting lists, the terms and the statistics.
      for (const [i, text] of texts.entries()) {
        await db.runner.query(`INSERT INTO "KnowledgeSource" (id, "organizationId", title, kind, checksum, status, "chunkCount") VALUES ($1, $2, $3, 'text', $4, 'ready', 1)`, [ids[i], org, `Old ${i}`, `c${i}`])
        await db.runner.query(
          `INSERT INTO "KnowledgeChunk" (id, "organizationId", "sourceId", ordinal, text, language, tsv, embedder, dimensions, "length")
           SELECT $1, $2, $3, 0, $4, 'english', v, 'none', 0, (SELECT sum(COALESCE(array_length(u.positions, 1), 1)) FROM unnest(v) u) FROM to_tsvector('english', $4) v`,
          [newId(), org, ids[i], text],
        )
      }
      await db.runner.query(
        `WITH b AS (SELECT c."sourceId", u.lexeme AS term, array_agg(c.ordinal) AS ordinals, array_agg(COALESCE(array_length(u.positions, 1), 1)::int2) AS tfs, array_agg(c."length") AS lengths
                    FROM "KnowledgeChunk" c, unnest(c.tsv) u WHERE c."organizationId" = $1 GROUP BY 1, 2),
              ins AS (INSERT INTO "KnowledgePostingList" ("organizationId", term, "sourceId", ordinals, tfs, lengths) SELECT $1, term, "sourceId", ordinals, tfs, lengths FROM b)
         INSERT INTO "KnowledgeTerm" ("organizationId", term, df) SELECT $1, term, count(*) FROM b GROUP BY term`,
        [org],
      )
      await db.runner.query(`INSERT INTO "KnowledgeIndexStats" ("organizationId", chunks, tokens) SELECT $1, count(*), sum("length") FROM "KnowledgeChunk" WHERE "organizationId" = $1`, [org])
      await db.migrate()
      const store = createPrismaStore(db)
      const noQueue: Queue = { kind: 'in-process', add: async () => undefined, process: () => undefined, depth: async () => 0, cancel: async () => 0, ping: async () => undefined, close: async () => undefined }
      const service = createKnowledgeService({ store, embedder: null, queue: noQueue, logger: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never })
      const find = async (query: string) => (await service.search({ organizationId: org, agentId: null, query, limit: 5 })).passages.map((p) => p.sourceId)
      expect(await find('harbour crane')).toEqual([ids[0], ids[2]])
      expect(await find('ferry timetable')).toEqual([ids[1], ids[2]])
      await service.deleteSource(org, ids[2]!, null)
      expect((await find('harbour ferry')).sort()).toEqual([ids[0], ids[1]].sort())
      expect(await db.runner.query(`SELECT term FROM "KnowledgePostingList" WHERE "batchId" = $1`, [ids[2]])).toEqual([])
      expect((await db.prisma.knowledgeTerm.findUnique({ where: { organizationId_term: { organizationId: org, term: 'harbour' } } }))?.df).toBe(1)
    } finally {
      await db.close()
      await drop()
    }
  }, 120_000)

  it('sources of one batch deleted at the same time leave none of their entries behind', async () => {
    const { db, vectors, drop } = await open()
    try {
      await db.migrate()
      const store = createPrismaStore(db)
      const jobs: IngestJob[] = []
      const queue: Queue = { kind: 'in-process', add: async (_name, data) => void jobs.push(data as IngestJob), process: () => undefined, depth: async () => 0, cancel: async () => 0, ping: async () => undefined, close: async () => undefined }
      const service = createKnowledgeService({ store, embedder: vectors === 'on' ? createHashingEmbedder() : null, queue, logger: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never })
      const org = newId()
      await db.prisma.organization.create({ data: { id: org, name: 'Concurrent' } })
      const ids: string[] = []
      for (let i = 0; i < 8; i++) ids.push((await service.addSource({ organizationId: org, agentId: null, title: `Pier ${i}`, kind: 'text', content: `Pier ${i} has a harbour crane and a ferry berth number ${i}.` })).id)
      await service.processSource(jobs[0]!)
      // On PostgreSQL each delete is a transaction of its own connection: they rewrite the same rows.
      await Promise.all(ids.slice(0, 4).map((id) => service.deleteSource(org, id, null)))
      const rows = await db.runner.query<{ sources: string[] | null }>(`SELECT sources FROM "KnowledgePostingList" WHERE "organizationId" = $1`, [org])
      expect(rows.flatMap((r) => r.sources ?? []).filter((s) => ids.slice(0, 4).includes(s))).toEqual([])
      const crane = await db.runner.query<{ df: number }>(`SELECT df FROM "KnowledgeTerm" WHERE "organizationId" = $1 AND term = 'crane'`, [org])
      expect(crane.map((r) => Number(r.df))).toEqual([4])
      expect((await service.search({ organizationId: org, agentId: null, query: 'ferry berth number 6', limit: 1 })).passages[0]?.sourceId).toBe(ids[6])
    } finally {
      await db.close()
      await drop()
    }
  }, 120_000)
})
