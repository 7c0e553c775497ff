import { randomBytes } from 'node:crypto'
import type { Logger, Notifier } from '../ports.ts'

/**
 * What happens in an organization that a signed-in person watching the admin web should see at
 * once. Events carry ids and short labels, never a message's text: whoever receives one reads the
 * details through the API, under its own authorisation.
 */
export type LiveEvent =
  | { type: 'conversation.created'; conversationId: string; agentId: string; inboxId: string }
  | { type: 'message.created'; conversationId: string; messageId: string; author: 'contact' | 'agent' | 'operator' | 'system' }
  | { type: 'handoff.opened'; conversationId: string; handoffId: string; reason: string }
  | { type: 'handoff.taken'; conversationId: string; operatorUserId: string | null }
  | { type: 'handoff.released'; conversationId: string; operatorUserId: string | null; why: 'released' | 'timeout' }
  | { type: 'source.progress'; sourceId: string; status: string | null; progress: number | null }
  | { type: 'quota.notice'; kind: string; message: string }
  | { type: 'contact.erased'; contactId: string }

/** As published: the organization it belongs to (the stream checks it again), an id and the time. */
export type LiveEnvelope = { organizationId: string; id: string; at: string; event: LiveEvent }

/** One topic per organization: a stream subscribes to its own organization's topic only. */
export const organizationTopic = (organizationId: string) => `org-events:${organizationId}`

let counter = 0
/** Sortable within a process, unique across processes (the random tail). */
const eventId = () => `${Date.now().toString(36)}-${(counter++ % 1_679_616).toString(36).padStart(4, '0')}-${randomBytes(3).toString('hex')}`

/**
 * Publishes live events through the notifier (in-process, or Redis pub/sub across the server and
 * worker processes). A failed publish is logged and never fails the work that caused it.
 */
export function createLiveEvents(deps: { notifier: Notifier; logger?: Logger }) {
  async function publish(organizationId: string, event: LiveEvent): Promise<void> {
    const envelope: LiveEnvelope = { organizationId, id: eventId(), at: new Date().toISOString(), event }
    try {
      await deps.notifier.publish(organizationTopic(organizationId), envelope)
    } catch (error) {
      deps.logger?.warn({ err: (error as Error).message, type: event.type }, 'live event not published')
    }
  }
  return { publish }
}

export type LiveEvents = ReturnType<typeof createLiveEvents>

/** Checks what arrived on a topic before it goes to a browser. */
export function isLiveEnvelope(value: unknown): value is LiveEnvelope {
  const v = value as Partial<LiveEnvelope> | null
  return Boolean(v && typeof v.organizationId === 'string' && typeof v.id === 'string' && typeof v.at === 'string' && v.event && typeof (v.event as { type?: unknown }).type === 'string')
}
