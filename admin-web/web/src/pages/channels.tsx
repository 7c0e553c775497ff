import { useState } from 'react'
import { request, type Agent, type ChannelList, type ConnectedInbox } from '../api.ts'
import { channelUi } from '../channels/index.ts'
import { ChannelName, DisconnectChannel } from '../channels/view.tsx'
import { useI18n } from '../i18n.ts'
import { isAdmin, type Session } from '../session.ts'
import { Async, StatusBadge, useLoad } from '../ui.tsx'

export function Channels({ session }: { session: Session }) {
  const { t, formatDate } = useI18n()
  const admin = isAdmin(session)
  const state = useLoad((signal) => request<ChannelList>('/api/v1/channels', { signal }), [])
  const [notice, setNotice] = useState('')
  const done = (message: string) => {
    setNotice(message)
    state.reload()
  }
  // The kinds the server can connect and this web has a form for.
  const offered = (state.data?.kinds ?? []).filter((k) => k.connectable && channelUi(k.kind).Connect).map((k) => k.kind)

  return (
    <>
      <h1 tabIndex={-1}>{t('channelsTitle')}</h1>
      <p role="status" className="success page-status">
        {notice}
      </p>
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
                <th scope="col">{t('actions')}</th>
              </tr>
            </thead>
            <tbody>
              {d.channels.map((c) => (
                <tr key={c.id} data-channel={c.kind ?? c.channel}>
                  <td>
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
function ConnectChannel({ kinds, onConnected }: { kinds: string[]; onConnected: (kind: string, inbox: ConnectedInbox) => void }) {
  const { t } = useI18n()
  const agents = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  return (
    <section className="card connect-channel" aria-labelledby="connect-channel">
      <h2 id="connect-channel">{t('channelsConnectTitle')}</h2>
      <Async state={agents} isEmpty={(d) => d.agents.length === 0} empty={<a href="#/agents">{t('channelsNoAgents')}</a>}>
        {(d) =>
          kinds.map((kind) => {
            const ui = channelUi(kind)
            const Connect = ui.Connect!
            return (
              <section key={kind} className="connect-kind" aria-labelledby={`connect-${kind}`} data-kind={kind}>
                <h3 id={`connect-${kind}`}>{ui.connectTitle?.(t) ?? ui.label(t)}</h3>
                <Connect agents={d.agents} onConnected={(inbox) => onConnected(kind, inbox)} />
              </section>
            )
          })
        }
      </Async>
    </section>
  )
}
