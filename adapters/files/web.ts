// Web pages for the knowledge base: one page by URL, or every page a sitemap.xml lists, up to a
// page limit. Every request (the page, a sitemap, each page it lists, each redirect) goes through
// the safe fetch: only public addresses, unless the operator allows more (ALLOW_PRIVATE_URLS).
import path from 'node:path'
import { AppError } from '../../core/errors.ts'
import type { ParsedDocument, ParsedSection } from '../../core/ports.ts'
import { createSafeFetch, type SafeFetch, type SafeFetchOptions } from '../net/safe-fetch.ts'
import { detectFormat, parseFile, type ParseLimits } from './formats.ts'

export type WebOptions = {
  maxBytes: number
  timeoutMs: number
  maxPages: number
  /** Replaces the safe fetch (tests); without it, one is made from `net`. */
  fetch?: typeof fetch
  /** The address policy of the safe fetch: the operator's allow-list, a resolver. */
  net?: Omit<SafeFetchOptions, 'refusal'>
  /** What one page may inflate to and make (the installation's file limits); the defaults when not given. */
  limits?: ParseLimits
}
type Fetched = { url: string; bytes: Buffer; contentType: string }

const urlError = (url: string, why: string, code = 'url_failed') => new AppError(code, `Could not import ${url}: ${why}`, 422)

/** The fetch of the importer: public addresses only, unless `net.allowPrivate` says otherwise. */
export const IMPORT_REFUSAL = 'only public addresses can be imported'
export const createImportFetch = (net: WebOptions['net'] = {}): SafeFetch => createSafeFetch({ ...net, refusal: IMPORT_REFUSAL })

/** Only http(s): the address itself is judged by the safe fetch when it connects. */
export function checkImportUrl(raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new AppError('invalid_url', `"${raw}" is not a valid URL`, 422)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('invalid_url', `${raw}: only http and https URLs can be imported`, 422)
  return url
}

export async function fetchUrl(raw: string, options: WebOptions & { fetch: typeof fetch }): Promise<Fetched> {
  const url = checkImportUrl(raw).toString()
  let res: Response
  try {
    res = await options.fetch(url, {
      signal: AbortSignal.timeout(options.timeoutMs),
      headers: { 'user-agent': 'SwitchboardKnowledgeImporter/1.0', accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,text/*;q=0.8,*/*;q=0.5' },
    })
  } catch (error) {
    if (error instanceof AppError) throw new AppError(error.code, `Could not import ${error.message}`, error.status, error.details)
    const e = error as Error & { cause?: { code?: string; message?: string } }
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw urlError(url, `no answer within ${options.timeoutMs} ms`, 'url_timeout')
    throw urlError(url, `the request failed (${e.cause?.code ?? e.cause?.message ?? e.message})`)
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined)
    throw urlError(url, `the server answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`)
  }
  const declared = Number(res.headers.get('content-length') ?? '0')
  const tooLarge = () => new AppError('source_too_large', `Could not import ${url}: the page is larger than the limit of ${options.maxBytes} bytes`, 413)
  if (declared > options.maxBytes) {
    await res.body?.cancel().catch(() => undefined)
    throw tooLarge()
  }
  const parts: Buffer[] = []
  let size = 0
  try {
    if (res.body) {
      const reader = res.body.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        size += value.byteLength
        if (size > options.maxBytes) {
          await reader.cancel().catch(() => undefined)
          throw tooLarge()
        }
        parts.push(Buffer.from(value))
      }
    }
  } catch (error) {
    if (error instanceof AppError) throw error
    const e = error as Error
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw urlError(url, `no answer within ${options.timeoutMs} ms`, 'url_timeout')
    throw urlError(url, `reading the page failed (${e.message})`)
  }
  return { url: res.url || url, bytes: Buffer.concat(parts), contentType: res.headers.get('content-type') ?? '' }
}

const isSitemap = (f: Fetched) => /\b(xml)\b/i.test(f.contentType) || /^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<(urlset|sitemapindex)\b/i.test(f.bytes.subarray(0, 2048).toString('utf8'))

