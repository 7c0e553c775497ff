import { describe, expect, it } from 'vitest'
import { AppError } from '../../core/errors.ts'
import { createGraphClient, isExpiredToken, isPolicyRefusal, MAX_BACKOFF_MS, MetaApiError, metaAppError, RATE_LIMIT_CODES } from '../../adapters/meta/graph.ts'

const TOKEN = 'EAAGm0PX4ZCpsBAKZCZBtestPageToken1234567890'

type Call = { url: string; method: string; headers: Record<string, string>; body: string | undefined }
type Reply = { status: number; json?: unknown; text?: string; headers?: Record<string, string> } | Error

/** A fetch that answers with the given replies in turn (the last one repeats) and records every request. */
function stubFetch(...replies: Reply[]) {
  const calls: Call[] = []
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), method: init?.method ?? 'GET', headers: { ...(init?.headers as Record<string, string>) }, body: init?.body as string | undefined })
    const reply = replies[Math.min(calls.length - 1, replies.length - 1)]!
    if (reply instanceof Error) throw reply
    const body = reply.text ?? (reply.json === undefined ? '' : JSON.stringify(reply.json))
    return new Response(body, { status: reply.status, headers: { 'content-type': reply.text ? 'text/html' : 'application/json', ...reply.headers } })
  }) as typeof globalThis.fetch
  return { fetch, calls }
}

/** Meta's documented error body (https://developers.facebook.com/docs/messenger-platform/error-codes). */
const metaError = (code: number, message: string, subcode?: number, type = 'OAuthException') => ({
  error: { message, type, code, ...(subcode === undefined ? {} : { error_subcode: subcode }), fbtrace_id: 'BLBz/WZt8dN' },
})

function client(fetch: typeof globalThis.fetch, retries?: number) {
  const waits: number[] = []
  const graph = createGraphClient({ baseUrl: 'https://graph.facebook.com', version: 'v23.0', retries, fetch, sleep: async (ms) => void waits.push(ms) })
  return { graph, waits }
}

async function failure(promise: Promise<unknown>): Promise<MetaApiError> {
  try {
    await promise
  } catch (e) {
    expect(e).toBeInstanceOf(MetaApiError)
    return e as MetaApiError
  }
  throw new Error('expected the call to fail')
}

const send = { method: 'POST' as const, path: '/123/messages', token: TOKEN, body: { recipient: { id: 'PSID' }, messaging_type: 'RESPONSE', message: { text: 'hi' } } }

