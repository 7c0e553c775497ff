import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
const mb = (b: number) => (b / 1048576).toFixed(0)
const show = (label: string) => { const m = process.memoryUsage(); console.log(`${label.padEnd(28)} rss ${mb(m.rss)}  heapTotal ${mb(m.heapTotal)}  heapUsed ${mb(m.heapUsed)}  external ${mb(m.external)}  arrayBuffers ${mb(m.arrayBuffers)}`) }
show('start')
const { PGlite } = await import('@electric-sql/pglite')
const { vector } = await import('@electric-sql/pglite-pgvector')
show('pglite imported')
const mode = process.argv[2] ?? 'disk'
const dir = mode === 'memory' ? undefined : await mkdtemp(path.join(tmpdir(), 'pgl-'))
const client = await PGlite.create(dir, { extensions: { vector } })
show(`PGlite.create (${mode})`)
await client.query('select 1')
show('select 1')
const { migrate } = await import('../../adapters/db/migrate.ts')
await migrate({ exec: async (s: string) => { await client.exec(s) }, query: async (s: string, p: unknown[] = []) => (await client.query(s, p)).rows as any, withLock: (fn: any) => fn() } as any)
show('migrated')
await import('../../bots/app.ts')
show('app.ts imported')
