import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../../adapters/db/database.ts'
import { createPrismaStore } from '../../adapters/db/prisma-store.ts'
import { createHashingEmbedder } from '../../adapters/local-ai/hashing-embedder.ts'
import { AppError } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import { createKnowledgeService, INGEST_JOB, type IngestJob } from '../../core/knowledge/knowledge-service.ts'
import type { Embedder, JobOptions, Queue, Store } from '../../core/ports.ts'

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

  it('one job indexes every queued small source: one claim, one transaction, shared embedding batches; the other jobs find theirs ready', async () => {
    const org = await organization('Many')
    const { service, jobs, calls, events, run } = setup()
    const added = []
    for (let i = 0; i < 40; i++) added.push(await service.addSource({ organizationId: org, agentId: null, title: `Note ${i}`, kind: 'text', content: paragraph(i), uri: `note/${i}` }))
    expect(jobs).toHaveLength(40)
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
    // The other 39 jobs claim nothing and write nothing.
    calls.length = 0
    await run()
    expect(calls).toEqual(added.slice(1).map(() => ({ method: 'claimSources', sources: 0 })))
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
})
