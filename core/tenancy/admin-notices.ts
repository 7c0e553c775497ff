import type { ChannelAdapter, ChannelKind, Logger, Store } from '../ports.ts'

/**
 * Tells an organization's admins something in their admin chats: every person linked to one of
 * its messenger bots (Telegram: `/start <code>`) whose role is admin or owner. `key` makes each
 * notice go out at most once per admin, even when a job is retried.
 */
export function createAdminNotifier(deps: { store: Store; channels: ReadonlyMap<ChannelKind, ChannelAdapter>; logger: Logger }) {
  return async function notifyAdmins(input: { organizationId: string; text: string; key: string }): Promise<number> {
    let sent = 0
    // The organization's own inboxes, of any channel; only messenger chats have linked admins.
    for (const inbox of await deps.store.inboxes.listByOrganization(input.organizationId)) {
      const channel = deps.channels.get(inbox.channel)
      if (!channel || inbox.purpose === 'test') continue
      for (const admin of await deps.store.channelAdmins.listByInbox(input.organizationId, inbox.id)) {
        const membership = await deps.store.users.membership(admin.userId, input.organizationId)
        if (membership?.role !== 'admin' && membership?.role !== 'owner') continue
        try {
          await channel.send({ to: { conversationId: `admin:${admin.id}`, externalThreadId: admin.externalThreadId }, message: { text: input.text }, inbox, sendKey: `${input.key}:${admin.id}` })
          sent++
        } catch (error) {
          deps.logger.warn({ err: (error as Error).message, organizationId: input.organizationId }, 'admin notice not delivered')
        }
      }
    }
    return sent
  }
}
