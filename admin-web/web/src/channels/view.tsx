import { request, type ChannelItem, type Disconnected } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { ConfirmButton } from '../ui.tsx'
import { channelUi } from './index.ts'

/** "<Channel> · <name>" and the channel's own details, for a list or a table cell. */
export function ChannelName({ channel }: { channel: ChannelItem }) {
  const { t } = useI18n()
  const ui = channelUi(channel.kind ?? channel.channel)
  return (
    <>
      {ui.label(t)} · {channel.name}
      {ui.Details && <ui.Details channel={channel} />}
    </>
  )
}

/** Disconnects a channel after confirming, through DELETE /api/v1/channels/{inboxId}; `onDone` gets the message to show. */
export function DisconnectChannel({ channel, onDone }: { channel: ChannelItem; onDone: (message: string) => void }) {
  const { t } = useI18n()
  const ui = channelUi(channel.kind ?? channel.channel)
  const label = ui.label(t)
  const texts = ui.disconnect ?? {
    label: () => t('channelDisconnect'),
    ariaLabel: () => t('channelDisconnectName', { name: channel.name }),
    question: () => t('channelDisconnectConfirm', { name: channel.name, kind: label, agent: channel.agentName }),
    done: (_: unknown, r: Disconnected) => (r.warning ? t('channelDisconnectedWarning', { name: r.name || channel.name, kind: label, warning: r.warning }) : t('channelDisconnected', { name: r.name || channel.name })),
  }
  return (
    <ConfirmButton
      label={texts.label(t)}
      ariaLabel={texts.ariaLabel(t, channel)}
      question={texts.question(t, channel)}
      confirmLabel={texts.label(t)}
      onConfirm={async () => {
        const r = await request<Disconnected>(`/api/v1/channels/${encodeURIComponent(channel.id)}`, { method: 'DELETE' })
        onDone(texts.done(t, r, channel))
      }}
    />
  )
}
