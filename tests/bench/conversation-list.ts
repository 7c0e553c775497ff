/**
 * The operators' conversations list (GET /api/v1/conversations) on PGlite on disk with many
 * conversations in one organization: the one-query list (last message and current handoff by
 * LATERAL joins) beside a floor (the bare conversations page, same order, no joins) and beside the
 * list built the N+1 way (one page, then the last message and the handoff of each row).
 * Reports p50/p95 per query shape, the ratio to the floor, the rows, and the load average.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { openDatabase } from '../../adapters/db/database.ts'
import { createPrismaConversationDirectory } from '../../adapters/db/conversation-directory.ts'
import { newId } from '../../core/ids.ts'

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!

export async function conversationList(options: string[]) {
  const arg = (name: string, fallback: number) => {
    const i = options.indexOf(`--${name}`)
    return i >= 0 ? Number(options[i + 1]) : fallback
  }
  const conversations = arg('conversations', 10_000)
  const messagesEach = arg('messages', 6)
  const runs = arg('runs', 40)
  const dir = await mkdtemp(path.join(tmpdir(), 'switchboard-bench-list-'))
  const loadAtStart = loadavg()[0]!
  const db = await openDatabase({ dataDir: dir })
  try {
    await db.migrate()
    const prisma = db.prisma
    const org = newId()
    const other = newId()
    const operator = newId()
    await prisma.organization.createMany({ data: [{ id: org, name: 'Bench' }, { id: other, name: 'Other' }] })
    await prisma.user.create({ data: { id: operator, email: 'op@bench.example', name: 'Olga', passwordHash: 'x' } })
    await prisma.membership.create({ data: { id: newId(), organizationId: org, userId: operator, role: 'operator' } })
    const agent = newId()
    const inbox = newId()
    await prisma.agent.create({ data: { id: agent, organizationId: org, name: 'Bench agent' } })
    await prisma.inbox.create({ data: { id: inbox, organizationId: org, agentId: agent, channel: 'webchat', name: 'Web chat' } })
    const seeded = performance.now()
    // Both organizations get the same data: the list must not read the other one's rows.
    for (const o of [org, other]) {
      const ib = o === org ? inbox : newId()
      if (o === other) {
        await prisma.agent.create({ data: { id: agent + '-o', organizationId: o, name: 'Other agent' } })
        await prisma.inbox.create({ data: { id: ib, organizationId: o, agentId: agent + '-o', channel: 'webchat', name: 'Web chat' } })
      }
      await prisma.$executeRawUnsafe(
        `INSERT INTO "Contact" (id, "organizationId", name) SELECT $1 || g, $2, 'Customer ' || g FROM generate_series(1, $3) g`,
        `${o}-ct-`,
        o,
        conversations,
      )
      await prisma.$executeRawUnsafe(
        `INSERT INTO "Conversation" (id, "organizationId", "inboxId", "agentId", "contactId", "externalThreadId", state, "lastMessageAt", "createdAt")
         SELECT $1 || g, $2, $3, $4, $5 || g, 't' || g, CASE WHEN g % 5 = 0 THEN 'handoff' ELSE 'bot' END, now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
         FROM generate_series(1, $6) g`,
        `${o}-cv-`,
        o,
        ib,
        o === org ? agent : agent + '-o',
        `${o}-ct-`,
        conversations,
      )
      await prisma.$executeRawUnsafe(
        `INSERT INTO "Message" (id, "organizationId", "inboxId", "conversationId", "externalMessageId", direction, author, text, status, "createdAt")
         SELECT $1 || g || '-' || k, $2, $3, $4 || g, 'm' || g || '-' || k, CASE WHEN k % 2 = 1 THEN 'in' ELSE 'out' END, CASE WHEN k % 2 = 1 THEN 'contact' ELSE 'agent' END,
                repeat('A message of some length. ', 8), 'done', now() - (g || ' seconds')::interval + (k || ' milliseconds')::interval
         FROM generate_series(1, $5) g, generate_series(1, $6) k`,
        `${o}-m-`,
        o,
        ib,
        `${o}-cv-`,
        conversations,
        messagesEach,
      )
      await prisma.$executeRawUnsafe(
        `INSERT INTO "Handoff" (id, "organizationId", "conversationId", status, reason, "operatorUserId", "createdAt")
         SELECT $1 || g, $2, $3 || g, CASE WHEN g % 10 = 0 THEN 'taken' ELSE 'open' END, 'customer_request', CASE WHEN g % 10 = 0 AND $2 = $4 THEN $5 ELSE NULL END, now() - (g || ' seconds')::interval
         FROM generate_series(5, $6, 5) g`,
        `${o}-h-`,
        o,
        `${o}-cv-`,
        org,
        operator,
        conversations,
      )
      // Closed handoffs of the past, as a long-lived installation has.
      await prisma.$executeRawUnsafe(
        `INSERT INTO "Handoff" (id, "organizationId", "conversationId", status, reason, "createdAt", "closedAt")
         SELECT $1 || g, $2, $3 || g, 'closed', 'customer_request', now() - interval '30 days', now() - interval '29 days' FROM generate_series(1, $4, 3) g`,
        `${o}-hc-`,
        o,
        `${o}-cv-`,
        conversations,
      )
    }
    await prisma.$executeRawUnsafe('ANALYZE')
    const seedSeconds = (performance.now() - seeded) / 1000
    const directory = createPrismaConversationDirectory(db)

    const time = async (fn: () => Promise<number>) => {
      await fn() // warm
      const ms: number[] = []
      let rows = 0
      for (let i = 0; i < runs; i++) {
        const started = performance.now()
        rows = await fn()
        ms.push(performance.now() - started)
      }
      return { p50: round(percentile(ms, 50)), p95: round(percentile(ms, 95)), rows }
    }
    const floor = await time(async () => (await prisma.conversation.findMany({ where: { organizationId: org }, orderBy: [{ lastMessageAt: 'desc' }, { id: 'desc' }], take: 51 })).length)
    let deepCursor: { lastMessageAt: Date; id: string } | undefined
    {
      const page = await directory.list(org, { limit: Math.floor(conversations / 2) })
      const last = page.at(-1)!
      deepCursor = { lastMessageAt: last.lastMessageAt, id: last.id }
    }
    const shapes: Record<string, () => Promise<number>> = {
      'first page (51 rows)': async () => (await directory.list(org, { limit: 51 })).length,
      'state=handoff': async () => (await directory.list(org, { limit: 51, state: 'handoff' })).length,
      mine: async () => (await directory.list(org, { limit: 51, heldBy: operator })).length,
      'page half-way down (cursor)': async () => (await directory.list(org, { limit: 51, after: deepCursor })).length,
      'N+1 way (page, then 2 queries a row)': async () => {
        const page = await prisma.conversation.findMany({ where: { organizationId: org }, orderBy: [{ lastMessageAt: 'desc' }, { id: 'desc' }], take: 51 })
        for (const c of page) {
          await prisma.message.findFirst({ where: { organizationId: org, conversationId: c.id }, orderBy: { seq: 'desc' } })
          await prisma.handoff.findFirst({ where: { organizationId: org, conversationId: c.id, status: { in: ['open', 'taken'] } }, orderBy: { createdAt: 'desc' } })
        }
        return page.length
      },
    }
    const results: Record<string, { p50: number; p95: number; rows: number; ratioP50ToFloor: number }> = {}
    for (const [name, fn] of Object.entries(shapes)) {
      const r = await time(fn)
      results[name] = { ...r, ratioP50ToFloor: round(r.p50 / floor.p50, 1) }
    }
    const foreign = (await directory.list(org, { limit: 200 })).filter((r) => !r.id.startsWith(`${org}-`)).length
    console.log(`\nconversations list: ${conversations.toLocaleString('en-US')} conversations x ${messagesEach} messages per organization, 2 organizations, PGlite on disk; ${runs} runs each (seeded in ${round(seedSeconds, 1)} s)`)
    console.log(`${'query'.padEnd(40)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'rows'.padStart(6)} ${'x floor'.padStart(8)}`)
    console.log(`${'floor: bare page, no joins'.padEnd(40)} ${String(floor.p50).padStart(8)} ${String(floor.p95).padStart(8)} ${String(floor.rows).padStart(6)} ${'1'.padStart(8)}`)
    for (const [name, r] of Object.entries(results)) console.log(`${name.padEnd(40)} ${String(r.p50).padStart(8)} ${String(r.p95).padStart(8)} ${String(r.rows).padStart(6)} ${String(r.ratioP50ToFloor).padStart(8)}`)
    console.log(`rows of the other organization in the list: ${foreign}`)
    console.log(`load average (1 min): ${round(loadAtStart, 2)} at start, ${round(loadavg()[0]!, 2)} at end, ${cpus().length} CPUs`)
    console.log(JSON.stringify({ benchmark: 'conversation-list', conversations, messagesEach, runs, floor, results, foreignRows: foreign, machine: { cpus: cpus().length, node: process.version, loadAverage1mAtStart: round(loadAtStart, 2), loadAverage1mAtEnd: round(loadavg()[0]!, 2) } }))
  } finally {
    await db.close()
    await rm(dir, { recursive: true, force: true })
  }
}
