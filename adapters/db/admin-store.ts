import { newId } from '../../core/ids.ts'
import type { ChannelKind, ConversationState, Invitation, Role, Store } from '../../core/ports.ts'
import type { PrismaClient } from './generated/client.ts'
import type * as Models from './generated/models.ts'

const toInvitation = (i: Models.InvitationModel): Invitation => ({
  id: i.id,
  organizationId: i.organizationId,
  email: i.email,
  role: i.role as Role,
  invitedByUserId: i.invitedByUserId,
  expiresAt: i.expiresAt,
  acceptedAt: i.acceptedAt,
  createdAt: i.createdAt,
})

/** The parts of the Store the admin web adds: members, one-time links, invitations and reports. */
export function createPrismaAdminStore(prisma: PrismaClient): Pick<Store, 'members' | 'passwordResets' | 'invitations' | 'reports'> {
  return {
    members: {
      list: async (organizationId) =>
        (await prisma.membership.findMany({ where: { organizationId }, include: { user: { select: { email: true, name: true } } }, orderBy: { createdAt: 'asc' } })).map((m) => ({
          userId: m.userId,
          email: m.user.email,
          name: m.user.name,
          role: m.role as Role,
          joinedAt: m.createdAt,
        })),
      setRole: async (organizationId, userId, role) => (await prisma.membership.updateMany({ where: { organizationId, userId }, data: { role } })).count > 0,
      remove: async (organizationId, userId) => (await prisma.membership.deleteMany({ where: { organizationId, userId } })).count > 0,
    },

    passwordResets: {
      create: async (input) => {
        await prisma.passwordReset.create({ data: { id: newId(), ...input } })
      },
      consume: async (tokenHash, now) => {
        // One statement uses this link and voids the user's other open links: an older link cannot
        // be used after a newer one, and of two links used at once the second finds its row used
        // when the first commits, and gets nothing back.
        const rows = await prisma.$queryRaw<{ userId: string; tokenHash: string }[]>`
          UPDATE "PasswordReset" SET "usedAt" = ${now}
          WHERE "usedAt" IS NULL
            AND "userId" = (SELECT "userId" FROM "PasswordReset" WHERE "tokenHash" = ${tokenHash} AND "usedAt" IS NULL AND "expiresAt" > ${now})
          RETURNING "userId", "tokenHash"`
        return rows.find((r) => r.tokenHash === tokenHash)?.userId ?? null
      },
    },

    invitations: {
      create: async (input) => toInvitation(await prisma.invitation.create({ data: { id: newId(), ...input } })),
      list: async (organizationId) => (await prisma.invitation.findMany({ where: { organizationId, acceptedAt: null }, orderBy: { createdAt: 'desc' } })).map(toInvitation),
      delete: async (organizationId, id) => (await prisma.invitation.deleteMany({ where: { organizationId, id, acceptedAt: null } })).count > 0,
      find: async (tokenHash) => {
        const i = await prisma.invitation.findUnique({ where: { tokenHash } })
        return i ? toInvitation(i) : null
      },
      accept: async (tokenHash, now) => {
        const { count } = await prisma.invitation.updateMany({ where: { tokenHash, acceptedAt: null, expiresAt: { gt: now } }, data: { acceptedAt: now } })
        if (count !== 1) return null
        return toInvitation((await prisma.invitation.findUnique({ where: { tokenHash } }))!)
      },
    },

    reports: {
      responses: async (organizationId, { from, to, bucket }) => {
        const rows = await prisma.$queryRawUnsafe<{ period: string; channel: string; agentId: string; responses: bigint }[]>(
          // The plan's definition of a response: a customer message that kept its reservation (billing's
          // UsageReservation). Commands, handoffs, refusals, failed turns and test chats never count,
          // so these figures add up to what the quota says was used.
          `SELECT to_char(date_trunc($4, r."createdAt"), 'YYYY-MM-DD') AS period, i.channel, i."agentId", count(*) AS responses
           FROM "UsageReservation" r
             JOIN "Message" m ON m.id = r."messageId" AND m."organizationId" = r."organizationId"
             JOIN "Inbox" i ON i.id = m."inboxId"
           WHERE r."organizationId" = $1 AND r."createdAt" >= $2 AND r."createdAt" < $3
           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
          organizationId,
          from,
          to,
          bucket,
        )
        return rows.map((r) => ({ period: r.period, channel: r.channel as ChannelKind, agentId: r.agentId, responses: Number(r.responses) }))
      },
      conversationStats: async (organizationId, { from, to }) => {
        const [row] = await prisma.$queryRawUnsafe<{ conversations: bigint; handoffs: bigint }[]>(
          `SELECT
             (SELECT count(*) FROM "Conversation" c JOIN "Inbox" i ON i.id = c."inboxId"
               WHERE c."organizationId" = $1 AND c."createdAt" >= $2 AND c."createdAt" < $3 AND i.purpose <> 'test') AS conversations,
             (SELECT count(DISTINCT h."conversationId") FROM "Handoff" h
               WHERE h."organizationId" = $1 AND h."createdAt" >= $2 AND h."createdAt" < $3) AS handoffs`,
          organizationId,
          from,
          to,
        )
        return { conversations: Number(row?.conversations ?? 0), handoffs: Number(row?.handoffs ?? 0) }
      },
      conversations: async (organizationId, { from, to, limit }) => {
        const rows = await prisma.$queryRawUnsafe<
          { id: string; channel: string; agentId: string; agentName: string | null; state: string; contactName: string | null; messages: bigint; createdAt: Date; lastMessageAt: Date }[]
        >(
          `SELECT c.id, i.channel, c."agentId", a.name AS "agentName", c.state, ct.name AS "contactName",
                  (SELECT count(*) FROM "Message" m WHERE m."conversationId" = c.id) AS messages, c."createdAt", c."lastMessageAt"
           FROM "Conversation" c
           JOIN "Inbox" i ON i.id = c."inboxId"
           LEFT JOIN "Agent" a ON a.id = c."agentId"
           LEFT JOIN "Contact" ct ON ct.id = c."contactId"
           WHERE c."organizationId" = $1 AND c."lastMessageAt" >= $2 AND c."lastMessageAt" < $3
           ORDER BY c."lastMessageAt" DESC LIMIT $4`,
          organizationId,
          from,
          to,
          limit,
        )
        return rows.map((r) => ({ ...r, channel: r.channel as ChannelKind, agentName: r.agentName ?? '', state: r.state as ConversationState, messages: Number(r.messages) }))
      },
      inboxes: async (organizationId) => {
        const rows = await prisma.$queryRawUnsafe<
          { id: string; agentId: string; agentName: string | null; channel: string; name: string; publicKey: string | null; lastMessageAt: Date | null; failedReplies: bigint; lastError: string | null }[]
        >(
          `SELECT i.id, i."agentId", a.name AS "agentName", i.channel, i.name, i."publicKey",
                  (SELECT max(m."createdAt") FROM "Message" m WHERE m."inboxId" = i.id AND m.direction = 'in') AS "lastMessageAt",
                  (SELECT count(*) FROM "Message" m WHERE m."inboxId" = i.id AND m.direction = 'out' AND m.status = 'failed' AND m."createdAt" > now() - interval '7 days') AS "failedReplies",
                  (SELECT m.error FROM "Message" m WHERE m."inboxId" = i.id AND m.status = 'failed' AND m.error IS NOT NULL ORDER BY m."createdAt" DESC LIMIT 1) AS "lastError"
           FROM "Inbox" i LEFT JOIN "Agent" a ON a.id = i."agentId"
           WHERE i."organizationId" = $1 AND i.purpose <> 'test'
           ORDER BY a.name, i.channel, i.name`,
          organizationId,
        )
        return rows.map((r) => ({ ...r, agentName: r.agentName ?? '', channel: r.channel as ChannelKind, failedReplies: Number(r.failedReplies) }))
      },
      billingEvents: async (organizationId, limit) =>
        prisma.billingEvent.findMany({ where: { organizationId }, orderBy: { occurredAt: 'desc' }, take: limit, select: { id: true, provider: true, type: true, occurredAt: true, result: true } }),
    },
  }
}
