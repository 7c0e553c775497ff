import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { channelModules } from '../../adapters/channels.ts'
import type { ChatModel } from '../../core/ports.ts'
import { hashPassword } from '../../core/security/passwords.ts'
import { startFakeAmojo } from '../support/fake-amojo.ts'
import { kommoUserAmojoId, startFakeKommo } from '../support/fake-kommo.ts'
import { startFakeMeta, type FakeMeta } from '../support/fake-meta.ts'
import { startFakeSlack, type FakeSlack, type SlackCall } from '../support/fake-slack.ts'
import { startFakeTelegram, updates, type FakeTelegram, type RecordedCall } from '../support/fake-telegram.ts'
import { metaSender, metaText, type Json } from '../support/meta.ts'
import { buttonPress, channelEvent, commandFields, dmEvent, slackFixture, slackSender, type SlackPost } from '../support/slack.ts'
import { api, createOrg, startTestApp, waitFor, type TestApp, type TestOrg } from '../support/test-app.ts'
import { echo } from './echo-channel/index.ts'
import { startEchoService } from './echo-channel/fake-service.ts'

/**
 * The contract every channel module keeps (docs/channels.md, "Adding a channel"), run against each
 * one through the same steps: web chat, Telegram, Slack, Messenger, Instagram and Kommo chats from the registry, and the
 * echo channel, a throwaway module written against the contract alone. A new channel adds a driver here: how its
 * service posts an event, what the customer received, and its desk.
 */

/**
 * Answers what it is asked, at the length asked for: the contract is about channels, not answers. The long
 * answer's words are not ASCII ("wörd"), so a channel whose limit is in bytes (Instagram) is held to bytes.
 */
const model: ChatModel = {
  name: 'contract-echo',
  async answer({ question }) {
    return { text: question.includes('long answer') ? Array.from({ length: 1200 }, (_, i) => `wörd${i}`).join(' ') : `You said: ${question}`, sources: [] }
  },
}

/** What a customer does, in the channel's own terms once the driver translates it. */
type CustomerEvent = { id: number; thread: string; text?: string; command?: { name: string; args: string }; choice?: string }

type Bed = {
  t: TestApp
  org: TestOrg
  inboxId: string
  slept: number[]
  /** Posts the customer's event the way the service does; `signed: false` with a wrong secret. */
  deliver(event: CustomerEvent, options?: { signed?: boolean }): Promise<number>
  /** What the customer received in the thread, in order. */
  received(thread: string): Promise<string[]>
  close(): Promise<void>
  /** The most one message may carry, as `measure` counts; absent when the channel does not split. */
  limit?: number
  /** How the service counts toward `limit`: characters (UTF-16 units) unless told otherwise. */
  measure?: (text: string) => number
  /** The next send is refused with 429, naming `seconds` to wait. */
  throttleNext?(seconds: number): void
  /** The wait, in ms, that follows throttleNext(seconds): the time named, unless the service names none. */
  throttledWait?(seconds: number): number
  handshake?: { good(): Promise<{ status: number; body: string }>; bad(): Promise<{ status: number }>; expected: string }
  desk?: {
    /** An admin makes the desk; an operator's account is linked. */
    setUp(): Promise<void>
    /** The conversation of the newest announcement, and the id of its post. */
    announced(): Promise<{ conversationId: string; postId: string } | null>
    take(conversationId: string): Promise<void>
    reply(postId: string, text: string): Promise<void>
    release(conversationId: string): Promise<void>
  }
}

type Driver = {
  name: string
  signed: boolean
  choices: boolean
  /**
   * The channel has a command syntax of its own (Telegram's bot commands, Slack's slash command, the web
   * chat's line starting with /), in which the driver writes a `command`; without one, the driver writes it
   * as plain text, and plain text it stays.
   */
  commands: boolean
  /** The thread id of the n-th customer, as the channel writes it (a Slack user id); the number itself by default. */
  thread?: (n: number) => string
  start(): Promise<Bed>
}

const recordingSleep = (slept: number[]) => async (ms: number) => void slept.push(ms)

/** Links a new operator-role account to the sender of `sendCode`, returning the user id. */
async function linkOperator(t: TestApp, org: TestOrg, sendCode: (code: string) => Promise<void>) {
  const email = `op-${Math.random().toString(36).slice(2, 8)}@example.com`
  const user = await t.app.store.users.create({ email, name: 'Olga', passwordHash: await hashPassword('operator password 1') })
  await t.app.store.users.addMembership({ organizationId: org.organizationId, userId: user.id, role: 'operator' })
  const token = (await api(t, '/api/v1/auth/login', { body: { email, password: 'operator password 1' } })).json.token
  const code = (await api(t, '/api/v1/channel-admins/link-codes', { token, body: {} })).json.code as string
  await sendCode(code)
}

const webchatDriver: Driver = {
  name: 'webchat',
  signed: false,
  choices: false,
  commands: true,
  async start() {
    const t = await startTestApp({ overrides: { chatModel: model } })
    const org = await createOrg(t, { name: 'Contract web' })
    const inbox = await t.app.store.inboxes.findByPublicKey(org.webchatKey)
    return {
      t,
      org,
      inboxId: inbox!.id,
      slept: [],
      async deliver(e) {
        const text = e.command ? `/${e.command.name}${e.command.args ? ` ${e.command.args}` : ''}` : e.text!
        return (await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: `session-${e.thread}`, text, messageId: `m${e.id}` } })).status
      },
      // Read from the store: the page's own polling endpoint is rate limited per address.
      async received(thread) {
        const conversation = await t.app.store.conversations.findByThread(inbox!.id, `session-${thread}`)
        if (!conversation) return []
        return (await t.app.store.messages.history(org.organizationId, conversation.id, { limit: 50 })).filter((m) => m.direction === 'out').map((m) => m.text)
      },
      close: () => t.close(),
    }
  },
}

