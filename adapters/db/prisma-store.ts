import { newId } from '../../core/ids.ts'
import type {
  Agent,
  Attachment,
  ChannelAdmin,
  ChannelKind,
  Conversation,
  ConversationState,
  Handoff,
  InboundMessage,
  Inbox,
  Message,
  ModelRef,
  ProviderKey,
  ReplyMeta,
  Role,
  Source,
  Store,
  TurnLoad,
} from '../../core/ports.ts'
import { createPrismaAdminStore } from './admin-store.ts'
import type { BillingSubscription } from '../../core/billing/plans.ts'
import type { Database } from './database.ts'
import { createKnowledgeRepository } from './knowledge-store.ts'
import { createInboundWriter } from './inbound-writer.ts'
import { Prisma } from './generated/client.ts'
import { AGENT_LANGUAGES, isLanguage, type AgentLanguage } from '../../core/language/index.ts'
import type * as Models from './generated/models.ts'

const toAgent = (a: Models.AgentModel): Agent => ({ ...a, fallbacks: (a.fallbacks ?? []) as ModelRef[], language: (AGENT_LANGUAGES as readonly string[]).includes(a.language) ? (a.language as AgentLanguage) : 'auto' })
const toInbox = (i: Models.InboxModel): Inbox => ({
  id: i.id,
  organizationId: i.organizationId,
  agentId: i.agentId,
  channel: i.channel as ChannelKind,
  name: i.name,
  publicKey: i.publicKey,
  purpose: i.purpose === 'test' ? 'test' : 'customers',
  settings: (i.settings ?? {}) as Record<string, unknown>,
  deskInboxId: i.deskInboxId,
})
const toChannelAdmin = (a: Models.ChannelAdminModel): ChannelAdmin => ({ ...a })
const toConversation = (c: Models.ConversationModel): Conversation => ({
  id: c.id,
  organizationId: c.organizationId,
  inboxId: c.inboxId,
  agentId: c.agentId,
  contactId: c.contactId,
  externalThreadId: c.externalThreadId,
  state: c.state as ConversationState,
  language: c.language && isLanguage(c.language) ? c.language : null,
  createdAt: c.createdAt,
  lastMessageAt: c.lastMessageAt,
})
const toMessage = (m: Models.MessageModel): Message => ({
  id: m.id,
  seq: m.seq,
  organizationId: m.organizationId,
  inboxId: m.inboxId,
  conversationId: m.conversationId,
  externalMessageId: m.externalMessageId,
  direction: m.direction as Message['direction'],
  author: m.author as Message['author'],
  text: m.text,
  sources: m.sources as Source[],
  attachments: m.attachments as Attachment[],
  status: m.status as Message['status'],
  replyToId: m.replyToId,
  meta: (m.meta ?? {}) as ReplyMeta,
  createdAt: m.createdAt,
})
const toHandoff = (h: Models.HandoffModel): Handoff => ({
  id: h.id,
  organizationId: h.organizationId,
  conversationId: h.conversationId,
  status: h.status as Handoff['status'],
  reason: h.reason,
  operatorUserId: h.operatorUserId,
  createdAt: h.createdAt,
})

const toProviderKey = (k: Models.ProviderKeyModel): ProviderKey => ({ id: k.id, organizationId: k.organizationId, name: k.name, provider: k.provider, baseUrl: k.baseUrl, keyId: k.keyId, last4: k.last4, createdAt: k.createdAt })

/**
 * Rows read as JSON (to_jsonb) on the turn's hot path: timestamps arrive as text without a zone
 * (the columns are UTC `timestamp(3)`), everything else as the model has it.
 */
type JsonRow = Record<string, unknown>
const utc = (v: unknown): Date => (v instanceof Date ? v : new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(String(v)) ? String(v) : `${String(v)}Z`))
const utcOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : utc(v))
const messageOf = (r: JsonRow) => toMessage({ ...(r as unknown as Models.MessageModel), createdAt: utc(r.createdAt) })
const conversationOf = (r: JsonRow) => toConversation({ ...(r as unknown as Models.ConversationModel), createdAt: utc(r.createdAt), lastMessageAt: utc(r.lastMessageAt) })
const inboxOf = (r: JsonRow) => toInbox({ ...(r as unknown as Models.InboxModel), createdAt: utc(r.createdAt) })
const agentOf = (r: JsonRow) => toAgent({ ...(r as unknown as Models.AgentModel), createdAt: utc(r.createdAt), updatedAt: utc(r.updatedAt) })
const subscriptionOf = (r: JsonRow): BillingSubscription => ({
  organizationId: String(r.organizationId),
  plan: String(r.plan),
  interval: String(r.interval),
  status: String(r.status),
  currentPeriodStart: utc(r.currentPeriodStart),
  currentPeriodEnd: utc(r.currentPeriodEnd),
  pendingPlan: (r.pendingPlan as string | null) ?? null,
  cancelAtPeriodEnd: Boolean(r.cancelAtPeriodEnd),
  graceUntil: utcOrNull(r.graceUntil),
})

