import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { configSchemaFor, loadConfig, channelModules } from '../../adapters/channels.ts'
import { ROOT } from '../support/main-process.ts'
import { postgresAnswers } from '../support/postgres.ts'
import { emptyDatabase } from '../support/scale-out.ts'

/**
 * Docker does not run on these machines, so docker-compose.yml is checked by reading it the way
 * Compose does: .env feeds both the interpolation of ${...} and the containers' env_file, and a
 * service's `environment` wins over its env_file. The environment each Switchboard container gets
 * must carry every variable README.md documents and parse with the real configuration schema.
 */
type Service = {
  command?: string[]
  env_file?: (string | { path: string; required?: boolean })[]
  environment?: Record<string, string | number>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
  restart?: string
  ports?: string[]
  image?: string
}
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> }
const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8')
const SWITCHBOARD = ['migrate', 'app', 'worker'] as const

/** The variables of README.md's configuration table. */
const readmeVariables = (() => {
  const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 5))
  const names = table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...line.split(' | ')[0]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!))
  return [...new Set(names)]
})()

/** A dotenv file as Compose reads it: KEY=VALUE lines, # comments, optional quotes. */
function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (m) out[m[1]!] = m[2]!.trim().replace(/^(['"])(.*)\1$/, '$2')
  }
  return out
}

/** Compose's interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, name?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
    if (match === '$$') return '$'
    if (bare) return vars[bare] ?? ''
    const v = vars[name!]
    const missing = colon ? !v : v === undefined
    if (op === '-') return missing ? interpolate(arg ?? '', vars) : v!
    if (op === '?') {
      if (missing) throw new Error(`required variable ${name} is missing a value: ${arg}`)
      return v!
    }
    return v ?? ''
  })
}

/** The environment of one service's container, given the .env file next to docker-compose.yml. */
function containerEnv(name: string, dotenv: Record<string, string>): Record<string, string> {
  const service = compose.services[name]!
  const env: Record<string, string> = {}
  for (const file of service.env_file ?? []) {
    const p = typeof file === 'string' ? file : file.path
    expect(p, `${name}: env_file`).toBe('.env')
    Object.assign(env, dotenv)
  }
  for (const [k, v] of Object.entries(service.environment ?? {})) env[k] = interpolate(String(v), dotenv)
  return env
}

const KEY = 'a'.repeat(64)

describe('docker-compose.yml against the configuration', () => {
  it('.env.example lists every variable README.md documents, and only variables Switchboard reads', () => {
    expect(readmeVariables.length).toBeGreaterThan(50)
    const listed = [...example.matchAll(/^#?\s?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!)
    expect(readmeVariables.filter((v) => !listed.includes(v))).toEqual([])
    const schema = Object.keys(configSchemaFor(channelModules).shape)
    expect(listed.filter((v) => !schema.includes(v))).toEqual([])
    expect(readmeVariables.filter((v) => !schema.includes(v))).toEqual([])
  })

  it('every README variable set in .env reaches the migration, the app and the worker with its value', () => {
    const dotenv = Object.fromEntries(readmeVariables.map((v) => [v, `value-of-${v}`]))
    for (const name of SWITCHBOARD) {
      const env = containerEnv(name, dotenv)
      const lost = readmeVariables.filter((v) => env[v] !== `value-of-${v}`)
      expect(lost, name).toEqual([])
    }
  })

  it('the environment each container gets from .env.example (with a key) parses with the configuration schema', () => {
    const dotenv = { ...parseEnvFile(example), ENCRYPTION_KEY: KEY }
    for (const name of SWITCHBOARD) {
      const config = loadConfig(containerEnv(name, dotenv))
      expect(config.NODE_ENV, name).toBe('production')
      expect(config.ENCRYPTION_KEY, name).toBe(KEY)
      expect(new URL(config.DATABASE_URL!).hostname, name).toBe('postgres')
      expect(new URL(config.REDIS_URL!).hostname, name).toBe('redis')
    }
    expect(loadConfig(containerEnv('worker', dotenv)).METRICS_PORT).toBe(9464)
    // Without a key Compose stops with the fix named (and production would refuse to start anyway).
    expect(() => containerEnv('app', parseEnvFile(example))).toThrow(/ENCRYPTION_KEY.*openssl rand -hex 32/)
    // The database and Redis the defaults name are services of this file, with health checks.
    for (const dependency of ['postgres', 'redis']) expect(compose.services[dependency]?.healthcheck?.test.length).toBeGreaterThan(0)
    expect(compose.services.postgres!.image ?? '').toMatch(/^pgvector\/pgvector:/)
  })

  it('migrations run once, before the app and the workers, which have health checks on /readyz', () => {
    const migrate = compose.services.migrate!
    expect(migrate.command).toEqual(['npx', 'tsx', 'bots/migrate.ts'])
    expect(migrate.restart).toBe('no')
    expect(migrate.depends_on?.postgres?.condition).toBe('service_healthy')
    const dotenv = { ...parseEnvFile(example), ENCRYPTION_KEY: KEY }
    for (const name of ['app', 'worker']) {
      const service = compose.services[name]!
      expect(service.depends_on?.migrate?.condition, name).toBe('service_completed_successfully')
      expect(service.depends_on?.redis?.condition, name).toBe('service_healthy')
      const [kind, ...check] = service.healthcheck!.test
      expect(kind).toBe('CMD')
      expect(check.slice(0, 2)).toEqual(['node', '-e'])
      // The health check asks /readyz on the port the process serves in that container.
      const env = containerEnv(name, dotenv)
      const port = name === 'app' ? (env.PORT ?? '3000') : env.METRICS_PORT
      expect(port, name).toBeTruthy()
      const script = check[2]!
      expect(script).toContain('/readyz')
      expect(script).toContain(name === 'app' ? 'process.env.PORT || 3000' : 'process.env.METRICS_PORT')
    }
    for (const name of SWITCHBOARD) {
      const script = compose.services[name]!.command!.at(-1)!
      expect(existsSync(path.join(ROOT, script)), script).toBe(true)
    }
    expect(compose.services.app!.ports).toEqual(['${PORT:-3000}:${PORT:-3000}'])
  })

  it("README's Docker Compose steps name the files and services that exist", () => {
    const section = readme.slice(readme.indexOf('Or use Docker Compose'), readme.indexOf('## Documentation'))
    expect(section).toContain('cp .env.example .env')
    expect(section).toContain('docker compose up -d --build')
    for (const m of section.matchAll(/docker compose (?:run --rm|up -d --scale|logs|exec) (\w+)/g)) expect(Object.keys(compose.services), m[0]).toContain(m[1]!)
    for (const m of section.matchAll(/--scale (\w+)=/g)) expect(Object.keys(compose.services)).toContain(m[1]!)
    for (const m of section.matchAll(/npx tsx (bots\/[\w-]+\.ts)/g)) expect(existsSync(path.join(ROOT, m[1]!)), m[1]).toBe(true)
  })
})

const pgAnswers = await postgresAnswers("the migrate service's command on PostgreSQL")

describe.skipIf(!pgAnswers)('bots/migrate.ts (the migrate service)', () => {
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'bots/migrate.ts'], { cwd: ROOT, env: { ...process.env, DATA_DIR: 'memory://', LOG_LEVEL: 'info', REDIS_URL: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      child.stderr.on('data', (d: Buffer) => (out += d.toString()))
      child.on('exit', (code) => resolve({ code, out }))
    })

  it('applies the migrations and exits 0; a second run applies nothing; without pgvector and the setting it exits 78', async () => {
    const db = await emptyDatabase('migrate')
    try {
      const refused = await run({ DATABASE_URL: db.url, KNOWLEDGE_VECTORS: '' })
      expect(refused.code).toBe(78)
      expect(refused.out).toContain('KNOWLEDGE_VECTORS=off')
      const first = await run({ DATABASE_URL: db.url, KNOWLEDGE_VECTORS: 'off' })
      expect(first.code, first.out).toBe(0)
      expect(first.out).toContain('database migrated')
      const second = await run({ DATABASE_URL: db.url, KNOWLEDGE_VECTORS: 'off' })
      expect(second.code, second.out).toBe(0)
      expect(second.out).toContain('database already up to date')
      const client = new pg.Client({ connectionString: db.url })
      await client.connect()
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM "_prisma_migrations"`)
      await client.end()
      expect(rows[0]!.n).toBeGreaterThan(10)
    } finally {
      await db.drop()
    }
  }, 300_000)
})
