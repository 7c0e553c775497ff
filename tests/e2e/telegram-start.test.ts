import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startFakeTelegram, updates, type FakeTelegram } from '../support/fake-telegram.ts'
import { startMain, type MainProcess } from '../support/main-process.ts'
import { waitFor } from '../support/test-app.ts'

const BOT = { token: '7000000051:AAH-start-bot-token-for-tests-abcdefg', id: 7000000051, username: 'switchboard_demo_bot', first_name: 'Switchboard demo' }

describe('npm start with TELEGRAM_BOT_TOKEN', () => {
  let tg: FakeTelegram
  let running: MainProcess | undefined
  let dataDir: string
  afterAll(async () => {
    await running?.stop()
    await tg?.close()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('answers in Telegram by long polling with no public URL, and never prints the token', async () => {
    tg = await startFakeTelegram()
    tg.addBot(BOT)
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-telegram-start-'))
    running = await startMain({ DATA_DIR: dataDir, PORT: '0', PUBLIC_URL: '', TELEGRAM_MODE: '', TELEGRAM_BOT_TOKEN: BOT.token, TELEGRAM_API_ROOT: tg.url })
    const out = running.output
    expect(out()).toContain(`Telegram:     @${BOT.username} answers as the demo agent (polling)`)
    await waitFor(async () => tg.callsOf('getUpdates').length > 0)

    tg.queueUpdate(BOT.token, updates.text({ chatId: 6200, text: 'How do I connect a Telegram bot?' }))
    await waitFor(async () => tg.sentTo(6200).length === 1, 30_000)
    expect(String(tg.sentTo(6200)[0]!.payload.text)).toContain('BotFather')
    expect(out()).not.toContain(BOT.token)
    // The start-up alone may take up to 90 s on a loaded machine (see the wait above).
  }, 150_000)
})