/**
 * A turn's start in one statement (Store.messages.nextTurn): the oldest pending inbound message of
 * the conversation, its conversation, inbox (without credentials), agent, stored reply, the
 * messages before it and the organization's subscription.
 */
const NEXT_TURN_SQL = `
  SELECT to_jsonb(m) AS message, to_jsonb(c) AS conversation, to_jsonb(i) - 'credentials' AS inbox, to_jsonb(a) AS agent,
    (SELECT to_jsonb(r) FROM "Message" r WHERE r."replyToId" = m.id AND r.direction = 'out' AND r."organizationId" = m."organizationId" ORDER BY r.seq LIMIT 1) AS reply,
    (SELECT COALESCE(jsonb_agg(to_jsonb(h) ORDER BY h.seq), '[]'::jsonb) FROM (
       SELECT * FROM "Message" h WHERE h."organizationId" = m."organizationId" AND h."conversationId" = m."conversationId" AND h.seq < m.seq ORDER BY h.seq DESC LIMIT $3
     ) h) AS history,
    (SELECT to_jsonb(s) FROM "Subscription" s WHERE s."organizationId" = m."organizationId") AS subscription
  FROM "Message" m
  LEFT JOIN "Conversation" c ON c.id = m."conversationId" AND c."organizationId" = m."organizationId"
  LEFT JOIN "Inbox" i ON i.id = m."inboxId"
  LEFT JOIN "Agent" a ON a.id = c."agentId" AND a."organizationId" = m."organizationId"
  WHERE m."organizationId" = $1 AND m."conversationId" = $2 AND m.direction = 'in' AND m.status = 'pending'
  ORDER BY m.seq
  LIMIT 1`

/**
 * An inbound message of a thread whose conversation exists, in one statement: the insert (a
 * redelivery inserts nothing), the conversation's lastMessageAt, and the stored message when it
 * was a redelivery. No conversation: nothing is written and `conversation` is null.
 */
const RECEIVE_KNOWN_SQL = `
  WITH c AS (SELECT * FROM "Conversation" WHERE "inboxId" = $1 AND "externalThreadId" = $2),
  ins AS (
    INSERT INTO "Message" (id, "organizationId", "inboxId", "conversationId", "externalMessageId", direction, author, text, attachments, meta, status, "createdAt")
    SELECT $3, c."organizationId", c."inboxId", c.id, $4, 'in', 'contact', $5, $6::jsonb, $7::jsonb, 'pending', $8::timestamp FROM c
    ON CONFLICT ("inboxId", "externalMessageId") DO NOTHING
    RETURNING *
  ),
  touched AS (UPDATE "Conversation" SET "lastMessageAt" = $8::timestamp WHERE id IN (SELECT "conversationId" FROM ins) RETURNING id)
  SELECT (SELECT to_jsonb(c) FROM c) AS conversation, (SELECT to_jsonb(ins) FROM ins) AS inserted,
    (SELECT to_jsonb(m) FROM "Message" m WHERE m."inboxId" = $1 AND m."externalMessageId" = $4) AS existing,
    (SELECT count(*) FROM touched)::int AS touched`

const INSERT_REPLY_SQL = `
  INSERT INTO "Message" (id, "organizationId", "inboxId", "conversationId", "externalMessageId", direction, author, text, sources, status, "replyToId", meta, "createdAt")
  VALUES ($1, $2, $3, $4, $5, 'out', $6, $7, $8::jsonb, 'pending', $9, $10::jsonb, $11::timestamp)
  ON CONFLICT ("inboxId", "externalMessageId") DO NOTHING
  RETURNING to_jsonb("Message".*) AS row`

/** How long an inbox read by a delivery is kept in memory: another process's change is seen within this. */
const RECENT_INBOX_MS = 2000

const isUniqueViolation = (e: unknown) => e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002'

type Tx = Prisma.TransactionClient
type ThreadInput = { inbox: Inbox; externalThreadId: string; externalUserId: string; userName?: string }

