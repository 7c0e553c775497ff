import { createHash } from 'node:crypto'
import { AppError, notFound } from '../errors.ts'
import { newId } from '../ids.ts'
import type { ChunkLocation, DocumentParser, Embedder, KnowledgeSource, Logger, Passage, Queue, SourceIndex, Store } from '../ports.ts'
import { chunkMarkdown, chunkSections, DEFAULT_CHUNKING, type ChunkOptions } from './chunker.ts'
import { detectLanguage, keywordCoverage } from './text.ts'
import type { LiveEvents } from '../conversation/live-events.ts'

export const INGEST_JOB = 'knowledge.ingest'
export const REEMBED_JOB = 'knowledge.reembed'
/** Articles are Markdown sources with an `article:` URI. */
const ARTICLE_URI = 'article:'
export const isArticle = (s: Pick<KnowledgeSource, 'kind' | 'uri'>) => s.kind === 'markdown' && Boolean(s.uri?.startsWith(ARTICLE_URI))
export type IngestJob = { organizationId: string; sourceId: string }
/** A source's ingest job, one per version of its content: added again for the same content, it is the same job. */
const ingestJobId = (source: { id: string; checksum: string }) => `ingest:${source.id}:${source.checksum.slice(0, 12)}`

export type SearchResult = {
  passages: Passage[]
  /** Share of the question's keywords found in the best passage, 0..1. */
  confidence: number
  /** False when nothing relevant was found: the answer must say so. */
  relevant: boolean
}

export const RELEVANCE_THRESHOLD = 0.5
const EMBED_BATCH = 32
/**
 * Sources one ingest job processes together: its own and other queued sources of the organization
 * of at most `sourceBytes` each (an uploaded file counts in base64). A URL is always fetched alone.
 */
export const INGEST_BATCH = { sources: 200, sourceBytes: 64 * 1024 }
/**
 * Small sources added in a burst (a script or an import adding FAQ entries one by one, each less
 * than `burstMs` after the one before): each one's job waits `waitMs` before it starts, so the
 * sources added meanwhile are indexed with it in one batch. Without the wait, each job took the
 * handful added while the one before ran, and paid a batch's fixed statements and a posting row per
 * lexeme for each handful. A source added alone starts at once. Half a second: the sources added
 * while a batch is written wait for the next job anyway, so a longer wait mostly left the last
 * batch of a burst waiting with nothing else to do (SQuAD's 2,067 paragraphs: 268 against 241
 * chunks a second, three runs each, with the ANALYZE of a grown knowledge base reading fewer columns).
 */
export const SMALL_SOURCE_BURST = { burstMs: 1000, waitMs: 500 }
/** The default size limit of one uploaded file or fetched page (KNOWLEDGE_MAX_FILE_BYTES). */
export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
/**
 * The default for the most sections, and so the most passages, one source may make
 * (KNOWLEDGE_MAX_SECTIONS): 20,000 passages is some 40 MB of text. More is not a document but an
 * attack on the index, and holds every passage and its vector in memory while it is written.
 */
export const DEFAULT_MAX_SECTIONS = 20_000

/**
 * Progress of a source while it is processed: parsing 5..20, chunking 20..25, embedding 25..95,
 * stored 100. `ingestStage` names the stage a progress figure belongs to (the CLI shows it).
 */
export const PROGRESS = { parsing: 5, chunking: 20, embedding: 25, stored: 95 } as const
export function ingestStage(source: Pick<KnowledgeSource, 'status' | 'progress'>): string {
  if (source.status !== 'processing') return source.status
  if (source.progress < PROGRESS.chunking) return 'parsing'
  if (source.progress < PROGRESS.embedding) return 'chunking'
  if (source.progress < PROGRESS.stored) return 'embedding'
  return 'storing'
}

