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
import { loadConfig } from '../../core/config/index.ts'
import type { LlmRequest } from '../../core/ports.ts'
import { generateCorpus, type BenchQuestion } from './corpus.ts'

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

function startFakeOpenAI(): Promise<http.Server> {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}')
      return
    }
    const parts: Buffer[] = []
    req.on('data', (part: Buffer) => parts.push(part))
    req.on('end', () => {
      const stream = Buffer.concat(parts).includes('"stream":true')
      const body = stream ? STREAM : COMPLETION
      res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b)
const pct = (s: number[], p: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]! : 0)
const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits

function printTable(rows: string[][]) {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  for (const r of rows) console.log(r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '))
}
