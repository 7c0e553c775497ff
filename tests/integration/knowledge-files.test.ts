import http from 'node:http'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import nock from 'nock'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_MAX_FILE_BYTES } from '../../core/knowledge/knowledge-service.ts'
import { runKb } from '../../bots/kb-cli.ts'
import { api, createOrg, startTestApp, waitFor, type TestApp, type TestOrg } from '../support/test-app.ts'
import { knowledgeFiles } from '../support/knowledge.ts'

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/files')
const fixture = (name: string) => readFile(path.join(FIXTURES, name))
const SITE = 'https://docs.harbor.example'

describe('knowledge from files and web pages, through the real app', () => {
  let t: TestApp
  let org: TestOrg
  beforeAll(async () => {
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    // Web pages are fetched through the global fetch, which nock answers, under the importer's address policy.
    t = await startTestApp({ overrides: { net: { fetch: (input, init) => fetch(input, init) } } })
    org = await createOrg(t, { name: 'Harbor' })
  })
  afterEach(() => nock.cleanAll())
  afterAll(async () => {
    nock.enableNetConnect()
    await t?.close()
  })

  const { upload, settled, chunksOf, rows } = knowledgeFiles(() => ({ t, org }))
  const search = async (q: string) => (await api(t, `/api/v1/knowledge/search?q=${encodeURIComponent(q)}`, { token: org.token })).json
  const ask = async (text: string) => (await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: `files-${Math.random().toString(36).slice(2)}`, text } })).json.messages[0]

  it('a PDF upload is queued (202), processed to ready, searchable and answered with its title and page', async () => {
    const res = await upload('guide.pdf', await fixture('guide.pdf'), 'application/pdf')
    expect(res.status).toBe(202)
    expect(res.json.source).toMatchObject({ title: 'guide.pdf', kind: 'file', status: 'queued' })
    const source = await settled(res.json.source.id)
    expect(source).toMatchObject({ status: 'ready', progress: 100, title: 'Lighthouse maintenance guide', error: null })
    expect(source.chunkCount).toBe(2)

    const found = await search('When is the foghorn tested?')
    expect(found.passages[0]).toMatchObject({ sourceId: source.id, title: 'Lighthouse maintenance guide', heading: 'Page 2' })
    const reply = await ask('When is the foghorn tested?')
    expect(reply.text).toContain('first Monday of every month')
    expect(reply.sources[0].title).toBe('Lighthouse maintenance guide › Page 2')
  })

  it('DOCX, CSV and Markdown uploads keep their headings and rows as the passage location', async () => {
    const docx = await upload('handbook.docx', await fixture('handbook.docx'))
    const csv = await upload('prices.csv', await fixture('prices.csv'), 'text/csv')
    const md = await upload('faq.md', await fixture('faq.md'))
    for (const r of [docx, csv, md]) expect((await settled(r.json.source.id)).status).toBe('ready')

    const refund = await ask('How many days do customers have to return an unused item?')
    expect(refund.text).toContain('within 30 days of delivery')
    expect(refund.sources[0].title).toBe('Returns handbook › Refund window')

    const price = (await search('Pro plan monthly price Priority chat')).passages[0]
    expect(price).toMatchObject({ title: 'prices.csv', heading: 'Row 3', text: 'Plan: Pro; Monthly price: 49 USD; Responses per month: 15000; Support: Priority chat' })

    const children = (await search('Do children under seven enter free?')).passages[0]
    expect(children).toMatchObject({ title: 'Harbor Lights FAQ', heading: 'Harbor Lights FAQ › Tickets › Children' })
  })

  it('re-uploading a changed file with the same name replaces its chunks', async () => {
    const first = await upload('notice.txt', Buffer.from('The gift shop sells postcards of the old lamp.'))
    await settled(first.json.source.id)
    // Once indexed, the uploaded bytes are not kept: the chunks are what search and re-embedding read.
    expect(await t.app.store.knowledge.sourceContent(org.organizationId, first.json.source.id)).toBeNull()
    const second = await upload('notice.txt', Buffer.from('The gift shop now sells woollen lighthouse scarves.'))
    expect(second.json.source.id).toBe(first.json.source.id)
    await waitFor(async () => (await settled(second.json.source.id)).status === 'ready' && (await search('woollen scarves gift shop')).passages[0]?.sourceId === first.json.source.id)
    const chunks = await t.app.db.prisma.knowledgeChunk.findMany({ where: { sourceId: first.json.source.id }, select: { text: true } })
    expect(chunks.map((c) => c.text)).toEqual(['The gift shop now sells woollen lighthouse scarves.'])
  })

  it('a web page by URL (nock): fetched, parsed, searchable with the page title', async () => {
    nock(SITE).get('/ferry').reply(200, await fixture('page.html'), { 'content-type': 'text/html; charset=utf-8' })
    const res = await api(t, '/api/v1/knowledge/urls', { token: org.token, body: { url: `${SITE}/ferry` } })
    expect(res.status).toBe(202)
    expect(res.json.source).toMatchObject({ kind: 'url', title: `${SITE}/ferry`, status: 'queued' })
    const source = await settled(res.json.source.id)
    expect(source).toMatchObject({ status: 'ready', title: 'Ferry timetable | Harbor Lights', chunkCount: 3 })
    const reply = await ask('When does the last ferry leave in winter?')
    expect(reply.text).toContain('19:15')
    expect(reply.sources[0].title).toBe('Ferry timetable | Harbor Lights › Ferry timetable › Winter schedule')
  })

  it('a sitemap: pages up to maxPages are imported into one source, the rest are not fetched', async () => {
    nock(SITE).get('/sitemap.xml').reply(200, await fixture('sitemap.xml'), { 'content-type': 'application/xml' })
    nock(SITE).get('/ferry').reply(200, await fixture('page.html'), { 'content-type': 'text/html' })
    nock(SITE).get('/museum').reply(200, '<title>Museum</title><main><h1>Lens gallery</h1><p>The gallery shows a first-order Fresnel lens from 1854.</p></main>', { 'content-type': 'text/html' })
    const parking = nock(SITE).get('/parking').reply(200, '<p>Never fetched</p>')
    const res = await api(t, '/api/v1/knowledge/urls', { token: org.token, body: { url: `${SITE}/sitemap.xml`, sitemap: true, maxPages: 2 } })
    expect(res.status).toBe(202)
    const source = await settled(res.json.source.id)
    expect(source).toMatchObject({ status: 'ready', title: 'docs.harbor.example (2 pages)', chunkCount: 4 })
    expect(parking.isDone()).toBe(false)
    const lens = (await search('Fresnel lens gallery')).passages[0]
    expect(lens).toMatchObject({ sourceId: source.id, heading: 'Museum › Lens gallery' })
  })

  it('a URL that fails (404, timeout) leaves a failed source naming the URL and no chunks', async () => {
    nock(SITE).get('/missing').reply(404)
    const res = await api(t, '/api/v1/knowledge/urls', { token: org.token, body: { url: `${SITE}/missing` } })
    const source = await settled(res.json.source.id)
    expect(source).toMatchObject({ status: 'failed', error: `Could not import ${SITE}/missing: the server answered HTTP 404 Not Found`, chunkCount: 0 })
    expect(await chunksOf(source.id)).toBe(0)
  })

  it('bad URL requests are refused with 422 and write nothing', async () => {
    const before = await rows()
    expect((await api(t, '/api/v1/knowledge/urls', { token: org.token, body: { url: 'not a url' } })).status).toBe(422)
    expect((await api(t, '/api/v1/knowledge/urls', { token: org.token, body: { url: 'ftp://example.com/x' } })).json.error.code).toBe('invalid_url')
    expect((await api(t, '/api/v1/knowledge/urls', { token: org.token, body: { url: `${SITE}/a`, maxPages: 0 } })).status).toBe(422)
    expect(await rows()).toEqual(before)
  })

  it('an encrypted PDF and a corrupt PDF: accepted, then failed with the reason and zero chunks', async () => {
    const encrypted = await upload('encrypted.pdf', await fixture('encrypted.pdf'))
    const corrupt = await upload('corrupt.pdf', await fixture('corrupt.pdf'))
    expect([encrypted.status, corrupt.status]).toEqual([202, 202])
    const e = await settled(encrypted.json.source.id)
    const c = await settled(corrupt.json.source.id)
    expect(e).toMatchObject({ status: 'failed', chunkCount: 0, error: '"encrypted.pdf" is password-protected (encrypted); remove the password and upload it again' })
    expect(c).toMatchObject({ status: 'failed', chunkCount: 0, error: expect.stringMatching(/^"corrupt\.pdf" is not a readable PDF/) })
    expect(await chunksOf(e.id)).toBe(0)
    expect(await chunksOf(c.id)).toBe(0)
  })

  it('an unsupported type is refused with 415 and an empty file with 422; nothing is written', async () => {
    const before = await rows()
    const gif = await upload('pixel.gif', await fixture('pixel.gif'), 'image/gif')
    expect(gif.status).toBe(415)
    expect(gif.json.error).toEqual({ code: 'unsupported_format', message: expect.stringContaining('"pixel.gif" cannot be imported: it is a GIF image') })
    const empty = await upload('empty.txt', Buffer.alloc(0))
    expect(empty.status).toBe(422)
    expect(empty.json.error).toEqual({ code: 'empty_source', message: '"empty.txt" is empty: the file has no bytes' })
    const json = await api(t, '/api/v1/knowledge/files', { token: org.token, body: { file: 'x' } })
    expect(json.status).toBe(415)
    expect(await rows()).toEqual(before)
  })

  it('a file over the limit gets 413 and leaves no source rows, whether its length is declared or streamed', async () => {
    const before = await rows()
    const big = await upload('big.txt', Buffer.alloc(DEFAULT_MAX_FILE_BYTES + 1, 'a'))
    expect(big.status).toBe(413)
    expect(big.json.error.code).toBe('source_too_large')

    // Chunked, no Content-Length: the limit is enforced while reading; the rest is read and dropped,
    // never kept, and the answer is 413 with nothing stored.
    const boundary = 'sb-test-boundary'
    const chunk = Buffer.alloc(1024 * 1024, 'b')
    let sent = 0
    const total = 40
    // node:http rather than fetch: the server answers and closes while the client is still
    // sending, and the client must still be able to read that early answer.
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const url = new URL(`${t.url}/api/v1/knowledge/files`)
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${org.token}`, 'content-type': `multipart/form-data; boundary=${boundary}` } })
      let answered = false
      req.on('response', (res) => {
        answered = true
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      })
      req.on('error', (error) => {
        if (!answered) setTimeout(() => (answered ? undefined : reject(error)), 500) // EPIPE after the answer is expected
      })
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="stream.txt"\r\nContent-Type: text/plain\r\n\r\n`)
      const pump = () => {
        while (!answered && sent < total) {
          sent++
          if (!req.write(chunk)) return void req.once('drain', pump)
        }
        if (!answered) req.end(`\r\n--${boundary}--\r\n`)
      }
      pump()
    })
    expect(status).toBe(413)
    expect((JSON.parse(text) as { error: { message: string } }).error.message).toContain('"stream.txt" is larger than the limit')
    expect(sent).toBeGreaterThan(10) // more than the limit was sent; the server read past it without keeping it
    expect(await rows()).toEqual(before)
  })

  it('a member cannot upload or import', async () => {
    const { hashPassword } = await import('../../core/security/passwords.ts')
    const user = await t.app.store.users.create({ email: 'files-member@example.com', name: 'Member', passwordHash: await hashPassword('member password') })
    await t.app.store.users.addMembership({ organizationId: org.organizationId, userId: user.id, role: 'member' })
    const token = (await api(t, '/api/v1/auth/login', { body: { email: 'files-member@example.com', password: 'member password' } })).json.token
    const form = new FormData()
    form.append('file', new Blob(['hello']), 'hello.txt')
    const res = await fetch(`${t.url}/api/v1/knowledge/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    expect(res.status).toBe(403)
    expect((await api(t, '/api/v1/knowledge/urls', { token, body: { url: `${SITE}/x` } })).status).toBe(403)
  })

  describe('npm run kb', () => {
    const capture = () => {
      const out: string[] = []
      const err: string[] = []
      return { out, err, io: { out: { write: (s: string) => out.push(s) }, err: { write: (s: string) => err.push(s) }, env: {}, pollMs: 20 } }
    }
    const login = () => ['--url', t.url, '--email', org.email, '--password', org.password]

    it('import <path> uploads, draws the progress bar and ends ready', async () => {
      const c = capture()
      const code = await runKb(['import', path.join(FIXTURES, 'parking.txt'), ...login()], c.io)
      expect(c.err.join('')).toBe('')
      expect(code).toBe(0)
      const out = c.out.join('')
      expect(out).toMatch(/^Importing parking\.txt \(/)
      expect(out).toContain('[##########] 100% ready')
      expect(out).toContain('Ready: "parking.txt", 1 chunks.')
    })

    it('import <url> posts the URL; a failed import prints the reason and exits 1', async () => {
      nock(SITE).get('/broken.pdf').reply(200, await fixture('corrupt.pdf'), { 'content-type': 'application/pdf' })
      const c = capture()
      const code = await runKb(['import', `${SITE}/broken.pdf`, ...login()], c.io)
      expect(code).toBe(1)
      expect(c.err.join('')).toMatch(/^Failed: ".+broken\.pdf" is not a readable PDF/)
    })

    it('list shows every source with its status', async () => {
      const c = capture()
      expect(await runKb(['list', ...login()], c.io)).toBe(0)
      const out = c.out.join('')
      expect(out).toMatch(/ready\s+100%\s+2 chunks {2}Lighthouse maintenance guide/)
      expect(out).toMatch(/failed .*encrypted\.pdf[\s\S]*password-protected/)
    })

    it('a file that does not exist is a clear error', async () => {
      await expect(runKb(['import', '/no/such/file.pdf', ...login()], capture().io)).rejects.toThrow('/no/such/file.pdf: no such file')
    })
  })
})
