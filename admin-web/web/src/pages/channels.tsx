import { useEffect, useState } from 'react'
import { request, type Agent, type ChannelKindItem, type ChannelList, type ConnectedInbox } from '../api.ts'
import { channelUi, channelUis } from '../channels/index.ts'
import { ChannelName, DisconnectChannel, HandoffTarget } from '../channels/view.tsx'
import { useI18n, type I18n } from '../i18n.ts'
import { readHash } from '../navigate.ts'
import { isAdmin, type Session } from '../session.ts'
import { Async, StatusBadge, useLoad } from '../ui.tsx'

/**
 * What a channel installed through its service's own consent page (Slack's "Add to Slack", Meta's
 * "Connect with Facebook") came back with: the server redirects to #/channels?connected=<kind>
 * (with &count=<n> when it connected several accounts), or ?<kind>Error=<message> (a kind's UI may
 * name another parameter, shared by several kinds: Meta's metaError).
 */
type Installed = { connected: { kind: string; count: number | null } | null; failed: { kind: string; message: string } | null }
const errorParamOf = (kind: string) => channelUi(kind).install?.errorParam ?? `${kind}Error`
function installResult(): Installed {
  const { params } = readHash()
  const kind = params.get('connected')
  const count = Number.parseInt(params.get('count') ?? '', 10)
  const failed = Object.keys(channelUis).find((k) => params.has(errorParamOf(k)))
  return {
    connected: kind ? { kind, count: Number.isFinite(count) && count >= 0 ? count : null } : null,
    failed: failed ? { kind: failed, message: params.get(errorParamOf(failed)) ?? '' } : null,
  }
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
        {notice || (installed.connected ? installedText(t, installed.connected.kind, installed.connected.count) : '')}
      </p>
      {installed.failed && (
        <div className="error" role="alert">
          <p>{failedText(t, installed.failed.kind, installed.failed.message)}</p>
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
              {d.channels.map((c) => {
                const problem = channelUi(c.kind ?? c.channel).problem?.(t, c) ?? null
                return (
                  <tr key={c.id} data-channel={c.kind ?? c.channel}>
                    <td className="channel-cell">
                      <ChannelName channel={c} />
                    </td>
                    <td>{c.agentName}</td>
                    <td>
                      {problem ? (
                        <StatusBadge status="failed" text={problem} />
                      ) : c.failedReplies > 0 ? (
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
                )
              })}
            </tbody>
          </table>
        )}
      </Async>
      {admin && offered.length > 0 && <ConnectChannel kinds={offered} onConnected={(kind, inbox) => done(channelUi(kind).connected?.(t, inbox) ?? t('channelConnected', { name: inbox.name }))} />}
      <p className="hint">{t('otherChannels')}</p>
    </>
  )
}

const installedText = (t: I18n['t'], kind: string, count: number | null) => channelUi(kind).install?.done?.(t, count) ?? t('channelInstalled', { kind: channelUi(kind).label(t) })
const failedText = (t: I18n['t'], kind: string, message: string) => channelUi(kind).install?.failed?.(t, message) ?? t('channelInstallFailed', { kind: channelUi(kind).label(t), message })

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
