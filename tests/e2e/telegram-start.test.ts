import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startFakeTelegram, updates, type FakeTelegram } from '../support/fake-telegram.ts'
import { waitFor } from '../support/test-app.ts'

const root = path.resolve(import.meta.dirname, '../..')
const BOT = { token: '7000000051:AAH-start-bot-token-for-tests-abcdefg', id: 7000000051, username: 'switchboard_demo_bot', first_name: 'Switchboard demo' }

describe('npm start with TELEGRAM_BOT_TOKEN', () => {
  let tg: FakeTelegram
  let child: ChildProcess | undefined
  let dataDir: string
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    await tg?.close()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('answers in Telegram by long polling with no public URL, and never prints the token', async () => {
    tg = await startFakeTelegram()
    tg.addBot(BOT)
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-telegram-start-'))
    child = spawn(process.execPath, ['--import', 'tsx', 'bots/main.ts'], {
      cwd: root,
      env: { ...process.env, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info', NODE_ENV: 'development', REDIS_URL: '', DATABASE_URL: '', OPENAI_API_KEY: '', PUBLIC_URL: '', TELEGRAM_MODE: '', TELEGRAM_BOT_TOKEN: BOT.token, TELEGRAM_API_ROOT: tg.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    child.stderr!.on('data', (d) => (out += d))
    await waitFor(async () => {
      if (child!.exitCode !== null) throw new Error(`exited early:\n${out}`)
      return out.includes('Terminal chat:')
    }, 90_000)
    expect(out).toContain(`Telegram:     @${BOT.username} answers as the demo agent (polling)`)
    await waitFor(async () => tg.callsOf('getUpdates').length > 0)

    tg.queueUpdate(BOT.token, updates.text({ chatId: 6200, text: 'How do I connect a Telegram bot?' }))
    await waitFor(async () => tg.sentTo(6200).length === 1, 30_000)
    expect(String(tg.sentTo(6200)[0]!.payload.text)).toContain('BotFather')
    expect(out).not.toContain(BOT.token)
    // The start-up alone may take up to 90 s on a loaded machine (see the wait above).
  }, 150_000)
})