describe('createGraphClient', () => {
  it('sends the token as a Bearer header, never in the URL, and the body as JSON', async () => {
    const { fetch, calls } = stubFetch({ status: 200, json: { recipient_id: 'PSID', message_id: 'm_1' } })
    const { graph } = client(fetch)
    const res = await graph.call<{ message_id: string }>({ ...send, query: { fields: 'id,name' } })
    expect(res.message_id).toBe('m_1')
    expect(calls).toHaveLength(1)
    const [call] = calls
    expect(call!.url).toBe('https://graph.facebook.com/v23.0/123/messages?fields=id%2Cname')
    expect(call!.url).not.toContain(TOKEN)
    expect(call!.method).toBe('POST')
    expect(call!.headers.authorization).toBe(`Bearer ${TOKEN}`)
    expect(call!.headers['content-type']).toBe('application/json')
    expect(JSON.parse(call!.body!)).toEqual(send.body)
  })

  it('joins a base URL with a path prefix, and sends no body and no Authorization when there are none', async () => {
    const { fetch, calls } = stubFetch({ status: 200, json: { id: '1' } })
    const graph = createGraphClient({ baseUrl: 'http://127.0.0.1:1234/fb/', version: 'v23.0', fetch })
    await graph.call({ method: 'GET', path: '/me', body: { ignored: true } })
    expect(calls[0]!.url).toBe('http://127.0.0.1:1234/fb/v23.0/me')
    expect(calls[0]!.headers.authorization).toBeUndefined()
    expect(calls[0]!.body).toBeUndefined()
  })

  it.each([
    [4, '(#4) Application request limit reached'],
    [32, '(#32) Page request limit reached'],
    [613, '(#613) Calls to this api have exceeded the rate limit.'],
    [80006, 'There have been too many messenger api calls to this Page account. Wait a bit and try again.'],
  ])('retries throttling code %i after growing waits', async (code, message) => {
    const { fetch, calls } = stubFetch({ status: 400, json: metaError(code, message) }, { status: 400, json: metaError(code, message) }, { status: 400, json: metaError(code, message) }, { status: 200, json: { message_id: 'm_2' } })
    const { graph, waits } = client(fetch, 3)
    await expect(graph.call(send)).resolves.toEqual({ message_id: 'm_2' })
    expect(calls).toHaveLength(4)
    expect(waits).toEqual([1000, 2000, 4000])
  })

  it('gives up after `retries` waits with the throttling error', async () => {
    const { fetch, calls } = stubFetch({ status: 403, json: metaError(613, '(#613) Calls to this api have exceeded the rate limit.') })
    const { graph, waits } = client(fetch, 2)
    const e = await failure(graph.call(send))
    expect(e.code).toBe(613)
    expect(e.status).toBe(403)
    expect(e.fbtraceId).toBe('BLBz/WZt8dN')
    expect(calls).toHaveLength(3)
    expect(waits).toEqual([1000, 2000])
    const app = metaAppError('Sending the reply', e)
    expect(app.status).toBe(502)
    expect(app.code).toBe('provider_error')
  })

  it('caps the wait, and retries an HTTP 429 without a Meta code', async () => {
    const { fetch } = stubFetch({ status: 429, text: 'Too Many Requests' })
    const { graph, waits } = client(fetch, 7)
    const e = await failure(graph.call(send))
    expect(e.status).toBe(429)
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16000, MAX_BACKOFF_MS, MAX_BACKOFF_MS])
  })

  it('never retries the closed window (10/2018278) and makes it a delivery refusal', async () => {
    const { fetch, calls } = stubFetch({ status: 400, json: metaError(10, '(#10) This message is sent outside of allowed window.', 2018278) })
    const { graph, waits } = client(fetch)
    const e = await failure(graph.call(send))
    expect(calls).toHaveLength(1)
    expect(waits).toEqual([])
    expect([e.code, e.subcode, e.type]).toEqual([10, 2018278, 'OAuthException'])
    expect(isPolicyRefusal(e)).toBe(true)
    expect(isExpiredToken(e)).toBe(false)
    const app = metaAppError('Sending the reply', e)
    expect(app).toBeInstanceOf(AppError)
    expect(app.status).toBe(422)
    expect(app.code).toBe('delivery_refused')
    expect(app.message).toMatch(/24 hours/)
    expect(app.details).toEqual({ code: 10, subcode: 2018278, fbtraceId: 'BLBz/WZt8dN' })
  })

  it('treats Instagram\'s window refusal and an unavailable person as policy refusals', async () => {
    const ig = await failure(client(stubFetch({ status: 403, json: metaError(10, 'This message is sent outside of allowed window.', 2534022, 'IGApiException') }).fetch).graph.call(send))
    expect(isPolicyRefusal(ig)).toBe(true)
    const gone = await failure(client(stubFetch({ status: 400, json: metaError(551, "(#551) This person isn't available right now.", 1545041) }).fetch).graph.call(send))
    expect(isPolicyRefusal(gone)).toBe(true)
    expect(metaAppError('Sending the reply', gone)).toMatchObject({ code: 'delivery_refused', status: 422 })
    // Code 10 without one of those subcodes is a missing permission, not a refusal of this message.
    const permission = await failure(client(stubFetch({ status: 403, json: metaError(10, '(#10) Application does not have permission for this action') }).fetch).graph.call(send))
    expect(isPolicyRefusal(permission)).toBe(false)
    expect(metaAppError('Sending the reply', permission)).toMatchObject({ code: 'provider_error', status: 502 })
  })

  it('never retries an expired token (190) and never shows the token', async () => {
    const { fetch, calls } = stubFetch({ status: 401, json: metaError(190, `Error validating access token: Session has expired (token ${TOKEN})`, 463) })
    const { graph, waits } = client(fetch)
    const e = await failure(graph.call(send))
    expect(calls).toHaveLength(1)
    expect(waits).toEqual([])
    expect(isExpiredToken(e)).toBe(true)
    expect(e.message).not.toContain(TOKEN)
    expect(e.message).toContain('[redacted]')
    const app = metaAppError('Sending the reply', e)
    expect(app).toMatchObject({ code: 'channel_unauthorized', status: 422 })
    expect(app.message).toMatch(/Meta refused the access token \(expired or revoked\)/)
    expect(app.message).not.toContain(TOKEN)
    expect(JSON.stringify(app.details)).not.toContain(TOKEN)
  })

  it('keeps the token out of errors for a non-JSON answer and a network failure', async () => {
    const html = await failure(client(stubFetch({ status: 502, text: `<html>Bad gateway for access_token=${TOKEN}</html>` }).fetch).graph.call(send))
    expect(html.status).toBe(502)
    expect(html.code).toBeUndefined()
    expect(html.message).not.toContain(TOKEN)
    const other = 'IGQWRsecretInstagramLoginToken0123456789'
    const { fetch, calls } = stubFetch(new Error(`connect ECONNREFUSED while sending ${TOKEN} and ${other}`))
    const net = await failure(client(fetch).graph.call(send))
    expect(calls).toHaveLength(1)
    expect(net.status).toBe(0)
    expect(net.message).not.toContain(TOKEN)
    expect(net.message).not.toContain(other)
    const app = metaAppError('Sending the reply', new Error(`boom ${TOKEN}`))
    expect(app).toMatchObject({ code: 'provider_error', status: 502 })
    expect(app.message).not.toContain(TOKEN)
  })

  it('gives up on a call that does not answer in time, without retrying it', async () => {
    const calls: number[] = []
    const hang = ((_url: unknown, init?: RequestInit) => {
      calls.push(1)
      return new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)))
    }) as typeof globalThis.fetch
    const graph = createGraphClient({ baseUrl: 'https://graph.facebook.com', version: 'v23.0', fetch: hang, timeoutMs: 20, sleep: async () => {} })
    const e = await failure(graph.call(send))
    expect(e.status).toBe(0)
    expect(e.message).toMatch(/no answer within/)
    expect(calls).toHaveLength(1)
  })

  it('refuses paths that could leave the version or carry a query', async () => {
    const { fetch, calls } = stubFetch({ status: 200, json: {} })
    const { graph } = client(fetch)
    for (const path of ['me', '/../v1.0/me', '/me?access_token=x', '/a b', '/x#y']) {
      await expect(graph.call({ method: 'GET', path })).rejects.toThrow(TypeError)
    }
    expect(calls).toHaveLength(0)
  })

  it('lists the documented throttling codes', () => {
    for (const code of [4, 17, 32, 613, 80001, 80002, 80006]) expect(RATE_LIMIT_CODES.has(code)).toBe(true)
    for (const code of [10, 100, 190, 551]) expect(RATE_LIMIT_CODES.has(code)).toBe(false)
  })
})
