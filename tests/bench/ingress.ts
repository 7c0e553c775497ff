/**
 * Webhook ingress under load, beside its floor, in one run (`npm run bench -- ingress`).
 *
 * 1. The floor: express + PGlite on disk, one `INSERT ... ON CONFLICT DO NOTHING` per Telegram
 *    update, then 200 (tests/bench/ingress-target.ts floor), in a process of its own.
 * 2. Switchboard on its embedded defaults (`npm start`: PGlite on disk, in-process queue), in a
 *    process of its own, its agent answering through a fake OpenAI-compatible server, Telegram
 *    (webhook mode), Slack and Messenger connected to their local fakes.
 *
 * Each gets the same load from wrk (a C load generator, so the CPU stays with the servers): 4 and
 * then 32 connections for `--duration` seconds each, every request a distinct delivery (unique
 * update_id / event ts / mid; Slack's and Meta's signed over the body in Node beforehand, see
 * ingress.lua). The turns of the deliveries already accepted run meanwhile. Then the bench waits
 * until every stored message is answered, and prints per phase: requests/s, ack p50/p99,
 * accepted (2xx), stored, answered, lost (acknowledged but not stored), duplicated (replies sent
 * beyond one per stored message, counted at the fake service), the ratio to the floor, and the
 * load average.
 *
 * Options: --duration <s> (default 5), --chats <n> conversations per phase (default 1000: about
 * two deliveries per conversation at 4 connections, so both a thread's first message and the
 * messages of a known conversation are in the load), --only floor,telegram,slack,messenger,
 * --scale (Switchboard as bots/server.ts + two bots/worker.ts on PostgreSQL and Redis instead of
 * the embedded defaults).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startFakeTelegram } from '../support/fake-telegram.ts'
import { startFakeSlack } from '../support/fake-slack.ts'
import { startFakeMeta } from '../support/fake-meta.ts'
import { dmEvent, slackSignature } from '../support/slack.ts'
import { metaSignature, metaText } from '../support/meta.ts'
import { startFakeOpenAI } from './llm.ts'
import type { TargetReady, TargetRequest } from './ingress-target.ts'
import { PENDING_SQL, setUpBenchOrganization, STORED_SQL, type StoredRow } from './ingress-setup.ts'

type Channel = 'floor' | 'telegram' | 'slack' | 'messenger'
type Delivery = { n: number; path: string; headers: Record<string, string>; body: string }
type WrkThread = { tid: number; sent: number; acked: number; refused: string; unanswered: string; inflight: string; exhausted: number }
type WrkResult = { requests: number; durationUs: number; connectErrors: number; readErrors: number; writeErrors: number; timeouts: number; status: number; p50Us: number; p90Us: number; p99Us: number; maxUs: number; threads: WrkThread[] }
export type IngressPhase = {
  channel: Channel
  connections: number
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  accepted: number
  refused: number
  stored: number
  answered: number | null
  lost: number
  duplicated: number | null
  redelivered: number
  loadAverage1m: number
  ratioToFloor: number | null
  p99ToFloor: number | null
}

const TEXT = 'How do I connect a Telegram bot?'
const TELEGRAM = { token: '7000000099:AAH-bench-bot-token-for-benchmarks', id: 7000000099, username: 'bench_bot', first_name: 'Bench' }
const SLACK = { teamId: 'T0WORKSPACE', appId: 'A0SWITCHBRD', botToken: 'xoxb-99-99-benchbottokenforbenchmarks', secret: 'benchsigningsecret00000000000000' }
const META = { pageId: '104000000000001', token: 'EAAGbenchpagetoken000000000000000000001', secret: '0123456789abcdef0123456789abcdef' }
/** Deliveries prepared per phase and second: more than either server can take, so wrk never runs out. */
const PREPARED_PER_SECOND = 4000
/** Deliveries sent one by one before a channel's first phase (not measured). */
const WARM_UP = 30
const here = path.dirname(fileURLToPath(import.meta.url))
const round = (x: number, digits = 1) => Number(x.toFixed(digits))

