import type { Choice, Source } from '../../core/ports.ts'
import { trimUrl } from '../text/urls.ts'

/*
 * Messenger and Instagram show a message's text as it is: no Markdown, no HTML. Limits kept here:
 * - Messenger: `message.text` "must be UTF-8 and has a 2000 character limit"
 *   (https://developers.facebook.com/docs/messenger-platform/reference/send-api);
 * - Instagram: "Message text must be UTF-8 and be a 1000 bytes or less" (the same page also says
 *   "less than 1000 characters"; the byte count is the stricter of the two)
 *   (https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message);
 * - quick replies: at most 13 on a message with non-empty text, a title shown up to 20 characters,
 *   a payload of at most 1000 characters
 *   (https://developers.facebook.com/docs/messenger-platform/reference/buttons/quick-replies,
 *   https://developers.facebook.com/docs/messenger-platform/instagram/features/quick-replies).
 */

/** Messenger's limit for the text of one message, in characters (UTF-16 units are counted: never fewer than Meta's characters). */
export const MESSENGER_TEXT_LIMIT = 2000
/** Instagram's limit for the text of one message, in bytes of UTF-8: measure with `utf8Length`. */
export const INSTAGRAM_TEXT_LIMIT = 1000
export const QUICK_REPLY_LIMIT = 13
export const QUICK_REPLY_TITLE_LIMIT = 20
export const QUICK_REPLY_PAYLOAD_LIMIT = 1000
const MAX_SOURCE_TITLES = 5
const SOURCE_TITLE_CHARS = 100

/** The length Instagram counts: bytes of UTF-8. */
export const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8')
const chars = (s: string): number => s.length

// Control characters other than newline and tab are dropped, and so are the private-use characters
// that mark tokens while a line is converted.
const stripControls = (s: string) => s.replace(/[\p{Cc}\uE000\uE001]/gu, (c) => (c === '\n' || c === '\t' ? c : ''))

/**
 * Markdown to readable plain text: the markers of bold, italic and strikethrough dropped, [text](url) →
 * "text (url)" (only http, https, mailto and tel links keep their address), headings as lines, list
 * items as "• " lines (numbered ones keep their number), quotes as "│ " lines, code kept as written
 * (without its backticks or fences), tables as "a | b" rows.
 */
export function markdownToPlain(markdown: string): string {
  const out: string[] = []
  const lines = stripControls(markdown.replace(/\r\n?/g, '\n')).split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const fence = /^\s{0,3}(`{3,}|~{3,})/.exec(line)
    if (fence) {
      const marker = fence[1]!
      const close = new RegExp(`^\\s{0,3}\\${marker[0]}{${marker.length},}\\s*$`)
      for (i++; i < lines.length && !close.test(lines[i]!); i++) out.push(lines[i]!)
      continue
    }
    // A setext heading: the line above, underlined with === or ---.
    if (/^\s{0,3}(=+|-+)\s*$/.test(line) && i > 0 && lines[i - 1]!.trim() && out.length && out.at(-1)!.trim()) continue
    if (/^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/.test(line) && line.includes('|')) continue
    out.push(block(line))
  }
  return out
    .join('\n')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
}

/** One line outside a code block. */
function block(line: string): string {
  if (/^\s{0,3}([-*_])(?:\s*\1){2,}\s*$/.test(line)) return '──────────'
  const heading = /^\s{0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$/.exec(line)
  if (heading) return inline(heading[1] ?? '')
  const quote = /^\s{0,3}>\s?(.*)$/.exec(line)
  if (quote) {
    const content = block(quote[1]!.replace(/^(?:\s*>\s?)+/, ''))
    return content ? `│ ${content}` : '│'
  }
  const task = /^(\s*)[-*+]\s+\[([ xX])\]\s+(.*)$/.exec(line)
  if (task) return `${task[1]!}${task[2] === ' ' ? '☐' : '☑'} ${inline(task[3]!)}`
  const bullet = /^(\s*)[-*+]\s+(.*)$/.exec(line)
  if (bullet) return `${bullet[1]!}• ${inline(bullet[2]!)}`
  const ordered = /^(\s*)(\d{1,9})[.)]\s+(.*)$/.exec(line)
  if (ordered) return `${ordered[1]!}${ordered[2]!}. ${inline(ordered[3]!)}`
  const row = /^\s*\|(.*)\|\s*$/.exec(line)
  if (row) return row[1]!.split('|').map((cell) => inline(cell.trim())).join(' | ')
  return inline(line)
}

const INLINE = new RegExp(
  [
    /(?<ticks>`+)(?<code>[^`\n]|[^\n]*?[^`\n])\k<ticks>(?!`)/.source,
    /<(?<auto>(?:https?:\/\/|mailto:)[^\s<>]+)>/.source,
    /!?\[(?<label>[^\]\n]*)\]\(\s*<?(?<href>[^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*)>?(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)/.source,
    /(?<bare>\bhttps?:\/\/[^\s<>]+)/.source,
    /\\(?<escaped>[!-/:-@[-`{-~])/.source,
  ].join('|'),
  'g',
)

