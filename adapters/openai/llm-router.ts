import { createHash } from 'node:crypto'
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai'
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions'
import { AppError } from '../../core/errors.ts'
import type { LlmAttempt, LlmClient, LlmMessage, LlmRequest, LlmResult, Logger, ProviderTarget, ToolCall, ToolSpec } from '../../core/ports.ts'
import { CircuitBreaker, type BreakerState, type BreakerTicket } from './circuit-breaker.ts'

/**
 * The LLM router: any OpenAI-compatible chat API, with fallbacks. For each target of a request, in
 * order: skip it while its account's circuit breaker is open; call it, retrying 429, 408, 5xx,
 * timeouts and connection errors with exponential backoff and full jitter (or the provider's
 * Retry-After when it names one); move on to the next target on a non-retryable error (400, 401,
 * 403, 404, ...), when retries run out, or when Retry-After asks for longer than `maxRetryAfterMs`.
 *
 * Streaming (`request.onDelta`): a stream that fails before any text was handed to `onDelta` is
 * retried and falls back like any call; once text was emitted, a failure ends the request (throws)
 * so the user never sees the same text twice.
 *
 * API keys never appear in errors, attempts or logs: the breaker key is the base URL plus a hash of
 * the key, and every error text is scrubbed of the key before it is kept.
 */

export type LlmRouterOptions = {
  /** Per-call timeout in ms (default 20 000). For a stream: until the headers, then between chunks. */
  timeoutMs?: number
  /** Retries per target after the first call (default 2). */
  retries?: number
  /** Backoff: delay before retry n is random in [0, min(maxDelayMs, baseDelayMs * 2^n)] (defaults 250, 4000). */
  baseDelayMs?: number
  maxDelayMs?: number
  /** A Retry-After longer than this is not waited for: the router moves on to the next target (default 10 000). */
  maxRetryAfterMs?: number
  /** Consecutive failed calls that open a provider account's breaker (default 5). */
  breakerThreshold?: number
  /** How long an open breaker stays open before one probe call is let through (default 30 000). */
  breakerOpenMs?: number
  /** Used when a target has no baseURL (default https://api.openai.com/v1). */
  defaultBaseURL?: string
  /** Clock for the breakers and HTTP-date Retry-After, in epoch ms (default Date.now). */
  now?: () => number
  /** How backoff waits (default setTimeout). Tests pass a recorder. */
  sleep?: (ms: number) => Promise<void>
  /** Jitter source in [0, 1) (default Math.random). */
  random?: () => number
  /** Failed calls at debug, breaker transitions at warn. Nothing is logged for a successful call. */
  logger?: Logger
  /** Builds the SDK client of one provider account (default: `new OpenAI({...})` with maxRetries 0). */
  createClient?: (input: { baseURL: string; apiKey: string; timeoutMs: number; fetch?: typeof fetch }) => OpenAI
  /**
   * The fetch for organizations' own keys (targets with a providerKeyId): the safe fetch, so that a
   * base URL whose name later resolves to a private address is refused when it is called. The
   * installation's own target (OPENAI_BASE_URL) uses the SDK's fetch and may be private.
   */
  organizationFetch?: typeof fetch
}

export type BreakerInfo = { key: string; state: BreakerState; consecutiveFailures: number; openedAt: number | null }

export type LlmRouter = LlmClient & {
  /** Every provider account seen so far, keyed by base URL + key hash (never the key). */
  breakerState(): BreakerInfo[]
}

type Account = { client: OpenAI; breaker: CircuitBreaker; key: string; apiKey: string }
type Failure = { message: string; retryable: boolean; countsForBreaker: boolean; retryAfterMs: number | undefined }
type CallOutput = { content: string; toolCalls: ToolCall[]; model: string; inputTokens: number; outputTokens: number }

const DEFAULT_BASE_URL = 'https://api.openai.com/v1'
const MAX_ERROR_CHARS = 500
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Raised inside a streaming call when the failure must end the request (text was already emitted). */
class StreamBroken extends Error {
  constructor(readonly inner: unknown) {
    super('stream broke after text was emitted')
  }
}
/** Wraps an error thrown by the caller's onDelta: passed through untouched, never retried. */
class CallerError extends Error {
  constructor(readonly inner: unknown) {
    super('onDelta threw')
  }
}

