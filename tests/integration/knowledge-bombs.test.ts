import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'
import { knowledgeFiles, type Source } from '../support/knowledge.ts'
import { buildDocx, docxBomb, gzipOf, heading, paragraph, pdfBomb } from '../support/bomb-files.ts'

const MAX_SECTIONS = 50

describe('decompression bombs and oversized documents, through the real app', () => {
  let t: TestApp
  let org: TestOrg
  beforeAll(async () => {
    t = await startTestApp({ env: { KNOWLEDGE_MAX_SECTIONS: String(MAX_SECTIONS) } })
    org = await createOrg(t, { name: 'Bombs' })
  })
  afterAll(async () => {
    await t?.close()
  })

  const { upload, settled, chunksOf, rows } = knowledgeFiles(() => ({ t, org }))
  const failsWith = async (res: { status: number; json: { source: Source } }, error: string | RegExp) => {
    expect(res.status).toBe(202)
    const source = await settled(res.json.source.id)
    expect(source).toMatchObject({ status: 'failed', chunkCount: 0, error: typeof error === 'string' ? error : expect.stringMatching(error) })
    expect(await chunksOf(source.id)).toBe(0)
  }

  it('a DOCX of some 600 KB that inflates to 400 MB is refused at upload with 413; nothing is stored', async () => {
    const before = await rows()
    const res = await upload('bomb.docx', docxBomb({ inflatedMb: 400 }))
    expect(res.status).toBe(413)
    expect(res.json.error).toEqual({ code: 'source_too_large', message: expect.stringMatching(/^"bomb\.docx" looks like a decompression bomb: "word\/document\.xml" inflates \d+ times \(\d+ KB to 400 MB\)/) })
    expect(await rows()).toEqual(before)
  })

  it('a DOCX whose directory declares 64 KB for those 400 MB: accepted, then failed with the reason and no chunks', async () => {
    await failsWith(await upload('liar.docx', docxBomb({ inflatedMb: 400, lie: true })), '"liar.docx" is not a readable Word document: "word/document.xml" inflates to more than the 64 KB its ZIP directory declares')
  })

  it('a PDF whose content stream inflates to 400 MB: failed with the reason before pdf.js reads it, no chunks', async () => {
    await failsWith(await upload('bomb.pdf', pdfBomb({ inflatedMb: 400 })), '"bomb.pdf" has a stream that inflates to more than 16 MB, the limit for one stream')
  })

  it('more sections or passages than KNOWLEDGE_MAX_SECTIONS: failed naming the limit, no chunks, whatever the plan allows', async () => {
    const csv = `name,price\n${Array.from({ length: MAX_SECTIONS + 30 }, (_, i) => `item ${i},${i}`).join('\n')}\n`
    await failsWith(await upload('rows.csv', Buffer.from(csv)), `"rows.csv" has more than ${MAX_SECTIONS} sections (headings, pages or rows), the most one file may have; split it into smaller files`)
    const docx = buildDocx({ body: [{ bytes: heading('Chapter') + paragraph('Text of the chapter.'), times: MAX_SECTIONS + 10 }] })
    await failsWith(await upload('chapters.docx', docx), /^"chapters\.docx" has more than 50 sections/)
    // One section of text that makes more passages than allowed: the knowledge service's own count.
    const long = Array.from({ length: 120 }, (_, i) => `Paragraph ${i}: ${'the lighthouse keeper writes the log every evening. '.repeat(20)}`).join('\n\n')
    const res = await api(t, '/api/v1/knowledge/sources', { token: org.token, body: { title: 'Long log', kind: 'text', content: long } })
    await failsWith(res, /^"Long log" has \d+ passages; at most 50 can come from one source: split it into smaller files$/)
  })

  it('after every bomb the process still imports and answers', async () => {
    const res = await upload('hours.docx', buildDocx({ body: [{ bytes: heading('Opening hours') + paragraph('The museum opens at ten and closes at six.') }] }))
    expect(res.status).toBe(202)
    expect(await settled(res.json.source.id)).toMatchObject({ status: 'ready', chunkCount: 1, title: 'Opening hours' })
    const found = (await api(t, `/api/v1/knowledge/search?q=${encodeURIComponent('When does the museum open?')}`, { token: org.token })).json
    expect(found.passages[0]).toMatchObject({ sourceId: res.json.source.id })
    expect((await api(t, '/healthz')).status).toBe(200)
  })

  describe('compressed request bodies: the size limit applies to what they inflate to', () => {
    const MAX_BODY = 1_048_576
    const post = (body: Buffer, headers: Record<string, string>) =>
      fetch(`${t.url}/api/v1/knowledge/sources${headers['content-type'] === 'text/markdown' ? '?title=Gzipped' : ''}`, { method: 'POST', headers: { authorization: `Bearer ${org.token}`, ...headers }, body: new Uint8Array(body) })

    it('a gzip JSON body of some 100 KB that inflates to 64 MB: 413, nothing written; a small gzip body works', async () => {
      const before = await rows()
      const bomb = gzipOf([{ bytes: '{"title":"Bomb","kind":"text","content":"' }, { bytes: 'a'.repeat(1024 * 1024), times: 64 }, { bytes: '"}' }])
      expect(bomb.length).toBeLessThan(200 * 1024)
      const res = await post(bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
      expect(res.status).toBe(413)
      expect(((await res.json()) as { error: unknown }).error).toEqual({ code: 'payload_too_large', message: `The request body is larger than ${MAX_BODY} bytes` })
      expect(await rows()).toEqual(before)

      const small = gzipOf([{ bytes: JSON.stringify({ title: 'Gzipped note', kind: 'text', content: 'The gift shop sells postcards.' }) }])
      const ok = await post(small, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
      expect(ok.status).toBe(202)
      expect(await settled(((await ok.json()) as { source: Source }).source.id)).toMatchObject({ status: 'ready', title: 'Gzipped note' })
    })

    it('a gzip or deflate text/markdown body that inflates past the limit: 413, nothing written, the server stays up', async () => {
      const before = await rows()
      const text = [{ bytes: '# Bomb\n\n' }, { bytes: 'lighthouse '.repeat(100_000), times: 40 }]
      const gzip = await post(gzipOf(text), { 'content-type': 'text/markdown', 'content-encoding': 'gzip' })
      expect(gzip.status).toBe(413)
      expect(((await gzip.json()) as { error: { code: string } }).error.code).toBe('payload_too_large')
      const { deflateSync } = await import('node:zlib')
      const deflate = await post(deflateSync(Buffer.from('# Bomb\n\n' + 'lighthouse '.repeat(200_000))), { 'content-type': 'text/markdown', 'content-encoding': 'deflate' })
      expect(deflate.status).toBe(413)
      expect(await rows()).toEqual(before)
      expect((await api(t, '/healthz')).status).toBe(200)
    })
  })
})
