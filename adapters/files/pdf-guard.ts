// Measures what the streams of a PDF inflate to before pdf.js reads it. pdf.js decodes a stream
// into one growing buffer and has no limit of its own, so a 200 KB file whose content stream
// inflates to 400 MB would hold all of it. Each stream is decoded here through its filters with the
// output counted and dropped; a stream or a file over its limit is refused.
import zlib from 'node:zlib'
import { megabytes, tooLarge } from './zip-guard.ts'

export type PdfLimits = {
  /** The most all streams of the file together may decode to. */
  maxInflatedBytes: number
  /**
   * The most one stream may decode to. pdf.js holds a page's content stream whole, in a buffer up
   * to twice its size, and reads it at a few megabytes a second without letting other work run.
   */
  maxStreamBytes: number
  /** An image may decode to what its width, height and colours need, up to this. */
  maxImageBytes: number
}
export const DEFAULT_PDF_STREAM_LIMITS = { maxStreamBytes: 16 * 1024 * 1024, maxImageBytes: 64 * 1024 * 1024 } as const

/** Throws 413 source_too_large when a stream, or all of them, decode to more than the limits. */
export async function checkPdfStreams(name: string, bytes: Buffer, limits: PdfLimits): Promise<void> {
  const text = bytes.toString('latin1')
  let total = 0
  for (const stream of streams(text, integerObjects(text))) {
    const image = /\/Subtype\s*\/Image\b/.test(stream.dictionary)
    const cap = Math.min(image ? Math.min(limits.maxImageBytes, imageBytes(stream.dictionary)) : limits.maxStreamBytes, limits.maxInflatedBytes)
    const size = await decodedSize(bytes.subarray(stream.start, stream.end), stream.dictionary, cap)
    if (size > cap) {
      throw tooLarge(name, image ? `has an image that inflates to more than ${megabytes(cap)}, more than its size needs or the limit of ${megabytes(limits.maxImageBytes)}` : `has a stream that inflates to more than ${megabytes(cap)}, the limit for one stream`)
    }
    total += size
    if (total > limits.maxInflatedBytes) throw tooLarge(name, `inflates to more than ${megabytes(limits.maxInflatedBytes)}, the limit for one file`)
  }
}