export function createLlmRouter(options: LlmRouterOptions = {}): LlmRouter {
  const timeoutMs = options.timeoutMs ?? 20_000
  const retries = Math.max(0, options.retries ?? 2)
  const baseDelayMs = options.baseDelayMs ?? 250
  const maxDelayMs = options.maxDelayMs ?? 4_000
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000
  const breakerThreshold = options.breakerThreshold ?? 5
  const breakerOpenMs = options.breakerOpenMs ?? 30_000
  const defaultBaseURL = options.defaultBaseURL ?? DEFAULT_BASE_URL
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? defaultSleep
  const random = options.random ?? Math.random
  const logger = options.logger
  const createClient =
    options.createClient ??
    ((input) =>
      new OpenAI({
        apiKey: input.apiKey,
        baseURL: input.baseURL,
        maxRetries: 0,
        timeout: input.timeoutMs,
        ...(input.fetch ? { fetch: input.fetch } : {}),
        // Never send the platform's own OpenAI organization or project (read from the environment
        // by default) along with a customer's key or to another provider.
        organization: null,
        project: null,
      }))

  /**
   * baseURL -> apiKey -> account: no string is built per call to find one. Organizations' accounts
   * are kept apart from the installation's, so a key never borrows the trusted client.
   */
  const accounts = new Map<string, Map<string, Account>>()
  const organizationAccounts = new Map<string, Map<string, Account>>()

  function accountFor(target: ProviderTarget): Account {
    const baseURL = target.baseURL || defaultBaseURL
    const ofOrganization = target.providerKeyId !== null && options.organizationFetch !== undefined
    const pool = ofOrganization ? organizationAccounts : accounts
    let byKey = pool.get(baseURL)
    if (!byKey) pool.set(baseURL, (byKey = new Map()))
    let account = byKey.get(target.apiKey)
    if (!account) {
      const key = `${baseURL}#${createHash('sha256').update(target.apiKey).digest('hex').slice(0, 12)}`
      account = {
        client: createClient({ baseURL, apiKey: target.apiKey, timeoutMs, ...(ofOrganization ? { fetch: options.organizationFetch } : {}) }),
        breaker: new CircuitBreaker({ threshold: breakerThreshold, openMs: breakerOpenMs, now }),
        key,
        apiKey: target.apiKey,
      }
      byKey.set(target.apiKey, account)
    }
    return account
  }

  async function callOnce(input: {
    account: Account
    target: ProviderTarget
    messages: ChatCompletionMessageParam[]
    tools: ChatCompletionTool[] | undefined
    request: LlmRequest
  }): Promise<CallOutput> {
    const { account, target, request } = input
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(TIMED_OUT), timeoutMs)
    try {
      const completion = await account.client.chat.completions.create(
        { model: target.model, messages: input.messages, tools: input.tools, temperature: request.temperature, max_tokens: request.maxTokens },
        { signal: controller.signal },
      )
      const message = completion.choices[0]?.message
      const toolCalls: ToolCall[] = []
      if (message?.tool_calls) {
        for (const call of message.tool_calls) {
          if (call.type === 'function') toolCalls.push({ id: call.id, name: call.function.name, arguments: call.function.arguments })
        }
      }
      return {
        content: message?.content ?? message?.refusal ?? '',
        toolCalls,
        model: completion.model || target.model,
        inputTokens: completion.usage?.prompt_tokens ?? 0,
        outputTokens: completion.usage?.completion_tokens ?? 0,
      }
    } catch (error) {
      throw controller.signal.aborted ? TIMED_OUT : error
    } finally {
      clearTimeout(timer)
    }
  }

  async function callStream(input: {
    account: Account
    target: ProviderTarget
    messages: ChatCompletionMessageParam[]
    tools: ChatCompletionTool[] | undefined
    request: LlmRequest
    onDelta: (text: string) => void
  }): Promise<CallOutput> {
    const { account, target, request, onDelta } = input
    const controller = new AbortController()
    // Until the headers, then between two chunks: a long answer that keeps flowing is not cut.
    const timer = setTimeout(() => controller.abort(TIMED_OUT), timeoutMs)
    let emitted = false
    try {
      const stream = await account.client.chat.completions.create(
        {
          model: target.model,
          messages: input.messages,
          tools: input.tools,
          temperature: request.temperature,
          max_tokens: request.maxTokens,
          stream: true,
          stream_options: { include_usage: true },
        },
        { signal: controller.signal },
      )
      let content = ''
      let model = ''
      let inputTokens = 0
      let outputTokens = 0
      let calls: ToolCall[] | undefined
      for await (const chunk of stream) {
        timer.refresh()
        if (chunk.model) model = chunk.model
        if (chunk.usage) {
          inputTokens = chunk.usage.prompt_tokens ?? 0
          outputTokens = chunk.usage.completion_tokens ?? 0
        }
        const delta = chunk.choices[0]?.delta
        if (!delta) continue
        const text = delta.content
        if (text) {
          content += text
          emitted = true
          try {
            onDelta(text)
          } catch (error) {
            throw new CallerError(error)
          }
        }
        if (delta.tool_calls) {
          calls ??= []
          for (const part of delta.tool_calls) {
            let call = calls[part.index]
            if (!call) calls[part.index] = call = { id: '', name: '', arguments: '' }
            if (part.id) call.id = part.id
            if (part.function?.name) call.name = part.function.name
            if (part.function?.arguments) call.arguments += part.function.arguments
          }
        }
      }
      return {
        content,
        toolCalls: calls ? calls.filter((c) => c !== undefined) : [],
        model: model || target.model,
        inputTokens,
        outputTokens,
      }
    } catch (error) {
      if (error instanceof CallerError) throw error
      const cause = controller.signal.aborted ? TIMED_OUT : error
      throw emitted ? new StreamBroken(cause) : cause
    } finally {
      clearTimeout(timer)
    }
  }

  async function complete(request: LlmRequest): Promise<LlmResult> {
    const attempts: LlmAttempt[] = []
    let skipped: { provider: string; model: string; providerKeyId: string | null; reason: string }[] | undefined
    const messages = toOpenAIMessages(request.messages)
    const tools = request.tools && request.tools.length > 0 ? toOpenAITools(request.tools) : undefined
    const onDelta = request.onDelta

    for (const target of request.targets) {
      let account: Account
      try {
        account = accountFor(target)
      } catch (error) {
        // The SDK refuses to build a client (e.g. a malformed base URL): this target cannot answer.
        attempts.push(failedAttempt(target, 0, scrub(errorText(error), target.apiKey)))
        continue
      }
      for (let retry = 0; ; retry++) {
        const ticket = account.breaker.acquire()
        if (ticket === null) {
          ;(skipped ??= []).push({ provider: target.provider, model: target.model, providerKeyId: target.providerKeyId, reason: 'circuit_open' })
          break
        }
        const started = performance.now()
        let output: CallOutput
        try {
          output = onDelta
            ? await callStream({ account, target, messages, tools, request, onDelta })
            : await callOnce({ account, target, messages, tools, request })
        } catch (error) {
          const latencyMs = Math.round(performance.now() - started)
          if (error instanceof CallerError) {
            account.breaker.release(ticket)
            throw error.inner
          }
          const broken = error instanceof StreamBroken
          const failure = classify(broken ? error.inner : error, { apiKey: account.apiKey, timeoutMs, nowMs: now() })
          attempts.push(failedAttempt(target, latencyMs, broken ? `stream broke off after text was sent: ${failure.message}` : failure.message))
          recordFailure(account, ticket, failure, target)
          if (broken) {
            throw new AppError('llm_unavailable', 'The language model stopped answering mid-stream', 503, { attempts, streamInterrupted: true })
          }
          if (!failure.retryable || retry >= retries) break
          let delayMs: number
          if (failure.retryAfterMs !== undefined) {
            if (failure.retryAfterMs > maxRetryAfterMs) break
            delayMs = failure.retryAfterMs
          } else {
            delayMs = Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** retry))
          }
          await sleep(delayMs)
          continue
        }
        account.breaker.success(ticket)
        const latencyMs = Math.round(performance.now() - started)
        attempts.push({
          provider: target.provider,
          model: output.model,
          providerKeyId: target.providerKeyId,
          inputTokens: output.inputTokens,
          outputTokens: output.outputTokens,
          latencyMs,
          success: true,
        })
        return {
          content: output.content,
          toolCalls: output.toolCalls,
          provider: target.provider,
          model: output.model,
          providerKeyId: target.providerKeyId,
          usage: { inputTokens: output.inputTokens, outputTokens: output.outputTokens },
          latencyMs,
          attempts,
        }
      }
    }
    throw new AppError('llm_unavailable', 'No language model answered', 503, skipped ? { attempts, skipped } : { attempts })
  }

  function recordFailure(account: Account, ticket: BreakerTicket, failure: Failure, target: ProviderTarget): void {
    if (!failure.countsForBreaker) {
      account.breaker.release(ticket)
    } else if (account.breaker.failure(ticket)) {
      logger?.warn({ breaker: account.key, provider: target.provider, openMs: breakerOpenMs, error: failure.message }, 'llm circuit breaker opened')
    }
    logger?.debug({ provider: target.provider, model: target.model, breaker: account.key, error: failure.message }, 'llm call failed')
  }

  return {
    complete,
    breakerState() {
      const out: BreakerInfo[] = []
      for (const pool of [accounts, organizationAccounts]) for (const byKey of pool.values()) for (const account of byKey.values()) out.push({ key: account.key, ...account.breaker.snapshot() })
      return out
    },
  }
}

