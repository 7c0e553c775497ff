import { mkdir, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { autoSharedBuffers } from '../../adapters/db/pglite-buffers.ts'

describe('PGLITE_SHARED_BUFFERS=auto: the buffer cache sized by the tables on disk at start', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })
  /** A DATA_DIR whose pglite/base holds sparse files of these sizes (no disk is used for them). */
  async function dataDir(sizes: number[]) {
    const dir = await mkdtemp(path.join(tmpdir(), 'buffers-'))
    dirs.push(dir)
    const base = path.join(dir, 'pglite', 'base', '5')
    await mkdir(base, { recursive: true })
    for (const [i, size] of sizes.entries()) {
      const file = await open(path.join(base, String(16384 + i)), 'w')
      await file.truncate(size)
      await file.close()
    }
    return dir
  }
  const MB = 1024 * 1024

  it('a new or in-memory database, or a small knowledge base, gets 16MB', async () => {
    expect(await autoSharedBuffers('memory://')).toBe('16MB')
    expect(await autoSharedBuffers(path.join(tmpdir(), 'no-such-data-dir-for-buffers'))).toBe('16MB')
    expect(await autoSharedBuffers(await dataDir([8 * MB, 20 * MB]))).toBe('16MB')
  })

  it('64MB from 64 MB of tables, 128MB from 256 MB (files in subfolders counted)', async () => {
    expect(await autoSharedBuffers(await dataDir([40 * MB, 30 * MB]))).toBe('64MB')
    expect(await autoSharedBuffers(await dataDir([200 * MB, 100 * MB]))).toBe('128MB')
  })
})
