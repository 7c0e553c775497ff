import { AppError } from '../errors.ts'
import type { Agent, Store } from '../ports.ts'
import type { QuotaService } from '../billing/quota.ts'
import type { AgentService } from './agent-service.ts'
import { requireRole, type Principal } from '../tenancy/auth-service.ts'

/** The steps of the first-run setup, in order. */
export const ONBOARDING_STEPS = ['agent', 'knowledge', 'test', 'channel'] as const
export type OnboardingStep = (typeof ONBOARDING_STEPS)[number]
export type StepStatus = 'done' | 'skipped'
/** What the bot waits for while it walks a linked admin through the setup in a chat. */
export type ChatStep = 'name' | 'knowledge' | 'test'

export type OnboardingRecord = {
  organizationId: string
  agentId: string | null
  steps: Partial<Record<OnboardingStep, StepStatus>>
  chatAdminId: string | null
  chatStep: ChatStep | null
  dismissedAt: Date | null
  completedAt: Date | null
}
export type OnboardingPatch = Partial<Omit<OnboardingRecord, 'organizationId'>>
/** Where the setup's state is kept, one row per organization (adapters/db/onboarding-store.ts). */
export type OnboardingStore = {
  get(organizationId: string): Promise<OnboardingRecord | null>
  save(organizationId: string, patch: OnboardingPatch): Promise<OnboardingRecord>
}

export type OnboardingView = {
  /** Whether the setup should be offered: not finished, not skipped, and started or the organization has no agent yet. */
  show: boolean
  completed: boolean
  dismissed: boolean
  steps: Record<OnboardingStep, StepStatus | 'pending'>
  /** The first step neither done nor skipped; null when every step is. */
  current: OnboardingStep | null
  agent: { id: string; name: string; webchatKey: string | null } | null
}

/**
 * The first-run setup of an organization: name the agent, add knowledge, ask a test question,
 * connect a channel. Its state is kept per organization on the server, so that it can be skipped,
 * left and resumed, from the admin web or from a messenger chat with the bot; each door does the
 * work itself through the usual services (agents, knowledge, test chat) and marks the step here.
 */
