import { createHash, randomInt } from 'node:crypto'
import { z } from 'zod'
import { AppError } from '../errors.ts'
import type { Agent, ChannelAdapter, ChannelAdmin, ChannelKind, ChatModel, Choice, CrmPort, KnowledgeSource, Logger, Store } from '../ports.ts'
import type { AgentService } from '../agents/agent-service.ts'
import type { ChatStep, OnboardingService } from '../agents/onboarding.ts'
import type { KnowledgeService } from '../knowledge/knowledge-service.ts'
import { ingestStage } from '../knowledge/knowledge-service.ts'
import type { QuotaService } from '../billing/quota.ts'
import type { Step, TurnContext } from '../conversation/pipeline.ts'
import { hasRole, requireRole, type Principal } from '../tenancy/auth-service.ts'
import { commandChoice, commandOf, customerCommands } from './registry.ts'

/** How long a link code stays valid. */
export const LINK_CODE_TTL_MS = 15 * 60 * 1000
// No 0/O, 1/I/L: codes are read off one screen and typed on another.
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789'
const CODE = /^[A-Z2-9]{10}$/
/** Links the sender's chat to their Switchboard account: `link <code>` on every channel (Telegram also takes `/start <code>`). */
export const LINK_COMMAND = 'link'
/**
 * The admin console's commands. Replies name them as /name; a channel where commands are typed
 * otherwise (Slack: /switchboard name) writes them its way when it sends.
 */
export const ADMIN_COMMAND_NAMES = ['agents', 'agent', 'newagent', 'prompt', 'model', 'temperature', 'kb', 'forget', 'search', 'test', 'usage', 'plan', 'handoffs', 'operators', 'crm', 'setup', 'cancel', 'help'] as const
export const hashLinkCode = (code: string) => createHash('sha256').update(code.trim().toUpperCase()).digest('hex')

export type AdminReply = { text: string; choices?: Choice[] }
type Run = (input: { ctx: TurnContext; admin: ChannelAdmin; agent: Agent; args: string }) => Promise<AdminReply | null>
export type AdminCommand = { name: string; description: string; run: Run }

const temperature = z.coerce.number({ error: 'expected a number' }).min(0, 'at least 0').max(2, 'at most 2')
const modelName = z.string().trim().min(1).max(200).regex(/^[\w.:/@+-]+$/, 'letters, digits and . : / @ + - _ only')
const agentName = z.string().trim().min(1, 'give the agent a name').max(120, 'at most 120 characters')
const instructions = z.string().trim().min(1, 'write the instructions after /prompt').max(20_000, 'at most 20,000 characters')
/** Offered as buttons by /model; any model name of the configured provider works. */
const SUGGESTED_MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini']
const problem = (error: z.ZodError) => error.issues.map((i) => i.message).join('; ')
const statusMark: Record<KnowledgeSource['status'], string> = { queued: '⏳', processing: '⏳', ready: '✅', failed: '❌' }
const pct = (n: number) => `${Math.round(n * 100)}%`

/**
 * Switchboard run from a messenger chat: an admin links their chat with a one-time code, then
 * configures agents, knowledge and handoffs with commands. Channel-neutral: the channel adapter
 * only renders choices as buttons and sets the command menu.
 */
