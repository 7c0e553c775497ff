import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import { LINK_COMMAND } from '../../core/commands/admin-console.ts'
import { HANDOFF_CHOICE } from '../../core/conversation/steps.ts'
import type { Attachment, ChannelEvent, Inbox, InboundMessage, OperatorAction } from '../../core/ports.ts'
import type { SlackSettings } from './settings.ts'

// The parts of Slack's payloads read here (sources in tests/fixtures/slack/README.md); the rest is kept in `raw`.
const file = z.object({ id: z.string(), name: z.string().optional(), title: z.string().optional(), mimetype: z.string().optional(), size: z.number().optional(), url_private_download: z.string().optional(), url_private: z.string().optional() }).passthrough()
const messageEvent = z
  .object({
    type: z.enum(['message', 'app_mention']),
    subtype: z.string().optional(),
    user: z.string().optional(),
    bot_id: z.string().optional(),
    text: z.string().optional(),
    ts: z.string(),
    thread_ts: z.string().optional(),
    channel: z.string(),
    channel_type: z.string().optional(),
    files: z.array(file).optional(),
    hidden: z.boolean().optional(),
  })
  .passthrough()
const eventCallback = z.object({ type: z.literal('event_callback'), team_id: z.string().optional(), api_app_id: z.string().optional(), event_id: z.string().optional(), event: z.object({ type: z.string() }).passthrough() }).passthrough()
const slashCommand = z.object({ command: z.string(), text: z.string().default(''), user_id: z.string(), user_name: z.string().optional(), channel_id: z.string(), response_url: z.string().optional(), trigger_id: z.string().optional(), team_id: z.string().optional() }).passthrough()
const blockActions = z
  .object({
    type: z.literal('block_actions'),
    user: z.object({ id: z.string(), username: z.string().optional(), name: z.string().optional() }).passthrough(),
    actions: z.array(z.object({ action_id: z.string(), value: z.string().optional(), action_ts: z.string().optional(), text: z.object({ text: z.string() }).passthrough().optional() }).passthrough()).min(1),
    container: z.object({ type: z.string().optional(), message_ts: z.string().optional(), channel_id: z.string().optional(), is_ephemeral: z.boolean().optional(), thread_ts: z.string().optional() }).passthrough().optional(),
    channel: z.object({ id: z.string() }).passthrough().optional(),
    message: z.object({ ts: z.string(), thread_ts: z.string().optional(), blocks: z.array(z.unknown()).optional() }).passthrough().optional(),
    response_url: z.string().optional(),
    trigger_id: z.string().optional(),
  })
  .passthrough()

export type SlackNormalizeDeps = {
  /** Whether a thread in a channel is already a conversation of the inbox (a mention started it): its later messages continue it. */
  knownThread(inbox: Inbox, externalThreadId: string): Promise<boolean>
  /** Seals a response_url (a capability: anyone holding it may post for 30 minutes) before it is stored with the message. */
  seal(value: string): string
}

/** A conversation in a channel is the thread a mention started: `{channel}:{thread root ts}`. A one-to-one conversation is the person's user id. */
export const channelThread = (channel: string, rootTs: string) => `${channel}:${rootTs}`
export const messageKey = (channel: string, ts: string) => `${channel}:${ts}`
/** Where a thread id points: a channel thread, or the person's DM with the bot (Slack posts to a user id there). */
export function threadTarget(externalThreadId: string): { channel: string; threadTs?: string } {
  const at = externalThreadId.indexOf(':')
  return at < 0 ? { channel: externalThreadId } : { channel: externalThreadId.slice(0, at), threadTs: externalThreadId.slice(at + 1) }
}

/** Body of a form post (slash commands; interactions carry JSON in `payload=`) or JSON (events), as Bolt reads them. */
export function parseBody(body: unknown): unknown {
  if (body && typeof body === 'object' && typeof (body as { payload?: unknown }).payload === 'string') {
    try {
      return JSON.parse((body as { payload: string }).payload)
    } catch {
      throw new AppError('validation_failed', 'The payload field is not JSON', 400)
    }
  }
  return body
}

function attachmentsOf(files: z.infer<typeof file>[] | undefined): Attachment[] {
  return (files ?? []).flatMap((f) => {
    const ref = f.url_private_download ?? f.url_private
    if (!ref) return []
    const mime = f.mimetype ?? ''
    const kind: Attachment['kind'] = mime.startsWith('image/') ? 'image' : mime.startsWith('audio/') ? 'audio' : mime.startsWith('video/') ? 'video' : 'document'
    return [{ kind, ref, name: f.name ?? f.title, mimeType: f.mimetype, size: f.size }]
  })
}

