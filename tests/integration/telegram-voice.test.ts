import nock from 'nock'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TELEGRAM_DOC } from '../support/test-app.ts'
import { HANDOFF_REPLY } from '../../core/conversation/steps.ts'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'

const BOT = { token: '7000000041:AAH-voice-bot-token-for-tests-abcdefg', id: 7000000041, username: 'acme_voice_bot', first_name: 'Acme Voice' }
const SPEECH = 'https://speech.example.com/v1'

describe('voice messages with a transcription model configured', () => {
  let b: TelegramTestBed
  beforeAll(async () => {
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    b = await startTelegramTestBed({ name: 'Voiceco', bot: BOT, docs: [TELEGRAM_DOC], env: { TRANSCRIPTION_MODEL: 'whisper-1', TRANSCRIPTION_API_KEY: 'sk-test-transcription', TRANSCRIPTION_BASE_URL: SPEECH } })
  })
  afterAll(async () => {
    nock.cleanAll()
    nock.enableNetConnect()
    await b?.close()
  })

  it('fetches the audio from Telegram, transcribes it, answers the words, and keeps the transcript', async () => {
    const audio = Buffer.from('OggS fake opus bytes')
    b.tg.addFile('voice-1', 'voice/file_7.oga', audio)
    let uploaded = ''
    const speech = nock(SPEECH)
      .post('/audio/transcriptions', (body: string) => {
        uploaded = body
        return true
      })
      .matchHeader('authorization', 'Bearer sk-test-transcription')
      .reply(200, { text: 'How do I connect a Telegram bot?' })
    await b.deliver(updates.voice({ chatId: 7100 }))
    await b.waitForSent(7100, 1)
    expect(speech.isDone()).toBe(true)
    expect(uploaded).toContain('whisper-1')
    expect(uploaded).toContain('OggS fake opus bytes')
    expect(b.texts(7100)[0]).toContain('@BotFather')
    const conversation = (await b.t.app.store.conversations.findByThread(b.inboxId, '7100'))!
    const [inbound] = await b.t.app.store.messages.history(b.org.organizationId, conversation.id, { limit: 5 })
    expect(inbound).toMatchObject({ text: 'How do I connect a Telegram bot?', attachments: [{ kind: 'audio', ref: 'voice-1' }] })
  })
  it('a voice message that asks for a person opens a handoff, as typed words would', async () => {
    b.tg.addFile('voice-1', 'voice/file_7.oga', Buffer.from('OggS more fake opus bytes'))
    nock(SPEECH).post('/audio/transcriptions').reply(200, { text: 'Can I talk to a person please?' })
    await b.deliver(updates.voice({ chatId: 7200 }))
    await b.waitForSent(7200, 1)
    const conversation = (await b.t.app.store.conversations.findByThread(b.inboxId, '7200'))!
    expect(conversation.state).toBe('handoff')
    expect((await b.t.app.store.handoffs.list(b.org.organizationId)).some((h) => h.conversationId === conversation.id && h.status === 'open')).toBe(true)
    expect(b.texts(7200)[0]).toBe(HANDOFF_REPLY)
  })
})
