import { describe, expect, it } from 'vitest'
import { normalizeSlack } from '../../adapters/slack/normalize.ts'
import { withSlashCommand } from '../../adapters/slack/slack-channel.ts'
import type { SlackSettings } from '../../adapters/slack/settings.ts'
import { createReplayGuard, validSignature } from '../../adapters/slack/verify.ts'
import type { ChannelEvent, Inbox, InboundMessage, OperatorAction, RawRequest } from '../../core/ports.ts'
import { slackFixture, slashCommandFixture } from '../support/slack.ts'

const inbox: Inbox = { id: 'inbox-1', organizationId: 'org-1', agentId: 'agent-1', channel: 'slack', name: 'Acme Support', publicKey: 'slack:T0WORKSPACE:A0SWITCHBRD', purpose: 'customers', settings: {}, deskInboxId: null }
const settings: SlackSettings = { install: 'app', teamId: 'T0WORKSPACE', appId: 'A0SWITCHBRD', botUserId: 'U0BOT', mode: 'webhook', deskChannelId: 'C0OPS' }
const known = new Set<string>()
const deps = { knownThread: async (_: Inbox, thread: string) => known.has(thread), seal: (v: string) => `sealed(${v})` }
const run = (body: unknown) => normalizeSlack(body, inbox, settings, deps)
const message = (events: ChannelEvent[]): InboundMessage => {
  expect(events).toHaveLength(1)
  expect(events[0]!.type).toBe('message')
  return (events[0] as { message: InboundMessage }).message
}
const operator = (events: ChannelEvent[]): OperatorAction => {
  expect(events).toHaveLength(1)
  expect(events[0]!.type).toBe('operator')
  return (events[0] as { action: OperatorAction }).action
}
const form = (text: string) => Object.fromEntries(new URLSearchParams(text))

describe('Slack request signatures', () => {
  // Slack's published example (https://api.slack.com/authentication/verifying-requests-from-slack).
  const secret = '8f742231b10e8888abcd99yyyzzz85a5'
  const timestamp = 1531420618
  const body =
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c'
  const signature = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503'
  const req = (headers: Record<string, string>, raw = body): RawRequest => ({ headers: { 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature, ...headers }, rawBody: Buffer.from(raw), query: {} })

  it('accepts Slack’s published example at its own time', () => {
    expect(validSignature({ req: req({}), signingSecret: secret, nowMs: timestamp * 1000 + 1500 })).toBe(true)
  })

  it('refuses it five minutes and a second later, or earlier (a clock ahead is no better than one behind)', () => {
    expect(validSignature({ req: req({}), signingSecret: secret, nowMs: (timestamp + 300) * 1000 })).toBe(true)
    expect(validSignature({ req: req({}), signingSecret: secret, nowMs: (timestamp + 301) * 1000 })).toBe(false)
    expect(validSignature({ req: req({}), signingSecret: secret, nowMs: (timestamp - 301) * 1000 })).toBe(false)
  })

  it('refuses another secret, a changed body, a changed timestamp, another version and missing headers', () => {
    const now = timestamp * 1000
    expect(validSignature({ req: req({}), signingSecret: 'f'.repeat(32), nowMs: now })).toBe(false)
    expect(validSignature({ req: req({}, body.replace('text=', 'text=x')), signingSecret: secret, nowMs: now })).toBe(false)
    expect(validSignature({ req: req({ 'x-slack-request-timestamp': String(timestamp + 1) }), signingSecret: secret, nowMs: now })).toBe(false)
    expect(validSignature({ req: req({ 'x-slack-signature': signature.replace('v0=', 'v1=') }), signingSecret: secret, nowMs: now })).toBe(false)
    expect(validSignature({ req: { headers: {}, rawBody: Buffer.from(body), query: {} }, signingSecret: secret, nowMs: now })).toBe(false)
    expect(validSignature({ req: req({ 'x-slack-request-timestamp': 'soon' }), signingSecret: secret, nowMs: now })).toBe(false)
  })

  it('a replayed signature is refused until the window has passed', async () => {
    let now = 1_000_000
    const guard = createReplayGuard({ now: () => now })
    expect(await guard.first('inbox:v0=abc:0')).toBe(true)
    expect(await guard.first('inbox:v0=abc:0')).toBe(false)
    expect(await guard.first('inbox:v0=abc:1')).toBe(true)
    now += 601_000
    expect(await guard.first('inbox:v0=abc:0')).toBe(true)
  })
})

