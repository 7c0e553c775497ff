/**
 * The Slack app manifest a workspace admin pastes into "Create New App → From an app manifest"
 * (https://api.slack.com/reference/manifests). Field names and limits follow that reference and the
 * `Manifest` type of @slack/web-api: display_information.name at most 35 characters, description at
 * most 140, a slash command's description at most 2000 and usage_hint at most 1000.
 */

/** Bot token scopes: read mentions and messages (public and private channels, DMs), write replies and DMs, the slash command, files customers send, user names, reactions. */
export const BOT_SCOPES: string[] = [
  'app_mentions:read',
  'channels:history',
  'groups:history',
  'im:history',
  'im:read',
  'im:write',
  'chat:write',
  'commands',
  'files:read',
  'users:read',
  'reactions:write',
]

/** Events the app subscribes to: mentions, direct messages, and messages in the public and private channels the bot is a member of. */
export const BOT_EVENTS: string[] = ['app_mention', 'message.im', 'message.channels', 'message.groups']

export const SLASH_COMMAND = '/switchboard'

export type SlackManifest = Record<string, unknown>

const NAME_LIMIT = 35
const DESCRIPTION_LIMIT = 140
const DEFAULT_DESCRIPTION = 'An AI agent that answers questions from your knowledge base, with a person one click away.'

/**
 * `requestUrl`: the one Request URL (Events, Interactivity and the slash command).
 * `socketMode`: settings.socket_mode_enabled (then URLs are not needed and the slash command has no url).
 * `redirectUrl`: oauth_config.redirect_urls for "Add to Slack".
 *
 * Without `requestUrl` and without socket mode (a business's own app, before it is connected and
 * its inbox has a Request URL) the manifest is the first step: the bot user and its scopes, so the
 * app can be created and installed for its token, with no events, no interactivity and no slash
 * command, which Slack refuses without a URL. Once connected, the manifest with the inbox's URL
 * replaces it on the app's "App Manifest" page. In socket mode no URL is written, even when one is given.
 */
export function slackManifest(input: { name: string; description?: string; requestUrl?: string; socketMode?: boolean; redirectUrl?: string }): SlackManifest {
  const name = cut(input.name.replace(/\s+/g, ' ').trim() || 'Switchboard', NAME_LIMIT)
  const description = cut(input.description?.replace(/\s+/g, ' ').trim() || DEFAULT_DESCRIPTION, DESCRIPTION_LIMIT)
  const socketMode = input.socketMode === true
  const url = socketMode ? undefined : input.requestUrl?.trim() || undefined
  const withUrl = (fields: Record<string, unknown>) => (url ? { request_url: url, ...fields } : fields)
  const command = { command: SLASH_COMMAND, ...(url ? { url } : {}), description: 'Ask the agent, or run admin commands (link, agents, kb, operators here, release, help)', usage_hint: '[question | command]', should_escape: false }
  return {
    display_information: { name, description, background_color: '#1d3557' },
    features: {
      app_home: { home_tab_enabled: false, messages_tab_enabled: true, messages_tab_read_only_enabled: false },
      bot_user: { display_name: name, always_online: true },
      ...(url || socketMode ? { slash_commands: [command] } : {}),
    },
    oauth_config: {
      ...(input.redirectUrl?.trim() ? { redirect_urls: [input.redirectUrl.trim()] } : {}),
      scopes: { bot: [...BOT_SCOPES] },
    },
    settings: {
      ...(url || socketMode ? { event_subscriptions: withUrl({ bot_events: [...BOT_EVENTS] }) } : {}),
      interactivity: url || socketMode ? withUrl({ is_enabled: true }) : { is_enabled: false },
      org_deploy_enabled: false,
      socket_mode_enabled: socketMode,
      token_rotation_enabled: false,
    },
  }
}

/** At most `max` UTF-16 units, cut between code points. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text
  let out = ''
  for (const c of text) {
    if (out.length + c.length > max) break
    out += c
  }
  return out.trimEnd()
}

/**
 * The same manifest as YAML (Slack accepts both): block mappings and sequences indented by two
 * spaces, strings plain where YAML reads them back as the same string, double-quoted (JSON escapes,
 * which YAML shares) otherwise. Undefined fields are left out.
 */
export function manifestYaml(manifest: SlackManifest): string {
  return `${node(manifest, 0).join('\n')}\n`
}

type Value = unknown

const isCollection = (v: Value): v is Record<string, unknown> | unknown[] => typeof v === 'object' && v !== null

function node(value: Record<string, unknown> | unknown[], indent: number): string[] {
  const pad = ' '.repeat(indent)
  const out: string[] = []
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isCollection(item) && !isEmpty(item)) {
        const [first, ...rest] = node(item, indent + 2)
        out.push(`${pad}- ${first!.slice(indent + 2)}`, ...rest)
      } else out.push(`${pad}- ${inlineValue(item)}`)
    }
    return out
  }
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue
    if (isCollection(item) && !isEmpty(item)) out.push(`${pad}${scalar(key)}:`, ...node(item, indent + 2))
    else out.push(`${pad}${scalar(key)}: ${inlineValue(item)}`)
  }
  return out
}

const isEmpty = (v: Record<string, unknown> | unknown[]) => (Array.isArray(v) ? v.length === 0 : Object.values(v).every((x) => x === undefined))

function inlineValue(v: Value): string {
  if (Array.isArray(v)) return '[]'
  if (isCollection(v)) return '{}'
  return scalar(v)
}

function scalar(v: Value): string {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'boolean') return String(v)
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : JSON.stringify(String(v))
  const s = String(v)
  return plain(s) ? s : JSON.stringify(s).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`)
}

/** Whether a string can stand unquoted and still read back as that same string. */
function plain(s: string): boolean {
  return (
    s !== '' &&
    s === s.trim() &&
    !/[\p{Cc}\u2028\u2029\uFEFF]/u.test(s) &&
    !/^[-?:,[\]{}#&*!|>'"%@`]/.test(s) &&
    !/:(?:\s|$)|\s#/.test(s) &&
    !/^(?:true|false|yes|no|on|off|y|n|null|~)$/i.test(s) &&
    !/^[-+.]?\d/.test(s) &&
    !/^\.(?:inf|nan)$/i.test(s)
  )
}
