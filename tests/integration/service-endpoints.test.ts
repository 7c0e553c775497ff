import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

describe('service endpoints', () => {
  let t: TestApp
  let org: TestOrg
  beforeAll(async () => {
    t = await startTestApp()
    org = await createOrg(t, { name: 'Ops', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => t?.close())

  it('healthz and readyz answer, with a request id on every response', async () => {
    const health = await api(t, '/healthz')
    expect(health.json).toEqual({ status: 'ok' })
    expect(health.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const ready = await api(t, '/readyz', { headers: { 'x-request-id': 'trace-me-123' } })
    expect(ready.json).toEqual({ status: 'ready', knowledge: { semantic: true, mode: 'hybrid', embedder: 'local-hash-v1-128' } })
    expect(ready.headers.get('x-request-id')).toBe('trace-me-123')
    expect(t.logs.lines.some((l) => l.includes('"requestId":"trace-me-123"'))).toBe(true)
  })

  it('serves metrics to this machine and private networks, and 403 to a client on the internet behind a local proxy', async () => {
    expect((await fetch(`${t.url}/metrics`, { headers: { 'x-forwarded-for': '10.20.30.40' } })).status).toBe(200)
    const outside = await fetch(`${t.url}/metrics`, { headers: { 'x-forwarded-for': '8.8.8.8' } })
    expect(outside.status).toBe(403)
    expect(await outside.json()).toMatchObject({ error: { code: 'forbidden' } })
  })

  it('metrics count HTTP requests, turn latency, queue depth and errors in Prometheus text', async () => {
    await api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId: 'metrics-session', text: 'How do I connect a Telegram bot?' } })
    const res = await fetch(`${t.url}/metrics`)
    expect(res.headers.get('content-type')).toMatch(/text\/plain/)
    const text = await res.text()
    expect(text).toMatch(/switchboard_http_requests_total\{method="POST",route="\/api\/v1\/webchat\/:key\/messages",status="200"\} [1-9]/)
    expect(text).toMatch(/switchboard_turn_duration_seconds_count\{outcome="answered"\} [1-9]/)
    expect(text).toMatch(/switchboard_queue_depth \d+/)
    expect(text).toContain('switchboard_errors_total')
  })

  it('openapi.json describes every route the API serves', async () => {
    const doc = (await api(t, '/api/v1/openapi.json')).json
    expect(doc.openapi).toBe('3.1.0')
    for (const [path, method] of [
      ['/api/v1/auth/login', 'post'],
      ['/api/v1/agents', 'get'],
      ['/api/v1/agents', 'post'],
      ['/api/v1/agents/{id}', 'patch'],
      ['/api/v1/agents/{id}', 'delete'],
      ['/api/v1/knowledge/sources', 'post'],
      ['/api/v1/knowledge/sources/{id}', 'delete'],
      ['/api/v1/knowledge/search', 'get'],
      ['/api/v1/webchat/{key}/messages', 'post'],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined()
    }
    const post = doc.paths['/api/v1/webchat/{key}/messages'].post
    expect(post.requestBody.content['application/json'].schema.required).toEqual(['sessionId', 'text'])
  })

  it('readyz answers 503 when the database is gone, and the process stays up', async () => {
    const other = await startTestApp()
    await other.app.db.close()
    const res = await api(other, '/readyz')
    expect(res.status).toBe(503)
    expect(res.json.status).toBe('unavailable')
    expect((await api(other, '/healthz')).status).toBe(200)
    await other.close().catch(() => undefined)
  })
})
