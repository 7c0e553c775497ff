import { readFileSync } from 'node:fs'
import nock from 'nock'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createLlmRouter, type LlmRouterOptions } from '../../adapters/openai/llm-router.ts'
import { AppError } from '../../core/errors.ts'
import type { LlmRequest, ProviderTarget } from '../../core/ports.ts'

/**
 * The LLM router against replayed OpenAI responses (tests/fixtures/openai/, shapes from the OpenAI
 * API reference). No network: nock answers every call; the clock and the backoff sleep are
 * injected, so breaker periods and Retry-After waits are asserted without waiting.
 */

const fixture = (name: string) => readFileSync(new URL(`../fixtures/openai/${name}`, import.meta.url), 'utf8')
const json = (name: string) => JSON.parse(fixture(name)) as Record<string, unknown>
const COMPLETION = json('chat-completion.json')
const TOOL_COMPLETION = json('chat-completion-tool-calls.json')
const RATE_LIMITED = json('error-rate-limit.json')
const SERVER_ERROR = json('error-server.json')
const INVALID_KEY = json('error-invalid-key.json')
const STREAM_TEXT = fixture('stream-text.sse')
const STREAM_TOOL = fixture('stream-tool-call.sse')

const A = 'https://provider-a.test'
const B = 'https://provider-b.test'
const PATH = '/v1/chat/completions'
const KEY_A = 'sk-proj-AAAAsecretKeyForProviderA0123456789'
const KEY_B = 'sk-or-v1-BBBBsecretKeyForProviderB987654321'
const targetA: ProviderTarget = { provider: 'openai', baseURL: `${A}/v1`, apiKey: KEY_A, model: 'gpt-4o', providerKeyId: 'key-a' }
const targetB: ProviderTarget = { provider: 'openrouter', baseURL: `${B}/v1`, apiKey: KEY_B, model: 'meta-llama/llama-3.1-70b-instruct', providerKeyId: 'key-b' }
const SSE = { 'content-type': 'text/event-stream' }

const request = (overrides: Partial<LlmRequest> = {}): LlmRequest => ({
  targets: [targetA, targetB],
  messages: [
    { role: 'system', content: 'You answer from the knowledge base.' },
    { role: 'user', content: 'When are you open?' },
  ],
  temperature: 0.2,
  maxTokens: 300,
  ...overrides,
})

/** A router with an injected clock and a sleep that records the delays asked for and returns at once. */
function harness(options: LlmRouterOptions = {}) {
  const clock = { t: 1_700_000_000_000 }
  const sleeps: number[] = []
  const router = createLlmRouter({
    now: () => clock.t,
    sleep: async (ms) => {
      sleeps.push(ms)
    },
    random: () => 0.5,
    ...options,
  })
  return { router, clock, sleeps, advance: (ms: number) => (clock.t += ms) }
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(AppError)
    return error as AppError
  }
  throw new Error('expected the request to fail')
}

/** Everything a thrown error could show: message, stack, details. */
const everything = (error: AppError) => `${error.message}\n${error.stack}\n${JSON.stringify(error.details)}`

beforeAll(() => nock.disableNetConnect())
afterEach(() => {
  nock.abortPendingRequests()
  nock.cleanAll()
})
afterAll(() => nock.enableNetConnect())