/** Reads one fetched page with the file parsers: HTML, or a PDF/text/Markdown/CSV/DOCX behind a URL. */
async function parsePage(page: Fetched, limits?: ParseLimits): Promise<ParsedDocument> {
  const pathname = new URL(page.url).pathname
  const base = path.basename(pathname)
  const filename = path.extname(base) ? base : `${base || 'index'}.html`
  const mimeType = page.contentType.split(';')[0]?.trim() || undefined
  const file = { filename, mimeType, bytes: page.bytes }
  // The server's content type outranks the URL's extension ("/page.php" is HTML).
  const format = mimeType === 'text/html' || mimeType === 'application/xhtml+xml' ? 'html' : detectFormat(file)
  const doc = await parseFile(file, format, page.url, limits)
  return { title: doc.title, sections: doc.sections.map((s) => ({ ...s, location: { ...s.location, url: page.url } })) }
}

/** One page, or with sitemap (or when the URL turns out to be one) every page it lists, up to maxPages. */
export async function parseWeb(input: { url: string; sitemap?: boolean; maxPages?: number }, options: WebOptions, onProgress?: (fraction: number) => Promise<void> | void): Promise<ParsedDocument> {
  if (options.fetch) return readWeb(input, { ...options, fetch: options.fetch }, onProgress)
  const fetch = createImportFetch(options.net)
  try {
    return await readWeb(input, { ...options, fetch }, onProgress)
  } finally {
    await fetch.close()
  }
}

async function readWeb(input: { url: string; sitemap?: boolean; maxPages?: number }, options: WebOptions & { fetch: typeof fetch }, onProgress?: (fraction: number) => Promise<void> | void): Promise<ParsedDocument> {
  const maxPages = Math.max(1, Math.min(input.maxPages ?? options.maxPages, options.maxPages))
  const first = await fetchUrl(input.url, options)
  if (!input.sitemap && !isSitemap(first)) return parsePage(first, options.limits)
  if (!isSitemap(first)) throw urlError(input.url, 'it is not a sitemap (expected <urlset> or <sitemapindex> XML)', 'invalid_sitemap')

  const pages: string[] = []
  const seen = new Set<string>()
  const queue: Fetched[] = [first]
  let sitemapsRead = 0
  while (queue.length && pages.length < maxPages) {
    const sitemap = queue.shift()!
    const xml = sitemap.bytes.toString('utf8')
    const locs = [...xml.matchAll(/<loc>\s*([\s\S]*?)\s*<\/loc>/gi)].map((m) => decodeXml(m[1]!))
    if (/<sitemapindex\b/i.test(xml)) {
      for (const loc of locs) {
        if (sitemapsRead >= 20 || pages.length >= maxPages) break
        sitemapsRead++
        queue.push(await fetchUrl(new URL(loc, sitemap.url).toString(), options))
      }
      continue
    }
    for (const loc of locs) {
      const url = new URL(loc, sitemap.url).toString()
      if (seen.has(url)) continue
      seen.add(url)
      pages.push(url)
      if (pages.length >= maxPages) break
    }
  }
  if (pages.length === 0) throw urlError(input.url, 'the sitemap lists no pages', 'empty_source')

  const sections: ParsedSection[] = []
  for (const [i, url] of pages.entries()) {
    const doc = await parsePage(await fetchUrl(url, options), options.limits)
    for (const s of doc.sections) {
      const heading = [doc.title, s.heading].filter(Boolean).join(' › ')
      sections.push({ text: s.text, heading, location: { ...s.location, heading, url } })
    }
    await onProgress?.((i + 1) / pages.length)
  }
  return { title: `${new URL(first.url).hostname} (${pages.length} page${pages.length === 1 ? '' : 's'})`, sections }
}

function decodeXml(s: string): string {
  return s
    .replace(/^<!\[CDATA\[([\s\S]*)\]\]>$/, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')
}
