/**
 * Web chat turns end to end on the embedded defaults (PGlite on disk, in-process queue, hashing
 * embedder, extractive answerer): real HTTP POST /api/v1/webchat/{key}/messages against a
 * ~300-chunk knowledge base, at concurrency 1 and 32. Reports turns/s, latency percentiles, errors
 * and the process's peak RSS (sampled every 20 ms for the whole run, ingestion included).
 *
 * Beside each phase runs its floor, in the same process and run: an HTTP request that does only
 * what a turn must do (store the inbound message, one knowledge search, the extractive answer,
 * store the reply), so the pipeline's throughput is reported as a share of what the machine can
 * do at that moment. Database statements are counted at the wire protocol (deterministic, unlike
 * times): for one plain turn in an existing conversation, and per turn over each phase.
 */
import http from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../adapters/channels.ts'

import { createLogger } from '../../adapters/log/logger.ts'
import { listen } from '../../adapters/http/server.ts'
import { buildApp, type App } from '../../bots/app.ts'
import express from 'express'
import { createExtractiveAnswerer } from '../../adapters/local-ai/extractive-answerer.ts'
import { newId } from '../../core/ids.ts'
import { statementCounter, type StatementCount } from '../support/statement-counter.ts'
import { generateCorpus, ingestCorpus, shuffle, type BenchQuestion } from './corpus.ts'

/** The benchmarks run far more turns than a Trial's monthly responses: measure without the quota. */
const UNLIMITED_TRIAL = JSON.stringify({ trial: { responsesPerPeriod: null, limits: { agents: null, chunks: null, channels: null } } })
/** All the benchmark's turns come from one address to one web chat key. */
const NO_WEBCHAT_RATE_LIMITS = { WEBCHAT_RATE_PER_IP: '0', WEBCHAT_RATE_PER_KEY: '0' }

export const TARGETS = { p95MsAtConcurrency1: 50, peakRssMb: 300, statementsPerTurn: 8, shareOfFloorAtConcurrency32: 0.5 }
const CHUNKS_MIN = 280
const CHUNKS_MAX = 320
/** The pipeline allows 30 turns a minute per conversation: a client starts a new session well before that. */
const TURNS_PER_SESSION = 20
const RATE_LIMITED = 'You are sending messages'

export type PhaseResult = {
  name: string
  concurrency: number
  turns: number
  seconds: number
  turnsPerSecond: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  errors: number
  /** replies that quote the knowledge base (not "could not find anything") */
  answered: number
  peakRssMb: number
  /** database statements (and protocol round trips) sent during the phase, per turn */
  statementsPerTurn: number
  roundTripsPerTurn: number
}

export type TurnsResult = {
  benchmark: 'turns'
  chunks: number
  sources: number
  ingestSeconds: number
  phases: PhaseResult[]
  /** the pipeline's turns/s as a share of its floor's at the same concurrency */
  shareOfFloor: { concurrency: number; share: number }[]
  /** one plain answered turn in an existing conversation, and the first turn of a new one */
  oneTurn: { existing: StatementCount; firstOfConversation: StatementCount }
  peakRssMb: number
  targets: {
    p95MsAtConcurrency1: { target: number; actual: number; met: boolean }
    peakRssMb: { target: number; actual: number; met: boolean }
    statementsPerTurn: { target: number; actual: number; met: boolean }
    shareOfFloorAtConcurrency32: { target: number; actual: number; met: boolean }
  }
  /** process.memoryUsage() at points of the run, in MB */
  memory: { at: string; rssMb: number; heapUsedMb: number; externalMb: number; arrayBuffersMb: number }[]
  errorSamples: string[]
  /** the machine: figures vary with whatever else runs on it */
  machine: { cpus: number; node: string; loadAverage1mAtStart: number; loadAverage1mAtEnd: number }
}

type Options = { warmupTurns: number; c1Turns: number; c32Turns: number; concurrency: number }