function requireWrk(): string {
  const found = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).stdout.trim()
  if (found) return found
  throw new Error('wrk is not installed. It is the load generator of this benchmark (written in C, it leaves the CPU to the server). Install it: `sudo apt-get install -y wrk` (Debian/Ubuntu), `brew install wrk` (macOS).')
}

/** A server process (the floor or the app) answering the bench over IPC. */
async function startTarget(mode: 'floor' | 'app', env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, [...process.execArgv, path.join(here, 'ingress-target.ts'), mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, INGRESS_TARGET_ENV: JSON.stringify(env) } })
  const waiting = new Map<number, (m: Record<string, unknown>) => void>()
  let seq = 0
  const ready = new Promise<TargetReady>((resolve, reject) => {
    child.on('message', (m: { ready?: TargetReady; id?: number }) => {
      if (m.ready) resolve(m.ready)
      else if (m.id !== undefined) waiting.get(m.id)?.(m as Record<string, unknown>)
    })
    child.on('exit', (code) => reject(new Error(`the ${mode} process exited (${code}) before it was ready`)))
  })
  const ask = <T,>(request: TargetRequest extends infer R ? (R extends TargetRequest ? Omit<R, 'id'> : never) : never) =>
    new Promise<T>((resolve) => {
      const id = ++seq
      waiting.set(id, (m) => {
        waiting.delete(id)
        resolve(m as T)
      })
      child.send({ ...request, id })
    })
  return {
    ready: await ready,
    stored: async (inboxId?: string) => (await ask<{ rows: StoredRow[] }>({ type: 'stored', inboxId })).rows,
    pending: async () => (await ask<{ pending: number }>({ type: 'pending' })).pending,
    close: async () => {
      child.removeAllListeners('exit')
      await ask({ type: 'close' })
    },
  }
}

/**
 * `--scale`: the deployment of docker-compose.yml as processes (tests/support/scale-out.ts),
 * `bots/server.ts` and two `bots/worker.ts` on a fresh database of the machine's PostgreSQL
 * (TEST_POSTGRES_URL; lexical search, KNOWLEDGE_VECTORS=off, as PostgreSQL here has no pgvector) and
 * Redis (REDIS_URL, default redis://127.0.0.1:6379), set up through the API like the embedded one.
 */
async function startScaleTarget(env: Record<string, string>): Promise<Awaited<ReturnType<typeof startTarget>>> {
  const [{ emptyDatabase, startScaleOut }, pg] = await Promise.all([import('../support/scale-out.ts'), import('pg')])
  const db = await emptyDatabase('ingress')
  const plans = JSON.stringify({ trial: { responsesPerPeriod: null, limits: { agents: null, chunks: null, channels: null } } })
  // The BENCH_ values are for the set-up through the API; the processes get the services' addresses.
  const processEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('BENCH_')))
  const deployment = await startScaleOut({
    workers: 2,
    env: { ...processEnv, DATABASE_URL: db.url, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX: `bench-ingress-${process.pid}-${Date.now().toString(36)}`, KNOWLEDGE_VECTORS: 'off', LOG_LEVEL: 'error', DEMO_SEED: 'false', PLANS_JSON: plans, ALLOW_PRIVATE_URLS: '127.0.0.1' },
  }).catch(async (error: unknown) => {
    await db.drop()
    throw error
  })
  const client = new pg.default.Client({ connectionString: db.url })
  await client.connect()
  const { organizationId, inboxes } = await setUpBenchOrganization(deployment.url, env)
  return {
    ready: { port: Number(new URL(deployment.url).port), organizationId, inboxes },
    stored: async (inboxId?: string) => (await client.query<StoredRow>(STORED_SQL, [organizationId, inboxId ?? ''])).rows,
    pending: async () => (await client.query<{ n: number }>(PENDING_SQL, [organizationId])).rows[0]!.n,
    close: async () => {
      await client.end()
      await deployment.stop()
      await db.drop()
    },
  }
}

