// The admin API from the browser: the session is an HTTP-only cookie; state-changing requests
// carry the CSRF token the server gave at sign-in (or in GET /api/v1/me).

let csrfToken: string | null = null
export const setCsrfToken = (token: string | null) => {
  csrfToken = token
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

let onUnauthorized: (() => void) | null = null
export const whenUnauthorized = (fn: () => void) => {
  onUnauthorized = fn
}

export async function request<T = unknown>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal; quiet401?: boolean } = {}): Promise<T> {
  const method = init.method ?? (init.body === undefined ? 'GET' : 'POST')
  const headers: Record<string, string> = { accept: 'application/json' }
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken
  let res: Response
  try {
    res = await fetch(path, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), credentials: 'same-origin', signal: init.signal })
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error
    throw new ApiError(0, 'network', 'network')
  }
  if (res.status === 204) return undefined as T
  const data = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } }
  if (!res.ok) {
    if (res.status === 401 && !init.quiet401) onUnauthorized?.()
    throw new ApiError(res.status, data.error?.code ?? 'error', data.error?.message ?? res.statusText)
  }
  return data as T
}

/** Uploads a file with progress (fetch cannot report upload progress; XMLHttpRequest can). */
export function upload<T>(path: string, file: File, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', path)
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken)
    xhr.setRequestHeader('accept', 'application/json')
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total)
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network'))
    xhr.onload = () => {
      let data: { error?: { code: string; message: string } } = {}
      try {
        data = JSON.parse(xhr.responseText)
      } catch {
        // not JSON
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data as T)
      else reject(new ApiError(xhr.status, data.error?.code ?? 'error', data.error?.message ?? xhr.statusText))
    }
    const form = new FormData()
    form.append('file', file)
    xhr.send(form)
  })
}

export type StreamEvent = { event: string; data: unknown }

/** POSTs and reads server-sent events from the response as they arrive. */
export async function stream(path: string, body: unknown, onEvent: (e: StreamEvent) => void, signal?: AbortSignal): Promise<void> {
  const headers: Record<string, string> = { accept: 'text/event-stream', 'content-type': 'application/json' }
  if (csrfToken) headers['x-csrf-token'] = csrfToken
  const res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin', signal })
  if (!res.ok || !res.body) {
    const data = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } }
    throw new ApiError(res.status, data.error?.code ?? 'error', data.error?.message ?? res.statusText)
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    let end: number
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const chunk = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const event = /^event: (.*)$/m.exec(chunk)?.[1] ?? 'message'
      const data = /^data: (.*)$/m.exec(chunk)?.[1]
      if (data !== undefined) onEvent({ event, data: JSON.parse(data) })
    }
  }
}