const BOT = { token: '7000000091:AAH-contract-bot-token-for-tests-ab', id: 7000000091, username: 'contract_bot', first_name: 'Contract' }
const GROUP = -100777
const ADMIN_CHAT = 9701
const OPERATOR_CHAT = 9702

const telegramDriver: Driver = {
  name: 'telegram',
  signed: true,
  choices: true,
  commands: true,
  async start() {
    const tg: FakeTelegram = await startFakeTelegram()
    tg.addBot(BOT)
    const slept: number[] = []
    const t = await startTestApp({ env: { TELEGRAM_API_ROOT: tg.url, PUBLIC_URL: 'https://switchboard.example.com', HANDOFF_TIMEOUT_MS: '600000' }, overrides: { chatModel: model, sleep: recordingSleep(slept) } })
    const org = await createOrg(t, { name: 'Contract tg' })
    const connected = await api(t, `/api/v1/agents/${org.agentId}/channels/telegram`, { token: org.token, body: { token: BOT.token } })
    if (connected.status !== 201) throw new Error(connected.text)
    const inboxId = connected.json.inbox.inboxId as string
    const secret = tg.callsOf('setWebhook').at(-1)!.payload.secret_token as string
    const post = async (update: unknown, signed = true) => (await api(t, `/webhooks/telegram/${inboxId}`, { body: update, headers: { 'x-telegram-bot-api-secret-token': signed ? secret : 'wrong-secret' } })).status
    const inGroup = (text: string, replyTo?: RecordedCall, userId = OPERATOR_CHAT) =>
      updates.text({ chatId: GROUP, chatType: 'supergroup', userId, text, ...(replyTo ? { replyTo: { message_id: (replyTo.result as { message_id: number }).message_id, from: { id: BOT.id, is_bot: true, first_name: BOT.first_name, username: BOT.username }, chat: { id: GROUP, type: 'supergroup', title: 'Team' }, date: 1, text: 'x' } } : {}) })
    const announcements = () => tg.sentTo(GROUP).filter((c) => String(c.payload.text).includes('A customer wants a person'))
    return {
      t,
      org,
      inboxId,
      slept,
      limit: 4096,
      async deliver(e, options) {
        const chatId = Number(e.thread)
        if (e.choice) return post(updates.callback({ chatId, data: e.choice, messageId: e.id, botId: BOT.id, botUsername: BOT.username }), options?.signed)
        const text = e.command ? `/${e.command.name}${e.command.args ? ` ${e.command.args}` : ''}` : e.text!
        return post(updates.text({ chatId, text, messageId: e.id }), options?.signed)
      },
      // What reached the chat: a send the fake refused (a 429) is not a message the customer got.
      received: async (thread) => tg.sentTo(Number(thread)).filter((c) => !c.refused).map((c) => String(c.payload.text)),
      throttleNext: (seconds) => tg.failNext('sendMessage', { error_code: 429, description: `Too Many Requests: retry after ${seconds}`, parameters: { retry_after: seconds } }),
      desk: {
        async setUp() {
          const adminCode = (await api(t, '/api/v1/channel-admins/link-codes', { token: org.token, body: {} })).json.code
          await post(updates.text({ chatId: ADMIN_CHAT, text: `/start ${adminCode}` }))
          await waitFor(async () => tg.sentTo(ADMIN_CHAT).length > 0)
          await linkOperator(t, org, async (code) => {
            await post(updates.text({ chatId: OPERATOR_CHAT, text: `/start ${code}` }))
            await waitFor(async () => tg.sentTo(OPERATOR_CHAT).length > 0)
          })
          await post(inGroup('/operatorgroup', undefined, ADMIN_CHAT))
          await waitFor(async () => tg.sentTo(GROUP).some((c) => String(c.payload.text).includes('This group now receives')))
        },
        async announced() {
          const last = announcements().at(-1)
          if (!last) return null
          const [[take]] = (last.payload.reply_markup as { inline_keyboard: { callback_data: string }[][] }).inline_keyboard as [[{ callback_data: string }]]
          return { conversationId: take.callback_data.split(':')[2]!, postId: String((last.result as { message_id: number }).message_id) }
        },
        async take(conversationId) {
          const messageId = Number((announcements().at(-1)!.result as { message_id: number }).message_id)
          await post(updates.callback({ chatId: GROUP, userId: OPERATOR_CHAT, firstName: 'Olga', data: `op:take:${conversationId}`, messageId, botId: BOT.id, botUsername: BOT.username }))
        },
        async reply(_postId, text) {
          await post(inGroup(text, announcements().at(-1)))
        },
        async release(conversationId) {
          const messageId = Number((announcements().at(-1)!.result as { message_id: number }).message_id)
          await post(updates.callback({ chatId: GROUP, userId: OPERATOR_CHAT, firstName: 'Olga', data: `op:release:${conversationId}`, messageId, botId: BOT.id, botUsername: BOT.username }))
        },
      },
      async close() {
        await t.close()
        await tg.close()
      },
    }
  },
}

// The workspace and app of the payloads in tests/fixtures/slack (buttonPress keeps the fixture's team and app).
const SLACK_WORKSPACE = { teamId: 'T0WORKSPACE', teamName: 'Contract Workspace', botToken: 'xoxb-7000-8000-contractbottokenfortests', botUserId: 'U0BOT', botId: 'B0BOT', appId: 'A0SWITCHBRD' }
const SLACK_SECRET = 'c0ntract5ign1ngs3cretf0rte5ts00'
const SLACK_DESK = 'C0OPS'
const SLACK_ADMIN = 'U0ADMIN'
const SLACK_OPERATOR = 'U0OLGA'

