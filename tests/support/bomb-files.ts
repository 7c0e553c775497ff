// Builds DOCX and PDF files by hand for the decompression-bomb tests and benchmark: the bytes of
// the archive are written here, record by record, so a test can make the declared sizes lie and a
// few hundred kilobytes inflate to hundreds of megabytes without ever holding the inflated text.
import zlib from 'node:zlib'

/**
 * Content given as parts, each repeated `times` (default 1). Each part is deflated once, with a full
 * flush so that it ends on a byte boundary and refers to nothing before it: the same compressed
 * bytes repeated are a valid deflate stream of the part repeated, which is how 400 MB of text
 * becomes 400 KB without 400 MB ever being in memory.
 */
export type Part = { bytes: Buffer | string; times?: number }
export type ZipEntry = {
  name: string
  parts: Part[]
  /** deflate (method 8, the default) or store (method 0). */
  method?: 'deflate' | 'store'
  /** Writes this uncompressed size in the headers instead of the true one (a lying archive). */
  declaredSize?: number
}

const MB = 1024 * 1024
const bytesOf = (p: Part) => (typeof p.bytes === 'string' ? Buffer.from(p.bytes, 'utf8') : p.bytes)
// The last block of every deflate stream: an empty fixed-Huffman block with BFINAL set.
const FINAL_BLOCK = Buffer.from([0x03, 0x00])

/** Size, CRC-32 and compressed bytes of an entry, computed part by part. */
function encode(entry: ZipEntry): { size: number; crc: number; data: Buffer } {
  let size = 0
  let crc = 0
  const out: Buffer[] = []
  for (const part of entry.parts) {
    const bytes = bytesOf(part)
    const times = part.times ?? 1
    for (let i = 0; i < times; i++) crc = zlib.crc32(bytes, crc)
    size += bytes.length * times
    const piece = entry.method === 'store' ? bytes : zlib.deflateRawSync(bytes, { finishFlush: zlib.constants.Z_FULL_FLUSH, level: 9 })
    for (let i = 0; i < times; i++) out.push(piece)
  }
  if (entry.method !== 'store') out.push(FINAL_BLOCK)
  return { size, crc, data: Buffer.concat(out) }
}

/**
 * A ZIP archive (PKWARE APPNOTE 6.3): for each entry a local file header (signature 0x04034b50,
 * 30 bytes, then the name) followed by its compressed data; then the central directory, one
 * header per entry (signature 0x02014b50, 46 bytes, then the name) with the sizes, CRC and the
 * offset of the local header; then the end-of-central-directory record (signature 0x06054b50,
 * 22 bytes) with the entry count and the directory's size and offset. No data descriptors, no
 * comment.
 *
 * With `zip64`, every size and offset in the directory is 0xFFFFFFFF and the real values are in a
 * ZIP64 extra field (id 0x0001: uncompressed size, compressed size, local header offset, 8 bytes
 * each), and the end record is preceded by a ZIP64 end record (signature 0x06064b50, 56 bytes) and
 * its locator (signature 0x07064b50, 20 bytes), which is how a declared size over 4 GB is written.
 */
