import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'

/**
 * PGLITE_SHARED_BUFFERS=auto (the default): the embedded database's buffer cache sized by its
 * tables on disk when the process starts. The cache is touched as PostgreSQL starts and fills with
 * whatever the process reads, so a small knowledge base paid for a large one: the turns benchmark
 * (300 chunks) peaked at 472 MB RSS with 128MB and at 363 MB with 16MB, with no difference in its
 * turns. A large one needs it: at 100,000 chunks 128MB imported 568 chunks/s against 308 with
 * 16MB (the HNSW graph and the posting lists stay in memory). PostgreSQL cannot resize the cache
 * while it runs, so a knowledge base that grows past a step gets the larger cache at the next
 * start (docs/knowledge.md).
 */
export const SHARED_BUFFER_STEPS: { tablesUnderBytes: number; sharedBuffers: string }[] = [
  { tablesUnderBytes: 64 * 1024 * 1024, sharedBuffers: '16MB' },
  { tablesUnderBytes: 256 * 1024 * 1024, sharedBuffers: '64MB' },
  { tablesUnderBytes: Infinity, sharedBuffers: '128MB' },
]

export async function autoSharedBuffers(dataDir: string): Promise<string> {
  const bytes = dataDir === 'memory://' ? 0 : await sizeOf(path.resolve(dataDir, 'pglite', 'base'))
  return SHARED_BUFFER_STEPS.find((s) => bytes < s.tablesUnderBytes)!.sharedBuffers
}

/** Bytes of the files under `dir` (0 when it does not exist yet). */
async function sizeOf(dir: string): Promise<number> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  let total = 0
  for (const entry of entries) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) total += await sizeOf(full)
    else if (entry.isFile()) total += (await stat(full).catch(() => ({ size: 0 }))).size
  }
  return total
}
