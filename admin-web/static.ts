import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import express, { type Router } from 'express'

/** The admin web's built files (npm run build:web writes them; npm start builds them when missing or stale). */
export const ADMIN_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'dist')

/** Serves the admin web at /admin/ from the same process as the API; / leads there. */
export function createAdminWebRouter(dist = ADMIN_DIST): Router {
  const router = express.Router({ strict: true })
  router.get('/', (_req, res) => res.redirect(302, '/admin/'))
  router.get('/admin', (_req, res) => res.redirect(301, '/admin/'))
  router.use('/admin', (_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('X-Frame-Options', 'DENY')
    res.setHeader('Referrer-Policy', 'no-referrer')
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    next()
  })
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
