import type { AppOverrides } from '../../bots/app.ts'
import { api, createOrg, startTestApp, waitFor, type TestApp, type TestOrg } from './test-app.ts'
import { startFakeTelegram, type FakeBot, type FakeTelegram } from './fake-telegram.ts'

export type TelegramTestBed = {
  tg: FakeTelegram
  t: TestApp
  org: TestOrg
  bot: FakeBot
  inboxId: string
  secret: string
  deliver(update: unknown): Promise<Awaited<ReturnType<typeof api>>>
  /** Texts the bot sent to a chat, in order. */
  texts(chatId: number): string[]
  waitForSent(chatId: number, count: number): Promise<void>
  close(): Promise<void>
}

/** The app against a fake Bot API, an organization with its knowledge, and a bot connected through the admin API. */
export async function startTelegramTestBed(input: { name: string; bot: FakeBot; docs?: { title: string; content: string }[]; env?: Record<string, string>; overrides?: AppOverrides }): Promise<TelegramTestBed> {
  const tg = await startFakeTelegram()
  tg.addBot(input.bot)
  const t = await startTestApp({ env: { TELEGRAM_API_ROOT: tg.url, PUBLIC_URL: 'https://switchboard.example.com', ...input.env }, overrides: input.overrides })
  const org = await createOrg(t, { name: input.name, docs: input.docs })
  const res = await api(t, `/api/v1/agents/${org.agentId}/telegram`, { token: org.token, body: { token: input.bot.token } })
  if (res.status !== 201) throw new Error(`connect failed: ${res.text}`)
  const inboxId = res.json.bot.inboxId as string
  const secret = tg.callsOf('setWebhook').at(-1)!.payload.secret_token as string
  return {
    tg,
    t,
    org,
    bot: input.bot,
    inboxId,
    secret,
    deliver: (update) => api(t, `/webhooks/telegram/${inboxId}`, { body: update, headers: { 'x-telegram-bot-api-secret-token': secret } }),
    texts: (chatId) => tg.sentTo(chatId).map((c) => String(c.payload.text)),
    waitForSent: (chatId, count) => waitFor(async () => tg.sentTo(chatId).length >= count),
    async close() {
      await t.close()
      await tg.close()
    },
  }
}