/** The bytes an image's samples take (a predictor byte per row included), by its dictionary; unknown sizes get no bound of their own. */
function imageBytes(dictionary: string): number {
  const value = (key: string) => Number(new RegExp(`/${key}\\s+(\\d+)(?!\\d)(?!\\s+\\d+\\s+R)`).exec(dictionary)?.[1] ?? NaN)
  const width = value('Width')
  const height = value('Height')
  if (!(width > 0 && height > 0)) return Infinity
  const mask = /\/ImageMask\s+true/.test(dictionary)
  const bits = mask ? 1 : value('BitsPerComponent') || 8
  const space = /\/ColorSpace\s*(\/\w+|\[\s*\/\w+)/.exec(dictionary)?.[1]?.replace(/[[\s/]/g, '') ?? ''
  const colours = mask || /^(DeviceGray|G|CalGray|Indexed|I|Separation)$/.test(space) ? 1 : /^(DeviceRGB|RGB|CalRGB|Lab)$/.test(space) ? 3 : 4
  return height * (Math.ceil((width * colours * bits) / 8) + 1)
}

/**
 * Every `<< dictionary >> stream ... endstream` of the file, found in the bytes as they are (a
 * stream inside an object stream is found when that object stream's own bytes are decoded by
 * pdf.js; the object stream itself is measured here).
 */
function* streams(s: string, integers: Map<string, number>): Generator<{ dictionary: string; start: number; end: number }> {
  let at = 0
  for (;;) {
    const i = s.indexOf('stream', at)
    if (i < 0) return
    at = i + 6
    if (s.startsWith('end', i - 3)) continue
    let j = i - 1
    while (j > 0 && /\s/.test(s[j]!)) j--
    if (s[j] !== '>' || s[j - 1] !== '>') continue
    const open = dictionaryStart(s, j - 1)
    if (open < 0) continue
    const dictionary = s.slice(open, j + 1)
    let start = i + 6
    if (s[start] === '\r') start++
    if (s[start] === '\n') start++
    // A /Length that ends right before `endstream` is trusted; otherwise the keyword is searched for, as pdf.js does.
    const direct = /\/Length\s+(\d+)(?!\d)(?!\s+\d+\s+R)/.exec(dictionary)
    const indirect = /\/Length\s+(\d+)\s+(\d+)\s+R/.exec(dictionary)
    const length = direct ? Number(direct[1]) : indirect ? integers.get(`${indirect[1]} ${indirect[2]}`) : undefined
    let end = -1
    if (length !== undefined) {
      const after = start + length
      let k = after
      while (k < s.length && /\s/.test(s[k]!)) k++
      if (s.startsWith('endstream', k)) end = after
    }
    if (end < 0) end = s.indexOf('endstream', start)
    if (end < 0) end = s.length
    yield { dictionary, start, end }
    at = end
  }
}

/** Objects that are one integer (`12 0 obj 3456 endobj`), which is how a stream's /Length is often written. */
function integerObjects(s: string): Map<string, number> {
  const found = new Map<string, number>()
  for (const m of s.matchAll(/(\d+)\s+(\d+)\s+obj\s*(\d+)\s*endobj/g)) found.set(`${m[1]} ${m[2]}`, Number(m[3]))
  return found
}

/** The position of the `<<` that opens the dictionary whose closing `>>` ends at `close`. */
function dictionaryStart(s: string, close: number): number {
  let depth = 0
  const floor = Math.max(0, close - 65_536)
  for (let k = close; k > floor; ) {
    if (s[k] === '>' && s[k - 1] === '>') {
      depth++
      k -= 2
    } else if (s[k] === '<' && s[k - 1] === '<') {
      depth--
      if (depth === 0) return k - 1
      k -= 2
    } else k--
  }
  return -1
}

const FILTER_NAMES: Record<string, string> = { Fl: 'FlateDecode', AHx: 'ASCIIHexDecode', A85: 'ASCII85Decode', LZW: 'LZWDecode', RL: 'RunLengthDecode' }

/** What the stream decodes to, counted up to just past `cap`. Image codecs and encryption end the count at their input. */
async function decodedSize(raw: Buffer, dictionary: string, cap: number): Promise<number> {
  const filter = /\/Filter\s*(\/[^\s/[\]<>()]+|\[[^\]]*\])/.exec(dictionary)?.[1] ?? ''
  const filters = [...filter.matchAll(/\/([^\s/[\]<>()]+)/g)].map((m) => FILTER_NAMES[m[1]!] ?? m[1]!)
  const earlyChange = /\/EarlyChange\s+0/.test(dictionary) ? 0 : 1
  let data = raw
  for (let i = 0; i < filters.length; i++) {
    const last = i === filters.length - 1
    switch (filters[i]) {
      case 'FlateDecode':
        if (last) return inflatedSize(data, cap)
        try {
          data = zlib.inflateSync(data, { maxOutputLength: cap + 1, finishFlush: zlib.constants.Z_SYNC_FLUSH })
        } catch (error) {
          if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return cap + 1
          return data.length
        }
        break
      case 'ASCIIHexDecode':
        data = hexDecode(data)
        break
      case 'ASCII85Decode':
        data = ascii85Decode(data, cap)
        if (data.length > cap) return data.length
        break
      case 'LZWDecode':
        return lzwSize(data, earlyChange, cap)
      case 'RunLengthDecode':
        return runLengthSize(data, cap)
      default:
        return data.length
    }
  }
  return data.length
}

/**
 * Inflates a zlib stream with the output counted and dropped. pdf.js decodes some data that zlib
 * refuses (a distance before the start reads zeros there), so when zlib stops at an error the rest
 * of the input is counted at deflate's most, 1032 bytes out per byte in: a bomb behind a damaged
 * start is refused, and a stream damaged near its end still passes.
 */
function inflatedSize(data: Buffer, cap: number): Promise<number> {
  return new Promise((resolve) => {
    const inflater = zlib.createInflate({ chunkSize: 256 * 1024, finishFlush: zlib.constants.Z_SYNC_FLUSH })
    let size = 0
    let done = false
    const finish = (extra = 0) => {
      if (done) return
      done = true
      inflater.destroy()
      resolve(size + extra)
    }
    inflater.on('data', (piece: Buffer) => {
      size += piece.length
      if (size > cap) finish()
    })
    inflater.on('error', () => finish(Math.max(0, data.length - inflater.bytesWritten) * 1032))
    inflater.on('end', () => finish())
    inflater.end(data)
  })
}

function hexDecode(data: Buffer): Buffer {
  const digits = data.toString('latin1').split('>', 1)[0]!.replace(/[^0-9a-fA-F]/g, '')
  return Buffer.from(digits.length % 2 ? `${digits}0` : digits, 'hex')
}

function ascii85Decode(data: Buffer, cap: number): Buffer {
  const out: number[] = []
  let group: number[] = []
  const text = data.toString('latin1')
  for (let i = 0; i < text.length && out.length <= cap; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x7e) break // ~> ends the data
    if (c === 0x7a && group.length === 0) {
      out.push(0, 0, 0, 0)
      continue
    }
    if (c < 0x21 || c > 0x75) continue
    group.push(c - 33)
    if (group.length === 5) {
      const value = group.reduce((v, d) => v * 85 + d, 0)
      out.push((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
      group = []
    }
  }
  if (group.length > 1) {
    const n = group.length
    while (group.length < 5) group.push(84)
    const value = group.reduce((v, d) => v * 85 + d, 0)
    out.push(...[(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].slice(0, n - 1))
  }
  return Buffer.from(out)
}

/**
 * The length of an LZW stream's output (PDF's variant: 9 to 12 bits, most significant bit first),
 * from the lengths of its codes alone, decoded the way pdf.js decodes it (a code past the table
 * repeats the previous string plus one byte, as pdf.js reads it).
 */
function lzwSize(data: Buffer, earlyChange: number, cap: number): number {
  const lengths = new Uint32Array(4096)
  let width = 9
  let next = 258
  let previous = 0
  let buffer = 0
  let bits = 0
  let size = 0
  for (const byte of data) {
    buffer = ((buffer << 8) | byte) & 0xffffff
    bits += 8
    while (bits >= width) {
      const code = (buffer >>> (bits - width)) & ((1 << width) - 1)
      bits -= width
      if (code === 256) {
        width = 9
        next = 258
        previous = 0
        continue
      }
      if (code === 257) return size
      const length = code < 256 ? 1 : code < next ? lengths[code]! : previous + 1
      if (previous) {
        if (next < 4096) lengths[next] = previous + 1
        next++
        const n = next + earlyChange
        if ((n & (n - 1)) === 0) width = Math.min(Math.log2(n) + 1, 12)
      }
      size += length
      if (size > cap) return size
      previous = length
    }
  }
  return size
}

function runLengthSize(data: Buffer, cap: number): number {
  let size = 0
  for (let i = 0; i < data.length && size <= cap; ) {
    const n = data[i]!
    if (n === 128) break
    if (n < 128) {
      size += n + 1
      i += n + 2
    } else {
      size += 257 - n
      i += 2
    }
  }
  return size
}
