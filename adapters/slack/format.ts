import type { Choice, Source } from '../../core/ports.ts'
import { HANDOFF_CHOICE } from '../../core/conversation/steps.ts'
import { trimUrl } from '../text/urls.ts'

/*
 * Block Kit limits this module keeps to (https://api.slack.com/reference/block-kit/blocks,
 * .../block-elements#button, .../composition-objects#text):
 * - a section block's text: 1 to 3000 characters;
 * - a context block: at most 10 elements; its one mrkdwn element is kept to 2000 characters here,
 *   well inside the 3000 a text object may have;
 * - an actions block: at most 25 elements;
 * - a button: text (plain_text) at most 75 characters, value at most 2000, action_id at most 255;
 * - a message: at most 50 blocks (a reply part here has at most 3: section, context, actions).
 */

/** The most characters a section block's text may have. */
export const SECTION_TEXT_LIMIT = 3000
const CONTEXT_TEXT_LIMIT = 2000
const MAX_SOURCE_TITLES = 10
const SOURCE_TITLE_CHARS = 200
const MAX_BUTTONS = 25
const BUTTON_TEXT_LIMIT = 75
const BUTTON_VALUE_LIMIT = 2000

export type SlackBlock = Record<string, unknown>
export type SlackMessage = { text: string; blocks: SlackBlock[] }

const escapeControl = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!)

/**
 * Text shown as written: `&`, `<` and `>` become entities (Slack reads them as control characters:
 * `<!channel>`, `<@U123>`, `<url|text>`), and a bare @here, @channel or @everyone gets an invisible
 * word joiner after the @, so text from a model or a document can never notify a whole channel.
 */
export function escapeMrkdwn(text: string): string {
  return escapeControl(text).replace(/(^|[^\w@])@(here|channel|everyone)\b/gi, '$1@\u2060$2')
}

// Characters never kept from the input: control characters other than newline and tab (the bold
// placeholder below is one) and the private-use characters that mark tokens while a line is converted.
const stripControls = (s: string) => s.replace(/[\p{Cc}\uE000\uE001]/gu, (c) => (c === '\n' || c === '\t' ? c : ''))
const BOLD = '\u0002'

/**
 * Markdown as models and knowledge bases write it, as Slack mrkdwn: **bold** → *bold*, *italic* →
 * _italic_, ~~strike~~ → ~strike~, headings → a bold line, lists → "• " lines, [text](url) →
 * <url|text> (http and https only; any other link keeps just its text), ``` blocks without the
 * language. Everything else is escaped text, so nothing in an answer can become a mention or a link
 * Slack would build from control characters.
 */
export function markdownToMrkdwn(markdown: string): string {
  const out: string[] = []
  const lines = stripControls(markdown.replace(/\r\n?/g, '\n')).split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const fence = /^\s{0,3}(`{3,}|~{3,})[^`]*$/.exec(line)
    if (fence) {
      const marker = fence[1]!
      const close = new RegExp(`^\\s{0,3}\\${marker[0]}{${marker.length},}\\s*$`)
      const body: string[] = []
      for (i++; i < lines.length && !close.test(lines[i]!); i++) body.push(lines[i]!)
      const code = body.join('\n').replace(/^\n+|\s+$/g, '')
      // Slack ends a block at the first ```; a zero-width space keeps one inside the code from doing so.
      if (code) out.push(`\`\`\`\n${escapeControl(code).replace(/```/g, '`\u200B``')}\n\`\`\``)
      continue
    }
    if (/^\s{0,3}=+\s*$/.test(line) && out.length && out.at(-1)!.trim() && i > 0 && lines[i - 1]!.trim()) {
      // A setext heading: the line above, underlined with ===.
      out[out.length - 1] = `*${inline(stripEmphasis(lines[i - 1]!.trim()))}*`
      continue
    }
    const quote = /^\s{0,3}>\s?(.*)$/.exec(line)
    if (quote) {
      const content = block(quote[1]!.replace(/^(?:\s*>\s?)+/, ''))
      out.push(content ? `> ${content}` : '>')
      continue
    }
    out.push(block(line))
  }
  return out.join('\n').trim()
}

