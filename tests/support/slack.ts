import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { api, type TestApp } from './test-app.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- fixtures are patched field by field, as Slack's JSON
type Json = Record<string, any>

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/slack')

/** A documented Slack payload from tests/fixtures/slack, deep-copied and changed by `patch`. */
export function slackFixture<T = Record<string, unknown>>(name: string, patch?: (value: T) => void): T {
  const value = JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as T
  patch?.(value)
  return value
}
export const slashCommandFixture = () => readFileSync(path.join(FIXTURES, 'slash-command.txt'), 'utf8')

/** Slack's request signature: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}") (https://api.slack.com/authentication/verifying-requests-from-slack). */
export const slackSignature = (secret: string, timestamp: number, body: string) => `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`

export type SlackPost = { status: number; text: string; json: unknown }

/**
 * Posts to a Slack Request URL the way Slack does: JSON events, form-encoded slash commands,
 * `payload=` form interactions, each signed with the secret at `timestamp` (now by default).
 */
export function slackSender(t: TestApp, input: { path: string; secret: () => string }) {
  async function send(body: string, contentType: string, options: { timestamp?: number; headers?: Record<string, string>; signature?: string } = {}): Promise<SlackPost> {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000)
    const headers = { 'content-type': contentType, 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': options.signature ?? slackSignature(input.secret(), timestamp, body), ...options.headers }
    const res = await api(t, input.path, { raw: body, headers, method: 'POST' })
    return { status: res.status, text: res.text, json: res.json }
  }
  return {
    send,
    event: (envelope: unknown, options?: Parameters<typeof send>[2]) => send(JSON.stringify(envelope), 'application/json', options),
    command: (fields: Record<string, string>, options?: Parameters<typeof send>[2]) => send(new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded', options),
    interaction: (payload: unknown, options?: Parameters<typeof send>[2]) => send(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded', options),
  }
}

let serial = 0
/** A message event from the DM with the bot, as message.im delivers it. */
export function dmEvent(input: { user: string; text: string; ts?: string; files?: unknown[]; team?: string; app?: string }) {
  const ts = input.ts ?? `${Math.floor(Date.now() / 1000)}.${String(++serial).padStart(6, '0')}`
  return slackFixture('message-im.json', (e: Json) => {
    e.event_id = `Ev${ts.replace('.', '')}`
    e.team_id = input.team ?? e.team_id
    e.api_app_id = input.app ?? e.api_app_id
    Object.assign(e.event, { user: input.user, text: input.text, ts, event_ts: ts, channel: `D${input.user}` })
    delete e.event.blocks
    if (input.files) Object.assign(e.event, { subtype: 'file_share', files: input.files })
  })
}

/** A message in a channel: a mention of the bot starts a thread, a reply names its thread. */
export function channelEvent(input: { user: string; text: string; channel: string; ts?: string; threadTs?: string; type?: 'message' | 'app_mention'; team?: string; app?: string }) {
  const ts = input.ts ?? `${Math.floor(Date.now() / 1000)}.${String(++serial).padStart(6, '0')}`
  const type = input.type ?? 'message'
  return slackFixture(type === 'app_mention' ? 'app-mention.json' : 'message-thread-reply.json', (e: Json) => {
    e.event_id = `Ev${type}${ts.replace('.', '')}`
    e.team_id = input.team ?? e.team_id
    e.api_app_id = input.app ?? e.api_app_id
    Object.assign(e.event, { user: input.user, text: input.text, ts, event_ts: ts, channel: input.channel })
    delete e.event.blocks
    delete e.event.parent_user_id
    if (input.threadTs) e.event.thread_ts = input.threadTs
    else delete e.event.thread_ts
    if (type === 'message') e.event.channel_type = 'channel'
  })
}

/** The form fields of `/switchboard <text>`, with a response_url of the fake Slack. */
export function commandFields(input: { user: string; text: string; channel: string; responseUrl: string; team?: string; app?: string }): Record<string, string> {
  const fields = Object.fromEntries(new URLSearchParams(slashCommandFixture()))
  return { ...fields, user_id: input.user, user_name: input.user.toLowerCase(), channel_id: input.channel, text: input.text, response_url: input.responseUrl, trigger_id: `${Date.now()}.${++serial}.trigger`, ...(input.team ? { team_id: input.team } : {}), ...(input.app ? { api_app_id: input.app } : {}) }
}

/** A press of a button (block_actions), under a message in `channel` (thread `threadTs`). */
export function buttonPress(input: { user: string; actionId: string; value: string; channel: string; messageTs: string; threadTs?: string; label?: string; ephemeral?: boolean; responseUrl?: string; blocks?: unknown[]; team?: string; app?: string }) {
  return slackFixture('block-actions.json', (p: Json) => {
    if (input.team) p.team = { ...p.team, id: input.team }
    if (input.app) p.api_app_id = input.app
    p.user = { ...p.user, id: input.user, username: input.user.toLowerCase(), name: input.user.toLowerCase() }
    p.actions = [{ ...p.actions[0], action_id: input.actionId, value: input.value, action_ts: `${Date.now() / 1000}${++serial}`, text: { type: 'plain_text', text: input.label ?? input.value, emoji: true } }]
    p.container = { type: 'message', message_ts: input.messageTs, channel_id: input.channel, is_ephemeral: Boolean(input.ephemeral), ...(input.threadTs ? { thread_ts: input.threadTs } : {}) }
    p.channel = { id: input.channel, name: input.channel.toLowerCase() }
    p.message = { ...p.message, ts: input.messageTs, ...(input.threadTs ? { thread_ts: input.threadTs } : {}), ...(input.blocks ? { blocks: input.blocks } : {}) }
    if (!input.threadTs) delete p.message.thread_ts
    if (input.responseUrl) p.response_url = input.responseUrl
    p.trigger_id = `${Date.now()}.${++serial}.trigger`
  })
}