async function runWrk(input: { wrk: string; url: string; file: string; connections: number; seconds: number }): Promise<WrkResult> {
  const args = ['-t', String(input.connections), '-c', String(input.connections), '-d', `${input.seconds}s`, '--timeout', '10s', '-s', path.join(here, 'ingress.lua'), input.url, '--', input.file, String(input.connections)]
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(input.wrk, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout.on('data', (d) => (text += d))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))))
  })
  const line = out.split('\n').find((l) => l.startsWith('WRK_RESULT '))
  if (!line) throw new Error(`wrk printed no result: ${out}`)
  return JSON.parse(line.slice('WRK_RESULT '.length)) as WrkResult
}

/** Which deliveries were acknowledged: each wrk thread took every T-th line and had one request in flight at a time. */
function acknowledged(deliveries: Delivery[], result: WrkResult) {
  const threads = result.threads.length
  const acked = new Set<number>()
  let refused = 0
  let redelivered = 0
  for (const t of result.threads) {
    const own = deliveries.filter((_, i) => i % threads === t.tid - 1)
    const notAcked = new Set([...t.refused.split(','), ...t.unanswered.split(','), t.inflight].filter(Boolean).map((s) => Number(s.split(':')[0])))
    refused += t.refused.split(',').filter(Boolean).length
    redelivered += t.exhausted
    for (const d of own.slice(0, t.sent)) if (!notAcked.has(d.n)) acked.add(d.n)
  }
  return { acked, refused, redelivered }
}

