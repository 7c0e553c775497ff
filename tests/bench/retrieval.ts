/**
 * Knowledge-base search quality on real question sets in SQuAD v1.1 format: every paragraph is one
 * knowledge source, every question a query, and the question's own paragraph the one right answer.
 * Everything goes through the real path on the embedded defaults: PGlite in a temporary DATA_DIR,
 * `knowledge.addSource` and the ingest job (chunking, hashing embedder, lexical postings, HNSW),
 * then `knowledge.search` as the answering step calls it (the question embedded, BM25 fused with
 * vector similarity). A paragraph split into several chunks counts once, at its best chunk.
 *
 * Prints Recall@1, Recall@5, MRR@10 and search latency p50/p95 per file, against the plain BM25
 * reference of ../shared/data/retrieval/README.md, and a final JSON line. A file of many small
 * sources (SQuAD: 2,067 one-paragraph sources) is also the many-small-sources case: its ingestion
 * rate (target 300 chunks/s or better) and search p50 (target under 10 ms at about 2,000 chunks)
 * are printed beside their targets, with the floor of one trivial statement measured in the same
 * run and the load average, since absolute times differ between machines.
 *
 *   npm run bench -- retrieval                      both files of ../shared/data/retrieval
 *   npm run bench -- retrieval --file <path>        any other file in SQuAD format
 *   npm run bench -- retrieval --limit 2000         every n-th question, about that many (quicker)
 *   npm run bench -- retrieval --titles             index each paragraph under its article's title
 *
 * Paragraphs are indexed under neutral titles ("Paragraph 17") by default, so the figures compare
 * with the reference BM25, which saw the paragraph text only.
 */
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../adapters/channels.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { buildApp, type App } from '../../bots/app.ts'

const DATA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/retrieval')
/** Plain Okapi BM25 on these files (README of that folder). */
const REFERENCE: Record<string, { r1: number; r5: number; mrr10: number }> = {
  'squad-dev-v1.1.json': { r1: 0.758, r5: 0.912, mrr10: 0.825 },
  'xquad-ru-dev.json': { r1: 0.831, r5: 0.929, mrr10: 0.874 },
}
/** The target: at least this much more Recall@1 than plain BM25. */
const TARGET_GAIN_R1 = 0.03
/** Many small sources (a file of at least MANY_SOURCES paragraphs): ingestion and search targets. */
const MANY_SOURCES = 1000
const MANY_TARGETS = { chunksPerSecond: 300, searchP50Ms: 10 }
const UNLIMITED = JSON.stringify({ trial: { responsesPerPeriod: null, limits: { agents: null, chunks: null, channels: null } } })

type Squad = { data: { title: string; paragraphs: { context: string; qas: { id: string; question: string }[] }[] }[] }
export type RetrievalResult = {
  file: string
  paragraphs: number
  chunks: number
  questions: number
  ingestSeconds: number
  chunksPerSecond: number
  recallAt1: number
  recallAt5: number
  mrrAt10: number
  searchP50Ms: number
  searchP95Ms: number
  /** p50 of `SELECT 1` on the same database in the same run: the floor a search's statements stand on. */
  statementFloorMs: number
  /** 1-minute load average when ingestion started, when it ended and when the searches ended. */
  load: { ingestStart: number; ingestEnd: number; searchEnd: number }
  reference?: { r1: number; r5: number; mrr10: number }
  targetR1?: number
  met?: boolean
}

type Options = { files: string[]; limit: number | null; titles: boolean }

function parseArgs(argv: string[]): Options {
  const files: string[] = []
  let limit: number | null = null
  let titles = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--file') files.push(path.resolve(argv[++i] ?? ''))
    else if (a === '--limit') limit = Number(argv[++i])
    else if (a === '--titles') titles = true
    else throw new Error(`retrieval: unknown option ${a} (options: --file <path>, --limit <n>, --titles)`)
  }
  if (limit !== null && !(Number.isInteger(limit) && limit > 0)) throw new Error('retrieval: --limit needs a positive whole number')
  if (!files.length) files.push(path.join(DATA_DIR, 'squad-dev-v1.1.json'), path.join(DATA_DIR, 'xquad-ru-dev.json'))
  for (const f of files) if (!existsSync(f)) throw new Error(`retrieval: no such file: ${f}`)
  return { files, limit, titles }
}