export function createAdminConsole(deps: {
  store: Store
  agents: AgentService
  knowledge: KnowledgeService
  quota: QuotaService
  chatModel: ChatModel
  channels: ReadonlyMap<ChannelKind, ChannelAdapter>
  maxFileBytes: number
  logger: Logger
  /** The CRM's own account of itself, for /crm. */
  crm?: Pick<CrmPort, 'describe'>
  now?: () => Date
  /** How often the progress message of an upload is refreshed. */
  progressEveryMs?: number
  /** The organization's first-run setup, walked through in the chat by an admin of an organization without agents. */
  onboarding?: OnboardingService
}) {
  const { store } = deps
  const now = () => deps.now?.() ?? new Date()

  /** Admins link to run admin commands; operators link to take handoffs where operators work. */
  async function createLinkCode(principal: Principal): Promise<{ code: string; expiresAt: Date }> {
    requireRole(principal, 'operator')
    const code = Array.from({ length: 10 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('')
    const expiresAt = new Date(now().getTime() + LINK_CODE_TTL_MS)
    await store.channelAdmins.createLinkCode({ organizationId: principal.organizationId, userId: principal.userId, codeHash: hashLinkCode(code), expiresAt })
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'channel_admin.link_code_created', data: { expiresAt: expiresAt.toISOString() } })
    return { code, expiresAt }
  }

  /** The linked admin behind this conversation, if they still hold the admin role. */
  async function adminOf(ctx: TurnContext): Promise<ChannelAdmin | null> {
    // Only in the admin's own one-to-one chat with the bot: never in a group, whoever wrote there first.
    if (ctx.message.meta.privateThread !== true) return null
    const admin = await store.channelAdmins.findByContact(ctx.conversation.organizationId, ctx.conversation.contactId)
    if (!admin || admin.inboxId !== ctx.inbox.id || admin.externalThreadId !== ctx.conversation.externalThreadId) return null
    const membership = await store.users.membership(admin.userId, admin.organizationId)
    return membership && hasRole({ ...membership }, 'admin') ? admin : null
  }

  async function redeem(ctx: TurnContext, code: string): Promise<AdminReply> {
    const invalid = { text: 'This link code is not valid: it may have expired (codes last 15 minutes) or been used already. Make a new one in the admin web or with `npm run cli -- telegram link-code`.' }
    if (ctx.message.meta.privateThread !== true) return { text: 'Send the link code to me in a private chat, not in a group.' }
    if (!CODE.test(code.toUpperCase())) return invalid
    const organizationId = ctx.conversation.organizationId
    const owner = await store.channelAdmins.consumeLinkCode({ codeHash: hashLinkCode(code), organizationId, now: now() })
    if (!owner) return invalid
    const membership = await store.users.membership(owner.userId, organizationId)
    if (!membership || !hasRole(membership, 'operator')) return invalid
    const admin = await store.channelAdmins.link({ organizationId, userId: owner.userId, inboxId: ctx.inbox.id, contactId: ctx.conversation.contactId, externalThreadId: ctx.conversation.externalThreadId, currentAgentId: ctx.agent.id })
    await store.audit.record({ organizationId, actorUserId: owner.userId, action: 'channel_admin.linked', target: admin.id, data: { inboxId: ctx.inbox.id, channel: ctx.inbox.channel } })
    if (!hasRole(membership, 'admin')) return { text: 'You are linked as an operator: you can take conversations in the operators’ group.' }
    await setMenu(ctx, true)
    // The first admin linked while the organization's setup is not done is walked through it here.
    if (await setupOffered(organizationId)) return { text: `You are linked as an admin of this workspace.\n\n${await startSetup(admin, ctx.agent)}` }
    return { text: `You are linked as an admin of this workspace. Your commands act on the agent "${ctx.agent.name}".\n\n${helpText()}` }
  }

  async function setMenu(ctx: TurnContext, admin: boolean) {
    const channel = deps.channels.get(ctx.inbox.channel)
    if (!channel?.setCommandMenu) return
    const commands = [...customerCommands, ...(admin ? adminCommands : [])].map((c) => ({ name: c.name, description: c.description }))
    await channel.setCommandMenu({ inbox: ctx.inbox, externalThreadId: ctx.conversation.externalThreadId, commands }).catch((error: unknown) => ctx.log.warn({ err: (error as Error).message }, 'could not set the admin command menu'))
  }

  const helpText = () => `Admin commands:\n${adminCommands.map((c) => `/${c.name} - ${c.description}`).join('\n')}\n\nSend a document or a link to add it to the current agent's knowledge.`

  const audit = (admin: ChannelAdmin, action: string, target: string, data: Record<string, unknown> = {}) =>
    store.audit.record({ organizationId: admin.organizationId, actorUserId: admin.userId, action, target, data: { ...data, via: 'chat' } })

  async function updateAgent(admin: ChannelAdmin, agent: Agent, patch: Parameters<Store['agents']['update']>[2]) {
    const updated = await store.agents.update(admin.organizationId, agent.id, patch)
    if (!updated) throw new AppError('not_found', 'The agent no longer exists', 404)
    await audit(admin, 'agent.updated', agent.id, { fields: Object.keys(patch) })
    return updated
  }

  const sourcesOf = async (organizationId: string, agentId: string) => (await store.knowledge.listSources(organizationId)).filter((s) => s.agentId === agentId || s.agentId === null)

  const adminCommands: AdminCommand[] = [
    {
      name: 'agents',
      description: 'List the agents; pick one to work on',
      async run({ admin, agent }) {
        const all = await store.agents.list(admin.organizationId)
        return { text: `Agents:\n${all.map((a) => `${a.id === agent.id ? '▶' : '•'} ${a.name}`).join('\n')}\n\nPick one, or /newagent <name>.`, choices: all.map((a) => commandChoice({ name: 'agent', args: a.id }, a.name)) }
      },
    },
    {
      name: 'agent',
      description: 'Switch to another agent: /agent <name>',
      async run({ admin, agent, args }) {
        const all = await store.agents.list(admin.organizationId)
        if (!args) return { text: `You are working on "${agent.name}". Switch to:`, choices: all.map((a) => commandChoice({ name: 'agent', args: a.id }, a.name)) }
        const wanted = args.toLowerCase()
        const target = all.find((a) => a.id === args) ?? all.find((a) => a.name.toLowerCase() === wanted)
        if (!target) return { text: `There is no agent called "${args}". /agents lists them.` }
        await store.channelAdmins.setCurrentAgent(admin.organizationId, admin.id, target.id)
        await audit(admin, 'channel_admin.agent_switched', target.id)
        return { text: `Now working on "${target.name}".` }
      },
    },
    {
      name: 'newagent',
      description: 'Create an agent: /newagent <name>',
      async run({ admin, args }) {
        const name = agentName.safeParse(args)
        if (!name.success) return { text: `Usage: /newagent <name> (${problem(name.error)})` }
        const existing = await store.agents.list(admin.organizationId)
        await deps.quota.checkCap({ organizationId: admin.organizationId, kind: 'agents', adding: 1, current: existing.length })
        const { agent } = await deps.agents.createFor(admin.organizationId, { name: name.data }, admin.userId)
        await store.channelAdmins.setCurrentAgent(admin.organizationId, admin.id, agent.id)
        return { text: `Created "${agent.name}" and switched to it. Give it instructions with /prompt <text>.` }
      },
    },
    {
      name: 'prompt',
      description: "Set the agent's instructions: /prompt <text>",
      async run({ admin, agent, args }) {
        if (!args) {
          await store.channelAdmins.setPendingCommand(admin.organizationId, admin.id, 'prompt')
          return { text: `Instructions of "${agent.name}":\n\n${agent.instructions || '(none yet)'}\n\nWhat should the new instructions be? Send them as your next message (or /cancel).` }
        }
        const parsed = instructions.safeParse(args)
        if (!parsed.success) return { text: `Not changed: ${problem(parsed.error)}.` }
        await updateAgent(admin, agent, { instructions: parsed.data })
        return { text: `Instructions of "${agent.name}" updated (${parsed.data.length} characters). Try them with /test <question>.` }
      },
    },
    {
      name: 'model',
      description: 'Show or set the model: /model <name> or /model default',
      async run({ admin, agent, args }) {
        if (!args) {
          const known = [...new Set([...agent.fallbacks.map((f) => f.model), ...SUGGESTED_MODELS])].filter((m) => m !== agent.model).slice(0, 5)
          return {
            text: `"${agent.name}" answers with ${agent.model ?? 'the default model'}. Pick one, or send /model <name>; /model default goes back.`,
            choices: [...known.map((m) => commandChoice({ name: 'model', args: m }, m)), ...(agent.model ? [commandChoice({ name: 'model', args: 'default' }, 'Default model')] : [])],
          }
        }
        if (args.toLowerCase() === 'default') {
          await updateAgent(admin, agent, { model: null })
          return { text: `"${agent.name}" now uses the default model.` }
        }
        const parsed = modelName.safeParse(args)
        if (!parsed.success) return { text: `Not changed: ${problem(parsed.error)}.` }
        await updateAgent(admin, agent, { model: parsed.data })
        return { text: `"${agent.name}" now answers with ${parsed.data}.` }
      },
    },
    {
      name: 'temperature',
      description: 'Show or set the temperature (0 to 2): /temperature 0.3',
      async run({ admin, agent, args }) {
        if (!args) return { text: `Temperature of "${agent.name}": ${agent.temperature}. Set it with /temperature <0..2>.` }
        const parsed = temperature.safeParse(args.replace(',', '.'))
        if (!parsed.success) return { text: `Not changed: the temperature must be a number from 0 to 2 (${problem(parsed.error)}).` }
        await updateAgent(admin, agent, { temperature: parsed.data })
        return { text: `Temperature of "${agent.name}" set to ${parsed.data}.` }
      },
    },
    {
      name: 'kb',
      description: 'The knowledge sources with their status',
      async run({ admin, agent }) {
        const sources = await sourcesOf(admin.organizationId, agent.id)
        if (!sources.length) return { text: `"${agent.name}" has no knowledge yet. Send me a document or a link to add some.` }
        const lines = sources.map((s) => `${statusMark[s.status]} ${s.title} (${s.status === 'processing' ? `${ingestStage(s)} ${Math.round(s.progress)}%` : s.status === 'failed' ? `failed: ${s.error ?? 'unknown error'}` : `${s.chunkCount} passages`}${s.agentId === null ? ', shared' : ''})`)
        return { text: `Knowledge of "${agent.name}":\n${lines.join('\n')}\n\nRemove one with /forget <title>.` }
      },
    },
    {
      name: 'forget',
      description: 'Remove a knowledge source: /forget <title>',
      async run({ admin, agent, args }) {
        if (!args) return { text: 'Usage: /forget <title of the source> (see /kb).' }
        const sources = await sourcesOf(admin.organizationId, agent.id)
        const wanted = args.toLowerCase()
        const exact = sources.filter((s) => s.id === args || s.title.toLowerCase() === wanted)
        const matches = exact.length ? exact : sources.filter((s) => s.title.toLowerCase().includes(wanted))
        if (!matches.length) return { text: `No source matches "${args}". /kb lists them.` }
        if (matches.length > 1) return { text: `"${args}" matches ${matches.length} sources; which one?`, choices: matches.slice(0, 8).map((s) => commandChoice({ name: 'forget', args: s.id }, s.title.slice(0, 60))) }
        await deps.knowledge.deleteSource(admin.organizationId, matches[0]!.id, admin.userId)
        return { text: `Removed "${matches[0]!.title}" and every passage of it.` }
      },
    },
    {
      name: 'search',
      description: 'Search the knowledge as the agent sees it: /search <query>',
      async run({ admin, agent, args }) {
        if (!args) return { text: 'Usage: /search <query>' }
        const result = await deps.knowledge.search({ organizationId: admin.organizationId, agentId: agent.id, query: args, limit: 5 })
        if (!result.passages.length) return { text: `Nothing found for "${args}".` }
        return { text: `Top passages for "${args}" (confidence ${pct(result.confidence)}):\n\n${result.passages.map((p, i) => `${i + 1}. [${p.score.toFixed(3)}] ${p.title}${p.heading ? ` › ${p.heading}` : ''}\n${p.text.slice(0, 200)}${p.text.length > 200 ? '…' : ''}`).join('\n\n')}` }
      },
    },
    {
      name: 'test',
      description: 'Ask the agent without using the plan: /test <question>',
      async run({ ctx, admin, agent, args }) {
        if (!args) return { text: 'Usage: /test <question>' }
        const search = await deps.knowledge.search({ organizationId: admin.organizationId, agentId: agent.id, query: args })
        const answer = await deps.chatModel.answer({ agent, question: args, history: [], passages: search.passages, relevant: search.relevant, context: { organizationId: admin.organizationId, contactId: ctx.conversation.contactId, conversationId: ctx.conversation.id } })
        for (const call of answer.calls ?? []) await store.usage.recordApiCall({ organizationId: admin.organizationId, agentId: agent.id, kind: 'chat', ...call })
        const scores = search.passages.slice(0, 5).map((p) => `[${p.score.toFixed(3)}] ${p.title}${p.heading ? ` › ${p.heading}` : ''}`)
        return { text: `${answer.text}\n\n— test of "${agent.name}" (not counted in the plan)\nRetrieval (confidence ${pct(search.confidence)}${search.relevant ? '' : ', below the relevance threshold'}):\n${scores.length ? scores.join('\n') : '(no passages)'}` }
      },
    },
    {
      name: 'usage',
      description: 'Responses used in this period',
      async run({ admin }) {
        const s = await deps.quota.summary(admin.organizationId)
        return { text: `Responses this period (${s.period.start.toISOString().slice(0, 10)} to ${s.period.end.toISOString().slice(0, 10)}): ${s.used}${s.limit === null ? ' (unlimited)' : ` of ${s.limit}, ${s.remaining} left`}.` }
      },
    },
    {
      name: 'plan',
      description: 'The plan and its limits',
      async run({ admin }) {
        const plan = await deps.quota.plan(admin.organizationId)
        const cap = (n: number | null) => (n === null ? 'unlimited' : String(n))
        return { text: `Plan: ${plan.name}. Responses per period: ${cap(plan.responsesPerPeriod)}; agents: ${cap(plan.limits.agents)}; channels: ${cap(plan.limits.channels)}; knowledge passages: ${cap(plan.limits.chunks)}. Change the plan in the admin web (billing).` }
      },
    },
    {
      name: 'handoffs',
      description: 'Conversations waiting for a person',
      async run({ admin }) {
        const open = [...(await store.handoffs.list(admin.organizationId, 'open')), ...(await store.handoffs.list(admin.organizationId, 'taken'))]
        if (!open.length) return { text: 'No conversation is waiting for a person.' }
        return { text: `Waiting for or with a person (${open.length}):\n${open.slice(0, 20).map((h) => `• ${h.status} since ${h.createdAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (${h.reason.replace(/_/g, ' ')}), conversation ${h.conversationId.slice(0, 8)}`).join('\n')}` }
      },
    },
    {
      name: 'operators',
      description: 'Who can take conversations over',
      async run({ admin }) {
        const members = (await store.members.list(admin.organizationId)).filter((m) => hasRole({ ...m, organizationId: admin.organizationId }, 'operator'))
        return { text: `People who can take conversations (operators and admins):\n${members.map((m) => `• ${m.name} (${m.role})`).join('\n')}` }
      },
    },
    {
      name: 'crm',
      description: 'The CRM: connection, where new leads go, the last leads',
      async run({ admin }) {
        return { text: (await deps.crm?.describe?.(admin.organizationId)) ?? 'The built-in CRM records leads; connect Kommo in the admin web to work in it.' }
      },
    },
    {
      name: 'cancel',
      description: 'Forget a question I asked you',
      async run() {
        return { text: 'OK, nothing changed.' }
      },
    },
    {
      name: 'help',
      description: 'What you can do here',
      async run() {
        return { text: helpText() }
      },
    },
  ]
  // ---- the first-run setup, walked through in the chat (the admin web's wizard does the same steps)
  /** Whether a newly linked admin is walked through the setup: not finished or skipped, nobody walked yet, and started or no knowledge at all. */
  async function setupOffered(organizationId: string): Promise<boolean> {
    if (!deps.onboarding) return false
    const r = await deps.onboarding.record(organizationId)
    if (r.completedAt || r.dismissedAt || r.chatAdminId) return false
    if (Object.keys(r.steps).length > 0 || r.agentId) return true
    return (await store.knowledge.listSources(organizationId)).length === 0
  }

  const SKIP = /^(skip|пропустить)$/i
  const setupPrompt = (step: ChatStep, name: string) =>
    step === 'name'
      ? `Let's set up your agent together, in three short steps (the admin web's Setup page does the same).\n\nStep 1 of 3: what should your agent be called? Send me the name, or "skip" to keep "${name}". /cancel pauses the setup, /setup goes on with it.`
      : step === 'knowledge'
        ? `Step 2 of 3: send me a document (PDF, Word, text, Markdown, HTML or CSV) or a link to a web page, and I will add it to the knowledge of "${name}". Or "skip".`
        : `Step 3 of 3: ask me a question as a customer would, and I will answer as "${name}" from its knowledge, with the sources. Or "skip".`

  /** The setup's agent: the one it made or named, else the agent of the chat's bot. */
  async function setupAgent(organizationId: string, fallback: Agent): Promise<Agent> {
    const r = await deps.onboarding!.record(organizationId)
    return (r.agentId ? await store.agents.get(organizationId, r.agentId) : null) ?? fallback
  }

  /** Starts or resumes the walk-through for this admin at the first step not done; returns its prompt. */
  async function startSetup(admin: ChannelAdmin, chatAgent: Agent): Promise<string> {
    const onboarding = deps.onboarding!
    const agent = await setupAgent(admin.organizationId, chatAgent)
    const view = await onboarding.view(admin.organizationId)
    const step: ChatStep | null = view.steps.agent === 'pending' ? 'name' : view.steps.knowledge === 'pending' ? 'knowledge' : view.steps.test === 'pending' ? 'test' : null
    await onboarding.setChat(admin.organizationId, { chatAdminId: admin.id, chatStep: step, agentId: agent.id })
    if (step) return setupPrompt(step, agent.name)
    return finishSetup(admin, agent)
  }

  async function finishSetup(admin: ChannelAdmin, agent: Agent): Promise<string> {
    // The chat itself is a connected channel: the last step is done by being here.
    await deps.onboarding!.mark({ organizationId: admin.organizationId, actorUserId: admin.userId, step: 'channel', status: 'done' })
    await deps.onboarding!.setChat(admin.organizationId, { chatStep: null })
    return `Setup is done: "${agent.name}" answers your customers here and on its web chat. Connect more channels in the admin web; /help lists what you can do here.`
  }

  /** One message of the admin being walked through the setup; undefined: not part of it (handled as usual). */
  async function setupTurn(input: { ctx: TurnContext; admin: ChannelAdmin; step: ChatStep; command: string | undefined; text: string; upload: boolean }): Promise<AdminReply | undefined> {
    const { ctx, admin, step, command, text, upload } = input
    const onboarding = deps.onboarding!
    const organizationId = admin.organizationId
    const actorUserId = admin.userId
    if (command === 'cancel') {
      await onboarding.setChat(organizationId, { chatStep: null })
      return { text: 'Setup paused; nothing else changed. Send /setup to go on where you left off.' }
    }
    if (command) return undefined
    let agent = await setupAgent(organizationId, ctx.agent)
    const advance = async (from: ChatStep, status: 'done' | 'skipped', before = ''): Promise<AdminReply> => {
      await onboarding.mark({ organizationId, actorUserId, step: from === 'name' ? 'agent' : from, status })
      const nextStep: ChatStep | null = from === 'name' ? 'knowledge' : from === 'knowledge' ? 'test' : null
      await onboarding.setChat(organizationId, { chatStep: nextStep })
      const after = nextStep ? setupPrompt(nextStep, agent.name) : await finishSetup(admin, agent)
      return { text: before ? `${before}\n\n${after}` : after }
    }
    if (!upload && SKIP.test(text)) return advance(step, 'skipped')
    if (step === 'name') {
      if (!text || upload) return { text: setupPrompt('name', agent.name) }
      const name = agentName.safeParse(text)
      if (!name.success) return { text: `Not changed: ${problem(name.error)}. ${setupPrompt('name', agent.name)}` }
      agent = await onboarding.nameAgent({ organizationId, actorUserId, name: name.data })
      await store.channelAdmins.setCurrentAgent(organizationId, admin.id, agent.id)
      return advance('name', 'done', `Your agent is called "${agent.name}".`)
    }
    if (step === 'knowledge') {
      if (!upload) return { text: setupPrompt('knowledge', agent.name) }
      const progress = await ingest(ctx, admin, agent)
      return advance('knowledge', 'done', progress ? progress.text : 'The message above shows how far it is; the answers use it once it shows ✅.')
    }
    if (!text || upload) return { text: setupPrompt('test', agent.name) }
    const answer = await byName.get('test')!.run({ ctx, admin, agent, args: text })
    return advance('test', 'done', answer?.text ?? '')
  }

  adminCommands.push({
    name: 'setup',
    description: 'Set up the agent step by step: name, knowledge, a test question',
    async run({ ctx, admin }) {
      if (!deps.onboarding) return { text: 'The setup is not available here; use the admin web.' }
      const r = await deps.onboarding.record(admin.organizationId)
      if (r.completedAt) return { text: 'Setup is finished already. /help lists what you can do here.' }
      if (r.dismissedAt) await deps.onboarding.dismiss({ organizationId: admin.organizationId, actorUserId: admin.userId, dismissed: false })
      return { text: await startSetup(admin, ctx.agent) }
    },
  })
  // /help and /cancel stay last in the menu.
  adminCommands.sort((a, b) => ADMIN_COMMAND_NAMES.indexOf(a.name as (typeof ADMIN_COMMAND_NAMES)[number]) - ADMIN_COMMAND_NAMES.indexOf(b.name as (typeof ADMIN_COMMAND_NAMES)[number]))

  const byName = new Map(adminCommands.map((c) => [c.name, c]))
  const unlisted = adminCommands.filter((c) => !(ADMIN_COMMAND_NAMES as readonly string[]).includes(c.name))
  if (unlisted.length || adminCommands.length !== ADMIN_COMMAND_NAMES.length) throw new Error(`ADMIN_COMMAND_NAMES does not list the admin commands (${unlisted.map((c) => c.name).join(', ')})`)

  /** A document or a link sent by an admin: added to the current agent's knowledge, with a progress message edited as it goes. */
  async function ingest(ctx: TurnContext, admin: ChannelAdmin, agent: Agent): Promise<AdminReply | null> {
    const channel = deps.channels.get(ctx.inbox.channel)
    const document = ctx.message.attachments.find((a) => a.kind === 'document')
    let source: KnowledgeSource
    if (document) {
      if (!channel?.download) return { text: 'This channel cannot fetch files; upload it in the admin web instead.' }
      const bytes = await channel.download({ attachment: document, inbox: ctx.inbox, maxBytes: deps.maxFileBytes })
      source = await deps.knowledge.addFile({ organizationId: admin.organizationId, agentId: agent.id, filename: document.name ?? 'document', mimeType: document.mimeType, bytes, actorUserId: admin.userId })
    } else {
      source = await deps.knowledge.addUrl({ organizationId: admin.organizationId, agentId: agent.id, url: ctx.message.text!.trim(), actorUserId: admin.userId })
    }
    const to = { conversationId: ctx.conversation.id, externalThreadId: ctx.conversation.externalThreadId }
    const line = (s: KnowledgeSource) =>
      s.status === 'ready' ? `✅ "${s.title}" is in the knowledge of "${agent.name}": ${s.chunkCount} passages.` : s.status === 'failed' ? `❌ "${s.title}" could not be added: ${s.error ?? 'unknown error'}` : `⏳ Adding "${s.title}" to "${agent.name}": ${ingestStage(s)} ${Math.round(s.progress)}%`
    if (!channel?.edit) return { text: `${line(source)}\nSee /kb for its status.` }
    const sent = await channel.send({ to, message: { text: line(source) }, inbox: ctx.inbox, sendKey: `progress:${source.id}` })
    if (!sent.externalMessageId) return null
    // Follows the ingest job outside the turn: the next message of the conversation need not wait for it.
    void (async () => {
      let shown = line(source)
      const deadline = Date.now() + 30 * 60_000
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, deps.progressEveryMs ?? 1000))
        const current = await store.knowledge.getSource(admin.organizationId, source.id)
        if (!current) return
        const text = line(current)
        if (text !== shown) {
          await channel.edit!({ to, externalMessageId: sent.externalMessageId!, text, inbox: ctx.inbox })
          shown = text
        }
        if (current.status === 'ready' || current.status === 'failed') return
      }
    })().catch((error: unknown) => deps.logger.warn({ err: (error as Error).message, sourceId: source.id }, 'progress message not updated'))
    return null
  }

  /** The admin step of the turn: link codes, admin commands and uploads of linked admins; everything else goes on. */
  function step(): Step {
    return {
      name: 'admin',
      async run(ctx, next) {
        const text = ctx.message.text?.trim() ?? ''
        const given = commandOf(ctx.message)
        const name = given?.name.toLowerCase()
        const args = given?.args.trim() ?? ''
        let reply: AdminReply | null | undefined
        if (name === LINK_COMMAND && args) reply = await redeem(ctx, args)
        else {
          const command = name ? byName.get(name) : undefined
          const upload = !given && (ctx.message.attachments.some((a) => a.kind === 'document') || /^https?:\/\/\S+$/i.test(text))
          const admin = await adminOf(ctx)
          // Not a linked admin: the message is the customer's, for the agent.
          if (!admin) return next()
          // Walked through the setup: its answers (a name, a document or link, a test question) come first.
          const setup = deps.onboarding ? await deps.onboarding.record(admin.organizationId) : null
          const walking = setup && setup.chatAdminId === admin.id && setup.chatStep && !setup.completedAt && !setup.dismissedAt ? setup.chatStep : null
          let setupReply: AdminReply | undefined
          if (walking) {
            try {
              setupReply = await setupTurn({ ctx, admin, step: walking, command: name, text, upload })
            } catch (error) {
              if (!(error instanceof AppError) || error.status >= 500) throw error
              setupReply = { text: `Could not do that: ${error.message}` }
            }
          }
          if (setupReply) {
            ctx.billable = false
            ctx.reply = { author: 'system', text: setupReply.text, choices: setupReply.choices }
            return
          }
          // The answer to a question the bot asked (e.g. the new instructions after /prompt).
          const pending = admin.pendingCommand ? byName.get(admin.pendingCommand) : undefined
          if (admin.pendingCommand && (command || pending)) await store.channelAdmins.setPendingCommand(admin.organizationId, admin.id, null)
          const answering = !command && !upload && pending && text ? pending : undefined
          if (!command && !upload && !answering) return next()
          const agent = (admin.currentAgentId ? await store.agents.get(admin.organizationId, admin.currentAgentId) : null) ?? ctx.agent
          try {
            reply = command ? await command.run({ ctx, admin, agent, args }) : answering ? await answering.run({ ctx, admin, agent, args: text }) : await ingest(ctx, admin, agent)
          } catch (error) {
            if (!(error instanceof AppError) || error.status >= 500) throw error
            reply = { text: `Could not do that: ${error.message}` }
          }
        }
        ctx.billable = false
        if (reply) ctx.reply = { author: 'system', text: reply.text, choices: reply.choices }
      },
    }
  }

  return { createLinkCode, step, commands: adminCommands }
}

export type AdminConsole = ReturnType<typeof createAdminConsole>
