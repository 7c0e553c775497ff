// Reads a ZIP archive's central directory (PKWARE APPNOTE 6.3, with ZIP64) and inflates its entries
// with a hard bound, so that a small upload cannot make the process hold hundreds of megabytes: the
// declared sizes are checked before anything is inflated, and the actual output is counted while
// inflating, since declared sizes can lie.
import zlib from 'node:zlib'
import { AppError } from '../../core/errors.ts'

export type ZipLimits = {
  /** The most all entries together may inflate to (their declared sizes, and what they really give). */
  maxInflatedBytes: number
  /** More entries than this is not a document but an attack on whatever lists them. */
  maxEntries: number
  /** An entry over 1 MB that inflates more than this many times its compressed size is a bomb. */
  maxRatio: number
}
export type ZipEntry = {
  name: string
  method: number
  compressedSize: number
  uncompressedSize: number
  /** Where the compressed bytes start: after the local header, its name and its extra field. */
  dataOffset: number
}
/** How errors name the archive and say that it is damaged (each format has its own code). */
export type ZipErrors = { name: string; damaged: (why: string) => AppError }

export const DEFAULT_ZIP_LIMITS = { maxEntries: 10_000, maxRatio: 200 } as const

const EOCD = 0x06054b50
const ZIP64_LOCATOR = 0x07064b50
const ZIP64_EOCD = 0x06064b50
const CENTRAL = 0x02014b50
const LOCAL = 0x04034b50
const MB = 1024 * 1024

/** A size as people read it: 740 KB, 12.5 MB. */
export const megabytes = (bytes: number) => (bytes < MB ? `${Math.ceil(bytes / 1024)} KB` : `${Math.round((bytes / MB) * 10) / 10} MB`)
/** 413 source_too_large: `"name" <why>`, where why says what was too large and the limit. */
export const tooLarge = (name: string, why: string) => new AppError('source_too_large', `"${name}" ${why}`, 413)

/**
 * The entries of an archive, after checking that the directory is consistent and that the declared
 * sizes stay within the limits. Throws the format's damaged error, or 413 source_too_large.
 */
export function readZipDirectory(bytes: Buffer, limits: ZipLimits, errors: ZipErrors): ZipEntry[] {
  const { name, damaged } = errors
  const eocd = findEndOfDirectory(bytes)
  if (eocd < 0) throw damaged('the end of its ZIP directory is missing (the file is truncated or not a ZIP archive)')
  let count = bytes.readUInt16LE(eocd + 10)
  let size = bytes.readUInt32LE(eocd + 12)
  let offset = bytes.readUInt32LE(eocd + 16)
  // Where the directory must end: right before the end record, or before the ZIP64 end record.
  let directoryEnd = eocd
  if (eocd >= 20 && bytes.readUInt32LE(eocd - 20) === ZIP64_LOCATOR) {
    const record = safeNumber(bytes.readBigUInt64LE(eocd - 12))
    if (record + 56 > eocd - 20 || bytes.readUInt32LE(record) !== ZIP64_EOCD) throw damaged('its ZIP64 end record is missing')
    count = safeNumber(bytes.readBigUInt64LE(record + 32))
    size = safeNumber(bytes.readBigUInt64LE(record + 40))
    offset = safeNumber(bytes.readBigUInt64LE(record + 48))
    directoryEnd = record
  }
  if (count > limits.maxEntries) throw damaged(`it has ${count} entries; a document has at most ${limits.maxEntries}`)
  if (offset + size !== directoryEnd) throw damaged('its ZIP directory is not where the end record says')

  const entries: ZipEntry[] = []
  let declared = 0
  let at = offset
  for (let i = 0; i < count; i++) {
    if (at + 46 > directoryEnd || bytes.readUInt32LE(at) !== CENTRAL) throw damaged(`its ZIP directory ends after ${i} of ${count} entries`)
    const flags = bytes.readUInt16LE(at + 8)
    const method = bytes.readUInt16LE(at + 10)
    let compressedSize = bytes.readUInt32LE(at + 20)
    let uncompressedSize = bytes.readUInt32LE(at + 24)
    const nameLength = bytes.readUInt16LE(at + 28)
    const extraLength = bytes.readUInt16LE(at + 30)
    const commentLength = bytes.readUInt16LE(at + 32)
    let localOffset = bytes.readUInt32LE(at + 42)
    const end = at + 46 + nameLength + extraLength + commentLength
    if (end > directoryEnd) throw damaged('an entry of its ZIP directory runs past the directory')
    const entryName = bytes.toString('utf8', at + 46, at + 46 + nameLength)
    // ZIP64: a field of all ones means the real value is in the extra field 0x0001, in this order.
    if (compressedSize === 0xffffffff || uncompressedSize === 0xffffffff || localOffset === 0xffffffff) {
      const zip64 = findExtra(bytes, at + 46 + nameLength, extraLength, 0x0001)
      if (!zip64) throw damaged(`"${entryName}" has no ZIP64 sizes`)
      let field = zip64.start
      const next = () => {
        if (field + 8 > zip64.end) throw damaged(`"${entryName}" has a short ZIP64 field`)
        const value = safeNumber(bytes.readBigUInt64LE(field))
        field += 8
        return value
      }
      if (uncompressedSize === 0xffffffff) uncompressedSize = next()
      if (compressedSize === 0xffffffff) compressedSize = next()
      if (localOffset === 0xffffffff) localOffset = next()
    }
    if (flags & 0x1) throw damaged(`"${entryName}" is encrypted`)
    if (method !== 0 && method !== 8) throw damaged(`"${entryName}" uses ZIP compression method ${method}, which is not supported`)
    if (method === 0 && compressedSize !== uncompressedSize) throw damaged(`"${entryName}" is stored with two different sizes`)
    if (localOffset + 30 > offset || bytes.readUInt32LE(localOffset) !== LOCAL) throw damaged(`the data of "${entryName}" is missing`)
    const dataOffset = localOffset + 30 + bytes.readUInt16LE(localOffset + 26) + bytes.readUInt16LE(localOffset + 28)
    if (dataOffset + compressedSize > offset) throw damaged(`the data of "${entryName}" runs past the end of the archive`)
    if (uncompressedSize > MB && uncompressedSize > limits.maxRatio * Math.max(1, compressedSize)) {
      const ratio = Math.round(uncompressedSize / Math.max(1, compressedSize))
      throw tooLarge(name, `looks like a decompression bomb: "${entryName}" inflates ${ratio} times (${megabytes(compressedSize)} to ${megabytes(uncompressedSize)}); at most ${limits.maxRatio} times is accepted`)
    }
    declared += uncompressedSize
    entries.push({ name: entryName, method, compressedSize, uncompressedSize, dataOffset })
    at = end
  }
  if (declared > limits.maxInflatedBytes) throw tooLarge(name, `inflates to more than ${megabytes(limits.maxInflatedBytes)}, the limit for one file (its ZIP directory declares ${megabytes(declared)})`)
  return entries
}

