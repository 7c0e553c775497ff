// The DocumentParser port over the file formats and the web reader: core asks for text, this
// adapter owns every parsing library.
import { AppError } from '../../core/errors.ts'
import { DEFAULT_MAX_FILE_BYTES } from '../../core/knowledge/knowledge-service.ts'
import type { DocumentParser, ParsedDocument } from '../../core/ports.ts'
import { storableJson, storableText } from '../../core/security/storable-text.ts'
import { detectFormat, parseFile, parseLimits, type ParseLimits } from './formats.ts'
import { IMPORT_REFUSAL, parseWeb, type WebOptions } from './web.ts'
import { createAddressGuard } from '../net/safe-fetch.ts'
import { DEFAULT_ZIP_LIMITS, readZipDirectory } from './zip-guard.ts'

export const DEFAULT_URL_TIMEOUT_MS = 15_000
export const DEFAULT_MAX_PAGES = 50

export type DocumentParserOptions = Partial<WebOptions> & Partial<Omit<ParseLimits, 'maxBytes'>>

export function createDocumentParser(options: DocumentParserOptions = {}): DocumentParser {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_FILE_BYTES
  const limits = parseLimits({
    maxBytes,
    ...(options.maxInflatedBytes ? { maxInflatedBytes: options.maxInflatedBytes } : {}),
    ...(options.maxSections ? { maxSections: options.maxSections } : {}),
    ...(options.maxTextChars ? { maxTextChars: options.maxTextChars } : {}),
    ...(options.maxParseMs ? { maxParseMs: options.maxParseMs } : {}),
  })
  const web: WebOptions = {
    maxBytes,
    timeoutMs: options.timeoutMs ?? DEFAULT_URL_TIMEOUT_MS,
    maxPages: options.maxPages ?? DEFAULT_MAX_PAGES,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.net ? { net: options.net } : {}),
    limits,
  }
  const addresses = createAddressGuard({ ...options.net, refusal: IMPORT_REFUSAL })
  return {
    checkUrl: async (url) => {
      try {
        await addresses.check(url)
      } catch (error) {
        // A name that does not resolve now may later: the import job tries it and says why it failed.
        if (!(error instanceof AppError) || error.code !== 'url_unresolved') throw error
      }
    },
    formatOf: (file) => {
      const format = detectFormat(file)
      // A DOCX's directory is read at upload, so that a bomb that declares its size is refused at once,
      // before it is stored. A damaged one is left to the ingest job, which reports it on the source.
      if (format === 'docx') {
        try {
          readZipDirectory(file.bytes, { ...DEFAULT_ZIP_LIMITS, maxInflatedBytes: limits.maxInflatedBytes }, { name: file.filename, damaged: (why) => new AppError('corrupt_docx', why, 422) })
        } catch (error) {
          if (!(error instanceof AppError) || error.code !== 'corrupt_docx') throw error
        }
      }
      return format
    },
    parse: async (input, onProgress) => storable(input.kind === 'file' ? await parseFile(input, undefined, undefined, limits) : await parseWeb(input, web, onProgress)),
  }
}

/** Extracted text may hold what PostgreSQL cannot store (pdf.js gives NUL for glyphs it cannot map): it is dropped here. */
function storable(doc: ParsedDocument): ParsedDocument {
  return { title: storableText(doc.title), sections: doc.sections.map((s) => ({ ...s, ...(s.heading === undefined ? {} : { heading: storableText(s.heading) }), text: storableText(s.text), location: storableJson(s.location) })) }
}
