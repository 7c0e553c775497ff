import type { ChannelKind, ContactErasure, ConversationDirectory, ConversationFilter, ConversationListRow, ConversationState, MessageAuthor } from '../../core/ports.ts'
import type { Database } from './database.ts'
import { toLead } from './crm-store.ts'
import { Prisma } from './generated/client.ts'

type Row = {
  id: string
  inboxId: string
  agentId: string
  contactId: string
  state: string
  createdAt: Date
  lastMessageAt: Date
  channel: string | null
  purpose: string | null
  inboxName: string | null
  agentName: string | null
  contactName: string | null
  lastAuthor: string | null
  lastText: string | null
  lastAt: Date | null
  handoffId: string | null
  handoffStatus: string | null
  handoffReason: string | null
  handoffAt: Date | null
  operatorUserId: string | null
  holderName: string | null
}

const toRow = (r: Row): ConversationListRow => {
  const handoff = r.handoffId ? { id: r.handoffId, status: r.handoffStatus === 'taken' ? ('taken' as const) : ('open' as const), reason: r.handoffReason ?? '', createdAt: r.handoffAt! } : null
  const lastMessage = r.lastAt ? { author: (r.lastAuthor ?? 'contact') as MessageAuthor, text: r.lastText ?? '', createdAt: r.lastAt } : null
  const waitingSince = handoff?.status === 'open' ? handoff.createdAt : lastMessage?.author === 'contact' ? lastMessage.createdAt : null
  return {
    id: r.id,
    inboxId: r.inboxId,
    agentId: r.agentId,
    contactId: r.contactId,
    state: r.state as ConversationState,
    createdAt: r.createdAt,
    lastMessageAt: r.lastMessageAt,
    channel: (r.channel as ChannelKind | null) ?? null,
    inboxName: r.inboxName,
    test: r.purpose === 'test',
    agent: r.agentName !== null ? { id: r.agentId, name: r.agentName } : null,
    contact: { id: r.contactId, name: r.contactName },
    lastMessage,
    handoff,
    holder: handoff?.status === 'taken' && r.operatorUserId ? { userId: r.operatorUserId, name: r.holderName ?? '' } : null,
    waitingSince,
  }
}

/**
 * The operators' view over conversations and contacts. The list is one query (the newest message
 * and the current handoff through LATERAL joins on their indexes), keyset-paginated; every query
 * is scoped by organizationId.
 */
