import type { TurnService } from '../../core/conversation/turn-service.ts'
import type { Inbox, Logger, Store } from '../../core/ports.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import { createTelegramConnector } from './connect.ts'
import { createTelegramIngress } from './ingress.ts'
import { startPolling } from './polling.ts'
import { settingsOf, type TelegramChannel } from './telegram-channel.ts'

/** Telegram's ingress (webhook route, long polling) and bot connection, wired around the channel adapter. */
export function createTelegram(deps: {
  store: Store
  secrets: SecretBox
  channel: TelegramChannel
  turns: TurnService
  logger: Logger
  apiRoot: string
  publicUrl?: string
  mode: 'auto' | 'webhook' | 'polling'
  /** Whether this process receives updates (HTTP servers do; workers only send). */
  receives: boolean
  checkChannelCap: (organizationId: string) => Promise<void>
  onUpdate?: (inbox: Inbox, update: unknown) => Promise<boolean>
}) {
  const log = deps.logger.child({ channel: 'telegram' })
  const ingress = createTelegramIngress({ store: deps.store, turns: deps.turns, channel: deps.channel, logger: log, onUpdate: deps.onUpdate })
  const pollers = new Map<string, { stop(): Promise<void> }>()

  const poll = (inbox: Inbox) => {
    if (!deps.receives || pollers.has(inbox.id)) return
    pollers.set(inbox.id, startPolling({ inbox, channel: deps.channel, handle: ingress.handleUpdate, logger: log }))
  }
  const stopPolling = async (inboxId: string) => {
    const poller = pollers.get(inboxId)
    pollers.delete(inboxId)
    await poller?.stop()
  }
  const connector = createTelegramConnector({ ...deps, logger: log, startPolling: poll, stopPolling })

  return {
    ingress,
    connector,
    /** Starts polling every bot connected in polling mode. */
    async start() {
      for (const inbox of await deps.store.inboxes.listByChannel('telegram')) if (settingsOf(inbox).mode === 'polling') poll(inbox)
    },
    async close() {
      await Promise.all([...pollers.values()].map((p) => p.stop()))
      pollers.clear()
    },
  }
}
