import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const root = path.resolve(import.meta.dirname, '../..')

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

type Running = { child: ChildProcess; output: () => string; stop(): Promise<void> }

/** Starts `bots/main.ts` exactly as `npm start` does (after generate), waits for its banner. */
async function start(dataDir: string, port: number): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bots/main.ts'], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info', NODE_ENV: 'development', REDIS_URL: '', DATABASE_URL: '', OPENAI_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const deadline = Date.now() + 90_000
  while (!out.includes('Terminal chat:')) {
    if (child.exitCode !== null) throw new Error(`exited early:\n${out}`)
    if (Date.now() > deadline) throw new Error(`no banner in time:\n${out}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    child,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

describe('npm start on the embedded defaults', () => {
  let dataDir: string
  let running: Running | undefined
  afterAll(async () => {
    await running?.stop()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('creates the demo workspace, answers from the docs with a source, and keeps everything across a restart', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-start-'))
    const port = await freePort()
    running = await start(dataDir, port)

    const credentials = JSON.parse(await readFile(path.join(dataDir, 'demo-credentials.json'), 'utf8'))
    expect(credentials).toEqual({ adminEmail: expect.stringContaining('@'), adminPassword: expect.any(String), organizationId: expect.any(String), agentId: expect.any(String), webchatKey: expect.any(String) })
    expect(running.output()).toContain(`http://localhost:${port}/chat/${credentials.webchatKey}`)
    expect(running.output()).toContain(credentials.adminPassword)
    const migrations = (await readdir(path.join(root, 'prisma/migrations'), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort()
    expect(running.output()).toContain(`"migrations":${JSON.stringify(migrations)}`)
    expect((await stat(path.join(dataDir, 'encryption.key'))).mode & 0o777).toBe(0o600)
    expect(running.output()).not.toContain(await readFile(path.join(dataDir, 'encryption.key'), 'utf8').then((k) => k.trim()))

    const ask = async (text: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/webchat/${credentials.webchatKey}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sessionId: 'e2e-session-0001', text }),
      })
      expect(res.status).toBe(200)
      return (await res.json()) as { conversationId: string; messages: { text: string; sources: { title: string; snippet: string }[] }[] }
    }
    const answer = await ask('How do I connect a Telegram bot?')
    expect(answer.messages[0]!.text).toMatch(/BotFather/)
    expect(answer.messages[0]!.sources[0]!.title).toMatch(/Telegram/)
    expect(answer.messages[0]!.sources[0]!.snippet.length).toBeGreaterThan(20)

    const login = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: credentials.adminEmail, password: credentials.adminPassword }) })
    expect(login.status).toBe(200)
    expect(login.headers.get('set-cookie')).toMatch(/sb_session=.+HttpOnly/i)

    await running.stop()
    running = await start(dataDir, port)
    expect(running.output()).not.toContain('database migrated')
    expect(running.output()).not.toContain('indexing the docs')
    const again = JSON.parse(await readFile(path.join(dataDir, 'demo-credentials.json'), 'utf8'))
    expect(again).toEqual(credentials)
    const history = await fetch(`http://127.0.0.1:${port}/api/v1/webchat/${credentials.webchatKey}/messages?sessionId=e2e-session-0001`)
    const body = (await history.json()) as { conversationId: string; messages: { author: string; text: string }[] }
    expect(body.conversationId).toBe(answer.conversationId)
    expect(body.messages.map((m) => m.author)).toEqual(['contact', 'agent'])
  }, 240_000)
})
