import v8 from 'node:v8'

/** Buffer caches under this size (a small knowledge base, see pglite-buffers.ts) run PGlite on baseline code. */
const BASELINE_UNDER_BYTES = 64 * 1024 * 1024

/**
 * V8 compiles PGlite's WebAssembly (and Prisma's query compiler) first with its baseline compiler,
 * Liftoff, then recompiles the functions that run often with its optimizing compiler, TurboFan, on
 * background threads. The memory those compilations take is freed into the C allocator's
 * per-thread arenas, which keep it: with the app built on a new data directory the turns
 * benchmark's process held 369 MB against 262 MB on Liftoff code only (the arenas 133 against
 * 29 MB), and its turns took no more CPU time. A large knowledge base needs the optimized code:
 * importing 100,000 chunks (the HNSW inserts) ran at less than half the rate on Liftoff code.
 *
 * So the choice follows the buffer cache (PGLITE_SHARED_BUFFERS, `auto` by the tables on disk):
 * under 64MB, Liftoff only. The flag is the process's (worker threads share it) and applies to
 * modules compiled after it is set: call this before the first `PGlite.create` of the process.
 */
export function chooseWasmCompiler(sharedBuffers: string): 'baseline' | 'optimizing' {
  return postgresBytes(sharedBuffers) < BASELINE_UNDER_BYTES ? 'baseline' : 'optimizing'
}

export function applyWasmCompiler(sharedBuffers: string): void {
  if (chooseWasmCompiler(sharedBuffers) === 'baseline') v8.setFlagsFromString('--liftoff-only')
}

/** A PostgreSQL memory size (`8MB`, `128MB`, `1GB`, `512kB`) in bytes; a bare number is in 8 kB pages. */
export function postgresBytes(size: string): number {
  const m = /^(\d+)\s*(kB|MB|GB|TB)?$/.exec(size.trim())
  if (!m) throw new Error(`not a PostgreSQL size: ${size}`)
  const unit = { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2] ?? ''] ?? 8192
  return Number(m[1]) * unit
}