const DEFAULTS: Options = { warmupTurns: 30, c1Turns: 300, c32Turns: 1000, concurrency: 32 }

export async function runTurnsBenchmark(partial: Partial<Options> = {}): Promise<TurnsResult> {
  const opts = { ...DEFAULTS, ...partial }
  const loadAtStart = loadavg()[0]!
  const rss = startRssSampler(20)
  const dataDir = await mkdtemp(path.join(tmpdir(), 'switchboard-bench-'))
  let app: App | undefined
  let server: Server | undefined
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
  const memory: TurnsResult['memory'] = []
  const snapshot = (at: string) => {
    const m = process.memoryUsage()
    const mb = (b: number) => round(b / 1048576, 1)
    memory.push({ at, rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers) })
  }
  try {
    snapshot('start (modules loaded)')
    const config = loadConfig({ ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'error', DEMO_SEED: 'false', PORT: '0', HOST: '127.0.0.1', PLANS_JSON: UNLIMITED_TRIAL, ...NO_WEBCHAT_RATE_LIMITS })
    const logger = createLogger({ level: config.LOG_LEVEL, destination: process.stderr })
    const bootStarted = performance.now()
    app = await buildApp({ config, logger, role: 'all' })
    server = await listen(app.http, 0, '127.0.0.1')
    const port = (server.address() as AddressInfo).port
    snapshot('app built (fresh DATA_DIR)')
    log(`app built and listening on 127.0.0.1:${port} in ${ms(performance.now() - bootStarted)} ms (DATA_DIR ${dataDir}, WORKER_CONCURRENCY ${config.WORKER_CONCURRENCY})`)

    // An organization, its agent and web chat inbox.
    const { organization } = await app.auth.createOrganizationWithOwner({ organizationName: 'Bench Co', email: `bench-${Date.now()}@example.com`, name: 'Bench owner', password: 'correct horse battery staple' })
    const { webchat } = await app.agents.createFor(organization.id, { name: 'Bench assistant' })
    const key = webchat.publicKey!

    // The knowledge base: ~300 chunks.
    const corpus = generateCorpus()
    const ingestStarted = performance.now()
    await ingestCorpus(app, organization.id, corpus.articles, 120_000)
    const ingestSeconds = (performance.now() - ingestStarted) / 1000
    const chunks = await app.store.knowledge.countChunks(organization.id)
    snapshot('knowledge indexed')
    log(`knowledge base: ${corpus.articles.length} sources, ${chunks} chunks, indexed in ${ingestSeconds.toFixed(2)} s (peak RSS so far ${rss.peakMb().toFixed(0)} MB)`)
    if (chunks < CHUNKS_MIN || chunks > CHUNKS_MAX) throw new Error(`expected ${CHUNKS_MIN}–${CHUNKS_MAX} chunks, got ${chunks}: adjust the corpus`)

    const errorSamples: string[] = []
    const send = makeClient({ port, path: `/api/v1/webchat/${key}/messages`, agent, errorSamples })
    const questions = shuffle(corpus.questions, 7)
    const counter = statementCounter()

    // The floor: its own express server in this process, on the same database and knowledge.
    const floor = await startFloor({ app, organizationId: organization.id, agentId: webchat.agentId, inboxId: webchat.id })
    const sendFloor = makeClient({ port: floor.port, path: '/floor/messages', agent, errorSamples })

    const runTag = Date.now().toString(36)
    const warm = await runPhase({ name: 'warm-up', concurrency: 1, turns: opts.warmupTurns, questions, send, rss, counter, sessionPrefix: `b${runTag}-w` })
    log(`warm-up: ${warm.turns} turns, ${warm.errors} errors, p50 ${warm.p50Ms} ms`)
    await runPhase({ name: 'floor warm-up', concurrency: 1, turns: opts.warmupTurns, questions, send: sendFloor, rss, counter, sessionPrefix: `f${runTag}-w` })

    // One plain answered turn in a conversation that exists (its previous turn just answered), and
    // the first turn of a new conversation, counted one at a time.
    const question = questions[0]!.text
    await send({ sessionId: `b${runTag}-one`, text: question, messageId: `b${runTag}-one-0` })
    counter.start()
    await send({ sessionId: `b${runTag}-one`, text: question, messageId: `b${runTag}-one-1` })
    const existing = counter.stop()
    counter.start()
    await send({ sessionId: `b${runTag}-two`, text: question, messageId: `b${runTag}-two-0` })
    const firstOfConversation = counter.stop()
    log(`one plain turn: ${existing.statements} statements (${existing.roundTrips} protocol round trips); first turn of a conversation: ${firstOfConversation.statements} (${firstOfConversation.roundTrips})`)

    const f1 = await runPhase({ name: 'floor, concurrency 1', concurrency: 1, turns: opts.c1Turns, questions, send: sendFloor, rss, counter, sessionPrefix: `f${runTag}-a` })
    const c1 = await runPhase({ name: 'concurrency 1', concurrency: 1, turns: opts.c1Turns, questions, send, rss, counter, sessionPrefix: `b${runTag}-a` })
    snapshot('after concurrency 1')
    log(`concurrency 1: ${c1.turns} turns, p95 ${c1.p95Ms} ms (floor ${f1.p95Ms} ms)`)
    // Open the clients' keep-alive connections before the clock starts: under a saturated event
    // loop, accepting 32 new connections at once takes seconds and would be measured as turn latency.
    await openConnections({ port, agent, count: opts.concurrency })
    await openConnections({ port: floor.port, agent, count: opts.concurrency })
    const fN = await runPhase({ name: `floor, concurrency ${opts.concurrency}`, concurrency: opts.concurrency, turns: opts.c32Turns, questions, send: sendFloor, rss, counter, sessionPrefix: `f${runTag}-b` })
    const cN = await runPhase({ name: `concurrency ${opts.concurrency}`, concurrency: opts.concurrency, turns: opts.c32Turns, questions, send, rss, counter, sessionPrefix: `b${runTag}-b` })
    snapshot(`after concurrency ${opts.concurrency}`)
    log(`concurrency ${opts.concurrency}: ${cN.turns} turns, p95 ${cN.p95Ms} ms (floor ${fN.p95Ms} ms)`)
    await floor.close()

    const peakRssMb = rss.peakMb()
    const share = (a: PhaseResult, b: PhaseResult) => round(b.turnsPerSecond ? a.turnsPerSecond / b.turnsPerSecond : 0, 3)
    const shareN = share(cN, fN)
    return {
      benchmark: 'turns',
      chunks,
      sources: corpus.articles.length,
      ingestSeconds: round(ingestSeconds, 2),
      phases: [f1, c1, fN, cN],
      shareOfFloor: [
        { concurrency: 1, share: share(c1, f1) },
        { concurrency: opts.concurrency, share: shareN },
      ],
      oneTurn: { existing, firstOfConversation },
      peakRssMb: round(peakRssMb, 1),
      targets: {
        p95MsAtConcurrency1: { target: TARGETS.p95MsAtConcurrency1, actual: c1.p95Ms, met: c1.p95Ms < TARGETS.p95MsAtConcurrency1 },
        peakRssMb: { target: TARGETS.peakRssMb, actual: round(peakRssMb, 1), met: peakRssMb < TARGETS.peakRssMb },
        statementsPerTurn: { target: TARGETS.statementsPerTurn, actual: existing.statements, met: existing.statements <= TARGETS.statementsPerTurn },
        shareOfFloorAtConcurrency32: { target: TARGETS.shareOfFloorAtConcurrency32, actual: shareN, met: shareN >= TARGETS.shareOfFloorAtConcurrency32 },
      },
      memory,
      errorSamples: errorSamples.slice(0, 5),
      machine: { cpus: cpus().length, node: process.version, loadAverage1mAtStart: round(loadAtStart, 2), loadAverage1mAtEnd: round(loadavg()[0]!, 2) },
    }
  } finally {
    agent.destroy()
    if (server) {
      const s = server
      await new Promise<void>((resolve) => s.close(() => resolve()))
      s.closeAllConnections?.()
    }
    await app?.close()
    rss.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

/** Prints the table, the targets and the final JSON line. */
export function printTurnsResult(r: TurnsResult): void {
  const header = ['phase', 'turns', 'seconds', 'turns/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors', 'answered', 'statements/turn', 'round trips/turn', 'peak RSS MB']
  const rows = r.phases.map((p) => [p.name, p.turns, p.seconds, p.turnsPerSecond, p.p50Ms, p.p95Ms, p.p99Ms, p.maxMs, p.errors, p.answered, p.statementsPerTurn, p.roundTripsPerTurn, p.peakRssMb].map(String))
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  console.log('')
  console.log(`turns: web chat over HTTP, extractive answerer, PGlite, ${r.sources} sources / ${r.chunks} chunks (indexed in ${r.ingestSeconds} s)`)
  console.log(`machine: ${r.machine.cpus} CPUs, Node ${r.machine.node}, load average (1 min) ${r.machine.loadAverage1mAtStart} at start, ${r.machine.loadAverage1mAtEnd} at end; client and server share one process`)
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const row of rows) console.log(line(row))
  console.log('')
  const mark = (met: boolean) => (met ? 'MET' : 'MISSED')
  const t = r.targets
  console.log(`target  p95 at concurrency 1 < ${t.p95MsAtConcurrency1.target} ms (${r.chunks} chunks): ${t.p95MsAtConcurrency1.actual} ms  ${mark(t.p95MsAtConcurrency1.met)}`)
  console.log(`target  peak RSS < ${t.peakRssMb.target} MB (whole run, ingestion included): ${t.peakRssMb.actual} MB  ${mark(t.peakRssMb.met)}`)
  console.log(`target  statements for one plain answered turn <= ${t.statementsPerTurn.target}: ${t.statementsPerTurn.actual} (${r.oneTurn.existing.roundTrips} protocol round trips)  ${mark(t.statementsPerTurn.met)}`)
  console.log(`target  turns/s at concurrency ${r.shareOfFloor[1]?.concurrency} >= ${t.shareOfFloorAtConcurrency32.target * 100}% of the floor's: ${round(t.shareOfFloorAtConcurrency32.actual * 100, 1)}%  ${mark(t.shareOfFloorAtConcurrency32.met)}`)
  console.log(`  share of the floor: ${r.shareOfFloor.map((s) => `concurrency ${s.concurrency} ${round(s.share * 100, 1)}%`).join(', ')}`)
  const list = (c: StatementCount) => c.texts.map((text, i) => `    ${String(i + 1).padStart(2)}. ${text.replace(/\s+/g, ' ').trim().slice(0, 150)}`).join('\n')
  console.log(`  one plain turn (existing conversation), ${r.oneTurn.existing.statements} statements:\n${list(r.oneTurn.existing)}`)
  console.log(`  first turn of a conversation: ${r.oneTurn.firstOfConversation.statements} statements, ${r.oneTurn.firstOfConversation.roundTrips} round trips`)
  console.log(`  ${'memory (MB)'.padEnd(28)}` + ['rss', 'heapUsed', 'external', 'arrayBuffers'].map((h) => h.padStart(14)).join(''))
  for (const m of r.memory) console.log(`  ${m.at.padEnd(28)}${[m.rssMb, m.heapUsedMb, m.externalMb, m.arrayBuffersMb].map((v) => String(v).padStart(14)).join('')}`)
  if (r.errorSamples.length) console.log(`errors (first ${r.errorSamples.length}):\n  ${r.errorSamples.join('\n  ')}`)
  console.log('')
  console.log(JSON.stringify({ ...r, oneTurn: { existing: { ...r.oneTurn.existing, texts: undefined }, firstOfConversation: { ...r.oneTurn.firstOfConversation, texts: undefined } } }))
}