/** Slack writes a mention of the bot as <@U123>; the words addressed to it are the rest. */
const withoutMention = (text: string, botUserId: string) => text.replace(new RegExp(`<@${botUserId}(?:\\|[^>]*)?>`, 'g'), '').replace(/\s{2,}/g, ' ').trim()

/**
 * Slack's deliveries as events, parsed once:
 * - DMs to the bot (`message.im`) are the person's one-to-one conversation (thread id: their user id);
 * - a mention in a channel starts a conversation in its thread, and later messages in that thread continue it;
 * - in the operators' channel, a message in the thread of a handoff post is the operator's reply;
 * - `/switchboard …` is a command, answered only to the person who typed it (`link <code>`, admin
 *   commands, `operators here`, `release`, or a question for the agent);
 * - buttons are choices (customers) or Take / Back to bot (operators).
 * The bot's own messages, other bots' and edits are ignored. Throws 400 when the body is none of these.
 */
export async function normalizeSlack(body: unknown, inbox: Inbox, settings: SlackSettings, deps: SlackNormalizeDeps): Promise<ChannelEvent[]> {
  const payload = parseBody(body)
  if (payload && typeof payload === 'object' && (payload as { type?: unknown }).type === 'url_verification') return []
  const callback = eventCallback.safeParse(payload)
  if (callback.success) return eventOf(callback.data, inbox, settings, deps)
  const actions = blockActions.safeParse(payload)
  if (actions.success) return actionOf(actions.data, inbox, settings, deps)
  const command = slashCommand.safeParse(payload)
  if (command.success) return commandOf(command.data, inbox, deps)
  // Interactions Switchboard does not use (view submissions, shortcuts) need no answer; anything else is not Slack's.
  if (payload && typeof payload === 'object' && typeof (payload as { type?: unknown }).type === 'string' && (payload as { api_app_id?: unknown }).api_app_id) return []
  throw new AppError('validation_failed', 'Not a Slack event, command or interaction', 400)
}

async function eventOf(envelope: z.infer<typeof eventCallback>, inbox: Inbox, settings: SlackSettings, deps: SlackNormalizeDeps): Promise<ChannelEvent[]> {
  const parsed = messageEvent.safeParse(envelope.event)
  if (!parsed.success) return []
  const e = parsed.data
  // Edits, deletions, joins and other bots' posts are not messages to answer; a shared file is.
  if (e.subtype && e.subtype !== 'file_share' && e.subtype !== 'thread_broadcast') return []
  if (e.bot_id || !e.user || e.user === settings.botUserId || e.hidden) return []
  const text = withoutMention(e.text ?? '', settings.botUserId)
  const attachments = attachmentsOf(e.files)
  const base = { inboxId: inbox.id, externalMessageId: messageKey(e.channel, e.ts), externalUserId: e.user, attachments, receivedAt: new Date(Number(e.ts) * 1000), raw: envelope }

  const inThread = e.thread_ts !== undefined && e.thread_ts !== e.ts
  if (e.channel === settings.deskChannelId) {
    // The operators' channel: only replies in a handoff post's thread reach a conversation; the agent never answers there.
    if (!inThread) return []
    const action: OperatorAction = { inboxId: inbox.id, externalUserId: e.user, place: e.channel, reply: { channel: e.channel, messageTs: e.ts, threadTs: e.thread_ts!, user: e.user, via: 'message' }, kind: 'reply', postId: messageKey(e.channel, e.thread_ts!), text }
    return [{ type: 'operator', action }]
  }
  if (e.type === 'message' && e.channel_type === 'im') {
    if (!text && !attachments.length) return []
    return [{ type: 'message', message: { ...base, externalThreadId: e.user, privateThread: true, ...(text ? { text } : {}) } }]
  }
  const mentioned = e.type === 'app_mention' || (e.text ?? '').includes(`<@${settings.botUserId}`)
  const thread = channelThread(e.channel, e.thread_ts ?? e.ts)
  // A message in a channel is for the bot when it mentions it, or when it continues a thread a mention started.
  if (!mentioned && !(inThread && (await deps.knownThread(inbox, thread)))) return []
  if (!text && !attachments.length) return []
  return [{ type: 'message', message: { ...base, externalThreadId: thread, privateThread: false, ...(text ? { text } : {}) } }]
}

