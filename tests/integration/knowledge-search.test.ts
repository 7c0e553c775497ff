import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKnowledgeRepository, RANKING } from '../../adapters/db/knowledge-store.ts'
import { createHashingEmbedder } from '../../adapters/local-ai/hashing-embedder.ts'
import { api, createOrg, startTestApp, waitFor, type TestApp, type TestOrg } from '../support/test-app.ts'

const PARCELS = `# Shipping\n\nParcels over 30 kg travel by freight carrier and need a pallet label.\n\n## Tracking\n\nEvery parcel gets a tracking number by email within two hours of dispatch.`
const REFUNDS = `# Refunds\n\nRefunds reach the original card within five business days after the inspection of the returned item.`
const KASSA = `# Касса\n\nЧек печатается автоматически после каждой оплаты банковской картой. Возврат денег оформляется в течение трёх дней.`

describe('knowledge collections, articles and hybrid search', () => {
  let t: TestApp
  let org: TestOrg
  let other: TestOrg

  beforeAll(async () => {
    t = await startTestApp()
    org = await createOrg(t, { name: 'Acme' })
    other = await createOrg(t, { name: 'Rival', docs: [{ title: 'Rival shipping', content: 'Rival parcels over 30 kg travel by freight carrier with a pallet label and tracking number.' }] })
  })
  afterAll(async () => t.close())

  const ready = (organizationId: string, timeoutMs?: number) => waitFor(async () => (await t.app.store.knowledge.listSources(organizationId)).every((s) => s.status === 'ready'), timeoutMs)

  it('collections are created, listed with counts, renamed, unique by name, and refused to members', async () => {
    const made = await api(t, '/api/v1/knowledge/collections', { token: org.token, body: { name: 'Delivery', description: 'Shipping and tracking' } })
    expect(made.status).toBe(201)
    expect(made.json.collection).toMatchObject({ name: 'Delivery', description: 'Shipping and tracking', sourceCount: 0 })
    const dup = await api(t, '/api/v1/knowledge/collections', { token: org.token, body: { name: 'Delivery' } })
    expect(dup.status).toBe(409)
    expect(dup.json.error.code).toBe('collection_exists')
    const renamed = await api(t, `/api/v1/knowledge/collections/${made.json.collection.id}`, { method: 'PATCH', token: org.token, body: { name: 'Shipping' } })
    expect(renamed.json.collection.name).toBe('Shipping')
    const bad = await api(t, '/api/v1/knowledge/collections', { token: org.token, body: { name: '' } })
    expect(bad.status).toBe(422)
    // Another organization neither sees nor changes it.
    expect((await api(t, '/api/v1/knowledge/collections', { token: other.token })).json.collections).toEqual([])
    expect((await api(t, `/api/v1/knowledge/collections/${made.json.collection.id}`, { method: 'PATCH', token: other.token, body: { name: 'Stolen' } })).status).toBe(404)
  })

  it('articles are written in Markdown, indexed, searchable with scores, edited (chunks replaced) and deleted', async () => {
    const shipping = (await api(t, '/api/v1/knowledge/collections', { token: org.token })).json.collections.find((c: { name: string }) => c.name === 'Shipping')
    const created = await api(t, '/api/v1/knowledge/articles', { token: org.token, body: { title: 'Heavy parcels', markdown: PARCELS, collectionId: shipping.id } })
    expect(created.status).toBe(202)
    const id = created.json.article.id as string
    await ready(org.organizationId)
    const read = await api(t, `/api/v1/knowledge/articles/${id}`, { token: org.token })
    expect(read.json).toMatchObject({ article: { id, title: 'Heavy parcels', status: 'ready', collectionId: shipping.id }, markdown: PARCELS })

    const found = await api(t, `/api/v1/knowledge/search?q=${encodeURIComponent('how do I get a tracking number for my parcel?')}`, { token: org.token })
    expect(found.status).toBe(200)
    expect(found.json.relevant).toBe(true)
    const top = found.json.passages[0]
    expect(top).toMatchObject({ sourceId: id, title: 'Heavy parcels', collectionId: shipping.id })
    expect(top.text).toContain('tracking number')
    expect(top.bm25).toBeGreaterThan(0)
    expect(top.score).toBeGreaterThan(0)

    const edited = await api(t, `/api/v1/knowledge/articles/${id}`, { method: 'PATCH', token: org.token, body: { markdown: '# Shipping\n\nWe ship with drones now; no pallets.' } })
    expect(edited.status).toBe(200)
    await ready(org.organizationId)
    const after = await t.app.knowledge.search({ organizationId: org.organizationId, agentId: null, query: 'drones', limit: 5 })
    expect(after.passages[0]?.text).toContain('drones')
    const old = await t.app.knowledge.search({ organizationId: org.organizationId, agentId: null, query: 'pallet label freight carrier', limit: 5 })
    expect(old.passages.some((p) => p.sourceId === id && p.text.includes('pallet label'))).toBe(false)

    expect((await api(t, `/api/v1/knowledge/articles/${id}`, { method: 'DELETE', token: org.token })).status).toBe(204)
    expect((await api(t, `/api/v1/knowledge/articles/${id}`, { token: org.token })).status).toBe(404)
    expect((await t.app.knowledge.search({ organizationId: org.organizationId, agentId: null, query: 'drones', limit: 5 })).passages).toEqual([])
  })

  it('an agent answers only from the collections it is given; none given = everything', async () => {
    const c = (name: string) => api(t, '/api/v1/knowledge/collections', { token: org.token, body: { name } }).then((r) => r.json.collection.id as string)
    const [money, tills] = [await c('Money'), await c('Tills')]
    const refunds = (await api(t, '/api/v1/knowledge/articles', { token: org.token, body: { title: 'Refunds', markdown: REFUNDS, collectionId: money } })).json.article.id
    const kassa = (await api(t, '/api/v1/knowledge/articles', { token: org.token, body: { title: 'Касса', markdown: KASSA, collectionId: tills } })).json.article.id
    await ready(org.organizationId)

    const ask = (q: string) => api(t, `/api/v1/knowledge/search?agentId=${org.agentId}&q=${encodeURIComponent(q)}`, { token: org.token }).then((r) => r.json.passages.map((p: { sourceId: string }) => p.sourceId))
    expect(await ask('when will my refund reach my card?')).toContain(refunds)
    expect(await ask('когда печатается чек после оплаты картой?')).toContain(kassa)

    const put = await api(t, `/api/v1/agents/${org.agentId}/collections`, { method: 'PUT', token: org.token, body: { collectionIds: [tills] } })
    expect(put.json.collectionIds).toEqual([tills])
    expect(await ask('when will my refund reach my card?')).not.toContain(refunds)
    expect(await ask('когда печатается чек после оплаты картой?')).toContain(kassa)
    // Russian: the question's inflected words meet the text's through the Russian stemmer.
    expect(await ask('возвраты денег')).toContain(kassa)

    // Within one collection, for a manager searching.
    const inMoney = await api(t, `/api/v1/knowledge/search?collectionId=${money}&q=${encodeURIComponent('refund card inspection')}`, { token: org.token })
    expect(inMoney.json.passages.every((p: { collectionId: string }) => p.collectionId === money)).toBe(true)

    // Another organization's collection cannot be given to this agent.
    const theirs = (await api(t, '/api/v1/knowledge/collections', { token: other.token, body: { name: 'Theirs' } })).json.collection.id
    expect((await api(t, `/api/v1/agents/${org.agentId}/collections`, { method: 'PUT', token: org.token, body: { collectionIds: [theirs] } })).status).toBe(404)
    expect((await api(t, `/api/v1/agents/${org.agentId}/collections`, { method: 'PUT', token: org.token, body: { collectionIds: [] } })).json.collectionIds).toEqual([])
    expect(await ask('when will my refund reach my card?')).toContain(refunds)

    // Moving a source out of its collection; deleting a collection keeps its sources.
    const moved = await api(t, `/api/v1/knowledge/sources/${refunds}`, { method: 'PATCH', token: org.token, body: { collectionId: null } })
    expect(moved.json.source.collectionId).toBeNull()
    expect((await api(t, `/api/v1/knowledge/collections/${tills}`, { method: 'DELETE', token: org.token })).status).toBe(204)
    expect((await t.app.store.knowledge.getSource(org.organizationId, kassa))?.collectionId).toBeNull()
  })

  it("search never returns another organization's passages, whatever the query", async () => {
    const mine = await t.app.knowledge.search({ organizationId: org.organizationId, agentId: null, query: 'Rival parcels pallet label tracking number', limit: 20 })
    expect(mine.passages.every((p) => !p.title.startsWith('Rival'))).toBe(true)
    const theirs = await api(t, `/api/v1/knowledge/search?q=${encodeURIComponent('refund card inspection')}`, { token: other.token })
    expect(theirs.json.passages.every((p: { title: string }) => p.title === 'Rival shipping')).toBe(true)
    expect((await api(t, `/api/v1/knowledge/search?q=x&agentId=${org.agentId}`, { token: other.token })).status).toBe(404)
  })

  it('the server keeps answering while a large source is indexed', async () => {
    const content = Array.from({ length: 300 }, (_, i) => `## Part ${i}\n\nPart ${i} explains pallet ${i} handling, carrier ${i % 7} pickups and depot ${i % 13} hours.`).join('\n\n')
    const big = await t.app.knowledge.addSource({ organizationId: org.organizationId, agentId: null, title: 'Depot handbook', kind: 'markdown', content })
    await waitFor(async () => (await t.app.store.knowledge.getSource(org.organizationId, big.id))?.status === 'processing', 60_000)
    // Answered while the import runs, not after it: PGlite's synchronous queries must not hold the event loop.
    const health = await fetch(`${t.url}/healthz`)
    expect(health.status).toBe(200)
    expect((await t.app.store.knowledge.getSource(org.organizationId, big.id))?.status).toBe('processing')
    await ready(org.organizationId, 120_000)
    await t.app.knowledge.deleteSource(org.organizationId, big.id, null)
  }, 180_000)

  it('BM25 statistics follow deletes: document frequencies and counts return to what they were', async () => {
    const stats = async () => (await t.app.db.prisma.knowledgeIndexStats.findUnique({ where: { organizationId: org.organizationId } }))!
    const df = async (term: string) => (await t.app.db.prisma.knowledgeTerm.findUnique({ where: { organizationId_term: { organizationId: org.organizationId, term } } }))?.df ?? 0
    const before = { stats: await stats(), df: await df('zeppelin') }
    const added = await t.app.knowledge.addSource({ organizationId: org.organizationId, agentId: null, title: 'Airships', kind: 'markdown', content: 'A zeppelin carries zeppelin parcels.\n\nSecond zeppelin paragraph.' })
    await ready(org.organizationId)
    expect(await df('zeppelin')).toBe(before.df + 1)
    expect((await stats()).chunks).toBe(before.stats.chunks + 1)
    await t.app.knowledge.deleteSource(org.organizationId, added.id, null)
    expect(await df('zeppelin')).toBe(before.df)
    expect(await stats()).toEqual(before.stats)
    expect(await t.app.db.prisma.knowledgePostingList.count({ where: { OR: [{ batchId: added.id }, { sources: { has: added.id } }] } })).toBe(0)
  })

  it('terms too common for the postings budget still count, from the candidates\' own lexemes', async () => {
    const o = await createOrg(t, {
      name: 'Budget',
      docs: [
        { title: 'Parcel rates', content: 'Heavy parcel rates apply above 30 kg; parcel rates for light parcels are flat.' },
        { title: 'Parcel tracking', content: 'Every parcel gets a tracking number.' },
        { title: 'Parcel labels', content: 'Print the parcel label before the courier arrives.' },
      ],
    })
    await ready(o.organizationId)
    const query = 'heavy parcel rates'
    const embedder = t.app.embedder!
    const [embedding] = await embedder.embed([query])
    const input = { organizationId: o.organizationId, agentId: null, query, language: 'english' as const, embedding: embedding!, embedder: embedder.name, dimensions: embedder.dimensions, vectorWeight: embedder.searchWeight, limit: 3 }
    const full = await t.app.store.knowledge.search(input)
    // A budget of one posting: only the rarest lexeme's postings are read; "parcel" and "rate" are scored from the candidate's lexemes.
    const budgeted = await createKnowledgeRepository(t.app.db, { ...RANKING, postingsBudget: 1 }).knowledge.search(input)
    expect(full[0]?.title).toBe('Parcel rates')
    expect(budgeted[0]?.chunkId).toBe(full[0]?.chunkId)
    expect(budgeted[0]?.bm25).toBeCloseTo(full[0]!.bm25!, 6)
    const rareOnly = await t.app.store.knowledge.search({ ...input, query: 'heavy' })
    expect(budgeted[0]!.bm25!).toBeGreaterThan(rareOnly[0]!.bm25! * 2)
  })

  it('after a change of embedder, a restart embeds every chunk again and vector search uses the new vectors', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'switchboard-reembed-'))
    const env = { DATA_DIR: dataDir, ENCRYPTION_KEY: 'a'.repeat(64) }
    try {
      const first = await startTestApp({ env })
      const o = await createOrg(first, { name: 'Switch', docs: [{ title: 'Guide', content: 'Gift cards can be reloaded at the counter.\n\nVouchers expire after a year.' }] })
      const count = await first.app.store.knowledge.countChunks(o.organizationId)
      await first.close()

      const next = createHashingEmbedder(1536)
      const second = await startTestApp({ env, overrides: { embedder: next } })
      try {
        await waitFor(async () => (await second.app.store.knowledge.staleEmbeddings({ embedder: next.name, dimensions: 1536, limit: 1 })).length === 0)
        const rows = await second.app.db.prisma.knowledgeChunk.findMany({ where: { organizationId: o.organizationId }, select: { embedder: true, dimensions: true } })
        expect(rows).toHaveLength(count)
        expect(rows.every((r) => r.embedder === next.name && r.dimensions === 1536)).toBe(true)
        const { passages } = await second.app.knowledge.search({ organizationId: o.organizationId, agentId: null, query: 'reload gift card', limit: 3 })
        expect(passages[0]?.vectorRank).toBe(1)
        expect(passages[0]?.text).toContain('Gift cards')
        expect(second.logs.text()).toContain('knowledge embedded again')
        expect(await second.app.knowledge.scheduleReembed()).toBe(false)
      } finally {
        await second.close()
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
