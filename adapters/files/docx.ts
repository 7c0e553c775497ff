// Word documents (DOCX) read as a stream: each part is inflated piece by piece (bounded by
// zip-guard.ts) and its XML scanned as it arrives, so memory follows the text, not the markup.
// A DOM of WordprocessingML costs one to three kilobytes per element: a 4 KB file of 350,000
// empty paragraphs needed 650 MB that way.
//
// What is read, as a reader sees it: paragraphs, headings (the Heading 1-6 styles, by id or by
// name), list items, tables (a header row names its cells, as for CSV), text boxes, footnotes and
// endnotes (at the end, numbered as referenced). Deleted and moved-away text, field codes and the
// first branch of alternate content (the fallback is read, as Word writes both) are skipped.
import path from 'node:path'
import { AppError } from '../../core/errors.ts'
import type { ParsedDocument, ParsedSection } from '../../core/ports.ts'
import { DEFAULT_ZIP_LIMITS, inflateEntry, megabytes, readZipDirectory, tooLarge, type ZipEntry, type ZipErrors } from './zip-guard.ts'

export type DocxLimits = { maxInflatedBytes: number; maxSections: number; maxTextChars: number }

const NAMESPACES: Record<string, string> = {
  'http://schemas.openxmlformats.org/wordprocessingml/2006/main': 'w',
  'http://purl.oclc.org/ooxml/wordprocessingml/main': 'w',
  'http://schemas.openxmlformats.org/markup-compatibility/2006': 'mc',
  'http://schemas.openxmlformats.org/package/2006/relationships': 'rel',
}
/**
 * Counts of things that cost memory without being text, each far above what Word writes (a table
 * has at most 63 columns), so that a part of dense markup cannot make the reader hold millions of
 * objects; past them the markup is ignored, or the part refused where ignoring would misread it.
 */
const MAX_NESTING = 64
const MAX_CELLS = 1000
const MAX_NAMES = 10_000
const MAX_TAG_CHARS = 1024 * 1024
/** Elements whose content is never text a reader sees. */
const SKIPPED = new Set(['w:del', 'w:moveFrom', 'w:instrText', 'w:delInstrText', 'mc:Choice', 'w:tabs', 'w:pPrChange', 'w:rPrChange', 'w:sectPrChange', 'w:tblPrChange', 'w:trPrChange', 'w:tcPrChange', 'w:numberingChange'])

