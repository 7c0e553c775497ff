import { describe, expect, it } from 'vitest'
import { BOT_EVENTS, BOT_SCOPES, manifestYaml, SLASH_COMMAND, slackManifest, type SlackManifest } from '../../adapters/slack/manifest.ts'

/**
 * Reads the block YAML subset manifestYaml writes (no YAML parser is a dependency): two-space block
 * mappings and sequences, [] and {}, double-quoted (JSON) strings, true/false/null, numbers and plain
 * strings. Anything outside that subset throws, so the test also pins the output to it.
 */
function readYaml(yaml: string): unknown {
  const lines = yaml.split('\n').filter((l) => l.trim() !== '')
  let i = 0
  const indentOf = (l: string) => l.length - l.trimStart().length
  const scalar = (s: string): unknown => {
    if (s.startsWith('"')) return JSON.parse(s)
    if (s === '[]') return []
    if (s === '{}') return {}
    if (s === 'true' || s === 'false') return s === 'true'
    if (s === 'null') return null
    if (/^-?\d+(?:\.\d+)?$/.test(s)) return Number(s)
    if (/^[-?:,[\]{}#&*!|>'"%@`]|:\s|\s#/.test(s)) throw new Error(`not a plain scalar: ${s}`)
    return s
  }
  const entry = (text: string, indent: number, into: Record<string, unknown>) => {
    const m = /^([^\s:"]+):(?: (.*))?$/.exec(text)
    if (!m) throw new Error(`bad mapping line: ${text}`)
    into[m[1]!] = m[2] === undefined ? block(indent + 2) : scalar(m[2])
  }
  const block = (indent: number): unknown => {
    const first = lines[i]
    if (first === undefined || indentOf(first) !== indent) throw new Error(`expected a block at indent ${indent}: ${first}`)
    if (first.trimStart().startsWith('- ')) {
      const list: unknown[] = []
      while (i < lines.length && indentOf(lines[i]!) === indent && lines[i]!.trimStart().startsWith('- ')) {
        const item = lines[i]!.slice(indent + 2)
        i++
        if (/^[^\s:"]+:(?: |$)/.test(item)) {
          const map: Record<string, unknown> = {}
          entry(item, indent + 2, map)
          while (i < lines.length && indentOf(lines[i]!) === indent + 2) entry(lines[i++]!.slice(indent + 2), indent + 2, map)
          list.push(map)
        } else list.push(scalar(item))
      }
      return list
    }
    const map: Record<string, unknown> = {}
    while (i < lines.length && indentOf(lines[i]!) === indent) entry(lines[i++]!.slice(indent), indent, map)
    return map
  }
  const doc = block(0)
  if (i !== lines.length) throw new Error(`unread line: ${lines[i]}`)
  return doc
}

type Shape = {
  display_information: { name: string; description: string; background_color: string }
  features: {
    app_home: Record<string, boolean>
    bot_user: { display_name: string; always_online: boolean }
    slash_commands?: { command: string; url?: string; description: string; usage_hint: string; should_escape: boolean }[]
  }
  oauth_config: { scopes: { bot: string[] }; redirect_urls?: string[] }
  settings: {
    event_subscriptions: { request_url?: string; bot_events: string[] }
    interactivity: { is_enabled: boolean; request_url?: string }
    org_deploy_enabled: boolean
    socket_mode_enabled: boolean
    token_rotation_enabled: boolean
  }
}
const shape = (m: SlackManifest) => m as unknown as Shape

const REQUEST_URL = 'https://switchboard.example.com/slack/events/inbox_1'

describe('Slack app manifest', () => {
  it('with the Request REQUEST_URL: events, interactivity and the slash command all point at it', () => {
    const m = shape(slackManifest({ name: 'Acme Support', description: 'Answers about Acme', requestUrl: REQUEST_URL, redirectUrl: 'https://switchboard.example.com/slack/oauth' }))
    expect(m.display_information).toEqual({ name: 'Acme Support', description: 'Answers about Acme', background_color: expect.stringMatching(/^#[0-9a-f]{6}$/i) })
    expect(m.features.app_home).toEqual({ home_tab_enabled: false, messages_tab_enabled: true, messages_tab_read_only_enabled: false })
    expect(m.features.bot_user).toEqual({ display_name: 'Acme Support', always_online: true })
    expect(m.features.slash_commands).toEqual([
      {
        command: SLASH_COMMAND,
        url: REQUEST_URL,
        description: 'Ask the agent, or run admin commands (link, agents, kb, operators here, release, help)',
        usage_hint: '[question | command]',
        should_escape: false,
      },
    ])
    expect(m.oauth_config).toEqual({ redirect_urls: ['https://switchboard.example.com/slack/oauth'], scopes: { bot: BOT_SCOPES } })
    expect(m.settings).toEqual({
      event_subscriptions: { request_url: REQUEST_URL, bot_events: BOT_EVENTS },
      interactivity: { is_enabled: true, request_url: REQUEST_URL },
      org_deploy_enabled: false,
      socket_mode_enabled: false,
      token_rotation_enabled: false,
    })
  })

  it('before connecting: the bot and its scopes only (Slack refuses events, interactivity and commands without a URL)', () => {
    const m = shape(slackManifest({ name: 'Acme' }))
    expect(m.features.slash_commands).toBeUndefined()
    expect(m.settings.event_subscriptions).toBeUndefined()
    expect(m.settings.interactivity).toEqual({ is_enabled: false })
    expect(m.oauth_config).toEqual({ scopes: { bot: BOT_SCOPES } })
    expect(m.settings.socket_mode_enabled).toBe(false)
    expect(m.display_information.description.length).toBeGreaterThan(0)
  })

  it('socket mode: a slash command without a REQUEST_URL, no request URLs even when one is given', () => {
    const m = shape(slackManifest({ name: 'Acme', socketMode: true, requestUrl: REQUEST_URL }))
    expect(m.settings.socket_mode_enabled).toBe(true)
    expect(m.features.slash_commands).toHaveLength(1)
    expect(m.features.slash_commands![0]).not.toHaveProperty('url')
    expect(m.settings.event_subscriptions).toEqual({ bot_events: BOT_EVENTS })
    expect(m.settings.interactivity).toEqual({ is_enabled: true })
  })

  it('asks for the scopes and events the adapter needs', () => {
    expect(BOT_SCOPES).toEqual(['app_mentions:read', 'channels:history', 'groups:history', 'im:history', 'im:read', 'im:write', 'chat:write', 'commands', 'files:read', 'users:read', 'reactions:write'])
    expect(BOT_EVENTS).toEqual(['app_mention', 'message.im', 'message.channels', 'message.groups'])
    // a manifest's lists are its own
    const m = shape(slackManifest({ name: 'Acme' }))
    m.oauth_config.scopes.bot.push('admin')
    expect(BOT_SCOPES).not.toContain('admin')
  })

  it('clips the name to 35 characters and the description to 140', () => {
    const m = shape(slackManifest({ name: `  The   ${'Very '.repeat(20)}Long Agent  `, description: 'd'.repeat(500) }))
    expect(m.display_information.name.length).toBeLessThanOrEqual(35)
    expect(m.display_information.name).toMatch(/^The Very Very/)
    expect(m.display_information.name).toBe(m.display_information.name.trim())
    expect(m.features.bot_user.display_name).toBe(m.display_information.name)
    expect(m.display_information.description).toHaveLength(140)
    expect(shape(slackManifest({ name: '   ' })).display_information.name).toBe('Switchboard')
  })
})

describe('manifest as YAML', () => {
  it('reads back as the same object', () => {
    for (const input of [
      { name: 'Acme Support', requestUrl: REQUEST_URL, redirectUrl: 'https://switchboard.example.com/slack/oauth' },
      { name: 'Acme', socketMode: true },
      { name: 'Acme' },
      { name: 'yes', description: 'Prices: 10 # not a comment, "quoted" \\ and\nnew line' },
      { name: '- true', description: '#1 @home 123' },
    ]) {
      const manifest = slackManifest(input)
      expect(readYaml(manifestYaml(manifest))).toEqual(JSON.parse(JSON.stringify(manifest)))
    }
  })

  it('writes the key lines Slack reads', () => {
    const yaml = manifestYaml(slackManifest({ name: 'Acme Support', requestUrl: REQUEST_URL }))
    const lines = yaml.split('\n')
    for (const line of [
      'display_information:',
      '  name: Acme Support',
      'features:',
      '  bot_user:',
      '    display_name: Acme Support',
      '    always_online: true',
      '  slash_commands:',
      `    - command: ${SLASH_COMMAND}`,
      `      url: ${REQUEST_URL}`,
      '      usage_hint: "[question | command]"',
      '      should_escape: false',
      'oauth_config:',
      '  scopes:',
      '    bot:',
      '      - app_mentions:read',
      '      - reactions:write',
      'settings:',
      '  event_subscriptions:',
      `    request_url: ${REQUEST_URL}`,
      '    bot_events:',
      '      - message.im',
      '  interactivity:',
      '    is_enabled: true',
      '  socket_mode_enabled: false',
    ])
      expect(lines).toContain(line)
    expect(yaml).toMatch(/\n {2}background_color: "#[0-9a-f]{6}"\n/i)
    expect(yaml.endsWith('\n')).toBe(true)
  })

  it('quotes strings YAML would read as something else', () => {
    const yaml = manifestYaml({ a: 'true', b: '123', c: 'x: y', d: '', e: ' padded', f: 'plain text', g: [], h: {}, i: 'line\nbreak', j: null, k: 7 })
    expect(yaml).toBe('a: "true"\nb: "123"\nc: "x: y"\nd: ""\ne: " padded"\nf: plain text\ng: []\nh: {}\ni: "line\\nbreak"\nj: null\nk: 7\n')
  })
})