type SlackButton = { action_id: string; value?: string }
/** The buttons of a message's actions blocks, as chat.postMessage / chat.update carried them. */
const buttonsOf = (blocks: unknown): SlackButton[] =>
  Array.isArray(blocks) ? (blocks as { type?: string; elements?: SlackButton[] }[]).filter((b) => b.type === 'actions').flatMap((b) => b.elements ?? []) : []

const slackDriver: Driver = {
  name: 'slack',
  signed: true,
  choices: true,
  commands: true,
  // A customer's one-to-one conversation is their DM with the bot, and its thread id is their user id.
  thread: (n) => `U0C${n}`,
  async start() {
    const slack: FakeSlack = await startFakeSlack()
    slack.addWorkspace(SLACK_WORKSPACE)
    const slept: number[] = []
    const t = await startTestApp({ env: { SLACK_API_URL: slack.url, PUBLIC_URL: 'https://switchboard.example.com', HANDOFF_TIMEOUT_MS: '600000' }, overrides: { chatModel: model, sleep: recordingSleep(slept) } })
    const org = await createOrg(t, { name: 'Contract slack' })
    const connected = await api(t, `/api/v1/agents/${org.agentId}/channels/slack`, { token: org.token, body: { botToken: SLACK_WORKSPACE.botToken, signingSecret: SLACK_SECRET } })
    if (connected.status !== 201) throw new Error(connected.text)
    const inboxId = connected.json.inbox.inboxId as string
    const path = `/webhooks/slack/${inboxId}`
    const signed = slackSender(t, { path, secret: () => SLACK_SECRET })
    const forged = slackSender(t, { path, secret: () => 'f'.repeat(32) })
    const ok = (res: SlackPost) => {
      if (res.status >= 300) throw new Error(`Slack's post was refused: ${res.status} ${res.text}`)
    }
    const posted = (channel: string) => slack.callsOf('chat.postMessage').filter((c) => c.payload.channel === channel && c.response?.ok === true)

    /** The response_urls of the commands each customer typed: answers to /switchboard go there, not to chat.postMessage. */
    const answeredVia = new Map<string, Set<string>>()
    /** Each event as first built, so a redelivery is the same payload, as Slack's retries are. */
    const built = new Map<number, { send: (via: ReturnType<typeof slackSender>, headers?: Record<string, string>) => Promise<SlackPost>; deliveries: number }>()
    const build = (e: CustomerEvent) => {
      const dm = `D${e.thread}`
      if (e.command) {
        const id = `cmd-${e.id}`
        answeredVia.set(e.thread, (answeredVia.get(e.thread) ?? new Set()).add(id))
        // `/switchboard <name> <args>`, typed in the DM with the bot.
        const fields = commandFields({ user: e.thread, channel: dm, text: `${e.command.name}${e.command.args ? ` ${e.command.args}` : ''}`, responseUrl: slack.responseUrl(id) })
        return (via: ReturnType<typeof slackSender>, headers?: Record<string, string>) => via.command(fields, headers ? { headers } : undefined)
      }
      if (e.choice) {
        // The press of the button that carries the choice, under the newest answer in the DM that shows it. Every
        // agent answer carries "Talk to a person" as choice:0; the contract presses it right after /help, whose
        // answer (through response_url) has no buttons, so there the press names a DM message of its own.
        const shown = posted(e.thread)
          .map((c) => ({ c, button: buttonsOf(c.payload.blocks).find((b) => b.value === e.choice) }))
          .filter((x) => x.button)
          .at(-1)
        const press = buttonPress({ user: e.thread, actionId: shown?.button?.action_id ?? 'choice:0', value: e.choice, channel: dm, messageTs: String(shown?.c.response?.ts ?? `1700000000.${String(e.id).padStart(6, '0')}`) })
        return (via: ReturnType<typeof slackSender>, headers?: Record<string, string>) => via.interaction(press, headers ? { headers } : undefined)
      }
      const event = dmEvent({ user: e.thread, text: e.text!, ts: `${Math.floor(Date.now() / 1000)}.${String(e.id).padStart(6, '0')}` })
      return (via: ReturnType<typeof slackSender>, headers?: Record<string, string>) => via.event(event, headers ? { headers } : undefined)
    }

    let operatorMessages = 0
    const command = async (user: string, channel: string, text: string, id: string, answered: RegExp) => {
      ok(await signed.command(commandFields({ user, channel, text, responseUrl: slack.responseUrl(id) })))
      await waitFor(async () => answered.test(JSON.stringify(slack.responsesTo(id))))
    }
    const hasButton = (c: SlackCall, actionId: string, conversationId?: string) => buttonsOf(c.payload.blocks).some((b) => b.action_id === actionId && (!conversationId || b.value === conversationId))
    /** Handoff announcements: top-level posts in the operators' channel with a Take button. */
    const announcements = () => posted(SLACK_DESK).filter((c) => c.payload.thread_ts === undefined && hasButton(c, 'op:take'))
    const announcementOf = (conversationId: string) => {
      const post = announcements().filter((c) => hasButton(c, 'op:take', conversationId)).at(-1)
      if (!post) throw new Error(`no announcement of ${conversationId} in ${SLACK_DESK}`)
      return post
    }

    return {
      t,
      org,
      inboxId,
      slept,
      limit: 3000,
      async deliver(e, options) {
        let event = built.get(e.id)
        if (!event) built.set(e.id, (event = { send: build(e), deliveries: 0 }))
        // Slack delivers an event again when it got no timely 200: the same payload, signed anew, with X-Slack-Retry-Num.
        const retry = event.deliveries ? { 'x-slack-retry-num': String(event.deliveries), 'x-slack-retry-reason': 'http_timeout' } : undefined
        event.deliveries++
        return (await event.send(options?.signed === false ? forged : signed, retry)).status
      },
      // What the customer saw: the bot's posts in their DM, and the answers to their /switchboard commands, in order.
      async received(thread) {
        const ids = answeredVia.get(thread) ?? new Set()
        const posts = posted(thread).map((c) => ({ at: c.at, text: String(c.payload.text) }))
        const answers = slack.responses.filter((r) => ids.has(r.id)).map((r) => ({ at: r.at, text: String((r.body as { text?: unknown }).text) }))
        return [...posts, ...answers].sort((a, b) => a.at - b.at).map((m) => m.text)
      },
      throttleNext(seconds) {
        // Only waits from here on count: the send scheduler's own waits (one message a second per chat, booked with the
        // recording sleep, so they add up: 1000, 2000, 3000...) must not pass for the wait the 429 named.
        slept.length = 0
        slack.failNext('chat.postMessage', { status: 429, retryAfter: seconds })
      },
      handshake: {
        // Slack checks a Request URL with a signed url_verification POST and wants the challenge back, as plain text.
        expected: slackFixture<{ challenge: string }>('url-verification.json').challenge,
        good: async () => {
          const res = await signed.event(slackFixture('url-verification.json'))
          return { status: res.status, body: res.text }
        },
        bad: async () => {
          // Slack's check is a POST: a GET is neither a handshake nor a delivery.
          expect((await api(t, path)).status).toBe(405)
          return { status: (await forged.event(slackFixture('url-verification.json'))).status }
        },
      },
      desk: {
        async setUp() {
          const adminCode = (await api(t, '/api/v1/channel-admins/link-codes', { token: org.token, body: {} })).json.code as string
          await command(SLACK_ADMIN, `D${SLACK_ADMIN}`, `link ${adminCode}`, 'desk-link-admin', /linked/i)
          await linkOperator(t, org, (code) => command(SLACK_OPERATOR, `D${SLACK_OPERATOR}`, `link ${code}`, 'desk-link-operator', /linked/i))
          await command(SLACK_ADMIN, SLACK_DESK, 'operators here', 'desk-claim', /This channel now receives/)
        },
        async announced() {
          const last = announcements().at(-1)
          if (!last) return null
          const take = buttonsOf(last.payload.blocks).find((b) => b.action_id === 'op:take')!
          // The post's ts: the operator replies in its thread.
          return { conversationId: String(take.value), postId: String(last.response!.ts) }
        },
        async take(conversationId) {
          const post = announcementOf(conversationId)
          ok(await signed.interaction(buttonPress({ user: SLACK_OPERATOR, actionId: 'op:take', value: conversationId, label: 'Take', channel: SLACK_DESK, messageTs: String(post.response!.ts), blocks: post.payload.blocks as unknown[] })))
        },
        async reply(postId, text) {
          // A reply in the announcement's thread: thread_ts is the post's ts, and the reply has a ts of its own. (The
          // fake's ts and channelEvent's both count up from 1 within the second: left to chance they can be equal, and
          // a message whose ts is its thread_ts is the thread's root, not a reply in it.)
          const ts = `${Math.floor(Date.now() / 1000)}.${String(900_000 + ++operatorMessages)}`
          ok(await signed.event(channelEvent({ user: SLACK_OPERATOR, channel: SLACK_DESK, text, threadTs: postId, ts })))
        },
        async release(conversationId) {
          // "Back to bot" is on the announcement once taken (chat.update replaced its Take button).
          const ts = String(announcementOf(conversationId).response!.ts)
          const shown = slack
            .callsOf('chat.update')
            .filter((c) => c.payload.channel === SLACK_DESK && c.payload.ts === ts && hasButton(c, 'op:release', conversationId))
            .at(-1)
          if (!shown) throw new Error('the taken announcement shows no “Back to bot” button')
          ok(await signed.interaction(buttonPress({ user: SLACK_OPERATOR, actionId: 'op:release', value: conversationId, label: 'Back to bot', channel: SLACK_DESK, messageTs: ts, blocks: shown.payload.blocks as unknown[] })))
        },
      },
      async close() {
        await t.close()
        await slack.close()
      },
    }
  },
}

