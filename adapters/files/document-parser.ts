// The DocumentParser port over the file formats and the web reader: core asks for text, this
// adapter owns every parsing library.
import { DEFAULT_MAX_FILE_BYTES } from '../../core/knowledge/knowledge-service.ts'
import type { DocumentParser } from '../../core/ports.ts'
import { detectFormat, parseFile } from './formats.ts'
import { parseWeb, type WebOptions } from './web.ts'

export const DEFAULT_URL_TIMEOUT_MS = 15_000
export const DEFAULT_MAX_PAGES = 50

export function createDocumentParser(options: Partial<WebOptions> = {}): DocumentParser {
  const web: WebOptions = {
    maxBytes: options.maxBytes ?? DEFAULT_MAX_FILE_BYTES,
    timeoutMs: options.timeoutMs ?? DEFAULT_URL_TIMEOUT_MS,
    maxPages: options.maxPages ?? DEFAULT_MAX_PAGES,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.net ? { net: options.net } : {}),
  }
  return {
    formatOf: (file) => detectFormat(file),
    parse: async (input, onProgress) => (input.kind === 'file' ? parseFile(input) : parseWeb(input, web, onProgress)),
  }
}
