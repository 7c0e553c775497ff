import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'

/**
 * A local OpenAI-compatible API for tests, answering in the shapes of tests/fixtures/openai (the
 * OpenAI API reference): `GET /v1/models` and `POST /v1/chat/completions`, both only with one of
 * the keys it was given (otherwise the 401 body OpenAI sends for a wrong key). It records each
 * request's path and whether its key was right, never the key itself.
 */
const fixtures = path.resolve(import.meta.dirname, '../fixtures/openai')
const read = (name: string) => JSON.parse(readFileSync(path.join(fixtures, name), 'utf8'))

export type FakeOpenAI = { url: string; hits: { method: string; path: string; authorized: boolean }[]; answer: string; close(): Promise<void> }

export async function startFakeOpenAI(input: { keys: string[]; answer?: string }): Promise<FakeOpenAI> {
  const models = read('models.json')
  const invalidKey = read('error-invalid-key.json')
  const completion = read('chat-completion.json')
  const state: FakeOpenAI = { url: '', hits: [], answer: input.answer ?? 'Hello from the fake model.', close: async () => {} }
  const body = (req: IncomingMessage) => new Promise<string>((resolve) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString('utf8')))
    req.on('end', () => resolve(text))
  })
  const server: Server = createServer(async (req, res) => {
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    const authorized = key !== undefined && input.keys.includes(key)
    const url = new URL(req.url ?? '/', 'http://x')
    state.hits.push({ method: req.method ?? 'GET', path: url.pathname, authorized })
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(json))
    }
    if (!authorized) return send(401, invalidKey)
    if (req.method === 'GET' && url.pathname === '/v1/models') return send(200, models)
    if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
      const request = JSON.parse((await body(req)) || '{}') as { model?: string }
      return send(200, { ...completion, model: request.model ?? completion.model, choices: [{ index: 0, message: { role: 'assistant', content: state.answer, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }] })
    }
    send(404, { error: { message: `Invalid URL (${req.method} ${url.pathname})`, type: 'invalid_request_error', param: null, code: null } })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  state.close = () => new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
  return state
}
