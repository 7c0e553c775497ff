/**
 * How long a channel's webhook takes to acknowledge a delivery (verify the signature on the raw
 * bytes, normalize, store the message, queue its turn, answer 2xx) while the turns run, for each
 * signed channel: Telegram, Slack and Messenger, each against its local fake service. Beside them,
 * in the same run and process, a floor: express answering a route that only checks an HMAC, measured first.
 * Prints acks/s and p50/p99 per channel at concurrency 1 and 8, the ratio to the floor, and the
 * count of replies sent (every stored message must be answered once).
 */
import { createHmac } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import express from 'express'
import { listen } from '../../adapters/http/server.ts'
import { api, createOrg, startTestApp, waitFor, TELEGRAM_DOC, BILLING_DOC } from '../support/test-app.ts'
import { startFakeTelegram } from '../support/fake-telegram.ts'
import { startFakeSlack } from '../support/fake-slack.ts'
import { startFakeMeta } from '../support/fake-meta.ts'
import { dmEvent, slackSignature } from '../support/slack.ts'
import { metaSignature, metaText } from '../support/meta.ts'
import type { AddressInfo } from 'node:net'

type Phase = { name: string; concurrency: number; requests: number; seconds: number; p50: number; p99: number; failed: number }
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0

async function load(name: string, concurrency: number, requests: number, send: (i: number) => Promise<number>): Promise<Phase> {
  const times: number[] = []
  let failed = 0
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < requests; i = next++) {
        const t0 = performance.now()
        const status = await send(i)
        times.push(performance.now() - t0)
        if (status !== 200) failed++
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  times.sort((a, b) => a - b)
  return { name, concurrency, requests, seconds, p50: percentile(times, 50), p99: percentile(times, 99), failed }
}