/** One line that is not part of a code block or a quote. */
function block(line: string): string {
  if (/^\s{0,3}([-*_])(?:\s*\1){2,}\s*$/.test(line)) return '──────────'
  const heading = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)
  if (heading) return heading[1] ? `*${inline(stripEmphasis(heading[1]))}*` : ''
  const task = /^(\s*)[-*+]\s+\[([ xX])\]\s+(.*)$/.exec(line)
  if (task) return `${task[1]!}${task[2] === ' ' ? '☐' : '☑'} ${inline(task[3]!)}`
  const bullet = /^(\s*)[-*+]\s+(.*)$/.exec(line)
  if (bullet) return `${bullet[1]!}• ${inline(bullet[2]!)}`
  const ordered = /^(\s*)(\d{1,9})[.)]\s+(.*)$/.exec(line)
  if (ordered) return `${ordered[1]!}${ordered[2]!}. ${inline(ordered[3]!)}`
  return inline(line)
}

// A heading is shown bold as a whole; bold markers inside it would only close that early.
const stripEmphasis = (s: string) => s.replace(/\*\*|__/g, '')

const INLINE = new RegExp(
  [
    /(?<ticks>`+)(?<code>[^`\n]|[^\n]*?[^`\n])\k<ticks>(?!`)/.source,
    /<(?<auto>https?:\/\/[^\s<>]+)>/.source,
    /!?\[(?<label>[^\]\n]*)\]\(\s*<?(?<href>[^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*)>?(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)/.source,
    /(?<bare>\bhttps?:\/\/[^\s<>]+)/.source,
    /\\(?<escaped>[!-/:-@[-`{-~])/.source,
  ].join('|'),
  'g',
)

/** Inline Markdown of one line: code spans, links and bare URLs become tokens, the rest is escaped and emphasis converted. */
function inline(text: string): string {
  const tokens: string[] = []
  const token = (mrkdwn: string) => `\uE000${tokens.push(mrkdwn) - 1}\uE001`
  let rest = ''
  let last = 0
  const re = new RegExp(INLINE)
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const g = m.groups!
    rest += text.slice(last, m.index)
    let end = m.index + m[0].length
    if (g.code !== undefined) rest += token(`\`${escapeControl(g.code.trim() || g.code).replace(/`/g, 'ˋ')}\``)
    else if (g.auto !== undefined) rest += link(g.auto, '') ?? m[0]
    else if (g.href !== undefined) {
      const label = g.label!.trim()
      rest += link(g.href, label) ?? label
    } else if (g.bare !== undefined) {
      const url = trimUrl(g.bare)
      end = m.index + url.length
      rest += link(url, '') ?? url
    } else rest += token(escapeMrkdwn(g.escaped!))
    last = end
    re.lastIndex = end
  }
  rest += text.slice(last)
  return emphasis(escapeMrkdwn(rest)).replace(/\uE000(\d+)\uE001/g, (_, i: string) => tokens[Number(i)]!)

  function link(href: string, label: string): string | undefined {
    const url = safeUrl(href)
    if (!url) return undefined
    // `|` would end the URL part and `>` the link; in the label `>` is escaped and `|` replaced.
    const shown = label ? `|${escapeMrkdwn(label).replace(/\|/g, '¦')}` : ''
    return token(`<${url}${shown}>`)
  }
}

/** An http(s) URL as it may stand inside <…|…>, or undefined for anything else (javascript:, data:, relative). */
function safeUrl(raw: string): string | undefined {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
  return escapeControl(url.href.replace(/[|<>\s"]/g, (c) => encodeURIComponent(c)))
}

function emphasis(escaped: string): string {
  return escaped
    .replace(/\*\*\*(?=\S)([^*]+?)(?<=\S)\*\*\*/g, `${BOLD}_$1_${BOLD}`)
    .replace(/\*\*(?=\S)([^*]+?)(?<=\S)\*\*/g, `${BOLD}$1${BOLD}`)
    .replace(/(^|[^\w])__(?=\S)([^_]+?)(?<=\S)__(?=$|[^\w])/g, `$1${BOLD}$2${BOLD}`)
    .replace(/~~(?=\S)([^~]+?)(?<=\S)~~/g, '~$1~')
    .replace(/(^|[^*\w])\*(?=\S)([^*]+?)(?<=\S)\*(?=$|[^*\w])/g, '$1_$2_')
    .replaceAll(BOLD, '*')
}

type Piece = { sep: string; text: string }

/**
 * Splits mrkdwn into parts of at most `limit` characters, at paragraph, then line, then word
 * boundaries; never inside a ``` block if avoidable (close and reopen the fence when a block must be
 * split). A word is never cut inside a <url|text> link or an entity (&amp;) unless it alone is longer
 * than `limit`. Parts are never empty; `limit` must leave room for a fenced line (at least 16).
 */
export function splitMrkdwn(mrkdwn: string, limit: number = SECTION_TEXT_LIMIT): string[] {
  if (!(limit >= 16)) throw new RangeError(`splitMrkdwn: limit ${limit} is below 16`)
  const pieces: Piece[] = []
  for (const b of blocks(mrkdwn)) {
    if (b.text.length <= limit) pieces.push(b)
    else if (b.code) pieces.push(...splitCode(b, limit))
    else pieces.push(...splitText(b.text, b.sep, limit, ['\n', ' ', '']))
  }
  const parts: string[] = []
  let current = ''
  for (const p of pieces) {
    const joined = current ? `${current}${p.sep}${p.text}` : p.text
    if (joined.length <= limit) current = joined
    else {
      parts.push(current)
      current = p.text
    }
  }
  parts.push(current)
  return parts.filter((p) => p.trim())
}

const fences = (line: string) => line.match(/```/g)?.length ?? 0

/** Paragraphs and code blocks (a code block may hold blank lines), each with the separator before it; an unclosed block is closed. */
function blocks(mrkdwn: string): (Piece & { code: boolean })[] {
  const lines = mrkdwn.replace(/\r\n?/g, '\n').split('\n')
  const out: (Piece & { code: boolean })[] = []
  let sep = ''
  let paragraph: string[] = []
  const push = (text: string, code: boolean) => {
    out.push({ sep: out.length ? sep : '', text, code })
    sep = '\n'
  }
  const flush = () => {
    if (paragraph.length) push(paragraph.join('\n'), false)
    paragraph = []
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (!line.trim()) {
      flush()
      if (out.length) sep = '\n\n'
    } else if (fences(line) % 2) {
      flush()
      const code = [line]
      let closed = false
      for (i++; i < lines.length && !closed; i++) {
        code.push(lines[i]!)
        closed = fences(lines[i]!) % 2 === 1
      }
      i--
      push(closed ? code.join('\n') : `${code.join('\n').trimEnd()}\n\`\`\``, true)
    } else paragraph.push(line)
  }
  flush()
  return out
}

/** A code block longer than `limit`: its lines in as few fenced parts as fit, text beside the fences kept apart. */
function splitCode(b: Piece, limit: number): Piece[] {
  const start = b.text.indexOf('```')
  const end = b.text.lastIndexOf('```')
  const before = b.text.slice(0, start).trim()
  const after = b.text.slice(end + 3).trim()
  const body = b.text.slice(start + 3, end).replace(/^[^\S\n]*\n/, '').replace(/\n[^\S\n]*$/, '')
  const room = limit - 8 // "```\n" and "\n```"
  const lines: Piece[] = []
  body.split('\n').forEach((line, i) => {
    const sep = i ? '\n' : ''
    if (line.length <= room) lines.push({ sep, text: line })
    else atoms(line, room).forEach((text, j) => lines.push({ sep: j ? '' : sep, text }))
  })
  const chunks: string[] = []
  let current: string | undefined
  for (const l of lines) {
    const joined = current === undefined ? l.text : `${current}${l.sep}${l.text}`
    if (joined.length <= room) current = joined
    else {
      if (current !== undefined) chunks.push(current)
      current = l.text
    }
  }
  if (current !== undefined) chunks.push(current)
  const out: Piece[] = []
  if (before) out.push(...(before.length <= limit ? [{ sep: b.sep, text: before }] : splitText(before, b.sep, limit, [' ', ''])))
  chunks.forEach((chunk, i) => out.push({ sep: i || before ? '\n' : b.sep, text: `\`\`\`\n${chunk}\n\`\`\`` }))
  if (after) out.push(...(after.length <= limit ? [{ sep: '\n', text: after }] : splitText(after, '\n', limit, [' ', ''])))
  return out
}

/** Text cut at the first separator that makes its units fit (lines, then words, then characters). */
function splitText(text: string, first: string, limit: number, seps: string[]): Piece[] {
  const [sep, ...rest] = seps
  if (!sep) return atoms(text, limit).map((t, i) => ({ sep: i ? '' : first, text: t }))
  const units = sep === ' ' ? words(text) : text.split(sep)
  return units.flatMap((unit, i) => {
    const s = i ? sep : first
    return unit.length <= limit ? [{ sep: s, text: unit }] : splitText(unit, s, limit, rest)
  })
}

/** Words of a line; a <url|text> link or a ```code``` span with spaces in it stays one word. */
function words(line: string): string[] {
  const out: string[] = []
  let open = ''
  for (const w of line.split(' ')) {
    open = open ? `${open} ${w}` : w
    const unclosedLink = (open.match(/</g)?.length ?? 0) > (open.match(/>/g)?.length ?? 0)
    if (!unclosedLink && fences(open) % 2 === 0) {
      out.push(open)
      open = ''
    }
  }
  if (open) out.push(...open.split(' '))
  return out
}

/** Chunks of at most `limit` characters that cut neither an entity (&amp;) nor a surrogate pair. */
function atoms(text: string, limit: number): string[] {
  const out: string[] = []
  let current = ''
  for (const atom of text.match(/&(?:amp|lt|gt);|[\s\S]/gu) ?? []) {
    if (current.length + atom.length > limit) {
      out.push(current)
      current = ''
    }
    current += atom
  }
  if (current) out.push(current)
  return out
}

/** Plain text for a plain_text field (header, button): no escaping, clipped to `max` with an ellipsis. */
export function plainText(text: string, max: number): { type: 'plain_text'; text: string; emoji: true } {
  return { type: 'plain_text', text: clip(text.trim(), max), emoji: true }
}

/** At most `max` UTF-16 units (what Slack's limits are checked against), cut between code points, with … when cut. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text
  let out = ''
  for (const c of text) {
    if (out.length + c.length > max - 1) break
    out += c
  }
  return `${out.trimEnd()}…`
}

/**
 * An agent's reply as Slack messages: the Markdown converted and split so each part fits one section
 * block; `text` is the same mrkdwn (the notification fallback). The last message also carries the sources
 * as a context block ("Sources: title · title", each title escaped, at most 10 elements, each element text ≤ 2000 chars)
 * and the choices as an actions block of buttons (action_id `choice:<index>`, value = the choice id (≤ 2000 chars; longer ids skipped), text plain_text ≤ 75 chars, ≤ 25 buttons; the choice whose id is HANDOFF_CHOICE.id gets style 'primary').
 * Empty text with choices still makes one message.
 *
 * `<index>` is the choice's position in `message.choices`. Section texts are `verbatim`, so Slack does
 * not turn words in them into links or mentions: every link in them is one written on purpose. A
 * reply with no text, sources or choices makes no message.
 */
export function toSlackMessages(message: { text: string; sources?: Source[]; choices?: Choice[] }): SlackMessage[] {
  const parts = splitMrkdwn(markdownToMrkdwn(message.text))
  const messages: SlackMessage[] = parts.map((part) => ({
    text: part,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: part, verbatim: true } }],
  }))
  const extra: SlackBlock[] = []
  const sources = sourcesBlock(message.sources ?? [])
  if (sources) extra.push(sources)
  const buttons = choiceButtons(message.choices ?? [])
  if (buttons.length) extra.push({ type: 'actions', elements: buttons })
  if (!extra.length) return messages
  const last = messages.at(-1)
  if (last) last.blocks.push(...extra)
  else {
    const labels = (message.choices ?? []).map((c) => c.label.trim()).filter(Boolean)
    const fallback = labels.length ? escapeMrkdwn(labels.join(' · ')) : sourcesText(message.sources ?? [])
    messages.push({ text: clip(fallback || '…', SECTION_TEXT_LIMIT), blocks: extra })
  }
  return messages
}

