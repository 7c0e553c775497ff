import type { Conversation, Message } from '../../core/ports.ts'
import type { SqlRunner } from './migrate.ts'

/** An inbound message to store in the conversation of its thread, its rows' ids made by the store. */
export type InboundItem = {
  id: string
  inboxId: string
  externalThreadId: string
  externalMessageId: string
  externalUserId: string
  userName: string | null
  text: string
  attachments: unknown
  meta: unknown
  /** Used only when the thread has no conversation yet: its new conversation, contact and identity. */
  newIds: { conversation: string; contact: string; identity: string }
}

/** `created`: the message is new; `conversationCreated`: so is its conversation (the thread's first message). */
export type InboundWritten = { conversation: Conversation; message: Message; created: boolean; conversationCreated: boolean }

/**
 * Group commit of inbound messages: the messages that arrive while a write is under way are
 * written together by the next one, in one statement (its own transaction). For each message, in
 * arrival order: the conversation of its thread is found, or made with its contact (the sender's,
 * found by their identity in the inbox, or new) when the thread is new; the message is inserted
 * (`ON CONFLICT DO NOTHING` on the inbox's external id) and the conversations' `lastMessageAt`
 * moved. A message stored before (a redelivery) is returned as it is, `created: false`. Each
 * caller's promise resolves only once that statement has committed, so an acknowledgement sent
 * after it is for a stored message.
 *
 * A write resolves to null when the statement could not tell (the same message twice in one
 * batch, or an inbox deleted meanwhile): the caller takes its general path. When the statement
 * fails (a message PostgreSQL refuses, or another process making the same conversation at the same
 * moment), every write of the batch rejects with its error: none of them is stored.
 */
export function createInboundWriter(deps: { runner: SqlRunner; urgent?: <T>(fn: () => Promise<T>) => Promise<T>; maxBatch?: number }) {
  const maxBatch = deps.maxBatch ?? 500
  const urgent = deps.urgent ?? ((fn) => fn())
  type Waiting = { item: InboundItem; resolve: (value: InboundWritten | null) => void; reject: (error: unknown) => void }
  let queue: Waiting[] = []
  let writing = false
  let scheduled = false
  let batches = 0

  async function flush() {
    scheduled = false
    if (writing || queue.length === 0) return
    writing = true
    const batch = queue.slice(0, maxBatch)
    queue = queue.slice(batch.length)
    try {
      batches++
      const rows = await urgent(() => deps.runner.query<Row>(INSERT_BATCH, [batchOf(batch.map((w) => w.item))]))
      const byInput = new Map(rows.map((row) => [row.input_id, row]))
      for (const w of batch) {
        const row = byInput.get(w.item.id)
        w.resolve(row ? written(row) : null)
      }
    } catch (error) {
      for (const w of batch) w.reject(error)
    } finally {
      writing = false
      if (queue.length) void flush()
    }
  }

  return {
    write(item: InboundItem): Promise<InboundWritten | null> {
      return new Promise((resolve, reject) => {
        queue.push({ item, resolve, reject })
        // The messages of the same turn of the event loop go together; later ones wait for the write under way.
        if (!writing && !scheduled) {
          scheduled = true
          setImmediate(() => void flush())
        }
      })
    },
    /** Statements written so far (tests, figures). */
    batches: () => batches,
  }
}

export type InboundWriter = ReturnType<typeof createInboundWriter>

type Row = {
  input_id: string
  outcome: 'stored' | 'existing'
  id: string
  seq: number
  organizationId: string
  inboxId: string
  conversationId: string
  externalMessageId: string
  text: string
  attachments: unknown
  meta: unknown
  status: string
  replyToId: string | null
  createdAtMs: number
  c_agentId: string
  c_contactId: string
  c_externalThreadId: string
  c_state: string
  c_language: string | null
  c_createdAtMs: number
  c_lastMessageAtMs: number
  c_new: boolean
}

