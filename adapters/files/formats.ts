// File formats for the knowledge base: detection by extension, content type and first bytes, and
// one parser per format. Every failure is an AppError naming the file and the reason.
import path from 'node:path'
import { parse as parseCsv } from 'csv-parse/sync'
import { parse as parseHtml, type HTMLElement, NodeType, type Node } from 'node-html-parser'
import type * as PdfjsModule from 'pdfjs-dist/legacy/build/pdf.mjs'
import { AppError } from '../../core/errors.ts'
import { markdownSections } from '../../core/knowledge/chunker.ts'
import { DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_SECTIONS } from '../../core/knowledge/knowledge-service.ts'
import type { ParsedDocument, ParsedSection } from '../../core/ports.ts'
import { parseDocx } from './docx.ts'
import { checkPdfStreams, DEFAULT_PDF_STREAM_LIMITS } from './pdf-guard.ts'
import { megabytes, tooLarge } from './zip-guard.ts'

export type FileFormat = 'pdf' | 'docx' | 'txt' | 'markdown' | 'csv' | 'html'
export type FileInput = { filename: string; mimeType?: string; bytes: Buffer }

export const SUPPORTED_FORMATS = 'PDF, DOCX, TXT, Markdown, CSV, HTML'

const BY_EXTENSION: Record<string, FileFormat> = {
  '.pdf': 'pdf',
  '.docx': 'docx',
  '.txt': 'txt',
  '.text': 'txt',
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.csv': 'csv',
  '.html': 'html',
  '.htm': 'html',
  '.xhtml': 'html',
}
const BY_MIME: Record<string, FileFormat> = {
  'application/pdf': 'pdf',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'text/plain': 'txt',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
  'text/csv': 'csv',
  'application/csv': 'csv',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
}
/** First bytes of formats people upload by mistake: named in the error. */
const FOREIGN_MAGIC: [string, Buffer][] = [
  ['a PNG image', Buffer.from([0x89, 0x50, 0x4e, 0x47])],
  ['a JPEG image', Buffer.from([0xff, 0xd8, 0xff])],
  ['a GIF image', Buffer.from('GIF8')],
  ['a gzip archive', Buffer.from([0x1f, 0x8b])],
  ['a legacy Word/Excel file (.doc/.xls)', Buffer.from([0xd0, 0xcf, 0x11, 0xe0])],
  ['a RAR archive', Buffer.from('Rar!')],
  ['a 7-Zip archive', Buffer.from([0x37, 0x7a, 0xbc, 0xaf])],
]
const ZIP = Buffer.from([0x50, 0x4b, 0x03, 0x04])
const PDF = Buffer.from('%PDF-')

const unsupported = (filename: string, why: string) =>
  new AppError('unsupported_format', `"${filename}" cannot be imported: ${why}. Supported formats: ${SUPPORTED_FORMATS}`, 415)
export const emptySource = (name: string, why = 'it has no text to index') => new AppError('empty_source', `"${name}" is empty: ${why}`, 422)

/** The format of a file; throws 415 unsupported_format with the file's name when it is none of ours. */
export function detectFormat(file: FileInput): FileFormat {
  const { filename, bytes } = file
  const ext = path.extname(filename).toLowerCase()
  const mime = file.mimeType?.split(';')[0]?.trim().toLowerCase()
  const head = bytes.subarray(0, 8)
  if (head.subarray(0, PDF.length).equals(PDF)) return 'pdf'
  const foreign = FOREIGN_MAGIC.find(([, magic]) => head.subarray(0, magic.length).equals(magic))
  if (foreign) return reject(unsupported(filename, `it is ${foreign[0]}`))
  const claimed = BY_EXTENSION[ext] ?? (mime ? BY_MIME[mime] : undefined)
  if (head.subarray(0, 4).equals(ZIP)) {
    if (claimed === 'docx' || (mime && BY_MIME[mime] === 'docx')) return 'docx'
    return reject(unsupported(filename, `it is a ZIP-based file${ext ? ` (${ext})` : ''} that is not a Word document`))
  }
  // A PDF or DOCX without its signature is damaged: its parser says so with a 422.
  if (claimed === 'pdf' || claimed === 'docx') return claimed
  if (claimed) return claimed
  if (ext && !mime) return reject(unsupported(filename, `files of type ${ext} are not supported`))
  if (mime && mime !== 'application/octet-stream' && !mime.startsWith('text/')) return reject(unsupported(filename, `files of type ${mime} are not supported`))
  // No useful name or type: text that looks like HTML is HTML, other text is text.
  if (bytes.includes(0)) return reject(unsupported(filename, 'it is a binary file'))
  const start = bytes.subarray(0, 512).toString('utf8').trimStart().toLowerCase()
  return start.startsWith('<!doctype html') || start.startsWith('<html') ? 'html' : 'txt'
}