function commandOf(c: z.infer<typeof slashCommand>, inbox: Inbox, deps: SlackNormalizeDeps): ChannelEvent[] {
  const text = c.text.trim()
  const [first = '', ...rest] = text.split(/\s+/)
  const word = first.toLowerCase()
  const args = rest.join(' ')
  const reply = { channel: c.channel_id, user: c.user_id, via: 'command', ...(c.response_url ? { responseUrl: c.response_url } : {}) }
  const operator = { inboxId: inbox.id, externalUserId: c.user_id, userName: c.user_name, place: c.channel_id, reply }
  if (word === 'operators' && args.toLowerCase() === 'here') return [{ type: 'operator', action: { ...operator, kind: 'claim_desk' } }]
  if (word === 'release' && !args) return [{ type: 'operator', action: { ...operator, kind: 'release_held' } }]
  // Every invocation is its own message; the answer goes back only to this person, through the command's response_url.
  const message: InboundMessage = {
    inboxId: inbox.id,
    externalThreadId: c.user_id,
    externalMessageId: `cmd:${c.trigger_id ?? `${c.channel_id}:${c.user_id}:${Date.now()}`}`,
    externalUserId: c.user_id,
    userName: c.user_name,
    privateThread: true,
    text: text || 'help',
    command: /^[a-z][a-z0-9_]{0,63}$/.test(word) ? { name: word === 'start' && args ? LINK_COMMAND : word, args } : { name: 'help', args: '' },
    attachments: [],
    receivedAt: new Date(),
    raw: c,
    ...(c.response_url ? { replyContext: { responseUrl: deps.seal(c.response_url), channel: c.channel_id } } : {}),
  }
  if (!text) message.command = { name: 'help', args: '' }
  return [{ type: 'message', message }]
}

async function actionOf(p: z.infer<typeof blockActions>, inbox: Inbox, settings: SlackSettings, deps: SlackNormalizeDeps): Promise<ChannelEvent[]> {
  const action = p.actions[0]!
  const channel = p.container?.channel_id ?? p.channel?.id
  const messageTs = p.container?.message_ts ?? p.message?.ts
  const operator = /^op:(take|release)$/.exec(action.action_id)
  if (operator && action.value && channel) {
    // The pressed post's blocks come along, so the desk can replace its buttons and keep its text.
    const reply = { channel, user: p.user.id, via: 'button', ...(messageTs ? { messageTs } : {}), ...(p.response_url ? { responseUrl: p.response_url } : {}), ...(p.message?.blocks ? { blocks: JSON.stringify(p.message.blocks) } : {}) }
    return [{ type: 'operator', action: { inboxId: inbox.id, externalUserId: p.user.id, userName: p.user.name ?? p.user.username, place: channel, reply, kind: operator[1] as 'take' | 'release', conversationId: action.value } }]
  }
  if (!/^choice:\d+$/.test(action.action_id) || !action.value) return []
  // A choice under an ephemeral answer (a /switchboard reply) or in the DM belongs to the person's own conversation.
  const personal = p.container?.is_ephemeral || !channel || channel.startsWith('D')
  const root = p.container?.thread_ts ?? p.message?.thread_ts ?? messageTs
  if (!personal && (!root || channel === settings.deskChannelId)) return []
  const externalThreadId = personal ? p.user.id : channelThread(channel!, root!)
  if (!personal && !(await deps.knownThread(inbox, externalThreadId))) return []
  const label = action.text?.text ?? (action.value === HANDOFF_CHOICE.id ? HANDOFF_CHOICE.label : action.value)
  const message: InboundMessage = {
    inboxId: inbox.id,
    externalThreadId,
    externalMessageId: `act:${p.user.id}:${action.action_ts ?? p.trigger_id ?? messageTs}`,
    externalUserId: p.user.id,
    userName: p.user.name ?? p.user.username,
    privateThread: personal,
    text: label,
    choiceId: action.value,
    attachments: [],
    receivedAt: new Date(),
    raw: p,
    ...(p.container?.is_ephemeral && p.response_url ? { replyContext: { responseUrl: deps.seal(p.response_url) } } : {}),
  }
  return [{ type: 'message', message }]
}

/** The workspace and app a delivery is for, wherever the payload keeps them. */
export function installationOf(body: unknown): { teamId: string; appId: string } | null {
  let payload: unknown
  try {
    payload = parseBody(body)
  } catch {
    return null
  }
  if (!payload || typeof payload !== 'object') return null
  const p = payload as { team_id?: unknown; api_app_id?: unknown; team?: { id?: unknown } | null }
  const teamId = typeof p.team_id === 'string' ? p.team_id : typeof p.team?.id === 'string' ? p.team.id : null
  const appId = typeof p.api_app_id === 'string' ? p.api_app_id : null
  return teamId && appId ? { teamId, appId } : null
}