/**
 * PGlite runs each query synchronously and its promises resolve without I/O, so a long import
 * would hold the event loop until it ends: no HTTP request, no turn, no timer. Each batch lets
 * them in first.
 */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/** How a file or a URL waits in KnowledgeSource.content until it is processed. */
type FileContent = { filename: string; mimeType?: string }
type UrlContent = { url: string; sitemap?: boolean; maxPages?: number }
const encodeFile = (meta: FileContent, bytes: Buffer) => `${JSON.stringify(meta)}\n${bytes.toString('base64')}`
function decodeFile(content: string): { meta: FileContent; bytes: Buffer } {
  const newline = content.indexOf('\n')
  return { meta: JSON.parse(content.slice(0, newline)) as FileContent, bytes: Buffer.from(content.slice(newline + 1), 'base64') }
}
const locationLabel = (l: ChunkLocation) => (l.page ? `Page ${l.page}` : l.row ? `Row ${l.row}` : '')

/** The embedder name of chunks stored without a vector (KNOWLEDGE_VECTORS=off): embedded once vectors are on again. */
export const NO_VECTORS = 'none'

export type KnowledgeServiceDeps = {
  store: Store
  /** null: semantic search is off (KNOWLEDGE_VECTORS=off): no embeddings are made, search uses words only. */
  embedder: Embedder | null
  queue: Queue
  logger: Logger
  /** Limit of one text source or uploaded file; DEFAULT_MAX_FILE_BYTES when not given. */
  maxSourceBytes?: number
  /** Reads files and URLs (adapters/files); without it only Markdown and text can be added. */
  parser?: DocumentParser
  chunking?: ChunkOptions
  /** Throws when the organization's plan does not allow that many more chunks. */
  checkChunkCap?: (input: { organizationId: string; adding: number; current: number }) => Promise<void>
  /** The most sections and passages one source may make, whatever the plan; DEFAULT_MAX_SECTIONS when not given. */
  maxSections?: number
  /** Indexing progress, for the admin web's live view. */
  events?: LiveEvents
  /** How many small sources one ingest job takes together; INGEST_BATCH when not given. */
  ingestBatch?: { sources: number; sourceBytes: number }
}

