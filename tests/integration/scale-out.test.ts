import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai-calls.ts'
import { startFakeTelegram, updates, type FakeTelegram } from '../support/fake-telegram.ts'
import { ROOT } from '../support/main-process.ts'
import { postgresAnswers } from '../support/postgres.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'
import { emptyDatabase, startScaleOut, type ScaleOut } from '../support/scale-out.ts'

const redisUrl = await redisForTests()
const pgAnswers = await postgresAnswers('the scale-out test (server and two workers on PostgreSQL and Redis)')

/** Sessions (web chat) and chats (Telegram) with ROUNDS messages each: 2 x 50 x 2 = 200 messages. */
const CONVERSATIONS = 50
const ROUNDS = 2
const TOTAL = 2 * CONVERSATIONS * ROUNDS
const BOT = { token: '7000000001:AAScaleOutScaleOutScaleOutScaleOut1', id: 7000000001, username: 'scale_out_bot', first_name: 'Scale' }
/** Every question carries its token; the fake model answers with it, so each reply names its message. */
const TOKEN = /\[(q-[wt]\d+-\d+)\]/g
const tokenOf = (text: string) => [...text.matchAll(TOKEN)].at(-1)?.[1] ?? null
const answerTo = (token: string) => `Answer to [${token}].`

/** Polls until check() is true; the deadline is generous: pass or fail never depends on speed. */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Runs fn over items with at most `limit` at once. */
async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!)
  }))
}

/**
 * The scale-out deployment for real: bots/server.ts and two bots/worker.ts as child processes on
 * the machine's PostgreSQL (a fresh database, KNOWLEDGE_VECTORS=off as it has no pgvector) and
 * Redis (a prefix of its own), answering through a fake OpenAI-compatible API and sending through
 * a fake Telegram Bot API, both in this process. 200 messages come in over the web chat API and
 * the Telegram webhook; one worker is killed with SIGKILL while it waits for the model, and
 * started again. Every message must be answered exactly once, and the model answer each once.
 */
