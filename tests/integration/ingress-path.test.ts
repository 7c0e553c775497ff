import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPrismaStore } from '../../adapters/db/prisma-store.ts'
import type { Database } from '../../adapters/db/database.ts'
import type { Inbox, InboundMessage } from '../../core/ports.ts'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'
import { waitFor } from '../support/test-app.ts'
import { postgresAnswers, scratchDatabase } from '../support/postgres.ts'
import { statementCounter } from '../support/statement-counter.ts'

const BOT = { token: '7000000071:AAH-fake-token-for-ingress-tests-abc', id: 7000000071, username: 'ingress_bot', first_name: 'Ingress' }

/** Holds the embedded database's one connection (an interactive transaction, as a turn's may) until released. */
function holdConnection(db: Database) {
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => (release = resolve))
  let holding: () => void = () => {}
  const held = new Promise<void>((resolve) => (holding = resolve))
  const done = db.prisma.$transaction(
    async (tx) => {
      await tx.$queryRawUnsafe('SELECT 1')
      holding()
      await released
    },
    { timeout: 60_000, maxWait: 60_000 },
  )
  return { held, release, done }
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 150))


/**
 * Threads' first messages arriving together are written by one statement: each new thread gets one
 * conversation, each new sender one contact (a sender already known in the inbox keeps theirs), and
 * redeliveries read the stored message. Run on the embedded database and on PostgreSQL.
 */
async function firstMessagesTogether(db: Database, counter?: ReturnType<typeof statementCounter>) {
  const store = createPrismaStore(db)
  const org = await store.organizations.create({ name: 'First messages' })
  const other = await store.organizations.create({ name: 'Another organization' })
  const agent = await store.agents.create(org.id, { name: 'A' } as never)
  const inbox: Inbox = await store.inboxes.create({ organizationId: org.id, agentId: agent.id, channel: 'telegram', name: 'T', publicKey: null, settings: {} })
  const message = (thread: string, user: string, id: string, userName?: string): InboundMessage => ({ inboxId: inbox.id, externalThreadId: thread, externalMessageId: id, externalUserId: user, userName, text: `text of ${id}`, attachments: [], receivedAt: new Date(), raw: {} })
  // A sender known from an earlier thread.
  const earlier = await store.messages.receive({ inbox, message: message('dm-known', 'known', 'k0', 'Known Person') })
  expect(earlier.conversationCreated).toBe(true)
  const contacts = async () => db.prisma.contact.count({ where: { organizationId: org.id } })
  expect(await contacts()).toBe(1)

  counter?.start()
  const results = await Promise.all([
    store.messages.receive({ inbox, message: message('dm-ann', 'ann', 'a1', 'Ann') }),
    store.messages.receive({ inbox, message: message('dm-ann', 'ann', 'a2', 'Ann') }), // the same new thread, second message
    store.messages.receive({ inbox, message: message('group-1', 'ann', 'g1', 'Ann') }), // the same new sender, in another new thread
    store.messages.receive({ inbox, message: message('group-2', 'known', 'g2', 'Known Person') }), // a known sender, a new thread
    store.messages.receive({ inbox, message: message('dm-known', 'known', 'k1') }), // a known thread
    store.messages.receive({ inbox, message: message('dm-known', 'known', 'k0') }), // a redelivery
  ])
  // On the embedded database, counted at the wire: one statement for the six.
  if (counter) expect(counter.stop().statements).toBe(1)
  const [a1, a2, g1, g2, k1, k0] = results
  expect(results.map((r) => r.created)).toEqual([true, true, true, true, true, false])
  expect(results.map((r) => Boolean(r.conversationCreated))).toEqual([true, true, true, true, false, false])
  expect(a1!.conversation.id).toBe(a2!.conversation.id)
  expect(new Set([a1!.conversation.id, g1!.conversation.id, g2!.conversation.id, k1!.conversation.id]).size).toBe(4)
  expect(k0!.message.id).toBe(earlier.message.id)
  expect(k1!.conversation.id).toBe(earlier.conversation.id)
  // Ann got one contact for both her threads; the known sender kept theirs.
  expect(a1!.conversation.contactId).toBe(g1!.conversation.contactId)
  expect(g2!.conversation.contactId).toBe(earlier.conversation.contactId)
  expect(await contacts()).toBe(2)
  expect((await db.prisma.contact.findUnique({ where: { id: a1!.conversation.contactId } }))?.name).toBe('Ann')
  expect(await db.prisma.contactIdentity.count({ where: { inboxId: inbox.id } })).toBe(2)
  // Everything belongs to the inbox's organization, and what the callers got is what is stored.
  for (const r of results) {
    expect(r.conversation.organizationId).toBe(org.id)
    expect(r.conversation.agentId).toBe(agent.id)
    expect(r.message).toEqual(await store.messages.get(org.id, r.message.id))
    expect(await store.messages.get(other.id, r.message.id)).toBeNull()
    const stored = (await store.conversations.get(org.id, r.conversation.id))!
    expect({ ...r.conversation, lastMessageAt: null }).toEqual({ ...stored, lastMessageAt: null })
    expect(Math.abs(r.conversation.createdAt.getTime() - Date.now())).toBeLessThan(60_000)
  }
  expect(await db.prisma.conversation.count({ where: { organizationId: other.id } })).toBe(0)
  const history = await store.messages.history(org.id, a1!.conversation.id, { limit: 10 })
  expect(history.map((m) => m.externalMessageId)).toEqual(['a1', 'a2'])
}