export async function retrieval(argv: string[] = []): Promise<void> {
  const options = parseArgs(argv)
  const results: RetrievalResult[] = []
  for (const file of options.files) results.push(await runFile(file, options))
  console.log('')
  console.log('retrieval: paragraph retrieval through ingestion and hybrid search on the embedded defaults (PGlite, local hashing embedder)')
  const header = ['file', 'paragraphs', 'chunks', 'questions', 'R@1', 'R@5', 'MRR@10', 'BM25 R@1', 'search p50 ms', 'p95 ms', 'ingest chunks/s']
  const rows = results.map((r) => [r.file, r.paragraphs, r.chunks, r.questions, r.recallAt1.toFixed(3), r.recallAt5.toFixed(3), r.mrrAt10.toFixed(3), r.reference ? r.reference.r1.toFixed(3) : '-', r.searchP50Ms, r.searchP95Ms, r.chunksPerSecond].map(String))
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const row of rows) console.log(line(row))
  console.log('')
  for (const r of results) {
    if (r.targetR1 === undefined) continue
    console.log(`target  ${r.file}: Recall@1 >= ${r.targetR1.toFixed(3)} (plain BM25 ${r.reference!.r1} + ${TARGET_GAIN_R1}): ${r.recallAt1.toFixed(3)}  ${r.met ? 'MET' : 'MISSED'}${options.limit ? ' (sampled questions)' : ''}`)
  }
  for (const r of results) {
    if (r.paragraphs < MANY_SOURCES) continue
    const ingest = r.chunksPerSecond >= MANY_TARGETS.chunksPerSecond
    const search = r.searchP50Ms < MANY_TARGETS.searchP50Ms
    console.log(
      `many small sources  ${r.file}: ${r.paragraphs} sources, ${(r.chunks / r.paragraphs).toFixed(2)} chunks each: ingestion ${r.chunksPerSecond} chunks/s ` +
        `(${Math.round(r.paragraphs / r.ingestSeconds)} sources/s)   target >= ${MANY_TARGETS.chunksPerSecond}: ${ingest ? 'MET' : 'MISSED'}`,
    )
    console.log(
      `                    search p50 ${r.searchP50Ms} ms, p95 ${r.searchP95Ms} ms at ${r.chunks} chunks = ${Math.round(r.searchP50Ms / r.statementFloorMs)} x the floor of one statement (${r.statementFloorMs} ms)   target p50 < ${MANY_TARGETS.searchP50Ms} ms: ${search ? 'MET' : 'MISSED'}`,
    )
    console.log(`                    load average (1 min): ${r.load.ingestStart} at the start of ingestion, ${r.load.ingestEnd} at its end, ${r.load.searchEnd} after the searches; ${cpus().length} CPUs`)
  }
  console.log('')
  console.log(JSON.stringify({ benchmark: 'retrieval', titles: options.titles, limit: options.limit, results }))
}