/** The end-of-central-directory record: the last signature whose comment reaches the end of the file. */
function findEndOfDirectory(bytes: Buffer): number {
  const floor = Math.max(0, bytes.length - 22 - 0xffff)
  for (let at = bytes.length - 22; at >= floor; at--) {
    if (bytes.readUInt32LE(at) === EOCD && at + 22 + bytes.readUInt16LE(at + 20) === bytes.length) return at
  }
  return -1
}

function findExtra(bytes: Buffer, start: number, length: number, id: number): { start: number; end: number } | undefined {
  for (let at = start; at + 4 <= start + length; ) {
    const size = bytes.readUInt16LE(at + 2)
    if (bytes.readUInt16LE(at) === id) return { start: at + 4, end: Math.min(at + 4 + size, start + length) }
    at += 4 + size
  }
  return undefined
}

const safeNumber = (value: bigint) => (value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value))

/**
 * Inflates one entry piece by piece, never more than it declares: the pieces go to `onData` and are
 * not kept here. An entry that inflates to more than its declared size is refused as damaged (its
 * directory lies), so what the declared sizes allowed is all that can ever come out.
 */
export async function inflateEntry(bytes: Buffer, entry: ZipEntry, errors: ZipErrors, onData: (piece: Buffer) => void): Promise<void> {
  const data = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize)
  if (entry.method === 0) {
    if (data.length) onData(data)
    return
  }
  const inflater = zlib.createInflateRaw({ chunkSize: 256 * 1024 })
  let produced = 0
  await new Promise<void>((resolve, reject) => {
    let failed = false
    const fail = (error: AppError) => {
      if (failed) return
      failed = true
      inflater.destroy()
      reject(error)
    }
    inflater.on('data', (piece: Buffer) => {
      if (failed) return
      produced += piece.length
      if (produced > entry.uncompressedSize) return fail(errors.damaged(`"${entry.name}" inflates to more than the ${megabytes(entry.uncompressedSize)} its ZIP directory declares`))
      try {
        onData(piece)
      } catch (error) {
        fail(error instanceof AppError ? error : errors.damaged((error as Error).message))
      }
    })
    inflater.on('error', (error) => fail(errors.damaged(`"${entry.name}" cannot be inflated (${error.message})`)))
    inflater.on('end', () => (failed ? undefined : resolve()))
    inflater.end(data)
  })
}