// ---- shapes the pages read
export type Role = 'owner' | 'admin' | 'operator' | 'member'
export type Me = { userId: string; email: string; name: string; role: Role; organization: { id: string; name: string }; csrfToken?: string; mfaEnrollmentRequired?: boolean }
export type Agent = { id: string; name: string; instructions: string; model: string | null; temperature: number; maxTokens: number; providerKeyId: string | null; fallbacks: { providerKeyId: string | null; model: string }[]; responseDelayMs: number; language: 'auto' | 'en' | 'ru'; createdAt: string }
export type Inbox = { id: string; channel: string; name: string; key: string | null; purpose?: string }
/** A connected channel (an inbox) as GET /api/v1/channels lists it; details depend on the kind. */
export type ChannelItem = {
  id: string
  inboxId: string
  channel: string
  kind: string
  agentId: string
  agentName: string
  name: string
  purpose?: string
  mode: string | null
  webhookUrl: string | null
  publicKey: string | null
  details: Record<string, unknown>
  lastMessageAt: string | null
  failedReplies: number
  lastError: string | null
  /** Where this channel's handoffs go: another inbox that is a desk; null = its own operators' place, if its channel has one. */
  deskInboxId?: string | null
  /** The channel's operators' desk: null when its kind has none (the web chat); ready once a place is chosen (a Telegram group, a Slack channel). */
  desk?: { ready: boolean; place: string | null } | null
}
/** A kind the server can connect; `offers` are its extra ways (Slack: addToSlack, the one-click install). */
export type ChannelKindItem = { kind: string; label?: string; connectable: boolean; offers?: Record<string, unknown> }
export type ChannelList = { channels: ChannelItem[]; kinds: ChannelKindItem[] }
/** The answer of PUT /api/v1/channels/{inboxId}/desk. */
export type DeskChoice = { inboxId: string; deskInboxId: string | null }
/** The inbox POST /api/v1/agents/{id}/channels/{kind} made. */
export type ConnectedInbox = { inboxId: string; kind: string; agentId: string; name: string; mode: string | null; webhookUrl: string | null; purpose: string; details: Record<string, unknown> }
/** The answer of DELETE /api/v1/channels/{inboxId}; warning: the outside service could not be told. */
export type Disconnected = { inboxId: string; kind: string; name: string; warning: string | null }
export type Source = { id: string; title: string; kind: string; uri: string | null; status: 'queued' | 'processing' | 'ready' | 'failed'; progress: number; error: string | null; chunkCount: number; agentId: string | null; collectionId: string | null; updatedAt: string }
export type Collection = { id: string; name: string; description: string; sourceCount: number; createdAt: string; updatedAt: string }
export type Passage = { chunkId: string; sourceId: string; title: string; heading: string; text: string; score: number; bm25: number | null; similarity: number | null; ftsRank: number | null; vectorRank: number | null; collectionId: string | null }
/** Articles are Markdown written in the admin web; the server marks them with an article: URI. */
export const isArticle = (s: Pick<Source, 'kind' | 'uri'>) => s.kind === 'markdown' && Boolean(s.uri?.startsWith('article:'))
export type SourceRef = { title: string; snippet: string; score?: number }
export type Message = { id: string; author: 'contact' | 'agent' | 'operator' | 'system'; text: string; sources: SourceRef[]; createdAt: string; meta?: { provider?: string; model?: string; inputTokens?: number; outputTokens?: number; costUsd?: number } }
export type Conversation = { id: string; inboxId: string; agentId: string; state: 'bot' | 'handoff' | 'closed'; channel: string | null; test: boolean; createdAt: string; lastMessageAt: string }
export type Handoff = { id: string; conversationId: string; status: 'open' | 'taken' | 'closed'; reason: string; operatorUserId: string | null; createdAt: string }
export type Member = { userId: string; email: string; name: string; role: Role; joinedAt: string }
export type Invitation = { id: string; email: string; role: Role; expiresAt: string; createdAt: string }

/** What was read from the Kommo account: pipelines with their statuses (in Kommo's order), users, the contact fields found. */
export type KommoCatalog = {
  pipelines: { id: number; name: string; isMain: boolean; statuses: { id: number; name: string; sort: number }[] }[]
  users: { id: number; name: string; email: string | null }[]
  fields: { phone: number | null; email: number | null }
}
/** The organization's Kommo choices; null pipeline/status = the main pipeline and its first open status. */
export type KommoSettings = { pipelineId: number | null; statusId: number | null; responsibleUserIds: number[]; leadMode: 'agent' | 'every_contact' }
/**
 * Whether Kommo tells Switchboard about lead changes: a webhook registered through the API, or (a
 * plan without API webhooks) the URL to add in Kommo by hand, shown to admins only; `message` (the
 * server's, in English) says what to do when it is not registered.
 */
export type KommoWebhook = { registered: boolean; manualUrl: string | null; message?: string | null }
/** GET /api/v1/crm/kommo (and the answers of connect, sync and settings): never the tokens. */
export type KommoState =
  | { connected: false; oauthAvailable: boolean }
  | {
      connected: true
      id: string
      status: 'active' | 'broken' | 'blocked'
      statusReason: string | null
      subdomain: string
      account: { id: string | null; name: string | null }
      authKind: 'oauth' | 'long_lived'
      expiresAt: string | null
      syncedAt: string | null
      catalog: KommoCatalog
      settings: KommoSettings
      /** Absent when the server does not report it. */
      webhook?: KommoWebhook | null
      /** Whether "Connect with Kommo" (OAuth) is offered, when the server says so for a connected account too. */
      oauthAvailable?: boolean
    }
export type KommoConnected = Extract<KommoState, { connected: true }>
/** DELETE /api/v1/crm/kommo; webhookRemoved (when the server reports it) false: Kommo could not be told to stop posting. */
export type KommoDisconnected = { disconnected: boolean; webhookRemoved?: boolean | null }
