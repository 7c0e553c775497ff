/**
 * The LLM router's throughput and its own overhead, against a local fake OpenAI-compatible server
 * (node:http on 127.0.0.1) that answers POST /v1/chat/completions at once with a fixed
 * chat.completion (or, for `stream: true`, a fixed SSE stream), so what is measured is the router
 * plus the openai SDK plus local HTTP, never a model.
 *
 * Figures:
 * - calls/s and latency through the router at concurrency 1 and 16, and through a bare `OpenAI`
 *   client for comparison;
 * - the router's own overhead per call: the time of `router.complete()` minus the time spent inside
 *   the SDK's `chat.completions.create` (measured by wrapping the SDK client the router builds),
 *   at concurrency 1; target p95 under 2 ms. Also router calls against bare SDK calls made
 *   alternately with them (their percentiles include local HTTP jitter: indicative only).
 *
 * Then "turns through a model": the whole app on the embedded defaults (as in turns.ts: PGlite in
 * a temporary DATA_DIR, in-process queue, hashing embedder) with a ~100-chunk knowledge base and an
 * agent that answers through a provider key added with the real admin API (sign-in, POST
 * /api/v1/provider-keys, PATCH /api/v1/agents/:id) pointing at a fresh fake server. Real web chat
 * turns over HTTP (POST /api/v1/webchat/{key}/messages, JSON replies) at concurrency 1 and 16:
 * turns/s and latency, every reply checked (HTTP 200, text equal to the fake model's content), and
 * the model calls the fake server received (must equal the turns sent).
 *
 * Bounded: ~6 000 local router calls and ~700 turns, about half a minute. Prints tables and a
 * final JSON line.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { createLlmRouter } from '../../adapters/openai/llm-router.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { listen } from '../../adapters/http/server.ts'
import { buildApp, type App } from '../../bots/app.ts'
import { loadConfig } from '../../adapters/channels.ts'

/** The benchmarks run far more turns than a Trial's monthly responses: measure without the quota. */
const UNLIMITED_TRIAL = JSON.stringify({ trial: { responsesPerPeriod: null, limits: { agents: null, chunks: null, channels: null } } })
/** All the benchmark's turns come from one address to one web chat key. */
const NO_WEBCHAT_RATE_LIMITS = { WEBCHAT_RATE_PER_IP: '0', WEBCHAT_RATE_PER_KEY: '0' }
import type { LlmRequest } from '../../core/ports.ts'
import { generateCorpus, ingestCorpus, shuffle, type BenchQuestion } from './corpus.ts'

export const TARGETS = { overheadP95Ms: 2 }

type Options = {
  warmup: number
  overheadCalls: number
  c1Calls: number
  c16Calls: number
  streamCalls: number
  concurrency: number
  /** turns through a model: articles of the corpus (10 sections, so 10 chunks, each) */
  turnArticles: number
  turnWarmup: number
  c1Turns: number
  c16Turns: number
}
const DEFAULTS: Options = { warmup: 300, overheadCalls: 1000, c1Calls: 1000, c16Calls: 2000, streamCalls: 300, concurrency: 16, turnArticles: 10, turnWarmup: 20, c1Turns: 200, c16Turns: 500 }

type Phase = { name: string; concurrency: number; calls: number; seconds: number; callsPerSecond: number; p50Ms: number; p95Ms: number; p99Ms: number; errors: number }

export type LlmBenchResult = {
  benchmark: 'llm'
  phases: Phase[]
  overhead: {
    /** router.complete() minus the time inside the SDK call, concurrency 1 */
    internal: { calls: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number }
    /** router calls and bare SDK calls made alternately: their percentiles and the differences (HTTP jitter included) */
    versusBare: { pairs: number; routerP50Ms: number; bareP50Ms: number; routerP95Ms: number; bareP95Ms: number; p50DifferenceMs: number; p95DifferenceMs: number }
    /** the same for streamed answers (the SSE parsing is the SDK's, but happens inside the router's loop) */
    stream: { calls: number; medianRouterMs: number; medianBareMs: number; medianDifferenceMs: number }
  }
  targets: { overheadP95Ms: { target: number; actual: number; met: boolean } }
  /** web chat turns over HTTP through the whole app, answered by the agent's model (the fake server) */
  turnsThroughModel: ModelTurnsResult
  machine: { cpus: number; node: string; loadAverage1mAtStart: number; loadAverage1mAtEnd: number }
}