const ECHO_TOKEN = 'echo-contract-secret-token'

const KOMMO_CHAT = { channelId: 'f90ba33d-c9d9-44da-b76c-c349b0ecbe41', secret: '5a44c5dff55f3c15a4cce8d7c4cc27e207c7e189', account: 'c3a4f2a6-0b6e-4d3f-9a51-7e0d5c1b2a90', token: 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.contractkommochatstoken.signature000000009' }

/**
 * Kommo's chats as a customer channel: a Kommo chat of the channel (its conversation id is the thread) posts
 * Kommo's signed hook; the agent's answer is imported into the same chat as the channel bot's message. No
 * command syntax, no buttons. Its desk is Kommo too: the handoff is imported into a chat of its own
 * (`sb-{conversation}`), an operator takes it in the admin web, replies by writing in that chat, and hands it
 * back with /bot.
 */
const kommoDriver: Driver = {
  name: 'kommo',
  signed: true,
  choices: false,
  commands: false,
  thread: (n) => `kommo-chat-${n}`,
  async start() {
    const amojo = await startFakeAmojo({ channelId: KOMMO_CHAT.channelId, secret: KOMMO_CHAT.secret })
    const kommo = await startFakeKommo()
    const slept: number[] = []
    const t = await startTestApp({
      env: { KOMMO_API_URL: kommo.apiUrlTemplate, KOMMO_CHANNEL_ID: KOMMO_CHAT.channelId, KOMMO_CHANNEL_SECRET: KOMMO_CHAT.secret, KOMMO_CHANNEL_BOT_ID: 'f1910c7f-b1e0-4184-bd09-c7def2a9109a', KOMMO_CHATS_URL: amojo.url, PUBLIC_URL: 'https://switchboard.example.com', HANDOFF_TIMEOUT_MS: '600000', PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 2, chunks: 500, channels: 5 } } }) },
      overrides: { chatModel: model, sleep: recordingSleep(slept) },
    })
    const org = await createOrg(t, { name: 'Contract Kommo' })
    kommo.addAccount({ subdomain: 'contract', accountId: 31000009, name: 'Contract', amojoId: KOMMO_CHAT.account, users: [{ id: 8100001, name: 'Olga', email: org.email, is_admin: true }] })
    kommo.addLongLivedToken('contract', KOMMO_CHAT.token)
    expect((await api(t, '/api/v1/crm/kommo', { token: org.token, body: { subdomain: 'contract', longLivedToken: KOMMO_CHAT.token } })).status).toBe(201)
    const res = await api(t, `/api/v1/agents/${org.agentId}/channels/kommo`, { token: org.token, body: {} })
    expect(res.status).toBe(201)
    const inboxId = res.json.inbox.inboxId as string
    const scopeId = res.json.inbox.details.scopeId as string
    const post = async (hook: { raw: string; signature: string }, signed = true) =>
      (await api(t, `/webhooks/kommo/${scopeId}`, { raw: hook.raw, headers: { 'content-type': 'application/json', 'x-signature': signed ? hook.signature : '0'.repeat(40) } })).status
    const operator = (conversationId: string, text: string) =>
      amojo.hook({ accountId: KOMMO_CHAT.account, conversationId: `desk-${conversationId}`, conversationClientId: `sb-${conversationId}`, senderId: kommoUserAmojoId(8100001), receiver: { id: 'desk-client' }, message: { text } })
    return {
      t,
      org,
      inboxId,
      slept,
      limit: 4000,
      async deliver(e, options) {
        const text = e.command ? `/${e.command.name}${e.command.args ? ` ${e.command.args}` : ''}` : (e.text ?? '')
        return post(amojo.hook({ accountId: KOMMO_CHAT.account, conversationId: e.thread, senderId: kommoUserAmojoId(8100001), receiver: { id: `client-${e.thread}` }, message: { id: `m${e.id}`, text } }), options?.signed !== false)
      },
      received: async (thread) => amojo.messages(scopeId, `sb-k-${thread}`).map((m) => String(m.payload.message.text)),
      throttleNext: (seconds) => amojo.failNext(429, { 'retry-after': String(seconds) }),
      desk: {
        async setUp() {},
        async announced() {
          const line = amojo.messages(scopeId).filter((m) => /wants a person/.test(String(m.payload.message.text))).at(-1)
          const conversationId = line ? String(line.payload.conversation_id).replace(/^sb-/, '') : null
          return conversationId ? { conversationId, postId: conversationId } : null
        },
        async take(conversationId) {
          expect((await api(t, `/api/v1/conversations/${conversationId}/take`, { method: 'POST', token: org.token, body: {} })).status).toBeLessThan(300)
        },
        async reply(postId, text) {
          expect(await post(operator(postId, text))).toBe(200)
        },
        async release(conversationId) {
          expect(await post(operator(conversationId, '/bot'))).toBe(200)
        },
      },
      async close() {
        await t.close()
        await kommo.close()
        await amojo.close()
      },
    }
  },
}