/** The contact, its identity in the inbox and the conversation of the thread, created inside the caller's transaction. */
async function createConversation(tx: Tx, { inbox, externalThreadId, externalUserId, userName }: ThreadInput) {
  let identity = await tx.contactIdentity.findUnique({ where: { inboxId_externalUserId: { inboxId: inbox.id, externalUserId } } })
  if (!identity) {
    const contact = await tx.contact.create({ data: { id: newId(), organizationId: inbox.organizationId, name: userName ?? null } })
    identity = await tx.contactIdentity.create({ data: { id: newId(), organizationId: inbox.organizationId, contactId: contact.id, inboxId: inbox.id, externalUserId } })
  }
  return tx.conversation.create({ data: { id: newId(), organizationId: inbox.organizationId, inboxId: inbox.id, agentId: inbox.agentId, contactId: identity.contactId, externalThreadId } })
}

/** The row of an inbound message of the conversation. */
const inboundRow = (conversation: { id: string; organizationId: string; inboxId: string }, message: InboundMessage) => ({
  id: newId(),
  organizationId: conversation.organizationId,
  inboxId: conversation.inboxId,
  conversationId: conversation.id,
  externalMessageId: message.externalMessageId,
  direction: 'in' as const,
  author: 'contact' as const,
  ...inboundFields(message),
  status: 'pending' as const,
})

/** What an inbound message's row holds of the message itself. */
const inboundFields = (message: InboundMessage) => ({
  text: message.text ?? '',
  attachments: message.attachments as unknown as Prisma.InputJsonValue,
  meta: {
    ...(message.streaming ? { streaming: true } : {}),
    ...(message.privateThread ? { privateThread: true } : {}),
    ...(message.externalUserId ? { externalUserId: message.externalUserId } : {}),
    // What the channel recognised, kept with the message: the turn reads it, never the text.
    ...(message.command ? { command: { name: message.command.name, args: message.command.args } } : {}),
    ...(message.choiceId ? { choiceId: message.choiceId } : {}),
    ...(message.replyContext ? { replyContext: message.replyContext } : {}),
  },
})

