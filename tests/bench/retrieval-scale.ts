/**
 * Knowledge search at scale: 100,000 chunks in one organization on the embedded defaults (PGlite
 * in a temporary DATA_DIR, hashing embedder), loaded through the real ingestion path (sources
 * added with `knowledge.addSource`, processed by the ingest job: chunking, embedding, postings,
 * HNSW), then questions searched as the answering step searches.
 *
 * The text is real English: each chunk is three sentences drawn from the SQuAD paragraphs of
 * ../shared/data/retrieval (deterministic seed) under its own heading, so term frequencies are
 * those of real prose. The questions are SQuAD questions.
 *
 * Prints the ingestion rate (chunks/s; target 500 or better), search latency p50/p95/p99
 * (target: p95 under 20 ms) and peak RSS, and a final JSON line.
 *
 *   npm run bench -- retrieval-scale                  100,000 chunks, 500 questions
 *   npm run bench -- retrieval-scale --chunks 20000   a smaller run
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../adapters/channels.ts'
import { sentences } from '../../core/knowledge/text.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { buildApp, type App } from '../../bots/app.ts'
import { rng } from './corpus.ts'

const SQUAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/retrieval/squad-dev-v1.1.json')
const TARGETS = { searchP95Ms: 20, chunksPerSecond: 500 }
const CHUNKS_PER_SOURCE = 500
const UNLIMITED = JSON.stringify({ trial: { responsesPerPeriod: null, limits: { agents: null, chunks: null, channels: null } } })

type Squad = { data: { paragraphs: { context: string; qas: { question: string }[] }[] }[] }

export async function retrievalScale(argv: string[] = []): Promise<void> {
  let total = 100_000
  let queries = 500
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--chunks') total = Number(argv[++i])
    else if (argv[i] === '--queries') queries = Number(argv[++i])
    else throw new Error(`retrieval-scale: unknown option ${argv[i]} (options: --chunks <n>, --queries <n>)`)
  }
  if (!(total > 0 && queries > 0)) throw new Error('retrieval-scale: --chunks and --queries need positive numbers')

  const squad = JSON.parse(readFileSync(SQUAD, 'utf8')) as Squad
  const pool = squad.data.flatMap((a) => a.paragraphs.flatMap((p) => sentences(p.context)))
  const questions = squad.data.flatMap((a) => a.paragraphs.flatMap((p) => p.qas.map((q) => q.question)))
  const random = rng(42)
  const pick = <X,>(xs: X[]) => xs[Math.floor(random() * xs.length)]!

  let peakRss = 0
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100)
  const dataDir = await mkdtemp(path.join(tmpdir(), 'switchboard-scale-'))
  let app: App | undefined
  try {
    const config = loadConfig({ ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'error', DEMO_SEED: 'false', PORT: '0', PLANS_JSON: UNLIMITED, OPENAI_API_KEY: '' })
    app = await buildApp({ config, logger: createLogger({ level: 'error', destination: process.stderr }), role: 'all' })
    const { organization } = await app.auth.createOrganizationWithOwner({ organizationName: 'Scale', email: `scale-${Date.now()}@example.com`, name: 'Bench', password: 'correct horse battery staple' })
    const { agent } = await app.agents.createFor(organization.id, { name: 'Scale agent' })
    const organizationId = organization.id

    // Ingestion: sources of CHUNKS_PER_SOURCE sections each, one chunk per section.
    const sources = Math.ceil(total / CHUNKS_PER_SOURCE)
    const started = performance.now()
    for (let s = 0; s < sources; s++) {
      const n = Math.min(CHUNKS_PER_SOURCE, total - s * CHUNKS_PER_SOURCE)
      const sections = Array.from({ length: n }, (_, i) => `## Note ${s}-${i}\n\n${pick(pool)} ${pick(pool)} ${pick(pool)}`)
      await app.knowledge.addSource({ organizationId, agentId: null, title: `Handbook volume ${s + 1}`, kind: 'markdown', content: sections.join('\n\n'), uri: `scale/${s}` })
    }
    for (;;) {
      const list = await app.store.knowledge.listSources(organizationId)
      const failed = list.find((x) => x.status === 'failed')
      if (failed) throw new Error(`ingestion failed: ${failed.title}: ${failed.error}`)
      const done = list.filter((x) => x.status === 'ready').reduce((sum, x) => sum + x.chunkCount, 0)
      const seconds = (performance.now() - started) / 1000
      process.stderr.write(`\rindexed ${done}/${total} chunks, ${Math.round(done / seconds)} chunks/s, RSS ${Math.round(process.memoryUsage().rss / 1048576)} MB   `)
      if (list.every((x) => x.status === 'ready')) break
      await new Promise((r) => setTimeout(r, 1000))
    }
    const ingestSeconds = (performance.now() - started) / 1000
    const chunks = await app.store.knowledge.countChunks(organizationId)
    process.stderr.write('\n')

    // Search: a warm-up, then the measured questions.
    const asked = Array.from({ length: queries + 50 }, () => pick(questions))
    const latencies: number[] = []
    let found = 0
    for (const [i, q] of asked.entries()) {
      const t0 = performance.now()
      const result = await app.knowledge.search({ organizationId, agentId: agent.id, query: q, limit: 5 })
      if (i < 50) continue
      latencies.push(performance.now() - t0)
      if (result.passages.length) found++
    }
    latencies.sort((a, b) => a - b)
    const pct = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]! * 10) / 10
    const result = {
      benchmark: 'retrieval-scale',
      chunks,
      sources,
      ingestSeconds: Math.round(ingestSeconds),
      chunksPerSecond: Math.round(chunks / ingestSeconds),
      queries: latencies.length,
      withPassages: found,
      searchP50Ms: pct(50),
      searchP95Ms: pct(95),
      searchP99Ms: pct(99),
      peakRssMb: Math.round(peakRss / 1048576),
    }
    console.log('')
    console.log(`retrieval-scale: ${chunks} chunks in one organization (${sources} sources), PGlite, hashing embedder`)
    console.log(`ingestion      ${result.chunksPerSecond} chunks/s (${result.ingestSeconds} s)   target >= ${TARGETS.chunksPerSecond}: ${result.chunksPerSecond >= TARGETS.chunksPerSecond ? 'MET' : 'MISSED'}`)
    console.log(`search         p50 ${result.searchP50Ms} ms, p95 ${result.searchP95Ms} ms, p99 ${result.searchP99Ms} ms over ${result.queries} questions (${found} with passages)   target p95 < ${TARGETS.searchP95Ms} ms: ${result.searchP95Ms < TARGETS.searchP95Ms ? 'MET' : 'MISSED'}`)
    console.log(`peak RSS       ${result.peakRssMb} MB`)
    console.log('')
    console.log(JSON.stringify(result))
  } finally {
    clearInterval(sampler)
    await app?.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}