const echoDriver: Driver = {
  name: 'echo (a module written against the contract alone)',
  signed: true,
  choices: true,
  commands: true,
  async start() {
    const service = await startEchoService()
    const slept: number[] = []
    const t = await startTestApp({ env: { PUBLIC_URL: 'https://switchboard.example.com', HANDOFF_TIMEOUT_MS: '600000' }, overrides: { chatModel: model, sleep: recordingSleep(slept), modules: [...channelModules, echo] } })
    const org = await createOrg(t, { name: 'Contract echo' })
    const connected = await api(t, `/api/v1/agents/${org.agentId}/channels/echo`, { token: org.token, body: { apiUrl: service.url, token: ECHO_TOKEN } })
    if (connected.status !== 201) throw new Error(connected.text)
    const inboxId = connected.json.inbox.inboxId as string
    const post = async (body: unknown, signed = true) => (await api(t, `/webhooks/echo/${inboxId}`, { body, headers: { 'x-echo-token': signed ? ECHO_TOKEN : 'not-the-token' } })).status
    let n = 0
    const operator = (kind: string, extra: Record<string, unknown>, user = 'olga') => post({ id: `op-${++n}`, thread: 'desk', user, operator: { user, place: 'desk', kind, ...extra } })
    return {
      t,
      org,
      inboxId,
      slept,
      limit: 100,
      deliver: (e, options) => post({ id: String(e.id), thread: e.thread, user: `u-${e.thread}`, text: e.text ?? (e.choice ? `pressed ${e.choice}` : undefined), command: e.command, choice: e.choice }, options?.signed),
      received: async (thread) => service.sentTo(thread),
      throttleNext: (seconds) => service.throttleNext(1, seconds),
      handshake: {
        expected: 'challenge-4711',
        good: async () => {
          const res = await api(t, `/webhooks/echo/${inboxId}?challenge=challenge-4711&token=${ECHO_TOKEN}`)
          return { status: res.status, body: res.text }
        },
        bad: async () => ({ status: (await api(t, `/webhooks/echo/${inboxId}?challenge=x&token=guess`)).status }),
      },
      desk: {
        async setUp() {
          const adminCode = (await api(t, '/api/v1/channel-admins/link-codes', { token: org.token, body: {} })).json.code
          await post({ id: `link-admin-${++n}`, thread: 'admin', user: 'admin', command: { name: 'link', args: adminCode } })
          await waitFor(async () => service.sentTo('admin').length > 0)
          await linkOperator(t, org, async (code) => {
            // The operator's private thread with the bot is their user id, as in Telegram.
            await post({ id: `link-op-${++n}`, thread: 'olga', user: 'olga', command: { name: 'link', args: code } })
            await waitFor(async () => service.sentTo('olga').length > 0)
          })
          await operator('claim_desk', {}, 'admin')
          await waitFor(async () => service.posts.some((p) => p.path === '/desk-answer' && p.body.outcome === 'desk_claimed'))
        },
        async announced() {
          const last = service.posts.filter((p) => p.path === '/desk' && p.status === 200 && p.body.transcript).at(-1)
          if (!last) return null
          return { conversationId: String(last.body.conversationId), postId: last.id! }
        },
        take: async (conversationId) => void (await operator('take', { conversationId })),
        reply: async (postId, text) => void (await operator('reply', { postId, text })),
        release: async (conversationId) => void (await operator('release', { conversationId })),
      },
      async close() {
        await t.close()
        await service.close()
      },
    }
  },
}

