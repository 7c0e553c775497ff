/**
 * The benchmark runner: `npm run bench` runs every benchmark, `npm run bench -- <name> [...]`
 * runs the named ones, `npm run bench -- --help` lists them. Benchmarks print their own figures
 * (a table and a final JSON line); they report targets but do not fail on them.
 */

type Benchmark = { description: string; run: () => Promise<void> }

/** name -> benchmark. Each is imported only when it runs. */
const BENCHMARKS: Record<string, Benchmark> = {
  turns: {
    description: 'web chat turns over HTTP with the extractive answerer on PGlite, ~300 chunks, concurrency 1 and 32',
    run: async () => (await import('./turns.ts')).turns(),
  },
  llm: {
    description: 'the LLM router against a local fake OpenAI-compatible server (calls/s, router overhead p50/p95), then web chat turns answered through it (turns/s, latency)',
    run: async () => (await import('./llm.ts')).llm(),
  },
}

function usage(out: (s: string) => void = console.log) {
  out('usage: npm run bench [-- <name> ...]\n')
  out('benchmarks:')
  const width = Math.max(...Object.keys(BENCHMARKS).map((n) => n.length))
  for (const [name, b] of Object.entries(BENCHMARKS)) out(`  ${name.padEnd(width)}  ${b.description}`)
  out('\nWith no name, every benchmark runs, one after another.')
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    usage()
    return 0
  }
  const names = argv.length ? argv : Object.keys(BENCHMARKS)
  const unknown = names.filter((n) => !Object.hasOwn(BENCHMARKS, n))
  if (unknown.length) {
    console.error(`unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}\n`)
    usage(console.error)
    return 2
  }
  let failed = 0
  for (const name of names) {
    const started = performance.now()
    console.log(`\n=== ${name} ===`)
    try {
      await BENCHMARKS[name]!.run()
      console.log(`=== ${name}: finished in ${((performance.now() - started) / 1000).toFixed(1)} s ===`)
    } catch (error) {
      failed++
      console.error(`=== ${name}: could not run: ${(error as Error).stack ?? error} ===`)
    }
  }
  return failed ? 1 : 0
}

// Exit explicitly: a benchmark that leaves a handle open must not keep the runner alive.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
