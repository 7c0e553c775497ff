import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseWeb } from '../../adapters/files/web.ts'
import { createHashingEmbedder } from '../../adapters/local-ai/hashing-embedder.ts'
import { createSafeFetch, type LookupFn } from '../../adapters/net/safe-fetch.ts'
import { AppError } from '../../core/errors.ts'
import { UNAVAILABLE_REPLY } from '../../core/llm/llm-answerer.ts'
import { api, createOrg, startTestApp, TELEGRAM_DOC, waitFor, type TestApp, type TestOrg } from '../support/test-app.ts'

/**
 * Server-side request forgery: a URL chosen by a user (a page to import, an organization's model
 * provider) must not make the server read its own network. Names are resolved by a resolver the
 * test injects, never by /etc/hosts or real DNS; the only server is on 127.0.0.1 (and 127.0.0.2
 * for DNS rebinding), and it counts every request, so "refused" means "nothing was sent".
 */

type Hit = { host: string; path: string; authorization?: string }

const PUBLIC_IP = '93.184.215.14'
const SECRET = 'secret_internal_metric 42'

function startServer(host: string, port = 0, handle?: (req: IncomingMessage) => { status?: number; headers?: Record<string, string>; body?: string }) {
  const hits: Hit[] = []
  const server: Server = createServer((req, res) => {
    hits.push({ host: req.headers.host ?? '', path: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) })
    const out = handle?.(req) ?? route(req)
    res.writeHead(out.status ?? 200, out.headers ?? { 'content-type': 'text/html' })
    res.end(out.body ?? '')
  })
  return new Promise<{ server: Server; port: number; hits: Hit[] }>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve({ server, port: (server.address() as AddressInfo).port, hits }))
  })
}

let P = 0
const completion = (content: string) => ({
  id: 'chatcmpl-test',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'local-model',
  choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
})

function route(req: IncomingMessage): { status?: number; headers?: Record<string, string>; body?: string } {
  const path = req.url ?? '/'
  const chain = /^\/chain\/(\d+)\/(\d+)$/.exec(path)
  if (chain) {
    const [length, n] = [Number(chain[1]), Number(chain[2])]
    return n < length ? { status: 302, headers: { location: `/chain/${length}/${n + 1}` } } : { body: '<h1>End</h1><p>The end of the redirect chain.</p>' }
  }
  switch (path) {
    case '/page':
      return { body: '<title>Wiki</title><h1>Opening hours</h1><p>The harbor office opens at nine.</p>' }
    case '/metrics':
      return { headers: { 'content-type': 'text/plain' }, body: SECRET }
    case '/to-internal':
      return { status: 302, headers: { location: `http://internal.test:${P}/metrics` } }
    case '/to-literal':
      return { status: 301, headers: { location: `http://127.0.0.1:${P}/metrics` } }
    case '/to-file':
      return { status: 302, headers: { location: 'file:///etc/passwd' } }
    case '/to-other':
      return { status: 307, headers: { location: `http://other.test:${P}/echo` } }
    case '/to-same':
      return { status: 307, headers: { location: '/echo' } }
    case '/echo':
      return { headers: { 'content-type': 'text/plain' }, body: req.headers.authorization ?? 'no authorization' }
    case '/sitemap.xml':
      return { headers: { 'content-type': 'application/xml' }, body: `<?xml version="1.0"?><urlset><url><loc>http://site.test:${P}/page</loc></url><url><loc>http://internal.test:${P}/metrics</loc></url></urlset>` }
    case '/v1/chat/completions': {
      const whose = req.headers.authorization?.includes('sk-org-key') ? 'organization' : 'installation'
      return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(completion(`Answered by the ${whose} model.`)) }
    }
    default:
      return { status: 404, body: 'not found' }
  }
}

/** A resolver with fixed answers; it records every question. */
function fakeDns(answers: Record<string, string[] | ((n: number) => string[])>) {
  const asked: string[] = []
  const lookup: LookupFn = async (hostname) => {
    asked.push(hostname)
    const answer = answers[hostname]
    const addresses = typeof answer === 'function' ? answer(asked.filter((h) => h === hostname).length) : answer
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
  return { lookup, asked }
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; status: number; message: string }> {
  try {
    await promise
  } catch (error) {
    if (error instanceof AppError) return { code: error.code, status: error.status, message: error.message }
    throw error
  }
  throw new Error('expected a failure')
}

let local: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  local = await startServer('127.0.0.1')
  P = local.port
})
afterAll(() => new Promise<void>((resolve) => local.server.close(() => resolve())))
beforeEach(() => {
  local.hits.length = 0
})

