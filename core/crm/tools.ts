import { z } from 'zod'
import { AppError } from '../errors.ts'
import type { ContactMemory, CrmPort, Lead, ToolCall, ToolSpec } from '../ports.ts'

/** The stages of the built-in pipeline, in order. */
export const PIPELINE_STAGES = ['new', 'qualified', 'proposal', 'negotiation', 'won', 'lost'] as const
export type LeadStage = (typeof PIPELINE_STAGES)[number]

/** Who the model is acting for: the turn's organization, contact and conversation, never taken from the model. */
export type ToolContext = { organizationId: string; contactId: string; conversationId: string }
/** `result` and `error` are what the model reads back as the tool message. `handoff` = a person now owns the conversation. */
export type ToolOutcome = { ok: true; result: string; handoff?: boolean } | { ok: false; error: string }
export type ToolRegistry = {
  /** The built-in CRM's tool definitions. */
  specs: ToolSpec[]
  /** The definitions the model sees for one organization: move_lead_stage lists the stages of its CRM (Kommo's pipeline, when connected). */
  specsFor(organizationId: string): Promise<ToolSpec[]>
  /**
   * Validates the call and runs it. Anything the model can fix (bad JSON, invalid arguments, an
   * unknown tool, a lead that is not this contact's, an AppError from the port) comes back as
   * `{ ok: false, error }` and nothing is written. Unexpected errors (the database is down) are thrown.
   */
  execute(call: ToolCall, ctx: ToolContext): Promise<ToolOutcome>
}
export type AgentToolDeps = {
  crm: CrmPort
  memory: ContactMemory
  /** Opens a handoff for the conversation (and puts it into the `handoff` state). */
  openHandoff: (input: { organizationId: string; conversationId: string; reason: string }) => Promise<void>
}

const leadId = z.string().trim().min(1, 'must not be empty').max(100).describe('The lead_id returned by create_or_update_lead')

const schemas = {
  handoff_to_human: z.strictObject({
    reason: z.string().trim().min(1, 'must not be empty').max(500).describe('Why a person should take over, in one short sentence'),
  }),
  create_or_update_lead: z.strictObject({
    title: z.string().trim().min(1, 'must not be empty').max(200).describe('What the customer wants, e.g. "Pro plan for 12 seats"'),
    value: z.number().min(0).optional().describe('Estimated deal value in the business currency'),
    lead_id: leadId.optional().describe('Give it to update an existing lead of this customer; omit it to create a new lead'),
  }),
  move_lead_stage: z.strictObject({
    lead_id: leadId,
    stage: z.enum(PIPELINE_STAGES).describe('The new pipeline stage'),
  }),
  add_note: z.strictObject({
    lead_id: leadId,
    text: z.string().trim().min(1, 'must not be empty').max(2000).describe('The note for the sales team'),
  }),
  create_task: z.strictObject({
    lead_id: leadId,
    text: z.string().trim().min(1, 'must not be empty').max(500).describe('What someone from the team must do'),
    due_at: z.iso
      .datetime({ offset: true, error: 'expected an ISO 8601 date-time with a time zone, e.g. 2026-05-01T15:00:00Z' })
      .optional()
      .describe('When it is due, ISO 8601 with a time zone, e.g. 2026-05-01T15:00:00Z'),
  }),
  assign_lead: z.strictObject({
    lead_id: leadId,
    user: z.string().trim().min(1, 'must not be empty').max(200).describe('The person of the team, exactly as the CRM names them'),
  }),
  remember_fact: z.strictObject({
    key: z.string().trim().toLowerCase().min(1, 'must not be empty').max(64).describe('A short stable key, e.g. "name", "company", "need", "budget"'),
    value: z.string().trim().min(1, 'must not be empty').max(500).describe('What the customer said, in a few words'),
  }),
} as const
type ToolName = keyof typeof schemas
type Args<N extends ToolName> = z.infer<(typeof schemas)[N]>

const descriptions: Record<ToolName, string> = {
  handoff_to_human:
    'Hand the conversation to a person from the team. Use it when the customer asks for a human, is upset, or needs something you cannot do or answer from the knowledge base. After it, tell the customer a person will reply and stop.',
  create_or_update_lead:
    'Record a sales opportunity for this customer in the CRM (a lead), or update the title or value of one of their leads. Returns the lead_id to use with the other CRM tools.',
  move_lead_stage: `Move one of this customer's leads to another pipeline stage (${PIPELINE_STAGES.join(', ')}).`,
  add_note: "Add a note to one of this customer's leads, for the sales team to read.",
  create_task: "Create a follow-up task on one of this customer's leads, e.g. call back or send an offer, optionally with a due date.",
  assign_lead: "Make a person of the team responsible for one of this customer's leads in the CRM, e.g. the one the customer asked for or who handles their region.",
  remember_fact:
    'Remember a durable fact about this customer (their name, company, need, budget, preferences) so it is known in later conversations. The same key overwrites the old value. Do not store passwords or payment card data.',
}