/** Inline Markdown of one line: code spans, links, bare URLs and escapes are kept as tokens while emphasis markers are dropped around them. */
function inline(text: string): string {
  const tokens: string[] = []
  const token = (plain: string) => `\uE000${tokens.push(plain) - 1}\uE001`
  let rest = ''
  let last = 0
  const re = new RegExp(INLINE)
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const g = m.groups!
    rest += text.slice(last, m.index)
    let end = m.index + m[0].length
    if (g.code !== undefined) rest += token(g.code.trim() || g.code)
    else if (g.auto !== undefined) rest += token(g.auto)
    else if (g.href !== undefined) rest += token(link(emphasis(g.label!.trim()), g.href))
    else if (g.bare !== undefined) {
      const url = trimUrl(g.bare)
      end = m.index + url.length
      rest += token(url)
    } else rest += token(g.escaped!)
    last = end
    re.lastIndex = end
  }
  rest += text.slice(last)
  return emphasis(rest).replace(/\uE000(\d+)\uE001/g, (_, i: string) => tokens[Number(i)]!)
}

/** "label (address)"; the address alone when the label is empty or the same; the label alone for an address that is not a link people can open. */
function link(label: string, href: string): string {
  const safe = /^(?:https?:\/\/[^\s]+|mailto:[^\s]+|tel:[+\d][\d\s().-]*)$/i.test(href) ? href : undefined
  if (!safe) return label
  const shown = safe.replace(/^(?:mailto|tel):/i, '')
  if (!label || label === safe || label === shown) return shown
  return `${label} (${shown})`
}