function reject(error: AppError): never {
  throw error
}

/** Decodes a text file: UTF-8 (with or without BOM), UTF-16 with BOM, or else Windows-1251. */
export function decodeText(filename: string, bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2))
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2))
  if (bytes.includes(0)) throw unsupported(filename, 'it is a binary file, not text')
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    return new TextDecoder('windows-1251').decode(bytes)
  }
}

const baseName = (filename: string) => path.basename(filename)

/**
 * What one file may cost to read. Every parser stops at these, so that no file of an allowed size
 * (a DOCX or PDF bomb, a CSV of a million tiny rows) can make the process hold more than a few
 * hundred megabytes or produce more passages than anyone could use.
 */
export type ParseLimits = {
  /** KNOWLEDGE_MAX_FILE_BYTES. */
  maxBytes: number
  /** The most a file may inflate to: all parts of a DOCX, all streams of a PDF (KNOWLEDGE_MAX_INFLATED_BYTES). */
  maxInflatedBytes: number
  /** The most sections (headings, pages, rows) one file may have (KNOWLEDGE_MAX_SECTIONS). */
  maxSections: number
  /** The most text one file may give, in characters. */
  maxTextChars: number
  /** How long a PDF may take to read, for a file whose pages reuse one costly content stream. */
  maxParseMs: number
  /** The most elements an HTML file may have: the parser's tree costs about 1.1 KB an element. */
  maxHtmlElements: number
}

/** 100,000 elements parse in about 140 MB; a long real page (a large encyclopedia article) has a few tens of thousands. */
export const DEFAULT_MAX_HTML_ELEMENTS = 100_000

/** The limits for a file limit of maxBytes: inflation to 20 times it, text to 4 times it (more than any real document holds). */
export function parseLimits(input: Partial<ParseLimits> = {}): ParseLimits {
  const maxBytes = input.maxBytes ?? DEFAULT_MAX_FILE_BYTES
  return {
    maxBytes,
    maxInflatedBytes: input.maxInflatedBytes ?? 20 * maxBytes,
    maxSections: input.maxSections ?? DEFAULT_MAX_SECTIONS,
    maxTextChars: input.maxTextChars ?? 4 * maxBytes,
    maxParseMs: input.maxParseMs ?? 120_000,
    maxHtmlElements: input.maxHtmlElements ?? DEFAULT_MAX_HTML_ELEMENTS,
  }
}