export function buildZip(entries: ZipEntry[], options: { zip64?: boolean } = {}): Buffer {
  const zip64 = options.zip64 === true
  const locals: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const entry of entries) {
    const { size, crc, data } = encode(entry)
    const declared = entry.declaredSize ?? size
    const name = Buffer.from(entry.name, 'utf8')
    const method = entry.method === 'store' ? 0 : 8
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4) // version needed: 2.0 (deflate)
    local.writeUInt16LE(0x0800, 6) // flags: names in UTF-8
    local.writeUInt16LE(method, 8)
    local.writeUInt16LE(0, 10) // modification time
    local.writeUInt16LE(0x21, 12) // modification date: 1980-01-01
    local.writeUInt32LE(crc >>> 0, 14)
    local.writeUInt32LE(zip64 ? 0xffffffff : data.length, 18)
    local.writeUInt32LE(zip64 ? 0xffffffff : declared, 22)
    local.writeUInt16LE(name.length, 26)
    local.writeUInt16LE(0, 28) // extra field length
    locals.push(local, name, data)

    const header = Buffer.alloc(46)
    header.writeUInt32LE(0x02014b50, 0)
    header.writeUInt16LE(zip64 ? 45 : 20, 4) // version made by
    header.writeUInt16LE(zip64 ? 45 : 20, 6) // version needed (4.5: ZIP64)
    header.writeUInt16LE(0x0800, 8)
    header.writeUInt16LE(method, 10)
    header.writeUInt16LE(0, 12)
    header.writeUInt16LE(0x21, 14)
    header.writeUInt32LE(crc >>> 0, 16)
    header.writeUInt32LE(zip64 ? 0xffffffff : data.length, 20)
    header.writeUInt32LE(zip64 ? 0xffffffff : declared, 24)
    header.writeUInt16LE(name.length, 28)
    // extra field length at 30; comment length, disk number, internal and external attributes: zero
    header.writeUInt32LE(zip64 ? 0xffffffff : offset, 42)
    if (zip64) {
      const extra = Buffer.alloc(28)
      extra.writeUInt16LE(0x0001, 0)
      extra.writeUInt16LE(24, 2)
      extra.writeBigUInt64LE(BigInt(declared), 4)
      extra.writeBigUInt64LE(BigInt(data.length), 12)
      extra.writeBigUInt64LE(BigInt(offset), 20)
      header.writeUInt16LE(extra.length, 30)
      central.push(header, name, extra)
    } else central.push(header, name)
    offset += local.length + name.length + data.length
  }
  const directory = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(zip64 ? 0xffff : entries.length, 8) // entries on this disk
  end.writeUInt16LE(zip64 ? 0xffff : entries.length, 10) // entries in total
  end.writeUInt32LE(zip64 ? 0xffffffff : directory.length, 12)
  end.writeUInt32LE(zip64 ? 0xffffffff : offset, 16)
  if (!zip64) return Buffer.concat([...locals, directory, end])
  const record = Buffer.alloc(56)
  record.writeUInt32LE(0x06064b50, 0)
  record.writeBigUInt64LE(44n, 4) // size of the rest of the record
  record.writeUInt16LE(45, 12) // version made by
  record.writeUInt16LE(45, 14) // version needed
  record.writeBigUInt64LE(BigInt(entries.length), 24) // entries on this disk
  record.writeBigUInt64LE(BigInt(entries.length), 32) // entries in total
  record.writeBigUInt64LE(BigInt(directory.length), 40)
  record.writeBigUInt64LE(BigInt(offset), 48)
  const locator = Buffer.alloc(20)
  locator.writeUInt32LE(0x07064b50, 0)
  locator.writeBigUInt64LE(BigInt(offset + directory.length), 8) // where the ZIP64 end record is
  locator.writeUInt32LE(1, 16) // disks in total
  return Buffer.concat([...locals, directory, record, locator, end])
}

const W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main'
const CONTENT_TYPES =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>' +
  '<Default Extension="png" ContentType="image/png"/>' +
  '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
const ROOT_RELS =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'

export const paragraph = (text: string) => `<w:p><w:r><w:t xml:space="preserve">${text}</w:t></w:r></w:p>`
export const heading = (text: string, level = 1) => `<w:p><w:pPr><w:pStyle w:val="Heading${level}"/></w:pPr><w:r><w:t>${text}</w:t></w:r></w:p>`

/**
 * A minimal Word document: [Content_Types].xml, _rels/.rels and word/document.xml whose body is
 * the given parts of WordprocessingML (paragraphs), plus any extra entries (images).
 */