describe('LLM router: answers and fallbacks', () => {
  it('answers from the first target with content, model and usage as the provider reported them, and sends the mapped request', async () => {
    const { router } = harness()
    let body: Record<string, unknown> | undefined
    let auth: string | undefined
    const scope = nock(A)
      .post(PATH, (b) => ((body = b), true))
      .reply(function () {
        auth = String(this.req.headers.authorization)
        return [200, COMPLETION]
      })

    const result = await router.complete(
      request({
        messages: [
          { role: 'system', content: 'sys' },
          { role: 'user', content: 'Open a lead' },
          { role: 'assistant', content: null, toolCalls: [{ id: 'call_1', name: 'create_lead', arguments: '{"title":"x"}' }] },
          { role: 'tool', toolCallId: 'call_1', content: '{"ok":true}' },
          { role: 'assistant', content: 'Done.' },
        ],
        tools: [{ name: 'create_lead', description: 'Creates a lead', parameters: { type: 'object', properties: { title: { type: 'string' } } } }],
      }),
    )

    expect(scope.isDone()).toBe(true)
    expect(auth).toBe(`Bearer ${KEY_A}`)
    expect(body).toEqual({
      model: 'gpt-4o',
      temperature: 0.2,
      max_tokens: 300,
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'Open a lead' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'create_lead', arguments: '{"title":"x"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"ok":true}' },
        { role: 'assistant', content: 'Done.' },
      ],
      tools: [{ type: 'function', function: { name: 'create_lead', description: 'Creates a lead', parameters: { type: 'object', properties: { title: { type: 'string' } } } } }],
    })
    expect(result).toMatchObject({
      content: 'Our shop is open Monday to Friday, 9:00 to 18:00 [1].',
      toolCalls: [],
      provider: 'openai',
      model: 'gpt-4o-2024-08-06',
      providerKeyId: 'key-a',
      usage: { inputTokens: 1117, outputTokens: 46 },
    })
    expect(result.latencyMs).toBeGreaterThanOrEqual(0)
    expect(result.attempts).toEqual([
      { provider: 'openai', model: 'gpt-4o-2024-08-06', providerKeyId: 'key-a', inputTokens: 1117, outputTokens: 46, latencyMs: result.latencyMs, success: true },
    ])
  })

  it('returns the tool calls the model asked for', async () => {
    const { router } = harness()
    nock(A).post(PATH).reply(200, TOOL_COMPLETION)
    const result = await router.complete(request())
    expect(result.content).toBe('')
    expect(result.toolCalls).toEqual([{ id: 'call_abc123', name: 'create_lead', arguments: '{"title":"Wholesale order","value":1200}' }])
    expect(result.usage).toEqual({ inputTokens: 82, outputTokens: 17 })
  })

  it('falls back from provider A (500 on every try) to provider B, with backoff between the tries and every call in attempts', async () => {
    const { router, sleeps } = harness({ retries: 2, baseDelayMs: 250, maxDelayMs: 4000 })
    const a = nock(A).post(PATH).times(3).reply(500, SERVER_ERROR)
    const b = nock(B).post(PATH).reply(200, COMPLETION)

    const result = await router.complete(request())

    expect(a.isDone() && b.isDone()).toBe(true)
    expect(result.provider).toBe('openrouter')
    expect(result.providerKeyId).toBe('key-b')
    // full jitter with random() = 0.5: half of 250 * 2^n
    expect(sleeps).toEqual([125, 250])
    expect(result.attempts.map((x) => [x.provider, x.success])).toEqual([
      ['openai', false],
      ['openai', false],
      ['openai', false],
      ['openrouter', true],
    ])
    expect(result.attempts[0]!.error).toBe('500 The server had an error while processing your request. Sorry about that!')
    expect(result.attempts[0]).toMatchObject({ model: 'gpt-4o', inputTokens: 0, outputTokens: 0 })
  })

  it('honours Retry-After: 1 on a 429 (waits ~1000 ms) and then succeeds on the same provider', async () => {
    const { router, sleeps } = harness()
    nock(A).post(PATH).reply(429, RATE_LIMITED, { 'retry-after': '1' }).post(PATH).reply(200, COMPLETION)
    const b = nock(B).post(PATH).reply(200, COMPLETION)

    const result = await router.complete(request())

    expect(result.provider).toBe('openai')
    expect(sleeps).toEqual([1000])
    expect(b.isDone()).toBe(false)
    expect(result.attempts).toHaveLength(2)
    expect(result.attempts[0]!.error).toMatch(/^429 Rate limit reached for gpt-4o/)
  })

  it('honours retry-after-ms and an HTTP-date Retry-After', async () => {
    const { router, sleeps, clock } = harness()
    nock(A)
      .post(PATH)
      .reply(503, SERVER_ERROR, { 'retry-after-ms': '350', 'retry-after': '1' })
      .post(PATH)
      .reply(429, RATE_LIMITED, { 'retry-after': new Date(clock.t + 3000).toUTCString() })
      .post(PATH)
      .reply(200, COMPLETION)
    const result = await router.complete(request())
    expect(result.provider).toBe('openai')
    expect(sleeps[0]).toBe(350)
    // an HTTP date has a resolution of one second
    expect(sleeps[1]).toBeGreaterThan(2000)
    expect(sleeps[1]).toBeLessThanOrEqual(3000)
  })

  it('moves on to the fallback at once when Retry-After asks for longer than maxRetryAfterMs (120 s)', async () => {
    const { router, sleeps } = harness()
    const a = nock(A).post(PATH).reply(429, RATE_LIMITED, { 'retry-after': '120' })
    nock(B).post(PATH).reply(200, COMPLETION)

    const result = await router.complete(request())

    expect(a.isDone()).toBe(true)
    expect(sleeps).toEqual([])
    expect(result.provider).toBe('openrouter')
    expect(result.attempts.map((x) => x.success)).toEqual([false, true])
  })

  it('times out a call that does not answer within timeoutMs, retries it, then falls back', async () => {
    const { router, sleeps } = harness({ timeoutMs: 60, retries: 1 })
    const a = nock(A).post(PATH).times(2).delay(1000).reply(200, COMPLETION)
    nock(B).post(PATH).reply(200, COMPLETION)

    const started = performance.now()
    const result = await router.complete(request())

    expect(performance.now() - started).toBeLessThan(900)
    expect(a.isDone()).toBe(true)
    expect(sleeps).toHaveLength(1)
    expect(result.provider).toBe('openrouter')
    expect(result.attempts.map((x) => x.error ?? 'ok')).toEqual(['timed out after 60 ms', 'timed out after 60 ms', 'ok'])
    expect(result.attempts[0]!.latencyMs).toBeGreaterThanOrEqual(50)
  })

  it('retries a connection error', async () => {
    const { router } = harness()
    nock(A).post(PATH).replyWithError({ code: 'ECONNRESET', message: 'socket hang up' }).post(PATH).reply(200, COMPLETION)
    const result = await router.complete(request())
    expect(result.provider).toBe('openai')
    expect(result.attempts[0]!.error).toMatch(/^connection error: .*(ECONNRESET|socket hang up)/)
  })

  it('does not retry a 401 (bad key): the next target answers', async () => {
    const { router, sleeps } = harness()
    const a = nock(A).post(PATH).reply(401, INVALID_KEY)
    nock(B).post(PATH).reply(200, COMPLETION)

    const result = await router.complete(request())

    expect(a.isDone()).toBe(true)
    expect(sleeps).toEqual([])
    expect(result.provider).toBe('openrouter')
    expect(result.attempts).toHaveLength(2)
    expect(result.attempts[0]!.error).toMatch(/^401 Incorrect API key provided/)
  })

  it.each([400, 403, 404])('does not retry a %i: the next target answers', async (status) => {
    const { router } = harness()
    nock(A).post(PATH).reply(status, { error: { message: `status ${status}`, type: 'invalid_request_error', param: null, code: null } })
    nock(B).post(PATH).reply(200, COMPLETION)
    const result = await router.complete(request())
    expect(result.attempts.map((x) => [x.provider, x.success])).toEqual([
      ['openai', false],
      ['openrouter', true],
    ])
  })

  it('throws llm_unavailable with every attempt listed when every provider is down, and no key anywhere', async () => {
    const { router } = harness({ retries: 1 })
    nock(A).post(PATH).times(2).reply(500, SERVER_ERROR)
    nock(B).post(PATH).times(2).reply(503, { error: { message: 'Service Unavailable', type: 'server_error', param: null, code: null } })

    const error = await failure(router.complete(request()))

    expect(error.code).toBe('llm_unavailable')
    expect(error.status).toBe(503)
    expect(error.message).toBe('No language model answered')
    const { attempts } = error.details as { attempts: { provider: string; success: boolean; error?: string }[] }
    expect(attempts.map((x) => [x.provider, x.success])).toEqual([
      ['openai', false],
      ['openai', false],
      ['openrouter', false],
      ['openrouter', false],
    ])
    expect(attempts.every((x) => typeof x.error === 'string' && x.error.length > 0)).toBe(true)
    expect(everything(error)).not.toContain(KEY_A)
    expect(everything(error)).not.toContain(KEY_B)
  })

  it('never lets an API key into errors or attempts, even when a provider echoes it back', async () => {
    const { router } = harness({ retries: 0 })
    nock(A)
      .post(PATH)
      .reply(401, { error: { message: `Invalid API key: ${KEY_A} (header was "Authorization: Bearer ${KEY_A}")`, type: 'auth', param: null, code: 'invalid_api_key' } })
    nock(B).post(PATH).replyWithError(`connect ECONNREFUSED while sending Bearer ${KEY_B}`)

    const error = await failure(router.complete(request()))

    const text = everything(error)
    expect(text).toContain('401 Invalid API key')
    expect(text).not.toContain(KEY_A)
    expect(text).not.toContain(KEY_B)
    expect(text).not.toContain('AAAAsecretKey')
    expect(text).not.toContain('BBBBsecretKey')
    for (const info of router.breakerState()) {
      expect(info.key).not.toContain('secretKey')
    }
  })
})

