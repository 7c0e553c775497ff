import { useEffect, useState } from 'react'
import { request, type Agent, type ChannelKindItem, type ChannelList, type ConnectedInbox } from '../api.ts'
import { channelUi, channelUis } from '../channels/index.ts'
import { ChannelName, DisconnectChannel, HandoffTarget } from '../channels/view.tsx'
import { useI18n } from '../i18n.ts'
import { readHash } from '../navigate.ts'
import { isAdmin, type Session } from '../session.ts'
import { Async, StatusBadge, useLoad } from '../ui.tsx'

/**
 * What a channel installed through its service's own consent page (Slack's "Add to Slack") came
 * back with: the server redirects to #/channels?connected=<kind>, or ?<kind>Error=<message>.
 */
type Installed = { connected: string | null; failed: { kind: string; message: string } | null }
function installResult(): Installed {
  const { params } = readHash()
  const failed = Object.keys(channelUis).find((kind) => params.has(`${kind}Error`))
  return { connected: params.get('connected'), failed: failed ? { kind: failed, message: params.get(`${failed}Error`) ?? '' } : null }
}

export function Channels({ session }: { session: Session }) {
  const { t, formatDate } = useI18n()
  const admin = isAdmin(session)
  const state = useLoad((signal) => request<ChannelList>('/api/v1/channels', { signal }), [])
  const [installed, setInstalled] = useState(installResult)
  const [notice, setNotice] = useState('')
  // The result is shown once: a reload or a bookmark of the page does not show it again.
  useEffect(() => {
    if (installed.connected || installed.failed) window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}#/channels`)
  }, [installed])
  const done = (message: string) => {
    setNotice(message)
    setInstalled({ connected: null, failed: null })
    state.reload()
  }
  // The kinds the server can connect and this web has a form for.
  const offered = (state.data?.kinds ?? []).filter((k) => k.connectable && channelUi(k.kind).Connect)
  // Where handoffs go is a choice once some channel has an operators' desk.
  const desks = (state.data?.channels ?? []).some((c) => c.desk)

  return (
    <>
      <h1 tabIndex={-1}>{t('channelsTitle')}</h1>
      <p role="status" className="success page-status">
        {notice || (installed.connected ? t('channelInstalled', { kind: channelUi(installed.connected).label(t) }) : '')}
      </p>
      {installed.failed && (
        <div className="error" role="alert">
          <p>{t('channelInstallFailed', { kind: channelUi(installed.failed.kind).label(t), message: installed.failed.message })}</p>
        </div>
      )}
      <Async state={state} isEmpty={(d) => d.channels.length === 0} empty={<a href="#/agents">{t('channelsEmpty')}</a>}>
        {(d) => (
          <table>
            <thead>
              <tr>
                <th scope="col">{t('channel')}</th>
                <th scope="col">{t('agent')}</th>
                <th scope="col">{t('status')}</th>
                <th scope="col">{t('lastMessage')}</th>
                <th scope="col">{t('failedReplies')}</th>
                {desks && <th scope="col">{t('handoffsTo')}</th>}
                <th scope="col">{t('actions')}</th>
              </tr>
            </thead>
            <tbody>
              {d.channels.map((c) => (
                <tr key={c.id} data-channel={c.kind ?? c.channel}>
                  <td className="channel-cell">
                    <ChannelName channel={c} />
                  </td>
                  <td>{c.agentName}</td>
                  <td>
                    {c.failedReplies > 0 ? (
                      <StatusBadge status="failed" text={t('channelErrors', { error: c.lastError ?? c.failedReplies })} />
                    ) : c.lastMessageAt ? (
                      <StatusBadge status="ready" text={t('channelOk')} />
                    ) : (
                      <StatusBadge status="queued" text={t('channelIdle')} />
                    )}
                  </td>
                  <td>{c.lastMessageAt ? formatDate(c.lastMessageAt) : t('never')}</td>
                  <td>{c.failedReplies}</td>
                  {desks && <td>{c.purpose !== 'test' && <HandoffTarget channel={c} channels={d.channels} admin={admin} onChanged={done} />}</td>}
                  <td>{admin && <DisconnectChannel channel={c} onDone={done} />}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Async>
      {admin && offered.length > 0 && <ConnectChannel kinds={offered} onConnected={(kind, inbox) => done(channelUi(kind).connected?.(t, inbox) ?? t('channelConnected', { name: inbox.name }))} />}
      <p className="hint">{t('otherChannels')}</p>
    </>
  )
}

/** One Connect form per kind the server offers, each in its own labelled section. */
function ConnectChannel({ kinds, onConnected }: { kinds: ChannelKindItem[]; onConnected: (kind: string, inbox: ConnectedInbox) => void }) {
  const { t } = useI18n()
  const agents = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  return (
    <section className="card connect-channel" aria-labelledby="connect-channel">
      <h2 id="connect-channel">{t('channelsConnectTitle')}</h2>
      <Async state={agents} isEmpty={(d) => d.agents.length === 0} empty={<a href="#/agents">{t('channelsNoAgents')}</a>}>
        {(d) =>
          kinds.map(({ kind, offers }) => {
            const ui = channelUi(kind)
            const Connect = ui.Connect!
            return (
              <section key={kind} className="connect-kind" aria-labelledby={`connect-${kind}`} data-kind={kind}>
                <h3 id={`connect-${kind}`}>{ui.connectTitle?.(t) ?? ui.label(t)}</h3>
                <Connect agents={d.agents} offers={offers ?? {}} onConnected={(inbox) => onConnected(kind, inbox)} />
              </section>
            )
          })
        }
      </Async>
    </section>
  )
}
