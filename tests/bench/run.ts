/**
 * The benchmark runner: `npm run bench` runs every benchmark, `npm run bench -- <name> [...]`
 * runs the named ones (options after a name go to that benchmark, e.g.
 * `npm run bench -- retrieval --file x.json`), `npm run bench -- --help` lists them. Benchmarks print their own figures
 * (a table and a final JSON line); they report targets but do not fail on them.
 */

type Benchmark = { description: string; run: (options: string[]) => Promise<void> }

/** name -> benchmark. Each is imported only when it runs. */
const BENCHMARKS: Record<string, Benchmark> = {
  turns: {
    description: 'web chat turns over HTTP with the extractive answerer on PGlite, ~300 chunks, concurrency 1 and 32, each beside its floor; statements per turn counted (--turns1 <n>, --turnsN <n>)',
    run: async (options) => (await import('./turns.ts')).turns(options),
  },
  retrieval: {
    description: 'Recall@1/5, MRR@10 and search latency on the SQuAD and XQuAD-ru sets through ingestion and hybrid search (--file <path>, --limit <n>, --titles)',
    run: async (options) => (await import('./retrieval.ts')).retrieval(options),
  },
  'retrieval-scale': {
    description: 'search latency p50/p95 and ingestion chunks/s with 100,000 chunks in one organization on PGlite (--chunks <n>, --queries <n>)',
    run: async (options) => (await import('./retrieval-scale.ts')).retrievalScale(options),
  },
  'import-bombs': {
    description: 'peak RSS above idle while importing DOCX and PDF decompression bombs and large legitimate files, each in a process of its own; target under 300 MB (--only <name,...>)',
    run: async (options) => (await import('./import-bombs.ts')).importBombs(options),
  },
  ingress: {
    description: 'webhook ingress under wrk at 4 and 32 connections with the turns running: the floor (express + PGlite, one INSERT per update) then Telegram, Slack and Messenger; requests/s, ack p50/p99, accepted, stored, answered, lost, duplicated, ratio to the floor (--duration <s>, --chats <n>, --only floor,telegram,..., --scale for server + 2 workers on PostgreSQL and Redis)',
    run: async (options) => (await import('./ingress.ts')).ingress(options),
  },
  'conversation-list': {
    description: 'the operators\' conversations list (one query with LATERAL joins) with 10,000 conversations per organization on PGlite, p50/p95 beside a bare page (floor) and the N+1 way (--conversations <n>, --messages <n>, --runs <n>)',
    run: async (options) => (await import('./conversation-list.ts')).conversationList(options),
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
  // `name [--option value ...] name ...`: options belong to the name before them.
  const options = new Map<string, string[]>()
  const named: string[] = []
  for (const arg of argv) {
    if (arg.startsWith('--') || (named.length && options.get(named.at(-1)!)!.at(-1)?.startsWith('--') && !Object.hasOwn(BENCHMARKS, arg))) {
      if (!named.length) {
        console.error(`options must follow a benchmark's name: ${arg}\n`)
        usage(console.error)
        return 2
      }
      options.get(named.at(-1)!)!.push(arg)
    } else {
      named.push(arg)
      options.set(arg, [])
    }
  }
  const names = named.length ? named : Object.keys(BENCHMARKS)
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
      await BENCHMARKS[name]!.run(options.get(name) ?? [])
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