const dns = () =>
  fakeDns({
    'site.test': ['127.0.0.1'],
    'other.test': ['127.0.0.1'],
    'internal.test': ['127.0.0.1'],
    'metrics.test': ['127.0.0.1'],
    'ten.test': ['10.0.0.5'],
    'v6.test': ['::1'],
    'metadata.test': ['169.254.169.254'],
    'mixed.test': [PUBLIC_IP, '10.0.0.5'],
  })
const web = { maxBytes: 100_000, timeoutMs: 5_000, maxPages: 10 }

describe('importing a URL: only public addresses', () => {
  it('refuses a host name that resolves to a loopback, private, IPv6 loopback or metadata address, and sends nothing', async () => {
    const { lookup } = dns()
    const cases: [string, string][] = [
      ['metrics.test', '127.0.0.1, loopback'],
      ['ten.test', '10.0.0.5, private network'],
      ['v6.test', '::1, loopback'],
      ['metadata.test', '169.254.169.254, link-local'],
      // One private address among public ones is enough to refuse.
      ['mixed.test', '10.0.0.5, private network'],
    ]
    for (const [host, why] of cases) {
      const url = `http://${host}:${P}/metrics`
      expect(await failure(parseWeb({ url }, { ...web, net: { lookup } }))).toEqual({
        status: 422,
        code: 'url_forbidden',
        message: `Could not import ${url}: the host resolves to a private address (${why}); only public addresses can be imported`,
      })
    }
    expect(local.hits).toEqual([])
  })

  it('refuses private IP addresses in every spelling a URL accepts, without a lookup or a request', async () => {
    const { lookup, asked } = dns()
    const spellings = [
      `http://127.0.0.1:${P}/metrics`,
      `http://2130706433:${P}/metrics`,
      `http://0x7f.1:${P}/metrics`,
      `http://0177.0.0.1:${P}/metrics`,
      `http://127.1:${P}/metrics`,
      `http://[::1]:${P}/metrics`,
      `http://[::ffff:127.0.0.1]:${P}/metrics`,
      `http://[::ffff:7f00:1]:${P}/metrics`,
      `http://[64:ff9b::7f00:1]:${P}/metrics`,
      `http://0.0.0.0:${P}/metrics`,
      'http://169.254.169.254/latest/meta-data',
      'http://10.0.0.1/',
      'http://[fd00::1]/',
    ]
    for (const url of spellings) {
      const result = await failure(parseWeb({ url }, { ...web, net: { lookup } }))
      expect(result, url).toMatchObject({ status: 422, code: 'url_forbidden', message: expect.stringMatching(/is a private address \(.+\); only public addresses can be imported$/) })
    }
    expect(await failure(parseWeb({ url: `http://2130706433:${P}/` }, { ...web, net: { lookup } }))).toMatchObject({ message: `Could not import http://127.0.0.1:${P}/: 127.0.0.1 is a private address (loopback); only public addresses can be imported` })
    expect(asked).toEqual([])
    expect(local.hits).toEqual([])
  })

  it('imports from a host the operator allows (ALLOW_PRIVATE_URLS), through the checked address', async () => {
    const { lookup, asked } = dns()
    const doc = await parseWeb({ url: `http://site.test:${P}/page` }, { ...web, net: { lookup, allowPrivate: ['site.test'] } })
    expect(doc.sections.map((s) => s.text).join(' ')).toContain('The harbor office opens at nine.')
    expect(asked).toEqual(['site.test'])
    expect(local.hits).toEqual([{ host: `site.test:${P}`, path: '/page' }])
  })

  it('checks every redirect before following it: a private name, a private address, another scheme', async () => {
    const { lookup } = dns()
    const net = { lookup, allowPrivate: ['site.test'] }
    expect(await failure(parseWeb({ url: `http://site.test:${P}/to-internal` }, { ...web, net }))).toEqual({
      status: 422,
      code: 'url_forbidden',
      message: `Could not import http://internal.test:${P}/metrics: the host resolves to a private address (127.0.0.1, loopback); only public addresses can be imported (redirected from http://site.test:${P}/to-internal)`,
    })
    expect(await failure(parseWeb({ url: `http://site.test:${P}/to-literal` }, { ...web, net }))).toMatchObject({
      code: 'url_forbidden',
      message: `Could not import http://127.0.0.1:${P}/metrics: 127.0.0.1 is a private address (loopback); only public addresses can be imported (redirected from http://site.test:${P}/to-literal)`,
    })
    expect(await failure(parseWeb({ url: `http://site.test:${P}/to-file` }, { ...web, net }))).toMatchObject({ code: 'invalid_url', message: expect.stringContaining('file:///etc/passwd: only http and https URLs are allowed') })
    // The redirects were asked for; the internal page never was.
    expect(local.hits.map((h) => `${h.host}${h.path}`)).toEqual([`site.test:${P}/to-internal`, `site.test:${P}/to-literal`, `site.test:${P}/to-file`])
  })

  it('follows at most 5 redirects: the 6th is an error and is not followed', async () => {
    const { lookup } = dns()
    const net = { lookup, allowPrivate: ['site.test'] }
    const doc = await parseWeb({ url: `http://site.test:${P}/chain/5/0` }, { ...web, net })
    expect(doc.sections[0]?.location.url).toBe(`http://site.test:${P}/chain/5/5`)
    local.hits.length = 0
    expect(await failure(parseWeb({ url: `http://site.test:${P}/chain/6/0` }, { ...web, net }))).toEqual({
      status: 422,
      code: 'too_many_redirects',
      message: `Could not import http://site.test:${P}/chain/6/0: more than 5 redirects (the last one to /chain/6/6)`,
    })
    expect(local.hits.map((h) => h.path)).toEqual(['/chain/6/0', '/chain/6/1', '/chain/6/2', '/chain/6/3', '/chain/6/4', '/chain/6/5'])
  })

  it('checks every page a sitemap lists: a private one fails the import and is not fetched', async () => {
    const { lookup } = dns()
    const result = await failure(parseWeb({ url: `http://site.test:${P}/sitemap.xml`, sitemap: true }, { ...web, net: { lookup, allowPrivate: ['site.test'] } }))
    expect(result).toMatchObject({ code: 'url_forbidden', message: expect.stringContaining(`Could not import http://internal.test:${P}/metrics: the host resolves to a private address (127.0.0.1, loopback)`) })
    expect(local.hits.map((h) => h.host)).not.toContain(`internal.test:${P}`)
  })
})

