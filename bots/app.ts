import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { z } from 'zod'
import type { AppConfig } from '../adapters/channels.ts'
import { channelModules } from '../adapters/channels.ts'
import type { ChannelDeps, ChannelModule } from '../adapters/channel-module.ts'
import { createChannelSet } from '../adapters/channel-set.ts'
import { createWebhookRouter } from '../adapters/http/webhooks.ts'
import { registerChannelRoutes } from '../admin-web/api/channel-routes.ts'
import { createDeskService } from '../core/conversation/desk-service.ts'
import { createIngress } from '../core/conversation/ingress.ts'
import { forbidden } from '../core/errors.ts'
import { createAgentService } from '../core/agents/agent-service.ts'
import { createAdminConsole } from '../core/commands/admin-console.ts'
import { createDefaultPipeline } from '../core/conversation/default-pipeline.ts'
import { createOperatorService, HANDOFF_TIMEOUT_JOB } from '../core/conversation/operator-service.ts'
import { createTurnService, TURN_JOB } from '../core/conversation/turn-service.ts'
import { createLiveEvents } from '../core/conversation/live-events.ts'
import { registerEventRoutes } from '../admin-web/api/events-routes.ts'
import { registerConversationRoutes } from '../admin-web/api/conversation-routes.ts'
import { createContactService } from '../core/conversation/contact-service.ts'
import { createPrismaConversationDirectory } from '../adapters/db/conversation-directory.ts'
import { createKnowledgeService, INGEST_JOB, REEMBED_JOB, SEMANTIC_OFF_REASON } from '../core/knowledge/knowledge-service.ts'
import { createDocumentParser } from '../adapters/files/document-parser.ts'
import { createAddressGuard, createSafeFetch, type SafeFetchOptions } from '../adapters/net/safe-fetch.ts'
import { registerKnowledgeFileRoutes } from '../admin-web/api/knowledge-file-routes.ts'
import { registerKnowledgeRoutes } from '../admin-web/api/knowledge-routes.ts'
import type { ChannelAdapter, ChannelKind, ChatModel, Embedder, HandoffDesk, LlmClient, Logger, Notifier, Queue, RateLimiter, Store } from '../core/ports.ts'
import { createAgentTools } from '../core/crm/tools.ts'
import { createLlmAnswerer, createModelChooser } from '../core/llm/llm-answerer.ts'
import { DEFAULT_PRICES } from '../core/llm/prices.ts'
import { createProviderKeyService } from '../core/llm/provider-keys.ts'
import { createProviderProbe } from '../adapters/openai/provider-probe.ts'
import { createPrismaContactMemory, createPrismaCrm } from '../adapters/db/crm-store.ts'
import { registerCrmRoutes } from '../admin-web/api/crm-routes.ts'
import { registerKommoRoutes } from '../admin-web/api/crm-kommo-routes.ts'
import { createKommoConnections } from '../adapters/kommo/connection.ts'
import { createKommoCrm } from '../adapters/kommo/crm.ts'
import { kommoConfig } from '../adapters/kommo/config.ts'
import { createKommoWebhooks, KOMMO_EVENT_JOB } from '../adapters/kommo/webhooks.ts'
import { resumeOnStage } from '../adapters/kommo/chat-channel.ts'
import { registerBillingRoutes } from '../admin-web/api/billing-routes.ts'
import { loadPlans } from '../core/billing/plans.ts'
import { createQuotaService } from '../core/billing/quota.ts'
import { createPrismaBillingStore } from '../adapters/db/billing-store.ts'
import { createPrismaMfaStore } from '../adapters/db/mfa-store.ts'
import { createSubscriptionService, type PaymentProvider } from '../core/billing/payments.ts'
import { createPrismaSubscriptionStore } from '../adapters/db/subscription-store.ts'
import { registerPaymentRoutes } from '../admin-web/api/payment-routes.ts'
import { createSecretBox } from '../core/security/secrets.ts'
import { createAuthService } from '../core/tenancy/auth-service.ts'
import { createMfaService, mfaGate } from '../core/security/mfa.ts'
import { createAdminNotifier } from '../core/tenancy/admin-notices.ts'
import { openDatabase } from '../adapters/db/database.ts'
import { createPrismaStore } from '../adapters/db/prisma-store.ts'
import { createApi } from '../adapters/http/api.ts'
import { createMetrics } from '../adapters/http/metrics.ts'
import { createHttpApp } from '../adapters/http/server.ts'
import { createExtractiveAnswerer } from '../adapters/local-ai/extractive-answerer.ts'
import { createHashingEmbedder } from '../adapters/local-ai/hashing-embedder.ts'
import { createInProcessQueue } from '../adapters/queue/in-process.ts'
import { createMemoryNotifier } from '../adapters/queue/memory-notifier.ts'
import { createMemoryRateLimiter, createRedisRateLimiter } from '../adapters/queue/rate-limiter.ts'
import { cookieSessionAllowed, registerAdminRoutes, tokenOf } from '../admin-web/api/routes.ts'
import { registerTeamRoutes } from '../admin-web/api/team-routes.ts'
import { registerMfaRoutes } from '../admin-web/api/mfa-routes.ts'
import { registerReportRoutes } from '../admin-web/api/report-routes.ts'
import { registerOnboardingRoutes } from '../admin-web/api/onboarding-routes.ts'
import { createOnboardingService } from '../core/agents/onboarding.ts'
import { createPrismaOnboardingStore } from '../adapters/db/onboarding-store.ts'
import { createAdminWebRouter } from '../admin-web/static.ts'
import { createLogMailer, createSmtpMailer } from '../adapters/mail/mailer.ts'
import { csrfTokenOf } from '../core/tenancy/auth-service.ts'

