import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { AppError } from '../../core/errors.ts'
import { DEFAULT_ZIP_LIMITS, inflateEntry, readZipDirectory, type ZipLimits } from '../../adapters/files/zip-guard.ts'
import { buildZip, docxBomb, megabyteOfParagraphs } from '../support/bomb-files.ts'

const MB = 1024 * 1024
const limits: ZipLimits = { ...DEFAULT_ZIP_LIMITS, maxInflatedBytes: 200 * MB }
const errors = { name: 'test.zip', damaged: (why: string) => new AppError('damaged_file', `"test.zip" is damaged: ${why}`, 422) }

function failure(run: () => unknown) {
  try {
    run()
  } catch (error) {
    const e = error as AppError
    return { status: e.status, code: e.code, message: e.message }
  }
  throw new Error('expected a failure')
}

/** Everything an entry inflates to, and how much of it arrived before a failure. */
async function inflate(bytes: Buffer, entry: ReturnType<typeof readZipDirectory>[number]) {
  let received = 0
  const pieces: Buffer[] = []
  try {
    await inflateEntry(bytes, entry, errors, (piece) => {
      received += piece.length
      if (received <= MB) pieces.push(piece)
    })
    return { received, text: Buffer.concat(pieces).toString('utf8') }
  } catch (error) {
    return { received, error: (error as AppError).message }
  }
}

describe('ZIP guard: the central directory is checked before anything is inflated', () => {
  it('reads the entries of a real DOCX and of a hand-built archive, with their sizes', async () => {
    const docx = await readFile(path.resolve(import.meta.dirname, '../fixtures/files/handbook.docx'))
    const entries = readZipDirectory(docx, limits, errors)
    expect(entries.map((e) => e.name)).toContain('word/document.xml')
    const document = entries.find((e) => e.name === 'word/document.xml')!
    expect(document).toMatchObject({ method: 8, uncompressedSize: 2676 })
    expect((await inflate(docx, document)).text).toContain('within 30 days of delivery')

    const zip = buildZip([
      { name: 'a.txt', parts: [{ bytes: 'hello ', times: 3 }] },
      { name: 'b.bin', parts: [{ bytes: Buffer.from([1, 2, 3]) }], method: 'store' },
    ])
    const [a, b] = readZipDirectory(zip, limits, errors)
    expect(a).toMatchObject({ name: 'a.txt', method: 8, uncompressedSize: 18 })
    expect(b).toMatchObject({ name: 'b.bin', method: 0, uncompressedSize: 3, compressedSize: 3 })
    expect((await inflate(zip, a!)).text).toBe('hello hello hello ')
  })

  it('a 400 MB bomb that declares its size is refused from the directory alone: 413, inflating nothing', () => {
    const bomb = docxBomb({ inflatedMb: 400 })
    expect(bomb.length).toBeLessThan(2 * MB)
    expect(failure(() => readZipDirectory(bomb, limits, errors))).toEqual({
      status: 413,
      code: 'source_too_large',
      message: expect.stringMatching(/^"test\.zip" looks like a decompression bomb: "word\/document\.xml" inflates \d+ times \(\d+ KB to 400 MB\); at most 200 times is accepted$/),
    })
  })

  it('entries that together declare more than the limit: 413 naming the limit and the declared size', () => {
    const zip = buildZip([1, 2, 3].map((i) => ({ name: `part${i}.xml`, parts: [{ bytes: megabyteOfParagraphs() }], declaredSize: 90 * MB })))
    expect(failure(() => readZipDirectory(zip, { ...limits, maxRatio: 1e9 }, errors))).toEqual({
      status: 413,
      code: 'source_too_large',
      message: '"test.zip" inflates to more than 200 MB, the limit for one file (its ZIP directory declares 270 MB)',
    })
  })

  it('a directory that lies about a size is caught while inflating, after no more than it declared', async () => {
    const bomb = docxBomb({ inflatedMb: 400, lie: true })
    const document = readZipDirectory(bomb, limits, errors).find((e) => e.name === 'word/document.xml')!
    expect(document.uncompressedSize).toBe(64 * 1024)
    const result = await inflate(bomb, document)
    expect(result.error).toBe('"test.zip" is damaged: "word/document.xml" inflates to more than the 64 KB its ZIP directory declares')
    expect(result.received).toBeLessThanOrEqual(64 * 1024)
  })

  it('ZIP64 sizes and end records are read, and a ZIP64 bomb declaring 5 GB is refused', async () => {
    const zip = buildZip([{ name: 'big.txt', parts: [{ bytes: 'zip64 ' }] }], { zip64: true })
    const [entry] = readZipDirectory(zip, limits, errors)
    expect(entry).toMatchObject({ name: 'big.txt', uncompressedSize: 6 })
    expect((await inflate(zip, entry!)).text).toBe('zip64 ')
    const bomb = buildZip([{ name: 'huge.xml', parts: [{ bytes: megabyteOfParagraphs(), times: 3 }], declaredSize: 5 * 1024 * MB }], { zip64: true })
    expect(failure(() => readZipDirectory(bomb, limits, errors))).toMatchObject({ status: 413, message: expect.stringContaining('inflates') })
  })

  it('too many entries, encryption, unknown methods and truncation are refused as damaged', () => {
    const many = buildZip(Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, parts: [{ bytes: 'x' }] })))
    expect(failure(() => readZipDirectory(many, { ...limits, maxEntries: 20 }, errors))).toMatchObject({ status: 422, message: expect.stringContaining('it has 50 entries; a document has at most 20') })

    const zip = buildZip([{ name: 'a.txt', parts: [{ bytes: 'hello' }] }])
    const central = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]))
    const encrypted = Buffer.from(zip)
    encrypted.writeUInt16LE(encrypted.readUInt16LE(central + 8) | 1, central + 8)
    expect(failure(() => readZipDirectory(encrypted, limits, errors)).message).toContain('"a.txt" is encrypted')
    const bzip2 = Buffer.from(zip)
    bzip2.writeUInt16LE(12, central + 10)
    expect(failure(() => readZipDirectory(bzip2, limits, errors)).message).toContain('uses ZIP compression method 12')
    expect(failure(() => readZipDirectory(zip.subarray(0, zip.length - 10), limits, errors)).message).toContain('the end of its ZIP directory is missing')
    expect(failure(() => readZipDirectory(Buffer.concat([Buffer.from('junk'), zip]), limits, errors)).message).toContain('not where the end record says')
    const stored = buildZip([{ name: 'a.bin', parts: [{ bytes: Buffer.alloc(1024) }], declaredSize: 90 * MB, method: 'store' }])
    expect(failure(() => readZipDirectory(stored, limits, errors)).message).toContain('"a.bin" is stored with two different sizes')
  })
})