const META_APP_SECRET = 'c0ffee0123456789abcdef0123456789'
const META_PAGE = { pageId: '104000000000777', name: 'Contract Page', token: 'EAAGcontractpagetokenfortests000000000001' }
const META_INSTAGRAM = { accountId: '17841400000000777', username: 'contract.shop', token: 'IGAAcontractinstagramtokenfortests00000001' }
/** What Switchboard handed the Send API: the text, and the choices as quick replies (payload = the choice id). */
type MetaSent = { message: { text: string; quick_replies?: { title: string; payload: string }[] } }

/**
 * failNext's matcher for the next Send API call that carries a message. Its path alone cannot tell it
 * apart: the adapter's mark_seen and typing_on go to the same /{account}/messages, and before the reply. The
 * fake records a call, reads its body, then matches and answers it without waiting on anything else, so
 * the call being matched is the one recorded with a message and not answered yet.
 */
class NextSend extends RegExp {
  readonly #meta: FakeMeta
  readonly #since = Date.now()
  constructor(meta: FakeMeta) {
    super('/messages$')
    this.#meta = meta
  }
  override test(s: string): boolean {
    return super.test(s) && this.#meta.calls.some((c) => c.at >= this.#since && c.status === undefined && c.body.message !== undefined)
  }
}

/**
 * Messenger and Instagram: one adapter (adapters/meta) with two flavours, so one driver with theirs. Meta
 * posts `{ object, entry: [{ id: account, messaging: [...] }] }` signed with X-Hub-Signature-256; a
 * customer's thread is their page- or Instagram-scoped id (digits); what they received is what the fake
 * Graph API accepted on the Send API for that id.
 */
function metaDriver(flavor: {
  name: 'messenger' | 'instagram'
  object: 'page' | 'instagram'
  accountId: string
  thread: (n: number) => string
  limit: number
  measure?: (text: string) => number
  /** The account and its token on the fake Graph API, and the body of POST /api/v1/agents/{id}/channels/{name}. */
  setUp(meta: FakeMeta): Record<string, string>
}): Driver {
  return {
    name: flavor.name,
    signed: true,
    choices: true,
    // Messenger and Instagram have no command syntax: "/help" is a message like any other, and the adapter
    // never makes a command of it (core never parses text for commands). The driver sends it as text.
    commands: false,
    thread: flavor.thread,
    async start() {
      const meta = await startFakeMeta()
      const connect = flavor.setUp(meta)
      const slept: number[] = []
      const t = await startTestApp({
        env: { META_GRAPH_URL: meta.url, INSTAGRAM_GRAPH_URL: meta.instagramUrl, PUBLIC_URL: 'https://switchboard.example.com', HANDOFF_TIMEOUT_MS: '600000' },
        overrides: { chatModel: model, sleep: recordingSleep(slept) },
      })
      const org = await createOrg(t, { name: `Contract ${flavor.name}` })
      const connected = await api(t, `/api/v1/agents/${org.agentId}/channels/${flavor.name}`, { token: org.token, body: connect })
      if (connected.status !== 201) throw new Error(connected.text)
      const inboxId = connected.json.inbox.inboxId as string
      const verifyToken = connected.json.inbox.details.verifyToken as string
      const path = `/webhooks/${flavor.name}/${inboxId}`
      const signed = metaSender(t, { path, appSecret: () => META_APP_SECRET })
      const forged = metaSender(t, { path, appSecret: () => 'f'.repeat(32) })
      const sent = (thread: string) => meta.deliveredTo(thread).map((c) => c.body as MetaSent)

      /** Each event as first built: Meta delivers again the same body (the same mid), signed again. */
      const built = new Map<number, Json>()
      const build = (e: CustomerEvent): Json => {
        const base = { object: flavor.object, accountId: flavor.accountId, customer: e.thread, mid: `m_contract_${flavor.name}_${e.id}` }
        if (e.choice) {
          // A tap on the quick reply that carries the choice, under the newest message showing it: its title
          // arrives as the text, its payload is the choice id. A choice shown nowhere as a quick reply can only
          // be a button or the persistent menu, which Meta delivers as a postback.
          const shown = sent(e.thread)
            .flatMap((m) => m.message.quick_replies ?? [])
            .filter((q) => q.payload === e.choice)
            .at(-1)
          return shown ? metaText({ ...base, text: shown.title, quickReply: e.choice }) : metaText({ ...base, postback: { title: e.choice, payload: e.choice } })
        }
        const text = e.command ? `/${e.command.name}${e.command.args ? ` ${e.command.args}` : ''}` : e.text!
        return metaText({ ...base, text })
      }
      const challenge = async (token: string, value: string) => api(t, `${path}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=${value}`)

      return {
        t,
        org,
        inboxId,
        slept,
        limit: flavor.limit,
        ...(flavor.measure ? { measure: flavor.measure } : {}),
        async deliver(e, options) {
          let body = built.get(e.id)
          if (!body) built.set(e.id, (body = build(e)))
          return (await (options?.signed === false ? forged : signed)(body)).status
        },
        received: async (thread) => sent(thread).map((m) => m.message.text),
        throttleNext() {
          // Meta throttles with a Graph error (613, "Calls to this api have exceeded the rate limit"), HTTP 400,
          // and names no time to wait. Only waits from here on count.
          slept.length = 0
          meta.failNext(new NextSend(meta), { code: 613 })
        },
        // With no Retry-After the Graph client backs off on its own, 1 s first (adapters/meta/graph.ts).
        throttledWait: () => 1000,
        handshake: {
          // Meta checks the callback URL with a GET: hub.mode=subscribe, the verify token typed into the App
          // Dashboard, and a challenge it wants back as the body.
          expected: '1158201444',
          good: async () => {
            const res = await challenge(verifyToken, '1158201444')
            return { status: res.status, body: res.text }
          },
          bad: async () => {
            const res = await challenge('not-the-verify-token', '1158201444')
            expect(res.status).toBe(403)
            expect(res.text).not.toContain('1158201444')
            return { status: res.status }
          },
        },
        // No desk: Messenger and Instagram have no place of their own where operators work. Their handoffs are
        // answered in the admin web, or at another inbox's desk (Inbox.deskInboxId), which that channel's driver covers.
        async close() {
          await t.close()
          await meta.close()
        },
      }
    },
  }
}