/** name: how errors and a missing title call the file (a URL for a web page). */
export async function parseFile(file: FileInput, format: FileFormat = detectFormat(file), name = baseName(file.filename), limits: ParseLimits = parseLimits()): Promise<ParsedDocument> {
  if (file.bytes.length === 0) throw emptySource(name, 'the file has no bytes')
  let doc: ParsedDocument
  switch (format) {
    case 'pdf':
      doc = await parsePdf(name, file.bytes, limits)
      break
    case 'docx':
      doc = await parseDocx(name, file.bytes, limits)
      break
    case 'txt':
      doc = { title: name, sections: [{ text: decodeText(name, file.bytes), location: {} }] }
      break
    case 'markdown':
      doc = parseMarkdown(name, decodeText(name, file.bytes))
      break
    case 'csv':
      doc = parseCsvText(name, decodeText(name, file.bytes), limits.maxSections)
      break
    case 'html':
      doc = htmlDocument(name, decodeText(name, file.bytes), /^https?:/.test(name) ? name : undefined, limits.maxHtmlElements)
      break
  }
  const sections = doc.sections.map((s) => ({ ...s, text: s.text.trim() })).filter((s) => s.text)
  if (sections.length === 0) throw emptySource(name, format === 'pdf' ? 'the PDF has no text layer (a scan needs OCR first)' : 'it has no text to index')
  if (sections.length > limits.maxSections) throw tooManySections(name, limits.maxSections)
  return { title: doc.title.trim() || name, sections }
}

export const tooManySections = (name: string, max: number) => tooLarge(name, `has more than ${max.toLocaleString('en-US')} sections (headings, pages or rows), the most one file may have; split it into smaller files`)

// ---- PDF (pdf.js, the legacy build for Node; loaded on first use)

type Pdfjs = typeof PdfjsModule
let pdfjsLoaded: Promise<Pdfjs> | undefined
/**
 * pdf.js and its worker (which runs in this thread under Node), as the minified builds: the same
 * code, but under tsx, which transforms every module it loads, loading the full builds and reading
 * a first page took 290 MB of RSS at its peak and the minified ones 190 MB (once per process).
 */
function loadPdfjs(): Promise<Pdfjs> {
  pdfjsLoaded ??= (async () => {
    const pdfjs = (await import('pdfjs-dist/legacy/build/pdf.min.mjs' as string)) as Pdfjs
    pdfjs.GlobalWorkerOptions.workerSrc = import.meta.resolve('pdfjs-dist/legacy/build/pdf.worker.min.mjs')
    return pdfjs
  })()
  return pdfjsLoaded
}

async function parsePdf(name: string, bytes: Buffer, limits: ParseLimits): Promise<ParsedDocument> {
  const started = Date.now()
  await checkPdfStreams(name, bytes, { ...DEFAULT_PDF_STREAM_LIMITS, maxInflatedBytes: limits.maxInflatedBytes })
  const pdfjs = await loadPdfjs()
  // pdf.js takes ownership of the array it is given: pass a copy.
  const task = pdfjs.getDocument({ data: new Uint8Array(bytes), isEvalSupported: false, useSystemFonts: false, disableFontFace: true, verbosity: 0 })
  let doc: Awaited<typeof task.promise>
  try {
    doc = await task.promise
  } catch (error) {
    await task.destroy().catch(() => undefined)
    const e = error as { name?: string; message?: string }
    if (e?.name === 'PasswordException') throw new AppError('encrypted_pdf', `"${name}" is password-protected (encrypted); remove the password and upload it again`, 422)
    throw new AppError('corrupt_pdf', `"${name}" is not a readable PDF: ${e?.message || 'the file is damaged'}`, 422)
  }
  try {
    if (doc.numPages > limits.maxSections) throw tooLarge(name, `has ${doc.numPages.toLocaleString('en-US')} pages; at most ${limits.maxSections.toLocaleString('en-US')} can be imported from one file`)
    const sections: ParsedSection[] = []
    let chars = 0
    for (let n = 1; n <= doc.numPages; n++) {
      if (Date.now() - started > limits.maxParseMs) throw new AppError('parse_timeout', `"${name}" takes longer than ${Math.round(limits.maxParseMs / 1000)} s to read (stopped at page ${n}); split it into smaller files`, 422)
      const page = await doc.getPage(n)
      let text = ''
      // Streamed, so that a page with an enormous text layer is stopped at the limit, not held whole.
      // The reader is left, not cancelled, when it stops early: destroying the document ends it.
      const reader = page.streamTextContent().getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        for (const item of value.items) {
          if (!('str' in item)) continue
          text += item.str + (item.hasEOL ? '\n' : '')
          chars += item.str.length
        }
        if (chars > limits.maxTextChars) throw tooLarge(name, `has more than ${megabytes(limits.maxTextChars)} of text, the limit for one file`)
      }
      page.cleanup()
      text = text.replace(/[ \t]+/g, ' ').replace(/ *\n */g, '\n').trim()
      if (text) sections.push({ text, location: { page: n } })
    }
    const info = (await doc.getMetadata().catch(() => null))?.info as { Title?: unknown } | undefined
    const title = typeof info?.Title === 'string' && info.Title.trim() ? info.Title.trim() : name
    return { title, sections }
  } catch (error) {
    if (error instanceof AppError) throw error
    throw new AppError('corrupt_pdf', `"${name}" is not a readable PDF: ${(error as Error).message || 'the file is damaged'}`, 422)
  } finally {
    await doc.destroy().catch(() => undefined)
  }
}

