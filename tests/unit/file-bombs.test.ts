import { describe, expect, it } from 'vitest'
import { parseFile, parseLimits } from '../../adapters/files/formats.ts'
import { createDocumentParser } from '../../adapters/files/document-parser.ts'
import {
  ascii85Encode,
  buildDocx,
  buildPdf,
  docxBomb,
  heading,
  lzwBomb,
  lzwEncode,
  megabyteOfPdfText,
  pageText,
  paragraph,
  pdfBomb,
  runLengthEncode,
  zlibOf,
  zlibWithDamagedStart,
} from '../support/bomb-files.ts'
import { failure } from '../support/knowledge.ts'

const MB = 1024 * 1024

const tooLarge = (message: string | RegExp) => ({ status: 413, code: 'source_too_large', message: typeof message === 'string' ? message : expect.stringMatching(message) })

describe('a DOCX bomb is refused before it costs memory', () => {
  it('a 400 MB bomb of some 600 KB that declares its size: 413 at upload (formatOf) and when parsed', async () => {
    const bytes = docxBomb({ inflatedMb: 400 })
    expect(bytes.length).toBeLessThan(MB)
    const expected = tooLarge(/^"bomb\.docx" looks like a decompression bomb: "word\/document\.xml" inflates \d+ times \(\d+ KB to 400 MB\); at most 200 times is accepted$/)
    let thrown: unknown
    try {
      createDocumentParser().formatOf({ filename: 'bomb.docx', bytes })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toMatchObject(expected)
    expect(await failure(parseFile({ filename: 'bomb.docx', bytes }))).toEqual(expected)
  })

  it('a bomb whose directory declares 64 KB: accepted at upload, refused once it inflates past that', async () => {
    const bytes = docxBomb({ inflatedMb: 400, lie: true })
    expect(createDocumentParser().formatOf({ filename: 'liar.docx', bytes })).toBe('docx')
    expect(await failure(parseFile({ filename: 'liar.docx', bytes }))).toEqual({
      status: 422,
      code: 'corrupt_docx',
      message: '"liar.docx" is not a readable Word document: "word/document.xml" inflates to more than the 64 KB its ZIP directory declares',
    })
  })

  it('KNOWLEDGE_MAX_INFLATED_BYTES bounds an honest document too, and text and sections have their own limits', async () => {
    const manyHeadings = buildDocx({ body: [{ bytes: heading('Chapter') + paragraph('Some text.'), times: 300 }] })
    expect(await failure(parseFile({ filename: 'many.docx', bytes: manyHeadings }, 'docx', 'many.docx', parseLimits({ maxSections: 100 })))).toEqual(
      tooLarge('"many.docx" has more than 100 sections, the most one file may have; split it into smaller files'),
    )
    expect(await failure(parseFile({ filename: 'many.docx', bytes: manyHeadings }, 'docx', 'many.docx', parseLimits({ maxTextChars: 2000 })))).toEqual(tooLarge('"many.docx" has more than 2 KB of text, the limit for one file'))
    expect(await failure(parseFile({ filename: 'many.docx', bytes: manyHeadings }, 'docx', 'many.docx', parseLimits({ maxInflatedBytes: 8 * 1024 })))).toEqual(
      tooLarge(/^"many\.docx" inflates to more than 8 KB, the limit for one file \(its ZIP directory declares \d+ KB\)$/),
    )
    expect((await parseFile({ filename: 'many.docx', bytes: manyHeadings })).sections).toHaveLength(300)
  })
})

describe('a PDF bomb is refused before pdf.js reads it', () => {
  it('a page whose content stream inflates to 400 MB: 413 naming the stream limit', async () => {
    const bytes = pdfBomb({ inflatedMb: 400 })
    expect(bytes.length).toBeLessThan(2 * MB)
    expect(await failure(parseFile({ filename: 'bomb.pdf', bytes }))).toEqual(tooLarge('"bomb.pdf" has a stream that inflates to more than 16 MB, the limit for one stream'))
  })

  it('a bomb in a stream no page shows, in an image larger than its size, or behind a start zlib refuses', async () => {
    const page = [{ bytes: pageText(['The lamp is lit at dusk.']) }]
    const unused = buildPdf({ pages: [page], extraStreams: [{ data: [{ bytes: megabyteOfPdfText(), times: 20 }] }] })
    expect(await failure(parseFile({ filename: 'unused.pdf', bytes: unused }))).toMatchObject(tooLarge(/inflates to more than 16 MB/))
    const image = buildPdf({ pages: [page], extraStreams: [{ data: [{ bytes: Buffer.alloc(MB), times: 2 }], dictionary: '/Type /XObject /Subtype /Image /Width 100 /Height 100 /ColorSpace /DeviceRGB /BitsPerComponent 8' }] })
    expect(await failure(parseFile({ filename: 'image.pdf', bytes: image }))).toEqual(tooLarge('"image.pdf" has an image that inflates to more than 30 KB, more than its size needs or the limit of 64 MB'))
    // pdf.js reads a copy from before the start as zeros and goes on; zlib stops there, so the rest counts at deflate's most.
    const damaged = buildPdf({ pages: [{ encoded: zlibWithDamagedStart([{ bytes: megabyteOfPdfText(), times: 100 }]), filter: '/FlateDecode' }] })
    expect(await failure(parseFile({ filename: 'damaged.pdf', bytes: damaged }))).toMatchObject(tooLarge(/inflates to more than 16 MB/))
  })

  it('LZW, run-length and ASCII85-then-Flate bombs are measured through their filters', async () => {
    const lzw = buildPdf({ pages: [{ encoded: lzwBomb(3), filter: '/LZWDecode' }] })
    expect(await failure(parseFile({ filename: 'lzw.pdf', bytes: lzw }))).toMatchObject(tooLarge(/inflates to more than 16 MB/))
    const runs = Buffer.alloc(2 * Math.ceil((17 * MB) / 128), 0)
    for (let i = 0; i < runs.length; i += 2) runs[i] = 129 // 257 - 129 = 128 copies of the next byte
    const rl = buildPdf({ pages: [{ encoded: Buffer.concat([runs, Buffer.from([128])]), filter: '/RunLengthDecode' }] })
    expect(await failure(parseFile({ filename: 'rl.pdf', bytes: rl }))).toMatchObject(tooLarge(/inflates to more than 16 MB/))
    const chained = buildPdf({ pages: [{ encoded: ascii85Encode(zlibOf([{ bytes: megabyteOfPdfText(), times: 20 }])), filter: '[/ASCII85Decode /FlateDecode]' }] })
    expect(await failure(parseFile({ filename: 'a85.pdf', bytes: chained }))).toMatchObject(tooLarge(/inflates to more than 16 MB/))
  })

  it('streams that are each under the limit but together over KNOWLEDGE_MAX_INFLATED_BYTES: 413', async () => {
    const pages = [1, 2, 3].map(() => [{ bytes: megabyteOfPdfText(), times: 4 }])
    expect(await failure(parseFile({ filename: 'sum.pdf', bytes: buildPdf({ pages }) }, 'pdf', 'sum.pdf', parseLimits({ maxInflatedBytes: 10 * MB })))).toEqual(
      tooLarge('"sum.pdf" inflates to more than 10 MB, the limit for one file'),
    )
  })

  it('more pages than sections allowed, more text, or more time than allowed: refused without reading every page', async () => {
    const pages = [1, 2, 3, 4, 5].map((n) => [{ bytes: pageText([`Page ${n}: the ferry leaves at ${n} o'clock.`]) }])
    const bytes = buildPdf({ pages })
    expect(await failure(parseFile({ filename: 'five.pdf', bytes }, 'pdf', 'five.pdf', parseLimits({ maxSections: 3 })))).toEqual(tooLarge('"five.pdf" has 5 pages; at most 3 can be imported from one file'))
    expect(await failure(parseFile({ filename: 'five.pdf', bytes }, 'pdf', 'five.pdf', parseLimits({ maxTextChars: 60 })))).toEqual(tooLarge('"five.pdf" has more than 1 KB of text, the limit for one file'))
    // Pages that reuse one costly content stream are stopped by time; a limit already passed shows the error without waiting.
    expect(await failure(parseFile({ filename: 'five.pdf', bytes }, 'pdf', 'five.pdf', parseLimits({ maxParseMs: -1 })))).toEqual({
      status: 422,
      code: 'parse_timeout',
      message: '"five.pdf" takes longer than 0 s to read (stopped at page 1); split it into smaller files',
    })
  })

  it('ordinary generated PDFs, Flate, LZW and run-length, are read as before', async () => {
    const lines = ['The foghorn is tested on Mondays.', 'Visitors may climb the tower (126 steps).']
    const content = Buffer.from(pageText(lines))
    for (const [filter, encoded] of [
      ['/FlateDecode', zlibOf([{ bytes: content }])],
      ['/LZWDecode', lzwEncode(content)],
      ['/RunLengthDecode', runLengthEncode(content)],
    ] as const) {
      const doc = await parseFile({ filename: 'tower.pdf', bytes: buildPdf({ title: 'Tower', pages: [{ encoded, filter }] }) })
      expect(doc).toEqual({ title: 'Tower', sections: [{ text: lines.join('\n'), location: { page: 1 } }] })
    }
  })
})

describe('other files that cost more than their size', () => {
  it('a CSV with more rows than sections allowed: 413, reading stops one row past the limit', async () => {
    const csv = `name,price\n${Array.from({ length: 50 }, (_, i) => `item ${i},${i}`).join('\n')}\n`
    expect(await failure(parseFile({ filename: 'rows.csv', bytes: Buffer.from(csv) }, 'csv', 'rows.csv', parseLimits({ maxSections: 10 })))).toEqual(
      tooLarge('"rows.csv" has more than 10 sections (headings, pages or rows), the most one file may have; split it into smaller files'),
    )
    expect((await parseFile({ filename: 'rows.csv', bytes: Buffer.from(csv) }, 'csv', 'rows.csv', parseLimits({ maxSections: 50 }))).sections).toHaveLength(50)
  })
})

describe('HTML with more elements than one import may read', () => {
  const page = (elements: number) => Buffer.from(`<html><head><title>Many</title></head><body>${'<p>a</p>'.repeat(elements - 4)}</body></html>`)

  it('refuses a page of a million tiny elements with 413 before building its tree', async () => {
    // Only counted, never parsed: a tree of a million elements would take over a gigabyte.
    const failure = await parseFile({ filename: 'million.html', bytes: page(1_000_000) }).catch((e: unknown) => e)
    expect(failure).toMatchObject({ status: 413, code: 'source_too_large' })
    expect((failure as Error).message).toContain('"million.html" has more than 100,000 HTML elements')
  })

  it('reads a page at the limit and refuses one element more', async () => {
    const limits = parseLimits({ maxHtmlElements: 1000 })
    const atLimit = await parseFile({ filename: 'ok.html', bytes: page(1000) }, 'html', 'ok.html', limits)
    expect(atLimit.title).toBe('Many')
    await expect(parseFile({ filename: 'over.html', bytes: page(1001) }, 'html', 'over.html', limits)).rejects.toMatchObject({ status: 413 })
  })
})