const messengerDriver = metaDriver({
  name: 'messenger',
  object: 'page',
  accountId: META_PAGE.pageId,
  // Page-scoped ids (PSIDs), 16 digits.
  thread: (n) => String(7_000_000_000_000_000 + n),
  // "message.text must be UTF-8 and has a 2000 character limit" (Send API reference).
  limit: 2000,
  setUp(meta) {
    meta.addPage(META_PAGE)
    return { pageId: META_PAGE.pageId, pageAccessToken: META_PAGE.token, appSecret: META_APP_SECRET }
  },
})

const instagramDriver = metaDriver({
  name: 'instagram',
  object: 'instagram',
  accountId: META_INSTAGRAM.accountId,
  // Instagram-scoped ids (IGSIDs), 16 digits.
  thread: (n) => String(1_330_000_000_000_000 + n),
  // "Message text must be UTF-8 and be a 1000 bytes or less": Instagram counts bytes, not characters.
  limit: 1000,
  measure: (text) => Buffer.byteLength(text, 'utf8'),
  setUp(meta) {
    meta.addInstagram({ accountId: META_INSTAGRAM.accountId, username: META_INSTAGRAM.username, token: META_INSTAGRAM.token })
    return { accountId: META_INSTAGRAM.accountId, accessToken: META_INSTAGRAM.token, appSecret: META_APP_SECRET }
  },
})