export function buildDocx(input: { body: Part[]; declaredSize?: number; extra?: ZipEntry[] }): Buffer {
  return buildZip([
    { name: '[Content_Types].xml', parts: [{ bytes: CONTENT_TYPES }] },
    { name: '_rels/.rels', parts: [{ bytes: ROOT_RELS }] },
    {
      name: 'word/document.xml',
      parts: [{ bytes: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="${W}"><w:body>` }, ...input.body, { bytes: '</w:body></w:document>' }],
      ...(input.declaredSize !== undefined ? { declaredSize: input.declaredSize } : {}),
    },
    ...(input.extra ?? []),
  ])
}

const FILLER = 'The harbour ferry leaves every hour from the north pier and the ticket office opens at seven. '

/** One megabyte of paragraphs of the same sentence, the unit a bomb repeats. */
export function megabyteOfParagraphs(): Buffer {
  const p = paragraph(FILLER.repeat(10))
  return Buffer.from(p.repeat(Math.ceil(MB / p.length)).slice(0, Math.floor(MB / p.length) * p.length))
}

/** Exactly one megabyte: a paragraph of one word repeated, which deflate shrinks some 650 times. */
export function megabyteOfBomb(): Buffer {
  const open = '<w:p><w:r><w:t xml:space="preserve">'
  const close = '</w:t></w:r></w:p>'
  return Buffer.from(open + 'ferry '.repeat(MB / 6).slice(0, MB - open.length - close.length) + close)
}

/**
 * A DOCX whose word/document.xml inflates to `inflatedMb` megabytes (400 MB from about 640 KB).
 * With `lie`, the headers declare 64 KB for it, so only the inflation itself can tell.
 */
export function docxBomb(input: { inflatedMb: number; lie?: boolean }): Buffer {
  return buildDocx({ body: [{ bytes: megabyteOfBomb(), times: input.inflatedMb }], ...(input.lie ? { declaredSize: 64 * 1024 } : {}) })
}

/**
 * Dense markup that compresses like real text (a random revision id on every paragraph, as Word
 * writes them): `paragraphs` one-word paragraphs, each its own element with a run and a text.
 */
export function denseDocx(paragraphs: number): Buffer {
  let seed = 11
  const hex = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) >>> 0).toString(16).padStart(8, '0')
  const body: string[] = []
  for (let i = 0; i < paragraphs; i++) body.push(`<w:p w:rsidR="${hex()}" w:rsidRDefault="${hex()}"><w:r><w:t>tide</w:t></w:r></w:p>`)
  return buildDocx({ body: [{ bytes: body.join('') }] })
}

/**
 * A legitimate large Word document: `sections` headed sections of varied prose (about 1 KB of
 * text each, nothing repeated verbatim so it compresses like real text) and `imageMb` of
 * incompressible image bytes.
 */
export function largeDocx(input: { sections: number; imageMb?: number }): Buffer {
  const words = 'anchor ballast cargo dock ebb fathom galley hull inlet jetty keel lantern mooring north oar pier quay rudder sail tide under vessel wharf yard zenith'.split(' ')
  let seed = 7
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648)
  const body: string[] = []
  for (let s = 0; s < input.sections; s++) {
    body.push(heading(`Section ${s + 1}: ${words[s % words.length]} procedures`, 1))
    for (let p = 0; p < 4; p++) {
      const sentence: string[] = []
      for (let w = 0; w < 40; w++) sentence.push(words[next() % words.length]!)
      body.push(paragraph(`${sentence.join(' ')} (${s}.${p}).`))
    }
  }
  const extra: ZipEntry[] = []
  if (input.imageMb) {
    const image = Buffer.alloc(input.imageMb * MB)
    for (let i = 0; i < image.length; i += 4) image.writeUInt32LE(next(), i)
    extra.push({ name: 'word/media/image1.png', parts: [{ bytes: image }], method: 'store' })
  }
  return buildDocx({ body: [{ bytes: body.join('') }], extra })
}

// ---- PDF

const ADLER_BASE = 65521
function adler32(bytes: Buffer, start = 1): number {
  let a = start & 0xffff
  let b = start >>> 16
  for (let i = 0; i < bytes.length; ) {
    // 5552 bytes is the most that can be summed before b could overflow 32 bits (zlib's NMAX).
    const end = Math.min(bytes.length, i + 5552)
    for (; i < end; i++) {
      a += bytes[i]!
      b += a
    }
    a %= ADLER_BASE
    b %= ADLER_BASE
  }
  return ((b << 16) | a) >>> 0
}
/** The Adler-32 of two pieces from theirs (zlib's adler32_combine), so a repetition costs nothing. */
function adler32Combine(first: number, second: number, secondLength: number): number {
  const rem = secondLength % ADLER_BASE
  let sum1 = first & 0xffff
  let sum2 = (rem * sum1) % ADLER_BASE
  sum1 += (second & 0xffff) + ADLER_BASE - 1
  sum2 += (first >>> 16) + (second >>> 16) + ADLER_BASE - rem
  sum1 %= ADLER_BASE
  sum2 %= ADLER_BASE
  return ((sum2 << 16) | sum1) >>> 0
}

/**
 * LZW codes packed as PDF's /LZWDecode reads them: 9 to 12 bits, most significant bit first, the
 * width growing one code early (EarlyChange 1, the default) as the decoder's table grows; 256
 * clears the table, 257 ends the data (added here).
 */
export function lzwPack(codes: number[]): Buffer {
  const out: number[] = []
  let buffer = 0
  let bits = 0
  let width = 9
  let next = 258
  let first = true
  for (const code of [...codes, 257]) {
    buffer = ((buffer << width) | code) >>> 0
    bits += width
    while (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff)
      bits -= 8
    }
    buffer &= (1 << bits) - 1
    if (code === 256) {
      width = 9
      next = 258
      first = true
      continue
    }
    // The decoder adds an entry for every code after the first, then widens when the next one would not fit.
    if (!first) {
      next++
      if (((next + 1) & next) === 0) width = Math.min(Math.log2(next + 1) + 1, 12)
    }
    first = false
  }
  if (bits > 0) out.push((buffer << (8 - bits)) & 0xff)
  return Buffer.from(out)
}

/** LZW-encoded bytes, for a page that a PDF guard must read like any other. */
export function lzwEncode(data: Buffer): Buffer {
  const codes: number[] = [256]
  let table = new Map<string, number>()
  let next = 258
  let word = ''
  const codeOf = (w: string) => (w.length === 1 ? w.charCodeAt(0) : table.get(w)!)
  for (const byte of data) {
    const c = String.fromCharCode(byte)
    if (!word || table.has(word + c)) {
      word += c
      continue
    }
    codes.push(codeOf(word))
    table.set(word + c, next++)
    if (next >= 4000) {
      codes.push(256)
      table = new Map()
      next = 258
    }
    word = c
  }
  if (word) codes.push(codeOf(word))
  return lzwPack(codes)
}

/**
 * An LZW bomb: after each clear, a byte and then every new code in turn, each the previous run one
 * longer: some 7 MB from 6 KB per table. `tables` tables.
 */
export function lzwBomb(tables: number): Buffer {
  const codes: number[] = []
  for (let t = 0; t < tables; t++) {
    codes.push(256, 0x61)
    for (let code = 258; code < 4000; code++) codes.push(code)
  }
  return lzwPack(codes)
}

/** ASCII85 (/ASCII85Decode), ended by `~>`. */
export function ascii85Encode(data: Buffer): Buffer {
  let out = ''
  for (let i = 0; i < data.length; i += 4) {
    const chunk = Buffer.alloc(4)
    data.copy(chunk, 0, i, i + 4)
    const n = Math.min(4, data.length - i)
    let value = chunk.readUInt32BE(0)
    if (value === 0 && n === 4) {
      out += 'z'
      continue
    }
    const digits: string[] = []
    for (let d = 0; d < 5; d++) {
      digits.unshift(String.fromCharCode(33 + (value % 85)))
      value = Math.floor(value / 85)
    }
    out += digits.slice(0, n + 1).join('')
  }
  return Buffer.from(`${out}~>`)
}

/** PDF's /RunLengthDecode: runs of one byte as (257 - n, byte), ended by 128. */
export function runLengthEncode(data: Buffer): Buffer {
  const out: number[] = []
  for (let i = 0; i < data.length; ) {
    let run = 1
    while (run < 128 && data[i + run] === data[i]) run++
    if (run > 1) {
      out.push(257 - run, data[i]!)
      i += run
    } else {
      out.push(0, data[i]!)
      i++
    }
  }
  out.push(128)
  return Buffer.from(out)
}

/** A zlib stream (RFC 1950, what /FlateDecode expects) of the parts, built like a ZIP entry's data. */
export function zlibOf(parts: Part[]): Buffer {
  const out: Buffer[] = [Buffer.from([0x78, 0x01])] // deflate, 32K window, no dictionary, fastest
  let adler = 1
  for (const part of parts) {
    const bytes = bytesOf(part)
    const piece = zlib.deflateRawSync(bytes, { finishFlush: zlib.constants.Z_FULL_FLUSH, level: 9 })
    const pieceAdler = adler32(bytes)
    for (let i = 0; i < (part.times ?? 1); i++) {
      out.push(piece)
      adler = adler32Combine(adler, pieceAdler, bytes.length)
    }
  }
  const trailer = Buffer.alloc(4)
  trailer.writeUInt32BE(adler, 0)
  out.push(FINAL_BLOCK, trailer)
  return Buffer.concat(out)
}

/**
 * A zlib stream that starts with a copy from before its start (a length 258, distance 1 match in a
 * fixed-Huffman block, then an empty stored block to come back to a byte boundary), which zlib
 * refuses and pdf.js reads as zeros, followed by the parts.
 */
export function zlibWithDamagedStart(parts: Part[]): Buffer {
  const bits: number[] = []
  const lsbFirst = (value: number, count: number) => {
    for (let i = 0; i < count; i++) bits.push((value >> i) & 1)
  }
  // Huffman codes are written most significant bit first.
  const code = (value: number, count: number) => {
    for (let i = count - 1; i >= 0; i--) bits.push((value >> i) & 1)
  }
  lsbFirst(0, 1) // not the last block
  lsbFirst(1, 2) // fixed Huffman codes
  code(0b11000101, 8) // length code 285: 258 bytes
  code(0, 5) // distance code 0: distance 1, before anything was written
  code(0, 7) // end of block
  lsbFirst(0, 1)
  lsbFirst(0, 2) // a stored block
  while (bits.length % 8) bits.push(0)
  const start: number[] = []
  for (let i = 0; i < bits.length; i += 8) start.push(bits.slice(i, i + 8).reduce((byte, bit, k) => byte | (bit << k), 0))
  const stream = zlibOf(parts)
  // The damaged blocks go between the two-byte header and the first real block; the checksum is left wrong.
  return Buffer.concat([stream.subarray(0, 2), Buffer.from(start), Buffer.from([0x00, 0x00, 0xff, 0xff]), stream.subarray(2)])
}

/** A gzip member (RFC 1952: a 10-byte header, deflate data, CRC-32 and size) of the parts, built like a ZIP entry's data. */
export function gzipOf(parts: Part[]): Buffer {
  const { size, crc, data } = encode({ name: '', parts })
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]) // deflate, no flags, no time, unknown OS
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc >>> 0, 0)
  trailer.writeUInt32LE(size % 2 ** 32, 4)
  return Buffer.concat([header, data, trailer])
}

const escapePdf = (s: string) => s.replace(/[\\()]/g, (c) => `\\${c}`)
/** A page's content stream: each line shown on a line of its own in Helvetica. */
export const pageText = (lines: string[]) => `BT /F1 11 Tf 14 TL 72 760 Td ${lines.map((l) => `(${escapePdf(l)}) Tj T*`).join(' ')} ET`

/** A stream's data: parts to deflate, or bytes already encoded with the filters named. */
export type PdfStream = Part[] | { encoded: Buffer; filter: string }

/**
 * A PDF 1.4 file: a catalog (object 1), a page tree (2), a Helvetica font (3), the document
 * information with its title (4), then for each page a page object and its content stream
 * (/FlateDecode unless encoded otherwise); the cross-reference table gives each object's byte
 * offset, and the trailer names the catalog. `extraStreams` are more streams that no page uses,
 * with their own dictionary entries such as `/Subtype /Image`, so a test can hide a bomb where the
 * text never goes.
 */
export function buildPdf(input: { pages: PdfStream[]; title?: string; extraStreams?: { data: PdfStream; dictionary?: string }[] }): Buffer {
  const objects: Buffer[] = []
  const pageIds = input.pages.map((_, i) => 5 + i * 2)
  objects.push(Buffer.from('<< /Type /Catalog /Pages 2 0 R >>'))
  objects.push(Buffer.from(`<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${pageIds.length} >>`))
  objects.push(Buffer.from('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>'))
  objects.push(Buffer.from(`<< /Title (${escapePdf(input.title ?? 'Generated document')}) /Producer (tests/support/bomb-files.ts) >>`))
  const stream = (content: PdfStream, dictionary = '') => {
    const { data, filter } = Array.isArray(content) ? { data: zlibOf(content), filter: '/FlateDecode' } : { data: content.encoded, filter: content.filter }
    return Buffer.concat([Buffer.from(`<< /Length ${data.length} /Filter ${filter} ${dictionary}>>\nstream\n`), data, Buffer.from('\nendstream')])
  }
  input.pages.forEach((content, i) => {
    objects.push(Buffer.from(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${pageIds[i]! + 1} 0 R >>`))
    objects.push(stream(content))
  })
  for (const extra of input.extraStreams ?? []) objects.push(stream(extra.data, extra.dictionary))

  const out: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')]
  let length = out[0]!.length
  const offsets: number[] = []
  objects.forEach((body, i) => {
    offsets.push(length)
    const object = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), body, Buffer.from('\nendobj\n')])
    out.push(object)
    length += object.length
  })
  const xref = [`xref\n0 ${objects.length + 1}\n`, '0000000000 65535 f \n', ...offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`)].join('')
  out.push(Buffer.from(`${xref}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info 4 0 R >>\nstartxref\n${length}\n%%EOF\n`))
  return Buffer.concat(out)
}

/** One megabyte of a content stream's text-showing operators, the unit a PDF bomb repeats. */
export function megabyteOfPdfText(): Buffer {
  const line = `(${FILLER}) Tj T* `
  return Buffer.from(line.repeat(Math.floor(MB / line.length)))
}

/** A one-page PDF whose content stream inflates to about `inflatedMb` megabytes of text. */
export function pdfBomb(input: { inflatedMb: number }): Buffer {
  return buildPdf({ title: 'Bomb', pages: [[{ bytes: 'BT /F1 11 Tf 14 TL 72 760 Td ' }, { bytes: megabyteOfPdfText(), times: input.inflatedMb }, { bytes: ' ET' }]] })
}