/** JSON Schema for a tool's parameters: zod's output without `$schema`, and without the long regex zod adds to date-times. */
function parametersOf(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, {
    override: (ctx) => {
      const node = ctx.jsonSchema as Record<string, unknown>
      if (node.format === 'date-time') delete node.pattern
    },
  }) as Record<string, unknown>
  const { $schema: _ignored, ...rest } = json
  return rest
}

const describeIssues = (error: z.ZodError) =>
  error.issues
    .map((i) => {
      const where = i.path.length ? i.path.join('.') : 'arguments'
      const message = i.code === 'invalid_value' && 'values' in i ? `expected one of ${i.values.map(String).join('|')}` : i.message
      return `${where}: ${message}`
    })
    .join('; ')

const fail = (error: string): ToolOutcome => ({ ok: false, error })
const done = (result: Record<string, unknown>, extra: { handoff?: boolean } = {}): ToolOutcome => ({ ok: true, result: JSON.stringify(result), ...extra })
const leadView = (lead: Lead) => ({ lead_id: lead.id, title: lead.title, value: lead.value, stage: lead.stage })

/** The tools the answering model may call: CRM actions on the current contact, contact memory, handoff. */
export function createAgentTools(deps: AgentToolDeps): ToolRegistry {
  const { crm, memory } = deps

  /** The lead, when it belongs to this organization and this contact; otherwise an error the model can act on. */
  async function ownLead(ctx: ToolContext, id: string): Promise<Lead | string> {
    const leads = await crm.listLeads(ctx.organizationId, { contactId: ctx.contactId })
    const lead = leads.find((l) => l.id === id)
    if (lead) return lead
    const known = leads.slice(0, 5).map((l) => l.id)
    return `lead_id "${id}" is not a lead of this customer. ${known.length ? `Their leads: ${known.join(', ')}.` : 'They have no lead yet.'} Create one with create_or_update_lead (without lead_id).`
  }

  const handlers: { [N in ToolName]: (args: Args<N>, ctx: ToolContext) => Promise<ToolOutcome> } = {
    handoff_to_human: async (args, ctx) => {
      await deps.openHandoff({ organizationId: ctx.organizationId, conversationId: ctx.conversationId, reason: args.reason })
      return done({ handoff: 'opened', instruction: 'A person from the team will reply in this conversation. Tell the customer so, briefly, and stop.' }, { handoff: true })
    },
    create_or_update_lead: async (args, ctx) => {
      if (args.lead_id !== undefined) {
        const existing = await ownLead(ctx, args.lead_id)
        if (typeof existing === 'string') return fail(existing)
      }
      const lead = await crm.upsertLead({
        organizationId: ctx.organizationId,
        contactId: ctx.contactId,
        conversationId: ctx.conversationId,
        title: args.title,
        ...(args.value !== undefined ? { value: args.value } : {}),
        ...(args.lead_id !== undefined ? { leadId: args.lead_id } : {}),
      })
      return done({ ...leadView(lead), created: args.lead_id === undefined })
    },
    move_lead_stage: async (args, ctx) => {
      const existing = await ownLead(ctx, args.lead_id)
      if (typeof existing === 'string') return fail(existing)
      const lead = await crm.moveLead({ organizationId: ctx.organizationId, leadId: existing.id, stage: args.stage })
      return done({ lead_id: lead.id, stage: lead.stage, previous_stage: existing.stage })
    },
    add_note: async (args, ctx) => {
      const existing = await ownLead(ctx, args.lead_id)
      if (typeof existing === 'string') return fail(existing)
      const note = await crm.addNote({ organizationId: ctx.organizationId, leadId: existing.id, text: args.text })
      return done({ note_id: note.id, lead_id: existing.id })
    },
    create_task: async (args, ctx) => {
      const existing = await ownLead(ctx, args.lead_id)
      if (typeof existing === 'string') return fail(existing)
      const dueAt = args.due_at !== undefined ? new Date(args.due_at) : null
      const task = await crm.createTask({ organizationId: ctx.organizationId, leadId: existing.id, text: args.text, dueAt })
      return done({ task_id: task.id, lead_id: existing.id, due_at: dueAt ? dueAt.toISOString() : null })
    },
    assign_lead: async (args, ctx) => {
      const existing = await ownLead(ctx, args.lead_id)
      if (typeof existing === 'string') return fail(existing)
      if (!crm.assignLead) return fail('assign_lead is not available: the CRM has no users to give leads to')
      const lead = await crm.assignLead({ organizationId: ctx.organizationId, leadId: existing.id, user: args.user })
      return done({ lead_id: lead.id, responsible: args.user })
    },
    remember_fact: async (args, ctx) => {
      await memory.remember({ organizationId: ctx.organizationId, contactId: ctx.contactId, key: args.key, value: args.value, source: 'agent' })
      return done({ remembered: true, key: args.key, value: args.value })
    },
  }

  const names = Object.keys(schemas) as ToolName[]
  // assign_lead is offered only where the CRM has people to give leads to (specsFor).
  const specs: ToolSpec[] = names.filter((n) => n !== 'assign_lead').map((name) => ({ name, description: descriptions[name], parameters: parametersOf(schemas[name]) }))
  const assignSchema = (users: readonly [string, ...string[]]) => z.strictObject({ lead_id: leadId, user: z.enum(users).describe('The person of the team, exactly as the CRM names them') })
  async function usersOf(organizationId: string): Promise<[string, ...string[]] | null> {
    const users = crm.assignLead ? ((await crm.users?.(organizationId)) ?? null) : null
    return users && users.length ? (users as [string, ...string[]]) : null
  }

  /** move_lead_stage with the organization's own stages, when its CRM names them. */
  const stageSchema = (stages: readonly [string, ...string[]]) => z.strictObject({ lead_id: leadId, stage: z.enum(stages).describe('The new pipeline stage, exactly as the CRM names it') })
  async function stagesOf(organizationId: string): Promise<[string, ...string[]] | null> {
    const stages = (await crm.stages?.(organizationId)) ?? null
    return stages && stages.length ? (stages as [string, ...string[]]) : null
  }
  async function specsFor(organizationId: string): Promise<ToolSpec[]> {
    const [stages, users] = [await stagesOf(organizationId), await usersOf(organizationId)]
    const withStages = stages ? specs.map((s) => (s.name === 'move_lead_stage' ? { ...s, description: `Move one of this customer's leads to another stage of the sales pipeline (${stages.join(', ')}).`, parameters: parametersOf(stageSchema(stages)) } : s)) : specs
    return users ? [...withStages, { name: 'assign_lead', description: descriptions.assign_lead, parameters: parametersOf(assignSchema(users)) }] : withStages
  }

  async function execute(call: ToolCall, ctx: ToolContext): Promise<ToolOutcome> {
    if (!Object.hasOwn(schemas, call.name)) return fail(`unknown tool "${call.name}"; available tools: ${names.join(', ')}`)
    const name = call.name as ToolName
    let raw: unknown
    try {
      // Some models send an empty string for "no arguments".
      raw = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments)
    } catch (error) {
      return fail(`arguments are not valid JSON (${(error as Error).message}); send one JSON object, e.g. ${exampleOf(name)}`)
    }
    const stages = name === 'move_lead_stage' ? await stagesOf(ctx.organizationId) : null
    const users = name === 'assign_lead' ? await usersOf(ctx.organizationId) : null
    if (name === 'assign_lead' && !users) return fail('assign_lead is not available: the CRM has no users to give leads to')
    const parsed = (stages ? stageSchema(stages) : users ? assignSchema(users) : schemas[name]).safeParse(raw)
    if (!parsed.success) return fail(`arguments invalid for ${name}: ${describeIssues(parsed.error)}`)
    try {
      return await (handlers[name] as (args: unknown, ctx: ToolContext) => Promise<ToolOutcome>)(parsed.data, ctx)
    } catch (error) {
      // The port refused (e.g. the lead vanished meanwhile): the model can read and react.
      if (error instanceof AppError) return fail(`${name} failed: ${error.message}`)
      throw error
    }
  }

  return { specs, specsFor, execute }
}

const EXAMPLES: Record<ToolName, Record<string, unknown>> = {
  handoff_to_human: { reason: 'customer asks for a refund' },
  create_or_update_lead: { title: 'Pro plan for 12 seats', value: 1200 },
  move_lead_stage: { lead_id: '<lead_id>', stage: 'qualified' },
  add_note: { lead_id: '<lead_id>', text: 'Wants a demo next week' },
  create_task: { lead_id: '<lead_id>', text: 'Call back', due_at: '2026-05-01T15:00:00Z' },
  assign_lead: { lead_id: '<lead_id>', user: 'Anna Smith' },
  remember_fact: { key: 'name', value: 'Anna' },
}
const exampleOf = (name: ToolName) => JSON.stringify(EXAMPLES[name])
