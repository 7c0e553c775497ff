import { createHmac } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

/**
 * Throws malformed, oversized and hostile requests at every route that answers without a session
 * (read from the app's own OpenAPI document, so a new public route is fuzzed without editing this
 * file) and at every webhook. Each answer must be below 500, and every 4xx a JSON error; after the
 * run the process still answers and no table holds a row more than before.
 *
 * Seeded and bounded: FUZZ_SEED and FUZZ_RUNS change them; a failure prints the seed and the
 * shrunk request, so it can be replayed.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261201)
const RUNS = Number(process.env.FUZZ_RUNS ?? 250)
const MAX_BODY_BYTES = 16_384
const STRIPE_SECRET = 'whsec_fuzz_secret'
const LS_SECRET = 'ls-fuzz-secret'

type Probe = { method: string; path: string; headers: Record<string, string>; body?: string | Buffer }
type Answer = { status: number; contentType: string; text: string }

// ---- hostile pieces

const hostileStrings = fc.constantFrom(
  '</script><script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff lone',
  '../../../../etc/passwd',
  '%2e%2e%2f%2e%2e%2f',
  "' OR '1'='1",
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  'http://169.254.169.254/latest/meta-data/',
  'file:///etc/passwd',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '🙂'.repeat(50),
  'x'.repeat(5000),
  '',
  ' ',
)
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), hostileStrings)
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(text, tie('value'), { maxKeys: 4 })),
})).value

/** Field names the real routes read, so objects get past "unknown field" now and then and reach deeper checks. */
const fieldNames = fc.constantFrom('sessionId', 'text', 'messageId', 'email', 'password', 'name', 'organizationName', 'token', 'update_id', 'message', 'chat', 'from', 'id', 'type', 'data', 'meta', '__proto__', 'constructor', 'prototype')
const nearlyValid = fc.dictionary(fieldNames, jsonish, { maxKeys: 6 })

const rawBodies: fc.Arbitrary<{ body: string | Buffer; contentType: string; encoding?: string }> = fc.oneof(
  jsonish.map((v) => ({ body: JSON.stringify(v) ?? 'null', contentType: 'application/json' })),
  nearlyValid.map((v) => ({ body: JSON.stringify(v), contentType: 'application/json' })),
  fc.constantFrom(
    '{"sessionId": "abc',
    '{"a":1,}',
    '[',
    '{"__proto__":{"isAdmin":true},"text":"x"}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
    '{"text":1e999999}',
    '\ufeff{"text":"bom"}',
    '{"text":"\\ud83d"}',
    '{"text":"a\\u0000b","sessionId":"fuzz-session-1"}',
  ).map((body) => ({ body, contentType: 'application/json' })),
  text.map((body) => ({ body, contentType: 'application/json' })),
  text.map((body) => ({ body, contentType: 'text/plain' })),
  text.map((body) => ({ body, contentType: 'application/x-www-form-urlencoded' })),
  text.map((body) => ({ body, contentType: 'multipart/form-data; boundary=' })),
  fc.constant({ body: JSON.stringify({ sessionId: 'fuzz-session-2', text: 'y'.repeat(MAX_BODY_BYTES + 10) }), contentType: 'application/json' }),
  fc.constant({ body: gzipSync(JSON.stringify({ sessionId: 'fuzz-gzip', text: 'z'.repeat(MAX_BODY_BYTES * 40) })), contentType: 'application/json', encoding: 'gzip' }),
  fc.constant({ body: Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]), contentType: 'application/json', encoding: 'gzip' }),
  fc.constant({ body: '{}', contentType: 'application/json', encoding: 'br, compress' }),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ body: Buffer.from(bytes), contentType: 'application/octet-stream' })),
)

/** Every byte percent-encoded: works for any string, lone surrogates included (encodeURIComponent throws on those). */
const percentEncoded = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
/** A path parameter: sometimes the real one, so the request reaches the body checks; otherwise hostile. */
const param = (real: string) => fc.oneof({ weight: 3, arbitrary: fc.constant(real) }, { weight: 2, arbitrary: text.map(percentEncoded) }, { weight: 1, arbitrary: fc.constantFrom('%00', '..%2f..%2f', '%E0%A4%A', 'x'.repeat(300), '00000000-0000-4000-8000-000000000000') })