export function createPrismaConversationDirectory(db: Database): ConversationDirectory {
  const prisma = db.prisma

  /**
   * The page of conversations is chosen first (filters and order on Conversation and its inbox
   * only, on the (organizationId, lastMessageAt) index); only that page's rows get their last
   * message and current handoff.
   */
  function select(organizationId: string, where: Prisma.Sql[], limit: number) {
    return prisma.$queryRaw<Row[]>`
      WITH page AS (
        SELECT c.* FROM "Conversation" c
        LEFT JOIN "Inbox" i ON i.id = c."inboxId" AND i."organizationId" = c."organizationId"
        WHERE c."organizationId" = ${organizationId} ${where.length ? Prisma.sql`AND ${Prisma.join(where, ' AND ')}` : Prisma.empty}
        ORDER BY c."lastMessageAt" DESC, c.id DESC
        LIMIT ${limit}
      )
      SELECT c.id, c."inboxId", c."agentId", c."contactId", c.state, c."createdAt", c."lastMessageAt",
             i.channel, i.purpose, i.name AS "inboxName", a.name AS "agentName", ct.name AS "contactName",
             lm.author AS "lastAuthor", left(lm.text, 200) AS "lastText", lm."createdAt" AS "lastAt",
             h.id AS "handoffId", h.status AS "handoffStatus", h.reason AS "handoffReason", h."createdAt" AS "handoffAt", h."operatorUserId",
             u.name AS "holderName"
      FROM page c
      LEFT JOIN "Inbox" i ON i.id = c."inboxId" AND i."organizationId" = c."organizationId"
      LEFT JOIN "Agent" a ON a.id = c."agentId" AND a."organizationId" = c."organizationId"
      LEFT JOIN "Contact" ct ON ct.id = c."contactId" AND ct."organizationId" = c."organizationId"
      LEFT JOIN LATERAL (
        SELECT m.author, m.text, m."createdAt" FROM "Message" m
        WHERE m."conversationId" = c.id AND m."organizationId" = c."organizationId"
        ORDER BY m.seq DESC LIMIT 1
      ) lm ON true
      LEFT JOIN LATERAL (
        SELECT hh.id, hh.status, hh.reason, hh."createdAt", hh."operatorUserId" FROM "Handoff" hh
        WHERE hh."organizationId" = c."organizationId" AND hh."conversationId" = c.id AND hh.status IN ('open', 'taken')
        ORDER BY hh."createdAt" DESC LIMIT 1
      ) h ON true
      LEFT JOIN "Membership" mb ON mb."organizationId" = c."organizationId" AND mb."userId" = h."operatorUserId"
      LEFT JOIN "User" u ON u.id = mb."userId"
      ORDER BY c."lastMessageAt" DESC, c.id DESC`
  }

  return {
    list: async (organizationId, filter: ConversationFilter) => {
      const where: Prisma.Sql[] = []
      if (filter.state) where.push(Prisma.sql`c.state = ${filter.state}`)
      if (filter.channel) where.push(Prisma.sql`i.channel = ${filter.channel}`)
      if (filter.agentId) where.push(Prisma.sql`c."agentId" = ${filter.agentId}`)
      // Driven by the handoffs this person holds (one conversation has one open or taken handoff at a time).
      if (filter.heldBy) where.push(Prisma.sql`c.id IN (SELECT hm."conversationId" FROM "Handoff" hm WHERE hm."organizationId" = ${organizationId} AND hm.status = 'taken' AND hm."operatorUserId" = ${filter.heldBy})`)
      if (!filter.includeTests) where.push(Prisma.sql`i.purpose IS DISTINCT FROM 'test'`)
      if (filter.after) where.push(Prisma.sql`(c."lastMessageAt", c.id) < (${filter.after.lastMessageAt}, ${filter.after.id})`)
      return (await select(organizationId, where, filter.limit)).map(toRow)
    },

    get: async (organizationId, id) => {
      const [row] = await select(organizationId, [Prisma.sql`c.id = ${id}`], 1)
      return row ? toRow(row) : null
    },

    contactProfile: async (organizationId, contactId) => {
      const contact = await prisma.contact.findFirst({ where: { id: contactId, organizationId }, select: { id: true, name: true, createdAt: true } })
      if (!contact) return null
      const [identities, conversations, leads] = await Promise.all([
        prisma.contactIdentity.findMany({ where: { organizationId, contactId }, orderBy: { createdAt: 'asc' }, select: { inboxId: true, createdAt: true } }),
        prisma.conversation.count({ where: { organizationId, contactId } }),
        prisma.lead.findMany({ where: { organizationId, contactId }, orderBy: [{ updatedAt: 'desc' }, { id: 'asc' }], take: 100 }),
      ])
      const leadIds = leads.map((l) => l.id)
      const [inboxes, notes, tasks] = await Promise.all([
        prisma.inbox.findMany({ where: { organizationId, id: { in: identities.map((i) => i.inboxId) } }, select: { id: true, channel: true, name: true } }),
        leadIds.length ? prisma.leadNote.findMany({ where: { organizationId, leadId: { in: leadIds } }, orderBy: { createdAt: 'desc' } }) : [],
        leadIds.length ? prisma.leadTask.findMany({ where: { organizationId, leadId: { in: leadIds } }, orderBy: { createdAt: 'desc' } }) : [],
      ])
      const inboxById = new Map(inboxes.map((i) => [i.id, i]))
      return {
        contact,
        identities: identities.flatMap((i) => {
          const inbox = inboxById.get(i.inboxId)
          return inbox ? [{ inboxId: i.inboxId, channel: inbox.channel, inboxName: inbox.name, createdAt: i.createdAt }] : []
        }),
        conversations,
        leads: leads.map((l) => ({
          ...toLead(l),
          notes: notes.filter((n) => n.leadId === l.id).map((n) => ({ id: n.id, text: n.text, createdAt: n.createdAt })),
          tasks: tasks.filter((t) => t.leadId === l.id).map((t) => ({ id: t.id, text: t.text, dueAt: t.dueAt, done: t.done, createdAt: t.createdAt })),
        })),
      }
    },

    eraseContact: (organizationId, contactId) =>
      prisma.$transaction(async (tx): Promise<ContactErasure | null> => {
        const contact = await tx.contact.findFirst({ where: { id: contactId, organizationId }, select: { id: true } })
        if (!contact) return null
        const conversationIds = (await tx.conversation.findMany({ where: { organizationId, contactId }, select: { id: true } })).map((c) => c.id)
        const leadIds = (await tx.lead.findMany({ where: { organizationId, contactId }, select: { id: true } })).map((l) => l.id)
        const inConversations = { organizationId, conversationId: { in: conversationIds } }
        const inLeads = { organizationId, leadId: { in: leadIds } }
        const messages = await tx.message.deleteMany({ where: inConversations })
        const handoffs = await tx.handoff.deleteMany({ where: inConversations })
        await tx.handoffPost.deleteMany({ where: inConversations })
        const notes = await tx.leadNote.deleteMany({ where: inLeads })
        const tasks = await tx.leadTask.deleteMany({ where: inLeads })
        const leads = await tx.lead.deleteMany({ where: { organizationId, contactId } })
        await tx.crmContactLink.deleteMany({ where: { organizationId, contactId } })
        const facts = await tx.contactFact.deleteMany({ where: { organizationId, contactId } })
        await tx.channelAdmin.deleteMany({ where: { organizationId, contactId } })
        const identities = await tx.contactIdentity.deleteMany({ where: { organizationId, contactId } })
        const conversations = await tx.conversation.deleteMany({ where: { organizationId, contactId } })
        await tx.contact.deleteMany({ where: { id: contactId, organizationId } })
        return { conversations: conversations.count, messages: messages.count, handoffs: handoffs.count, facts: facts.count, leads: leads.count, notes: notes.count, tasks: tasks.count, identities: identities.count }
      }),
  }
}
