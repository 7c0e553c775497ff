import type { ProviderProbe, ProviderProbeResult } from '../../core/ports.ts'

const DEFAULT_BASE_URL = 'https://api.openai.com/v1'
const MAX_MESSAGE_CHARS = 300
const MAX_MODELS = 200

/**
 * Checks an OpenAI-compatible provider key with one real call: `GET {baseURL}/models` with the key
 * as a bearer token (OpenAI, OpenRouter, Groq, Together, Ollama and vLLM all answer it; it costs
 * nothing). A 2xx answer means the address and the key work; the answer's model ids are returned
 * for the pages to suggest. The key never appears in what is returned: the provider's own error
 * text is cut short and scrubbed of it.
 */
export function createProviderProbe(deps: { fetch: typeof fetch; timeoutMs?: number; now?: () => number }): ProviderProbe {
  const timeoutMs = deps.timeoutMs ?? 10_000
  const now = deps.now ?? Date.now
  return {
    async probe({ baseURL, apiKey }): Promise<ProviderProbeResult> {
      const scrub = (text: string) => text.split(apiKey).join('[key]').replace(/\s+/g, ' ').trim().slice(0, MAX_MESSAGE_CHARS)
      const url = `${(baseURL ?? DEFAULT_BASE_URL).replace(/\/+$/, '')}/models`
      const started = now()
      let res: Response
      try {
        res = await deps.fetch(url, { headers: { authorization: `Bearer ${apiKey}`, accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' })
      } catch (error) {
        const e = error as Error & { cause?: { code?: string; message?: string } }
        const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${Math.round(timeoutMs / 1000)} s` : e.cause?.code ?? e.cause?.message ?? e.message
        return { ok: false, status: null, latencyMs: now() - started, message: scrub(`${url} cannot be reached: ${why}`), models: [] }
      }
      const latencyMs = now() - started
      const text = await res.text().catch(() => '')
      if (!res.ok) {
        let detail = text
        try {
          const body = JSON.parse(text) as { error?: { message?: string } | string; message?: string }
          detail = (typeof body.error === 'string' ? body.error : body.error?.message) ?? body.message ?? text
        } catch {
          // not JSON: keep the text
        }
        const meaning = res.status === 401 || res.status === 403 ? 'the provider refused the key' : res.status === 404 ? 'no OpenAI-compatible API at this address' : `the provider answered ${res.status}`
        return { ok: false, status: res.status, latencyMs, message: scrub(`${meaning} (HTTP ${res.status}${detail ? `: ${detail}` : ''})`), models: [] }
      }
      let body: { data?: { id?: unknown }[] }
      try {
        body = JSON.parse(text) as typeof body
      } catch {
        return { ok: false, status: res.status, latencyMs, message: `the answer of ${url} is not JSON: not an OpenAI-compatible API`, models: [] }
      }
      const models = (Array.isArray(body?.data) ? body.data : []).map((m) => m?.id).filter((id): id is string => typeof id === 'string').slice(0, MAX_MODELS)
      return { ok: true, status: res.status, latencyMs, message: null, models }
    },
  }
}
