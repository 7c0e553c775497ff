import { request } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { Async, StatusBadge, useLoad } from '../ui.tsx'

type Channel = { id: string; agentId: string; agentName: string; channel: string; name: string; publicKey: string | null; lastMessageAt: string | null; failedReplies: number; lastError: string | null }

export function Channels() {
  const { t, formatDate } = useI18n()
  const state = useLoad((signal) => request<{ channels: Channel[] }>('/api/v1/channels', { signal }), [])
  return (
    <>
      <h1 tabIndex={-1}>{t('channelsTitle')}</h1>
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
                <tr key={c.id}>
                  <td>
                    {c.channel} · {c.name}
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
                  <td>
                    {c.channel === 'webchat' && c.publicKey && (
                      <a href={`/chat/${c.publicKey}`} target="_blank" rel="noreferrer" aria-label={`${t('openChat')}: ${c.agentName}`}>
                        {t('openChat')}
                      </a>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Async>
      <p className="hint">{t('otherChannels')}</p>
    </>
  )
}
