import type { Router } from 'express'
import { AppError, notFound } from '../core/errors.ts'
import type { ChannelAdapter, ChannelKind, HandoffDesk, Inbox, Logger } from '../core/ports.ts'
import { parse } from './http/api.ts'
import type { Channel, ChannelDeps, ChannelModule, InboxSummary } from './channel-module.ts'

/**
 * The channels of this installation, built from the registry: every loop over channels is here,
 * so nothing else names one. Fills the adapter and desk maps that the turn and operator services
 * were given, then answers the admin API's questions for any kind.
 */
export function createChannelSet(input: {
  modules: readonly ChannelModule[]
  deps: Omit<ChannelDeps<unknown>, 'config' | 'channels'> & { config: Record<string, unknown> }
  /** Filled here: the turn, operator and ingress services hold these maps. */
  adapters: Map<ChannelKind, ChannelAdapter>
  desks: Map<ChannelKind, HandoffDesk>
  /** Tests: adapters that stand in for a module's own (a channel that fails to send, say). */
  replaceAdapters?: ChannelAdapter[]
  logger: Logger
}) {
  const { store } = input.deps
  const built = new Map<ChannelKind, { module: ChannelModule; channel: Channel }>()
  // Modules may offer routes of their own that connect or disconnect (Telegram's older API): the same path as everyone's.
  const manage: ChannelDeps<unknown>['channels'] = { connect: (req) => set.connect(req), disconnect: (req) => set.disconnect(req) }
  for (const module of input.modules) {
    if (built.has(module.kind)) throw new Error(`Two channel modules are named "${module.kind}"`)
    const channel = module.create({ ...input.deps, channels: manage, config: input.deps.config as never, logger: input.logger.child({ channel: module.kind }) })
    built.set(module.kind, { module, channel })
    input.adapters.set(module.kind, channel.adapter)
    if (channel.desk) input.desks.set(module.kind, channel.desk)
  }
  for (const adapter of input.replaceAdapters ?? []) input.adapters.set(adapter.kind, adapter)

  const entry = (kind: string) => {
    const found = built.get(kind)
    if (!found) throw new AppError('not_found', `No channel "${kind}" here; channels: ${[...built.keys()].join(', ')}`, 404)
    return found
  }

  /** The organization's inbox, or 404 (also for another organization's). */
  async function inboxOf(organizationId: string, inboxId: string): Promise<Inbox> {
    const inbox = /^[\w-]{1,64}$/.test(inboxId) ? await store.inboxes.get(inboxId) : null
    if (!inbox || inbox.organizationId !== organizationId) throw notFound('Channel')
    return inbox
  }

  const set = {
    kinds: () => [...built.values()].map(({ module, channel }) => ({ kind: module.kind, label: module.label, ...(channel.offers ? { offers: channel.offers() } : {}) })),
    has: (kind: string) => built.has(kind),
    /** How to send `link <code>` in each channel that says so. */
    linkHints: (code: string) => [...built.values()].flatMap(({ module }) => (module.linkHint ? [module.linkHint(code)] : [])),
    get: (kind: string) => entry(kind).channel,
    module: (kind: string) => entry(kind).module,
    summary: (inbox: Inbox): InboxSummary => entry(inbox.channel).channel.summary(inbox),
    /** The inbox's operators' desk: null when its channel has none; `ready` once a place (group, channel) is chosen. */
    deskOf: (inbox: Inbox): { ready: boolean; place: string | null } | null => {
      const desk = built.get(inbox.channel)?.channel.desk
      return desk ? { ready: desk.ready(inbox), place: desk.place(inbox) } : null
    },

    /**
     * Sends the inbox's handoffs to another inbox's desk (any channel with one), or back to its own
     * with null. The target must be the organization's, have a desk and have its place chosen.
     */
    async routeHandoffs(req: { organizationId: string; inboxId: string; deskInboxId: string | null; actorUserId: string | null }): Promise<Inbox> {
      const inbox = await inboxOf(req.organizationId, req.inboxId)
      if (req.deskInboxId !== null && req.deskInboxId !== inbox.id) {
        const target = await inboxOf(req.organizationId, req.deskInboxId).catch(() => null)
        if (!target) throw new AppError('validation_failed', 'No such channel in this organization to send handoffs to', 422)
        const desk = set.deskOf(target)
        if (!desk) throw new AppError('validation_failed', `${entry(target.channel).module.label} has no operators' desk; choose a Telegram or Slack channel`, 422)
        if (!desk.ready) throw new AppError('validation_failed', `"${target.name}" has no operators' place chosen yet (Telegram: /operatorgroup in a group; Slack: /switchboard operators here in a channel)`, 422)
        if (target.deskInboxId) throw new AppError('validation_failed', `"${target.name}" sends its own handoffs elsewhere; choose the desk they go to instead`, 422)
      }
      const deskInboxId = req.deskInboxId === inbox.id ? null : req.deskInboxId
      const updated = (await store.inboxes.update(req.organizationId, inbox.id, { deskInboxId }))!
      await store.audit.record({ organizationId: req.organizationId, actorUserId: req.actorUserId, action: 'channel.handoffs_routed', target: inbox.id, data: { deskInboxId } })
      return updated
    },
    inboxOf,
    /** The channels' own jobs, for the workers to consume. */
    jobs: () => [...built.values()].flatMap(({ channel }) => Object.entries(channel.jobs ?? {})),
    /** Pages and APIs of channels' own (the web chat). */
    routers: (): Router[] => [...built.values()].flatMap(({ channel }) => (channel.routes ? [channel.routes] : [])),

    /** Connects a channel to an agent with the body its module's schema accepts; credentials are sealed by the channel. */
    async connect(req: { organizationId: string; agentId: string; kind: string; body: unknown; actorUserId: string | null }): Promise<Inbox> {
      const { module, channel } = entry(req.kind)
      const body = parse(module.connect, req.body ?? {}, 'body')
      const agent = await store.agents.get(req.organizationId, req.agentId)
      if (!agent) throw notFound('Agent')
      const inbox = await channel.connect({ organizationId: req.organizationId, agent, input: body, actorUserId: req.actorUserId })
      const summary = channel.summary(inbox)
      await store.audit.record({ organizationId: req.organizationId, actorUserId: req.actorUserId, action: `channel.${module.kind}_connected`, target: inbox.id, data: { agentId: agent.id, name: inbox.name, mode: summary.mode } })
      return inbox
    },

    /** Tells the service, then removes the inbox and its sealed credentials; its conversations stay. */
    async disconnect(req: { organizationId: string; inboxId: string; actorUserId: string | null; kind?: string }): Promise<{ inbox: Inbox; warning: string | null }> {
      const inbox = await inboxOf(req.organizationId, req.inboxId)
      if (req.kind && inbox.channel !== req.kind) throw notFound('Channel')
      if (inbox.purpose === 'test') throw new AppError('validation_failed', "An agent's test chat goes with the agent; it cannot be disconnected", 409)
      const { channel } = entry(inbox.channel)
      const { warning } = await channel.disconnect({ inbox })
      await store.inboxes.delete(req.organizationId, inbox.id)
      const summary = channel.summary(inbox)
      await store.audit.record({ organizationId: req.organizationId, actorUserId: req.actorUserId, action: `channel.${inbox.channel}_disconnected`, target: inbox.id, data: { agentId: inbox.agentId, name: inbox.name, mode: summary.mode, ...summary.details, webhookDeleted: !warning } })
      input.logger.info({ inboxId: inbox.id, channel: inbox.channel, warning }, 'channel disconnected')
      return { inbox, warning: warning ?? null }
    },

    /** At the first start with the demo workspace: what each channel connects from the environment. */
    async demo(req: { organizationId: string; agentId: string }): Promise<string[]> {
      const agent = await store.agents.get(req.organizationId, req.agentId)
      if (!agent) return []
      const lines: string[] = []
      for (const { channel } of built.values()) {
        const line = await channel.demo?.({ organizationId: req.organizationId, agent })
        if (line) lines.push(line)
      }
      return lines
    },

    async start() {
      for (const { channel } of built.values()) await channel.start?.()
    },
    async stop() {
      for (const { channel } of built.values()) await channel.stop?.().catch((error: unknown) => input.logger.warn({ err: error }, 'a channel did not stop cleanly'))
    },
  }
  return set
}

export type ChannelSet = ReturnType<typeof createChannelSet>