/**
 * The batch as one JSON parameter. PostgreSQL prices `json_to_recordset` the same whatever the
 * value, so the prepared statement settles on one generic plan, planned once; as arrays for
 * `unnest`, whose length the planner reads from the values, every run was planned anew, which was
 * half of the statement's time.
 */
const batchOf = (items: InboundItem[]) =>
  JSON.stringify(
    items.map((i) => ({
      id: i.id,
      inbox_id: i.inboxId,
      thread_id: i.externalThreadId,
      external_id: i.externalMessageId,
      body: i.text,
      attachments: i.attachments ?? [],
      meta: i.meta ?? {},
      user_id: i.externalUserId,
      user_name: i.userName,
      conversation_id: i.newIds.conversation,
      contact_id: i.newIds.contact,
      identity_id: i.newIds.identity,
    })),
  )

// Data-modifying CTEs all see the snapshot taken before the statement: a conversation made here is
// read from its INSERT's RETURNING, never from the table. Times are kept as UTC in columns without
// a time zone (Prisma's convention), whatever the session's.
const INSERT_BATCH = `
WITH input AS (
  SELECT * FROM ROWS FROM (json_to_recordset($1::json) AS (id text, inbox_id text, thread_id text, external_id text, body text, attachments jsonb, meta jsonb, user_id text, user_name text, conversation_id text, contact_id text, identity_id text))
    WITH ORDINALITY AS t(id, inbox_id, thread_id, external_id, body, attachments, meta, user_id, user_name, conversation_id, contact_id, identity_id, ord)
), known AS (
  -- Lookups by the unique indexes, one per thread. OFFSET 0 keeps each lookup apart: flattened into
  -- a join, it is planned as a scan of the whole table (PostgreSQL prices the lookups as disk reads).
  SELECT c.* FROM (SELECT DISTINCT inbox_id, thread_id FROM input) t
  CROSS JOIN LATERAL (SELECT * FROM "Conversation" c WHERE c."inboxId" = t.inbox_id AND c."externalThreadId" = t.thread_id OFFSET 0) c
), missing AS (
  -- Each new thread once, from its first message; its inbox names the organization and the agent.
  SELECT DISTINCT ON (i.inbox_id, i.thread_id) i.*, ib."organizationId" AS organization_id, ib."agentId" AS agent_id
  FROM input i CROSS JOIN LATERAL (SELECT * FROM "Inbox" ib WHERE ib.id = i.inbox_id OFFSET 0) ib
  WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k."inboxId" = i.inbox_id AND k."externalThreadId" = i.thread_id)
  ORDER BY i.inbox_id, i.thread_id, i.ord
), identified AS (
  SELECT ci."inboxId", ci."externalUserId", ci."contactId" FROM (SELECT DISTINCT inbox_id, user_id FROM missing) m
  CROSS JOIN LATERAL (SELECT * FROM "ContactIdentity" ci WHERE ci."inboxId" = m.inbox_id AND ci."externalUserId" = m.user_id OFFSET 0) ci
), newcomers AS (
  -- Each sender without an identity in the inbox once: a contact and its identity.
  SELECT DISTINCT ON (m.inbox_id, m.user_id) m.* FROM missing m
  WHERE NOT EXISTS (SELECT 1 FROM identified d WHERE d."inboxId" = m.inbox_id AND d."externalUserId" = m.user_id)
  ORDER BY m.inbox_id, m.user_id, m.ord
), contacts AS (
  INSERT INTO "Contact" ("id", "organizationId", "name", "createdAt")
  SELECT contact_id, organization_id, user_name, now() AT TIME ZONE 'UTC' FROM newcomers
  RETURNING "id"
), identities AS (
  INSERT INTO "ContactIdentity" ("id", "organizationId", "contactId", "inboxId", "externalUserId", "createdAt")
  SELECT identity_id, organization_id, contact_id, inbox_id, user_id, now() AT TIME ZONE 'UTC' FROM newcomers
  RETURNING "inboxId", "externalUserId", "contactId"
), created AS (
  INSERT INTO "Conversation" ("id", "organizationId", "inboxId", "agentId", "contactId", "externalThreadId", "state", "lastMessageAt", "createdAt")
  SELECT m.conversation_id, m.organization_id, m.inbox_id, m.agent_id, COALESCE(d."contactId", n."contactId"), m.thread_id, 'bot', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM missing m
  LEFT JOIN identified d ON d."inboxId" = m.inbox_id AND d."externalUserId" = m.user_id
  LEFT JOIN identities n ON n."inboxId" = m.inbox_id AND n."externalUserId" = m.user_id
  RETURNING *
), conversations AS (
  SELECT k.*, false AS is_new FROM known k
  UNION ALL
  SELECT c.*, true AS is_new FROM created c
), stored AS (
  INSERT INTO "Message" ("id", "organizationId", "inboxId", "conversationId", "externalMessageId", "direction", "author", "text", "attachments", "meta", "status", "createdAt")
  SELECT i.id, c."organizationId", i.inbox_id, c.id, i.external_id, 'in', 'contact', i.body, i.attachments, i.meta, 'pending', now() AT TIME ZONE 'UTC'
  FROM input i JOIN conversations c ON c."inboxId" = i.inbox_id AND c."externalThreadId" = i.thread_id
  ORDER BY i.ord
  ON CONFLICT ("inboxId", "externalMessageId") DO NOTHING
  RETURNING *
), touched AS (
  UPDATE "Conversation" SET "lastMessageAt" = now() AT TIME ZONE 'UTC' WHERE "id" IN (SELECT "conversationId" FROM stored)
), outcomes AS (
  SELECT s.id AS input_id, 'stored' AS outcome, s.*, now() AT TIME ZONE 'UTC' AS last_at FROM stored s
  UNION ALL
  -- Stored before this statement began: a redelivery.
  SELECT i.id, 'existing', m.*, NULL FROM input i
  CROSS JOIN LATERAL (SELECT * FROM "Message" m WHERE m."inboxId" = i.inbox_id AND m."externalMessageId" = i.external_id OFFSET 0) m
)
SELECT o.input_id, o.outcome, o."id", o."seq", o."organizationId", o."inboxId", o."conversationId", o."externalMessageId", o."text", o."attachments", o."meta", o."status", o."replyToId",
  extract(epoch FROM o."createdAt")::float8 * 1000 AS "createdAtMs",
  c."agentId" AS "c_agentId", c."contactId" AS "c_contactId", c."externalThreadId" AS "c_externalThreadId", c."state" AS "c_state", c."language" AS "c_language",
  extract(epoch FROM c."createdAt")::float8 * 1000 AS "c_createdAtMs", extract(epoch FROM COALESCE(o.last_at, c."lastMessageAt"))::float8 * 1000 AS "c_lastMessageAtMs", c.is_new AS "c_new"
FROM outcomes o JOIN conversations c ON c.id = o."conversationId"`

function written(row: Row): InboundWritten {
  return {
    created: row.outcome === 'stored',
    conversationCreated: row.c_new,
    conversation: {
      id: row.conversationId,
      organizationId: row.organizationId,
      inboxId: row.inboxId,
      agentId: row.c_agentId,
      contactId: row.c_contactId,
      externalThreadId: row.c_externalThreadId,
      state: row.c_state as Conversation['state'],
      language: (row.c_language ?? null) as Conversation['language'],
      createdAt: new Date(row.c_createdAtMs),
      lastMessageAt: new Date(row.c_lastMessageAtMs),
    },
    message: {
      id: row.id,
      seq: row.seq,
      organizationId: row.organizationId,
      inboxId: row.inboxId,
      conversationId: row.conversationId,
      externalMessageId: row.externalMessageId,
      direction: 'in',
      author: 'contact',
      text: row.text,
      sources: [],
      attachments: (row.attachments ?? []) as Message['attachments'],
      status: row.status as Message['status'],
      replyToId: row.replyToId ?? null,
      meta: (row.meta ?? {}) as Message['meta'],
      createdAt: new Date(row.createdAtMs),
    },
  }
}
