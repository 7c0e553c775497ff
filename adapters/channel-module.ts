import type { Router } from 'express'
import type { Redis } from 'ioredis'
import type { z } from 'zod'
import type { Config } from '../core/config/index.ts'
import type { Ingress } from '../core/conversation/ingress.ts'
import type { TurnService } from '../core/conversation/turn-service.ts'
import type { Agent, ChannelAdapter, ChannelKind, ContactMemory, HandoffDesk, Inbox, InboxPurpose, JobHandler, Logger, Notifier, Queue, RateLimiter, Store } from '../core/ports.ts'
import type { ConversationOps } from '../core/conversation/operator-service.ts'
import type { Database } from './db/database.ts'
import type { KommoConnections } from './kommo/connection.ts'
import type { SecretBox } from '../core/security/secrets.ts'
import type { createApi } from './http/api.ts'

/**
 * How an inbox shows in the admin API and the admin web: never its credentials. `details` are the
 * channel's own non-secret facts (a bot's username, a web chat's page).
 */
export type InboxSummary = {
  inboxId: string
  kind: ChannelKind
  agentId: string
  name: string
  purpose: InboxPurpose
  /** How updates arrive: `webhook`, `polling`, `socket`, or `http` for the web chat's own API. */
  mode: string | null
  /** The address the service posts to (POST /webhooks/{kind}/{inboxId}); null when it is not called. */
  webhookUrl: string | null
  details: Record<string, unknown>
}

/** What every channel is given when the app starts: the configuration holds its own variables, parsed by its `config` schema. */
export type ChannelDeps<C> = {
  config: C & Config
  store: Store
  secrets: SecretBox
  logger: Logger
  turns: TurnService
  /** Where verified, normalized events go (polling and sockets use it; webhooks reach it through the one route). */
  ingress: Ingress
  notifier: Notifier
  limiter: RateLimiter
  /** The admin API, for a channel whose customers use Switchboard's own HTTP API (the web chat). */
  api: ReturnType<typeof createApi>
  /** The installation's public address (PUBLIC_URL), when it has one. */
  publicUrl?: string
  /** Whether this process receives traffic (HTTP servers do; workers only send). */
  receives: boolean
  /** Connecting and disconnecting as the admin API does it (audited), for a module's own routes. */
  channels: {
    connect(req: { organizationId: string; agentId: string; kind: string; body: unknown; actorUserId: string | null }): Promise<Inbox>
    disconnect(req: { organizationId: string; inboxId: string; actorUserId: string | null; kind?: string }): Promise<{ inbox: Inbox; warning: string | null }>
  }
  /** Tells the organization's admins in their messenger chats (at most once per `key`): a channel that broke, say. */
  notifyAdmins(input: { organizationId: string; text: string; key: string }): Promise<number>
  /** Refuses (402/409) one more channel inbox over the organization's plan. */
  checkChannelCap(organizationId: string): Promise<void>
  /** Redis, when configured (with REDIS_PREFIX for its keys): limits shared by every process. */
  redis?: { client: Redis; prefix: string }
  sleep?: (ms: number) => Promise<void>
  /** The job queue, for a channel that stores what it receives and acts on it in a job (Kommo's chat hooks). */
  queue?: Queue
  /** What operators do with conversations (take, reply, hand back), for a desk whose operators act through the service's own hooks (Kommo). */
  operators?: ConversationOps
  /** The organization's Kommo CRM connection, its database and contact memory: the Kommo chats channel works through them. */
  crm?: { kommo: KommoConnections; db: Database; memory: ContactMemory }
}

/** One channel, running: what the rest of Switchboard may ask of it. */
export type Channel<I = unknown> = {
  adapter: ChannelAdapter
  /** Checks the credentials with the service, seals them, registers webhooks; connecting the same bot again updates its inbox. */
  connect(input: { organizationId: string; agent: Agent; input: I; actorUserId: string | null }): Promise<Inbox>
  /** Tells the service the inbox is gone (webhook deleted, polling stopped); `warning` when it could not be told. The inbox is removed by the caller. */
  disconnect(input: { inbox: Inbox }): Promise<{ warning?: string }>
  summary(inbox: Inbox): InboxSummary
  /** Where this channel's operators work (a Telegram group, a Slack channel). */
  desk?: HandoffDesk
  /**
   * Pages and an API of the channel's own (the web chat's page and its request/response API).
   * Never a webhook: services post to the one ingress route, POST /webhooks/{kind}/{inboxId}.
   */
  routes?: Router
  /** What the admin web may offer for this kind beyond the connect form (Slack: { addToSlack: true } when OAuth is configured). */
  offers?(): Record<string, unknown>
  /** At the first start with the demo workspace: connects what the environment names (TELEGRAM_BOT_TOKEN) to the demo agent; returns a line for the start-up banner. */
  demo?(input: { organizationId: string; agent: Agent }): Promise<string | null>
  /** Long polling, sockets, token refresh: started after the HTTP server is built, stopped on close. */
  start?(): Promise<void>
  stop?(): Promise<void>
  /** Jobs of the channel's own (by name), consumed by workers: what a hook stored and queued, done later. */
  jobs?: Record<string, JobHandler>
}

/**
 * A channel, as adapters/channels.ts lists it: its environment variables (merged into the one
 * configuration schema), the body of POST /api/v1/agents/{id}/channels/{kind}, and how to build it.
 */
export type ChannelModule<C extends z.ZodRawShape = z.ZodRawShape, I extends z.ZodType = z.ZodType> = {
  kind: ChannelKind
  /** A human name for logs and messages ("Telegram"). */
  label: string
  /** How a person sends the command `link <code>` in this channel, when it is not typed as is (Telegram: /link <code>). */
  linkHint?: (code: string) => string
  config: z.ZodObject<C>
  connect: I
  create(deps: ChannelDeps<z.infer<z.ZodObject<C>>>): Channel<z.infer<I>>
}

/** Keeps a module's own config and connect types checked where it is written, then lists it with the others. */
export const defineChannel = <C extends z.ZodRawShape, I extends z.ZodType>(module: ChannelModule<C, I>): ChannelModule => module as unknown as ChannelModule