describe.each([webchatDriver, telegramDriver, slackDriver, messengerDriver, instagramDriver, kommoDriver, echoDriver])('channel contract: $name', (driver) => {
  let bed: Bed
  let id = 100
  const thread = () => (driver.thread ?? String)(5000 + id)
  // Starting the app with a service's fakes (Kommo's: two, and the CRM connected first) takes long on a loaded machine.
  beforeAll(async () => {
    bed = await driver.start()
  }, 180_000)
  afterAll(async () => bed?.close())

  const messageCount = async () => (await bed.t.app.db.prisma.message.count({ where: { inboxId: bed.inboxId } })) as number
  const settled = async (to: string, count: number) => waitFor(async () => (await bed.received(to)).length >= count)

  it.skipIf(!driver.signed)('refuses a wrong signature with 401 and stores nothing', async () => {
    const before = await messageCount()
    expect(await bed.deliver({ id: ++id, thread: thread(), text: 'forged' }, { signed: false })).toBe(401)
    expect(await messageCount()).toBe(before)
  })

  it('answers a redelivered event once', async () => {
    const to = thread()
    const event = { id: ++id, thread: to, text: 'Is the shop open on Sunday?' }
    expect(await bed.deliver(event)).toBeLessThan(300)
    expect(await bed.deliver(event)).toBeLessThan(300)
    await settled(to, 1)
    await new Promise((r) => setTimeout(r, 300))
    expect(await bed.received(to)).toEqual(['You said: Is the shop open on Sunday?'])
  })

  it('answers the handshake the service makes when the address is set up, and refuses a wrong one', async () => {
    if (!bed.handshake) {
      // No handshake in this channel: a GET is no delivery, and stores nothing.
      const before = await messageCount()
      const res = await api(bed.t, `/webhooks/${driver.name.split(' ')[0]}/${bed.inboxId}`)
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(await messageCount()).toBe(before)
      return
    }
    expect(await bed.handshake.good()).toEqual({ status: 200, body: bed.handshake.expected })
    expect((await bed.handshake.bad()).status).toBeGreaterThanOrEqual(400)
  })

  it('splits a long reply at the channel’s limit and loses none of it', async () => {
    if (!bed.limit) return expect(driver.name).toBe('webchat') // the reply comes back whole in the HTTP response
    const to = thread()
    await bed.deliver({ id: ++id, thread: to, text: 'a long answer please' })
    const whole = (await model.answer({ question: 'a long answer please' } as never)).text
    await waitFor(async () => (await bed.received(to)).join('').replace(/\s+/g, '').length >= whole.replace(/\s+/g, '').length)
    const parts = await bed.received(to)
    expect(parts.length).toBeGreaterThan(1)
    const measure = bed.measure ?? ((s: string) => s.length)
    for (const part of parts) expect(measure(part)).toBeLessThanOrEqual(bed.limit)
    // Where a part ends is the channel's choice (between words, or anywhere); the words are all there, in order.
    expect(parts.join('').replace(/\s+/g, '')).toBe(whole.replace(/\s+/g, ''))
  })

  it('waits as long as a 429 says, then sends once', async () => {
    if (!bed.throttleNext) return expect(driver.name).toBe('webchat') // nothing outside to refuse a send
    const to = thread()
    bed.throttleNext(3)
    await bed.deliver({ id: ++id, thread: to, text: 'Hello after a busy moment' })
    await settled(to, 1)
    expect(bed.slept).toContain(bed.throttledWait?.(3) ?? 3000)
    expect(await bed.received(to)).toEqual(['You said: Hello after a busy moment'])
  })

  it('takes commands and button presses as data', async () => {
    const to = thread()
    const said = async () => (await bed.received(to)).join('')
    await bed.deliver({ id: ++id, thread: to, command: { name: 'help', args: '' } })
    if (driver.commands) {
      await waitFor(async () => (await said()).includes('reach someone from our team.'))
      expect(await said()).toMatch(/^I am Contract .* assistant\. Ask me a question/)
    } else {
      // No command syntax in the channel: "/help" was written as text, and the agent answers it as text.
      await settled(to, 1)
      expect(await bed.received(to)).toEqual(['You said: /help'])
    }
    if (!driver.choices) return
    await bed.deliver({ id: ++id, thread: to, choice: 'handoff' })
    await waitFor(async () => /asked a person from our team/.test(await said()))
    const conversation = await bed.t.app.store.conversations.findByThread(bed.inboxId, to)
    expect(conversation!.state).toBe('handoff')
  })

  it('runs the handoff desk loop: announcement, the operator’s reply reaches the customer, release', async () => {
    // Web chat operators answer in the admin web; Messenger and Instagram have no operators' place of their own
    // (their handoffs are answered in the admin web, or at another channel's desk).
    if (!bed.desk) return expect(['webchat', 'messenger', 'instagram']).toContain(driver.name)
    await bed.desk.setUp()
    const to = thread()
    await bed.deliver({ id: ++id, thread: to, text: 'I want to talk to a person' })
    await settled(to, 1)
    await waitFor(async () => (await bed.desk!.announced()) !== null)
    const { conversationId, postId } = (await bed.desk.announced())!
    const conversation = await bed.t.app.store.conversations.findByThread(bed.inboxId, to)
    expect(conversationId).toBe(conversation!.id)
    await bed.desk.take(conversationId)
    await waitFor(async () => (await bed.t.app.store.handoffs.current(bed.org.organizationId, conversationId))?.status === 'taken')
    await bed.desk.reply(postId, 'Hello, Olga here.')
    await settled(to, 2)
    expect((await bed.received(to))[1]).toBe('Hello, Olga here.')
    await bed.desk.release(conversationId)
    await waitFor(async () => (await bed.t.app.store.conversations.get(bed.org.organizationId, conversationId))!.state === 'bot')
    // The customer is told the assistant is back (in as many parts as the channel splits it into).
    const after = async () => (await bed.received(to)).slice(2).join('').replace(/\s+/g, '')
    await waitFor(async () => (await after()).includes('handedtheconversationbacktome,theassistant') && (await after()).endsWith('teamagain.'))
    const told = (await bed.received(to)).length
    await bed.deliver({ id: ++id, thread: to, text: 'Thanks, one more question' })
    await settled(to, told + 1)
    expect((await bed.received(to)).at(-1)).toBe('You said: Thanks, one more question')
  })
})

describe('the ingress route itself', () => {
  let service: Awaited<ReturnType<typeof startEchoService>>
  let t: TestApp
  let inboxId: string
  beforeAll(async () => {
    service = await startEchoService()
    t = await startTestApp({ overrides: { chatModel: model, modules: [...channelModules, echo] } })
    const org = await createOrg(t, { name: 'Contract forms' })
    inboxId = (await api(t, `/api/v1/agents/${org.agentId}/channels/echo`, { token: org.token, body: { apiUrl: service.url, token: ECHO_TOKEN } })).json.inbox.inboxId
  })
  afterAll(async () => {
    await t?.close()
    await service?.close()
  })

  it('parses a form-encoded delivery (as Slack sends slash commands), verified on its raw bytes', async () => {
    const form = new URLSearchParams({ id: 'form-1', thread: 'form-thread', user: 'u-form', text: 'sent as a form' }).toString()
    const res = await api(t, `/webhooks/echo/${inboxId}`, { raw: form, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-echo-token': ECHO_TOKEN } })
    expect(res.status).toBe(200)
    await waitFor(async () => service.sentTo('form-thread').length === 1)
    expect(service.sentTo('form-thread')).toEqual(['You said: sent as a form'])
  })

  it('answers a malformed body with 400, an unknown kind or another kind’s inbox with 401, and other methods with 405, storing nothing', async () => {
    const before = await t.app.db.prisma.message.count()
    expect((await api(t, `/webhooks/echo/${inboxId}`, { body: { nothing: 'useful' }, headers: { 'x-echo-token': ECHO_TOKEN } })).status).toBe(400)
    expect((await api(t, `/webhooks/carrier-pigeon/${inboxId}`, { body: {} })).status).toBe(401)
    expect((await api(t, `/webhooks/telegram/${inboxId}`, { body: { update_id: 1 }, headers: { 'x-telegram-bot-api-secret-token': ECHO_TOKEN } })).status).toBe(401)
    expect((await api(t, `/webhooks/echo/${inboxId}`, { method: 'PUT', body: {} })).status).toBe(405)
    expect(await t.app.db.prisma.message.count()).toBe(before)
  })
})