// ---- Markdown

function parseMarkdown(name: string, text: string): ParsedDocument {
  const h1 = /^#\s+(.+?)\s*#*\s*$/m.exec(text)?.[1]
  const sections = markdownSections(text).map((s) => ({ text: s.text, ...(s.heading ? { heading: s.heading } : {}), location: s.heading ? { heading: s.heading } : {} }))
  return { title: h1 ?? name, sections }
}

// ---- CSV: each row a passage, the header kept as context ("Column: value; Column: value")

function parseCsvText(name: string, text: string, maxSections: number): ParsedDocument {
  const firstLine = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? ''
  const delimiter = [',', ';', '\t', '|'].map((d) => ({ d, n: firstLine.split(d).length })).sort((a, b) => b.n - a.n)[0]!.d
  let rows: string[][]
  try {
    // Reading stops one row past the limit: a file of a million tiny rows is refused, not held as a million arrays.
    rows = parseCsv(text, { bom: true, delimiter, skip_empty_lines: true, relax_column_count: true, relax_quotes: true, trim: true, to: maxSections + 2 }) as string[][]
  } catch (error) {
    throw new AppError('invalid_csv', `"${name}" is not a readable CSV file: ${(error as Error).message}`, 422)
  }
  if (rows.length > maxSections + 1) throw tooManySections(name, maxSections)
  const [header = [], ...data] = rows
  const columns = header.map((h, i) => h || `Column ${i + 1}`)
  const sections: ParsedSection[] = []
  data.forEach((row, i) => {
    const text = row
      .map((value, c) => (value ? `${columns[c] ?? `Column ${c + 1}`}: ${value}` : ''))
      .filter(Boolean)
      .join('; ')
    // Row numbers as a spreadsheet shows them: the header is row 1.
    if (text) sections.push({ text, location: { row: i + 2 } })
  })
  if (sections.length === 0) throw emptySource(name, data.length ? 'every row is blank' : 'it has a header but no rows')
  return { title: name, sections }
}

// ---- HTML: scripts, styles and navigation dropped; headings become section headings

const DROP = 'script, style, noscript, template, svg, iframe, nav, footer, aside, form, button, select, [hidden], [aria-hidden="true"]'
const HEADINGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'])
const BLOCKS = new Set([
  'html', 'body', 'main', 'article', 'section', 'div', 'header', 'p', 'ul', 'ol', 'li', 'dl', 'dt', 'dd', 'pre', 'blockquote', 'figure', 'figcaption',
  'address', 'details', 'summary', 'table', 'thead', 'tbody', 'tfoot', 'tr', 'td', 'th', 'caption', 'hr', 'center', 'fieldset', 'legend',
])