export const VERSION = '0.1.0'

export type AppRole = 'all' | 'server' | 'worker'
export type AppOverrides = {
  chatModel?: ChatModel
  llm?: LlmClient
  embedder?: Embedder
  queue?: Queue
  notifier?: Notifier
  /** Adapters that stand in for their module's own (a channel that fails to send, say). */
  channels?: ChannelAdapter[]
  /** The channel modules, instead of the registry's (the contract suite adds its echo channel). */
  modules?: readonly ChannelModule[]
  sleep?: (ms: number) => Promise<void>
  /** The resolver and the sender under the address policy of organizations' URLs (tests: fake DNS, nock). */
  net?: Pick<SafeFetchOptions, 'lookup' | 'fetch'>
}

const turnJobSchema = z.object({ organizationId: z.string().min(1), conversationId: z.string().min(1) })
const handoffTimeoutSchema = z.object({ organizationId: z.string().min(1), conversationId: z.string().min(1), handoffId: z.string().min(1) })
const ingestJobSchema = z.object({ organizationId: z.string().min(1), sourceId: z.string().min(1) })

/**
 * The composition root: picks the embedded defaults or the real engines from the configuration
 * and wires adapters into core. `role` decides whether this process serves HTTP, consumes jobs,
 * or both.
 */
export async function buildApp(input: { config: AppConfig; logger: Logger; role: AppRole; overrides?: AppOverrides }) {
  const { config, logger, role } = input
  const o = input.overrides ?? {}
  const closers: (() => Promise<unknown>)[] = []

  const encryptionKey = await resolveEncryptionKey(config, logger)
  const secrets = createSecretBox(encryptionKey, config.ENCRYPTION_KEYS_PREVIOUS)

  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR, sharedBuffers: config.PGLITE_SHARED_BUFFERS, vectors: config.KNOWLEDGE_VECTORS, logger })
  closers.push(() => db.close())
  const applied = await db.migrate()
  if (applied.length) logger.info({ migrations: applied, database: db.kind }, 'database migrated')
  const store: Store = createPrismaStore(db)

  // SDKs of optional engines load only when configured: the embedded default stays small.
  let queue: Queue
  let notifier: Notifier
  let limiter: RateLimiter
  let redisClient: ChannelDeps<unknown>['redis']
  if (config.REDIS_URL) {
    const [{ Redis }, { createBullQueue }, { createRedisNotifier }] = await Promise.all([import('ioredis'), import('../adapters/queue/bullmq.ts'), import('../adapters/queue/redis-notifier.ts')])
    const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 })
    redis.on('error', (err) => logger.warn({ err: err.message }, 'redis error'))
    closers.unshift(async () => redis.disconnect())
    queue = o.queue ?? createBullQueue({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, logger, lockMs: config.JOB_LOCK_MS })
    notifier = o.notifier ?? createRedisNotifier({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, logger })
    limiter = createRedisRateLimiter(redis, config.REDIS_PREFIX)
    redisClient = { client: redis, prefix: config.REDIS_PREFIX }
  } else {
    queue = o.queue ?? createInProcessQueue({ logger, yieldTo: db.ingressBusy })
    notifier = o.notifier ?? createMemoryNotifier()
    limiter = createMemoryRateLimiter()
  }
  closers.unshift(() => notifier.close(), () => queue.close())
  // What the admin web shows live (GET /api/v1/events), published where it happens, through the notifier.
  const live = createLiveEvents({ notifier, logger })

  // KNOWLEDGE_VECTORS=off: no embedder at all, so no embedding is ever asked of a model.
  let embedder: Embedder | null = null
  if (config.KNOWLEDGE_VECTORS === 'on') {
    embedder = o.embedder ?? createHashingEmbedder()
    if (config.OPENAI_API_KEY && !o.embedder) {
      const { createOpenAIEmbedder } = await import('../adapters/openai/openai-embedder.ts')
      embedder = createOpenAIEmbedder({ apiKey: config.OPENAI_API_KEY, baseURL: config.OPENAI_BASE_URL, model: config.OPENAI_EMBEDDING_MODEL, dimensions: config.OPENAI_EMBEDDING_DIMENSIONS })
    }
  } else logger.warn({ knowledgeVectors: 'off', knowledgeSearch: 'lexical' }, SEMANTIC_OFF_REASON)

  // Answers: an agent with a model (the environment's OPENAI_* or the organization's own keys, with
  // fallbacks) answers through the LLM router; an agent without one uses the offline answerer.
  // The router and its SDK load on the first model call.
  // Organizations' URLs reach only public addresses, or what the operator allows (ALLOW_PRIVATE_URLS);
  // the installation's own OPENAI_BASE_URL is trusted and may be private (a self-hosted model).
  const net: SafeFetchOptions = { allowPrivate: config.ALLOW_PRIVATE_URLS, ...o.net }
  const organizationFetch = createSafeFetch({ ...net, refusal: "an organization's provider key can only reach public addresses (ALLOW_PRIVATE_URLS)" })
  closers.push(() => organizationFetch.close())
  let router: Promise<LlmClient> | undefined
  const loadRouter = () => (router ??= import('../adapters/openai/llm-router.ts').then((m) => m.createLlmRouter({ timeoutMs: config.LLM_TIMEOUT_MS, logger, organizationFetch })))
  const llm: LlmClient = o.llm ?? {
    complete: async (request) => (await loadRouter()).complete(request),
  }
  // A worker, or an installation with a model of its own, answers through the router: it is loaded
  // before jobs are taken, since loading it inside the first turn held the event loop for seconds
  // on a busy machine, long enough for the turn's job lock to lapse and another worker to run it too.
  if (!o.llm && role !== 'server' && (config.OPENAI_API_KEY || role === 'worker')) await loadRouter()
  const providerKeys = createProviderKeyService({
    store,
    secrets,
    checkBaseUrl: createAddressGuard(net).check,
    probe: createProviderProbe({ fetch: organizationFetch, timeoutMs: config.LLM_TIMEOUT_MS }),
    environment: config.OPENAI_API_KEY ? { apiKey: config.OPENAI_API_KEY, baseURL: config.OPENAI_BASE_URL, model: config.OPENAI_CHAT_MODEL } : undefined,
  })
  const memory = createPrismaContactMemory(db)
  // Kommo when the organization has connected it, the built-in records otherwise.
  const kommo = createKommoConnections({ db, secrets, config: kommoConfig.parse(config), logger, audit: store.audit, publicUrl: config.PUBLIC_URL, notifyAdmins: (n) => notifyAdmins(n), ...(redisClient ? { redis: redisClient } : {}), ...(o.sleep ? { sleep: o.sleep } : {}) })
  const crm = createKommoCrm({ builtin: createPrismaCrm(db), kommo, db, memory })
  // Kommo's webhooks: lead changes stored and answered at once, applied by a job that reads the lead again.
  const kommoWebhooks = createKommoWebhooks({ db, kommo, queue, logger, audit: store.audit, onLeadMoved: (event) => resumeOnStage({ store, operators, logger, db }, event) })
  const tools = createAgentTools({
    crm,
    memory,
    // The turn tells the operators once the answer that announces the handoff is stored.
    openHandoff: async (handoff) => void (await operators.openHandoff({ ...handoff, announce: false })),
  })
  const llmAnswerer = createLlmAnswerer({ llm, resolveTargets: providerKeys.targetsFor, tools, memory, prices: { ...DEFAULT_PRICES, ...config.LLM_PRICES } })
  const chatModel: ChatModel = o.chatModel ?? createModelChooser({ llm: llmAnswerer, offline: createExtractiveAnswerer(), hasModel: providerKeys.hasModel })

  // Filled from the channel registry further down; the services below hold these maps.
  const channels = new Map<ChannelKind, ChannelAdapter>()
  const desks = new Map<ChannelKind, HandoffDesk>()
  const metrics = createMetrics({ queueDepth: () => queue.depth() })

  const plans = loadPlans(config.PLANS_JSON)
  const notifyAdmins = createAdminNotifier({ store, channels, logger })
  const quota = createQuotaService({
    store: createPrismaBillingStore(db),
    plans,
    logger,
    // Quota notices (80% and 100% unless the organization chose other thresholds): in the log, in the admin web (GET /api/v1/notifications), and in admins' chats unless it turned that off.
    notify: async (n, where) => {
      logger.warn({ organizationId: n.organizationId, kind: n.kind }, n.message)
      if (where.chats) await notifyAdmins({ organizationId: n.organizationId, text: n.message, key: `quota-notice:${n.id}` })
      await live.publish(n.organizationId, { type: 'quota.notice', kind: n.kind, message: n.message })
    },
  })
  // Files and web pages: parsing libraries live in adapters/files, loaded on the first file.
  const maxFileBytes = config.KNOWLEDGE_MAX_FILE_BYTES
  const maxSections = config.KNOWLEDGE_MAX_SECTIONS
  const parser = createDocumentParser({ maxBytes: maxFileBytes, net, maxSections, ...(config.KNOWLEDGE_MAX_INFLATED_BYTES ? { maxInflatedBytes: config.KNOWLEDGE_MAX_INFLATED_BYTES } : {}) })
  const knowledge = createKnowledgeService({ store, embedder, queue, logger, parser, maxSourceBytes: maxFileBytes, maxSections, checkChunkCap: (input) => quota.checkCap({ ...input, kind: 'chunks' }), events: live })
  // Handoffs: announced where operators work (the channel's desk: a Telegram group), with a timer.
  const operators = createOperatorService({
    store,
    notifier,
    channels,
    desks,
    crm,
    queue,
    logger,
    handoffTimeout: { ms: config.HANDOFF_TIMEOUT_MS, action: config.HANDOFF_TIMEOUT_ACTION },
    events: live,
  })
  const agents = createAgentService({ store })
  const onboarding = createOnboardingService({ store, onboarding: createPrismaOnboardingStore(db), agents, quota })
  const adminConsole = createAdminConsole({ store, agents, knowledge, quota, chatModel, channels, maxFileBytes, logger, crm, onboarding })
  // Voice messages: transcribed when a transcription model is configured, else answered with a request for text.
  const transcriptionKey = config.TRANSCRIPTION_API_KEY ?? config.OPENAI_API_KEY
  const transcriber =
    config.TRANSCRIPTION_MODEL && transcriptionKey
      ? (await import('../adapters/openai/openai-transcriber.ts')).createOpenAITranscriber({ apiKey: transcriptionKey, baseURL: config.TRANSCRIPTION_BASE_URL ?? config.OPENAI_BASE_URL, model: config.TRANSCRIPTION_MODEL })
      : undefined
  const runPipeline = createDefaultPipeline({ store, knowledge, chatModel, limiter, notifier, metrics, quota, admin: adminConsole.step(), handoffs: operators, transcriber, channels, crm })
  const desk = createDeskService({ store, operators, desks })
  const turns = createTurnService({ store, queue, notifier, channels, runPipeline, logger, metrics, events: live })
  const mailer = config.SMTP_URL ? createSmtpMailer({ url: config.SMTP_URL, from: config.MAIL_FROM, logger }) : createLogMailer(logger)
  const adminUrl = `${(config.PUBLIC_URL ?? `http://localhost:${config.PORT}`).replace(/\/$/, '')}/admin/`
  const mfa = createMfaService({ store: createPrismaMfaStore(db), secrets, limiter, audit: store.audit })
  const auth = createAuthService({ store, limiter, mailer, adminUrl, signUpsPerIpPerHour: config.SIGNUP_RATE_PER_IP, resetsPerAccountPerHour: config.PASSWORD_RESET_RATE_PER_ACCOUNT, mfa })
  const ingress = createIngress({ turns, desk, channels, logger })
  const api = createApi({
    authenticate: async (req) => {
      const session = tokenOf(req.headers)
      if (!session) return null
      if (session.via === 'cookie' && !cookieSessionAllowed(req.headers)) throw forbidden('The session cookie is not accepted from this page or site; use the admin web, or an Authorization: Bearer token')
      const principal = await auth.authenticate(session.token)
      // An admin whom the organization requires to use MFA, not enrolled yet: only enrolment until then.
      mfaGate(principal, req.path)
      return principal
    },
    // Bearer clients are not browsers: only cookie sessions need the CSRF header.
    csrfTokenOf: (req) => {
      const session = tokenOf(req.headers)
      return session?.via === 'cookie' ? csrfTokenOf(session.token) : null
    },
  })
  // The channels of the registry (or the test's), each built once; this fills `channels` and `desks`.
  const channelSet = createChannelSet({
    modules: o.modules ?? channelModules,
    adapters: channels,
    desks,
    replaceAdapters: o.channels,
    logger,
    deps: {
      config,
      store,
      secrets,
      logger,
      turns,
      ingress,
      notifier,
      limiter,
      api,
      publicUrl: config.PUBLIC_URL,
      receives: role !== 'worker',
      notifyAdmins,
      ...(redisClient ? { redis: redisClient } : {}),
      ...(o.sleep ? { sleep: o.sleep } : {}),
      queue,
      operators,
      crm: { kommo, db, memory },
      checkChannelCap: async (organizationId) => {
        const inboxes = (await store.inboxes.listByOrganization(organizationId)).filter((i) => i.purpose !== 'test')
        await quota.checkCap({ organizationId, kind: 'channels', adding: 1, current: inboxes.length })
      },
    },
  })
  closers.unshift(() => channelSet.stop())
  if (role !== 'server') {
    // Work left from before a restart is queued first, and the jobs are taken after: a job is not
    // run while the process is still busy starting (its lock must be renewed in time).
    const [turnsRecovered, sourcesRecovered] = [await turns.recover(), await knowledge.recover()]
    if (turnsRecovered || sourcesRecovered) logger.info({ turns: turnsRecovered, sources: sourcesRecovered }, 'picked up work left from before the restart')
    await knowledge.scheduleReembed()
    queue.process(TURN_JOB, (data, ctx) => turns.processConversation(turnJobSchema.parse(data), ctx), { concurrency: config.WORKER_CONCURRENCY })
    queue.process(HANDOFF_TIMEOUT_JOB, (data) => operators.timeout(handoffTimeoutSchema.parse(data)), { concurrency: 1 })
    queue.process(KOMMO_EVENT_JOB, (data, ctx) => kommoWebhooks.process(data, ctx), { concurrency: 2 })
    for (const [name, handler] of channelSet.jobs()) queue.process(name, handler, { concurrency: 2 })
    await kommoWebhooks.recover()
    // Kommo's pipelines, users and fields, read again every 6 hours (webhooks say when a lead changed, not a pipeline).
    const kommoSync = setInterval(() => void kommo.syncAll().catch((err: unknown) => logger.warn({ err }, 'Kommo sync failed')), 6 * 3600_000)
    kommoSync.unref()
    closers.unshift(async () => clearInterval(kommoSync))
    queue.process(INGEST_JOB, (data) => knowledge.processSource(ingestJobSchema.parse(data)), { concurrency: 1 })
    queue.process(REEMBED_JOB, async () => {
      const chunks = await knowledge.reembed((done) => logger.info({ chunks: done, embedder: embedder?.name }, 're-embedding knowledge'))
      logger.info({ chunks, embedder: embedder?.name }, 'knowledge embedded again')
    })
  }

  registerCrmRoutes({ api, crm, memory, store })
  const directory = createPrismaConversationDirectory(db)
  registerConversationRoutes({ api, directory, contacts: createContactService({ store, directory, memory, events: live }), crm })
  registerKommoRoutes({ api, kommo, config: kommoConfig.parse(config), secrets, logger })
  registerBillingRoutes({ api, quota, store, plans, paymentsEnabled: Boolean(config.LEMONSQUEEZY_API_KEY || config.STRIPE_SECRET_KEY) })
  // Payments: each provider is on when its settings are present; its SDK loads only then.
  const providers = new Map<string, PaymentProvider>()
  if (config.LEMONSQUEEZY_API_KEY) {
    const p = (await import('../adapters/lemonsqueezy/lemonsqueezy.ts')).lemonSqueezyFromConfig(config)
    if (p) providers.set(p.name, p)
  }
  if (config.STRIPE_SECRET_KEY) {
    const p = (await import('../adapters/stripe/stripe.ts')).stripeFromConfig(config)
    if (p) providers.set(p.name, p)
  }
  const subscriptions = createSubscriptionService({ store: createPrismaSubscriptionStore(db), graceDays: config.BILLING_GRACE_DAYS })
  const paymentWebhooks = registerPaymentRoutes({ api, providers, subscriptions, logger, maxBodyBytes: config.MAX_BODY_BYTES })
  registerKnowledgeFileRoutes({ api, knowledge, maxFileBytes })
  registerKnowledgeRoutes({ api, store, knowledge })
  registerChannelRoutes({ api, store, channels: channelSet, adminConsole })
  registerAdminRoutes({ api, store, auth, agents, knowledge, quota, conversations: operators, providerKeys, turns, notifier, replyTimeoutMs: config.WEBCHAT_REPLY_TIMEOUT_MS, secureCookies: config.NODE_ENV === 'production', version: VERSION })
  registerTeamRoutes({ api, store, auth, secureCookies: config.NODE_ENV === 'production' })
  registerMfaRoutes({ api, auth, mfa, secureCookies: config.NODE_ENV === 'production' })
  registerReportRoutes({ api, store })
  const liveStreams = registerEventRoutes({ api, notifier, logger, heartbeatMs: config.LIVE_HEARTBEAT_MS, perSession: config.LIVE_STREAMS_PER_SESSION, perOrganization: config.LIVE_STREAMS_PER_ORGANIZATION })
  closers.unshift(async () => liveStreams.closeAll())
  registerOnboardingRoutes({ api, onboarding })
  const http = createHttpApp({
    logger,
    production: config.NODE_ENV === 'production',
    metrics,
    maxBodyBytes: config.MAX_BODY_BYTES,
    readiness: async () => {
      await store.ping()
      await queue.ping()
      // How knowledge is searched: an operator sees at once that semantic search is off (KNOWLEDGE_VECTORS).
      return { knowledge: knowledge.searchMode() }
    },
    routers: [api.router, paymentWebhooks, kommoWebhooks.router, createWebhookRouter({ store, channels, ingress, delivery: db.delivery }), ...channelSet.routers(), createAdminWebRouter()],
  })
  await channelSet.start()

  return {
    config,
    logger,
    db,
    store,
    queue,
    notifier,
    live,
    liveStreams,
    secrets,
    embedder,
    chatModel,
    knowledge,
    turns,
    quota,
    subscriptions,
    providers,
    providerKeys,
    crm,
    kommo,
    memory,
    auth,
    mailer,
    agents,
    onboarding,
    operators,
    adminConsole,
    channels: channelSet,
    ingress,
    http,
    metrics,
    async close() {
      for (const close of closers) await close().catch((err) => logger.warn({ err }, 'error while closing'))
    },
  }
}

export type App = Awaited<ReturnType<typeof buildApp>>

/** ENCRYPTION_KEY, or in embedded mode a key generated once into DATA_DIR/encryption.key (0600). */
async function resolveEncryptionKey(config: AppConfig, logger: Logger): Promise<string> {
  if (config.ENCRYPTION_KEY) return config.ENCRYPTION_KEY
  if (config.DATA_DIR === 'memory://') return randomBytes(32).toString('hex')
  const file = path.resolve(config.DATA_DIR, 'encryption.key')
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch {
    await mkdir(config.DATA_DIR, { recursive: true })
    const key = randomBytes(32).toString('hex')
    await writeFile(file, `${key}\n`, { mode: 0o600 })
    await chmod(file, 0o600)
    logger.warn({ file }, 'ENCRYPTION_KEY is not set: generated one into DATA_DIR; set ENCRYPTION_KEY in production')
    return key
  }
}
