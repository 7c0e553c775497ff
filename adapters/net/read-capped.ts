import { AppError } from '../../core/errors.ts'

const tooLarge = (maxBytes: number) => new AppError('file_too_large', `The file is larger than ${Math.round(maxBytes / 1024 / 1024)} MB`, 413)

/**
 * A downloaded file's bytes, never more than `maxBytes`: refused at once when the declared length
 * is larger, and as soon as the stream passes the limit otherwise (413 file_too_large).
 */
export async function readCapped(res: Response, maxBytes: number): Promise<Buffer> {
  if (Number(res.headers.get('content-length') ?? 0) > maxBytes) throw tooLarge(maxBytes)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length
    if (size > maxBytes) throw tooLarge(maxBytes)
    chunks.push(Buffer.from(chunk))
  }
  return Buffer.concat(chunks)
}
