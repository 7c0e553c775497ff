import { useState, type FormEvent } from 'react'
import { request, type Agent } from '../api.ts'
import type { Session } from '../session.ts'
import { useI18n } from '../i18n.ts'
import { Async, ConfirmButton, ErrorBox, Field, StatusBadge, useLoad } from '../ui.tsx'

type Channel = { id: string; agentId: string; agentName: string; channel: string; name: string; publicKey: string | null; lastMessageAt: string | null; failedReplies: number; lastError: string | null }
type Bot = { inboxId: string; agentId: string; botId: number; botUsername: string; mode: 'webhook' | 'polling'; webhookUrl: string | null }
type Disconnected = { inboxId: string; botUsername: string; webhookDeleted: boolean; warning: string | null }

export function Channels({ session }: { session: Session }) {
  const { t, formatDate } = useI18n()
  const admin = session.me.role === 'owner' || session.me.role === 'admin'
  const state = useLoad(async (signal) => {
    const [{ channels }, { bots }] = await Promise.all([request<{ channels: Channel[] }>('/api/v1/channels', { signal }), request<{ bots: Bot[] }>('/api/v1/telegram/bots', { signal })])
    return { channels, bots: new Map(bots.map((b) => [b.inboxId, b])) }
  }, [])
  const [notice, setNotice] = useState('')

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
              {d.channels.map((c) => {
                const bot = c.channel === 'telegram' ? d.bots.get(c.id) : undefined
                return (
                  <tr key={c.id} data-channel={c.channel}>
                    <td>
                      {c.channel === 'telegram' ? 'Telegram' : c.channel === 'webchat' ? t('tg_webchat') : c.channel} · {c.name}
                      {bot && (
                        <>
                          <br />
                          <small className="hint">{t(bot.mode === 'webhook' ? 'tg_modeWebhook' : 'tg_modePolling')}</small>
                        </>
                      )}
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
                      {c.channel === 'telegram' && admin && (
                        <ConfirmButton
                          label={t('tg_disconnect')}
                          ariaLabel={t('tg_disconnectBot', { bot: c.name })}
                          question={t('tg_disconnectConfirm', { bot: c.name, agent: c.agentName })}
                          confirmLabel={t('tg_disconnect')}
                          onConfirm={async () => {
                            const r = await request<Disconnected>(`/api/v1/telegram/bots/${c.id}`, { method: 'DELETE' })
                            setNotice(r.webhookDeleted ? t('tg_disconnected', { bot: `@${r.botUsername}` }) : t('tg_disconnectedWarning', { bot: `@${r.botUsername}`, warning: r.warning ?? '' }))
                            state.reload()
                          }}
                        />
                      )}
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        )}
      </Async>
      {admin && (
        <ConnectTelegram
          onConnected={(bot) => {
            setNotice(t('tg_connected', { bot: `@${bot.botUsername}` }))
            state.reload()
          }}
        />
      )}
      <p className="hint">{t('otherChannels')}</p>
    </>
  )
}

function ConnectTelegram({ onConnected }: { onConnected: (bot: Bot) => void }) {
  const { t } = useI18n()
  const agents = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  const [agentId, setAgentId] = useState('')
  const [token, setToken] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const submit = async (e: FormEvent, fallbackAgent: string) => {
    e.preventDefault()
    setError(undefined)
    setBusy(true)
    try {
      const { bot } = await request<{ bot: Bot }>(`/api/v1/agents/${agentId || fallbackAgent}/telegram`, { body: { token } })
      setToken('')
      onConnected(bot)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <section className="card connect-telegram" aria-labelledby="tg-connect">
      <h2 id="tg-connect">{t('tg_connectTitle')}</h2>
      <Async state={agents} isEmpty={(d) => d.agents.length === 0} empty={<a href="#/agents">{t('tg_noAgents')}</a>}>
        {(d) => (
          <form onSubmit={(e) => submit(e, d.agents[0]!.id)} className="stack">
            <p className="hint">{t('tg_connectHelp')}</p>
            <div className="row top">
              <Field label={t('agent')}>
                {(id) => (
                  <select id={id} value={agentId || d.agents[0]!.id} onChange={(e) => setAgentId(e.target.value)}>
                    {d.agents.map((a) => (
                      <option key={a.id} value={a.id}>
                        {a.name}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
              <Field label={t('tg_token')} hint={t('tg_tokenHint')}>
                {(id, describedBy) => (
                  <input id={id} type="password" required autoComplete="off" spellCheck={false} placeholder="123456789:AA…" aria-describedby={describedBy} value={token} onChange={(e) => setToken(e.target.value)} />
                )}
              </Field>
            </div>
            {error ? <ErrorBox error={error} /> : null}
            <div>
              <button type="submit" disabled={busy}>
                {busy ? t('tg_connecting') : t('tg_connect')}
              </button>
            </div>
          </form>
        )}
      </Async>
    </section>
  )
}
