import path from 'node:path'
import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

const here = path.dirname(fileURLToPath(import.meta.url))

// The admin web is served by the API process at /admin/ from admin-web/dist.
export default defineConfig({
  root: here,
  base: '/admin/',
  plugins: [react()],
  logLevel: 'warn',
  build: { outDir: path.resolve(here, '../dist'), emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 600 },
})
