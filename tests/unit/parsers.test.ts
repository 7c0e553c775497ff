import { readFile } from 'node:fs/promises'
import path from 'node:path'
import nock from 'nock'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { detectFormat, parseFile } from '../../adapters/files/formats.ts'
import { parseWeb } from '../../adapters/files/web.ts'
import { createDocumentParser } from '../../adapters/files/document-parser.ts'
import { buildDocx, heading, paragraph } from '../support/bomb-files.ts'
import { failure } from '../support/knowledge.ts'

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/files')
const fixture = (name: string) => readFile(path.join(FIXTURES, name))
const file = async (name: string, mimeType?: string) => ({ filename: name, bytes: await fixture(name), ...(mimeType ? { mimeType } : {}) })


describe('file formats', () => {
  it('PDF (made with LibreOffice): one section per page with its page number, the title from the metadata', async () => {
    const doc = await parseFile(await file('guide.pdf'))
    expect(doc.title).toBe('Lighthouse maintenance guide')
    expect(doc.sections.map((s) => s.location)).toEqual([{ page: 1 }, { page: 2 }])
    expect(doc.sections[0]!.text).toContain('cleaned every Tuesday morning')
    expect(doc.sections[1]!.text).toContain('foghorn is tested on the first Monday')
  })

  it('DOCX (made with LibreOffice): headings become the heading path of their sections', async () => {
    const doc = await parseFile(await file('handbook.docx'))
    expect(doc.title).toBe('Returns handbook')
    expect(doc.sections.map((s) => s.heading)).toEqual(['Returns handbook', 'Returns handbook › Refund window', 'Returns handbook › Damaged parcels'])
    expect(doc.sections[1]).toMatchObject({ text: expect.stringContaining('within 30 days of delivery'), location: { heading: 'Returns handbook › Refund window' } })
  })

  it('Markdown: sections by heading with the full path, the title from the first H1', async () => {
    const doc = await parseFile(await file('faq.md'))
    expect(doc.title).toBe('Harbor Lights FAQ')
    expect(doc.sections.at(-1)).toEqual({ text: expect.stringContaining('Children under seven enter free'), heading: 'Harbor Lights FAQ › Tickets › Children', location: { heading: 'Harbor Lights FAQ › Tickets › Children' } })
  })

  it('TXT: the text with its paragraphs, titled by the file name', async () => {
    const doc = await parseFile(await file('parking.txt'))
    expect(doc).toEqual({ title: 'parking.txt', sections: [{ text: expect.stringContaining('forty spaces and costs 2 EUR per hour'), location: {} }] })
    expect(doc.sections[0]!.text.split('\n\n')).toHaveLength(3)
  })

  it('CSV: each row a passage with the header kept as context, and its spreadsheet row number', async () => {
    const doc = await parseFile(await file('prices.csv'))
    expect(doc.sections).toEqual([
      { text: 'Plan: Basic; Monthly price: 19 USD; Responses per month: 5000; Support: Email', location: { row: 2 } },
      { text: 'Plan: Pro; Monthly price: 49 USD; Responses per month: 15000; Support: Priority chat', location: { row: 3 } },
      { text: 'Plan: Enterprise; Monthly price: Contact sales; Responses per month: Unlimited; Support: Dedicated manager', location: { row: 4 } },
    ])
  })

  it('CSV with semicolons, quotes and Cyrillic in Windows-1251 still reads as rows', async () => {
    const text = 'Город;Адрес\r\nМосква;"ул. Тверская, 1"\r\nКазань;ул. Баумана, 5\r\n'
    const bytes = Buffer.from(new Uint8Array([...text].map((ch) => (ch.charCodeAt(0) >= 0x410 ? ch.charCodeAt(0) - 0x410 + 0xc0 : ch.charCodeAt(0)))))
    const doc = await parseFile({ filename: 'cities.csv', bytes })
    expect(doc.sections.map((s) => s.text)).toEqual(['Город: Москва; Адрес: ул. Тверская, 1', 'Город: Казань; Адрес: ул. Баумана, 5'])
  })

  it('HTML: scripts, styles, navigation and footer dropped; headings kept as section headings', async () => {
    const doc = await parseFile(await file('page.html'))
    expect(doc.title).toBe('Ferry timetable | Harbor Lights')
    const all = doc.sections.map((s) => s.text).join('\n')
    expect(all).not.toMatch(/tracking|not indexed|font-family|menu link|Copyright/)
    expect(doc.sections.map((s) => s.heading)).toEqual(['Ferry timetable', 'Ferry timetable › Winter schedule', 'Ferry timetable › Bikes and dogs'])
    expect(doc.sections[1]!.text).toContain('the last ferry leaves at 19:15')
    expect(doc.sections[2]!.text).toContain('- Dogs on a lead travel free.')
  })

  it('HTML tables: each row named by its header cells', async () => {
    const html = '<h1>Fares</h1><table><tr><th>Ticket</th><th>Price</th></tr><tr><td>Adult</td><td>8 EUR</td></tr></table>'
    const doc = await parseFile({ filename: 'fares.html', bytes: Buffer.from(html) })
    expect(doc.sections).toEqual([{ text: 'Ticket: Adult; Price: 8 EUR', heading: 'Fares', location: { heading: 'Fares' } }])
  })

  it('detects the type by first bytes and content type, not only by extension', async () => {
    expect(detectFormat({ filename: 'download', bytes: await fixture('guide.pdf') })).toBe('pdf')
    expect(detectFormat({ filename: 'upload.bin', mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', bytes: await fixture('handbook.docx') })).toBe('docx')
    expect(detectFormat({ filename: 'notes', mimeType: 'text/markdown', bytes: Buffer.from('# Hi') })).toBe('markdown')
    expect(detectFormat({ filename: 'page', bytes: Buffer.from('<!DOCTYPE html><p>x</p>') })).toBe('html')
    // A PDF renamed to .txt is still a PDF.
    expect(detectFormat({ filename: 'guide.txt', bytes: await fixture('guide.pdf') })).toBe('pdf')
  })

  describe('every failure names the file and the reason', () => {
    it('an unsupported type: 415 unsupported_format', async () => {
      expect(await failure(parseFile(await file('pixel.gif')))).toEqual({ status: 415, code: 'unsupported_format', message: expect.stringMatching(/"pixel\.gif" cannot be imported: it is a GIF image/) })
      expect(await failure(parseFile(await file('sitemap.xml')))).toMatchObject({ status: 415, code: 'unsupported_format', message: expect.stringContaining('"sitemap.xml"') })
      expect(await failure(parseFile({ filename: 'sheet.xlsx', bytes: await fixture('handbook.docx') }))).toMatchObject({ status: 415, message: expect.stringContaining('not a Word document') })
      expect(() => createDocumentParser().formatOf({ filename: 'archive.zip', bytes: Buffer.from('PK\x03\x04rest') })).toThrow(/"archive\.zip" cannot be imported/)
    })

    it('an encrypted PDF: 422 encrypted_pdf', async () => {
      expect(await failure(parseFile(await file('encrypted.pdf')))).toEqual({ status: 422, code: 'encrypted_pdf', message: '"encrypted.pdf" is password-protected (encrypted); remove the password and upload it again' })
    })

    it('a corrupt (truncated) PDF: 422 corrupt_pdf', async () => {
      expect(await failure(parseFile(await file('corrupt.pdf')))).toEqual({ status: 422, code: 'corrupt_pdf', message: expect.stringMatching(/^"corrupt\.pdf" is not a readable PDF/) })
      expect(await failure(parseFile({ filename: 'fake.pdf', bytes: Buffer.from('this is not a pdf at all') }))).toMatchObject({ status: 422, code: 'corrupt_pdf' })
    })

    it('a corrupt DOCX: 422 corrupt_docx', async () => {
      const bytes = (await fixture('handbook.docx')).subarray(0, 1500)
      expect(await failure(parseFile({ filename: 'broken.docx', bytes }))).toMatchObject({ status: 422, code: 'corrupt_docx', message: expect.stringContaining('"broken.docx" is not a readable Word document') })
    })

    it('an empty file, a PDF without text, a CSV with only a header: 422 empty_source', async () => {
      expect(await failure(parseFile(await file('empty.txt')))).toEqual({ status: 422, code: 'empty_source', message: '"empty.txt" is empty: the file has no bytes' })
      expect(await failure(parseFile(await file('blank.pdf')))).toMatchObject({ status: 422, code: 'empty_source', message: expect.stringContaining('"blank.pdf" is empty: the PDF has no text layer') })
      expect(await failure(parseFile({ filename: 'header.csv', bytes: Buffer.from('a,b,c\n') }))).toMatchObject({ status: 422, code: 'empty_source', message: expect.stringContaining('"header.csv"') })
      expect(await failure(parseFile({ filename: 'blank.md', bytes: Buffer.from('\n\n   \n') }))).toMatchObject({ status: 422, code: 'empty_source' })
      expect(await failure(parseFile({ filename: 'chrome.html', bytes: Buffer.from('<nav>Home</nav><script>x()</script>') }))).toMatchObject({ status: 422, code: 'empty_source' })
    })
  })
})

describe('web pages and sitemaps (nock, no network)', () => {
  const SITE = 'https://docs.harbor.example'
  // The importer's safe fetch sends through the global fetch, which nock answers; no name is resolved.
  // The time limit is generous: the first fetch of the process loads Node's fetch, which takes
  // hundreds of milliseconds on a busy machine. Only the slow server's case has a short one.
  const web = { maxBytes: 100_000, timeoutMs: 30_000, maxPages: 10, net: { fetch: (input: string | URL | Request, init?: RequestInit) => fetch(input, init), lookup: () => Promise.reject(new Error('no DNS in this test')) } }
  beforeAll(() => nock.disableNetConnect())
  afterEach(() => nock.cleanAll())
  afterAll(() => nock.enableNetConnect())

  it('one page by URL: its sections carry the URL', async () => {
    nock(SITE).get('/ferry').reply(200, await fixture('page.html'), { 'content-type': 'text/html; charset=utf-8' })
    const doc = await parseWeb({ url: `${SITE}/ferry` }, web)
    expect(doc.title).toBe('Ferry timetable | Harbor Lights')
    expect(doc.sections[1]).toMatchObject({ heading: 'Ferry timetable › Winter schedule', location: { url: `${SITE}/ferry`, heading: 'Ferry timetable › Winter schedule' } })
  })

  it('a PDF behind a URL is read as a PDF', async () => {
    nock(SITE).get('/guide.pdf').reply(200, await fixture('guide.pdf'), { 'content-type': 'application/pdf' })
    const doc = await parseWeb({ url: `${SITE}/guide.pdf` }, web)
    expect(doc.sections[1]!.location).toEqual({ page: 2, url: `${SITE}/guide.pdf` })
  })

  it('a sitemap: every page it lists, up to the page limit, with progress', async () => {
    nock(SITE).get('/sitemap.xml').reply(200, await fixture('sitemap.xml'), { 'content-type': 'application/xml' })
    nock(SITE).get('/ferry').reply(200, await fixture('page.html'), { 'content-type': 'text/html' })
    nock(SITE).get('/museum').reply(200, '<title>Museum</title><h1>Museum</h1><p>The museum shows lenses from 1850.</p>', { 'content-type': 'text/html' })
    const third = nock(SITE).get('/parking').reply(200, '<p>never fetched</p>')
    const progress: number[] = []
    const doc = await parseWeb({ url: `${SITE}/sitemap.xml`, sitemap: true, maxPages: 2 }, web, (f) => void progress.push(f))
    expect(doc.title).toBe('docs.harbor.example (2 pages)')
    expect(new Set(doc.sections.map((s) => s.location.url))).toEqual(new Set([`${SITE}/ferry`, `${SITE}/museum`]))
    expect(doc.sections.at(-1)).toMatchObject({ heading: 'Museum › Museum', text: 'The museum shows lenses from 1850.' })
    expect(progress).toEqual([0.5, 1])
    expect(third.isDone()).toBe(false)
  })

  it('a URL that serves a sitemap is followed even without sitemap: true', async () => {
    nock(SITE).get('/sitemap.xml').reply(200, '<?xml version="1.0"?><urlset><url><loc>https://docs.harbor.example/a</loc></url></urlset>', { 'content-type': 'text/xml' })
    nock(SITE).get('/a').reply(200, '<h1>A</h1><p>Alpha page.</p>', { 'content-type': 'text/html' })
    expect((await parseWeb({ url: `${SITE}/sitemap.xml` }, web)).sections).toHaveLength(1)
  })

  it('failures name the URL: non-200, network error, timeout, too large, private address, not a sitemap', async () => {
    nock(SITE).get('/gone').reply(404)
    expect(await failure(parseWeb({ url: `${SITE}/gone` }, web))).toEqual({ status: 422, code: 'url_failed', message: `Could not import ${SITE}/gone: the server answered HTTP 404 Not Found` })
    nock(SITE).get('/down').replyWithError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' })
    expect(await failure(parseWeb({ url: `${SITE}/down` }, web))).toMatchObject({ status: 422, code: 'url_failed', message: expect.stringContaining(`${SITE}/down: the request failed`) })
    nock(SITE).get('/slow').delay(2000).reply(200, '<p>late</p>')
    expect(await failure(parseWeb({ url: `${SITE}/slow` }, { ...web, timeoutMs: 300 }))).toEqual({ status: 422, code: 'url_timeout', message: `Could not import ${SITE}/slow: no answer within 300 ms` })
    nock(SITE).get('/huge').reply(200, 'x'.repeat(100_001), { 'content-type': 'text/plain' })
    expect(await failure(parseWeb({ url: `${SITE}/huge` }, web))).toMatchObject({ status: 413, code: 'source_too_large', message: expect.stringContaining(`${SITE}/huge`) })
    expect(await failure(parseWeb({ url: 'http://169.254.169.254/latest/meta-data' }, web))).toMatchObject({ status: 422, code: 'url_forbidden' })
    expect(await failure(parseWeb({ url: 'file:///etc/passwd' }, web))).toMatchObject({ status: 422, code: 'invalid_url' })
    nock(SITE).get('/plain').reply(200, '<h1>Just a page</h1>', { 'content-type': 'text/html' })
    expect(await failure(parseWeb({ url: `${SITE}/plain`, sitemap: true }, web))).toMatchObject({ status: 422, code: 'invalid_sitemap' })
  })

  it('a sitemap page that fails fails the whole import with that page named', async () => {
    nock(SITE).get('/sitemap.xml').reply(200, await fixture('sitemap.xml'), { 'content-type': 'application/xml' })
    nock(SITE).get('/ferry').reply(200, await fixture('page.html'), { 'content-type': 'text/html' })
    nock(SITE).get('/museum').reply(500)
    expect(await failure(parseWeb({ url: `${SITE}/sitemap.xml`, sitemap: true }, web))).toMatchObject({ status: 422, message: `Could not import ${SITE}/museum: the server answered HTTP 500 Internal Server Error` })
  })
})

describe('text PostgreSQL cannot store, in files', () => {
  it('drops NUL characters and replaces unpaired surrogates in what a file yields, so its chunks can be written', async () => {
    // A Word document can carry both: a raw NUL in its XML, and a character reference to half a surrogate pair.
    const docx = buildDocx({ body: [{ bytes: heading('Tea\u0000 menu') + paragraph('Green tea\u0000 &#xD800; and black tea.') }] })
    const doc = await createDocumentParser().parse({ kind: 'file', filename: 'menu.docx', bytes: docx })
    const all = [doc.title, ...doc.sections.flatMap((s) => [s.text, s.heading ?? '', JSON.stringify(s.location)])].join('\n')
    expect(all).not.toContain('\u0000')
    expect(all).not.toMatch(/[\uD800-\uDFFF]/)
    expect(doc.sections.map((s) => s.text).join('\n')).toContain('Green tea \uFFFD and black tea.')
    expect(doc.sections[0]!.heading).toBe('Tea menu')
  })
})
