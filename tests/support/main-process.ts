import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import path from 'node:path'

/** The repository's root. */
export const ROOT = path.resolve(import.meta.dirname, '../..')

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export type MainProcess = { child: ChildProcess; output: () => string; stop(): Promise<void> }

/**
 * Starts `bots/main.ts` as `npm start` does (after generate), on the embedded defaults (no Redis,
 * no PostgreSQL, no OpenAI) with `env` on top, and waits until its output contains `ready`.
 */
export async function startMain(env: Record<string, string>, ready = 'Terminal chat:', timeoutMs = 90_000): Promise<MainProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bots/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', NODE_ENV: 'development', REDIS_URL: '', DATABASE_URL: '', OPENAI_API_KEY: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const deadline = Date.now() + timeoutMs
  while (!out.includes(ready)) {
    if (child.exitCode !== null) throw new Error(`exited early:\n${out}`)
    if (Date.now() > deadline) throw new Error(`"${ready}" not printed in time:\n${out}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    child,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}