function emphasis(text: string): string {
  return text
    .replace(/\*\*\*(?=\S)([^*]+?)(?<=\S)\*\*\*/g, '$1')
    .replace(/\*\*(?=\S)([^*]+?)(?<=\S)\*\*/g, '$1')
    .replace(/(^|[^\w])__(?=\S)([^_]+?)(?<=\S)__(?=$|[^\w])/g, '$1$2')
    .replace(/~~(?=\S)([^~]+?)(?<=\S)~~/g, '$1')
    .replace(/(^|[^*\w])\*(?=\S)([^*]+?)(?<=\S)\*(?=$|[^*\w])/g, '$1$2')
    .replace(/(^|[^\w])_(?=\S)([^_]+?)(?<=\S)_(?=$|[^\w])/g, '$1$2')
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/**
 * Splits at paragraph, then line, then word boundaries so every part fits `limit` as `measure`
 * counts it (characters by default; `utf8Length` for Instagram); a word longer than `limit` is cut
 * between graphemes (a grapheme longer than `limit` between code points), so a surrogate pair, an
 * emoji sequence or a flag is never split when it can be helped. Parts are trimmed and never empty;
 * blank text gives none.
 */
export function splitText(text: string, limit: number, measure: (s: string) => number = chars): string[] {
  if (!(limit >= 1)) throw new RangeError(`splitText: limit ${limit} is below 1`)
  const fits = (s: string) => measure(s) <= limit
  const whole = text.replace(/\r\n?/g, '\n').trim()
  if (!whole) return []
  if (fits(whole)) return [whole]
  // Pieces that fit, each with the separator before it, joined again into as few parts as fit.
  const parts: string[] = []
  let current = ''
  for (const piece of pieces(whole, ['\n\n', '\n', ' ', 'grapheme', 'codepoint'], fits, '')) {
    const joined = current ? `${current}${piece.sep}${piece.text}` : piece.text
    if (fits(joined)) current = joined
    else {
      parts.push(current)
      current = piece.text
    }
  }
  parts.push(current)
  return parts.map((part) => part.trim()).filter(Boolean)
}

type Piece = { sep: string; text: string }

/** `text` as units of the first level that fit (paragraphs, lines, words, graphemes, code points), each with the separator before it. */
function pieces(text: string, levels: string[], fits: (s: string) => boolean, first: string): Piece[] {
  const [level, ...rest] = levels
  if (level === undefined) return [{ sep: first, text }]
  const glue = level === 'grapheme' || level === 'codepoint' ? '' : level
  const units =
    level === 'grapheme' ? Array.from(segmenter.segment(text), (s) => s.segment) : level === 'codepoint' ? Array.from(text) : level === '\n\n' ? text.split(/\n{2,}/) : text.split(level)
  return units.flatMap((unit, i) => {
    const sep = i ? glue : first
    return fits(unit) ? [{ sep, text: unit }] : pieces(unit, rest, fits, sep)
  })
}

/** At most `max` characters (UTF-16 units), cut between graphemes, with … when cut. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text
  let out = ''
  for (const { segment } of segmenter.segment(text)) {
    if (out.length + segment.length > max - 1) break
    out += segment
  }
  return `${out.trimEnd()}…`
}

/** "Sources: a · b": distinct titles, as many as fit in `limit`; '' without titles. */
function sourcesLine(sources: Source[], limit: number, measure: (s: string) => number): string {
  const titles = [...new Set(sources.map((s) => s.title.replace(/\s+/g, ' ').trim()).filter(Boolean))].slice(0, MAX_SOURCE_TITLES)
  let line = ''
  for (const title of titles) {
    const next = `${line ? `${line} · ` : 'Sources: '}${clip(title, SOURCE_TITLE_CHARS)}`
    if (measure(next) > limit) break
    line = next
  }
  return line
}

export type MetaQuickReply = { content_type: 'text'; title: string; payload: string }
export type MetaTextMessage = { text: string; quick_replies?: MetaQuickReply[] }

/**
 * A reply as Meta messages: the text (Markdown made plain) split; the sources as a last line
 * "Sources: a · b" (within the limit, on a message of its own when the last part has no room); the
 * choices as quick_replies on the last message ({content_type:'text', title ≤ 20 chars (ellipsis),
 * payload = choice id ≤ 1000 chars, longer ids skipped}, at most 13). A reply of choices alone gets
 * their labels as its text (Meta requires text with quick replies). Nothing to say gives [].
 */
export function toMetaMessages(message: { text: string; sources?: Source[]; choices?: Choice[] }, limit: number, measure: (s: string) => number = chars): MetaTextMessage[] {
  const parts = splitText(markdownToPlain(message.text), limit, measure)
  const sources = sourcesLine(message.sources ?? [], limit, measure)
  if (sources) {
    const last = parts.at(-1)
    const joined = last === undefined ? undefined : `${last}\n\n${sources}`
    if (joined !== undefined && measure(joined) <= limit) parts[parts.length - 1] = joined
    else parts.push(sources)
  }
  // Meta refuses the whole message for one payload over its limit: such a choice is left out.
  const kept = (message.choices ?? []).filter((c) => c.id && c.id.length <= QUICK_REPLY_PAYLOAD_LIMIT).slice(0, QUICK_REPLY_LIMIT)
  const label = (c: Choice) => c.label.replace(/\s+/g, ' ').trim() || c.id
  const quickReplies = kept.map((c): MetaQuickReply => ({ content_type: 'text', title: clip(label(c), QUICK_REPLY_TITLE_LIMIT), payload: c.id }))
  if (quickReplies.length && !parts.length) parts.push(...splitText(kept.map(label).join(' · '), limit, measure).slice(0, 1))
  const messages: MetaTextMessage[] = parts.map((text) => ({ text }))
  if (quickReplies.length && messages.length) messages[messages.length - 1]!.quick_replies = quickReplies
  return messages
}