type TurnPhase = {
  name: string
  concurrency: number
  turns: number
  seconds: number
  turnsPerSecond: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  /** not HTTP 200, or no reply in the body */
  errors: number
  /** HTTP 200 with a reply whose text is not the fake model's content */
  wrongReplies: number
  /** POST /v1/chat/completions the fake server received during the phase */
  modelCalls: number
}

export type ModelTurnsResult = {
  sources: number
  chunks: number
  ingestSeconds: number
  /** the reply every turn must get: the fake model's content */
  expectedReply: string
  warmup: { turns: number; errors: number; wrongReplies: number; modelCalls: number }
  phases: TurnPhase[]
  /** the fake server's count over the whole part (warm-up included), against the turns sent */
  modelCalls: { turns: number; received: number; streamed: number; wrongModelOrKey: number; equal: boolean }
  /** model calls the app recorded for usage (GET /api/v1/usage/llm), against the turns sent */
  usageRecorded: { calls: number; equal: boolean }
  errorSamples: string[]
}

const COMPLETION = readFileSync(new URL('../fixtures/openai/chat-completion.json', import.meta.url), 'utf8')
const STREAM = readFileSync(new URL('../fixtures/openai/stream-text.sse', import.meta.url), 'utf8')
const API_KEY = 'sk-bench-not-a-real-key-0000000000'
/** The content of the fixture's chat.completion, as the answerer returns it (trimmed). */
const COMPLETION_CONTENT = (JSON.parse(COMPLETION) as { choices: { message: { content: string } }[] }).choices[0]!.message.content.trim()
/** The pipeline allows 30 turns a minute per conversation: a client starts a new session every 20. */
const TURNS_PER_SESSION = 20
const BENCH_MODEL = 'bench-model'
const BENCH_PROVIDER_KEY = 'bench-key'