describe('Slack payloads as events (tests/fixtures/slack)', () => {
  it('app_mention: the words to the bot, in the thread the mention starts', async () => {
    const m = message(await run(slackFixture('app-mention.json')))
    const e = slackFixture<{ event: { ts: string } }>('app-mention.json').event
    expect(m).toMatchObject({ externalThreadId: `C0GENERAL:${e.ts}`, externalMessageId: `C0GENERAL:${e.ts}`, externalUserId: 'U0CUSTOMER', privateThread: false, text: 'what are your opening hours?' })
  })

  it('a mention inside a thread belongs to that thread', async () => {
    const fixture = slackFixture<{ event: { thread_ts: string } }>('app-mention-in-thread.json')
    const m = message(await run(fixture))
    expect(m.externalThreadId).toBe(`C0GENERAL:${fixture.event.thread_ts}`)
    expect(m.text).not.toContain('<@U0BOT>')
  })

  it('message.im: the person’s own conversation, keyed by their user id', async () => {
    const m = message(await run(slackFixture('message-im.json')))
    expect(m).toMatchObject({ externalThreadId: 'U0CUSTOMER', externalUserId: 'U0CUSTOMER', privateThread: true, text: 'Hi! Do you deliver on Sundays?' })
  })

  it('a later reply in a thread continues it only when the thread is a conversation already', async () => {
    const fixture = slackFixture<{ event: { channel: string; thread_ts: string } }>('message-thread-reply.json')
    expect(await run(fixture)).toEqual([])
    known.add(`${fixture.event.channel}:${fixture.event.thread_ts}`)
    expect(message(await run(fixture)).externalThreadId).toBe(`${fixture.event.channel}:${fixture.event.thread_ts}`)
  })

  it('bots, edits and the bot’s own messages are ignored', async () => {
    expect(await run(slackFixture('message-bot.json'))).toEqual([])
    expect(await run(slackFixture('message-im.json', (e: { event: Record<string, unknown> }) => (e.event.subtype = 'message_changed')))).toEqual([])
    expect(await run(slackFixture('message-im.json', (e: { event: Record<string, unknown> }) => (e.event.user = 'U0BOT')))).toEqual([])
  })

  it('a shared file is an attachment fetched later with the bot token', async () => {
    const m = message(await run(slackFixture('message-file-share.json')))
    expect(m.attachments).toHaveLength(1)
    expect(m.attachments[0]).toMatchObject({ kind: 'document', mimeType: 'application/pdf' })
    expect(m.attachments[0]!.ref).toMatch(/^https:\/\/files\.slack\.com\//)
  })

  it('/switchboard link <code>: the command link, answered through the sealed response_url', async () => {
    const fields = form(slashCommandFixture())
    const m = message(await run(fields))
    expect(m.command).toEqual({ name: 'link', args: '123456' })
    expect(m).toMatchObject({ externalThreadId: fields.user_id, privateThread: true })
    expect(m.replyContext).toEqual({ responseUrl: `sealed(${fields.response_url})`, channel: fields.channel_id })
  })

  it('/switchboard with a question, with nothing, with operators here and with release', async () => {
    const base = form(slashCommandFixture())
    expect(message(await run({ ...base, text: 'what are your hours?' }))).toMatchObject({ text: 'what are your hours?', command: { name: 'what', args: 'are your hours?' } })
    expect(message(await run({ ...base, text: '' })).command).toEqual({ name: 'help', args: '' })
    expect(operator(await run({ ...base, text: 'operators here' }))).toMatchObject({ kind: 'claim_desk', place: base.channel_id, externalUserId: base.user_id })
    expect(operator(await run({ ...base, text: 'release' }))).toMatchObject({ kind: 'release_held', place: base.channel_id })
  })

  it('block_actions: a choice under the bot’s answer in a known thread is the choice, its label the text', async () => {
    const payload = slackFixture<{ container: { channel_id: string; thread_ts: string }; actions: { action_id: string }[] }>('block-actions.json', (p) => void (p.actions[0]!.action_id = 'choice:0'))
    known.add(`${payload.container.channel_id}:${payload.container.thread_ts}`)
    const m = message(await run({ payload: JSON.stringify(payload) }))
    expect(m).toMatchObject({ choiceId: 'handoff', text: 'Talk to a person', externalThreadId: `C0GENERAL:${payload.container.thread_ts}` })
    // Buttons Switchboard did not make mean nothing.
    expect(await run({ payload: JSON.stringify(slackFixture('block-actions.json')) })).toEqual([])
  })

  it('in the operators’ channel: a thread reply is the operator’s, a Take button takes, other chatter is nobody’s', async () => {
    const reply = slackFixture('message-thread-reply.json', (e: { event: Record<string, unknown> }) => Object.assign(e.event, { channel: 'C0OPS', thread_ts: '1764500000.000100', ts: '1764500050.000100', user: 'U0OLGA', text: 'On my way' }))
    expect(operator(await run(reply))).toMatchObject({ kind: 'reply', postId: 'C0OPS:1764500000.000100', text: 'On my way', externalUserId: 'U0OLGA' })
    const chatter = slackFixture('app-mention.json', (e: { event: Record<string, unknown> }) => Object.assign(e.event, { channel: 'C0OPS' }))
    expect(await run(chatter)).toEqual([])
    const take = slackFixture('block-actions.json', (p: { actions: Record<string, unknown>[]; container: Record<string, unknown> }) => {
      p.actions[0] = { ...p.actions[0], action_id: 'op:take', value: 'conv-1' }
      p.container.channel_id = 'C0OPS'
    })
    expect(operator(await run({ payload: JSON.stringify(take) }))).toMatchObject({ kind: 'take', conversationId: 'conv-1', place: 'C0OPS' })
  })

  it('url_verification is no event; a body that is none of Slack’s is a 400', async () => {
    expect(await run(slackFixture('url-verification.json'))).toEqual([])
    await expect(run({ hello: 'world' })).rejects.toMatchObject({ status: 400 })
    await expect(run({ payload: '{not json' })).rejects.toMatchObject({ status: 400 })
  })
})

describe('commands in replies, as typed in Slack', () => {
  it('writes /name as /switchboard name for Switchboard’s commands only', () => {
    expect(withSlashCommand('Remove one with /forget <title>. /kb lists them; see (/help).')).toBe('Remove one with /switchboard forget <title>. /switchboard kb lists them; see (/switchboard help).')
    expect(withSlashCommand('Files live in /usr/local and /kb/docs; and/or /unknown.')).toBe('Files live in /usr/local and /kb/docs; and/or /unknown.')
    expect(withSlashCommand('Type /switchboard release here.')).toBe('Type /switchboard release here.')
  })
})
