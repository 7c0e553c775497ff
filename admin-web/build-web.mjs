// Builds the admin web into admin-web/dist with Vite, when the build is missing or older than
// its sources (or always with --force). `npm start`, `npm test` and `npm run build:web` call it.
import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const web = path.join(here, 'web')
const built = path.join(here, 'dist', 'index.html')

function newest(dir) {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs)
  }
  return latest
}

const force = process.argv.includes('--force')
const stale = force || !existsSync(built) || statSync(built).mtimeMs < Math.max(newest(web), statSync(path.join(here, '..', 'package-lock.json')).mtimeMs)
if (stale) {
  const started = Date.now()
  process.stdout.write('Building the admin web (admin-web/dist)...\n')
  const { build } = await import('vite')
  await build({ configFile: path.join(web, 'vite.config.mjs') })
  process.stdout.write(`Admin web built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
}