export async function runLlmBenchmark(partial: Partial<Options> = {}): Promise<LlmBenchResult> {
  const opts = { ...DEFAULTS, ...partial }
  const loadAtStart = loadavg()[0]!
  const fake = await startFakeOpenAI()
  const baseURL = `http://127.0.0.1:${fake.port}/v1`
  let routerPart: Omit<LlmBenchResult, 'turnsThroughModel' | 'machine'>
  try {
    // The router, with the SDK client it builds wrapped to time the SDK call alone.
    let lastSdkMs = 0
    const router = createLlmRouter({
      createClient: (input) => {
        const client = new OpenAI({ apiKey: input.apiKey, baseURL: input.baseURL, maxRetries: 0, timeout: input.timeoutMs, organization: null, project: null })
        const completions = client.chat.completions
        const original = completions.create.bind(completions) as (...args: unknown[]) => Promise<unknown>
        ;(completions as unknown as { create: (...args: unknown[]) => Promise<unknown> }).create = async (...args: unknown[]) => {
          const started = performance.now()
          try {
            return await original(...args)
          } finally {
            lastSdkMs = performance.now() - started
          }
        }
        return client
      },
    })
    const bare = new OpenAI({ apiKey: API_KEY, baseURL, maxRetries: 0, timeout: 20_000, organization: null, project: null })

    const request: LlmRequest = {
      targets: [{ provider: 'bench', baseURL, apiKey: API_KEY, model: 'gpt-4o', providerKeyId: null }],
      messages: [
        { role: 'system', content: 'You are the assistant of a small shop. Answer from the passages.' },
        { role: 'user', content: 'When are you open on Saturdays?' },
      ],
      temperature: 0.2,
      maxTokens: 300,
    }
    const streamRequest: LlmRequest = { ...request, onDelta: () => undefined }
    const bareBody = { model: 'gpt-4o', messages: request.messages as OpenAI.Chat.Completions.ChatCompletionMessageParam[], temperature: 0.2, max_tokens: 300 }
    const viaRouter = () => router.complete(request)
    const viaBare = () => bare.chat.completions.create(bareBody)
    const viaBareStream = async () => {
      const stream = await bare.chat.completions.create({ ...bareBody, stream: true, stream_options: { include_usage: true } })
      let text = ''
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
      return text
    }

    // Warm-up: connections, JIT, the router's client cache.
    for (let i = 0; i < opts.warmup; i++) {
      await viaRouter()
      await viaBare()
      if (i < 50) {
        await router.complete(streamRequest)
        await viaBareStream()
      }
    }

    // Overhead at concurrency 1: router and bare calls alternate so both see the same conditions.
    const internal: number[] = []
    const routerMs: number[] = []
    const bareMs: number[] = []
    for (let i = 0; i < opts.overheadCalls; i++) {
      let t = performance.now()
      const result = await viaRouter()
      const total = performance.now() - t
      if (!result.content) throw new Error('the router returned no content')
      internal.push(total - lastSdkMs)
      routerMs.push(total)
      t = performance.now()
      await viaBare()
      const bareTotal = performance.now() - t
      bareMs.push(bareTotal)
    }
    const streamRouter: number[] = []
    const streamBare: number[] = []
    for (let i = 0; i < opts.streamCalls; i++) {
      let t = performance.now()
      const result = await router.complete(streamRequest)
      streamRouter.push(performance.now() - t)
      if (result.content !== 'Hello! How can I help?') throw new Error(`unexpected streamed content: ${result.content}`)
      t = performance.now()
      await viaBareStream()
      streamBare.push(performance.now() - t)
    }

    const phases = [
      await runPhase('router', 1, opts.c1Calls, viaRouter),
      await runPhase('router', opts.concurrency, opts.c16Calls, viaRouter),
      await runPhase('bare SDK', 1, opts.c1Calls, viaBare),
      await runPhase('bare SDK', opts.concurrency, opts.c16Calls, viaBare),
    ]

    const sortedInternal = sorted(internal)
    const sortedRouter = sorted(routerMs)
    const sortedBare = sorted(bareMs)
    const overheadP95 = round(pct(sortedInternal, 0.95))
    routerPart = {
      benchmark: 'llm',
      phases,
      overhead: {
        internal: { calls: internal.length, p50Ms: round(pct(sortedInternal, 0.5)), p95Ms: overheadP95, p99Ms: round(pct(sortedInternal, 0.99)), maxMs: round(sortedInternal.at(-1) ?? 0) },
        versusBare: {
          pairs: routerMs.length,
          routerP50Ms: round(pct(sortedRouter, 0.5)),
          bareP50Ms: round(pct(sortedBare, 0.5)),
          routerP95Ms: round(pct(sortedRouter, 0.95)),
          bareP95Ms: round(pct(sortedBare, 0.95)),
          p50DifferenceMs: round(pct(sortedRouter, 0.5) - pct(sortedBare, 0.5)),
          p95DifferenceMs: round(pct(sortedRouter, 0.95) - pct(sortedBare, 0.95)),
        },
        stream: {
          calls: streamRouter.length,
          medianRouterMs: round(pct(sorted(streamRouter), 0.5)),
          medianBareMs: round(pct(sorted(streamBare), 0.5)),
          medianDifferenceMs: round(pct(sorted(streamRouter), 0.5) - pct(sorted(streamBare), 0.5)),
        },
      },
      targets: { overheadP95Ms: { target: TARGETS.overheadP95Ms, actual: overheadP95, met: overheadP95 < TARGETS.overheadP95Ms } },
    }
  } finally {
    await fake.close()
  }
  const turnsThroughModel = await runModelTurns(opts)
  return {
    ...routerPart,
    turnsThroughModel,
    machine: { cpus: cpus().length, node: process.version, loadAverage1mAtStart: round(loadAtStart), loadAverage1mAtEnd: round(loadavg()[0]!) },
  }
}

