import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { api, type TestApp } from './test-app.ts'

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/meta')

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- fixtures are patched field by field, as Meta's JSON
export type Json = Record<string, any>

/** A documented Meta webhook body from tests/fixtures/meta, deep-copied and changed by `patch`. */
export function metaFixture(name: string, patch?: (value: Json) => void): Json {
  const value = JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as Json
  patch?.(value)
  return value
}

/** X-Hub-Signature-256 as Meta computes it: sha256=HMAC-SHA256(raw body, app secret). */
export const metaSignature = (appSecret: string, body: string) => `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`

let serial = 0
/** One customer message to an account (object page or instagram), as Meta delivers it. */
export function metaText(input: { object: 'page' | 'instagram'; accountId: string; customer: string; text?: string; mid?: string; quickReply?: string; postback?: { title: string; payload: string }; at?: number }): Json {
  const at = input.at ?? Date.now()
  const mid = input.mid ?? `m_test_${at}_${++serial}`
  const item: Json = { sender: { id: input.customer }, recipient: { id: input.accountId }, timestamp: at }
  if (input.postback) item.postback = { mid, title: input.postback.title, payload: input.postback.payload }
  else item.message = { mid, text: input.text ?? '', ...(input.quickReply ? { quick_reply: { payload: input.quickReply } } : {}) }
  return { object: input.object, entry: [{ id: input.accountId, time: at, messaging: [item] }] }
}

/** Posts to a Meta webhook the way Meta does: the raw JSON signed with the app secret. */
export function metaSender(t: TestApp, input: { path: string; appSecret: () => string }) {
  return async (body: unknown, options: { signature?: string; raw?: string } = {}) => {
    const raw = options.raw ?? JSON.stringify(body)
    const res = await api(t, input.path, { raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': options.signature ?? metaSignature(input.appSecret(), raw) }, method: 'POST' })
    return { status: res.status, text: res.text, json: res.json }
  }
}