/** The abort reason of our own per-call timer, told apart from any other abort. */
const TIMED_OUT = new Error('timed out')

function failedAttempt(target: ProviderTarget, latencyMs: number, error: string): LlmAttempt {
  return { provider: target.provider, model: target.model, providerKeyId: target.providerKeyId, inputTokens: 0, outputTokens: 0, latencyMs, success: false, error }
}

function classify(error: unknown, context: { apiKey: string; timeoutMs: number; nowMs: number }): Failure {
  const { apiKey, timeoutMs } = context
  if (error === TIMED_OUT || error instanceof APIConnectionTimeoutError) {
    return { message: `timed out after ${timeoutMs} ms`, retryable: true, countsForBreaker: true, retryAfterMs: undefined }
  }
  if (error instanceof APIConnectionError && (error as { cause?: unknown }).cause instanceof AppError) {
    // The safe fetch refused the address: asking again cannot help, and the provider did not fail.
    return { message: scrub((error as { cause: AppError }).cause.message, apiKey), retryable: false, countsForBreaker: false, retryAfterMs: undefined }
  }
  if (error instanceof APIConnectionError) {
    return { message: scrub(`connection error: ${connectionCause(error)}`, apiKey), retryable: true, countsForBreaker: true, retryAfterMs: undefined }
  }
  if (error instanceof APIError) {
    const status = error.status
    if (status === undefined) {
      // An error event inside a stream: the provider failed while answering.
      return { message: scrub(`stream error: ${error.message}`, apiKey), retryable: true, countsForBreaker: true, retryAfterMs: undefined }
    }
    const retryable = status === 408 || status === 429 || status >= 500
    // 400, 404, 409, 413, 422: this request or this model is wrong, not the account: the breaker does not count them.
    const countsForBreaker = retryable || status === 401 || status === 402 || status === 403
    return { message: scrub(error.message, apiKey), retryable, countsForBreaker, retryAfterMs: retryable ? retryAfterMs(error.headers, context.nowMs) : undefined }
  }
  // Anything else (an unparsable body, ...): the provider cannot answer this; try the next one.
  return { message: scrub(errorText(error), apiKey), retryable: false, countsForBreaker: true, retryAfterMs: undefined }
}