describe('fuzzing the public routes and webhooks', () => {
  let t: TestApp
  let org: TestOrg
  let telegramInbox: string
  let publicRoutes: { method: string; path: string }[]

  const send = async (p: Probe): Promise<Answer> => {
    const res = await fetch(`${t.url}${p.path}`, { method: p.method, headers: p.headers, body: Buffer.isBuffer(p.body) ? new Uint8Array(p.body) : p.body })
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() }
  }

  /** Every table's row count: a refused request must not have written anywhere. */
  const rowCounts = async () => {
    const tables = await t.app.db.runner.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations' ORDER BY 1`)
    const counts: Record<string, number> = {}
    for (const { name } of tables) counts[name] = (await t.app.db.runner.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${name}"`))[0]!.n
    return counts
  }

  beforeAll(async () => {
    t = await startTestApp({
      env: {
        MAX_BODY_BYTES: String(MAX_BODY_BYTES),
        LOG_LEVEL: 'silent',
        // The limits would answer most probes with 429 before their bodies are looked at.
        WEBCHAT_RATE_PER_IP: '0',
        WEBCHAT_RATE_PER_KEY: '0',
        SIGNUP_RATE_PER_IP: '0',
        STRIPE_SECRET_KEY: 'sk_test_fuzz',
        STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
        STRIPE_PRICES: '{"basic:month":"price_fuzz"}',
        LEMONSQUEEZY_API_KEY: 'ls_fuzz_key',
        LEMONSQUEEZY_STORE_ID: '1',
        LEMONSQUEEZY_WEBHOOK_SECRET: LS_SECRET,
        LEMONSQUEEZY_VARIANTS: '{"basic:month":"1"}',
      },
    })
    org = await createOrg(t, { name: 'Fuzz', docs: [TELEGRAM_DOC] })
    // A Telegram inbox to aim at; webhooks of an unknown inbox and a wrong secret must look alike.
    const inbox = await t.app.store.inboxes.create({ organizationId: org.organizationId, agentId: org.agentId, channel: 'telegram', name: 'fuzz bot', publicKey: null, settings: {} })
    telegramInbox = inbox.id
    const doc = (await (await fetch(`${t.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>> }
    publicRoutes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).filter(([, op]) => !op.security?.length).map(([method]) => ({ method: method.toUpperCase(), path })))
  })
  afterAll(async () => t?.close())

  it('finds the public routes to fuzz in the OpenAPI document', () => {
    // Sign-in, sign-up, password reset, invitations and the web chat are all public.
    const paths = publicRoutes.map((r) => `${r.method} ${r.path}`)
    expect(paths).toEqual(expect.arrayContaining(['POST /api/v1/auth/login', 'POST /api/v1/webchat/{key}/messages', 'GET /api/v1/webchat/{key}/messages']))
    expect(publicRoutes.length).toBeGreaterThanOrEqual(8)
  })

  it('every hostile request gets an answer below 500, a JSON error when refused, and writes nothing', async () => {
    const before = await rowCounts()
    const fill = (path: string) =>
      fc.tuple(...[...path.matchAll(/\{(\w+)\}/g)].map((m) => param(m[1] === 'key' ? org.webchatKey : m[1] === 'inboxId' ? telegramInbox : 'x'))).map((values) => {
        let i = 0
        return path.replace(/\{\w+\}/g, () => values[i++]!)
      })
    const query = fc.option(fc.dictionary(fc.constantFrom('sessionId', 'after', 'q', 'token', 'limit', '__proto__'), text, { maxKeys: 3 }).map((q) => `?${new URLSearchParams(q)}`), { nil: '' })

    const apiProbe: fc.Arbitrary<Probe> = fc
      .constantFrom(...publicRoutes)
      .chain((route) => fc.record({ route: fc.constant(route), path: fill(route.path), query, raw: rawBodies }))
      .map(({ route, path, query: q, raw }) => ({
        method: route.method,
        path: `${path}${q}`,
        headers: { 'content-type': raw.contentType, ...(raw.encoding ? { 'content-encoding': raw.encoding } : {}) },
        body: route.method === 'GET' ? undefined : raw.body,
      }))

    const stripeSignature = (body: string | Buffer, secret: string) => {
      const ts = Math.floor(Date.now() / 1000)
      return `t=${ts},v1=${createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex')}`
    }
    const webhookProbe: fc.Arbitrary<Probe> = fc.record({ raw: rawBodies, signed: fc.boolean(), which: fc.constantFrom('telegram', 'stripe', 'lemonsqueezy'), inbox: param(telegramInbox) }).map(({ raw, signed, which, inbox }) => {
      const headers: Record<string, string> = { 'content-type': raw.contentType, ...(raw.encoding ? { 'content-encoding': raw.encoding } : {}) }
      if (which === 'telegram') {
        // A wrong secret, or none: the update must be refused whatever it holds.
        if (signed) headers['x-telegram-bot-api-secret-token'] = 'not-the-secret'
        return { method: 'POST', path: `/webhooks/telegram/${inbox}`, headers, body: raw.body }
      }
      if (which === 'stripe') headers['stripe-signature'] = signed ? stripeSignature(raw.body, STRIPE_SECRET) : stripeSignature(raw.body, 'whsec_wrong')
      else {
        headers['x-signature'] = createHmac('sha256', signed ? LS_SECRET : 'wrong').update(raw.body).digest('hex')
        headers['x-event-name'] = 'subscription_created'
      }
      return { method: 'POST', path: `/webhooks/${which}`, headers, body: raw.body }
    })

    const seen = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 3, arbitrary: apiProbe }, { weight: 1, arbitrary: webhookProbe }), async (probe) => {
        const answer = await send(probe)
        seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1)
        expect(answer.status, `${probe.method} ${probe.path} -> ${answer.status} ${answer.text.slice(0, 200)}`).toBeLessThan(500)
        if (answer.status >= 400) {
          expect(answer.contentType).toMatch(/^application\/json/)
          expect(JSON.parse(answer.text)).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } })
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    )
    if (process.env.FUZZ_VERBOSE) console.log("fuzz statuses", Object.fromEntries(seen))
    // Refusals were many and of several kinds, so the run did reach the checks it claims to test.
    const refused = [...seen].filter(([status]) => status >= 400)
    expect(refused.length).toBeGreaterThanOrEqual(4)
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200)
    expect(await rowCounts()).toEqual(before)
  }, 120_000)

  it('every route behind a session refuses a body no schema could accept with 4xx JSON, and writes nothing', async () => {
    const doc = (await (await fetch(`${t.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>> }
    const guarded = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).filter(([method, op]) => op.security?.length && method !== 'get').map(([method]) => ({ method: method.toUpperCase(), path })))
    expect(guarded.length).toBeGreaterThanOrEqual(20)
    // Broken JSON, too large, text PostgreSQL refuses, an undecodable encoding: refused before any route runs.
    const unacceptable = fc.constantFrom(
      { body: '{"name": "x', contentType: 'application/json' },
      { body: '{"name":"a\\u0000b"}', contentType: 'application/json' },
      { body: '{"name":"\\udc00"}', contentType: 'application/json' },
      { body: JSON.stringify({ name: 'n'.repeat(MAX_BODY_BYTES) }), contentType: 'application/json' },
      { body: '{}', contentType: 'application/json', encoding: 'x-unknown' },
    )
    const before = await rowCounts()
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...guarded), unacceptable, async (route, raw) => {
        const path = route.path.replace(/\{\w+\}/g, '00000000-0000-4000-8000-000000000000')
        const answer = await send({ method: route.method, path, headers: { authorization: `Bearer ${org.token}`, 'content-type': raw.contentType, ...(raw.encoding ? { 'content-encoding': raw.encoding } : {}) }, body: raw.body })
        expect(answer.status, `${route.method} ${path} -> ${answer.status} ${answer.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400)
        expect(answer.status).toBeLessThan(500)
        expect(JSON.parse(answer.text)).toMatchObject({ error: { code: expect.any(String) } })
      }),
      { seed: SEED, numRuns: Math.min(RUNS, guarded.length * 5), endOnFailure: true },
    )
    expect(await rowCounts()).toEqual(before)
  }, 120_000)

  it('an agent name with markup reaches the public chat page as text, not as markup', async () => {
    const hostile = '</script><script>alert(1)</script>\u0000'
    const agentRes = await fetch(`${t.url}/api/v1/agents/${org.agentId}`, { method: 'PATCH', headers: { authorization: `Bearer ${org.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: hostile.replace('\u0000', '') }) })
    expect(agentRes.status).toBe(200)
    const page = await send({ method: 'GET', path: `/chat/${org.webchatKey}`, headers: {} })
    expect(page.status).toBe(200)
    expect(page.text).not.toContain('<script>alert(1)</script>')
  })
})