/** The core Store over Prisma. Every query on customer data filters by organizationId. */
export function createPrismaStore(db: Database): Store {
  const prisma = db.prisma
  // Messages of known conversations, written together by one statement ahead of the turns' (ingress).
  const inbound = createInboundWriter({ runner: db.runner, urgent: db.urgent })
  /**
   * What deliveries read first, until `until`: inboxes by web chat key (`key:…`) or id (`id:…`), and
   * inboxes' sealed credentials (`credentials:…`), null for none; emptied on every change to inboxes
   * or agents made here.
   */
  const recentInboxes = new Map<string, { until: number; value: unknown }>()
  async function inboxById(id: string): Promise<Inbox | null> {
    const i = await prisma.inbox.findUnique({ where: { id } })
    return i ? toInbox(i) : null
  }
  async function credentialsOf(id: string): Promise<string | null> {
    return (await prisma.inbox.findUnique({ where: { id }, select: { credentials: true } }))?.credentials ?? null
  }
  async function recentInbox<T>(key: string, read: () => Promise<T>): Promise<T> {
    const cached = recentInboxes.get(key)
    if (cached && cached.until > Date.now()) return cached.value as T
    const value = await read()
    if (recentInboxes.size >= 10_000) recentInboxes.clear()
    recentInboxes.set(key, { until: Date.now() + RECENT_INBOX_MS, value })
    return value
  }

  /** An inbound message of a known conversation; a redelivery returns the stored one. */
  async function insertInbound({ conversation, message }: { conversation: Conversation; message: InboundMessage }) {
    const where = { inboxId_externalMessageId: { inboxId: conversation.inboxId, externalMessageId: message.externalMessageId } }
    const existing = await prisma.message.findUnique({ where })
    if (existing) return { message: toMessage(existing), created: false }
    try {
      const [created] = await prisma.$transaction([
        prisma.message.create({ data: inboundRow(conversation, message) }),
        prisma.conversation.updateMany({ where: { id: conversation.id, organizationId: conversation.organizationId }, data: { lastMessageAt: new Date() } }),
      ])
      return { message: toMessage(created), created: true }
    } catch (error) {
      if (!isUniqueViolation(error)) throw error
      return { message: toMessage((await prisma.message.findUnique({ where }))!), created: false }
    }
  }

  return {
    organizations: {
      create: (input) => prisma.organization.create({ data: { id: newId(), name: input.name } }),
      get: (id) => prisma.organization.findUnique({ where: { id } }),
    },

    users: {
      create: (input) => prisma.user.create({ data: { id: newId(), ...input } }),
      findByEmail: (email) => prisma.user.findUnique({ where: { email } }),
      addMembership: async (m) => {
        await prisma.membership.create({ data: { id: newId(), ...m } })
      },
      membership: async (userId, organizationId) => {
        const m = await prisma.membership.findFirst({ where: { userId, ...(organizationId ? { organizationId } : {}) }, orderBy: { createdAt: 'asc' } })
        return m ? { userId: m.userId, organizationId: m.organizationId, role: m.role as Role } : null
      },
      get: (id) => prisma.user.findUnique({ where: { id } }),
      setPassword: async (userId, passwordHash) => {
        // A reset link sent before the change must not be able to change the password back.
        await prisma.$transaction([
          prisma.user.update({ where: { id: userId }, data: { passwordHash } }),
          prisma.passwordReset.updateMany({ where: { userId, usedAt: null }, data: { usedAt: new Date() } }),
        ])
      },
    },
    ...createPrismaAdminStore(prisma),

    sessions: {
      create: async (input) => {
        await prisma.session.create({ data: { id: newId(), ...input } })
      },
      find: (tokenHash) => prisma.session.findUnique({ where: { tokenHash }, select: { userId: true, organizationId: true, expiresAt: true } }),
      delete: async (tokenHash) => {
        await prisma.session.deleteMany({ where: { tokenHash } })
      },
      deleteForUser: async (userId) => {
        await prisma.session.deleteMany({ where: { userId } })
      },
    },

    agents: {
      list: async (organizationId) => (await prisma.agent.findMany({ where: { organizationId }, orderBy: { createdAt: 'asc' } })).map(toAgent),
      get: async (organizationId, id) => {
        const a = await prisma.agent.findFirst({ where: { id, organizationId } })
        return a ? toAgent(a) : null
      },
      create: async (organizationId, input) => toAgent(await prisma.agent.create({ data: { id: newId(), organizationId, ...input, fallbacks: (input.fallbacks ?? []) as Prisma.InputJsonValue } })),
      update: async (organizationId, id, input) => {
        const { fallbacks, ...rest } = input
        const { count } = await prisma.agent.updateMany({ where: { id, organizationId }, data: { ...rest, ...(fallbacks ? { fallbacks: fallbacks as Prisma.InputJsonValue } : {}), updatedAt: new Date() } })
        if (count === 0) return null
        return toAgent((await prisma.agent.findFirst({ where: { id, organizationId } }))!)
      },
      delete: async (organizationId, id) => {
        recentInboxes.clear()
        return prisma.$transaction(async (tx) => {
          const { count } = await tx.agent.deleteMany({ where: { id, organizationId } })
          if (count) {
            await tx.inbox.deleteMany({ where: { agentId: id, organizationId } })
            await tx.knowledgeChunk.deleteMany({ where: { organizationId, sourceId: { in: (await tx.knowledgeSource.findMany({ where: { organizationId, agentId: id }, select: { id: true } })).map((s) => s.id) } } })
            await tx.knowledgeSource.deleteMany({ where: { organizationId, agentId: id } })
          }
          return count > 0
        }).finally(() => recentInboxes.clear())
      },
    },

    inboxes: {
      create: async (input) => {
        recentInboxes.clear()
        return toInbox(
          await prisma.inbox.create({
            data: { id: newId(), organizationId: input.organizationId, agentId: input.agentId, channel: input.channel, name: input.name, publicKey: input.publicKey, purpose: input.purpose ?? 'customers', credentials: input.credentials ?? null, settings: input.settings as Prisma.InputJsonValue },
          }),
        )
      },
      get: inboxById,
      // Every web chat request and every webhook delivery starts here: kept briefly; this process's changes are seen at once.
      recent: (id) => recentInbox(`id:${id}`, () => inboxById(id)),
      findByPublicKey: (publicKey) =>
        recentInbox(`key:${publicKey}`, async (): Promise<Inbox | null> => {
          const i = await prisma.inbox.findUnique({ where: { publicKey } })
          return i ? toInbox(i) : null
        }),
      listByAgent: async (organizationId, agentId) => (await prisma.inbox.findMany({ where: { organizationId, agentId }, orderBy: { createdAt: 'asc' } })).map(toInbox),
      listByOrganization: async (organizationId) => (await prisma.inbox.findMany({ where: { organizationId }, orderBy: { createdAt: 'asc' } })).map(toInbox),
      listByChannel: async (channel) => (await prisma.inbox.findMany({ where: { channel }, orderBy: { createdAt: 'asc' } })).map(toInbox),
      credentials: credentialsOf,
      recentCredentials: (id) => recentInbox(`credentials:${id}`, () => credentialsOf(id)),
      update: async (organizationId, id, patch) => {
        recentInboxes.clear()
        const { count } = await prisma.inbox.updateMany({
          where: { id, organizationId },
          data: {
            ...(patch.name !== undefined ? { name: patch.name } : {}),
            ...(patch.settings !== undefined ? { settings: patch.settings as Prisma.InputJsonValue } : {}),
            ...(patch.credentials !== undefined ? { credentials: patch.credentials } : {}),
            ...(patch.deskInboxId !== undefined ? { deskInboxId: patch.deskInboxId } : {}),
          },
        })
        recentInboxes.clear()
        if (!count) return null
        return toInbox((await prisma.inbox.findUnique({ where: { id } }))!)
      },
      delete: async (organizationId, id) => {
        recentInboxes.clear()
        const { count } = await prisma.inbox.deleteMany({ where: { id, organizationId } })
        recentInboxes.clear()
        return count > 0
      },
    },

    conversations: {
      resolve: async (input) => {
        const thread = { inboxId_externalThreadId: { inboxId: input.inbox.id, externalThreadId: input.externalThreadId } }
        const existing = await prisma.conversation.findUnique({ where: thread })
        if (existing) return toConversation(existing)
        try {
          return toConversation(await prisma.$transaction((tx) => createConversation(tx, input)))
        } catch (error) {
          // Two first messages of one thread raced: the other one created it.
          if (!isUniqueViolation(error)) throw error
          return toConversation((await prisma.conversation.findUnique({ where: thread }))!)
        }
      },
      get: async (organizationId, id) => {
        const c = await prisma.conversation.findFirst({ where: { id, organizationId } })
        return c ? toConversation(c) : null
      },
      findByThread: async (inboxId, externalThreadId) => {
        const c = await prisma.conversation.findUnique({ where: { inboxId_externalThreadId: { inboxId, externalThreadId } } })
        return c ? toConversation(c) : null
      },
      list: async (organizationId, { limit, state }) =>
        (await prisma.conversation.findMany({ where: { organizationId, ...(state ? { state } : {}) }, orderBy: { lastMessageAt: 'desc' }, take: limit })).map(toConversation),
      setState: async (organizationId, id, state) => {
        await prisma.conversation.updateMany({ where: { id, organizationId }, data: { state } })
      },
      setLanguage: async (organizationId, id, language) => {
        await prisma.conversation.updateMany({ where: { id, organizationId }, data: { language } })
      },
    },

    messages: {
      insertInbound: (input) => insertInbound(input),
      receive: async ({ inbox, message }) => {
        // One statement shared with the messages arriving at the same time: the message, and the
        // thread's conversation and contact when it is new; a redelivery reads the stored message.
        // A batch that fails (one message PostgreSQL refuses fails its statement) is stored nowhere:
        // each of its messages is then tried alone, on the general path below, and is acknowledged
        // only if stored there.
        const written = await inbound
          .write({
            id: newId(),
            inboxId: inbox.id,
            externalThreadId: message.externalThreadId,
            externalMessageId: message.externalMessageId,
            externalUserId: message.externalUserId,
            userName: message.userName ?? null,
            ...inboundFields(message),
            newIds: { conversation: newId(), contact: newId(), identity: newId() },
          })
          .catch(() => null)
        if (written) return written
        const thread = { inboxId_externalThreadId: { inboxId: inbox.id, externalThreadId: message.externalThreadId } }
        // A message the batch could not place: one statement finds it or stores it.
        const row = inboundRow({ id: '', organizationId: inbox.organizationId, inboxId: inbox.id }, message)
        const [fast] = await prisma.$queryRawUnsafe<{ conversation: JsonRow | null; inserted: JsonRow | null; existing: JsonRow | null }[]>(
          RECEIVE_KNOWN_SQL,
          inbox.id,
          message.externalThreadId,
          row.id,
          row.externalMessageId,
          row.text,
          JSON.stringify(row.attachments ?? []),
          JSON.stringify(row.meta),
          new Date(),
        )
        if (fast?.conversation) {
          const conversation = conversationOf(fast.conversation)
          if (fast.inserted) return { conversation, message: messageOf(fast.inserted), created: true }
          if (fast.existing) return { conversation, message: messageOf(fast.existing), created: false }
          // A redelivery racing its first delivery: the other insert committed after this statement began.
          return { conversation, message: toMessage((await prisma.message.findUnique({ where: { inboxId_externalMessageId: { inboxId: inbox.id, externalMessageId: message.externalMessageId } } }))!), created: false }
        }
        // The thread's first message: its conversation, contact and the message in one transaction, so
        // a message that cannot be stored leaves no empty conversation behind.
        try {
          return await prisma.$transaction(async (tx) => {
            const conversation = await createConversation(tx, { inbox, externalThreadId: message.externalThreadId, externalUserId: message.externalUserId, userName: message.userName })
            const created = await tx.message.create({ data: inboundRow(conversation, message) })
            return { conversation: toConversation(conversation), message: toMessage(created), created: true, conversationCreated: true }
          })
        } catch (error) {
          // Another first message of the thread won the race: the conversation exists now.
          if (!isUniqueViolation(error)) throw error
          const conversation = toConversation((await prisma.conversation.findUnique({ where: thread }))!)
          return { conversation, ...(await insertInbound({ conversation, message })) }
        }
      },
      insertReply: async (input) => {
        const [created] = await prisma.$queryRawUnsafe<{ row: JsonRow }[]>(
          INSERT_REPLY_SQL,
          newId(),
          input.organizationId,
          input.inboxId,
          input.conversationId,
          input.externalMessageId,
          input.author,
          input.text,
          JSON.stringify(input.sources),
          input.replyToId,
          JSON.stringify(input.meta ?? {}),
          new Date(),
        )
        if (created) return { message: messageOf(created.row), created: true }
        const where = { inboxId_externalMessageId: { inboxId: input.inboxId, externalMessageId: input.externalMessageId } }
        return { message: toMessage((await prisma.message.findUnique({ where }))!), created: false }
      },
      get: async (organizationId, id) => {
        const m = await prisma.message.findFirst({ where: { id, organizationId } })
        return m ? toMessage(m) : null
      },
      nextPending: async (organizationId, conversationId) => {
        const m = await prisma.message.findFirst({ where: { organizationId, conversationId, direction: 'in', status: 'pending' }, orderBy: { seq: 'asc' } })
        return m ? toMessage(m) : null
      },
      nextTurn: async (organizationId, conversationId, { historyTurns }): Promise<TurnLoad | null> => {
        const [r] = await prisma.$queryRawUnsafe<{ message: JsonRow; conversation: JsonRow | null; inbox: JsonRow | null; agent: JsonRow | null; reply: JsonRow | null; history: JsonRow[]; subscription: JsonRow | null }[]>(
          NEXT_TURN_SQL,
          organizationId,
          conversationId,
          Math.max(0, Math.trunc(historyTurns)),
        )
        if (!r) return null
        return {
          message: messageOf(r.message),
          conversation: r.conversation ? conversationOf(r.conversation) : null,
          inbox: r.inbox ? inboxOf(r.inbox) : null,
          agent: r.agent ? agentOf(r.agent) : null,
          reply: r.reply ? messageOf(r.reply) : null,
          history: r.history.map(messageOf),
          subscription: r.subscription ? subscriptionOf(r.subscription) : null,
        }
      },
      settle: async ({ organizationId, inboundId, status, error, sentReplyId }) => {
        await prisma.$executeRawUnsafe(
          `UPDATE "Message" SET status = CASE WHEN id = $2 THEN $3 ELSE 'sent' END, error = CASE WHEN id = $2 THEN $4 ELSE NULL END
           WHERE "organizationId" = $1 AND (id = $2 OR id = $5)`,
          organizationId,
          inboundId,
          status,
          error ?? null,
          sentReplyId ?? inboundId,
        )
      },
      replyTo: async (organizationId, inboundId) => {
        const m = await prisma.message.findFirst({ where: { organizationId, replyToId: inboundId, direction: 'out' } })
        return m ? toMessage(m) : null
      },
      setStatus: async (organizationId, id, status, error) => {
        await prisma.message.updateMany({ where: { id, organizationId }, data: { status, error: error ?? null } })
      },
      setText: async (organizationId, id, text) => {
        await prisma.message.updateMany({ where: { id, organizationId, direction: 'in' }, data: { text } })
      },
      history: async (organizationId, conversationId, { limit, beforeSeq, afterSeq }) => {
        const rows = await prisma.message.findMany({
          where: { organizationId, conversationId, seq: { ...(beforeSeq !== undefined ? { lt: beforeSeq } : {}), ...(afterSeq !== undefined ? { gt: afterSeq } : {}) } },
          orderBy: { seq: afterSeq !== undefined ? 'asc' : 'desc' },
          take: limit,
        })
        return (afterSeq !== undefined ? rows : rows.reverse()).map(toMessage)
      },
      countByOrganization: (organizationId) => prisma.message.count({ where: { organizationId } }),
      lastInboundAt: async (organizationId, conversationId) =>
        (await prisma.message.findFirst({ where: { organizationId, conversationId, direction: 'in' }, orderBy: { seq: 'desc' }, select: { createdAt: true } }))?.createdAt ?? null,
    },

    ...createKnowledgeRepository(db),

    handoffs: {
      open: async (input) => toHandoff(await prisma.handoff.create({ data: { id: newId(), status: 'open', ...input } })),
      list: async (organizationId, status) => (await prisma.handoff.findMany({ where: { organizationId, ...(status ? { status } : {}) }, orderBy: { createdAt: 'desc' }, take: 200 })).map(toHandoff),
      close: async (organizationId, conversationId) => {
        await prisma.handoff.updateMany({ where: { organizationId, conversationId, status: { in: ['open', 'taken'] } }, data: { status: 'closed', closedAt: new Date() } })
      },
      get: async (organizationId, id) => {
        const h = await prisma.handoff.findFirst({ where: { organizationId, id } })
        return h ? toHandoff(h) : null
      },
      current: async (organizationId, conversationId) => {
        const h = await prisma.handoff.findFirst({ where: { organizationId, conversationId, status: { in: ['open', 'taken'] } }, orderBy: { createdAt: 'desc' } })
        return h ? toHandoff(h) : null
      },
      take: async ({ organizationId, conversationId, operatorUserId }) =>
        // An open handoff, or one held by a person outside Switchboard (answered in the service's own inbox).
        (await prisma.handoff.updateMany({ where: { organizationId, conversationId, OR: [{ status: 'open' }, ...(operatorUserId ? [{ status: 'taken', operatorUserId: null }] : [])] }, data: { status: 'taken', operatorUserId } })).count > 0,
      addPost: async (input) => {
        await prisma.handoffPost.upsert({ where: { inboxId_externalMessageId: { inboxId: input.inboxId, externalMessageId: input.externalMessageId } }, create: { id: newId(), ...input }, update: { conversationId: input.conversationId } })
      },
      findPost: async (inboxId, externalMessageId) => prisma.handoffPost.findUnique({ where: { inboxId_externalMessageId: { inboxId, externalMessageId } }, select: { organizationId: true, conversationId: true } }),
      latestPost: async (organizationId, inboxId, conversationId) =>
        (await prisma.handoffPost.findFirst({ where: { organizationId, inboxId, conversationId }, orderBy: { createdAt: 'desc' }, select: { externalMessageId: true } }))?.externalMessageId ?? null,
      heldBy: async (organizationId, operatorUserId) => (await prisma.handoff.findMany({ where: { organizationId, operatorUserId, status: 'taken' }, orderBy: { createdAt: 'asc' }, take: 100 })).map(toHandoff),
    },

    channelAdmins: {
      createLinkCode: async (input) => {
        await prisma.adminLinkCode.create({ data: { id: newId(), ...input } })
      },
      consumeLinkCode: async ({ codeHash, organizationId, now }) => {
        // One UPDATE decides: of two people sending the same code at once, only one links.
        const { count } = await prisma.adminLinkCode.updateMany({ where: { codeHash, organizationId, usedAt: null, expiresAt: { gt: now } }, data: { usedAt: now } })
        if (!count) return null
        const code = await prisma.adminLinkCode.findUnique({ where: { codeHash }, select: { organizationId: true, userId: true } })
        return code
      },
      link: async (input) =>
        toChannelAdmin(
          await prisma.channelAdmin.upsert({
            where: { contactId: input.contactId },
            create: { id: newId(), ...input },
            update: { organizationId: input.organizationId, userId: input.userId, inboxId: input.inboxId, externalThreadId: input.externalThreadId, currentAgentId: input.currentAgentId },
          }),
        ),
      findByContact: async (organizationId, contactId) => {
        const a = await prisma.channelAdmin.findFirst({ where: { organizationId, contactId } })
        return a ? toChannelAdmin(a) : null
      },
      findByUser: async (inboxId, externalUserId) => {
        const identity = await prisma.contactIdentity.findUnique({ where: { inboxId_externalUserId: { inboxId, externalUserId } }, select: { organizationId: true, contactId: true } })
        if (!identity) return null
        const a = await prisma.channelAdmin.findFirst({ where: { organizationId: identity.organizationId, contactId: identity.contactId } })
        return a ? toChannelAdmin(a) : null
      },
      listByInbox: async (organizationId, inboxId) => (await prisma.channelAdmin.findMany({ where: { organizationId, inboxId }, orderBy: { createdAt: 'asc' } })).map(toChannelAdmin),
      setCurrentAgent: async (organizationId, id, agentId) => {
        await prisma.channelAdmin.updateMany({ where: { organizationId, id }, data: { currentAgentId: agentId } })
      },
      setPendingCommand: async (organizationId, id, command) => {
        await prisma.channelAdmin.updateMany({ where: { organizationId, id }, data: { pendingCommand: command } })
      },
    },

    usage: {
      recordApiCall: async (input) => {
        await prisma.apiUsage.create({ data: { id: newId(), ...input, error: input.error ?? null } })
      },
      apiCallSummary: async (organizationId, { from, to }) => {
        type Row = { key1: string | null; key2: string | null; calls: bigint; failed: bigint; input: bigint | null; output: bigint | null; cost: number | null }
        const group = (keys: string) =>
          prisma.$queryRawUnsafe<Row[]>(
            `SELECT ${keys}, count(*) AS calls, count(*) FILTER (WHERE NOT success) AS failed, sum("inputTokens") AS input, sum("outputTokens") AS output, sum("costUsd")::float8 AS cost
             FROM "ApiUsage" WHERE "organizationId" = $1 AND "createdAt" >= $2 AND "createdAt" < $3 GROUP BY 1, 2 ORDER BY 1, 2`,
            organizationId,
            from,
            to,
          )
        const totals = (r: Row) => ({ calls: Number(r.calls), failed: Number(r.failed), inputTokens: Number(r.input ?? 0), outputTokens: Number(r.output ?? 0), costUsd: Number((r.cost ?? 0).toFixed(6)) })
        const [byDay, byAgent, byModel] = await Promise.all([
          group(`to_char(date_trunc('day', "createdAt"), 'YYYY-MM-DD') AS key1, NULL::text AS key2`),
          group(`"agentId" AS key1, NULL::text AS key2`),
          group(`provider AS key1, model AS key2`),
        ])
        const all = byModel.map(totals).reduce((a, b) => ({ calls: a.calls + b.calls, failed: a.failed + b.failed, inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens, costUsd: a.costUsd + b.costUsd }), { calls: 0, failed: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 })
        return {
          totals: { ...all, costUsd: Number(all.costUsd.toFixed(6)) },
          byDay: byDay.map((r) => ({ day: r.key1!, ...totals(r) })),
          byAgent: byAgent.map((r) => ({ agentId: r.key1, ...totals(r) })),
          byModel: byModel.map((r) => ({ provider: r.key1!, model: r.key2!, ...totals(r) })),
        }
      },
    },

    providerKeys: {
      create: async (input) => toProviderKey(await prisma.providerKey.create({ data: { id: newId(), ...input } })),
      list: async (organizationId) => (await prisma.providerKey.findMany({ where: { organizationId }, orderBy: { createdAt: 'asc' } })).map(toProviderKey),
      getSealed: async (organizationId, id) => {
        const k = await prisma.providerKey.findFirst({ where: { id, organizationId } })
        return k ? { ...toProviderKey(k), secret: k.secret } : null
      },
      reseal: async (organizationId, id, input) => {
        await prisma.providerKey.updateMany({ where: { id, organizationId }, data: input })
      },
      delete: async (organizationId, id) => (await prisma.providerKey.deleteMany({ where: { id, organizationId } })).count > 0,
    },

    audit: {
      record: async (input) => {
        await prisma.auditEvent.create({ data: { id: newId(), organizationId: input.organizationId, actorUserId: input.actorUserId, action: input.action, target: input.target ?? null, data: (input.data ?? {}) as Prisma.InputJsonValue } })
      },
    },

    recovery: {
      pendingTurns: async (limit) =>
        (await prisma.message.findMany({ where: { direction: 'in', status: 'pending' }, orderBy: { seq: 'asc' }, take: limit, select: { organizationId: true, conversationId: true, id: true } })).map((m) => ({
          organizationId: m.organizationId,
          conversationId: m.conversationId,
          messageId: m.id,
        })),
      unfinishedSources: async (limit) =>
        (await prisma.knowledgeSource.findMany({ where: { status: { in: ['queued', 'processing'] } }, take: limit, select: { organizationId: true, id: true, checksum: true } })).map((s) => ({
          organizationId: s.organizationId,
          sourceId: s.id,
          checksum: s.checksum,
        })),
    },

    ping: async () => {
      await prisma.$queryRawUnsafe('SELECT 1')
    },
    close: () => db.close(),
  }
}