describe('LLM router: circuit breaker', () => {
  const opts = { retries: 0, breakerThreshold: 3, breakerOpenMs: 30_000 }

  it('opens after N consecutive failed calls: later requests skip the provider without an HTTP call', async () => {
    const { router } = harness(opts)
    const a = nock(A).post(PATH).times(3).reply(500, SERVER_ERROR)
    const b = nock(B).post(PATH).times(5).reply(200, COMPLETION)

    for (let i = 0; i < 3; i++) expect((await router.complete(request())).provider).toBe('openrouter')
    expect(a.isDone()).toBe(true)
    expect(router.breakerState().find((x) => x.key.startsWith(`${A}/v1#`))?.state).toBe('open')

    // Any call to A now would find no interceptor and fail (disableNetConnect): it must not be made.
    for (let i = 0; i < 2; i++) {
      const result = await router.complete(request())
      expect(result.attempts.map((x) => x.provider)).toEqual(['openrouter'])
    }
    expect(b.isDone()).toBe(true)
    expect(nock.pendingMocks()).toEqual([])
  })

  it('after breakerOpenMs lets one probe through: success closes it, failure re-opens it', async () => {
    const { router, advance } = harness(opts)
    const stateOfA = () => router.breakerState().find((x) => x.key.startsWith(`${A}/v1#`))?.state
    nock(A).post(PATH).times(3).reply(500, SERVER_ERROR)
    nock(B).post(PATH).times(3).reply(200, COMPLETION)
    for (let i = 0; i < 3; i++) await router.complete(request())
    expect(stateOfA()).toBe('open')

    // Still open just before the period ends.
    advance(29_999)
    nock(B).post(PATH).reply(200, COMPLETION)
    expect((await router.complete(request())).attempts.map((x) => x.provider)).toEqual(['openrouter'])

    // Half-open: the probe fails and re-opens the breaker.
    advance(1)
    expect(stateOfA()).toBe('half_open')
    const probe1 = nock(A).post(PATH).reply(500, SERVER_ERROR)
    nock(B).post(PATH).reply(200, COMPLETION)
    expect((await router.complete(request())).attempts.map((x) => [x.provider, x.success])).toEqual([
      ['openai', false],
      ['openrouter', true],
    ])
    expect(probe1.isDone()).toBe(true)
    expect(stateOfA()).toBe('open')
    nock(B).post(PATH).reply(200, COMPLETION)
    expect((await router.complete(request())).attempts.map((x) => x.provider)).toEqual(['openrouter'])

    // Half-open again: the probe succeeds and closes it.
    advance(30_000)
    nock(A).post(PATH).reply(200, COMPLETION)
    expect((await router.complete(request())).provider).toBe('openai')
    expect(stateOfA()).toBe('closed')
    nock(A).post(PATH).reply(200, COMPLETION)
    expect((await router.complete(request())).provider).toBe('openai')
    expect(nock.pendingMocks()).toEqual([])
  })

  it('lets exactly one probe at a time through a half-open breaker', async () => {
    const { router, advance } = harness(opts)
    nock(A).post(PATH).times(3).reply(500, SERVER_ERROR)
    nock(B).post(PATH).times(3).reply(200, COMPLETION)
    for (let i = 0; i < 3; i++) await router.complete(request())
    advance(30_000)

    const probe = nock(A).post(PATH).delay(50).reply(200, COMPLETION)
    nock(B).post(PATH).times(2).reply(200, COMPLETION)
    const [first, second, third] = await Promise.all([router.complete(request()), router.complete(request()), router.complete(request())])

    expect(probe.isDone()).toBe(true)
    expect(first.provider).toBe('openai')
    expect(second.attempts.map((x) => x.provider)).toEqual(['openrouter'])
    expect(third.attempts.map((x) => x.provider)).toEqual(['openrouter'])
  })

  it('a success resets the count: failures must be consecutive', async () => {
    const { router } = harness(opts)
    nock(A).post(PATH).times(2).reply(500, SERVER_ERROR).post(PATH).reply(200, COMPLETION).post(PATH).times(2).reply(500, SERVER_ERROR)
    nock(B).post(PATH).times(4).reply(200, COMPLETION)
    for (let i = 0; i < 5; i++) await router.complete(request())
    expect(router.breakerState().find((x) => x.key.startsWith(`${A}/v1#`))).toMatchObject({ state: 'closed', consecutiveFailures: 2 })
  })

  it('reports llm_unavailable with the skipped targets when every breaker is open', async () => {
    const { router } = harness({ ...opts, breakerThreshold: 1 })
    nock(A).post(PATH).reply(500, SERVER_ERROR)
    nock(B).post(PATH).reply(500, SERVER_ERROR)
    await failure(router.complete(request()))

    const error = await failure(router.complete(request()))
    expect(error.code).toBe('llm_unavailable')
    expect(error.details).toEqual({
      attempts: [],
      skipped: [
        { provider: 'openai', model: 'gpt-4o', providerKeyId: 'key-a', reason: 'circuit_open' },
        { provider: 'openrouter', model: 'meta-llama/llama-3.1-70b-instruct', providerKeyId: 'key-b', reason: 'circuit_open' },
      ],
    })
  })
})

