/**
 * The server the ingress benchmark (tests/bench/ingress.ts) loads, in a process of its own so that
 * the fakes and the load generator do not share its event loop. `floor`: express + PGlite on disk,
 * one INSERT ... ON CONFLICT DO NOTHING per Telegram update, then 200. `app`: Switchboard on its
 * embedded defaults (PGlite on disk, in-process queue) with an organization whose agent answers
 * through the fake OpenAI-compatible server, and Telegram, Slack and Messenger connected to their
 * fakes. It tells its parent where it listens over IPC, and answers the parent's questions
 * (what is stored, what is answered) from its database.
 */
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import express from 'express'
import { PGlite } from '@electric-sql/pglite'
import { loadConfig } from '../../adapters/channels.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { listen } from '../../adapters/http/server.ts'
import { buildApp } from '../../bots/app.ts'
import { PENDING_SQL, setUpBenchOrganization, STORED_SQL, type BenchChannels, type StoredRow } from './ingress-setup.ts'

export type TargetReady = { port: number; organizationId?: string; inboxes?: BenchChannels }
export type TargetRequest = { id: number; type: 'stored'; inboxId?: string } | { id: number; type: 'pending' } | { id: number; type: 'close' }

const send = (message: unknown) => process.send!(message)
const mode = process.argv[2]
const dataDir = await mkdtemp(path.join(tmpdir(), `switchboard-ingress-${mode}-`))

if (mode === 'floor') {
  const db = await PGlite.create(path.join(dataDir, 'pglite'))
  await db.exec('CREATE TABLE IF NOT EXISTS inbound (update_id bigint PRIMARY KEY, chat_id bigint NOT NULL, text text NOT NULL)')
  const http = express()
  http.post('/hook', express.json(), async (req, res) => {
    const update = req.body as { update_id?: number; message?: { chat?: { id?: number }; text?: string } }
    if (typeof update.update_id !== 'number') return void res.status(400).json({ ok: false })
    await db.query('INSERT INTO inbound (update_id, chat_id, text) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [update.update_id, update.message?.chat?.id ?? 0, update.message?.text ?? ''])
    res.json({ ok: true })
  })
  const server = await listen(http, 0, '127.0.0.1')
  process.on('message', async (m: TargetRequest) => {
    if (m.type === 'stored') {
      const rows = await db.query<{ update_id: string }>('SELECT update_id::text FROM inbound')
      send({ id: m.id, rows: rows.rows.map((r) => ({ externalMessageId: r.update_id, status: 'stored', sent: 0 })) })
    } else if (m.type === 'close') {
      server.close()
      await db.close()
      await rm(dataDir, { recursive: true, force: true })
      send({ id: m.id })
      process.exit(0)
    } else send({ id: m.id, pending: 0 })
  })
  send({ ready: { port: (server.address() as AddressInfo).port } satisfies TargetReady })
} else if (mode === 'app') {
  const env = JSON.parse(process.env.INGRESS_TARGET_ENV ?? '{}') as Record<string, string>
  const plans = JSON.stringify({ trial: { responsesPerPeriod: null, limits: { agents: null, chunks: null, channels: null } } })
  const config = loadConfig({ ...process.env, ...env, DATA_DIR: dataDir, LOG_LEVEL: 'error', DEMO_SEED: 'false', PORT: '0', HOST: '127.0.0.1', PLANS_JSON: plans, ALLOW_PRIVATE_URLS: '127.0.0.1' })
  const logger = createLogger({ level: config.LOG_LEVEL, destination: process.stderr })
  const app = await buildApp({ config, logger, role: 'all' })
  const server = await listen(app.http, 0, '127.0.0.1')
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const { organizationId, inboxes } = await setUpBenchOrganization(base, env)
  const organization = { id: organizationId }

  process.on('message', async (m: TargetRequest) => {
    if (m.type === 'stored') {
      const rows = await app.db.runner.query<StoredRow>(STORED_SQL, [organization.id, m.inboxId ?? ''])
      send({ id: m.id, rows })
    } else if (m.type === 'pending') {
      const [row] = await app.db.runner.query<{ n: number }>(PENDING_SQL, [organization.id])
      send({ id: m.id, pending: row!.n })
    } else {
      server.close()
      server.closeAllConnections?.()
      await app.close()
      await rm(dataDir, { recursive: true, force: true })
      send({ id: m.id })
      process.exit(0)
    }
  })
  send({ ready: { port: (server.address() as AddressInfo).port, organizationId: organization.id, inboxes } satisfies TargetReady })
} else {
  console.error('usage: ingress-target.ts floor|app')
  process.exit(2)
}