// ---------------------------------------------------------------------------------------------

type Send = (body: { sessionId: string; text: string; messageId: string }) => Promise<{ ok: boolean; answered: boolean }>

function makeClient(input: { port: number; path: string; agent: http.Agent; errorSamples: string[] }): Send {
  const path = input.path
  const fail = (why: string) => {
    if (input.errorSamples.length < 20) input.errorSamples.push(why)
    return { ok: false, answered: false }
  }
  return (body) =>
    new Promise((resolve) => {
      const payload = JSON.stringify(body)
      const req = http.request(
        { host: '127.0.0.1', port: input.port, path, method: 'POST', agent: input.agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          const parts: Buffer[] = []
          res.on('data', (d: Buffer) => parts.push(d))
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8')
            if (res.statusCode !== 200) return resolve(fail(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`))
            let reply: string | undefined
            try {
              reply = (JSON.parse(text) as { messages?: { text?: string }[] }).messages?.[0]?.text
            } catch {
              return resolve(fail(`unparseable body: ${text.slice(0, 200)}`))
            }
            if (!reply || !reply.trim()) return resolve(fail(`empty reply: ${text.slice(0, 200)}`))
            if (reply.startsWith(RATE_LIMITED)) return resolve(fail(`rate limited: ${reply.slice(0, 120)}`))
            resolve({ ok: true, answered: reply.startsWith('From "') })
          })
          res.on('error', (err) => resolve(fail(`response error: ${err.message}`)))
        },
      )
      req.on('error', (err) => resolve(fail(`request error: ${err.message}`)))
      req.end(payload)
    })
}

async function runPhase(input: {
  name: string
  concurrency: number
  turns: number
  questions: BenchQuestion[]
  send: Send
  rss: RssSampler
  counter: ReturnType<typeof statementCounter>
  sessionPrefix: string
}): Promise<PhaseResult> {
  const { concurrency, turns, questions, send } = input
  const latencies: number[] = []
  let errors = 0
  let answered = 0
  let next = 0
  input.rss.resetPhase()
  input.counter.start()
  const started = performance.now()
  const client = async (c: number) => {
    let own = 0
    for (;;) {
      const i = next++
      if (i >= turns) return
      const session = Math.floor(own / TURNS_PER_SESSION)
      own++
      const q = questions[i % questions.length]!
      const body = { sessionId: `${input.sessionPrefix}-c${c}-s${session}`, text: q.text, messageId: `${input.sessionPrefix}-${i}` }
      const t0 = performance.now()
      const r = await send(body)
      latencies.push(performance.now() - t0)
      if (!r.ok) errors++
      if (r.answered) answered++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, c) => client(c)))
  const seconds = (performance.now() - started) / 1000
  const counted = input.counter.stop()
  latencies.sort((a, b) => a - b)
  return {
    name: input.name,
    concurrency,
    turns,
    seconds: round(seconds, 2),
    turnsPerSecond: round(turns / seconds, 1),
    p50Ms: round(percentile(latencies, 50), 1),
    p95Ms: round(percentile(latencies, 95), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    maxMs: round(latencies.at(-1) ?? 0, 1),
    errors,
    answered,
    peakRssMb: round(input.rss.phasePeakMb(), 1),
    statementsPerTurn: round(counted.statements / turns, 2),
    roundTripsPerTurn: round(counted.roundTrips / turns, 1),
  }
}

/**
 * The floor: the same HTTP request (JSON body in, the reply as JSON out) doing only what any turn
 * must: store the inbound message, one knowledge search, the extractive answer, store the reply.
 * Raw SQL on the database's runner, no queue, no pipeline.
 */
async function startFloor(input: { app: App; organizationId: string; agentId: string; inboxId: string }) {
  const { app, organizationId, agentId, inboxId } = input
  const agentRow = (await app.store.agents.get(organizationId, agentId))!
  const conversation = await app.store.conversations.resolve({ inbox: (await app.store.inboxes.get(inboxId))!, externalThreadId: `floor-${Date.now()}`, externalUserId: 'floor' })
  const answerer = createExtractiveAnswerer()
  const insert = `INSERT INTO "Message" (id, "organizationId", "inboxId", "conversationId", "externalMessageId", direction, author, text, sources, status, "replyToId")
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)`
  const floorApp = express()
  floorApp.use(express.json())
  floorApp.post('/floor/messages', async (req, res) => {
    try {
      const { text, messageId } = req.body as { text: string; messageId: string }
      const inboundId = newId()
      await app.db.runner.query(insert, [inboundId, organizationId, inboxId, conversation.id, `floor:${messageId}`, 'in', 'contact', text, '[]', 'done', null])
      const search = await app.knowledge.search({ organizationId, agentId, query: text })
      const answer = await answerer.answer({ agent: agentRow, question: text, history: [], passages: search.passages, relevant: search.relevant, context: { organizationId, contactId: conversation.contactId, conversationId: conversation.id } })
      const replyId = newId()
      await app.db.runner.query(insert, [replyId, organizationId, inboxId, conversation.id, `floor-reply:${messageId}`, 'out', 'agent', answer.text, JSON.stringify(answer.sources), 'sent', inboundId])
      res.json({ conversationId: conversation.id, messageId: inboundId, messages: [{ id: replyId, author: 'agent', text: answer.text, sources: answer.sources.map((s) => ({ title: s.title, snippet: s.snippet })) }] })
    } catch (error) {
      res.status(500).json({ error: (error as Error).message })
    }
  })
  const server = await listen(floorApp, 0, '127.0.0.1')
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections?.()
    }),
  }
}

/** Opens `count` keep-alive connections in the agent's pool (GET /healthz on each at once). */
async function openConnections(input: { port: number; agent: http.Agent; count: number }) {
  await Promise.all(
    Array.from(
      { length: input.count },
      () =>
        new Promise<void>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: input.port, path: '/healthz', agent: input.agent }, (res) => {
            res.resume()
            res.on('end', resolve)
          }).on('error', reject)
        }),
    ),
  )
}

type RssSampler = ReturnType<typeof startRssSampler>

/** Samples process.memoryUsage().rss every `everyMs`; keeps the peak of the whole run and of the current phase. */
function startRssSampler(everyMs: number) {
  let peak = 0
  let phasePeak = 0
  const sample = () => {
    const rss = process.memoryUsage().rss
    if (rss > peak) peak = rss
    if (rss > phasePeak) phasePeak = rss
  }
  sample()
  const timer = setInterval(sample, everyMs)
  timer.unref()
  const mb = (b: number) => b / 1024 / 1024
  return {
    peakMb: () => {
      sample()
      return mb(peak)
    },
    phasePeakMb: () => {
      sample()
      return mb(phasePeak)
    },
    resetPhase: () => {
      phasePeak = 0
      sample()
    },
    stop: () => clearInterval(timer),
  }
}

/** Nearest-rank percentile of a sorted array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}



const round = (x: number, digits: number) => Number(x.toFixed(digits))
const ms = (x: number) => Math.round(x)
const log = (msg: string) => console.log(`[turns] ${msg}`)

/** `--turns1 <n>` and `--turnsN <n>`: turns per phase at concurrency 1 and 32 (300 and 1,000), for a quicker run on a busy machine. */
export async function turns(options: string[] = []): Promise<void> {
  const number = (name: string) => {
    const at = options.indexOf(name)
    if (at < 0) return undefined
    const n = Number(options[at + 1])
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a whole number of turns`)
    return n
  }
  const c1Turns = number('--turns1')
  const c32Turns = number('--turnsN')
  printTurnsResult(await runTurnsBenchmark({ ...(c1Turns ? { c1Turns } : {}), ...(c32Turns ? { c32Turns } : {}) }))
}