export async function llm(): Promise<void> {
  const r = await runLlmBenchmark()
  const rows = [
    ['phase', 'concurrency', 'calls', 'seconds', 'calls/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors'],
    ...r.phases.map((p) => [p.name, p.concurrency, p.calls, p.seconds, p.callsPerSecond, p.p50Ms, p.p95Ms, p.p99Ms, p.errors].map(String)),
  ]
  printTable(rows)
  const o = r.overhead
  console.log('')
  printTable([
    ['router overhead (concurrency 1)', 'calls', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
    ['complete() minus time inside the SDK call', o.internal.calls, o.internal.p50Ms, o.internal.p95Ms, o.internal.p99Ms, o.internal.maxMs].map(String),
    ['router call (alternating with bare calls)', o.versusBare.pairs, o.versusBare.routerP50Ms, o.versusBare.routerP95Ms, '', ''].map(String),
    ['bare SDK call (alternating with router calls)', o.versusBare.pairs, o.versusBare.bareP50Ms, o.versusBare.bareP95Ms, '', ''].map(String),
    ['difference router - bare', o.versusBare.pairs, o.versusBare.p50DifferenceMs, o.versusBare.p95DifferenceMs, '', ''].map(String),
  ])
  console.log(`\nstreamed answers, median call: router ${o.stream.medianRouterMs} ms, bare SDK ${o.stream.medianBareMs} ms`)
  const t = r.targets.overheadP95Ms
  console.log(`target: router overhead (complete() minus the SDK call) p95 < ${t.target} ms: ${t.actual} ms, ${t.met ? 'met' : 'NOT MET'}`)
  const m = r.turnsThroughModel
  console.log('')
  console.log(`turns through a model: web chat over HTTP (JSON replies), whole app on PGlite, ${m.sources} sources / ${m.chunks} chunks (indexed in ${m.ingestSeconds} s), agent on a provider key (custom, fake server)`)
  printTable([
    ['phase', 'concurrency', 'turns', 'seconds', 'turns/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors', 'wrong replies', 'model calls'],
    ...m.phases.map((p) => [p.name, p.concurrency, p.turns, p.seconds, p.turnsPerSecond, p.p50Ms, p.p95Ms, p.p99Ms, p.maxMs, p.errors, p.wrongReplies, p.modelCalls].map(String)),
  ])
  const c = m.modelCalls
  console.log(`model calls received by the fake server: ${c.received} for ${c.turns} turns (warm-up of ${m.warmup.turns} included), ${c.equal ? 'equal' : 'NOT EQUAL'}; streamed ${c.streamed}, wrong model or key ${c.wrongModelOrKey}`)
  console.log(`model calls recorded for usage (GET /api/v1/usage/llm): ${m.usageRecorded.calls}, ${m.usageRecorded.equal ? 'equal to the turns' : 'NOT EQUAL to the turns'}`)
  console.log(`every reply must be HTTP 200 with the text ${JSON.stringify(m.expectedReply)}`)
  if (m.errorSamples.length) console.log(`errors (first ${m.errorSamples.length}):\n  ${m.errorSamples.join('\n  ')}`)
  console.log(`machine: ${r.machine.cpus} CPUs, Node ${r.machine.node}, load ${r.machine.loadAverage1mAtStart} -> ${r.machine.loadAverage1mAtEnd}`)
  console.log(JSON.stringify(r))
}

async function runPhase(name: string, concurrency: number, calls: number, call: () => Promise<unknown>): Promise<Phase> {
  const latencies: number[] = []
  let errors = 0
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        next++
        const t = performance.now()
        try {
          await call()
          latencies.push(performance.now() - t)
        } catch {
          errors++
        }
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const s = sorted(latencies)
  return { name, concurrency, calls, seconds: round(seconds, 2), callsPerSecond: Math.round(calls / seconds), p50Ms: round(pct(s, 0.5)), p95Ms: round(pct(s, 0.95)), p99Ms: round(pct(s, 0.99)), errors }
}

type FakeOpenAI = {
  port: number
  /** requests to POST /v1/chat/completions: all, streamed, and those not for the expected model and key */
  counts: { completions: number; streamed: number; wrongModelOrKey: number }
  close: () => Promise<void>
}

/**
 * A fake OpenAI-compatible server on 127.0.0.1 that answers at once. With `expect`, it counts the
 * calls whose model or bearer key is not the expected one (and still answers them).
 */
export async function startFakeOpenAI(expect?: { model: string; apiKey: string }): Promise<FakeOpenAI> {
  const counts = { completions: 0, streamed: 0, wrongModelOrKey: 0 }
  const modelField = expect ? Buffer.from(`"model":${JSON.stringify(expect.model)}`) : undefined
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}')
      return
    }
    const parts: Buffer[] = []
    req.on('data', (part: Buffer) => parts.push(part))
    req.on('end', () => {
      const body = Buffer.concat(parts)
      const stream = body.includes('"stream":true')
      counts.completions++
      if (stream) counts.streamed++
      if (expect && (!body.includes(modelField!) || req.headers.authorization !== `Bearer ${expect.apiKey}`)) counts.wrongModelOrKey++
      const answer = stream ? STREAM : COMPLETION
      res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Turns through a model

/**
 * Builds the app on the embedded defaults (as turns.ts does), gives its agent a model through the
 * admin API, and runs web chat turns over HTTP that the model (the fake server) answers.
 */
async function runModelTurns(opts: Options): Promise<ModelTurnsResult> {
  const fake = await startFakeOpenAI({ model: BENCH_MODEL, apiKey: BENCH_PROVIDER_KEY })
  const dataDir = await mkdtemp(path.join(tmpdir(), 'switchboard-bench-llm-'))
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
  let app: App | undefined
  let server: Server | undefined
  try {
    // The fake provider runs on this machine: the operator allows its address for organizations' keys.
    const config = loadConfig({ ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'silent', DEMO_SEED: 'false', PORT: '0', HOST: '127.0.0.1', PLANS_JSON: UNLIMITED_TRIAL, ...NO_WEBCHAT_RATE_LIMITS, ALLOW_PRIVATE_URLS: '127.0.0.1' })
    const logger = createLogger({ level: config.LOG_LEVEL, destination: process.stderr })
    app = await buildApp({ config, logger, role: 'all' })
    server = await listen(app.http, 0, '127.0.0.1')
    const port = (server.address() as AddressInfo).port
    const request = makeRequester(port, agent)

    // An organization, its owner, its agent and web chat inbox.
    const email = `bench-llm-${Date.now()}@example.com`
    const password = 'correct horse battery staple'
    const { organization } = await app.auth.createOrganizationWithOwner({ organizationName: 'Bench Co', email, name: 'Bench owner', password })
    const created = await app.agents.createFor(organization.id, { name: 'Bench assistant' })
    const key = created.webchat.publicKey!

    // The knowledge base: a part of the turns benchmark's corpus.
    const corpus = generateCorpus({ articles: opts.turnArticles })
    const ingestStarted = performance.now()
    await ingestCorpus(app, organization.id, corpus.articles, 60_000)
    const ingestSeconds = (performance.now() - ingestStarted) / 1000
    const chunks = await app.store.knowledge.countChunks(organization.id)

    // The model, through the admin API as an admin would set it.
    const login = await request('POST', '/api/v1/auth/login', { body: { email, password }, expect: 200 })
    const token = (login as { token: string }).token
    const added = await request('POST', '/api/v1/provider-keys', { token, body: { name: 'Bench fake', provider: 'custom', baseUrl: `http://127.0.0.1:${fake.port}/v1`, apiKey: BENCH_PROVIDER_KEY }, expect: 201 })
    const providerKeyId = (added as { key: { id: string } }).key.id
    const patched = await request('PATCH', `/api/v1/agents/${created.agent.id}`, { token, body: { providerKeyId, model: BENCH_MODEL }, expect: 200 })
    const updated = (patched as { agent: { providerKeyId: string | null; model: string | null; responseDelayMs: number } }).agent
    if (updated.providerKeyId !== providerKeyId || updated.model !== BENCH_MODEL) throw new Error(`the agent was not pointed at the provider key: ${JSON.stringify(updated)}`)
    if (updated.responseDelayMs > 0) throw new Error(`the agent has a response delay of ${updated.responseDelayMs} ms: the figures would measure it`)

    const errorSamples: string[] = []
    const send = makeTurnClient({ port, key, agent, errorSamples })
    const questions = shuffle(corpus.questions, 7)
    const runTag = Date.now().toString(36)
    const phase = async (name: string, concurrency: number, turns: number, prefix: string) => {
      const before = fake.counts.completions
      const result = await runTurnPhase({ name, concurrency, turns, questions, send, sessionPrefix: `m${runTag}-${prefix}` })
      return { ...result, modelCalls: fake.counts.completions - before }
    }

    const warm = await phase('warm-up', 1, opts.turnWarmup, 'w')
    const c1 = await phase('concurrency 1', 1, opts.c1Turns, 'a')
    // Open the clients' keep-alive connections before the clock starts (as turns.ts does).
    await openConnections({ port, agent, count: opts.concurrency })
    const cN = await phase(`concurrency ${opts.concurrency}`, opts.concurrency, opts.c16Turns, 'b')

    const turns = warm.turns + c1.turns + cN.turns
    const usage = (await request('GET', '/api/v1/usage/llm', { token, expect: 200 })) as { totals?: { calls?: number } }
    const recorded = usage.totals?.calls ?? -1
    return {
      sources: corpus.articles.length,
      chunks,
      ingestSeconds: round(ingestSeconds, 2),
      expectedReply: COMPLETION_CONTENT,
      warmup: { turns: warm.turns, errors: warm.errors, wrongReplies: warm.wrongReplies, modelCalls: warm.modelCalls },
      phases: [c1, cN],
      modelCalls: { turns, received: fake.counts.completions, streamed: fake.counts.streamed, wrongModelOrKey: fake.counts.wrongModelOrKey, equal: fake.counts.completions === turns },
      usageRecorded: { calls: recorded, equal: recorded === turns },
      errorSamples: errorSamples.slice(0, 5),
    }
  } finally {
    agent.destroy()
    if (server) {
      const s = server
      const closed = new Promise<void>((resolve) => s.close(() => resolve()))
      s.closeAllConnections()
      await closed
    }
    await app?.close()
    await fake.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

type Method = 'GET' | 'POST' | 'PATCH'

/** JSON requests to the app's API; throws unless the status is the expected one. */
function makeRequester(port: number, agent: http.Agent) {
  return (method: Method, urlPath: string, input: { token?: string; body?: unknown; expect: number }) =>
    new Promise<unknown>((resolve, reject) => {
      const payload = input.body === undefined ? undefined : JSON.stringify(input.body)
      const headers: Record<string, string | number> = { accept: 'application/json' }
      if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) })
      if (input.token) headers.authorization = `Bearer ${input.token}`
      const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, agent, headers }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8')
          if (res.statusCode !== input.expect) return reject(new Error(`${method} ${urlPath}: HTTP ${res.statusCode} (expected ${input.expect}): ${text.slice(0, 300)}`))
          try {
            resolve(text ? JSON.parse(text) : undefined)
          } catch {
            reject(new Error(`${method} ${urlPath}: unparseable body: ${text.slice(0, 300)}`))
          }
        })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
}