export async function parseDocx(name: string, bytes: Buffer, limits: DocxLimits): Promise<ParsedDocument> {
  const errors: ZipErrors = { name, damaged: (why) => new AppError('corrupt_docx', `"${name}" is not a readable Word document: ${why}`, 422) }
  const entries = readZipDirectory(bytes, { ...DEFAULT_ZIP_LIMITS, maxInflatedBytes: limits.maxInflatedBytes }, errors)
  const byName = new Map(entries.map((e) => [e.name.replace(/^\//, '').toLowerCase(), e]))
  const part = (partName: string) => byName.get(partName.replace(/^\//, '').toLowerCase())
  const read = (entry: ZipEntry, handler: XmlHandler) => scanPart(bytes, entry, errors, handler)

  const relationships = async (partName: string) => {
    const rels = part(path.posix.join(path.posix.dirname(partName), '_rels', `${path.posix.basename(partName)}.rels`))
    const found: { type: string; target: string }[] = []
    if (!rels) return found
    await read(rels, {
      open: (element, tag) => {
        if (element.endsWith('Relationship') && found.length < MAX_NAMES && attribute(tag, 'TargetMode') !== 'External') found.push({ type: attribute(tag, 'Type') ?? '', target: resolvePart(partName, attribute(tag, 'Target') ?? '') })
      },
    })
    return found
  }
  const mainName = (await relationships('')).find((r) => r.type.endsWith('/officeDocument'))?.target ?? 'word/document.xml'
  const main = part(mainName)
  if (!main) throw errors.damaged(`it has no ${mainName}; it is a ZIP archive but not a Word document`)
  const related = await relationships(mainName)
  const target = (type: string) => related.find((r) => r.type.endsWith(`/${type}`))?.target

  const styles = new Map<string, { name: string; numbered: boolean }>()
  const stylesPart = part(target('styles') ?? 'word/styles.xml')
  if (stylesPart) await read(stylesPart, stylesReader(styles))

  const out = new DocumentWriter(name, limits)
  const notes = new Map<string, number>()
  const body = new BodyReader({
    styles,
    out,
    damaged: (why) => errors.damaged(`${main.name}: ${why}`),
    noteReference: (kind, id) => {
      const key = `${kind}:${id}`
      if (!notes.has(key) && notes.size < MAX_NAMES) notes.set(key, notes.size + 1)
      return notes.get(key)
    },
  })
  await read(main, body)
  // Notes come after the body, numbered in the order the body refers to them.
  const noteTexts = new Map<string, string>()
  for (const kind of ['footnote', 'endnote'] as const) {
    const notesPart = part(target(`${kind}s`) ?? `word/${kind}s.xml`)
    if (!notesPart || ![...notes.keys()].some((k) => k.startsWith(`${kind}:`))) continue
    await read(notesPart, notesReader({ kind, styles, out, notes, texts: noteTexts, damaged: (why) => errors.damaged(`${notesPart.name}: ${why}`) }))
  }
  for (const [key, n] of [...notes].sort((a, b) => a[1] - b[1])) {
    const text = noteTexts.get(key)
    if (text) out.block(`[${n}] ${text}`)
  }
  return out.finish()
}

/** A relationship's target as a part name: relative to the part's folder, or from the root. */
function resolvePart(source: string, target: string): string {
  const joined = target.startsWith('/') ? target : path.posix.join(path.posix.dirname(source), target)
  return path.posix.normalize(joined).replace(/^(\.\.\/)+|^\.\/|^\//, '')
}

// ---- The XML scanner: tags and text from a stream of strings, without building a tree

type XmlHandler = {
  open?(element: string, tag: string, selfClosing: boolean): void
  close?(element: string): void
  text?(text: string): void
}

async function scanPart(bytes: Buffer, entry: ZipEntry, errors: ZipErrors, handler: XmlHandler): Promise<void> {
  const scanner = new XmlScanner(handler, (why) => errors.damaged(`${entry.name}: ${why}`))
  let decoder: TextDecoder | undefined
  await inflateEntry(bytes, entry, errors, (piece) => {
    decoder ??= new TextDecoder(piece[0] === 0xff && piece[1] === 0xfe ? 'utf-16le' : piece[0] === 0xfe && piece[1] === 0xff ? 'utf-16be' : 'utf-8')
    scanner.write(decoder.decode(piece, { stream: true }))
  })
  scanner.write(decoder?.decode() ?? '')
  scanner.end()
}

class XmlScanner {
  private pending = ''
  /** Document prefix -> the prefix this reader uses (w, mc, rel); undeclared prefixes stay as written. */
  private prefixes = new Map<string, string>()
  constructor(
    private handler: XmlHandler,
    private damaged: (why: string) => AppError,
  ) {}

  write(chunk: string): void {
    this.pending += chunk
    this.drain()
  }

  end(): void {
    this.drain()
    if (this.pending.trim()) throw this.damaged('the XML ends in the middle of a tag')
  }

  private drain(): void {
    const s = this.pending
    let at = 0
    for (;;) {
      const lt = s.indexOf('<', at)
      if (lt < 0) {
        // Text up to a possibly split entity is safe to hand on now.
        const amp = s.lastIndexOf('&')
        const cut = amp >= at && s.indexOf(';', amp) < 0 ? amp : s.length
        if (cut > at) this.handler.text?.(decodeEntities(s.slice(at, cut)))
        at = cut
        break
      }
      if (lt > at) this.handler.text?.(decodeEntities(s.slice(at, lt)))
      at = lt
      const end = this.tagEnd(s, lt)
      if (end < 0) {
        // An unfinished tag is scanned again as more arrives: one that never ends must not be rescanned for ever.
        if (s.length - lt > MAX_TAG_CHARS) throw this.damaged(`a tag, comment or CDATA section is longer than ${MAX_TAG_CHARS / 1024 / 1024} MB`)
        break
      }
      this.tag(s.slice(lt, end + 1))
      at = end + 1
    }
    this.pending = s.slice(at)
  }

  /** The index of the `>` that closes the tag at `lt`, or -1 when it has not arrived yet. */
  private tagEnd(s: string, lt: number): number {
    if (s.startsWith('<!--', lt)) return endOf(s, '-->', lt)
    if (s.startsWith('<![CDATA[', lt)) return endOf(s, ']]>', lt)
    if (s.startsWith('<?', lt)) return endOf(s, '?>', lt)
    // A document type can declare entities, the classic XML bomb; Office files never have one.
    if (s.startsWith('<!DOCTYPE', lt) || s.startsWith('<!ENTITY', lt)) throw this.damaged('it declares a document type, which Word documents do not')
    let quote = ''
    for (let i = lt + 1; i < s.length; i++) {
      const c = s[i]
      if (quote) {
        if (c === quote) quote = ''
      } else if (c === '"' || c === "'") quote = c
      else if (c === '>') return i
    }
    return -1
  }

  private tag(tag: string): void {
    if (tag.startsWith('<![CDATA[')) return this.handler.text?.(tag.slice(9, -3))
    if (tag.startsWith('<!') || tag.startsWith('<?')) return
    const closing = tag[1] === '/'
    const nameEnd = tag.slice(closing ? 2 : 1).search(/[\s/>]/)
    const raw = tag.slice(closing ? 2 : 1, (closing ? 2 : 1) + nameEnd)
    if (!closing && tag.includes('xmlns')) {
      for (const [, prefix = '', uri = ''] of tag.matchAll(/\sxmlns(?::([\w.-]+))?\s*=\s*["']([^"']*)["']/g)) {
        if (this.prefixes.size < MAX_NAMES || this.prefixes.has(prefix)) this.prefixes.set(prefix, NAMESPACES[uri] ?? prefix)
      }
    }
    const colon = raw.indexOf(':')
    const prefix = colon < 0 ? '' : raw.slice(0, colon)
    const local = colon < 0 ? raw : raw.slice(colon + 1)
    const mapped = this.prefixes.get(prefix) ?? prefix
    const element = mapped ? `${mapped}:${local}` : local
    if (closing) return this.handler.close?.(element)
    const selfClosing = tag.endsWith('/>')
    this.handler.open?.(element, tag, selfClosing)
    if (selfClosing) this.handler.close?.(element)
  }
}

const endOf = (s: string, marker: string, from: number) => {
  const i = s.indexOf(marker, from)
  return i < 0 ? -1 : i + marker.length - 1
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }
function decodeEntities(s: string): string {
  if (!s.includes('&')) return s
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, (whole, e: string) => {
    if (e[0] !== '#') return ENTITIES[e] ?? whole
    const code = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole
  })
}

const attributePatterns = new Map<string, RegExp>()
/** An attribute of a tag by its local name, whatever its prefix. */
function attribute(tag: string, local: string): string | undefined {
  let pattern = attributePatterns.get(local)
  if (!pattern) attributePatterns.set(local, (pattern = new RegExp(`\\s(?:[\\w.-]+:)?${local}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`)))
  const m = pattern.exec(tag)
  return m ? decodeEntities(m[1] ?? m[2] ?? '') : undefined
}

// ---- styles.xml: which paragraph styles are headings and which number their paragraphs

function stylesReader(styles: Map<string, { name: string; numbered: boolean }>): XmlHandler {
  let current: { id: string; name: string; numbered: boolean } | undefined
  return {
    open(element, tag) {
      if (element === 'w:style') current = attribute(tag, 'type') === 'paragraph' ? { id: attribute(tag, 'styleId') ?? '', name: '', numbered: false } : undefined
      else if (current && element === 'w:name') current.name = attribute(tag, 'val') ?? ''
      else if (current && element === 'w:numId') current.numbered = attribute(tag, 'val') !== '0'
    },
    close(element) {
      if (element === 'w:style' && current && styles.size < MAX_NAMES) styles.set(current.id, { name: current.name, numbered: current.numbered })
      if (element === 'w:style') current = undefined
    },
  }
}

/** The heading level of a paragraph style: Heading1-6 by id or "heading 1-6" by name (Word stores built-in names in English). */
function headingLevel(styleId: string | undefined, styles: Map<string, { name: string }>): number | undefined {
  if (!styleId) return undefined
  const name = styles.get(styleId)?.name ?? ''
  const m = /^Heading([1-6])$/.exec(styleId) ?? /^heading ([1-6])$/i.exec(name)
  if (m) return Number(m[1])
  return styleId === 'Heading' || name === 'Heading' ? 1 : undefined
}

// ---- document.xml: paragraphs, tables and notes as events

type Paragraph = { text: string; style?: string; numbered: boolean }
type Row = { cells: string[]; header: boolean }
type Table = { rows: Row[]; row?: Row; cell?: string[] }
type BodyDeps = {
  styles: Map<string, { name: string; numbered: boolean }>
  out: DocumentWriter
  damaged: (why: string) => AppError
  noteReference?: (kind: 'footnote' | 'endnote', id: string) => number | undefined
  /** Where finished paragraphs go instead of the document (a note collects its own). */
  paragraph?: (text: string) => void
}

const inline = (s: string) => s.replace(/[ \t\f\v\r\u00a0]+/g, ' ').replace(/ *\n */g, '\n').replace(/\n{2,}/g, '\n').trim()
const collapse = (s: string) => s.replace(/\s+/g, ' ').trim()

class BodyReader implements XmlHandler {
  private skip = 0
  private inText = false
  private paragraphs: Paragraph[] = []
  private tables: Table[] = []
  constructor(private deps: BodyDeps) {}

  open(element: string, tag: string, selfClosing: boolean): void {
    if (this.skip) {
      if (!selfClosing) this.skip++
      return
    }
    if (SKIPPED.has(element)) {
      if (!selfClosing) this.skip = 1
      return
    }
    const p = this.paragraphs.at(-1)
    const table = this.tables.at(-1)
    switch (element) {
      case 'w:p':
        if (this.paragraphs.length >= MAX_NESTING) throw this.deps.damaged(`paragraphs are nested more than ${MAX_NESTING} deep`)
        this.paragraphs.push({ text: '', numbered: false })
        break
      case 'w:pStyle':
        if (p) p.style = attribute(tag, 'val')
        break
      case 'w:numId':
        if (p) p.numbered = attribute(tag, 'val') !== '0'
        break
      case 'w:t':
        this.inText = !selfClosing
        break
      case 'w:tab':
      case 'w:ptab':
        this.append('\t')
        break
      case 'w:br': {
        const type = attribute(tag, 'type')
        if (!type || type === 'textWrapping') this.append('\n')
        break
      }
      case 'w:cr':
        this.append('\n')
        break
      case 'w:noBreakHyphen':
        this.append('-')
        break
      case 'w:footnoteReference':
      case 'w:endnoteReference': {
        const id = attribute(tag, 'id')
        const n = id ? this.deps.noteReference?.(element === 'w:footnoteReference' ? 'footnote' : 'endnote', id) : undefined
        if (n) this.append(`[${n}]`)
        break
      }
      case 'w:tbl':
        if (this.tables.length >= MAX_NESTING) throw this.deps.damaged(`tables are nested more than ${MAX_NESTING} deep`)
        this.tables.push({ rows: [] })
        break
      case 'w:tr':
        if (table) table.row = { cells: [], header: false }
        break
      case 'w:tblHeader':
        if (table?.row) table.row.header = !['false', '0', 'off'].includes(attribute(tag, 'val') ?? 'true')
        break
      case 'w:tc':
        if (table) table.cell = []
        break
    }
  }

  close(element: string): void {
    if (this.skip) {
      this.skip--
      return
    }
    const table = this.tables.at(-1)
    switch (element) {
      case 'w:t':
        this.inText = false
        break
      case 'w:p': {
        const p = this.paragraphs.pop()
        if (p) this.finishParagraph(p)
        break
      }
      case 'w:tc':
        if (table?.row && table.cell && table.row.cells.length < MAX_CELLS) table.row.cells.push(collapse(table.cell.join(' ')))
        if (table) table.cell = undefined
        break
      case 'w:tr':
        // A row without text is dropped here, unless it is the header, so that empty rows cost nothing.
        if (table?.row && (table.row.header || table.row.cells.some(Boolean))) table.rows.push(table.row)
        if (table) table.row = undefined
        break
      case 'w:tbl': {
        const done = this.tables.pop()
        if (!done) break
        const lines = tableLines(done.rows)
        const outer = this.tables.at(-1)
        // A table in a table cell is part of that cell's text.
        if (outer?.cell) outer.cell.push(lines.join(' '))
        else for (const line of lines) this.emit(line)
        break
      }
    }
  }

  text(text: string): void {
    if (this.inText && !this.skip) this.append(text)
  }

  private append(s: string): void {
    const p = this.paragraphs.at(-1)
    if (!p) return
    p.text += s
    this.deps.out.count(s.length)
  }

  private finishParagraph(p: Paragraph): void {
    const text = inline(p.text)
    if (!text) return
    const cell = this.tables.at(-1)?.cell
    if (cell) return void cell.push(text)
    const style = p.style ? this.deps.styles.get(p.style) : undefined
    const level = headingLevel(p.style, this.deps.styles)
    if (level && !this.deps.paragraph) return this.deps.out.heading(level, collapse(text))
    this.emit(p.numbered || style?.numbered ? `- ${collapse(text)}` : text)
  }

  private emit(text: string): void {
    if (this.deps.paragraph) this.deps.paragraph(text)
    else this.deps.out.block(text)
  }
}

/** A table's rows as passages; with a header row first, each cell is named by its column. */
function tableLines(rows: Row[]): string[] {
  const [first, ...rest] = rows
  if (!first?.header) return rows.map((r) => r.cells.filter(Boolean).join(' | ')).filter(Boolean)
  const header = first.cells
  return rest.map((r) => r.cells.map((v, i) => (v ? `${header[i] || `Column ${i + 1}`}: ${v}` : '')).filter(Boolean).join('; ')).filter(Boolean)
}

/** footnotes.xml or endnotes.xml: the text of each note the body refers to. */
function notesReader(input: { kind: 'footnote' | 'endnote'; styles: BodyDeps['styles']; out: DocumentWriter; notes: Map<string, number>; texts: Map<string, string>; damaged: BodyDeps['damaged'] }): XmlHandler {
  let key: string | undefined
  let parts: string[] = []
  const reader = new BodyReader({ styles: input.styles, out: input.out, damaged: input.damaged, paragraph: (text) => parts.push(text) })
  return {
    open(element, tag, selfClosing) {
      if (element === `w:${input.kind}`) {
        const id = `${input.kind}:${attribute(tag, 'id') ?? ''}`
        key = input.notes.has(id) ? id : undefined
        parts = []
      } else if (key) reader.open(element, tag, selfClosing)
    },
    close(element) {
      if (element === `w:${input.kind}`) {
        if (key) input.texts.set(key, collapse(parts.join(' ')))
        key = undefined
      } else if (key) reader.close(element)
    },
    text(text) {
      if (key) reader.text(text)
    },
  }
}

// ---- Sections by heading path, as the HTML reader makes them

class DocumentWriter {
  private path: string[] = []
  private sections: ParsedSection[] = []
  private blocks: string[] = []
  private joined: string[] = []
  private title: string | undefined
  private first = true
  private chars = 0
  constructor(
    private name: string,
    private limits: DocxLimits,
  ) {}

  count(chars: number): void {
    this.chars += chars
    if (this.chars > this.limits.maxTextChars) throw tooLarge(this.name, `has more than ${megabytes(this.limits.maxTextChars)} of text, the limit for one file`)
  }

  heading(level: number, text: string): void {
    if (this.first && level === 1) this.title = text
    this.first = false
    this.endSection()
    this.path.splice(level - 1, this.path.length, text)
  }

  block(text: string): void {
    this.first = false
    this.blocks.push(text)
    // Joined a thousand at a time: a million one-word paragraphs are held as text, not as a million strings.
    if (this.blocks.length >= 1000) this.joined.push(this.blocks.splice(0).join('\n\n'))
  }

  finish(): ParsedDocument {
    this.endSection()
    return { title: this.title ?? this.name, sections: this.sections }
  }

  private endSection(): void {
    const text = [...this.joined, ...this.blocks].join('\n\n').trim()
    this.joined = []
    this.blocks = []
    if (!text) return
    const heading = this.path.filter(Boolean).join(' › ')
    this.sections.push({ text, ...(heading ? { heading } : {}), location: heading ? { heading } : {} })
    if (this.sections.length > this.limits.maxSections) throw tooLarge(this.name, `has more than ${this.limits.maxSections.toLocaleString('en-US')} sections, the most one file may have; split it into smaller files`)
  }
}