describe.skipIf(!redisUrl || !pgAnswers)('scale-out: server and two workers on PostgreSQL and Redis', () => {
  let db: Awaited<ReturnType<typeof emptyDatabase>>
  let ai: FakeOpenAI
  let tg: FakeTelegram
  let deployment: ScaleOut
  let client: pg.Client
  let webchatKey: string
  let inboxId: string
  let secret: string
  const killed: { token: string | null; exit: number | string | null } = { token: null, exit: null }
  const started = Date.now()
  const phases: Record<string, number> = {}

  beforeAll(async () => {
    db = await emptyDatabase('scale')
    ai = await startFakeOpenAI({ reply: (q) => { const t = tokenOf(q); return t ? answerTo(t) : 'No token in the question.' } })
    tg = await startFakeTelegram()
    tg.addBot(BOT)
    deployment = await startScaleOut({
      workers: 2,
      env: {
        DATABASE_URL: `${db.url}?connection_limit=4`,
        REDIS_URL: redisUrl!,
        REDIS_PREFIX: uniquePrefix('scale'),
        KNOWLEDGE_VECTORS: 'off',
        OPENAI_API_KEY: 'sk-test-scale-out',
        TELEGRAM_API_ROOT: tg.url,
        PUBLIC_URL: 'https://switchboard.example.com',
        PLANS_JSON: JSON.stringify({ trial: { responsesPerPeriod: 100_000 } }),
        WEBCHAT_RATE_PER_IP: '0',
        WEBCHAT_RATE_PER_KEY: '0',
        WEBCHAT_REPLY_TIMEOUT_MS: '2000',
        // A killed worker's jobs go to the other one within 20 s (lock and stalled check), not BullMQ's 60.
        JOB_LOCK_MS: '10000',
      },
      serverEnv: { OPENAI_BASE_URL: ai.baseUrl('server') },
      // worker-1 runs one turn at a time: when it is killed, the turn waiting for the model is its only one.
      workerEnv: (i) => ({ OPENAI_BASE_URL: ai.baseUrl(`worker-${i + 1}`), WORKER_CONCURRENCY: i === 0 ? '1' : '4' }),
    })
    phases.start = Date.now() - started
    client = new pg.Client({ connectionString: db.url })
    await client.connect()

    const call = async (path: string, body: unknown, token?: string) => {
      const res = await fetch(`${deployment.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) })
      const json = (await res.json()) as Record<string, never>
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`)
      return json as unknown as Record<string, Record<string, string>> & { token: string }
    }
    const { token } = await call('/api/v1/auth/signup', { organizationName: 'Scale', name: 'Owner', email: 'owner@scale.example.com', password: 'a long passphrase' })
    const agent = await call('/api/v1/agents', { name: 'Scale assistant' }, token)
    webchatKey = agent.webchat!.key!
    const connected = await call(`/api/v1/agents/${agent.agent!.id}/telegram`, { token: BOT.token }, token)
    inboxId = connected.bot!.inboxId!
    secret = String(tg.callsOf('setWebhook').at(-1)!.payload.secret_token)
  }, 600_000)

  afterAll(async () => {
    // The processes' logs, for a reader of a failure.
    if (deployment) {
      const dir = path.join(ROOT, 'tests/output/scale-out')
      await mkdir(dir, { recursive: true })
      for (const p of [deployment.server, ...deployment.workers]) await writeFile(path.join(dir, `${p.name}.log`), p.output())
    }
    await client?.end()
    await deployment?.stop()
    await tg?.close()
    await ai?.close()
    await db?.drop()
  })

  const sendWebchat = async (session: number, round: number) => {
    const res = await fetch(`${deployment.url}/api/v1/webchat/${webchatKey}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId: `scale-session-${session}`, messageId: `w${session}-${round}`, text: `Question [q-w${session}-${round}]: when are you open?` }),
    })
    // 200 with the reply, or 202 while it is still being answered: the reply is checked below.
    if (res.status !== 200 && res.status !== 202) throw new Error(`web chat answered ${res.status}: ${await res.text()}`)
    await res.arrayBuffer()
  }
  const sendTelegram = async (chat: number, round: number) => {
    const update = updates.text({ chatId: 880_000 + chat, text: `Question [q-t${chat}-${round}]: where are you?` })
    const res = await fetch(`${deployment.url}/webhooks/telegram/${inboxId}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }, body: JSON.stringify(update) })
    if (res.status !== 200) throw new Error(`the Telegram webhook answered ${res.status}: ${await res.text()}`)
    await res.arrayBuffer()
  }
  const round = (r: number) => [
    ...Array.from({ length: CONVERSATIONS }, (_, i) => () => sendWebchat(i, r)),
    ...Array.from({ length: CONVERSATIONS }, (_, i) => () => sendTelegram(i, r)),
  ]

  it('answers 200 messages exactly once through a worker killed with SIGKILL and started again', async () => {
    const sendStarted = Date.now()
    // The first round, then the second while worker-1 is killed in the middle of a model call.
    await inParallel(round(1), 16, (send) => send())
    const held = ai.holdNext('worker-1')
    const second = inParallel(round(2), 16, (send) => send())
    const call = await Promise.race([held, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('worker-1 made no model call in the second round')), 120_000))])
    killed.token = tokenOf(call.question)
    const victim = deployment.workers[0]!
    killed.exit = await victim.kill('SIGKILL')
    await victim.restart()
    await second
    phases.send = Date.now() - sendStarted

    await until('every inbound message to be answered', async () => {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Message" WHERE direction = 'in' AND status IN ('done', 'failed')`)
      return rows[0]!.n >= TOTAL
    })
    await until('every Telegram reply to be sent', () => tg.callsOf('sendMessage').length >= TOTAL / 2)
    phases.answered = Date.now() - sendStarted

    expect(killed.exit).toBe('SIGKILL')
    expect(killed.token).toMatch(/^q-[wt]\d+-[12]$/)

    // The database: 200 messages in, each done with exactly one reply, sent, that answers it.
    const inbound = await client.query<{ id: string; text: string; status: string }>(`SELECT id, text, status FROM "Message" WHERE direction = 'in'`)
    expect(inbound.rows).toHaveLength(TOTAL)
    expect(inbound.rows.filter((m) => m.status !== 'done')).toEqual([])
    const replies = await client.query<{ replyToId: string; text: string; status: string }>(`SELECT "replyToId", text, status FROM "Message" WHERE direction = 'out'`)
    expect(replies.rows).toHaveLength(TOTAL)
    const byMessage = new Map(replies.rows.map((r) => [r.replyToId, r]))
    for (const m of inbound.rows) {
      const reply = byMessage.get(m.id)
      expect(reply?.status, m.text).toBe('sent')
      expect(reply?.text, m.text).toContain(answerTo(tokenOf(m.text)!))
    }

    // Telegram: every chat got exactly the answers to its own two messages, once each.
    const sent = tg.callsOf('sendMessage')
    expect(sent).toHaveLength(TOTAL / 2)
    for (let chat = 0; chat < CONVERSATIONS; chat++) {
      const texts = tg.sentTo(880_000 + chat).map((c) => String(c.payload.text))
      expect(texts.map((t) => tokenOf(t)).sort()).toEqual([`q-t${chat}-1`, `q-t${chat}-2`])
    }
    // Web chat: each session's history is its two questions, each followed by its answer.
    for (let session = 0; session < CONVERSATIONS; session++) {
      const res = await fetch(`${deployment.url}/api/v1/webchat/${webchatKey}/messages?sessionId=scale-session-${session}`)
      const { messages } = (await res.json()) as { messages: { author: string; text: string }[] }
      const agent = messages.filter((m) => m.author === 'agent').map((m) => tokenOf(m.text))
      expect(agent.sort()).toEqual([`q-w${session}-1`, `q-w${session}-2`])
      expect(messages).toHaveLength(4)
    }

    // The model: one answered call per message. The only other call is the one worker-1 was killed
    // in (never answered), whose message the other worker then asked once more.
    const answered = ai.calls.filter((c) => c.answered)
    const perToken = new Map<string, number>()
    for (const c of answered) perToken.set(tokenOf(c.question) ?? '(none)', (perToken.get(tokenOf(c.question) ?? '(none)') ?? 0) + 1)
    expect(perToken.size).toBe(TOTAL)
    expect([...perToken].filter(([, n]) => n !== 1)).toEqual([])
    const unanswered = ai.calls.filter((c) => !c.answered)
    expect(unanswered.map((c) => [c.caller, tokenOf(c.question)])).toEqual([['worker-1', killed.token]])
    expect(ai.calls).toHaveLength(TOTAL + 1)
    expect(ai.calls.filter((c) => c.caller === 'server')).toEqual([])
    expect(ai.embeddingCalls).toEqual([])

    // Both workers took turns: worker-2 answered, worker-1 at least asked (the call it was killed in).
    expect(answered.filter((c) => c.caller === 'worker-2').length).toBeGreaterThan(0)
    expect(ai.calls.filter((c) => c.caller === 'worker-1').length).toBeGreaterThan(0)
    const output = deployment.workers.map((w) => w.output()).join('\n') + deployment.server.output()
    expect(output).not.toMatch(/"level":(50|60)/)
    console.info(`scale-out: processes started in ${phases.start} ms; ${TOTAL} messages sent in ${phases.send} ms, all answered ${phases.answered} ms after the first; worker-1 killed during the model call of ${killed.token}`)
  }, 600_000)

  it('readiness of the server and both workers, with knowledge searched by words only', async () => {
    for (const p of [deployment.server, ...deployment.workers]) {
      const res = await fetch(`${p.url}/readyz`)
      expect(res.status, p.name).toBe(200)
      expect(await res.json()).toMatchObject({ status: 'ready', knowledge: { semantic: false, mode: 'lexical' } })
    }
  })
})