export function htmlDocument(name: string, html: string, url?: string, maxElements = DEFAULT_MAX_HTML_ELEMENTS): ParsedDocument {
  // Counted before the tree is built: a page of a million tiny elements would take over a gigabyte.
  let elements = 0
  for (let at = html.indexOf('<'); at >= 0; at = html.indexOf('<', at + 1)) {
    const next = html.charCodeAt(at + 1)
    if (((next | 32) >= 97 && (next | 32) <= 122) && ++elements > maxElements) {
      throw new AppError('source_too_large', `"${name}" has more than ${maxElements.toLocaleString('en-US')} HTML elements, more than one import may read; split the page or save its text`, 413)
    }
  }
  const root = parseHtml(html, { comment: false })
  const title = textOf(root.querySelector('title') ?? root.querySelector('h1') ?? parseHtml('')) || name
  const sections = htmlSections(root, url)
  return { title, sections }
}

function textOf(el: HTMLElement): string {
  return el.text.replace(/\s+/g, ' ').trim()
}

/** Sections of an HTML page in reading order, each under the heading path it sits beneath. */
export function htmlSections(root: HTMLElement, url?: string): ParsedSection[] {
  for (const el of root.querySelectorAll(DROP)) el.remove()
  // A page header with navigation but no title of its own is chrome, not content.
  for (const el of root.querySelectorAll('header')) if (!el.querySelector('h1, h2')) el.remove()
  const body = root.querySelector('main') ?? root.querySelector('article') ?? root.querySelector('body') ?? root
  const path: string[] = []
  const sections: ParsedSection[] = []
  let blocks: string[] = []
  const heading = () => path.filter(Boolean).join(' › ')
  const endSection = () => {
    const text = blocks.join('\n\n').trim()
    const h = heading()
    if (text) sections.push({ text, ...(h ? { heading: h } : {}), location: { ...(h ? { heading: h } : {}), ...(url ? { url } : {}) } })
    blocks = []
  }
  const walk = (el: HTMLElement) => {
    let inline = ''
    const flush = () => {
      const text = inline.replace(/[ \t\f\v\r\u00a0]+/g, ' ').replace(/ *\n */g, '\n').replace(/\n{2,}/g, '\n').trim()
      if (text) blocks.push(text)
      inline = ''
    }
    for (const child of el.childNodes as Node[]) {
      if (child.nodeType === NodeType.TEXT_NODE) {
        inline += child.text
        continue
      }
      if (child.nodeType !== NodeType.ELEMENT_NODE) continue
      const node = child as HTMLElement
      const tag = node.tagName?.toLowerCase() ?? ''
      if (HEADINGS.has(tag)) {
        flush()
        endSection()
        path.splice(Number(tag[1]) - 1, path.length, textOf(node))
      } else if (tag === 'table') {
        flush()
        blocks.push(...tableRows(node))
      } else if (tag === 'pre') {
        flush()
        const text = node.text.trim()
        if (text) blocks.push(text)
      } else if (tag === 'br') {
        inline += '\n'
      } else if (tag === 'li' && !node.querySelector([...BLOCKS, ...HEADINGS].join(','))) {
        flush()
        const text = textOf(node)
        if (text) blocks.push(`- ${text}`)
      } else if (BLOCKS.has(tag) || node.querySelector([...BLOCKS, ...HEADINGS].join(','))) {
        flush()
        walk(node)
      } else {
        inline += node.text
      }
    }
    flush()
  }
  walk(body)
  endSection()
  return sections
}

/** A table's rows as passages; with a header row, each cell is named by its column, as for CSV. */
function tableRows(table: HTMLElement): string[] {
  const rows = table.querySelectorAll('tr').map((tr) => tr.querySelectorAll('th, td').map((c) => textOf(c)))
  const first = table.querySelector('tr')
  const hasHeader = Boolean(first && first.querySelectorAll('td').length === 0 && first.querySelectorAll('th').length > 0)
  if (!hasHeader) return rows.map((r) => r.filter(Boolean).join(' | ')).filter(Boolean)
  const [header = [], ...data] = rows
  return data.map((r) => r.map((v, i) => (v ? `${header[i] || `Column ${i + 1}`}: ${v}` : '')).filter(Boolean).join('; ')).filter(Boolean)
}
