import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import type { ErrorRequestHandler, NextFunction, Request, Response, Router } from 'express'
import express from 'express'
import helmet from 'helmet'
import { AppError } from '../../core/errors.ts'
import type { Logger } from '../../core/ports.ts'
import type { HttpMetrics } from './metrics.ts'
import { textGuard } from './text-guard.ts'
import { addressRange } from '../net/address-policy.ts'

declare module 'express-serve-static-core' {
  interface Request {
    id: string
    log: Logger
    rawBody?: Buffer
  }
}

export type HttpAppDeps = {
  logger: Logger
  metrics: HttpMetrics
  maxBodyBytes: number
  /** Throws when a dependency (database, queue) is unreachable; what it returns is added to /readyz's answer. */
  readiness: () => Promise<void | Record<string, unknown>>
  routers: Router[]
  /** Sends Strict-Transport-Security: only in production, where the installation is served over HTTPS. */
  production?: boolean
}

export function createHttpApp(deps: HttpAppDeps) {
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', 'loopback')

  // Every response gets the browser hardening headers. The policy here fits JSON and plain text,
  // which load nothing; the routers of pages (the admin web, the chat page) set their own CSP.
  app.use(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] } },
      xFrameOptions: { action: 'deny' },
      strictTransportSecurity: deps.production ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    }),
  )
  // API answers are per user and per moment: no cache or proxy may keep one.
  app.use('/api', (_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Cache-Control', 'no-store')
    next()
  })

  // Request id and access log.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const incoming = req.header('x-request-id')
    req.id = incoming && /^[\w.-]{1,64}$/.test(incoming) ? incoming : randomUUID()
    req.log = deps.logger.child({ requestId: req.id })
    res.setHeader('X-Request-Id', req.id)
    const started = performance.now()
    res.on('finish', () => {
      const seconds = (performance.now() - started) / 1000
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched'
      deps.metrics.httpRequest({ method: req.method, route, status: res.statusCode, seconds })
      req.log.info({ method: req.method, url: req.originalUrl.split('?')[0], status: res.statusCode, ms: Math.round(seconds * 1000) }, 'request')
    })
    next()
  })

  // Bodies: JSON, forms (Slack posts slash commands and button presses urlencoded) and text,
  // size-limited, raw bytes kept for webhook signatures. A webhook in any other type keeps its raw bytes too.
  const keepRaw = (req: Request, _res: Response, buf: Buffer) => {
    req.rawBody = buf
  }
  app.use(express.json({ limit: deps.maxBodyBytes, verify: keepRaw, type: ['application/json', 'application/*+json'] }))
  // Kommo's CRM webhooks can carry thousands of PHP-style fields: their route parses the raw bytes itself.
  const formParser = express.urlencoded({ limit: deps.maxBodyBytes, verify: keepRaw, extended: false, parameterLimit: 1000 })
  app.use((req, res, next) => (req.path.startsWith('/webhooks/kommo-crm/') ? next() : formParser(req, res, next)))
  app.use(express.text({ limit: deps.maxBodyBytes, verify: keepRaw, type: ['text/plain', 'text/markdown'] }))
  app.use('/webhooks', express.raw({ limit: deps.maxBodyBytes, verify: keepRaw, type: () => true }))
  app.use(textGuard())

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' })
  })
  app.get('/readyz', async (req, res) => {
    try {
      const details = await deps.readiness()
      res.json({ status: 'ready', ...details })
    } catch (error) {
      req.log.warn({ err: error }, 'not ready')
      res.status(503).json({ status: 'unavailable', error: { code: 'not_ready', message: (error as Error).message } })
    }
  })
  app.get('/metrics', async (req, res) => {
    // The process's figures are for the operator's own scraper: a client on the internet (also one
    // behind a reverse proxy on this machine, whose X-Forwarded-For names it) gets 403.
    if (addressRange(req.ip ?? '') === 'public') {
      res.status(403).json({ error: { code: 'forbidden', message: 'Metrics are served to this machine and private networks only' } })
      return
    }
    res.setHeader('Content-Type', deps.metrics.registry.contentType)
    res.send(await deps.metrics.registry.metrics())
  })

  for (const router of deps.routers) app.use(router)

  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: { code: 'not_found', message: `No route for ${req.method} ${req.path}` } })
  })

  const onError: ErrorRequestHandler = (error, req, res, _next) => {
    const { status, code, message } = describe(error)
    if (status >= 500) {
      deps.metrics.error('http_5xx')
      req.log.error({ err: error }, 'request failed')
    }
    if (res.headersSent) return
    res.status(status).json({ error: { code, message } })
  }
  app.use(onError)
  return app
}

function describe(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof AppError) return { status: error.status, code: error.code, message: error.message }
  const e = error as { type?: string; status?: number; message?: string; limit?: number }
  if (e?.type === 'entity.parse.failed') return { status: 400, code: 'invalid_json', message: 'The request body is not valid JSON' }
  if (e?.type === 'entity.too.large') return { status: 413, code: 'payload_too_large', message: `The request body is larger than ${e.limit} bytes` }
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return { status: 415, code: 'unsupported_encoding', message: e.message ?? 'Unsupported encoding' }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return { status: e.status, code: 'bad_request', message: e.message ?? 'Bad request' }
  return { status: 500, code: 'internal', message: 'Something went wrong on our side; it has been logged' }
}

export function listen(app: ReturnType<typeof createHttpApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(server)))
    server.keepAliveTimeout = 65_000
  })
}
