import { useEffect, useState } from 'react'
import { request, type ChannelItem, type DeskChoice, type Disconnected } from '../api.ts'
import { useI18n, type I18n } from '../i18n.ts'
import { ConfirmButton, ErrorBox } from '../ui.tsx'
import { channelUi } from './index.ts'

/** "<Channel> · <name>" as plain text, e.g. for an option of a select. */
export const channelTitle = (t: I18n['t'], channel: ChannelItem) => `${channelUi(channel.kind ?? channel.channel).label(t)} · ${channel.name}`

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

/**
 * Where a channel's handoffs go (admins choose, others read): its own operators' place, or another
 * channel that is an operators' desk (a Telegram group, a Slack channel), through
 * PUT /api/v1/channels/{inboxId}/desk. A desk whose place is not chosen yet is listed, disabled.
 * Under it, the channels whose handoffs come here.
 */
export function HandoffTarget({ channel, channels, admin, onChanged }: { channel: ChannelItem; channels: ChannelItem[]; admin: boolean; onChanged: (message: string) => void }) {
  const { t } = useI18n()
  // The choice just made shows until the list comes back with it.
  const [pending, setPending] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const current = channel.deskInboxId ?? ''
  useEffect(() => setPending(null), [channels, current])
  const ownReady = channel.desk?.ready === true
  const own = ownReady ? t('handoffsOwn') : t('handoffsOwnNone')
  const desks = channels.filter((c) => c.id !== channel.id && c.desk)
  const optionLabel = (c: ChannelItem) => (c.desk!.ready ? (c.desk!.place ? t('handoffsReady', { name: channelTitle(t, c), place: c.desk!.place }) : channelTitle(t, c)) : t('handoffsNotReady', { name: channelTitle(t, c) }))
  const labelOf = (id: string) => {
    const c = id ? channels.find((x) => x.id === id) : undefined
    return !id ? own : !c ? id : c.desk ? optionLabel(c) : channelTitle(t, c)
  }
  const from = channels.filter((c) => c.id !== channel.id && c.deskInboxId === channel.id).map((c) => channelTitle(t, c))
  const value = pending ?? current
  const choose = async (next: string) => {
    setError(undefined)
    setPending(next)
    setBusy(true)
    try {
      const r = await request<DeskChoice>(`/api/v1/channels/${encodeURIComponent(channel.id)}/desk`, { method: 'PUT', body: { deskInboxId: next || null } })
      const desk = channels.find((c) => c.id === r.deskInboxId)
      onChanged(desk ? t('handoffsChanged', { name: channelTitle(t, channel), target: channelTitle(t, desk) }) : t('handoffsChangedOwn', { name: channelTitle(t, channel) }))
    } catch (e) {
      setPending(null)
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  return (
    <div className="handoff-target">
      {admin ? (
        <select aria-label={t('handoffsOf', { name: channelTitle(t, channel) })} title={labelOf(value)} value={value} disabled={busy} onChange={(e) => void choose(e.target.value)}>
          <option value="">{own}</option>
          {desks.map((c) => (
            <option key={c.id} value={c.id} disabled={!c.desk!.ready}>
              {optionLabel(c)}
            </option>
          ))}
          {current && !desks.some((c) => c.id === current) && (
            <option value={current} disabled>
              {labelOf(current)}
            </option>
          )}
        </select>
      ) : (
        <span>{labelOf(current)}</span>
      )}
      {error ? <ErrorBox error={error} /> : null}
      {from.length > 0 && (
        <>
          <br />
          <small className="hint">{t('handoffsFrom', { names: from.join(', ') })}</small>
        </>
      )}
    </div>
  )
}