export async function webhookAcks(options: string[] = []) {
  const requests = Number(options[options.indexOf('--requests') + 1]) || 200
  const tg = await startFakeTelegram()
  const slack = await startFakeSlack()
  const meta = await startFakeMeta()
  const bot = { token: '7000000099:AAH-bench-bot-token-for-benchmarks', id: 7000000099, username: 'bench_bot', first_name: 'Bench' }
  tg.addBot(bot)
  slack.addWorkspace({ teamId: 'T0WORKSPACE', teamName: 'Bench', botToken: 'xoxb-99-99-benchbottokenforbenchmarks', botUserId: 'U0BOT', botId: 'B0BOT', appId: 'A0SWITCHBRD' })
  meta.addPage({ pageId: '104000000000001', name: 'Bench Page', token: 'EAAGbenchpagetoken000000000000000000001' })
  const t = await startTestApp({ env: { TELEGRAM_API_ROOT: tg.url, SLACK_API_URL: slack.url, META_GRAPH_URL: meta.url, PUBLIC_URL: 'https://bench.example.com', LOG_LEVEL: 'warn', PLANS_JSON: JSON.stringify({ trial: { responsesPerPeriod: 100_000, limits: { agents: 2, chunks: 5000, channels: 6 } } }) } })
  const org = await createOrg(t, { name: 'Bench', docs: [TELEGRAM_DOC, BILLING_DOC] })
  const connect = async (kind: string, body: unknown) => (await api(t, `/api/v1/agents/${org.agentId}/channels/${kind}`, { token: org.token, body })).json.inbox.inboxId as string
  const telegramId = await connect('telegram', { token: bot.token })
  const telegramSecret = tg.callsOf('setWebhook').at(-1)!.payload.secret_token as string
  const slackSecret = 'benchsigningsecret00000000000000'
  const slackId = await connect('slack', { botToken: 'xoxb-99-99-benchbottokenforbenchmarks', signingSecret: slackSecret })
  const appSecret = '0123456789abcdef0123456789abcdef'
  const messengerId = await connect('messenger', { pageId: '104000000000001', pageAccessToken: 'EAAGbenchpagetoken000000000000000000001', appSecret })

  // The floor: express, the raw body, one HMAC check, 200.
  const floorApp = express()
  floorApp.post('/hook', express.raw({ type: '*/*' }), (req, res) => {
    const expected = `sha256=${createHmac('sha256', appSecret).update(req.body as Buffer).digest('hex')}`
    res.status(req.header('x-hub-signature-256') === expected ? 200 : 401).json({ ok: true })
  })
  const floorServer = await listen(floorApp, 0, '127.0.0.1')
  const floorUrl = `http://127.0.0.1:${(floorServer.address() as AddressInfo).port}/hook`

  let serial = 0
  const post = async (url: string, body: string, headers: Record<string, string>) => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })).status
  const senders: Record<string, (i: number) => Promise<number>> = {
    floor: () => {
      const body = JSON.stringify(metaText({ object: 'page', accountId: '1', customer: String(++serial), text: 'x' }))
      return post(floorUrl, body, { 'x-hub-signature-256': metaSignature(appSecret, body) })
    },
    telegram: () => {
      const id = ++serial
      const body = JSON.stringify({ update_id: 1_000_000 + id, message: { message_id: id, date: Math.floor(Date.now() / 1000), chat: { id: 50_000 + (id % 50), type: 'private' }, from: { id: 50_000 + (id % 50), is_bot: false, first_name: 'B' }, text: 'How do I connect a Telegram bot?' } })
      return post(`${t.url}/webhooks/telegram/${telegramId}`, body, { 'x-telegram-bot-api-secret-token': telegramSecret })
    },
    slack: () => {
      const body = JSON.stringify(dmEvent({ user: `U0B${(++serial % 50).toString().padStart(4, '0')}`, text: 'How do I connect a Telegram bot?' }))
      const ts = Math.floor(Date.now() / 1000)
      return post(`${t.url}/webhooks/slack/${slackId}`, body, { 'x-slack-request-timestamp': String(ts), 'x-slack-signature': slackSignature(slackSecret, ts, body) })
    },
    messenger: () => {
      const body = JSON.stringify(metaText({ object: 'page', accountId: '104000000000001', customer: String(7_100_000_000_000_000 + (++serial % 50)), text: 'How do I connect a Telegram bot?' }))
      return post(`${t.url}/webhooks/messenger/${messengerId}`, body, { 'x-hub-signature-256': metaSignature(appSecret, body) })
    },
  }

  // The floor first, while the process is quiet; then each channel, with the earlier deliveries' turns running.
  const phases: Phase[] = []
  for (const concurrency of [1, 8]) phases.push(await load('floor', concurrency, requests, senders.floor!))
  for (const concurrency of [1, 8]) for (const name of ['telegram', 'slack', 'messenger']) phases.push(await load(name, concurrency, requests, senders[name]!))

  // Every stored message answered once.
  await waitFor(async () => (await t.app.db.prisma.message.count({ where: { organizationId: org.organizationId, direction: 'in', status: 'pending' } })) === 0, 600_000)
  const inbound = await t.app.db.prisma.message.count({ where: { organizationId: org.organizationId, direction: 'in' } })
  const replies = await t.app.db.prisma.message.count({ where: { organizationId: org.organizationId, direction: 'out' } })

  const floorOf = (c: number) => phases.find((p) => p.name === 'floor' && p.concurrency === c)!
  console.log('\nwebhook acks (signed deliveries acknowledged while the turns run)')
  console.log('channel     conc  acks/s   p50 ms   p99 ms  failed  acks/s vs floor')
  for (const p of phases) {
    const rate = p.requests / p.seconds
    console.log(`${p.name.padEnd(10)}  ${String(p.concurrency).padStart(4)}  ${rate.toFixed(0).padStart(6)}  ${p.p50.toFixed(1).padStart(7)}  ${p.p99.toFixed(1).padStart(7)}  ${String(p.failed).padStart(6)}  ${p.name === 'floor' ? '' : `${((rate / (floorOf(p.concurrency).requests / floorOf(p.concurrency).seconds)) * 100).toFixed(1)}%`}`)
  }
  console.log(`stored inbound ${inbound} (sent ${phases.filter((p) => p.name !== 'floor').reduce((n, p) => n + p.requests - p.failed, 0)} accepted), replies ${replies}`)
  console.log(JSON.stringify({ benchmark: 'webhook-acks', requests, phases: phases.map((p) => ({ ...p, perSecond: Number((p.requests / p.seconds).toFixed(1)) })), inbound, replies }))

  await new Promise<void>((resolve) => floorServer.close(() => resolve()))
  await t.close()
  await Promise.all([tg.close(), slack.close(), meta.close()])
}
