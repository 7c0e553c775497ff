import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureDemoWorkspace, type DemoCredentials, type DemoDoc } from '../core/tenancy/demo.ts'
import type { App } from './app.ts'

export const DOCS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs')

async function readDocs(dir: string): Promise<DemoDoc[]> {
  const docs: DemoDoc[] = []
  const walk = async (d: string) => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name)
      if (entry.isDirectory()) await walk(full)
      else if (/\.(md|txt)$/i.test(entry.name)) {
        const content = await readFile(full, 'utf8')
        const title = /^#\s+(.+)$/m.exec(content)?.[1]?.trim() ?? entry.name
        docs.push({ uri: `docs/${path.relative(dir, full).split(path.sep).join('/')}`, title, content })
      }
    }
  }
  await walk(dir)
  return docs.sort((a, b) => a.uri.localeCompare(b.uri))
}

/** Creates or reuses the demo workspace, writes DATA_DIR/demo-credentials.json, waits for the docs to be indexed. */
export async function seedDemo(app: App, options: { waitMs?: number } = {}): Promise<DemoCredentials> {
  const inMemory = app.config.DATA_DIR === 'memory://'
  const file = path.resolve(app.config.DATA_DIR, 'demo-credentials.json')
  const saved = inMemory ? null : await readFile(file, 'utf8').then((s) => JSON.parse(s) as DemoCredentials, () => null)
  const { credentials, created, queued } = await ensureDemoWorkspace({ store: app.store, auth: app.auth, agents: app.agents, knowledge: app.knowledge, docs: await readDocs(DOCS_DIR), saved })
  if (created && !inMemory) {
    await mkdir(app.config.DATA_DIR, { recursive: true })
    await writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 })
  }
  if (queued.length) {
    app.logger.info({ sources: queued.length }, 'indexing the docs into the demo knowledge base')
    const deadline = Date.now() + (options.waitMs ?? 120_000)
    while (Date.now() < deadline) {
      const sources = (await app.store.knowledge.listSources(credentials.organizationId)).filter((s) => queued.includes(s.id))
      if (sources.every((s) => s.status === 'ready' || s.status === 'failed')) break
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  return credentials
}
