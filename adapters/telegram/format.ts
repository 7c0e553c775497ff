import type { Source } from '../../core/ports.ts'

/** Telegram's limit for the text of one message. */
export const MAX_MESSAGE_CHARS = 4096

export const escapeHtml = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!)
const escapeAttr = (s: string) => escapeHtml(s).replace(/"/g, '&quot;')

/**
 * Markdown as models and knowledge bases write it, turned into the HTML subset Telegram accepts
 * (b, i, s, code, pre, a, blockquote). Everything else is escaped text, so a stray `<` or `&` in an
 * answer can never break the message.
 */
export function markdownToTelegramHtml(markdown: string): string {
  const out: string[] = []
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const fence = /^\s*```\s*([\w+-]*)\s*$/.exec(line)
    if (fence) {
      const body: string[] = []
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!)
      const lang = fence[1] ? ` class="language-${escapeAttr(fence[1])}"` : ''
      out.push(`<pre><code${lang}>${escapeHtml(body.join('\n'))}</code></pre>`)
      continue
    }
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (heading) {
      out.push(`<b>${inline(heading[1]!)}</b>`)
      continue
    }
    const quote = /^\s*>\s?(.*)$/.exec(line)
    if (quote) {
      out.push(`<blockquote>${inline(quote[1]!)}</blockquote>`)
      continue
    }
    const bullet = /^(\s*)[-*+]\s+(.*)$/.exec(line)
    if (bullet) {
      out.push(`${bullet[1]!}• ${inline(bullet[2]!)}`)
      continue
    }
    out.push(inline(line))
  }
  return out.join('\n').replace(/<\/blockquote>\n<blockquote>/g, '\n')
}

/** Inline Markdown: `code`, [text](url), **bold**, __bold__, *italic*, _italic_, ~~strike~~. */
function inline(text: string): string {
  const parts: string[] = []
  // Code spans and links first: their content is not formatted further.
  const re = /`([^`\n]+)`|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g
  let last = 0
  for (let m = re.exec(text); m; m = re.exec(text)) {
    parts.push(emphasis(escapeHtml(text.slice(last, m.index))))
    if (m[1] !== undefined) parts.push(`<code>${escapeHtml(m[1])}</code>`)
    else parts.push(`<a href="${escapeAttr(m[3]!)}">${emphasis(escapeHtml(m[2]!))}</a>`)
    last = m.index + m[0].length
  }
  parts.push(emphasis(escapeHtml(text.slice(last))))
  return parts.join('')
}

function emphasis(escaped: string): string {
  return escaped
    .replace(/\*\*(?=\S)([^*]+?)(?<=\S)\*\*/g, '<b>$1</b>')
    .replace(/(^|[^\w])__(?=\S)([^_]+?)(?<=\S)__(?=$|[^\w])/g, '$1<b>$2</b>')
    .replace(/~~(?=\S)([^~]+?)(?<=\S)~~/g, '<s>$1</s>')
    .replace(/(^|[^*\w])\*(?=\S)([^*]+?)(?<=\S)\*(?=$|[^*\w])/g, '$1<i>$2</i>')
    .replace(/(^|[^\w])_(?=\S)([^_]+?)(?<=\S)_(?=$|[^\w])/g, '$1<i>$2</i>')
}

/** "Sources:" and at most `max` distinct titles, each on its own line. */
export function sourcesHtml(sources: Source[], max = 3): string {
  const titles = [...new Set(sources.map((s) => s.title.trim()).filter(Boolean))].slice(0, max)
  if (!titles.length) return ''
  return `<i>Sources:</i>\n${titles.map((t) => `• ${escapeHtml(t.length > 120 ? `${t.slice(0, 119)}…` : t)}`).join('\n')}`
}

/**
 * Markdown to Telegram HTML messages of at most `limit` characters, cut between paragraphs (then
 * lines, then words) so no message ends inside a tag or a sentence when it can be helped. The
 * footer (the sources) goes with the last message when it fits, else on its own.
 */
export function toTelegramMessages(markdown: string, input: { footer?: string; limit?: number } = {}): string[] {
  const limit = input.limit ?? MAX_MESSAGE_CHARS
  const pieces = splitMarkdown(markdown.trim(), limit)
  const messages: string[] = []
  let current = ''
  for (const piece of pieces) {
    const html = markdownToTelegramHtml(piece)
    const joined = current ? `${current}\n\n${html}` : html
    if (joined.length <= limit) current = joined
    else {
      if (current) messages.push(current)
      current = html
    }
  }
  if (input.footer) {
    const joined = current ? `${current}\n\n${input.footer}` : input.footer
    if (joined.length <= limit) current = joined
    else {
      if (current) messages.push(current)
      current = input.footer.slice(0, limit)
    }
  }
  if (current) messages.push(current)
  return messages.length ? messages : ['…']
}

/** Paragraphs whose HTML fits in `limit`; a longer paragraph is cut at lines, then words, then characters. */
function splitMarkdown(markdown: string, limit: number): string[] {
  const fits = (s: string) => markdownToTelegramHtml(s).length <= limit
  const out: string[] = []
  for (const paragraph of markdown.split(/\n{2,}/)) {
    if (!paragraph.trim()) continue
    if (fits(paragraph)) out.push(paragraph)
    else out.push(...cut(paragraph, ['\n', ' ', ''], fits))
  }
  return out
}

function cut(text: string, separators: string[], fits: (s: string) => boolean): string[] {
  const [sep, ...rest] = separators
  if (sep === undefined) return [text]
  const units = sep === '' ? [...text] : text.split(sep)
  const out: string[] = []
  let current = ''
  for (const unit of units) {
    const joined = current ? `${current}${sep}${unit}` : unit
    if (fits(joined)) {
      current = joined
      continue
    }
    if (current) out.push(current)
    if (fits(unit)) current = unit
    else {
      const smaller = cut(unit, rest, fits)
      current = smaller.pop() ?? ''
      out.push(...smaller)
    }
  }
  if (current) out.push(current)
  return out
}
