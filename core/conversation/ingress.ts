import type { ChannelAdapter, ChannelEvent, ChannelKind, Inbox, Logger } from '../ports.ts'
import type { DeskService } from './desk-service.ts'
import type { TurnService } from './turn-service.ts'

/**
 * Where every channel's events go once its adapter has verified and normalized them, whether they
 * came by webhook or by polling: a message is stored and its turn queued (a redelivery is a no-op),
 * an operator's action goes to the desk. No model is called here.
 */
export function createIngress(deps: { turns: Pick<TurnService, 'receive'>; desk: Pick<DeskService, 'handle' | 'humanReply'>; channels: ReadonlyMap<ChannelKind, ChannelAdapter>; logger: Logger }) {
  async function receive(inbox: Inbox, events: ChannelEvent[]): Promise<void> {
    const adapter = deps.channels.get(inbox.channel)
    for (const event of events) {
      if (event.type === 'message') await deps.turns.receive(inbox, event.message)
      else if (event.type === 'operator') await deps.desk.handle(inbox, event.action)
      else await deps.desk.humanReply(inbox, event.reply)
      if (adapter?.acknowledge) void adapter.acknowledge({ inbox, event }).catch((error: unknown) => deps.logger.debug({ err: (error as Error).message, inboxId: inbox.id }, 'acknowledging an event failed'))
    }
  }
  return { receive }
}

export type Ingress = ReturnType<typeof createIngress>
