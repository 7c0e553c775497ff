import { AppError } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import type { ContactFact, ContactMemory, CrmPort, Lead } from '../../core/ports.ts'
import type { Database } from './database.ts'
import type * as Models from './generated/models.ts'

const leadNotFound = () => new AppError('not_found', 'Lead not found', 404)
/** listLeads returns the most recently updated leads first, at most this many. */
export const MAX_LEADS_LISTED = 500

/** A lead row as core's Lead. */
export const toLead = (l: Models.LeadModel): Lead => ({
  id: l.id,
  organizationId: l.organizationId,
  contactId: l.contactId,
  conversationId: l.conversationId,
  title: l.title,
  value: l.value,
  stage: l.stage,
  owner: l.owner,
  createdAt: l.createdAt,
  updatedAt: l.updatedAt,
})

/** The built-in CRM records (leads, notes, tasks). Every query filters by organizationId. */
export function createPrismaCrm(db: Database): CrmPort {
  const prisma = db.prisma

  return {
    upsertLead: async (input) => {
      const { organizationId, contactId } = input
      if (input.leadId === undefined) {
        const created = await prisma.lead.create({
          data: { id: newId(), organizationId, contactId, conversationId: input.conversationId, title: input.title, value: input.value ?? null },
        })
        return toLead(created)
      }
      // Only a lead of the same organization and contact is updated; `value: undefined` keeps the old value.
      const { count } = await prisma.lead.updateMany({
        where: { id: input.leadId, organizationId, contactId },
        data: { title: input.title, ...(input.value !== undefined ? { value: input.value } : {}), updatedAt: new Date() },
      })
      if (count === 0) throw leadNotFound()
      const lead = await prisma.lead.findFirst({ where: { id: input.leadId, organizationId } })
      if (!lead) throw leadNotFound()
      return toLead(lead)
    },

    moveLead: async ({ organizationId, leadId, stage }) => {
      const { count } = await prisma.lead.updateMany({ where: { id: leadId, organizationId }, data: { stage, updatedAt: new Date() } })
      if (count === 0) throw leadNotFound()
      const lead = await prisma.lead.findFirst({ where: { id: leadId, organizationId } })
      if (!lead) throw leadNotFound()
      return toLead(lead)
    },

    addNote: ({ organizationId, leadId, text }) =>
      prisma.$transaction(async (tx) => {
        const { count } = await tx.lead.updateMany({ where: { id: leadId, organizationId }, data: { updatedAt: new Date() } })
        if (count === 0) throw leadNotFound()
        const note = await tx.leadNote.create({ data: { id: newId(), organizationId, leadId, text }, select: { id: true } })
        return { id: note.id }
      }),

    createTask: ({ organizationId, leadId, text, dueAt }) =>
      prisma.$transaction(async (tx) => {
        const { count } = await tx.lead.updateMany({ where: { id: leadId, organizationId }, data: { updatedAt: new Date() } })
        if (count === 0) throw leadNotFound()
        const task = await tx.leadTask.create({ data: { id: newId(), organizationId, leadId, text, dueAt: dueAt ?? null }, select: { id: true } })
        return { id: task.id }
      }),

    listLeads: async (organizationId, input = {}) =>
      (
        await prisma.lead.findMany({
          where: { organizationId, ...(input.contactId !== undefined ? { contactId: input.contactId } : {}) },
          orderBy: [{ updatedAt: 'desc' }, { id: 'asc' }],
          take: MAX_LEADS_LISTED,
        })
      ).map(toLead),
  }
}

/** Durable facts about a contact, one row per (organization, contact, key). */
export function createPrismaContactMemory(db: Database): ContactMemory {
  const prisma = db.prisma

  return {
    list: async (organizationId, contactId) =>
      prisma.contactFact.findMany({
        where: { organizationId, contactId },
        orderBy: { key: 'asc' },
        select: { key: true, value: true, source: true, updatedAt: true },
      }) satisfies Promise<ContactFact[]>,

    remember: async ({ organizationId, contactId, key, value, source }) => {
      // One statement, so two turns remembering the same key at once cannot both insert.
      const now = new Date()
      await prisma.$executeRaw`
        INSERT INTO "ContactFact" (id, "organizationId", "contactId", key, value, source, "createdAt", "updatedAt")
        VALUES (${newId()}, ${organizationId}, ${contactId}, ${key}, ${value}, ${source ?? 'agent'}, ${now}, ${now})
        ON CONFLICT ("organizationId", "contactId", key)
        DO UPDATE SET value = EXCLUDED.value, source = EXCLUDED.source, "updatedAt" = EXCLUDED."updatedAt"`
    },

    forget: async (organizationId, contactId, key) => {
      const { count } = await prisma.contactFact.deleteMany({ where: { organizationId, contactId, ...(key !== undefined ? { key } : {}) } })
      return count
    },
  }
}
