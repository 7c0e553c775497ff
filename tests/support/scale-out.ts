import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { freePort, ROOT } from './main-process.ts'
import { ADMIN_URL } from './postgres.ts'

/**
 * The scale-out deployment as real processes: `bots/server.ts` and N `bots/worker.ts` as child
 * processes on one PostgreSQL database and one Redis, the way docker-compose.yml runs them. Used
 * by tests/integration/scale-out.test.ts, and meant for benchmarks that load the same deployment.
 */

/** A fresh, empty database on the machine's PostgreSQL (TEST_POSTGRES_URL), dropped by drop(). */
export async function emptyDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `sbtest_${prefix}_${process.pid}_${Date.now().toString(36)}`
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE "${name}"`)
  await admin.end()
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: ADMIN_URL })
      await client.connect()
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch((e: unknown) => console.warn(`could not drop ${name}: ${(e as Error).message}`))
      await client.end()
    },
  }
}

export type ScaleOutProcess = {
  readonly name: string
  readonly role: 'server' | 'worker'
  /** The HTTP port: the server's PORT, a worker's METRICS_PORT (/healthz, /readyz, /metrics). */
  readonly port: number
  readonly url: string
  /** The current child process (a new one after restart()). */
  readonly child: ChildProcess
  /** Everything the process wrote to stdout and stderr, over all its starts. */
  output(): string
  /** Sends the signal and waits until the process has exited; resolves with its exit code or signal. */
  kill(signal?: NodeJS.Signals): Promise<number | string | null>
  /** Starts the process again with the same environment and port, and waits until it is ready. */
  restart(): Promise<void>
}

export type ScaleOut = {
  server: ScaleOutProcess
  workers: ScaleOutProcess[]
  /** The server's base URL. */
  url: string
  /** Every process, ended with SIGTERM (SIGKILL after 10 s). */
  stop(): Promise<void>
}

const READY = { server: 'Switchboard server is listening', worker: 'Switchboard worker is consuming jobs' } as const

/**
 * Starts the server, waits until it is listening (it applies the migrations), then the workers
 * together. `env` goes to every process (DATABASE_URL, REDIS_URL, REDIS_PREFIX and whatever the
 * test needs); ENCRYPTION_KEY is made up when not given, the same for all, as a deployment must.
 * `workerEnv(i)` adds to worker i's environment (its own OPENAI_BASE_URL, WORKER_CONCURRENCY).
 */
export async function startScaleOut(input: {
  env: Record<string, string>
  workers: number
  serverEnv?: Record<string, string>
  workerEnv?: (index: number) => Record<string, string>
  startTimeoutMs?: number
}): Promise<ScaleOut> {
  const timeoutMs = input.startTimeoutMs ?? 240_000
  const shared = { LOG_LEVEL: 'info', NODE_ENV: 'development', DATA_DIR: 'memory://', HOST: '127.0.0.1', ENCRYPTION_KEY: randomBytes(32).toString('hex'), ...input.env }
  const started: ScaleOutProcess[] = []
  try {
    const server = await startProcess({ name: 'server', role: 'server', env: { ...shared, ...input.serverEnv }, timeoutMs })
    started.push(server)
    const workers = await Promise.all(
      Array.from({ length: input.workers }, async (_, i) => {
        const worker = await startProcess({ name: `worker-${i + 1}`, role: 'worker', env: { ...shared, ...input.workerEnv?.(i) }, timeoutMs })
        started.push(worker)
        return worker
      }),
    )
    return { server, workers, url: server.url, stop: () => stopAll(started) }
  } catch (error) {
    await stopAll(started)
    throw error
  }
}

async function stopAll(processes: ScaleOutProcess[]): Promise<void> {
  await Promise.all(
    processes.map(async (p) => {
      const force = setTimeout(() => p.child.kill('SIGKILL'), 10_000)
      await p.kill('SIGTERM')
      clearTimeout(force)
    }),
  )
}

async function startProcess(input: { name: string; role: 'server' | 'worker'; env: Record<string, string>; timeoutMs: number }): Promise<ScaleOutProcess> {
  const port = await freePort()
  const env = { ...process.env, ...input.env, ...(input.role === 'server' ? { PORT: String(port) } : { METRICS_PORT: String(port) }) }
  const script = input.role === 'server' ? 'bots/server.ts' : 'bots/worker.ts'
  let log = ''
  let child!: ChildProcess

  async function start() {
    const mark = log.length
    child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()))
    const deadline = Date.now() + input.timeoutMs
    // Ready: it says so in its log (LOG_LEVEL info), or, with a quieter log, its /healthz answers.
    const answers = () => fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)
    while (!log.includes(READY[input.role], mark) && !(await answers())) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${input.name} exited while starting (${child.exitCode ?? child.signalCode}):\n${log.slice(mark)}`)
      if (Date.now() > deadline) throw new Error(`${input.name} did not start within ${input.timeoutMs} ms:\n${log.slice(mark)}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  await start()
  return {
    name: input.name,
    role: input.role,
    port,
    url: `http://127.0.0.1:${port}`,
    get child() {
      return child
    },
    output: () => log,
    kill: (signal: NodeJS.Signals = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode ?? child.signalCode)
        child.once('exit', (code, sig) => resolve(code ?? sig))
        child.kill(signal)
      }),
    restart: start,
  }
}
