import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { loadConfig } from '../../adapters/channels.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { listen } from '../../adapters/http/server.ts'
import { buildApp, type App, type AppOverrides, type AppRole } from '../../bots/app.ts'

/** Collects every log line the app writes, so tests can assert on logs (e.g. that no secret leaks). */
export function logCapture() {
  const lines: string[] = []
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  return { lines, destination, text: () => lines.join('\n') }
}

export type TestApp = { app: App; url: string; logs: ReturnType<typeof logCapture>; close(): Promise<void> }

/** `port`: listen there (see freePort) when the app must know its own address before it starts, e.g. as PUBLIC_URL. */
export async function startTestApp(input: { env?: Record<string, string>; overrides?: AppOverrides; role?: AppRole; port?: number } = {}): Promise<TestApp> {
  const config = loadConfig({ DATA_DIR: 'memory://', LOG_LEVEL: 'debug', DEMO_SEED: 'false', WEBCHAT_REPLY_TIMEOUT_MS: '10000', ...input.env }, input.overrides?.modules)
  const logs = logCapture()
  const logger = createLogger({ level: config.LOG_LEVEL, destination: logs.destination })
  const app = await buildApp({ config, logger, role: input.role ?? 'all', overrides: input.overrides })
  const server: Server = await listen(app.http, input.port ?? 0, '127.0.0.1')
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    app,
    url,
    logs,
    async close() {
      // Open event streams and keep-alive sockets are cut at once rather than waited for.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections?.()
      await closed
      await app.close()
    },
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

export type TestOrg = { organizationId: string; agentId: string; webchatKey: string; token: string; email: string; password: string }

/** An organization with its owner signed in, an agent, and knowledge loaded and indexed. */
export async function createOrg(t: TestApp, input: { name: string; docs?: { title: string; content: string }[] }): Promise<TestOrg> {
  const email = `owner-${input.name.toLowerCase().replace(/\W+/g, '-')}-${Math.random().toString(36).slice(2, 8)}@example.com`
  const password = 'correct horse battery staple'
  const { organization } = await t.app.auth.createOrganizationWithOwner({ organizationName: input.name, email, name: `${input.name} owner`, password })
  const { agent, webchat } = await t.app.agents.createFor(organization.id, { name: `${input.name} assistant` })
  for (const doc of input.docs ?? []) {
    await t.app.knowledge.addSource({ organizationId: organization.id, agentId: null, title: doc.title, kind: 'markdown', content: doc.content })
  }
  await waitFor(async () => (await t.app.store.knowledge.listSources(organization.id)).every((s) => s.status === 'ready'))
  const login = await fetch(`${t.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) })
  const { token } = (await login.json()) as { token: string }
  return { organizationId: organization.id, agentId: agent.id, webchatKey: webchat.publicKey!, token, email, password }
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error('condition not met in time')
}

export async function api(t: TestApp, path: string, init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {}) {
  const headers: Record<string, string> = { ...(init.headers ?? {}) }
  if (init.token) headers.authorization = `Bearer ${init.token}`
  if (init.body !== undefined) headers['content-type'] ??= 'application/json'
  const res = await fetch(`${t.url}${path}`, { method: init.method ?? (init.body !== undefined || init.raw !== undefined ? 'POST' : 'GET'), headers, body: init.raw ?? (init.body !== undefined ? JSON.stringify(init.body) : undefined) })
  const text = await res.text()
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response shapes
  let json: any
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    // not JSON: leave json undefined, the test reads text
  }
  return { status: res.status, json, text, headers: res.headers }
}

export const TELEGRAM_DOC = {
  title: 'Channels',
  content: `# Channels

## Connecting a Telegram bot

To connect a Telegram bot, open @BotFather in Telegram, send /newbot and copy the token it gives you. Switchboard stores the token encrypted and sets the webhook with a secret token.

## Web chat

Every agent has a web chat page at /chat/{key}. Customers type a question and get an answer with its sources.
`,
}

export const BILLING_DOC = {
  title: 'Billing',
  content: `# Billing

## Plans

The Basic plan includes 5,000 responses per month. The Pro plan includes 15,000 responses per month and priority support.
`,
}
