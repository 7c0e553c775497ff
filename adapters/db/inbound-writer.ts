import type { Conversation, Message } from '../../core/ports.ts'
import type { SqlRunner } from './migrate.ts'

/** An inbound message to store in the conversation of its thread, its row's fields made by the store. */
export type InboundItem = {
  id: string
  inboxId: string
  externalThreadId: string
  externalMessageId: string
  text: string
  attachments: unknown
  meta: unknown
}

export type InboundWritten = { conversation: Conversation; message: Message }

/**
 * Group commit of inbound messages: the messages that arrive while a write is under way are
 * written together by the next one, in one statement (its own transaction): the conversation of
 * each thread is found, the messages inserted in arrival order (`ON CONFLICT DO NOTHING` on the
 * inbox's external id), and the conversations' `lastMessageAt` moved. Each caller's promise
 * resolves only once that statement has committed, so an acknowledgement sent after it is for a
 * stored message.
 *
 * A write resolves to 'no_conversation' when its thread has no conversation yet (the caller creates
 * it), and to null when the message is stored already (a redelivery, or twice in one batch); the
 * caller takes its general path for those. When the statement fails, every write of the batch rejects with its
 * error: none of them is stored.
 */
export function createInboundWriter(deps: { runner: SqlRunner; urgent?: <T>(fn: () => Promise<T>) => Promise<T>; maxBatch?: number }) {
  const maxBatch = deps.maxBatch ?? 500
  const urgent = deps.urgent ?? ((fn) => fn())
  type Waiting = { item: InboundItem; resolve: (value: InboundWritten | 'no_conversation' | null) => void; reject: (error: unknown) => void }
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
      const rows = await urgent(() => deps.runner.query<Row>(INSERT_BATCH, columnsOf(batch.map((w) => w.item))))
      const byId = new Map(rows.map((row) => [row.id, row]))
      for (const w of batch) {
        const row = byId.get(w.item.id)
        w.resolve(!row ? null : row.status === 'no_conversation' ? 'no_conversation' : written(row))
      }
    } catch (error) {
      for (const w of batch) w.reject(error)
    } finally {
      writing = false
      if (queue.length) void flush()
    }
  }

  return {
    write(item: InboundItem): Promise<InboundWritten | 'no_conversation' | null> {
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
  createdAtMs: number
  c_agentId: string
  c_contactId: string
  c_externalThreadId: string
  c_state: string
  c_language: string | null
  c_createdAtMs: number
  c_lastMessageAtMs: number
}

const columnsOf = (items: InboundItem[]) => [
  items.map((i) => i.id),
  items.map((i) => i.inboxId),
  items.map((i) => i.externalThreadId),
  items.map((i) => i.externalMessageId),
  items.map((i) => i.text),
  items.map((i) => JSON.stringify(i.attachments ?? [])),
  items.map((i) => JSON.stringify(i.meta ?? {})),
]

// Times are kept as UTC in columns without a time zone (Prisma's convention), whatever the session's.
const INSERT_BATCH = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
    WITH ORDINALITY AS t(id, inbox_id, thread_id, external_id, body, attachments, meta, ord)
), stored AS (
  INSERT INTO "Message" ("id", "organizationId", "inboxId", "conversationId", "externalMessageId", "direction", "author", "text", "attachments", "meta", "status", "createdAt")
  SELECT i.id, c."organizationId", i.inbox_id, c.id, i.external_id, 'in', 'contact', i.body, i.attachments::jsonb, i.meta::jsonb, 'pending', now() AT TIME ZONE 'UTC'
  FROM input i JOIN "Conversation" c ON c."inboxId" = i.inbox_id AND c."externalThreadId" = i.thread_id
  ORDER BY i.ord
  ON CONFLICT ("inboxId", "externalMessageId") DO NOTHING
  RETURNING "id", "seq", "organizationId", "inboxId", "conversationId", "externalMessageId", "text", "attachments", "meta", "status", "createdAt"
), touched AS (
  UPDATE "Conversation" SET "lastMessageAt" = now() AT TIME ZONE 'UTC' WHERE "id" IN (SELECT "conversationId" FROM stored)
)
SELECT s."id", s."seq", s."organizationId", s."inboxId", s."conversationId", s."externalMessageId", s."text", s."attachments", s."meta", s."status",
  extract(epoch FROM s."createdAt")::float8 * 1000 AS "createdAtMs",
  c."agentId" AS "c_agentId", c."contactId" AS "c_contactId", c."externalThreadId" AS "c_externalThreadId", c."state" AS "c_state", c."language" AS "c_language",
  extract(epoch FROM c."createdAt")::float8 * 1000 AS "c_createdAtMs", extract(epoch FROM s."createdAt")::float8 * 1000 AS "c_lastMessageAtMs"
FROM stored s JOIN "Conversation" c ON c."id" = s."conversationId"
UNION ALL
SELECT i.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'no_conversation', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM input i WHERE NOT EXISTS (SELECT 1 FROM "Conversation" c WHERE c."inboxId" = i.inbox_id AND c."externalThreadId" = i.thread_id)`

function written(row: Row): InboundWritten {
  return {
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
      replyToId: null,
      meta: (row.meta ?? {}) as Message['meta'],
      createdAt: new Date(row.createdAtMs),
    },
  }
}