export async function ingress(options: string[] = []) {
  const option = (name: string) => (options.includes(name) ? options[options.indexOf(name) + 1] : undefined)
  const seconds = Number(option('--duration')) || 5
  const chats = Number(option('--chats')) || 1000
  const only = new Set((option('--only') ?? 'floor,telegram,slack,messenger').split(','))
  const scale = options.includes('--scale')
  const wrk = requireWrk()
  const work = await mkdtemp(path.join(tmpdir(), 'switchboard-bench-ingress-'))
  const tg = await startFakeTelegram()
  const slack = await startFakeSlack()
  const meta = await startFakeMeta()
  const llm = await startFakeOpenAI()
  tg.addBot(TELEGRAM)
  slack.addWorkspace({ teamId: SLACK.teamId, teamName: 'Bench', botToken: SLACK.botToken, botUserId: 'U0BOT', botId: 'B0BOT', appId: SLACK.appId })
  meta.addPage({ pageId: META.pageId, name: 'Bench Page', token: META.token })
  const cores = cpus().length
  console.log(`ingress: wrk ${seconds} s per phase at 4 and 32 connections, ${chats} conversations per phase; ${scale ? 'Switchboard as server + 2 workers on PostgreSQL and Redis' : 'Switchboard on its embedded defaults'}; ${cores} CPUs, load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)

  let serial = 0
  /** Distinct deliveries for one phase; `chatBase` keeps each phase's conversations (and replies) apart. */
  function prepare(channel: Channel, chatBase: number, target: { inboxId?: string; telegramSecret?: string }, count = PREPARED_PER_SECOND * seconds): Delivery[] {
    const now = Math.floor(Date.now() / 1000)
    return Array.from({ length: count }, (): Delivery => {
      const n = ++serial
      const chat = chatBase + (n % chats)
      if (channel === 'floor' || channel === 'telegram') {
        const body = JSON.stringify({ update_id: n, message: { message_id: n, date: now, chat: { id: chat, type: 'private', first_name: 'B' }, from: { id: chat, is_bot: false, first_name: 'B' }, text: TEXT } })
        if (channel === 'floor') return { n, path: '/hook', headers: { 'content-type': 'application/json' }, body }
        return { n, path: `/webhooks/telegram/${target.inboxId}`, headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': target.telegramSecret! }, body }
      }
      if (channel === 'slack') {
        const body = JSON.stringify(dmEvent({ user: `U0B${chat}`, text: TEXT, ts: `${now}.${String(n).padStart(6, '0')}`, team: SLACK.teamId, app: SLACK.appId }))
        return { n, path: `/webhooks/slack/${target.inboxId}`, headers: { 'content-type': 'application/json', 'x-slack-request-timestamp': String(now), 'x-slack-signature': slackSignature(SLACK.secret, now, body) }, body }
      }
      const body = JSON.stringify(metaText({ object: 'page', accountId: META.pageId, customer: String(chat), text: TEXT, mid: `m_bench_${n}` }))
      return { n, path: `/webhooks/messenger/${target.inboxId}`, headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(META.secret, body) }, body }
    })
  }

  type Ran = { channel: Channel; connections: number; deliveries: Delivery[]; result: WrkResult; chatBase: number; loadAverage1m: number; acked: Set<number>; refused: number; redelivered: number }
  async function phase(input: { channel: Channel; connections: number; port: number; chatBase: number; inboxId?: string; telegramSecret?: string }): Promise<Ran> {
    if (input.connections === 4) {
      // Warm-up, not measured: the channel's code paths loaded and compiled, its first conversations made.
      for (const d of prepare(input.channel, input.chatBase + chats, input, WARM_UP)) {
        const res = await fetch(`http://127.0.0.1:${input.port}${d.path}`, { method: 'POST', headers: d.headers, body: d.body })
        if (!res.ok) throw new Error(`warm-up delivery to ${input.channel} answered ${res.status}: ${await res.text()}`)
      }
    }
    const deliveries = prepare(input.channel, input.chatBase, input)
    const file = path.join(work, `${input.channel}-${input.connections}.tsv`)
    await writeFile(file, deliveries.map((d) => [d.n, d.path, ...Object.entries(d.headers).flat(), d.body].join('\t')).join('\n') + '\n')
    const result = await runWrk({ wrk, url: `http://127.0.0.1:${input.port}`, file, connections: input.connections, seconds })
    const loadAverage1m = loadavg()[0]!
    await rm(file)
    const { acked, refused, redelivered } = acknowledged(deliveries, result)
    console.log(`  ${input.channel} at ${input.connections} connections: ${(result.requests / (result.durationUs / 1e6)).toFixed(0)} requests/s, p99 ${(result.p99Us / 1000).toFixed(1)} ms, ${acked.size} acknowledged (load average ${loadAverage1m.toFixed(2)})`)
    return { ...input, deliveries, result, loadAverage1m, acked, refused, redelivered }
  }

  const ran: Ran[] = []
  const storedOf = new Map<Ran, StoredRow[]>()
  const sendsOf = new Map<Ran, number>()
  let drainSeconds = 0
  let modelCalls = 0
  try {
    if (only.has('floor')) {
      const floor = await startTarget('floor')
      for (const connections of [4, 32]) ran.push(await phase({ channel: 'floor', connections, port: floor.ready.port, chatBase: 0 }))
      const rows = await floor.stored()
      for (const r of ran) storedOf.set(r, rows)
      await floor.close()
    }

    const channels = (['telegram', 'slack', 'messenger'] as const).filter((c) => only.has(c))
    if (channels.length) {
      const appEnv = {
        TELEGRAM_API_ROOT: tg.url,
        SLACK_API_URL: slack.url,
        META_GRAPH_URL: meta.url,
        PUBLIC_URL: 'https://bench.example.com',
        BENCH_LLM_URL: `http://127.0.0.1:${llm.port}/v1`,
        BENCH_TELEGRAM_TOKEN: TELEGRAM.token,
        BENCH_SLACK_TOKEN: SLACK.botToken,
        BENCH_SLACK_SECRET: SLACK.secret,
        BENCH_META_PAGE: META.pageId,
        BENCH_META_TOKEN: META.token,
        BENCH_META_SECRET: META.secret,
      }
      const app = scale ? await startScaleTarget(appEnv) : await startTarget('app', appEnv)
      const inboxes = app.ready.inboxes!
      const telegramSecret = tg.callsOf('setWebhook').at(-1)!.payload.secret_token as string
      let chatBase = 1_000_000
      const appPhases: Ran[] = []
      for (const channel of channels)
        for (const connections of [4, 32]) {
          appPhases.push(await phase({ channel, connections, port: app.ready.port, chatBase, inboxId: inboxes[channel], telegramSecret }))
          chatBase += 1_000_000
        }
      ran.push(...appPhases)

      // Every stored message answered (the turns have been running all along).
      const drainStarted = performance.now()
      const deadline = Date.now() + 30 * 60_000
      let pending = await app.pending()
      while (pending > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000))
        pending = await app.pending()
      }
      drainSeconds = (performance.now() - drainStarted) / 1000
      // Replies still being sent when the last turn finished.
      await new Promise((r) => setTimeout(r, 500))
      modelCalls = llm.counts.completions
      const rowsOf = new Map<string, StoredRow[]>()
      for (const channel of channels) rowsOf.set(channel, await app.stored(inboxes[channel]))
      for (const r of appPhases) {
        storedOf.set(r, rowsOf.get(r.channel)!)
        const inPhase = (chat: number) => chat >= r.chatBase && chat < r.chatBase + chats
        // Replies as the service received them (a reply sent twice shows here, not in the database).
        sendsOf.set(
          r,
          r.channel === 'telegram'
            ? tg.callsOf('sendMessage').filter((c) => inPhase(Number(c.payload.chat_id))).length
            : r.channel === 'slack'
              ? slack.callsOf('chat.postMessage').filter((c) => c.response?.ok === true && inPhase(Number(/(\d+)$/.exec(String(c.payload.channel))?.[1]))).length
              : meta.calls.filter((c) => c.method === 'POST' && /\/messages$/.test(c.path) && c.body.message !== undefined && c.status === 200 && inPhase(Number((c.body.recipient as { id?: string }).id))).length,
        )
      }
      await app.close()
    }
  } finally {
    await Promise.all([tg.close(), slack.close(), meta.close(), llm.close()])
    await rm(work, { recursive: true, force: true })
  }

  // The figures per phase.
  const numberOf = (externalMessageId: string) => Number(/(\d+)$/.exec(externalMessageId)?.[1])
  const phases: IngressPhase[] = ran.map((r) => {
    const ids = new Set(r.deliveries.map((d) => d.n))
    const rows = (storedOf.get(r) ?? []).filter((row) => ids.has(numberOf(row.externalMessageId)))
    const stored = new Set(rows.map((row) => numberOf(row.externalMessageId)))
    const answeredRows = rows.filter((row) => row.sent > 0)
    const sends = sendsOf.get(r)
    const perSecond = r.result.requests / (r.result.durationUs / 1e6)
    return {
      channel: r.channel,
      connections: r.connections,
      requestsPerSecond: round(perSecond),
      p50Ms: round(r.result.p50Us / 1000, 2),
      p99Ms: round(r.result.p99Us / 1000, 2),
      maxMs: round(r.result.maxUs / 1000, 1),
      accepted: r.acked.size,
      refused: r.refused,
      stored: stored.size,
      answered: r.channel === 'floor' ? null : answeredRows.length,
      lost: [...r.acked].filter((n) => !stored.has(n)).length,
      duplicated: r.channel === 'floor' ? null : rows.filter((row) => row.sent > 1).length + Math.max(0, (sends ?? 0) - answeredRows.reduce((s, row) => s + row.sent, 0)),
      redelivered: r.redelivered,
      loadAverage1m: round(r.loadAverage1m, 2),
      ratioToFloor: null,
      p99ToFloor: null,
    }
  })
  for (const p of phases) {
    const floor = phases.find((f) => f.channel === 'floor' && f.connections === p.connections)
    if (floor && p.channel !== 'floor') {
      p.ratioToFloor = round(p.requestsPerSecond / floor.requestsPerSecond, 3)
      // No answer at all within the phase has no p99: it counts as missing the goal, not as 0 ms.
      p.p99ToFloor = p.accepted > 0 ? round(p.p99Ms / floor.p99Ms, 2) : Infinity
    }
  }

  console.log('\nwebhook ingress under wrk, with the turns running (floor: express + PGlite, one INSERT ... ON CONFLICT DO NOTHING, 200)')
  console.log('phase       conns   req/s  p50 ms  p99 ms  accepted  stored  answered  lost  dup  of floor  p99/floor  load')
  for (const p of phases) {
    const cells = [
      p.channel.padEnd(10),
      String(p.connections).padStart(5),
      p.requestsPerSecond.toFixed(0).padStart(7),
      p.p50Ms.toFixed(1).padStart(7),
      p.p99Ms.toFixed(1).padStart(7),
      String(p.accepted).padStart(9),
      String(p.stored).padStart(7),
      (p.answered === null ? '-' : String(p.answered)).padStart(9),
      String(p.lost).padStart(5),
      (p.duplicated === null ? '-' : String(p.duplicated)).padStart(4),
      (p.ratioToFloor === null ? '' : `${(p.ratioToFloor * 100).toFixed(1)}%`).padStart(9),
      (p.p99ToFloor === null ? '' : p.p99ToFloor === Infinity ? 'no acks' : `${p.p99ToFloor.toFixed(2)}x`).padStart(10),
      p.loadAverage1m.toFixed(2).padStart(5),
    ]
    console.log(cells.join(' '))
  }
  const refused = phases.reduce((n, p) => n + p.refused, 0)
  const redelivered = phases.reduce((n, p) => n + p.redelivered, 0)
  if (refused) console.log(`refused (non-2xx): ${refused}`)
  if (redelivered) console.log(`wrk ran out of prepared deliveries and resent the last one ${redelivered} times (raise PREPARED_PER_SECOND)`)
  const appPhases = phases.filter((p) => p.channel !== 'floor')
  if (appPhases.length) {
    const storedTotal = appPhases.reduce((n, p) => n + p.stored, 0)
    const warmUps = WARM_UP * new Set(appPhases.map((p) => p.channel)).size
    console.log(`every stored message answered after the load: ${drainSeconds.toFixed(1)} s more (${(storedTotal / Math.max(drainSeconds, 0.001)).toFixed(1)} messages/s at most); model calls ${modelCalls} for ${storedTotal} stored messages and ${warmUps} warm-up deliveries (${modelCalls - storedTotal - warmUps} beyond one per message)`)
    const worst = (f: (p: IngressPhase) => number) => Math.max(...appPhases.map(f))
    const lowestRatio = Math.min(...appPhases.map((p) => p.ratioToFloor ?? 0))
    if (appPhases.every((p) => p.ratioToFloor === null)) console.log('goals: no floor in this run (--only without floor): nothing to compare with')
    else console.log(
      `goals: requests/s >= 50% of the floor (aim 80%): lowest ${(lowestRatio * 100).toFixed(1)}% ${lowestRatio >= 0.5 ? 'met' : 'NOT met'}; ack p99 within 2x the floor's: worst ${worst((p) => p.p99ToFloor ?? 0).toFixed(2)}x ${worst((p) => p.p99ToFloor ?? 0) <= 2 ? 'met' : 'NOT met'}; lost ${worst((p) => p.lost)}, duplicated ${worst((p) => p.duplicated ?? 0)}, unanswered ${appPhases.reduce((n, p) => n + p.stored - (p.answered ?? 0), 0)}`,
    )
  }
  console.log(`load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(JSON.stringify({ benchmark: 'ingress', seconds, chats, cpus: cores, drainSeconds: round(drainSeconds), modelCalls, phases }))
}