function sourcesText(sources: Source[]): string {
  const titles = [...new Set(sources.map((s) => s.title.replace(/\s+/g, ' ').trim()).filter(Boolean))].slice(0, MAX_SOURCE_TITLES)
  let text = ''
  for (const title of titles) {
    const next = `${text ? `${text} · ` : 'Sources: '}${escapeMrkdwn(clip(title, SOURCE_TITLE_CHARS))}`
    if (next.length > CONTEXT_TEXT_LIMIT) break
    text = next
  }
  return text
}

/** "Sources: title · title" in one mrkdwn element of a context block, or undefined without titles. */
function sourcesBlock(sources: Source[]): SlackBlock | undefined {
  const text = sourcesText(sources)
  return text ? { type: 'context', elements: [{ type: 'mrkdwn', text, verbatim: true }] } : undefined
}

function choiceButtons(choices: Choice[]): SlackBlock[] {
  const buttons: SlackBlock[] = []
  choices.forEach((choice, index) => {
    // Slack refuses the whole message for one value over its limit; such a choice is left out.
    if (!choice.id || choice.id.length > BUTTON_VALUE_LIMIT || buttons.length >= MAX_BUTTONS) return
    buttons.push({
      type: 'button',
      action_id: `choice:${index}`,
      value: choice.id,
      text: plainText(choice.label.trim() || choice.id, BUTTON_TEXT_LIMIT),
      ...(choice.id === HANDOFF_CHOICE.id ? { style: 'primary' } : {}),
    })
  })
  return buttons
}
