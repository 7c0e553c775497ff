import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import { createKommoClient, KommoApiError, kommoApiErrorOf, kommoApiUrl, MAX_BACKOFF_MS, redact } from '../../adapters/kommo/client.ts'
import type { RateLimiter } from '../../adapters/kommo/rate-limit.ts'
import { contactsSchema, pipelinesSchema } from '../../adapters/kommo/schemas.ts'
import { createOAuthClient, createTokenManager, type KommoTokens, type TokenStore } from '../../adapters/kommo/tokens.ts'

// Shaped like Kommo's tokens (a JWT access token, a "def502..." refresh token), so that redaction by shape is tested too.
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjbGllbnQtaWQiLCJqdGkiOiIxIn0.c2lnbmF0dXJlLW9mLXRoZS1maXJzdC10b2tlbg'
const NEW_TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjbGllbnQtaWQiLCJqdGkiOiIyIn0.c2lnbmF0dXJlLW9mLXRoZS1zZWNvbmQtdG9rZW4'

type Call = { url: string; method: string; headers: Record<string, string>; body: string | undefined }
type Reply = { status: number; json?: unknown; text?: string; headers?: Record<string, string> } | Error

/** A fetch that answers with the given replies in turn (the last one repeats) and records every request. */
function stubFetch(...replies: Reply[]) {
  const calls: Call[] = []
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), method: init?.method ?? 'GET', headers: { ...(init?.headers as Record<string, string>) }, body: init?.body as string | undefined })
    const reply = replies[Math.min(calls.length - 1, replies.length - 1)]!
    if (reply instanceof Error) throw reply
    const body = reply.status === 204 ? null : (reply.text ?? (reply.json === undefined ? '' : JSON.stringify(reply.json)))
    return new Response(body, { status: reply.status, headers: { 'content-type': reply.text ? 'text/html' : 'application/hal+json', ...reply.headers } })
  }) as typeof globalThis.fetch
  return { fetch, calls }
}

/** A token source that hands out TOKEN, and NEW_TOKEN once forced. */
function tokenSource() {
  const asked: ({ force?: boolean; seen?: string } | undefined)[] = []
  let current = TOKEN
  return {
    asked,
    accessToken: async (opts?: { force?: boolean; seen?: string }) => {
      asked.push(opts)
      if (opts?.force) current = NEW_TOKEN
      return current
    },
  }
}

function countingLimiter() {
  const keys: string[] = []
  const limiter: RateLimiter = {
    acquire: async (key) => {
      keys.push(key)
      return 0
    },
  }
  return { limiter, keys }
}

function client(fetch: typeof globalThis.fetch, extra: { retries?: number; onBlocked?: (reason: string) => Promise<void>; apiUrlTemplate?: string } = {}) {
  const waits: number[] = []
  const tokens = tokenSource()
  const { limiter, keys } = countingLimiter()
  const kommo = createKommoClient({ subdomain: 'acme', apiUrlTemplate: extra.apiUrlTemplate ?? 'https://{subdomain}.kommo.com', tokens, limiter, fetch, sleep: async (ms) => void waits.push(ms), retries: extra.retries, onBlocked: extra.onBlocked })
  return { kommo, waits, tokens, keys }
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise
  } catch (e) {
    expect(e).toBeInstanceOf(AppError)
    const error = e as AppError
    expect(error.message).not.toContain(TOKEN)
    expect(error.message).not.toContain(NEW_TOKEN)
    return error
  }
  throw new Error('expected the call to fail')
}

/** Kommo's documented validation error (crm_platform/error-codes.md). */
const validationErrors = {
  'validation-errors': [
    { request_id: '0', errors: [{ code: 'NotSupportedChoice', path: 'custom_fields_values.0.field_id', detail: 'The value you selected is not a valid choice.' }] },
    { request_id: '1', errors: [{ code: 'InvalidType', path: 'price', detail: 'This value should be of type int.' }] },
  ],
  title: 'Bad Request',
  type: 'https://httpstatus.es/400',
  status: 400,
  detail: 'Request validation failed',
}

const PIPELINES = {
  _total_items: 1,
  _links: { self: { href: 'https://acme.kommo.com/api/v4/leads/pipelines' } },
  _embedded: {
    pipelines: [{ id: 3177727, name: 'Sales', sort: 1, is_main: true, is_archive: false, _embedded: { statuses: [{ id: 32392156, name: 'Incoming', sort: 10, type: 1 }, { id: 142, name: 'Won', sort: 10000, type: 0 }] } }],
  },
}

