// `npm run kb -- import <path|url>` and `npm run kb -- list`: the knowledge base from the terminal,
// over a running Switchboard's HTTP API, with a progress bar while a source is processed.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { ingestStage } from '../core/knowledge/knowledge-service.ts'
import type { KnowledgeSource } from '../core/ports.ts'

export const kbUsage = `Usage:
  npm run kb -- import <path|url> [--sitemap] [--max-pages N] [--agent <agent id>]
  npm run kb -- list
Options: --url http://localhost:3000 (or SWITCHBOARD_URL), --email and --password (default: the
demo admin from DATA_DIR/demo-credentials.json), --timeout <seconds> (default 600).`

type Out = { write(text: string): unknown; isTTY?: boolean }
type SourceView = Pick<KnowledgeSource, 'id' | 'title' | 'status' | 'progress' | 'error' | 'chunkCount' | 'kind'>

/** Runs one kb command; returns the process exit code. */
export async function runKb(argv: string[], io: { out: Out; err: Out; env?: NodeJS.ProcessEnv; pollMs?: number } = { out: process.stdout, err: process.stderr }): Promise<number> {
  const env = io.env ?? process.env
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      agent: { type: 'string' },
      sitemap: { type: 'boolean' },
      'max-pages': { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [command, target] = positionals
  if (values.help || (command !== 'import' && command !== 'list') || (command === 'import' && !target)) {
    io.out.write(`${kbUsage}\n`)
    return values.help ? 0 : 2
  }
  const base = (values.url ?? env.SWITCHBOARD_URL ?? `http://localhost:${env.PORT ?? 3000}`).replace(/\/$/, '')
  const call = async (route: string, init: RequestInit = {}, token?: string) => {
    const headers = new Headers(init.headers)
    if (token) headers.set('authorization', `Bearer ${token}`)
    const res = await fetch(`${base}${route}`, { ...init, headers }).catch(() => {
      throw new Error(`Cannot reach Switchboard at ${base}. Start it with \`npm start\` (or pass --url).`)
    })
    const text = await res.text()
    let body: { error?: { message?: string } } & Record<string, unknown> = {}
    try {
      body = text ? JSON.parse(text) : {}
    } catch {
      // not JSON
    }
    if (!res.ok) throw new Error(body.error?.message ?? `HTTP ${res.status} from ${route}`)
    return body
  }

  const credentials = values.email && values.password ? { email: values.email, password: values.password } : await demoCredentials(env)
  const { token } = (await call('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) })) as unknown as { token: string }

  if (command === 'list') {
    const { sources } = (await call('/api/v1/knowledge/sources', {}, token)) as unknown as { sources: SourceView[] }
    if (!sources.length) io.out.write('The knowledge base is empty. Add a file with `npm run kb -- import <path|url>`.\n')
    for (const s of sources) {
      io.out.write(`${s.status.padEnd(10)} ${`${s.progress}%`.padStart(4)} ${String(s.chunkCount).padStart(6)} chunks  ${s.title}  (${s.id})${s.error ? `\n           ${s.error}` : ''}\n`)
    }
    return 0
  }

  let created: SourceView
  if (/^https?:\/\//i.test(target!)) {
    const maxPages = values['max-pages'] ? Number(values['max-pages']) : undefined
    const body = { url: target, ...(values.sitemap ? { sitemap: true } : {}), ...(maxPages ? { maxPages } : {}), ...(values.agent ? { agentId: values.agent } : {}) }
    created = ((await call('/api/v1/knowledge/urls', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, token)) as unknown as { source: SourceView }).source
  } else {
    const bytes = await readFile(target!).catch((error: NodeJS.ErrnoException) => {
      throw new Error(error.code === 'ENOENT' ? `${target}: no such file` : `${target}: ${error.message}`)
    })
    const form = new FormData()
    form.append('file', new Blob([new Uint8Array(bytes)]), path.basename(target!))
    const query = values.agent ? `?agentId=${encodeURIComponent(values.agent)}` : ''
    created = ((await call(`/api/v1/knowledge/files${query}`, { method: 'POST', body: form }, token)) as unknown as { source: SourceView }).source
  }

  io.out.write(`Importing ${created.title} (${created.id})\n`)
  const deadline = Date.now() + Number(values.timeout ?? 600) * 1000
  let last = ''
  for (;;) {
    const { source } = (await call(`/api/v1/knowledge/sources/${created.id}`, {}, token)) as unknown as { source: SourceView }
    const line = progressBar(source)
    if (line !== last) {
      io.out.write(io.out.isTTY ? `\r${line}\x1b[K` : `${line}\n`)
      last = line
    }
    if (source.status === 'ready') {
      io.out.write(`${io.out.isTTY ? '\n' : ''}Ready: "${source.title}", ${source.chunkCount} chunks.\n`)
      return 0
    }
    if (source.status === 'failed') {
      io.out.write(io.out.isTTY ? '\n' : '')
      io.err.write(`Failed: ${source.error ?? 'unknown reason'}\n`)
      return 1
    }
    if (Date.now() > deadline) {
      io.err.write(`\nStill ${source.status} after ${values.timeout ?? 600} s; check later with \`npm run kb -- list\`.\n`)
      return 1
    }
    await new Promise((r) => setTimeout(r, io.pollMs ?? 300))
  }
}

/** `[#####-----] 50% embedding`: ten cells, the percentage, and the stage. */
export function progressBar(source: Pick<KnowledgeSource, 'status' | 'progress'>, width = 10): string {
  const pct = Math.max(0, Math.min(100, Math.round(source.progress)))
  const filled = Math.round((pct / 100) * width)
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${ingestStage(source)}`
}

export async function demoCredentials(env: NodeJS.ProcessEnv): Promise<{ email: string; password: string }> {
  const file = path.resolve(env.DATA_DIR ?? './data', 'demo-credentials.json')
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as { adminEmail: string; adminPassword: string }
    return { email: saved.adminEmail, password: saved.adminPassword }
  } catch {
    throw new Error(`No --email/--password given and ${file} does not exist yet: run \`npm start\` once first.`)
  }
}
