import { describe, expect, it } from 'vitest'
import { chooseWasmCompiler, postgresBytes } from '../../adapters/db/pglite-options.ts'

describe("PGlite's WebAssembly compiler follows the buffer cache", () => {
  it('reads PostgreSQL sizes', () => {
    expect(postgresBytes('512kB')).toBe(512 * 1024)
    expect(postgresBytes('16MB')).toBe(16 * 1024 * 1024)
    expect(postgresBytes('1GB')).toBe(1024 ** 3)
    expect(postgresBytes('2048')).toBe(2048 * 8192)
    expect(() => postgresBytes('auto')).toThrow()
  })

  it('baseline code only under a 64MB cache (a small knowledge base), optimized code from 64MB', () => {
    expect(chooseWasmCompiler('16MB')).toBe('baseline')
    expect(chooseWasmCompiler('8MB')).toBe('baseline')
    expect(chooseWasmCompiler('64MB')).toBe('optimizing')
    expect(chooseWasmCompiler('128MB')).toBe('optimizing')
    expect(chooseWasmCompiler('1GB')).toBe('optimizing')
  })
})
