import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, ROOT as root, startMain, type MainProcess } from '../support/main-process.ts'

/** Starts `bots/main.ts` exactly as `npm start` does (after generate), waits for its banner. */
const start = (dataDir: string, port: number) => startMain({ DATA_DIR: dataDir, PORT: String(port) })

describe('npm start on the embedded defaults', () => {
  let dataDir: string
  let running: MainProcess | undefined
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