type TurnOutcome = 'ok' | 'error' | 'wrong'
type SendTurn = (body: { sessionId: string; text: string; messageId: string }) => Promise<TurnOutcome>

/** POST /api/v1/webchat/{key}/messages; the reply must be HTTP 200 with the fake model's content. */
function makeTurnClient(input: { port: number; key: string; agent: http.Agent; errorSamples: string[] }): SendTurn {
  const urlPath = `/api/v1/webchat/${input.key}/messages`
  const sample = (why: string) => {
    if (input.errorSamples.length < 20) input.errorSamples.push(why)
  }
  return (body) =>
    new Promise((resolve) => {
      const fail = (why: string) => {
        sample(why)
        resolve('error')
      }
      const payload = JSON.stringify(body)
      const req = http.request(
        { host: '127.0.0.1', port: input.port, path: urlPath, method: 'POST', agent: input.agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          const parts: Buffer[] = []
          res.on('data', (d: Buffer) => parts.push(d))
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8')
            if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
            let reply: string | undefined
            try {
              reply = (JSON.parse(text) as { messages?: { text?: string }[] }).messages?.[0]?.text
            } catch {
              return fail(`unparseable body: ${text.slice(0, 200)}`)
            }
            if (reply === undefined) return fail(`no reply: ${text.slice(0, 200)}`)
            if (reply !== COMPLETION_CONTENT) {
              sample(`wrong reply: ${reply.slice(0, 200)}`)
              return resolve('wrong')
            }
            resolve('ok')
          })
          res.on('error', (err) => fail(`response error: ${err.message}`))
        },
      )
      req.on('error', (err) => fail(`request error: ${err.message}`))
      req.end(payload)
    })
}

