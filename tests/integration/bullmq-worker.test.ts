import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, TELEGRAM_DOC, waitFor, type TestApp, type TestOrg } from '../support/test-app.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'

const root = path.resolve(import.meta.dirname, '../..')
const redisUrl = await redisForTests()

/**
 * The scale-out deployment: an HTTP server process that only enqueues, and bots/worker.ts as a
 * separate process consuming turns from BullMQ on the real Redis. Both reach the same database
 * over the PostgreSQL protocol (DATABASE_URL): PGlite with pgvector behind pglite-socket, since the
 * machine's PostgreSQL has no pgvector.
 */
describe.skipIf(!redisUrl)('web chat turn through BullMQ with a separate worker process', () => {
  let pglite: PGlite
  let socket: PGLiteSocketServer
  let server: TestApp
  let worker: ChildProcess
  let workerLog = ''
  let org: TestOrg
  const prefix = uniquePrefix('worker')

  beforeAll(async () => {
    pglite = await PGlite.create({ extensions: { vector } })
    socket = new PGLiteSocketServer({ db: pglite, port: 0, host: '127.0.0.1', maxConnections: 16 })
    await socket.start()
    const port = (socket as unknown as { server: { address(): { port: number } } }).server.address().port
    const databaseUrl = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres?connection_limit=2`
    const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl!, REDIS_PREFIX: prefix }

    server = await startTestApp({ env, role: 'server' })
    worker = spawn(process.execPath, ['--import', 'tsx', 'bots/worker.ts'], {
      cwd: root,
      env: { ...process.env, ...env, DATA_DIR: 'memory://', LOG_LEVEL: 'info', WORKER_CONCURRENCY: '4' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    worker.stdout!.on('data', (d) => (workerLog += d))
    worker.stderr!.on('data', (d) => (workerLog += d))
    const deadline = Date.now() + 60_000
    while (!workerLog.includes('consuming jobs')) {
      if (worker.exitCode !== null || Date.now() > deadline) throw new Error(`worker did not start:\n${workerLog}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    // ingestion jobs also run in the worker process
    org = await createOrg(server, { name: 'Scaled', docs: [TELEGRAM_DOC] })
  }, 120_000)

  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker.once('exit', r))
      worker.kill('SIGTERM')
      await exited
    }
    await server?.close()
    await socket?.stop()
    await pglite?.close()
  })

  it('the server enqueues, the worker answers, and the reply comes back to the waiting request', async () => {
    expect(server.app.queue.kind).toBe('bullmq')
    const res = await api(server, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'bullmq-session-1', text: 'How do I connect a Telegram bot?', messageId: 'bullmq-1' } })
    expect(res.status).toBe(200)
    expect(res.json.messages[0].text).toContain('@BotFather')
    expect(res.json.messages[0].sources[0].title).toContain('Telegram')
    // The worker logs the job after the reply is sent: its line may reach this process a little later.
    await waitFor(async () => /"jobId":"turn_/.test(workerLog), 5_000).catch(() => undefined)
    expect(workerLog).toMatch(/"jobId":"turn_/)
  })

  it('a redelivered message gives one reply through BullMQ too', async () => {
    const body = { sessionId: 'bullmq-session-2', text: 'How do I connect a Telegram bot?', messageId: 'bullmq-2' }
    const [a, b] = await Promise.all([api(server, `/api/v1/webchat/${org.webchatKey}/messages`, { body }), api(server, `/api/v1/webchat/${org.webchatKey}/messages`, { body })])
    expect(a.json.messages[0].id).toBe(b.json.messages[0].id)
    const history = await api(server, `/api/v1/webchat/${org.webchatKey}/messages?sessionId=bullmq-session-2`)
    expect(history.json.messages).toHaveLength(2)
  })

  it('readiness checks the database and Redis', async () => {
    expect((await api(server, '/readyz')).json).toMatchObject({ status: 'ready' })
  })
})