describe('LLM router: streaming', () => {
  it('passes text deltas to onDelta in order and takes usage from the final chunk', async () => {
    const { router } = harness()
    let body: Record<string, unknown> | undefined
    nock(A)
      .post(PATH, (b) => ((body = b), true))
      .reply(200, STREAM_TEXT, SSE)
    const deltas: string[] = []

    const result = await router.complete(request({ onDelta: (t) => deltas.push(t) }))

    expect(body).toMatchObject({ stream: true, stream_options: { include_usage: true }, model: 'gpt-4o' })
    expect(deltas).toEqual(['Hel', 'lo', '! How', ' can I', ' help?'])
    expect(result.content).toBe('Hello! How can I help?')
    expect(result.toolCalls).toEqual([])
    expect(result.model).toBe('gpt-4o-mini-2024-07-18')
    expect(result.usage).toEqual({ inputTokens: 28, outputTokens: 6 })
    expect(result.attempts).toHaveLength(1)
    expect(result.attempts[0]).toMatchObject({ success: true, inputTokens: 28, outputTokens: 6 })
  })

  it('assembles a streamed tool call from its fragments', async () => {
    const { router } = harness()
    nock(A).post(PATH).reply(200, STREAM_TOOL, SSE)
    const deltas: string[] = []

    const result = await router.complete(request({ onDelta: (t) => deltas.push(t) }))

    expect(deltas).toEqual([])
    expect(result.content).toBe('')
    expect(result.toolCalls).toEqual([{ id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'create_lead', arguments: '{"title":"Wholesale order","value":1200}' }])
    expect(JSON.parse(result.toolCalls[0]!.arguments)).toEqual({ title: 'Wholesale order', value: 1200 })
    expect(result.usage).toEqual({ inputTokens: 85, outputTokens: 18 })
  })

  it('retries and falls back a stream that fails before any text', async () => {
    const { router } = harness({ retries: 1 })
    nock(A).post(PATH).reply(500, SERVER_ERROR).post(PATH).reply(429, RATE_LIMITED, { 'retry-after': '600' })
    nock(B).post(PATH).reply(200, STREAM_TEXT, SSE)
    const deltas: string[] = []

    const result = await router.complete(request({ onDelta: (t) => deltas.push(t) }))

    expect(result.provider).toBe('openrouter')
    expect(deltas.join('')).toBe('Hello! How can I help?')
    expect(result.attempts.map((x) => x.success)).toEqual([false, false, true])
  })

  it('ends the request when a stream breaks after text was sent: no retry, no fallback, no duplicated text', async () => {
    const { router } = harness()
    const [first, second] = STREAM_TEXT.split('\n\n')
    const broken = `${first}\n\n${second}\n\ndata: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } })}\n\n`
    nock(A).post(PATH).reply(200, broken, SSE)
    const b = nock(B).post(PATH).reply(200, STREAM_TEXT, SSE)
    const deltas: string[] = []

    const error = await failure(router.complete(request({ onDelta: (t) => deltas.push(t) })))

    expect(deltas).toEqual(['Hel'])
    expect(b.isDone()).toBe(false)
    expect(error.code).toBe('llm_unavailable')
    const details = error.details as { attempts: { success: boolean; error?: string }[]; streamInterrupted: boolean }
    expect(details.streamInterrupted).toBe(true)
    expect(details.attempts).toHaveLength(1)
    expect(details.attempts[0]!.error).toMatch(/stream broke off after text was sent/)
  })

  it('times out a stream that goes silent', async () => {
    const { router } = harness({ timeoutMs: 60, retries: 0 })
    nock(A).post(PATH).delay(1000).reply(200, STREAM_TEXT, SSE)
    nock(B).post(PATH).reply(200, STREAM_TEXT, SSE)
    const deltas: string[] = []
    const result = await router.complete(request({ onDelta: (t) => deltas.push(t) }))
    expect(result.provider).toBe('openrouter')
    expect(result.attempts[0]!.error).toBe('timed out after 60 ms')
    expect(deltas.join('')).toBe('Hello! How can I help?')
  })

  it('passes an error thrown by onDelta through untouched, without retrying', async () => {
    const { router } = harness()
    nock(A).post(PATH).reply(200, STREAM_TEXT, SSE)
    const b = nock(B).post(PATH).reply(200, STREAM_TEXT, SSE)
    const boom = new Error('the channel went away')
    await expect(
      router.complete(
        request({
          onDelta: () => {
            throw boom
          },
        }),
      ),
    ).rejects.toBe(boom)
    expect(b.isDone()).toBe(false)
    expect(router.breakerState().every((x) => x.state === 'closed' && x.consecutiveFailures === 0)).toBe(true)
  })
})