async function runTurnPhase(input: { name: string; concurrency: number; turns: number; questions: BenchQuestion[]; send: SendTurn; sessionPrefix: string }): Promise<Omit<TurnPhase, 'modelCalls'>> {
  const { concurrency, turns, questions, send } = input
  const latencies: number[] = []
  let errors = 0
  let wrongReplies = 0
  let next = 0
  const started = performance.now()
  const client = async (c: number) => {
    let own = 0
    for (;;) {
      const i = next++
      if (i >= turns) return
      const session = Math.floor(own / TURNS_PER_SESSION)
      own++
      const q = questions[i % questions.length]!
      const t0 = performance.now()
      const outcome = await send({ sessionId: `${input.sessionPrefix}-c${c}-s${session}`, text: q.text, messageId: `${input.sessionPrefix}-${i}` })
      latencies.push(performance.now() - t0)
      if (outcome === 'error') errors++
      if (outcome === 'wrong') wrongReplies++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, c) => client(c)))
  const seconds = (performance.now() - started) / 1000
  const s = sorted(latencies)
  return {
    name: input.name,
    concurrency,
    turns,
    seconds: round(seconds, 2),
    turnsPerSecond: round(turns / seconds, 1),
    p50Ms: round(pct(s, 0.5), 1),
    p95Ms: round(pct(s, 0.95), 1),
    p99Ms: round(pct(s, 0.99), 1),
    maxMs: round(s.at(-1) ?? 0, 1),
    errors,
    wrongReplies,
  }
}

/** Opens `count` keep-alive connections in the agent's pool (GET /healthz on each at once). */
async function openConnections(input: { port: number; agent: http.Agent; count: number }) {
  await Promise.all(
    Array.from(
      { length: input.count },
      () =>
        new Promise<void>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: input.port, path: '/healthz', agent: input.agent }, (res) => {
              res.resume()
              res.on('end', resolve)
            })
            .on('error', reject)
        }),
    ),
  )
}




const sorted = (values: number[]) => [...values].sort((a, b) => a - b)
const pct = (s: number[], p: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]! : 0)
const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits

function printTable(rows: string[][]) {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  for (const r of rows) console.log(r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '))
}
