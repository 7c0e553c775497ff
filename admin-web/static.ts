import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import express, { type Router } from 'express'
import helmet from 'helmet'

/** The admin web's built files (npm run build:web writes them; npm start builds them when missing or stale). */
export const ADMIN_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'dist')

/** Serves the admin web at /admin/ from the same process as the API; / leads there. */
export function createAdminWebRouter(dist = ADMIN_DIST): Router {
  const router = express.Router({ strict: true })
  router.get('/', (_req, res) => res.redirect(302, '/admin/'))
  router.get('/admin', (_req, res) => res.redirect(301, '/admin/'))
  // The admin pages are never framed and send no referrer. HSTS is the app's (production only).
  router.use(
    '/admin',
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'self'"], imgSrc: ["'self'", 'data:'], styleSrc: ["'self'", "'unsafe-inline'"], connectSrc: ["'self'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'self'"] },
      },
      xFrameOptions: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: false,
    }),
  )
  // Hashed asset names never change: cache them; index.html always revalidates.
  router.use('/admin/assets', express.static(path.join(dist, 'assets'), { immutable: true, maxAge: '365d', fallthrough: false }))
  router.get(['/admin/', '/admin/index.html'], (_req, res) => {
    const index = path.join(dist, 'index.html')
    if (!existsSync(index)) {
      res.status(503).type('text/plain').send('The admin web is not built: run `npm run build:web` (npm start does it for you).')
      return
    }
    res.setHeader('Cache-Control', 'no-cache')
    res.sendFile(index)
  })
  router.use('/admin', express.static(dist, { index: false }))
  return router
}