export function createOnboardingService(deps: { store: Store; onboarding: OnboardingStore; agents: AgentService; quota: Pick<QuotaService, 'checkCap'> }) {
  const { store, onboarding } = deps

  const empty = (organizationId: string): OnboardingRecord => ({ organizationId, agentId: null, steps: {}, chatAdminId: null, chatStep: null, dismissedAt: null, completedAt: null })
  const record = async (organizationId: string) => (await onboarding.get(organizationId)) ?? empty(organizationId)

  /** The setup's agent, if it still exists (it may have been deleted on the Agents page). */
  async function agentOf(r: OnboardingRecord): Promise<Agent | null> {
    return r.agentId ? await store.agents.get(r.organizationId, r.agentId) : null
  }

  async function view(organizationId: string): Promise<OnboardingView> {
    const [r, agents] = await Promise.all([record(organizationId), store.agents.list(organizationId)])
    const agent = await agentOf(r)
    const steps = Object.fromEntries(ONBOARDING_STEPS.map((s) => [s, r.steps[s] ?? 'pending'])) as OnboardingView['steps']
    // A deleted agent undoes the step that made it.
    if (!agent && steps.agent === 'done') steps.agent = 'pending'
    const current = ONBOARDING_STEPS.find((s) => steps[s] === 'pending') ?? null
    const started = Object.keys(r.steps).length > 0 || r.agentId !== null
    let webchatKey: string | null = null
    if (agent) webchatKey = (await store.inboxes.listByAgent(organizationId, agent.id)).find((i) => i.channel === 'webchat' && i.purpose !== 'test' && i.publicKey)?.publicKey ?? null
    return {
      show: !r.completedAt && !r.dismissedAt && (started || agents.length === 0),
      completed: Boolean(r.completedAt),
      dismissed: Boolean(r.dismissedAt),
      steps,
      current,
      agent: agent ? { id: agent.id, name: agent.name, webchatKey } : null,
    }
  }

  /** Creates the setup's agent (within the plan's caps, with its web chat), or renames it when it exists. */
  async function nameAgent(input: { organizationId: string; actorUserId: string | null; name: string }): Promise<Agent> {
    const { organizationId } = input
    const r = await record(organizationId)
    const existing = await agentOf(r)
    let agent: Agent
    if (existing) {
      agent = (await store.agents.update(organizationId, existing.id, { name: input.name }))!
      await store.audit.record({ organizationId, actorUserId: input.actorUserId, action: 'agent.updated', target: agent.id, data: { fields: ['name'] } })
    } else {
      const agents = await store.agents.list(organizationId)
      await deps.quota.checkCap({ organizationId, kind: 'agents', adding: 1, current: agents.length })
      const inboxes = (await store.inboxes.listByOrganization(organizationId)).filter((i) => i.purpose !== 'test')
      await deps.quota.checkCap({ organizationId, kind: 'channels', adding: 1, current: inboxes.length })
      agent = (await deps.agents.createFor(organizationId, { name: input.name }, input.actorUserId)).agent
    }
    await save(organizationId, input.actorUserId, { agentId: agent.id, steps: { ...r.steps, agent: 'done' } })
    return agent
  }

  /** Marks a step done or skipped (or pending again); the setup is complete once every step is one or the other. */
  async function mark(input: { organizationId: string; actorUserId: string | null; step: OnboardingStep; status: StepStatus | 'pending' }) {
    const r = await record(input.organizationId)
    if (input.step !== 'agent' && input.status === 'done' && !(await agentOf(r))) throw new AppError('onboarding_no_agent', 'Name the agent first: this step needs the agent the setup makes', 409)
    const steps = { ...r.steps }
    if (input.status === 'pending') delete steps[input.step]
    else steps[input.step] = input.status
    const complete = ONBOARDING_STEPS.every((s) => steps[s])
    await save(input.organizationId, input.actorUserId, { steps, completedAt: complete ? (r.completedAt ?? new Date()) : null, ...(complete ? { chatStep: null } : {}) }, { step: input.step, status: input.status })
    return view(input.organizationId)
  }

  /** Skips the whole setup (it stays available to resume), or brings it back. */
  async function dismiss(input: { organizationId: string; actorUserId: string | null; dismissed: boolean }) {
    await save(input.organizationId, input.actorUserId, { dismissedAt: input.dismissed ? new Date() : null, ...(input.dismissed ? { chatStep: null } : {}) }, { dismissed: input.dismissed })
    return view(input.organizationId)
  }

  async function save(organizationId: string, actorUserId: string | null, patch: OnboardingPatch, audit?: Record<string, unknown>) {
    const saved = await onboarding.save(organizationId, patch)
    if (audit) await store.audit.record({ organizationId, actorUserId, action: 'onboarding.updated', data: audit })
    return saved
  }

  const admin = (principal: Principal) => {
    requireRole(principal, 'admin')
    return { organizationId: principal.organizationId, actorUserId: principal.userId }
  }

  return {
    view,
    record,
    nameAgent,
    mark,
    dismiss,
    /** Sets what the bot waits for from the chat admin it walks through the setup (null: nothing). */
    setChat: (organizationId: string, patch: { chatAdminId?: string | null; chatStep: ChatStep | null; agentId?: string }) => onboarding.save(organizationId, patch),
    /** The admin web's doors, checked against the signed-in person's role. */
    forPrincipal: {
      nameAgent: (principal: Principal, name: string) => nameAgent({ ...admin(principal), name }),
      mark: (principal: Principal, step: OnboardingStep, status: StepStatus | 'pending') => mark({ ...admin(principal), step, status }),
      dismiss: (principal: Principal, dismissed: boolean) => dismiss({ ...admin(principal), dismissed }),
    },
  }
}

export type OnboardingService = ReturnType<typeof createOnboardingService>
