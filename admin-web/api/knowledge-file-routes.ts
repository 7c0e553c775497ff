// Knowledge from files and web pages: a multipart upload (streamed, the size limit enforced while
// reading) and a URL or sitemap to fetch. Both queue the same ingest job as typed-in text.
import type { Request, Response } from 'express'
import busboy from 'busboy'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { KnowledgeService } from '../../core/knowledge/knowledge-service.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'

const urlSchema = z
  .object({
    url: z.string().trim().url().max(2000),
    sitemap: z.boolean().optional(),
    maxPages: z.number().int().min(1).max(1000).optional(),
    agentId: z.string().uuid().nullable().optional(),
    collectionId: z.string().uuid().nullable().optional(),
  })
  .strict()

type Upload = { filename: string; mimeType: string; bytes: Buffer; fields: Record<string, string> }

export function registerKnowledgeFileRoutes(deps: {
  api: ReturnType<typeof createApi>
  knowledge: KnowledgeService
  /** The largest file accepted (KNOWLEDGE_MAX_FILE_BYTES); must match the knowledge service's limit. */
  maxFileBytes: number
}) {
  const { api, knowledge, maxFileBytes } = deps

  api.route({
    method: 'post',
    path: '/api/v1/knowledge/files',
    tag: 'knowledge',
    summary: `Upload a file (multipart/form-data, field "file"; optional fields "agentId" and "collectionId"): PDF, DOCX, TXT, Markdown, CSV or HTML up to the size limit (admin); processed as a job`,
    auth: 'session',
    query: z.object({ agentId: z.string().uuid().optional(), collectionId: z.string().uuid().optional() }),
    responses: { 202: 'Queued for processing', 413: 'The file is larger than the limit', 415: 'Not a supported file type', 422: 'Empty file' },
    handler: async ({ principal, req, res, query }) => {
      requireRole(principal, 'admin')
      const upload = await readUpload(req, res, maxFileBytes)
      const agentId = query.agentId ?? (upload.fields.agentId || null)
      const collectionId = query.collectionId ?? (upload.fields.collectionId || null)
      for (const [name, id] of Object.entries({ agentId, collectionId })) if (id && !z.string().uuid().safeParse(id).success) throw new AppError('validation_failed', `Invalid body: ${name}: must be a UUID`, 422)
      const source = await knowledge.addFile({ organizationId: principal.organizationId, agentId, collectionId, filename: upload.filename, mimeType: upload.mimeType, bytes: upload.bytes, actorUserId: principal.userId })
      res.status(202)
      return { source }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/knowledge/urls',
    tag: 'knowledge',
    summary: 'Import a web page by URL, or with sitemap: true every page a sitemap.xml lists up to maxPages (admin); processed as a job',
    auth: 'session',
    body: urlSchema,
    responses: { 202: 'Queued for processing' },
    handler: async ({ principal, body, res }) => {
      requireRole(principal, 'admin')
      const source = await knowledge.addUrl({ organizationId: principal.organizationId, agentId: body.agentId ?? null, collectionId: body.collectionId ?? null, url: body.url, sitemap: body.sitemap, maxPages: body.maxPages, actorUserId: principal.userId })
      res.status(202)
      return { source }
    },
  })
}

/** Multipart overhead allowed on top of the file itself (boundaries, part headers, small fields). */
const ENVELOPE_BYTES = 64 * 1024

/**
 * Streams one multipart upload into memory, stopping at the limit: an oversized file gets 413 as
 * soon as the limit is crossed (or at once when Content-Length already says so), never buffered whole.
 */
function readUpload(req: Request, res: Response, maxBytes: number): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const fail = (error: AppError) => {
      // The client may still be sending: answer now, read and drop the rest, close afterwards.
      res.setHeader('Connection', 'close')
      req.unpipe()
      req.resume()
      reject(error)
    }
    if (!req.is('multipart/form-data')) {
      fail(new AppError('unsupported_media_type', 'Send the file as multipart/form-data with a field named "file" (for JSON text use POST /api/v1/knowledge/sources)', 415))
      return
    }
    const declared = Number(req.headers['content-length'] ?? '0')
    if (declared > maxBytes + ENVELOPE_BYTES) {
      fail(new AppError('source_too_large', `The upload is ${declared} bytes; the limit is ${maxBytes} bytes per file`, 413))
      return
    }
    let bb: busboy.Busboy
    try {
      bb = busboy({ headers: req.headers, defParamCharset: 'utf8', limits: { files: 1, fileSize: maxBytes, fields: 10, fieldSize: 1000, parts: 20 } })
    } catch (error) {
      fail(new AppError('validation_failed', `Invalid multipart body: ${(error as Error).message}`, 422))
      return
    }
    const fields: Record<string, string> = {}
    let file: { filename: string; mimeType: string; parts: Buffer[]; size: number } | null = null
    let failed = false
    const abort = (error: AppError) => {
      if (failed) return
      failed = true
      fail(error)
    }
    bb.on('field', (name, value) => {
      fields[name] = value
    })
    bb.on('file', (name, stream, info) => {
      if (name !== 'file' || file) {
        stream.resume()
        return
      }
      const current = { filename: info.filename ?? '', mimeType: info.mimeType, parts: [] as Buffer[], size: 0 }
      file = current
      stream.on('data', (data: Buffer) => {
        current.size += data.length
        current.parts.push(data)
      })
      stream.on('limit', () => {
        current.parts = []
        abort(new AppError('source_too_large', `"${current.filename || 'the file'}" is larger than the limit of ${maxBytes} bytes`, 413))
      })
    })
    bb.on('error', (error: Error) => abort(new AppError('validation_failed', `Invalid multipart body: ${error.message}`, 422)))
    bb.on('close', () => {
      if (failed) return
      if (!file) {
        abort(new AppError('validation_failed', 'Invalid body: file: attach the file in a multipart field named "file"', 422))
        return
      }
      const f = file as { filename: string; mimeType: string; parts: Buffer[] }
      resolve({ filename: f.filename, mimeType: f.mimeType, bytes: Buffer.concat(f.parts), fields })
    })
    req.on('aborted', () => abort(new AppError('validation_failed', 'The upload was interrupted', 400)))
    req.pipe(bb)
  })
}
