import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../adapters/db/database.ts'
import { readMigrations } from '../../adapters/db/migrate.ts'

describe('migrations', () => {
  const dirs: string[] = []
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

  it('applies every migration once, records it as Prisma does, and applies nothing on the next start', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-migrate-'))
    dirs.push(dir)
    const names = (await readMigrations()).map((m) => m.name)
    const first = await openDatabase({ dataDir: dir })
    expect(await first.migrate()).toEqual(names)
    const rows = await first.runner.query<{ migration_name: string; checksum: string; finished_at: Date | null }>('SELECT migration_name, checksum, finished_at FROM "_prisma_migrations"')
    expect(rows.map((r) => r.migration_name)).toEqual(names)
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.checksum) && r.finished_at)).toBe(true)
    const ext = await first.runner.query<{ extname: string }>(`SELECT extname FROM pg_extension WHERE extname = 'vector'`)
    expect(ext).toHaveLength(1)
    await first.close()

    const second = await openDatabase({ dataDir: dir })
    expect(await second.migrate()).toEqual([])
    await second.close()
  })
})