export function createKnowledgeService(deps: KnowledgeServiceDeps) {
  const { store, embedder, queue } = deps
  const maxBytes = deps.maxSourceBytes ?? DEFAULT_MAX_FILE_BYTES
  const chunking = deps.chunking ?? DEFAULT_CHUNKING
  const maxSections = deps.maxSections ?? DEFAULT_MAX_SECTIONS
  const batch = deps.ingestBatch ?? INGEST_BATCH

  /** Writes a source's status or progress and tells whoever watches the organization live. */
  async function updateSource(organizationId: string, id: string, patch: Parameters<Store['knowledge']['updateSource']>[2]): Promise<void> {
    await store.knowledge.updateSource(organizationId, id, patch)
    if (patch.status !== undefined || patch.progress !== undefined) await deps.events?.publish(organizationId, { type: 'source.progress', sourceId: id, status: patch.status ?? null, progress: patch.progress ?? null })
  }
  const tooManySections = (title: string, what: string) =>
    new AppError('source_too_large', `"${title}" has ${what}; at most ${maxSections.toLocaleString('en-US')} can come from one source: split it into smaller files`, 413)

  async function addSource(input: {
    organizationId: string
    agentId: string | null
    collectionId?: string | null
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
    const checksum = createHash('sha256').update(input.content).digest('hex')
    return enqueue({ ...input, title, checksum, bytes })
  }

  /** An uploaded file (PDF, DOCX, TXT, Markdown, CSV, HTML): checked now, parsed by the ingest job. */
  async function addFile(input: { organizationId: string; agentId: string | null; collectionId?: string | null; filename: string; mimeType?: string; bytes: Buffer; actorUserId?: string | null }): Promise<KnowledgeSource> {
    const parser = requireParser()
    const filename = input.filename.replace(/^.*[\\/]/, '').trim().slice(0, 300)
    if (!filename) throw new AppError('invalid_source', 'An uploaded file needs a name', 422)
    const size = input.bytes.length
    if (size > maxBytes) throw new AppError('source_too_large', `"${filename}" is ${size} bytes; the limit is ${maxBytes} bytes`, 413)
    if (size === 0) throw new AppError('empty_source', `"${filename}" is empty: the file has no bytes`, 422)
    parser.formatOf({ filename, mimeType: input.mimeType, bytes: input.bytes })
    const checksum = createHash('sha256').update(input.bytes).digest('hex')
    const content = encodeFile({ filename, ...(input.mimeType ? { mimeType: input.mimeType } : {}) }, input.bytes)
    return enqueue({ organizationId: input.organizationId, agentId: input.agentId, collectionId: input.collectionId, title: filename, kind: 'file', content, uri: `file:${filename}`, checksum, bytes: size, actorUserId: input.actorUserId })
  }

  /** A web page, or every page of a sitemap up to maxPages: fetched and parsed by the ingest job. */
  async function addUrl(input: { organizationId: string; agentId: string | null; collectionId?: string | null; url: string; sitemap?: boolean; maxPages?: number; actorUserId?: string | null }): Promise<KnowledgeSource> {
    const parser = requireParser()
    let url: URL
    try {
      url = new URL(input.url)
    } catch {
      throw new AppError('invalid_url', `"${input.url}" is not a valid URL`, 422)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('invalid_url', `${input.url}: only http and https URLs can be imported`, 422)
    await parser.checkUrl(url.toString())
    const spec: UrlContent = { url: url.toString(), ...(input.sitemap ? { sitemap: true } : {}), ...(input.maxPages ? { maxPages: input.maxPages } : {}) }
    const content = JSON.stringify(spec)
    // The page may have changed since the last import: every import of a URL fetches it again.
    const checksum = createHash('sha256').update(`${content}\n${new Date().toISOString()}`).digest('hex')
    return enqueue({ organizationId: input.organizationId, agentId: input.agentId, collectionId: input.collectionId, title: spec.url, kind: 'url', content, uri: spec.sitemap ? `sitemap:${spec.url}` : spec.url, checksum, bytes: 0, actorUserId: input.actorUserId })
  }

  function requireParser(): DocumentParser {
    if (!deps.parser) throw new AppError('unsupported_format', 'This server cannot read files or web pages: no document parser is configured', 415)
    return deps.parser
  }

  /** When each organization last added a small source (this process's view: it only sets a wait). */
  const lastSmallSource = new Map<string, number>()
  function burstWait(organizationId: string): number {
    const now = Date.now()
    const last = lastSmallSource.get(organizationId)
    lastSmallSource.set(organizationId, now)
    return last !== undefined && now - last < SMALL_SOURCE_BURST.burstMs ? SMALL_SOURCE_BURST.waitMs : 0
  }

  async function enqueue(input: { organizationId: string; agentId: string | null; collectionId?: string | null; title: string; kind: KnowledgeSource['kind']; content: string; uri?: string | null; checksum: string; bytes: number; actorUserId?: string | null }): Promise<KnowledgeSource> {
    const { title, checksum } = input
    if (input.agentId && !(await store.agents.get(input.organizationId, input.agentId))) throw notFound('Agent')
    if (input.collectionId && !(await store.collections.get(input.organizationId, input.collectionId))) throw notFound('Collection')
    const audit = { actorUserId: input.actorUserId ?? null, action: 'knowledge.source.added', data: { title, bytes: input.bytes, kind: input.kind } }
    const added = await store.knowledge.createSource({ organizationId: input.organizationId, agentId: input.agentId, collectionId: input.collectionId ?? null, title, kind: input.kind, uri: input.uri ?? null, checksum, content: input.content, audit })
    let source = added.source
    if (added.created) {
      await deps.events?.publish(input.organizationId, { type: 'source.progress', sourceId: source.id, status: source.status, progress: source.progress })
    } else {
      // Content added again under its URI: the source is processed again, unless nothing changed.
      const existing = added.source
      if (existing.checksum === checksum && existing.status === 'ready') return existing
      await updateSource(input.organizationId, existing.id, { title, checksum, content: input.content, status: 'queued', progress: 0, error: null, ...(input.collectionId !== undefined ? { collectionId: input.collectionId } : {}) })
      source = (await store.knowledge.getSource(input.organizationId, existing.id))!
      await store.audit.record({ organizationId: input.organizationId, target: source.id, ...audit })
    }
    const wait = input.kind !== 'url' && input.content.length <= batch.sourceBytes ? burstWait(input.organizationId) : 0
    await queue.add(INGEST_JOB, { organizationId: input.organizationId, sourceId: source.id } satisfies IngestJob, { jobId: ingestJobId({ id: source.id, checksum }), attempts: 3, backoffMs: 500, ...(wait ? { delayMs: wait } : {}) })
    return source
  }

  type Prepared = { ordinal: number; heading: string; text: string; language: ReturnType<typeof chunkMarkdown>[number]['language']; location?: ChunkLocation }

  /** Turns a source's content into chunks: Markdown and text directly, files and URLs through the parser. */
  async function prepare(source: KnowledgeSource, content: string, report: boolean): Promise<{ title: string; chunks: Prepared[] }> {
    if (source.kind !== 'file' && source.kind !== 'url') {
      const chunks = chunkMarkdown(source.kind === 'markdown' ? content : content.replace(/^#/gm, '\\#'), chunking)
      if (chunks.length > maxSections) throw tooManySections(source.title, `${chunks.length.toLocaleString('en-US')} passages`)
      return { title: source.title, chunks }
    }
    const parser = requireParser()
    const { organizationId, id } = source
    let lastReported: number = PROGRESS.parsing
    const onProgress = async (fraction: number) => {
      const progress = PROGRESS.parsing + Math.round((PROGRESS.chunking - PROGRESS.parsing) * Math.max(0, Math.min(1, fraction)))
      if (report && progress > lastReported) {
        lastReported = progress
        await updateSource(organizationId, id, { progress })
      }
    }
    let parsed
    if (source.kind === 'file') {
      const { meta, bytes } = decodeFile(content)
      parsed = await parser.parse({ kind: 'file', filename: meta.filename, ...(meta.mimeType ? { mimeType: meta.mimeType } : {}), bytes }, onProgress)
    } else {
      parsed = await parser.parse({ kind: 'url', ...(JSON.parse(content) as UrlContent) }, onProgress)
    }
    // Every section makes at least one passage: too many sections is refused before chunking them.
    if (parsed.sections.length > maxSections) throw tooManySections(source.title, `more than ${maxSections.toLocaleString('en-US')} sections (headings, pages or rows)`)
    if (report) await updateSource(organizationId, id, { progress: PROGRESS.chunking })
    const sections = parsed.sections.map((s) => ({ heading: s.heading || locationLabel(s.location), text: s.text }))
    const chunks = chunkSections(sections, chunking).map(({ section, ...c }) => {
      const location = parsed.sections[section]!.location
      return { ...c, location: { ...location, ...(c.heading && !location.heading && !locationLabel(location) ? { heading: c.heading } : {}) } }
    })
    if (chunks.length > maxSections) throw tooManySections(source.title, `${chunks.length.toLocaleString('en-US')} passages`)
    return { title: parsed.title.trim().slice(0, 300) || source.title, chunks }
  }

  /**
   * The ingest job of one source. It takes with it, in one claim, other queued sources of the same
   * organization that are small (INGEST_BATCH): their chunks are embedded in shared batches and
   * written, with every source's outcome, in one transaction, so a thousand one-paragraph sources
   * cost a few dozen statements instead of twenty each. Their own jobs then find them ready and
   * stop. A large source is processed alone, with its progress reported as it goes.
   */
  async function processSource(job: IngestJob): Promise<void> {
    const { organizationId } = job
    const claimed = await store.knowledge.claimSources({ organizationId, sourceId: job.sourceId, limit: batch.sources, maxBytes: batch.sourceBytes, progress: PROGRESS.parsing })
    if (!claimed.length) return // ready already (processed with another source's job), or deleted
    const alone = claimed.length === 1
    for (const { source } of claimed) await deps.events?.publish(organizationId, { type: 'source.progress', sourceId: source.id, status: 'processing', progress: PROGRESS.parsing })

    type Outcome = { source: KnowledgeSource; title: string; chunks: Prepared[] } | { source: KnowledgeSource; error: unknown }
    const outcomes: Outcome[] = []
    let yielded = performance.now()
    for (const { source, content } of claimed) {
      try {
        if (content === null) throw new AppError('empty_source', `"${source.title}" has no content to index`, 422)
        const { title, chunks } = await prepare(source, content, alone)
        if (chunks.length === 0) throw new AppError('empty_source', `"${source.title}" has no text to index`, 422)
        outcomes.push({ source, title, chunks })
      } catch (error) {
        outcomes.push({ source, error })
      }
      if (performance.now() - yielded > 10) {
        await yieldToEventLoop()
        yielded = performance.now()
      }
    }
    const own = claimed[0]!.source
    if (alone) await updateSource(organizationId, own.id, { progress: PROGRESS.embedding })
    await checkCaps(organizationId, outcomes, claimed)

    let thrown: unknown = null
    const indexed = outcomes.filter((o): o is Extract<Outcome, { chunks: Prepared[] }> => 'chunks' in o)
    const embeddings = new Map<KnowledgeSource, (number[] | null)[]>()
    try {
      const texts = indexed.flatMap((o) => o.chunks.map((c) => embeddingText(o.title, c.heading, c.text)))
      const vectors: number[][] = []
      let reported: number = PROGRESS.embedding
      for (let i = 0; embedder && i < texts.length; i += EMBED_BATCH) {
        await yieldToEventLoop()
        vectors.push(...(await embedder.embed(texts.slice(i, i + EMBED_BATCH))))
        if (!alone) continue
        const progress = PROGRESS.embedding + Math.round(((PROGRESS.stored - PROGRESS.embedding) * Math.min(texts.length, i + EMBED_BATCH)) / texts.length)
        // Written when the figure changes: at most 70 updates, however many batches.
        if (progress > reported) await updateSource(organizationId, own.id, { progress })
        reported = progress
      }
      let at = 0
      for (const o of indexed) embeddings.set(o.source, o.chunks.map(() => vectors[at++] ?? null))
    } catch (error) {
      // The embedder failed: every source of the claim fails with it, and the job is tried again.
      thrown = error
    }

    const failure = (source: KnowledgeSource, error: unknown) =>
      error instanceof AppError ? error.message : `Processing "${source.title}" failed: ${(error as Error).message}`
    const written = await store.knowledge.indexSources({
      organizationId,
      embedder: embedder?.name ?? NO_VECTORS,
      dimensions: embedder?.dimensions ?? 0,
      // A failed source keeps no chunks: nothing partial (nor a stale earlier version) stays searchable.
      sources: outcomes.map((o): SourceIndex => {
        if ('error' in o || thrown) {
          const error = 'error' in o ? o.error : thrown
          return { sourceId: o.source.id, title: o.source.title, checksum: o.source.checksum, chunks: [], outcome: { status: 'failed', error: failure(o.source, error) } }
        }
        const vectors = embeddings.get(o.source)
        return {
          sourceId: o.source.id,
          title: o.title,
          checksum: o.source.checksum,
          chunks: o.chunks.map((c, i) => ({ ...c, embedding: vectors?.[i] ?? null })),
          outcome: { status: 'ready', dropContent: o.source.kind === 'file' },
        }
      }),
    })
    const done = new Set(written)
    for (const o of outcomes) {
      if (!done.has(o.source.id)) continue
      const failed = 'error' in o || thrown
      await deps.events?.publish(organizationId, { type: 'source.progress', sourceId: o.source.id, status: failed ? 'failed' : 'ready', progress: failed ? null : 100 })
    }
    // The other sources' own jobs, still waiting, would only read that their source is done: they
    // go. Those of sources that failed unexpectedly stay, to try them again.
    const settled = outcomes.slice(1).filter((o) => done.has(o.source.id) && !thrown && (!('error' in o) || o.error instanceof AppError))
    if (settled.length) await queue.cancel(INGEST_JOB, settled.map((o) => ingestJobId(o.source)))
    // An unexpected error of this job's own source (or of the embedder) is thrown, so the job is
    // tried again; another source's is not: its own job, still to come, finds it failed and tries it again.
    const ownError = thrown ?? ('error' in outcomes[0]! ? outcomes[0].error : null)
    if (ownError && !(ownError instanceof AppError)) throw ownError
  }

  /**
   * The plan's chunk cap, checked once for the whole claim; when the claim does not fit, source by
   * source in order, so those that fit are indexed and the rest fail with the cap's reason.
   */
  async function checkCaps(organizationId: string, outcomes: ({ source: KnowledgeSource; chunks: Prepared[] } | { source: KnowledgeSource; error: unknown })[], claimed: { source: KnowledgeSource }[]): Promise<void> {
    if (!deps.checkChunkCap) return
    const replaced = claimed.reduce((n, c) => n + c.source.chunkCount, 0)
    const current = (await store.knowledge.countChunks(organizationId)) - replaced
    const adding = (o: (typeof outcomes)[number]) => ('chunks' in o ? o.chunks.length : 0)
    try {
      await deps.checkChunkCap({ organizationId, adding: outcomes.reduce((n, o) => n + adding(o), 0), current })
      return
    } catch (error) {
      if (outcomes.length === 1) {
        outcomes[0] = { source: outcomes[0]!.source, error }
        return
      }
    }
    let accepted = 0
    for (const [i, o] of outcomes.entries()) {
      if (!('chunks' in o)) continue
      try {
        await deps.checkChunkCap({ organizationId, adding: o.chunks.length, current: current + accepted })
        accepted += o.chunks.length
      } catch (error) {
        outcomes[i] = { source: o.source, error }
      }
    }
  }

  /** After a restart: sources that were queued or half-processed are processed again. */
  async function recover(): Promise<number> {
    const sources = await store.recovery.unfinishedSources(10_000)
    for (const s of sources) await queue.add(INGEST_JOB, { organizationId: s.organizationId, sourceId: s.sourceId } satisfies IngestJob, { jobId: ingestJobId({ id: s.sourceId, checksum: s.checksum }), attempts: 3, backoffMs: 500 })
    return sources.length
  }

  async function deleteSource(organizationId: string, id: string, actorUserId: string | null): Promise<void> {
    if (!(await store.knowledge.deleteSource(organizationId, id))) throw notFound('Knowledge source')
    await store.audit.record({ organizationId, actorUserId, action: 'knowledge.source.deleted', target: id })
  }

  /** `agentId` limits the search to what that agent may use; null searches all of the organization's knowledge. */
  async function search(input: { organizationId: string; agentId: string | null; collectionId?: string | null; query: string; limit?: number }): Promise<SearchResult> {
    const query = input.query.trim().slice(0, 2000)
    if (!query) return { passages: [], confidence: 0, relevant: false }
    const embedding = embedder ? (await embedder.embed([query]))[0]! : null
    const passages = await store.knowledge.search({
      organizationId: input.organizationId,
      agentId: input.agentId,
      collectionId: input.collectionId ?? null,
      query,
      language: detectLanguage(query),
      embedding,
      embedder: embedder?.name ?? NO_VECTORS,
      dimensions: embedder?.dimensions ?? 0,
      vectorWeight: embedder?.searchWeight ?? 0,
      limit: input.limit ?? 5,
    })
    const confidence = passages.length ? Math.max(...passages.slice(0, 3).map((p) => keywordCoverage(query, `${p.title} ${p.heading} ${p.text}`))) : 0
    return { passages, confidence, relevant: confidence >= RELEVANCE_THRESHOLD }
  }

  // ---- collections

  async function createCollection(input: { organizationId: string; name: string; description?: string; actorUserId: string | null }) {
    const collection = await store.collections.create(input.organizationId, { name: input.name, description: input.description })
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'knowledge.collection.created', target: collection.id, data: { name: collection.name } })
    return collection
  }

  async function updateCollection(input: { organizationId: string; id: string; name?: string; description?: string; actorUserId: string | null }) {
    const collection = await store.collections.update(input.organizationId, input.id, { ...(input.name !== undefined ? { name: input.name } : {}), ...(input.description !== undefined ? { description: input.description } : {}) })
    if (!collection) throw notFound('Collection')
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'knowledge.collection.updated', target: collection.id })
    return collection
  }

  /** Its sources stay searchable, uncategorised; agents given only this collection then answer from all knowledge. */
  async function deleteCollection(organizationId: string, id: string, actorUserId: string | null) {
    if (!(await store.collections.delete(organizationId, id))) throw notFound('Collection')
    await store.audit.record({ organizationId, actorUserId, action: 'knowledge.collection.deleted', target: id })
  }

  /** The collections an agent answers from; an empty list = all of the organization's knowledge. */
  async function setAgentCollections(input: { organizationId: string; agentId: string; collectionIds: string[]; actorUserId: string | null }) {
    if (!(await store.agents.get(input.organizationId, input.agentId))) throw notFound('Agent')
    await store.collections.setForAgent(input.organizationId, input.agentId, input.collectionIds)
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'agent.collections.set', target: input.agentId, data: { collectionIds: input.collectionIds } })
  }

  // ---- articles: Markdown written in the admin web or sent through the API, kept for editing

  async function addArticle(input: { organizationId: string; collectionId: string | null; title: string; markdown: string; actorUserId: string | null }): Promise<KnowledgeSource> {
    return addSource({ organizationId: input.organizationId, agentId: null, collectionId: input.collectionId, title: input.title, kind: 'markdown', content: input.markdown, uri: `${ARTICLE_URI}${newId()}`, actorUserId: input.actorUserId })
  }

  async function getArticle(organizationId: string, id: string): Promise<{ article: KnowledgeSource; markdown: string }> {
    const article = await store.knowledge.getSource(organizationId, id)
    if (!article || !isArticle(article)) throw notFound('Article')
    return { article, markdown: (await store.knowledge.sourceContent(organizationId, id)) ?? '' }
  }

  /** A changed title or text is indexed again (its chunks replaced at once when ready); a move to another collection applies at once. */
  async function updateArticle(input: { organizationId: string; id: string; title?: string; markdown?: string; collectionId?: string | null; actorUserId: string | null }): Promise<KnowledgeSource> {
    const { article, markdown } = await getArticle(input.organizationId, input.id)
    if (input.collectionId !== undefined && input.collectionId !== article.collectionId) {
      if (input.collectionId && !(await store.collections.get(input.organizationId, input.collectionId))) throw notFound('Collection')
      await updateSource(input.organizationId, article.id, { collectionId: input.collectionId })
    }
    const title = input.title ?? article.title
    const text = input.markdown ?? markdown
    if (title !== article.title || text !== markdown) {
      await addSource({ organizationId: input.organizationId, agentId: article.agentId, title, kind: 'markdown', content: text, uri: article.uri, actorUserId: input.actorUserId })
    }
    return (await store.knowledge.getSource(input.organizationId, article.id))!
  }

  /** Moves any source (file, page, article) to a collection, or out of every collection with null. */
  async function moveSource(input: { organizationId: string; id: string; collectionId: string | null; actorUserId: string | null }): Promise<KnowledgeSource> {
    const source = await store.knowledge.getSource(input.organizationId, input.id)
    if (!source) throw notFound('Knowledge source')
    if (input.collectionId && !(await store.collections.get(input.organizationId, input.collectionId))) throw notFound('Collection')
    await updateSource(input.organizationId, source.id, { collectionId: input.collectionId })
    await store.audit.record({ organizationId: input.organizationId, actorUserId: input.actorUserId, action: 'knowledge.source.moved', target: source.id, data: { collectionId: input.collectionId } })
    return (await store.knowledge.getSource(input.organizationId, source.id))!
  }

  // ---- vectors made by another embedder (the configuration changed): embedded again

  /** Embeds again, batch by batch, every chunk whose vector another embedder (or size) made; returns how many. */
  async function reembed(onProgress?: (done: number) => void): Promise<number> {
    if (!embedder) return 0
    let done = 0
    for (;;) {
      const stale = await store.knowledge.staleEmbeddings({ embedder: embedder.name, dimensions: embedder.dimensions, limit: 256 })
      if (!stale.length) return done
      const vectors = await embedder.embed(stale.map((c) => embeddingText(c.title, c.heading, c.text)))
      await store.knowledge.setEmbeddings({ embedder: embedder.name, dimensions: embedder.dimensions, vectors: stale.map((c, i) => ({ id: c.id, embedding: vectors[i]! })) })
      done += stale.length
      onProgress?.(done)
    }
  }

  /** Queues re-embedding when any chunk was embedded by another embedder than the configured one. */
  async function scheduleReembed(): Promise<boolean> {
    if (!embedder) return false
    const stale = await store.knowledge.staleEmbeddings({ embedder: embedder.name, dimensions: embedder.dimensions, limit: 1 })
    if (!stale.length) return false
    deps.logger.info({ embedder: embedder.name }, 'knowledge was embedded by another embedder: embedding it again')
    await queue.add(REEMBED_JOB, {}, { jobId: `reembed:${embedder.name}:${embedder.dimensions}`, attempts: 5, backoffMs: 2000 })
    return true
  }

  /** How questions are matched: hybrid (words and meaning) or by words only (KNOWLEDGE_VECTORS=off). */
  const searchMode = (): SearchMode => (embedder ? { semantic: true, mode: 'hybrid', embedder: embedder.name } : { semantic: false, mode: 'lexical', reason: SEMANTIC_OFF_REASON })

  return { searchMode, createCollection, updateCollection, deleteCollection, setAgentCollections, addSource, addFile, addUrl, addArticle, getArticle, updateArticle, moveSource, processSource, deleteSource, search, recover, reembed, scheduleReembed }
}

export type SearchMode = { semantic: true; mode: 'hybrid'; embedder: string } | { semantic: false; mode: 'lexical'; reason: string }
/** Said in the start-up banner, /readyz and the admin web when KNOWLEDGE_VECTORS=off. */
export const SEMANTIC_OFF_REASON = 'Semantic search off: KNOWLEDGE_VECTORS=off, knowledge is searched by words only (BM25), without embeddings. A question worded differently from the knowledge may find nothing. Set KNOWLEDGE_VECTORS=on on a database with pgvector to search by meaning too.'

export type KnowledgeService = ReturnType<typeof createKnowledgeService>

/** What gets embedded: the chunk with its title and heading, so a section's context counts. */
export const embeddingText = (title: string, heading: string, text: string) => [title, heading, text].filter(Boolean).join('\n')