describe('the safe fetch', () => {
  it('connects to the address it checked: a name that answers differently the next time (DNS rebinding) does not reach the other address', async () => {
    // 127.0.0.1 plays the public address (the operator allows it here), 127.0.0.2 the internal
    // service on the same port. A check followed by a second lookup for the connection would
    // reach 127.0.0.2.
    const outside = await startServer('127.0.0.1', 0, () => ({ headers: { 'content-type': 'text/plain', connection: 'close' }, body: 'outside' }))
    let inside: Awaited<ReturnType<typeof startServer>>
    try {
      inside = await startServer('127.0.0.2', outside.port, () => ({ body: SECRET }))
    } catch {
      await new Promise((r) => outside.server.close(r))
      console.warn('127.0.0.2 is not available here: the DNS rebinding test is skipped')
      return
    }
    const { lookup, asked } = fakeDns({ 'rebind.test': (n) => (n === 1 ? ['127.0.0.1'] : ['127.0.0.2']) })
    const safeFetch = createSafeFetch({ lookup, allowPrivate: ['127.0.0.1'] })
    try {
      const url = `http://rebind.test:${outside.port}/`
      expect(await (await safeFetch(url)).text()).toBe('outside')
      // The server closed the connection: the next request resolves again, and is refused.
      expect(await failure(safeFetch(url))).toEqual({ status: 422, code: 'url_forbidden', message: `${url}: the host resolves to a private address (127.0.0.2, loopback)` })
      expect(asked).toEqual(['rebind.test', 'rebind.test'])
      expect(outside.hits).toHaveLength(1)
      expect(inside.hits).toEqual([])
    } finally {
      await safeFetch.close()
      await new Promise((r) => outside.server.close(r))
      await new Promise((r) => inside.server.close(r))
    }
  })

  it('keeps credentials on a redirect within the origin and drops them on a redirect to another one', async () => {
    const { lookup } = dns()
    const safeFetch = createSafeFetch({ lookup, allowPrivate: ['site.test', 'other.test'] })
    try {
      const headers = { authorization: 'Bearer sk-org-key-1234' }
      expect(await (await safeFetch(`http://site.test:${P}/to-same`, { headers })).text()).toBe('Bearer sk-org-key-1234')
      expect(await (await safeFetch(`http://site.test:${P}/to-other`, { headers })).text()).toBe('no authorization')
    } finally {
      await safeFetch.close()
    }
  })
})

