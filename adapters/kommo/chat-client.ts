import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import type { Logger } from '../../core/ports.ts'
import { signAmojoRequest } from './chat-signature.ts'

/*
 * The client of Kommo's Chats API (amojo, https://amojo.kommo.com; KOMMO_CHATS_URL), the
 * service that makes Switchboard a messenger inside Kommo (amo-docs chats/chat-api-reference.md):
 *
 *   connect          POST   /v2/origin/custom/{channel_id}/connect   {account_id, title, hook_api_version: "v2"} → scope_id
 *   disconnect       DELETE /v2/origin/custom/{channel_id}/disconnect {account_id}
 *   send             POST   /v2/origin/custom/{scope_id}             {event_type: "new_message", payload}
 *   delivery status  POST   /v2/origin/custom/{scope_id}/{msgid}/delivery_status {status_code, error_code?, error?}
 *
 * Every request is signed (./chat-signature.ts) over the bytes it sends: the body is serialized
 * once, and those bytes are hashed, signed and sent. amojo answers 403 to a bad signature: that is
 * logged as an error naming the method and thrown as `kommo_chat_refused` (never retried: the same
 * bytes would be refused again; a wrong KOMMO_CHANNEL_SECRET or a clock off by 15 minutes is for a
 * person to fix). 404: the channel (or scope) does not exist. 400: amojo's reason, named. 5xx or no
 * answer: `provider_error` 502, for the job to retry. The channel secret is never logged.
 */

export type AmojoUser = { id: string; ref_id?: string; name: string; avatar?: string; profile?: { phone?: string; email?: string } }
export type AmojoMessage = { type: 'text' | 'file' | 'picture' | 'video' | 'voice' | 'audio' | 'sticker' | 'location' | 'contact'; text?: string; media?: string; file_name?: string; file_size?: number }
export type AmojoNewMessage = {
  timestamp: number
  msec_timestamp: number
  msgid: string
  conversation_id: string
  sender: AmojoUser
  receiver?: AmojoUser
  message: AmojoMessage
  silent: boolean
}

const connectAnswer = z.object({ scope_id: z.string().min(1), account_id: z.string().optional() }).passthrough()
const sendAnswer = z.object({ new_message: z.object({ conversation_id: z.string().optional(), msgid: z.string().optional(), ref_id: z.string().optional() }).passthrough() }).passthrough()

export type AmojoClient = ReturnType<typeof createAmojoClient>

export function createAmojoClient(deps: { baseUrl: string; channelId: string; secret: string; logger: Logger; fetch?: typeof fetch; now?: () => Date; timeoutMs?: number; sleep?: (ms: number) => Promise<void> }) {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const doFetch = deps.fetch ?? fetch
  const now = deps.now ?? (() => new Date())
  const base = deps.baseUrl.replace(/\/+$/, '')

  async function call<T>(input: { method: 'POST' | 'DELETE'; path: string; body: unknown; what: string; schema?: z.ZodType<T> }): Promise<T | null> {
    // Serialized once: these bytes are hashed, signed and sent.
    const bytes = Buffer.from(JSON.stringify(input.body), 'utf8')
    const headers = signAmojoRequest({ secret: deps.secret, method: input.method, path: input.path, body: bytes, date: now() })
    let res: Response
    for (let attempt = 1; ; attempt++) {
      try {
        // Signed again for each attempt: the Date is part of the signature.
        const signed = attempt === 1 ? headers : signAmojoRequest({ secret: deps.secret, method: input.method, path: input.path, body: bytes, date: now() })
        res = await doFetch(`${base}${input.path}`, { method: input.method, headers: signed, body: bytes, signal: AbortSignal.timeout(deps.timeoutMs ?? 10_000) })
      } catch (error) {
        throw new AppError('provider_error', `Kommo chats (${input.what}) did not answer: ${(error as Error).message}`, 502)
      }
      // Too many requests: wait as long as Kommo says (1 s when it says nothing), at most 3 times.
      if (res.status !== 429 || attempt > 3) break
      const seconds = Number(res.headers.get('retry-after'))
      await res.text().catch(() => '')
      await sleep((Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) : 1) * 1000)
    }
    if (res.status === 429) throw new AppError('channel_rate_limited', `Kommo chats (${input.what}): too many requests`, 503)
    const text = await res.text().catch(() => '')
    if (res.status === 403) {
      deps.logger.error({ method: input.what, path: input.path.replace(/[0-9a-f-]{36}/gi, ':id'), status: 403 }, 'Kommo chats refused the request signature: check KOMMO_CHANNEL_ID, KOMMO_CHANNEL_SECRET and the server clock')
      throw new AppError('kommo_chat_refused', `Kommo chats refused ${input.what} (403, bad signature): check KOMMO_CHANNEL_ID, KOMMO_CHANNEL_SECRET and the clock`, 502)
    }
    if (res.status === 404) throw new AppError('kommo_chat_not_found', `Kommo chats (${input.what}): no such channel or connection (404)`, 502)
    if (res.status >= 500) throw new AppError('provider_error', `Kommo chats (${input.what}) failed with ${res.status}`, 502)
    if (res.status < 200 || res.status >= 300) {
      const reason = text.slice(0, 300).replace(/\s+/g, ' ')
      deps.logger.warn({ method: input.what, status: res.status, reason }, 'Kommo chats refused a request')
      throw new AppError('kommo_chat_rejected', `Kommo chats refused ${input.what} (${res.status}): ${reason || 'no reason given'}`, 502)
    }
    if (!input.schema) return null
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new AppError('provider_error', `Kommo chats (${input.what}) answered something that is not JSON`, 502)
    }
    const parsed = input.schema.safeParse(json)
    if (!parsed.success) throw new AppError('provider_error', `Kommo chats (${input.what}) answered an unexpected shape`, 502)
    return parsed.data
  }

  return {
    /** Connects the channel to an account (its amojo id): the scope_id every later call names. Done again after a reinstall. */
    async connect(input: { accountId: string; title: string }): Promise<{ scopeId: string }> {
      const answer = await call({ method: 'POST', path: `/v2/origin/custom/${deps.channelId}/connect`, body: { account_id: input.accountId, title: input.title, hook_api_version: 'v2' }, what: 'connect', schema: connectAnswer })
      return { scopeId: answer!.scope_id }
    },
    async disconnect(input: { accountId: string }): Promise<void> {
      await call({ method: 'DELETE', path: `/v2/origin/custom/${deps.channelId}/disconnect`, body: { account_id: input.accountId }, what: 'disconnect' })
    },
    /** Imports or sends one message into a chat of the scope (created with its first message). */
    async send(input: { scopeId: string; payload: AmojoNewMessage }) {
      const answer = await call({ method: 'POST', path: `/v2/origin/custom/${input.scopeId}`, body: { event_type: 'new_message', payload: input.payload }, what: 'send', schema: sendAnswer })
      return answer!.new_message
    },
    /** 1 delivered, 2 read, -1 error (with Kommo's error code 901–905 and a text shown to the operator). */
    async deliveryStatus(input: { scopeId: string; msgid: string; status: 1 | 2 | -1; errorCode?: number; error?: string }): Promise<void> {
      await call({
        method: 'POST',
        path: `/v2/origin/custom/${input.scopeId}/${encodeURIComponent(input.msgid)}/delivery_status`,
        body: { status_code: input.status, ...(input.errorCode ? { error_code: input.errorCode } : {}), ...(input.error ? { error: input.error } : {}) },
        what: 'delivery_status',
      })
    },
  }
}