/** `retry-after-ms` (milliseconds), else `retry-after` (seconds or an HTTP date). */
export function retryAfterMs(headers: Headers | undefined, nowMs: number = Date.now()): number | undefined {
  if (!headers) return undefined
  const ms = headers.get('retry-after-ms')
  if (ms) {
    const value = Number(ms)
    if (Number.isFinite(value) && value >= 0) return value
  }
  const after = headers.get('retry-after')
  if (!after) return undefined
  const seconds = Number(after)
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined
  const date = Date.parse(after)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs)
}

function connectionCause(error: APIConnectionError): string {
  const cause = (error as { cause?: unknown }).cause as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | undefined
  const code = cause?.cause?.code ?? cause?.code
  const detail = cause?.cause?.message ?? cause?.message
  if (typeof code === 'string') return typeof detail === 'string' && !detail.includes(code) ? `${code} ${detail}` : typeof detail === 'string' ? detail : code
  return typeof detail === 'string' ? detail : error.message
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Removes the account's key, any bearer token and anything shaped like a secret key from an error text. */
export function scrub(text: string, apiKey: string): string {
  let out = apiKey.length >= 4 && text.includes(apiKey) ? text.split(apiKey).join('[redacted]') : text
  out = out.replace(/\bBearer\s+[^\s"',]+/gi, 'Bearer [redacted]').replace(/\b(sk|rk|gsk|xai|pk)-[A-Za-z0-9_\-*.]{6,}/g, '$1-[redacted]')
  return out.length > MAX_ERROR_CHARS ? `${out.slice(0, MAX_ERROR_CHARS)}…` : out
}

function toOpenAIMessages(messages: LlmMessage[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = new Array(messages.length)
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!
    switch (m.role) {
      case 'system':
      case 'user':
        out[i] = { role: m.role, content: m.content }
        break
      case 'assistant':
        out[i] =
          m.toolCalls && m.toolCalls.length > 0
            ? {
                role: 'assistant',
                content: m.content,
                tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })),
              }
            : { role: 'assistant', content: m.content }
        break
      case 'tool':
        out[i] = { role: 'tool', tool_call_id: m.toolCallId, content: m.content }
        break
    }
  }
  return out
}

function toOpenAITools(tools: ToolSpec[]): ChatCompletionTool[] {
  return tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters } }))
}
