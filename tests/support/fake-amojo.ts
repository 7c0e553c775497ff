import { createHash, createHmac, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local stand-in for Kommo's Chats API (amojo, https://amojo.kommo.com), as a registered channel
 * talks to it (amo-docs chats/chat-api-reference.md; tests/fixtures/kommo/README.md):
 *
 * - every request must carry Date, Content-Type: application/json, Content-MD5 (lowercase hex MD5
 *   of the exact body bytes) and X-Signature = lowercase hex HMAC-SHA1(channel secret,
 *   METHOD\nContent-MD5\nContent-Type\nDate\npath); anything else → 403 (as Kommo answers);
 *   a Date more than 15 minutes off the fake's clock → 403 too;
 * - connect / disconnect for a channel it knows (404 otherwise); the scope is `{channel_id}_{account_id}`;
 * - send: new_message recorded per scope (msgid kept as given; a msgid seen before in the chat is
 *   not added twice, as Kommo keys messages by it) and answered with `new_message`;
 * - delivery_status recorded.
 *
 * `hook()` builds what Kommo posts for an operator's message (hook v2) with its X-Signature.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read back by tests as Kommo would
type Loose = Record<string, any>
export type AmojoSent = { scopeId: string; eventType: string; payload: Loose; at: Date }
export type AmojoCall = { method: string; path: string; status: number; body: unknown }

export async function startFakeAmojo(opts: { channelId: string; secret: string; now?: () => Date }) {
  const now = opts.now ?? (() => new Date())
  const scopes = new Map<string, { accountId: string; title: string; connected: boolean }>()
  const messages: AmojoSent[] = []
  const statuses: { scopeId: string; msgid: string; body: unknown }[] = []
  const calls: AmojoCall[] = []
  let failNext: { status: number; headers: Record<string, string> } | null = null

  const read = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => resolve(Buffer.concat(chunks)))
      req.on('error', reject)
    })

  function signed(req: IncomingMessage, path: string, body: Buffer): boolean {
    const h = (name: string) => (req.headers[name] as string | undefined) ?? ''
    const md5 = createHash('md5').update(body).digest('hex')
    if (h('content-md5') !== md5) return false
    if (h('content-type') !== 'application/json') return false
    const date = Date.parse(h('date'))
    if (!Number.isFinite(date) || Math.abs(date - now().getTime()) > 15 * 60_000) return false
    const expected = createHmac('sha1', opts.secret).update([req.method!.toUpperCase(), md5, 'application/json', h('date'), path].join('\n')).digest('hex')
    return h('x-signature') === expected
  }

  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await read(req)
    const path = (req.url ?? '/').split('?')[0]!
    const answer = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      calls.push({ method: req.method!, path, status, body: body.length ? safeJson(body) : null })
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(json === undefined ? '' : JSON.stringify(json))
    }
    if (!signed(req, path, body)) return answer(403, { error: 'Forbidden' })
    if (failNext !== null) {
      const { status, headers } = failNext
      failNext = null
      return answer(status, { error: 'injected' }, headers)
    }
    const json = safeJson(body) as Loose | null
    let m = /^\/v2\/origin\/custom\/([^/]+)\/connect$/.exec(path)
    if (m && req.method === 'POST') {
      if (m[1] !== opts.channelId) return answer(404, { error: 'channel not found' })
      if (!json?.account_id) return answer(400, { error: 'account_id is required' })
      const scopeId = `${opts.channelId}_${json.account_id}`
      scopes.set(scopeId, { accountId: json.account_id, title: json.title ?? 'Channel', connected: true })
      return answer(200, { account_id: json.account_id, scope_id: scopeId, title: json.title ?? 'Channel', hook_api_version: json.hook_api_version ?? 'v1', is_time_window_disabled: false })
    }
    m = /^\/v2\/origin\/custom\/([^/]+)\/disconnect$/.exec(path)
    if (m && req.method === 'DELETE') {
      if (m[1] !== opts.channelId) return answer(404, { error: 'channel not found' })
      const scope = scopes.get(`${opts.channelId}_${json?.account_id}`)
      if (scope) scope.connected = false
      return answer(200)
    }
    m = /^\/v2\/origin\/custom\/([^/]+)\/([^/]+)\/delivery_status$/.exec(path)
    if (m && req.method === 'POST') {
      statuses.push({ scopeId: m[1]!, msgid: decodeURIComponent(m[2]!), body: json })
      return answer(200)
    }
    m = /^\/v2\/origin\/custom\/([^/]+)$/.exec(path)
    if (m && req.method === 'POST') {
      const scope = scopes.get(m[1]!)
      if (!scope?.connected) return answer(404, { error: 'scope not found' })
      const payload = json?.payload as Loose | undefined
      if (json?.event_type !== 'new_message' || !payload?.msgid || !payload.conversation_id || !payload.sender?.id || !payload.message?.type) return answer(400, { error: 'invalid payload' })
      if (!messages.some((x) => x.scopeId === m![1] && x.payload.msgid === payload.msgid)) messages.push({ scopeId: m[1]!, eventType: json.event_type, payload, at: now() })
      return answer(200, { new_message: { conversation_id: payload.conversation_id, sender_id: payload.sender.id, receiver_id: payload.receiver?.id ?? null, msgid: randomUUID(), ref_id: payload.msgid } })
    }
    return answer(404, { error: 'not found' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    channelId: opts.channelId,
    calls,
    statuses,
    scopes,
    /** Messages imported into a scope, optionally one chat (conversation_id). */
    messages: (scopeId?: string, conversationId?: string) => messages.filter((x) => (!scopeId || x.scopeId === scopeId) && (!conversationId || x.payload.conversation_id === conversationId)),
    /** The next request, once signed correctly, gets this status (and headers: Retry-After for a 429). */
    failNext: (status: number, headers: Record<string, string> = {}) => void (failNext = { status, headers }),
    /**
     * What Kommo posts to the channel's hook URL when an operator writes in a chat (hook v2,
     * amo-docs chats/chat-webhooks.md "Хук сообщения v2"), and its X-Signature over the raw body.
     */
    hook(input: { accountId: string; conversationId: string; conversationClientId?: string; senderId: string; receiver: { id: string; clientId?: string; phone?: string; email?: string }; message: { id?: string; type?: string; text?: string; media?: string; fileName?: string; fileSize?: number; mediaGroupId?: string }; time?: Date; secret?: string }) {
      const at = input.time ?? now()
      const body = {
        account_id: input.accountId,
        time: Math.floor(at.getTime() / 1000),
        message: {
          receiver: { id: input.receiver.id, phone: input.receiver.phone ?? '', email: input.receiver.email ?? '', ...(input.receiver.clientId ? { client_id: input.receiver.clientId } : {}) },
          sender: { id: input.senderId },
          conversation: { id: input.conversationId, ...(input.conversationClientId ? { client_id: input.conversationClientId } : {}) },
          source: { external_id: '' },
          timestamp: Math.floor(at.getTime() / 1000),
          msec_timestamp: at.getTime(),
          message: {
            id: input.message.id ?? randomUUID(),
            type: input.message.type ?? 'text',
            text: input.message.text ?? '',
            tag: '',
            media: input.message.media ?? '',
            thumbnail: '',
            file_name: input.message.fileName ?? '',
            file_size: input.message.fileSize ?? 0,
            ...(input.message.mediaGroupId ? { media_group_id: input.message.mediaGroupId } : {}),
          },
        },
      }
      const raw = JSON.stringify(body)
      return { body, raw, signature: createHmac('sha1', input.secret ?? opts.secret).update(raw).digest('hex') }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

function safeJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return body.toString('utf8')
  }
}

export type FakeAmojo = Awaited<ReturnType<typeof startFakeAmojo>>