async function runFile(file: string, options: Options): Promise<RetrievalResult> {
  const name = path.basename(file)
  const squad = JSON.parse(readFileSync(file, 'utf8')) as Squad
  const paragraphs: { title: string; context: string; questions: string[] }[] = []
  for (const article of squad.data) for (const p of article.paragraphs) paragraphs.push({ title: article.title.replace(/_/g, ' '), context: p.context, questions: p.qas.map((q) => q.question) })
  let questions = paragraphs.flatMap((p, index) => p.questions.map((text) => ({ text, index })))
  if (options.limit && questions.length > options.limit) {
    const step = questions.length / options.limit
    questions = Array.from({ length: options.limit }, (_, i) => questions[Math.floor(i * step)]!)
  }

  const dataDir = await mkdtemp(path.join(tmpdir(), 'switchboard-retrieval-'))
  let app: App | undefined
  try {
    const config = loadConfig({ ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'error', DEMO_SEED: 'false', PORT: '0', PLANS_JSON: UNLIMITED, OPENAI_API_KEY: '' })
    app = await buildApp({ config, logger: createLogger({ level: 'error', destination: process.stderr }), role: 'all' })
    const { organization } = await app.auth.createOrganizationWithOwner({ organizationName: 'Retrieval', email: `retrieval-${Date.now()}@example.com`, name: 'Bench', password: 'correct horse battery staple' })
    const { agent } = await app.agents.createFor(organization.id, { name: 'Retrieval agent' })
    const organizationId = organization.id

    // Ingestion through the queue, with progress.
    const loadAtStart = load1()
    const started = performance.now()
    const sourceOf: string[] = []
    for (const [i, p] of paragraphs.entries()) {
      const title = options.titles ? p.title : 'Paragraph'
      const source = await app.knowledge.addSource({ organizationId, agentId: null, title, kind: 'text', content: p.context, uri: `bench/${name}/${i}` })
      sourceOf.push(source.id)
    }
    const indexOf = new Map(sourceOf.map((id, i) => [id, i]))
    // Watched by counting statuses, not by listing thousands of sources: the watching shares the database.
    const { runner } = app.db
    const byStatus = async () => new Map((await runner.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM "KnowledgeSource" WHERE "organizationId" = $1 GROUP BY status`, [organizationId])).map((r) => [r.status, Number(r.n)]))
    for (;;) {
      const counts = await byStatus()
      if (counts.get('failed')) {
        const failed = (await app.store.knowledge.listSources(organizationId)).filter((s) => s.status === 'failed')
        throw new Error(`ingestion failed: ${failed.slice(0, 3).map((s) => `${s.title}: ${s.error}`).join('; ')}`)
      }
      const ready = counts.get('ready') ?? 0
      process.stderr.write(`\r${name}: indexed ${ready}/${paragraphs.length} paragraphs`)
      if (ready === paragraphs.length) break
      await new Promise((r) => setTimeout(r, 250))
    }
    const ingestSeconds = (performance.now() - started) / 1000
    const loadAtIngestEnd = load1()
    const chunks = await app.store.knowledge.countChunks(organizationId)
    process.stderr.write(`\r${name}: indexed ${paragraphs.length} paragraphs (${chunks} chunks) in ${ingestSeconds.toFixed(1)} s\n`)

    // Every question through the search the answering step uses.
    let hit1 = 0
    let hit5 = 0
    let rr = 0
    const latencies: number[] = []
    for (const [n, q] of questions.entries()) {
      const t0 = performance.now()
      const { passages } = await app.knowledge.search({ organizationId, agentId: agent.id, query: q.text, limit: 30 })
      latencies.push(performance.now() - t0)
      const ranked: number[] = []
      for (const p of passages) {
        const index = indexOf.get(p.sourceId)
        if (index !== undefined && !ranked.includes(index)) ranked.push(index)
      }
      const rank = ranked.indexOf(q.index) + 1
      if (rank === 1) hit1++
      if (rank >= 1 && rank <= 5) hit5++
      if (rank >= 1 && rank <= 10) rr += 1 / rank
      if (n % 200 === 0) process.stderr.write(`\r${name}: searched ${n}/${questions.length} questions`)
    }
    process.stderr.write(`\r${name}: searched ${questions.length}/${questions.length} questions\n`)
    latencies.sort((a, b) => a - b)
    const pct = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]! * 10) / 10
    const floor: number[] = []
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now()
      await app.db.runner.query('SELECT 1')
      floor.push(performance.now() - t0)
    }
    floor.sort((a, b) => a - b)
    const reference = REFERENCE[name]
    const r1 = hit1 / questions.length
    return {
      file: name,
      paragraphs: paragraphs.length,
      chunks,
      questions: questions.length,
      ingestSeconds: Math.round(ingestSeconds * 10) / 10,
      chunksPerSecond: Math.round(chunks / ingestSeconds),
      recallAt1: round3(r1),
      recallAt5: round3(hit5 / questions.length),
      mrrAt10: round3(rr / questions.length),
      searchP50Ms: pct(50),
      searchP95Ms: pct(95),
      statementFloorMs: Math.round(floor[floor.length >> 1]! * 1000) / 1000,
      load: { ingestStart: loadAtStart, ingestEnd: loadAtIngestEnd, searchEnd: load1() },
      ...(reference ? { reference, targetR1: round3(reference.r1 + TARGET_GAIN_R1), met: r1 >= reference.r1 + TARGET_GAIN_R1 } : {}),
    }
  } finally {
    await app?.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000
const load1 = () => Math.round(loadavg()[0]! * 100) / 100