describe('createKommoClient', () => {
  it('calls the account address with the Bearer token, the query and a JSON body, after the limiter', async () => {
    const { fetch, calls } = stubFetch({ status: 200, json: [{ id: 1, contact_id: 2, company_id: null, request_id: ['a'], merged: false }] })
    const { kommo, keys } = client(fetch)
    const body = [{ name: 'Lead', _embedded: { contacts: [{ first_name: 'Ann' }] }, request_id: 'a' }]
    const res = await kommo.request({ method: 'POST', path: '/api/v4/leads/complex', query: { with: 'contacts' }, body })
    expect(res).toEqual([{ id: 1, contact_id: 2, company_id: null, request_id: ['a'], merged: false }])
    expect(calls).toHaveLength(1)
    expect(calls[0]!.url).toBe('https://acme.kommo.com/api/v4/leads/complex?with=contacts')
    expect(calls[0]!.url).not.toContain(TOKEN)
    expect(calls[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`)
    expect(calls[0]!.headers['content-type']).toBe('application/json')
    expect(JSON.parse(calls[0]!.body!)).toEqual(body)
    expect(keys).toEqual(['acme'])
  })

  it('uses the KOMMO_API_URL template and parses the answer with the schema', async () => {
    const { fetch, calls } = stubFetch({ status: 200, json: PIPELINES })
    const { kommo } = client(fetch, { apiUrlTemplate: 'http://127.0.0.1:4010/kommo/{subdomain}/' })
    const res = await kommo.request({ method: 'GET', path: '/api/v4/leads/pipelines', schema: pipelinesSchema })
    expect(calls[0]!.url).toBe('http://127.0.0.1:4010/kommo/acme/api/v4/leads/pipelines')
    expect(res!._embedded.pipelines[0]!._embedded.statuses.map((s) => s.id)).toEqual([32392156, 142])
    // Loose objects: fields Switchboard does not read stay.
    expect((res as Record<string, unknown>)._total_items).toBe(1)
  })

  it('returns null for 204, Kommo\'s "nothing found"', async () => {
    const { fetch } = stubFetch({ status: 204 })
    const { kommo } = client(fetch)
    expect(await kommo.request({ method: 'GET', path: '/api/v4/contacts', query: { query: '+15550001111' }, schema: contactsSchema })).toBeNull()
  })

  it('on 401 forces one refresh (naming the refused token) and retries with the new token', async () => {
    const { fetch, calls } = stubFetch({ status: 401, json: { title: 'Unauthorized', status: 401, detail: 'Invalid token' } }, { status: 200, json: { id: 1, name: 'Acme', subdomain: 'acme' } })
    const { kommo, tokens, keys } = client(fetch)
    expect(await kommo.request({ method: 'GET', path: '/api/v4/account' })).toEqual({ id: 1, name: 'Acme', subdomain: 'acme' })
    expect(tokens.asked).toEqual([undefined, { force: true, seen: TOKEN }])
    expect(calls.map((c) => c.headers.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${NEW_TOKEN}`])
    expect(keys).toEqual(['acme', 'acme'])
  })

  it('gives up after a second 401: crm_unauthorized 422, one refresh only', async () => {
    const { fetch, calls } = stubFetch({ status: 401, json: { title: 'Unauthorized', status: 401, detail: `token ${TOKEN} revoked` } })
    const { kommo, tokens } = client(fetch)
    const e = await failure(kommo.request({ method: 'GET', path: '/api/v4/account' }))
    expect(e).toMatchObject({ code: 'crm_unauthorized', status: 422 })
    expect(e.message).toMatch(/Connect Kommo again/)
    expect(calls).toHaveLength(2)
    expect(tokens.asked.filter((o) => o?.force)).toHaveLength(1)
    expect(kommoApiErrorOf(e)).toBeInstanceOf(KommoApiError)
    expect(kommoApiErrorOf(e)!.detail).not.toContain(TOKEN)
  })

  it('waits 1 s, 2 s, 4 s on 429 and then answers crm_rate_limited 503', async () => {
    const { fetch, calls } = stubFetch({ status: 429, json: { title: 'Too Many Requests', status: 429 } })
    const { kommo, waits, keys } = client(fetch)
    const e = await failure(kommo.request({ method: 'GET', path: '/api/v4/leads' }))
    expect(e).toMatchObject({ code: 'crm_rate_limited', status: 503 })
    expect(waits).toEqual([1000, 2000, 4000])
    expect(calls).toHaveLength(4)
    // Every attempt waited for the limiter again.
    expect(keys).toHaveLength(4)
  })

  it('goes on after a 429 once Kommo lets it, capping the pause', async () => {
    const { fetch } = stubFetch({ status: 429, headers: { 'retry-after': '120' } }, { status: 200, json: { ok: true } })
    const { kommo, waits } = client(fetch)
    expect(await kommo.request({ method: 'GET', path: '/api/v4/leads' })).toEqual({ ok: true })
    expect(waits).toEqual([MAX_BACKOFF_MS])
  })

  it('on 403 reports the block once and fails every later call without calling Kommo', async () => {
    const { fetch, calls } = stubFetch({ status: 403, json: { title: 'Forbidden', status: 403, detail: 'Account is blocked' } })
    const reasons: string[] = []
    const { kommo, keys } = client(fetch, { onBlocked: async (reason) => void reasons.push(reason) })
    const first = await failure(kommo.request({ method: 'GET', path: '/api/v4/leads' }))
    expect(first).toMatchObject({ code: 'crm_blocked', status: 503 })
    expect(reasons).toHaveLength(1)
    expect(reasons[0]).toContain('403')
    expect(reasons[0]).toContain('Account is blocked')
    const later = await failure(kommo.request({ method: 'POST', path: '/api/v4/leads/complex', body: [] }))
    expect(later).toMatchObject({ code: 'crm_blocked', status: 503 })
    expect(calls).toHaveLength(1)
    expect(keys).toHaveLength(1)
    expect(reasons).toHaveLength(1)
  })

  it('still fails as blocked when the alert itself fails', async () => {
    const { fetch } = stubFetch({ status: 403 })
    const { kommo } = client(fetch, { onBlocked: async () => Promise.reject(new Error('database down')) })
    expect(await failure(kommo.request({ method: 'GET', path: '/api/v4/leads' }))).toMatchObject({ code: 'crm_blocked' })
  })

  it('answers 402 as the subscription having ended', async () => {
    const { fetch } = stubFetch({ status: 402, json: { title: 'Payment Required', status: 402 } })
    const { kommo } = client(fetch)
    const e = await failure(kommo.request({ method: 'GET', path: '/api/v4/leads' }))
    expect(e).toMatchObject({ code: 'crm_payment_required', status: 402 })
    expect(e.message).toMatch(/subscription .* has ended/)
  })

  it('names every refused field of a 400 with validation-errors', async () => {
    const { fetch } = stubFetch({ status: 400, json: validationErrors })
    const { kommo } = client(fetch)
    const e = await failure(kommo.request({ method: 'POST', path: '/api/v4/leads/complex', body: [{}, {}] }))
    expect(e).toMatchObject({ code: 'validation_failed', status: 422 })
    expect(e.message).toBe('Kommo refused POST /api/v4/leads/complex: item 0: custom_fields_values.0.field_id: The value you selected is not a valid choice.; item 1: price: This value should be of type int.')
    expect(kommoApiErrorOf(e)!.validation).toEqual([
      { path: 'custom_fields_values.0.field_id', code: 'NotSupportedChoice', detail: 'The value you selected is not a valid choice.', requestId: '0' },
      { path: 'price', code: 'InvalidType', detail: 'This value should be of type int.', requestId: '1' },
    ])
  })

  it('answers other failures as provider_error 502 with Kommo\'s status kept, and no answer as crm_unreachable', async () => {
    const server = client(stubFetch({ status: 500, text: `<html>Internal error for Bearer ${TOKEN}</html>` }).fetch)
    const e500 = await failure(server.kommo.request({ method: 'GET', path: '/api/v4/leads' }))
    expect(e500).toMatchObject({ code: 'provider_error', status: 502 })
    expect(e500.message).toContain('[redacted]')

    const missing = client(stubFetch({ status: 404, json: { title: 'Not Found', status: 404, detail: 'Lead not found' } }).fetch)
    const e404 = await failure(missing.kommo.request({ method: 'GET', path: '/api/v4/leads/7' }))
    expect(e404).toMatchObject({ code: 'provider_error', status: 502 })
    expect(kommoApiErrorOf(e404)).toMatchObject({ status: 404, title: 'Not Found', detail: 'Lead not found' })

    const down = client(stubFetch(new TypeError(`fetch failed: connect ECONNREFUSED (Authorization: Bearer ${TOKEN})`)).fetch)
    const offline = await failure(down.kommo.request({ method: 'GET', path: '/api/v4/leads' }))
    expect(offline).toMatchObject({ code: 'crm_unreachable', status: 502 })
    expect(offline.message).toContain('ECONNREFUSED')

    const moved = client(stubFetch({ status: 301, headers: { location: 'https://elsewhere.kommo.com/api/v4/leads' } }).fetch)
    expect((await failure(moved.kommo.request({ method: 'GET', path: '/api/v4/leads' }))).message).toMatch(/address may have changed/)
  })

  it('answers an unexpected shape as provider_error naming where, never the values', async () => {
    const { fetch } = stubFetch({ status: 200, json: { id: 'secret-looking-value', name: 'Acme' } })
    const { kommo } = client(fetch)
    const e = await failure(kommo.request({ method: 'GET', path: '/api/v4/account', schema: z.object({ id: z.number(), name: z.string(), subdomain: z.string() }) }))
    expect(e).toMatchObject({ code: 'provider_error', status: 502 })
    expect(e.message).toMatch(/^Kommo answered in an unexpected shape \(GET \/api\/v4\/account: id: .*; subdomain: /)
    expect(e.message).not.toContain('secret-looking-value')
  })

  it('refuses paths that could leave the API and subdomains that are not host labels', async () => {
    const { fetch, calls } = stubFetch({ status: 200, json: {} })
    const { kommo } = client(fetch)
    await expect(kommo.request({ method: 'GET', path: '/api/v4/../../oauth2' })).rejects.toThrow(TypeError)
    await expect(kommo.request({ method: 'GET', path: '/api/v4/leads?x=1' })).rejects.toThrow(TypeError)
    await expect(kommo.request({ method: 'GET', path: 'https://evil.example/' })).rejects.toThrow(TypeError)
    expect(calls).toHaveLength(0)
    expect(() => kommoApiUrl('https://{subdomain}.kommo.com', 'evil.example/x')).toThrow(AppError)
    expect(kommoApiUrl('https://{subdomain}.kommo.com/', 'Acme')).toBe('https://acme.kommo.com')
  })

  it('redacts tokens by value and by shape', () => {
    expect(redact(`a ${TOKEN} b`)).toBe('a [redacted] b')
    expect(redact('refresh_token=def50200aabbccddeeff00112233445566778899aabbccdd&x=1')).toBe('refresh_token=[redacted]&x=1')
    expect(redact('{"client_secret":"s3cr3t-value"}')).toBe('{"client_secret":"[redacted]"}')
    expect(redact('plain opaque-secret-123 here', 'opaque-secret-123')).toBe('plain [redacted] here')
  })
})

describe('createKommoClient with the token manager', () => {
  it('refreshes after a 401, saves the new pair, then retries with it', async () => {
    let tokens: KommoTokens = { accessToken: TOKEN, refreshToken: 'def50200' + 'a'.repeat(40), expiresAt: new Date(Date.now() + 3600_000) }
    const saved: KommoTokens[] = []
    const store: TokenStore = {
      read: async () => tokens,
      withRefreshLock: async (fn) => fn(tokens),
      save: async (t) => {
        saved.push(t)
        tokens = t
      },
      broken: async () => undefined,
    }
    const { fetch, calls } = stubFetch(
      { status: 401, json: { title: 'Unauthorized', status: 401 } },
      { status: 200, json: { token_type: 'Bearer', expires_in: 86400, access_token: NEW_TOKEN, refresh_token: 'def50200' + 'b'.repeat(40) } },
      { status: 200, json: { id: 1, name: 'Acme', subdomain: 'acme' } },
    )
    const oauth = createOAuthClient({ apiUrlFor: (s) => kommoApiUrl('https://{subdomain}.kommo.com', s), clientId: 'client-id', clientSecret: 'client-secret', redirectUri: 'https://switchboard.example/kommo/oauth/callback', fetch })
    const manager = createTokenManager({ subdomain: 'acme', store, oauth })
    const kommo = createKommoClient({ subdomain: 'acme', apiUrlTemplate: 'https://{subdomain}.kommo.com', tokens: manager, limiter: countingLimiter().limiter, fetch })
    expect(await kommo.request({ method: 'GET', path: '/api/v4/account' })).toMatchObject({ id: 1 })
    expect(calls.map((c) => c.url)).toEqual(['https://acme.kommo.com/api/v4/account', 'https://acme.kommo.com/oauth2/access_token', 'https://acme.kommo.com/api/v4/account'])
    expect(saved.map((t) => t.accessToken)).toEqual([NEW_TOKEN])
    expect(calls[2]!.headers.authorization).toBe(`Bearer ${NEW_TOKEN}`)
  })
})
