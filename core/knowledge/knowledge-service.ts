import { createHash } from 'node:crypto'
import { AppError, notFound } from '../errors.ts'
import type { Embedder, KnowledgeSource, Logger, Passage, Queue, Store } from '../ports.ts'
import { chunkMarkdown, DEFAULT_CHUNKING, type ChunkOptions } from './chunker.ts'
import { detectLanguage, keywordCoverage, orTsQuery } from './text.ts'

export const INGEST_JOB = 'knowledge.ingest'
export type IngestJob = { organizationId: string; sourceId: string }

export type SearchResult = {
  passages: Passage[]
  /** Share of the question's keywords found in the best passage, 0..1. */
  confidence: number
  /** False when nothing relevant was found: the answer must say so. */
  relevant: boolean
}

export const RELEVANCE_THRESHOLD = 0.5
const EMBED_BATCH = 32

export type KnowledgeServiceDeps = {
  store: Store
  embedder: Embedder
  queue: Queue
  logger: Logger
  maxSourceBytes?: number
  chunking?: ChunkOptions
  /** Throws when the organization's plan does not allow that many more chunks. */
  checkChunkCap?: (input: { organizationId: string; adding: number; current: number }) => Promise<void>
}

export function createKnowledgeService(deps: KnowledgeServiceDeps) {
  const { store, embedder, queue } = deps
  const maxBytes = deps.maxSourceBytes ?? 10 * 1024 * 1024
  const chunking = deps.chunking ?? DEFAULT_CHUNKING

  async function addSource(input: {
    organizationId: string
    agentId: string | null
    title: string
    kind: KnowledgeSource['kind']
    content: string
    uri?: string | null
    actorUserId?: string | null
  }): Promise<KnowledgeSource> {
    const title = input.title.trim()
    if (!title) throw new AppError('invalid_source', 'A knowledge source needs a title', 422)
    const bytes = Buffer.byteLength(input.content, 'utf8')
    if (bytes > maxBytes) throw new AppError('source_too_large', `"${title}" is ${bytes} bytes; the limit is ${maxBytes}`, 413)
    if (!input.content.trim()) throw new AppError('empty_source', `"${title}" is empty`, 422)
    if (input.agentId && !(await store.agents.get(input.organizationId, input.agentId))) throw notFound('Agent')

    const checksum = createHash('sha256').update(input.content).digest('hex')
    const uri = input.uri ?? null
    const existing = uri ? await store.knowledge.findSourceByUri(input.organizationId, uri) : null
    let source: KnowledgeSource
    if (existing) {
      if (existing.checksum === checksum && existing.status === 'ready') return existing
      await store.knowledge.updateSource(input.organizationId, existing.id, { title, checksum, content: input.content, status: 'queued', progress: 0, error: null })
      source = (await store.knowledge.getSource(input.organizationId, existing.id))!
    } else {
      source = await store.knowledge.createSource({ organizationId: input.organizationId, agentId: input.agentId, title, kind: input.kind, uri, checksum, content: input.content })
    }
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId ?? null, action: 'knowledge.source.added', target: source.id, data: { title, bytes } })
    await queue.add(INGEST_JOB, { organizationId: input.organizationId, sourceId: source.id } satisfies IngestJob, { jobId: `ingest:${source.id}:${checksum.slice(0, 12)}`, attempts: 3, backoffMs: 500 })
    return source
  }

  /** Chunks, embeds and stores one source; reports progress on the source row. */
  async function processSource(job: IngestJob): Promise<void> {
    const { organizationId, sourceId } = job
    const source = await store.knowledge.getSource(organizationId, sourceId)
    if (!source) return // deleted meanwhile
    const content = await store.knowledge.sourceContent(organizationId, sourceId)
    if (content === null) return
    try {
      await store.knowledge.updateSource(organizationId, sourceId, { status: 'processing', progress: 5, error: null })
      const chunks = chunkMarkdown(source.kind === 'markdown' ? content : content.replace(/^#/gm, '\\#'), chunking)
      if (chunks.length === 0) throw new AppError('empty_source', `"${source.title}" has no text to index`, 422)
      if (deps.checkChunkCap) {
        const current = (await store.knowledge.countChunks(organizationId)) - source.chunkCount
        await deps.checkChunkCap({ organizationId, adding: chunks.length, current })
      }
      const embeddings: number[][] = []
      for (let i = 0; i < chunks.length; i += EMBED_BATCH) {
        const batch = chunks.slice(i, i + EMBED_BATCH)
        embeddings.push(...(await embedder.embed(batch.map((c) => embeddingText(source.title, c.heading, c.text)))))
        const progress = 5 + Math.round((90 * Math.min(chunks.length, i + EMBED_BATCH)) / chunks.length)
        await store.knowledge.updateSource(organizationId, sourceId, { progress })
      }
      await store.knowledge.replaceChunks({
        organizationId,
        sourceId,
        embedder: embedder.name,
        dimensions: embedder.dimensions,
        chunks: chunks.map((c, i) => ({ ...c, embedding: embeddings[i]! })),
      })
      await store.knowledge.updateSource(organizationId, sourceId, { status: 'ready', progress: 100, chunkCount: chunks.length })
    } catch (error) {
      const message = error instanceof AppError ? error.message : `Processing "${source.title}" failed: ${(error as Error).message}`
      await store.knowledge.updateSource(organizationId, sourceId, { status: 'failed', error: message })
      if (!(error instanceof AppError)) throw error
    }
  }

  /** After a restart: sources that were queued or half-processed are processed again. */
  async function recover(): Promise<number> {
    const sources = await store.recovery.unfinishedSources(10_000)
    for (const s of sources) await queue.add(INGEST_JOB, { organizationId: s.organizationId, sourceId: s.sourceId } satisfies IngestJob, { jobId: `ingest:${s.sourceId}:${s.checksum.slice(0, 12)}`, attempts: 3, backoffMs: 500 })
    return sources.length
  }

  async function deleteSource(organizationId: string, id: string, actorUserId: string | null): Promise<void> {
    if (!(await store.knowledge.deleteSource(organizationId, id))) throw notFound('Knowledge source')
    await store.audit.record({ organizationId, actorUserId, action: 'knowledge.source.deleted', target: id })
  }

  async function search(input: { organizationId: string; agentId: string; query: string; limit?: number }): Promise<SearchResult> {
    const query = input.query.trim().slice(0, 2000)
    if (!query) return { passages: [], confidence: 0, relevant: false }
    const [embedding] = await embedder.embed([query])
    const passages = await store.knowledge.search({
      organizationId: input.organizationId,
      agentId: input.agentId,
      query,
      language: detectLanguage(query),
      ftsQuery: orTsQuery(query),
      embedding: embedding!,
      embedder: embedder.name,
      dimensions: embedder.dimensions,
      limit: input.limit ?? 5,
    })
    const confidence = passages.length ? Math.max(...passages.slice(0, 3).map((p) => keywordCoverage(query, `${p.title} ${p.heading} ${p.text}`))) : 0
    return { passages, confidence, relevant: confidence >= RELEVANCE_THRESHOLD }
  }

  return { addSource, processSource, deleteSource, search, recover }
}

export type KnowledgeService = ReturnType<typeof createKnowledgeService>

/** What gets embedded: the chunk with its title and heading, so a section's context counts. */
export const embeddingText = (title: string, heading: string, text: string) => [title, heading, text].filter(Boolean).join('\n')
