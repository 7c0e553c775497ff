import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local stand-in for an OpenAI-compatible API (what OPENAI_BASE_URL points at in tests), run in
 * the test's own process so it can count what the product asks of it. `POST .../chat/completions`
 * is answered with the shape of tests/fixtures/openai/chat-completion.json (the OpenAI API
 * reference), whose content is `reply(question)`: the text of the last user message; streaming
 * (`stream: true`) gets one content chunk, the usage chunk and `[DONE]`. `POST .../embeddings` is
 * counted and refused with 500 (a test that allows embeddings says so with `embeddings`).
 *
 * The first path segment before `/v1` names the caller (`http://127.0.0.1:PORT/worker-1/v1`), so a
 * test that runs several processes knows which one called. `holdNext(caller)` keeps the next call
 * of that caller unanswered until the test decides (a process killed in the middle of a call).
 */
export type ModelCall = { caller: string; question: string; at: number; answered: boolean }

const COMPLETION = JSON.parse(readFileSync(new URL('../fixtures/openai/chat-completion.json', import.meta.url), 'utf8')) as Record<string, unknown> & { choices: { message: { content: string } }[] }

export async function startFakeOpenAI(input: { reply?: (question: string) => string; embeddings?: boolean } = {}) {
  const reply = input.reply ?? ((q: string) => `Answer: ${q}`)
  const calls: ModelCall[] = []
  const embeddingCalls: { caller: string; at: number }[] = []
  let hold: { caller: string; resolve: (call: ModelCall) => void } | null = null
  const held: ServerResponse[] = []

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  /** The text of the last user message: a string, or the text parts of a content array. */
  const lastQuestion = (body: { messages?: { role: string; content: unknown }[] }) => {
    const user = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user')
    if (!user) return ''
    if (typeof user.content === 'string') return user.content
    return Array.isArray(user.content) ? user.content.map((p: { text?: string }) => p.text ?? '').join('') : ''
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake')
    const m = /^\/(?:([\w.-]+)\/)?v1\/(chat\/completions|embeddings)$/.exec(url.pathname)
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    if (req.method !== 'POST' || !m) return send(res, 404, { error: { message: `Unknown request: ${req.method} ${url.pathname}`, type: 'invalid_request_error', code: null, param: null } })
    const caller = m[1] ?? 'default'
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model?: string; stream?: boolean; messages?: { role: string; content: unknown }[] }
    if (m[2] === 'embeddings') {
      embeddingCalls.push({ caller, at: Date.now() })
      if (!input.embeddings) return send(res, 500, { error: { message: 'embeddings are not expected in this test', type: 'server_error', code: null, param: null } })
      return send(res, 404, { error: { message: 'not implemented', type: 'invalid_request_error', code: null, param: null } })
    }
    const question = lastQuestion(body)
    const call: ModelCall = { caller, question, at: Date.now(), answered: false }
    calls.push(call)
    if (hold && hold.caller === caller) {
      const h = hold
      hold = null
      held.push(res)
      h.resolve(call)
      return
    }
    const content = reply(question)
    const model = body.model ?? 'gpt-4o-mini'
    if (body.stream) {
      const base = { id: COMPLETION.id, object: 'chat.completion.chunk', created: COMPLETION.created, model, system_fingerprint: COMPLETION.system_fingerprint }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content }, logprobs: null, finish_reason: null }], usage: null })}\n\n`)
      res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], usage: null })}\n\n`)
      res.write(`data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 } })}\n\n`)
      res.end('data: [DONE]\n\n')
    } else {
      send(res, 200, { ...COMPLETION, model, choices: [{ ...COMPLETION.choices[0]!, message: { ...COMPLETION.choices[0]!.message, content } }] })
    }
    call.answered = true
  }

  const server: Server = createServer((req, res) => void handle(req, res).catch((error: unknown) => send(res, 500, { error: { message: String(error), type: 'server_error', code: null, param: null } })))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    /** OPENAI_BASE_URL for one caller. */
    baseUrl: (caller: string) => `${url}/${caller}/v1`,
    calls,
    embeddingCalls,
    /** The next chat call of `caller` is left unanswered; resolves with it once it has arrived. */
    holdNext(caller: string): Promise<ModelCall> {
      return new Promise((resolve) => (hold = { caller, resolve }))
    },
    async close() {
      for (const res of held) res.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections?.()
    },
  }
}

export type FakeOpenAI = Awaited<ReturnType<typeof startFakeOpenAI>>