describe('webhook ingress on the embedded database (group commit, priority lane)', () => {
  let bed: TelegramTestBed
  const storedTexts = async (chatId: number) =>
    (await bed.t.app.db.prisma.message.findMany({ where: { organizationId: bed.org.organizationId, inboxId: bed.inboxId, direction: 'in', externalMessageId: { startsWith: `${chatId}:` } }, orderBy: { seq: 'asc' } })).map((m) => m.text)

  beforeAll(async () => {
    bed = await startTelegramTestBed({ name: 'Ingress', bot: BOT })
  }, 180_000)
  afterAll(async () => {
    await bed?.close()
  })

  it('writes the first messages of new threads together: one conversation per thread, one contact per new sender, redeliveries read back', async () => {
    await firstMessagesTogether(bed.t.app.db, statementCounter())
  })

  it('acknowledges a delivery only once its message is stored', async () => {
    expect((await bed.deliver(updates.text({ chatId: 71001, text: 'first message: makes the conversation' }))).status).toBe(200)
    const hold = holdConnection(bed.t.app.db)
    await hold.held
    let answered = false
    const delivery = bed.deliver(updates.text({ chatId: 71001, text: 'stored before the 200' })).then((res) => {
      answered = true
      return res
    })
    await settle()
    expect(answered).toBe(false) // the database is busy: no 200 yet
    hold.release()
    await hold.done
    expect((await delivery).status).toBe(200)
    // Read right after the 200: the message is there.
    expect(await storedTexts(71001)).toEqual(['first message: makes the conversation', 'stored before the 200'])
    await bed.waitForSent(71001, 2)
  })

  it("serves ingress's statement before the statements queued ahead of it", async () => {
    const chatId = 71002
    expect((await bed.deliver(updates.text({ chatId, text: 'hello' }))).status).toBe(200)
    await bed.waitForSent(chatId, 1)
    const inbox = (await bed.t.app.store.inboxes.get(bed.inboxId))!
    const prisma = bed.t.app.db.prisma
    await prisma.$executeRawUnsafe('CREATE TABLE IF NOT EXISTS ingress_probe (n serial PRIMARY KEY, seen int NOT NULL)')
    const before = await prisma.message.count({ where: { inboxId: bed.inboxId, direction: 'in' } })
    const hold = holdConnection(bed.t.app.db)
    await hold.held
    // Ten statements of other work queued first, each noting how many inbound messages it saw...
    const others = Array.from({ length: 10 }, () =>
      prisma.$executeRawUnsafe(`INSERT INTO ingress_probe (seen) SELECT count(*) FROM "Message" WHERE "inboxId" = $1 AND direction = 'in'`, bed.inboxId),
    )
    await settle()
    // ...then a message stored by ingress.
    const inbound: InboundMessage = { inboxId: bed.inboxId, externalThreadId: String(chatId), externalMessageId: `${chatId}:probe`, externalUserId: String(chatId), text: 'ingress first', attachments: [], receivedAt: new Date(), raw: {} }
    const received = bed.t.app.store.messages.receive({ inbox, message: inbound })
    await settle()
    hold.release()
    await Promise.all([hold.done, ...others])
    expect((await received).created).toBe(true)
    const seen = (await prisma.$queryRawUnsafe<{ seen: number }[]>('SELECT seen FROM ingress_probe ORDER BY n')).map((r) => r.seen)
    // Every statement queued before it ran after it: they all saw the new message.
    expect(seen).toEqual(Array.from({ length: 10 }, () => before + 1))
  })

  it('a message the database refuses fails its own delivery (500, nothing stored) and not the others written with it', async () => {
    const prisma = bed.t.app.db.prisma
    expect((await bed.deliver(updates.text({ chatId: 71003, text: 'first' }))).status).toBe(200)
    expect((await bed.deliver(updates.text({ chatId: 71004, text: 'first' }))).status).toBe(200)
    await prisma.$executeRawUnsafe(`ALTER TABLE "Message" ADD CONSTRAINT ingress_poison CHECK ("text" <> 'poison') NOT VALID`)
    try {
      const hold = holdConnection(bed.t.app.db)
      await hold.held
      // Arriving while the database is busy, the three wait together.
      const deliveries = [bed.deliver(updates.text({ chatId: 71003, text: 'good one' })), bed.deliver(updates.text({ chatId: 71004, text: 'poison' })), bed.deliver(updates.text({ chatId: 71004, text: 'good two' }))]
      await settle()
      hold.release()
      await hold.done
      const statuses = (await Promise.all(deliveries)).map((r) => r.status)
      expect(statuses).toEqual([200, 500, 200])
      expect(await storedTexts(71003)).toEqual(['first', 'good one'])
      expect(await storedTexts(71004)).toEqual(['first', 'good two'])
    } finally {
      await prisma.$executeRawUnsafe('ALTER TABLE "Message" DROP CONSTRAINT ingress_poison')
    }
    // The refused delivery, sent again by Telegram once the database takes it, is stored and answered.
    await bed.waitForSent(71004, 2)
  })

  it('when the database refuses every message, no delivery is acknowledged; the redeliveries are stored and answered once', async () => {
    const prisma = bed.t.app.db.prisma
    expect((await bed.deliver(updates.text({ chatId: 71005, text: 'first' }))).status).toBe(200)
    await bed.waitForSent(71005, 1)
    await prisma.$executeRawUnsafe(`ALTER TABLE "Message" ADD CONSTRAINT ingress_down CHECK ("direction" <> 'in') NOT VALID`)
    const batch = [updates.text({ chatId: 71005, text: 'one' }), updates.text({ chatId: 71005, text: 'two' }), updates.text({ chatId: 71005, text: 'three' })]
    try {
      const statuses = (await Promise.all(batch.map((u) => bed.deliver(u)))).map((r) => r.status)
      expect(statuses).toEqual([500, 500, 500])
      expect(await storedTexts(71005)).toEqual(['first'])
    } finally {
      await prisma.$executeRawUnsafe('ALTER TABLE "Message" DROP CONSTRAINT ingress_down')
    }
    // Telegram delivers them again (same update ids), twice over, at the same time.
    const again = (await Promise.all([...batch, ...batch].map((u) => bed.deliver(u)))).map((r) => r.status)
    expect(again).toEqual([200, 200, 200, 200, 200, 200])
    expect(await storedTexts(71005)).toEqual(['first', 'one', 'two', 'three'])
    await bed.waitForSent(71005, 4)
    await waitFor(async () => (await bed.t.app.queue.depth()) === 0)
    expect(bed.texts(71005)).toHaveLength(4)
  })
})