describe('organizations’ provider keys and URL imports through the app', () => {
  let t: TestApp
  let org: TestOrg
  const INSTALLATION_KEY = 'sk-installation-key-0000'
  const { lookup } = fakeDns({
    'llm.private.test': ['10.0.0.7'],
    'llm.public.test': [PUBLIC_IP],
    'ollama.test': ['10.0.0.8'],
    // Public when the key is added, this server's loopback when it is used.
    'llm.rebind.test': (n) => (n === 1 ? [PUBLIC_IP] : ['127.0.0.1']),
    'llm.allowed.test': ['127.0.0.1'],
    'metrics.test': ['127.0.0.1'],
    // Public when the import is asked for, this server's loopback when the page is fetched.
    'metrics.rebind.test': (n) => (n === 1 ? [PUBLIC_IP] : ['127.0.0.1']),
    'wiki.test': ['127.0.0.1'],
  })

  beforeAll(async () => {
    t = await startTestApp({
      env: { ALLOW_PRIVATE_URLS: 'ollama.test,10.9.0.0/16,wiki.test,llm.allowed.test', OPENAI_API_KEY: INSTALLATION_KEY, OPENAI_BASE_URL: `http://127.0.0.1:${P}/v1`, OPENAI_CHAT_MODEL: 'local-model' },
      overrides: { embedder: createHashingEmbedder(), net: { lookup } },
    })
    org = await createOrg(t, { name: 'Private nets', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => {
    await t?.close()
  })

  const addKey = (body: Record<string, string>) => api(t, '/api/v1/provider-keys', { token: org.token, body: { name: `key-${Math.random().toString(36).slice(2, 8)}`, apiKey: 'sk-org-key-5678', ...body } })

  it('refuses a provider key whose base URL is private: an address, a name that resolves to one, the default of ollama', async () => {
    const refusal = 'a provider key can only point at a public address, unless the operator of this installation allows it with ALLOW_PRIVATE_URLS'
    const loopback = await addKey({ provider: 'custom', baseUrl: 'http://127.0.0.1:8080/v1' })
    expect(loopback.status).toBe(422)
    expect(loopback.json.error).toEqual({ code: 'url_forbidden', message: `baseUrl http://127.0.0.1:8080/v1: 127.0.0.1 is a private address (loopback); ${refusal}` })
    const ten = await addKey({ provider: 'vllm', baseUrl: 'http://10.1.2.3/v1' })
    expect(ten.status).toBe(422)
    expect(ten.json.error.message).toBe(`baseUrl http://10.1.2.3/v1: 10.1.2.3 is a private address (private network); ${refusal}`)
    const named = await addKey({ provider: 'custom', baseUrl: 'http://llm.private.test/v1' })
    expect(named.status).toBe(422)
    expect(named.json.error.message).toBe(`baseUrl http://llm.private.test/v1: the host resolves to a private address (10.0.0.7, private network); ${refusal}`)
    const ollama = await addKey({ provider: 'ollama' })
    expect(ollama.status).toBe(422)
    expect(ollama.json.error.message).toBe(
      'baseUrl http://127.0.0.1:11434/v1: 127.0.0.1 is a private address (loopback); this is the default address of ollama: set baseUrl to the address where your server can be reached from the internet, unless the operator of this installation allows it with ALLOW_PRIVATE_URLS',
    )
    expect((await api(t, '/api/v1/provider-keys', { token: org.token })).json.keys).toEqual([])
  })

  it('accepts a public base URL, and a private one that ALLOW_PRIVATE_URLS names', async () => {
    for (const baseUrl of ['http://llm.public.test/v1', 'http://10.9.3.4:11434/v1', 'http://ollama.test:11434/v1']) {
      const res = await addKey({ provider: 'custom', baseUrl })
      expect(res.status, baseUrl).toBe(201)
      expect(res.json.key.baseUrl).toBe(baseUrl)
    }
  })

  it('answers with the installation’s own model on a private address (OPENAI_BASE_URL is trusted)', async () => {
    local.hits.length = 0
    const res = await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'installation-model', text: 'How do I connect a Telegram bot?' } })
    expect(res.json.messages[0].text).toBe('Answered by the installation model.')
    expect(local.hits).toEqual([{ host: `127.0.0.1:${P}`, path: '/v1/chat/completions', authorization: `Bearer ${INSTALLATION_KEY}` }])
  })

  it('refuses at call time an organization’s key whose name now resolves to a private address', async () => {
    const added = await addKey({ provider: 'custom', baseUrl: `http://llm.rebind.test:${P}/v1` })
    expect(added.status).toBe(201)
    const patch = await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { providerKeyId: added.json.key.id, model: 'org-model' } })
    expect(patch.status).toBe(200)
    local.hits.length = 0
    const res = await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'rebound-key', text: 'How do I connect a Telegram bot?' } })
    expect(res.json.messages[0].text).toBe(UNAVAILABLE_REPLY)
    expect(local.hits).toEqual([])
    expect(t.logs.text()).toContain(`http://llm.rebind.test:${P}/v1/chat/completions: the host resolves to a private address (127.0.0.1, loopback)`)
    expect(t.logs.text()).not.toContain('sk-org-key-5678')
  })

  it('answers through an organization’s key on a private address the operator allows', async () => {
    const added = await addKey({ provider: 'custom', baseUrl: `http://llm.allowed.test:${P}/v1` })
    expect(added.status).toBe(201)
    await api(t, `/api/v1/agents/${org.agentId}`, { token: org.token, method: 'PATCH', body: { providerKeyId: added.json.key.id, model: 'org-model' } })
    local.hits.length = 0
    const res = await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'allowed-key', text: 'How do I connect a Telegram bot?' } })
    expect(res.json.messages[0].text).toBe('Answered by the organization model.')
    expect(local.hits).toEqual([{ host: `llm.allowed.test:${P}`, path: '/v1/chat/completions', authorization: 'Bearer sk-org-key-5678' }])
  })

  it('refuses at once a URL import whose host is or resolves to a private address, storing no source', async () => {
    const before = (await t.app.store.knowledge.listSources(org.organizationId)).length
    for (const url of [`http://metrics.test:${P}/metrics`, 'http://169.254.169.254/latest/meta-data', 'http://[::ffff:127.0.0.1]/']) {
      const res = await api(t, '/api/v1/knowledge/urls', { token: org.token, body: { url } })
      expect(res.status, url).toBe(422)
      expect(res.json.error.code).toBe('url_forbidden')
      expect(res.json.error.message).toContain('only public addresses can be imported')
    }
    expect((await t.app.store.knowledge.listSources(org.organizationId)).length).toBe(before)
    expect(local.hits).toEqual([])
  })

  it('fails a URL import whose host resolves to a private address only when it is fetched, and imports one the operator allows', async () => {
    const sourceOf = async (url: string) => {
      const res = await api(t, '/api/v1/knowledge/urls', { token: org.token, body: { url } })
      expect(res.status).toBe(202)
      const id = res.json.source.id as string
      await waitFor(async () => ['ready', 'failed'].includes((await t.app.store.knowledge.getSource(org.organizationId, id))!.status))
      return (await t.app.store.knowledge.getSource(org.organizationId, id))!
    }
    local.hits.length = 0
    const refused = await sourceOf(`http://metrics.rebind.test:${P}/metrics`)
    expect(refused).toMatchObject({ status: 'failed', error: expect.stringContaining(`http://metrics.rebind.test:${P}/metrics: the host resolves to a private address (127.0.0.1, loopback); only public addresses can be imported`) })
    expect(local.hits).toEqual([])
    const allowed = await sourceOf(`http://wiki.test:${P}/page`)
    expect(allowed).toMatchObject({ status: 'ready' })
    expect(local.hits).toEqual([{ host: `wiki.test:${P}`, path: '/page' }])
  })
})