const available = await postgresAnswers('the ingress tests on PostgreSQL')

describe.skipIf(!available)('group commit of inbound messages on PostgreSQL (a pool of several connections)', () => {
  let scratch: Awaited<ReturnType<typeof scratchDatabase>>
  beforeAll(async () => {
    scratch = await scratchDatabase('ingress', 4)
    // A server whose sessions are not in UTC: times are still stored and read as UTC, as Prisma does.
    await scratch.db.runner.exec(`ALTER ROLE CURRENT_USER IN DATABASE ${(await scratch.db.runner.query<{ d: string }>('SELECT current_database() AS d'))[0]!.d} SET timezone = 'America/New_York'`)
  })
  afterAll(async () => {
    await scratch?.drop()
  })

  it('writes the first messages of new threads together: one conversation per thread, one contact per new sender, redeliveries read back', async () => {
    await firstMessagesTogether(scratch.db)
  })

  it('stores concurrent messages of several conversations once each, in order per conversation, redeliveries included', async () => {
    const { db } = scratch
    const store = createPrismaStore(db)
    const org = await store.organizations.create({ name: 'PG' })
    const agent = await store.agents.create(org.id, { name: 'A' } as never)
    const inbox: Inbox = await store.inboxes.create({ organizationId: org.id, agentId: agent.id, channel: 'telegram', name: 'T', publicKey: null, settings: {} })
    const message = (thread: number, n: number): InboundMessage => ({ inboxId: inbox.id, externalThreadId: String(thread), externalMessageId: `${thread}:${n}`, externalUserId: String(thread), text: `m${n}`, attachments: [], receivedAt: new Date(), raw: {} })
    // Each thread's first message makes its conversation.
    for (const thread of [1, 2, 3]) expect((await store.messages.receive({ inbox, message: message(thread, 0) })).created).toBe(true)
    const started = Date.now()
    // Per thread in order, the threads at the same time, every message delivered twice.
    const results = await Promise.all(
      [1, 2, 3].map(async (thread) => {
        const out = []
        for (let n = 1; n <= 20; n++) {
          const [a, b] = await Promise.all([store.messages.receive({ inbox, message: message(thread, n) }), store.messages.receive({ inbox, message: message(thread, n) })])
          out.push(a, b)
        }
        return out
      }),
    )
    for (const out of results) expect(out.filter((r) => r.created)).toHaveLength(20)
    for (const thread of [1, 2, 3]) {
      const conversation = (await store.conversations.findByThread(inbox.id, String(thread)))!
      const history = await store.messages.history(org.id, conversation.id, { limit: 100 })
      expect(history.map((m) => m.text)).toEqual(Array.from({ length: 21 }, (_, n) => `m${n}`))
      for (const m of history) {
        expect(m.status).toBe('pending')
        expect(Math.abs(m.createdAt.getTime() - started)).toBeLessThan(60_000)
      }
      expect(Math.abs(conversation.lastMessageAt.getTime() - Date.now())).toBeLessThan(60_000)
    }
    // What a caller got back is what Prisma reads.
    const got = results[0]!.find((r) => r.created)!
    const read = (await store.messages.get(org.id, got.message.id))!
    expect(got.message).toEqual(read)
  })
})
