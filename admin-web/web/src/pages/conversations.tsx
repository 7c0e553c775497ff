import { useState, type FormEvent } from 'react'
import { request, type Conversation, type Handoff, type Message } from '../api.ts'
import type { Session } from '../session.ts'
import { useI18n } from '../i18n.ts'
import { Async, ErrorBox, Field, StatusBadge, useLoad } from '../ui.tsx'

const canOperate = (s: Session) => s.me.role !== 'member'

export function Conversations({ session }: { session: Session }) {
  const { t, formatDate } = useI18n()
  const [state, setState] = useState<'' | 'bot' | 'handoff' | 'closed'>('')
  const [tests, setTests] = useState(false)
  const queue = useLoad(async (signal) => {
    const [open, taken] = await Promise.all([request<{ handoffs: Handoff[] }>('/api/v1/handoffs?status=open', { signal }), request<{ handoffs: Handoff[] }>('/api/v1/handoffs?status=taken', { signal })])
    return [...open.handoffs, ...taken.handoffs]
  }, [])
  const list = useLoad((signal) => request<{ conversations: Conversation[] }>(`/api/v1/conversations?limit=100${state ? `&state=${state}` : ''}`, { signal }), [state])
  const [actionError, setActionError] = useState<unknown>()
  const act = async (conversationId: string, action: 'take' | 'release') => {
    setActionError(undefined)
    try {
      await request(`/api/v1/conversations/${conversationId}/${action}`, { method: 'POST' })
      queue.reload()
      list.reload()
    } catch (e) {
      setActionError(e)
    }
  }
  return (
    <>
      <h1 tabIndex={-1}>{t('conversationsTitle')}</h1>
      <section className="card">
        <h2>{t('handoffQueue')}</h2>
        {actionError ? <ErrorBox error={actionError} /> : null}
        <Async state={queue} isEmpty={(d) => d.length === 0} empty={t('queueEmpty')}>
          {(handoffs) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('status')}</th>
                  <th scope="col">{t('reason')}</th>
                  <th scope="col">{t('created')}</th>
                  <th scope="col">{t('actions')}</th>
                </tr>
              </thead>
              <tbody>
                {handoffs.map((h) => (
                  <tr key={h.id}>
                    <td>
                      <StatusBadge status={h.status === 'open' ? 'failed' : 'processing'} text={t(`handoff_${h.status}` as 'handoff_open')} />
                    </td>
                    <td>{h.reason}</td>
                    <td>{formatDate(h.createdAt)}</td>
                    <td className="row">
                      <a className="button secondary" href={`#/conversations/${h.conversationId}`}>
                        {t('open')}
                      </a>
                      {canOperate(session) && h.status === 'open' && (
                        <button type="button" onClick={() => act(h.conversationId, 'take')}>
                          {t('take')}
                        </button>
                      )}
                      {canOperate(session) && (
                        <button type="button" className="secondary" onClick={() => act(h.conversationId, 'release')}>
                          {t('release')}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Async>
      </section>
      <section className="card">
        <h2>{t('conversationsTitle')}</h2>
        <div className="row toolbar">
          <Field label={t('filter')}>
            {(id) => (
              <select id={id} value={state} onChange={(e) => setState(e.target.value as typeof state)}>
                <option value="">{t('all')}</option>
                <option value="bot">{t('state_bot')}</option>
                <option value="handoff">{t('state_handoff')}</option>
                <option value="closed">{t('state_closed')}</option>
              </select>
            )}
          </Field>
          <label className="check">
            <input type="checkbox" checked={tests} onChange={(e) => setTests(e.target.checked)} /> {t('includeTests')}
          </label>
        </div>
        <Async state={list} isEmpty={(d) => d.conversations.filter((c) => tests || !c.test).length === 0} empty={t('conversationsEmpty')}>
          {(d) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('channel')}</th>
                  <th scope="col">{t('state')}</th>
                  <th scope="col">{t('lastActivity')}</th>
                  <th scope="col">{t('actions')}</th>
                </tr>
              </thead>
              <tbody>
                {d.conversations
                  .filter((c) => tests || !c.test)
                  .map((c) => (
                    <tr key={c.id}>
                      <td>{c.test ? `${c.channel} (${t('nav_chat')})` : c.channel}</td>
                      <td>
                        <StatusBadge status={c.state === 'handoff' ? 'processing' : c.state === 'bot' ? 'ready' : 'queued'} text={t(`state_${c.state}`)} />
                      </td>
                      <td>{formatDate(c.lastMessageAt)}</td>
                      <td>
                        <a className="button secondary" href={`#/conversations/${c.id}`}>
                          {t('open')}
                        </a>
                      </td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )}
        </Async>
      </section>
    </>
  )
}

export function ConversationView({ id, session }: { id: string; session: Session }) {
  const { t, formatDate } = useI18n()
  const state = useLoad((signal) => request<{ conversation: Conversation; messages: Message[] }>(`/api/v1/conversations/${id}/messages`, { signal }), [id])
  const [text, setText] = useState('')
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)
  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true)
    setError(undefined)
    try {
      await fn()
      state.reload()
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  const reply = (e: FormEvent) => {
    e.preventDefault()
    void run(async () => {
      await request(`/api/v1/conversations/${id}/reply`, { body: { text } })
      setText('')
    })
  }
  return (
    <>
      <p>
        <a href="#/conversations">← {t('back')}</a>
      </p>
      <Async state={state}>
        {(d) => (
          <>
            <h1 tabIndex={-1}>{t('conversationTitle', { channel: d.conversation.channel ?? 'webchat' })}</h1>
            <div className="row toolbar">
              <StatusBadge status={d.conversation.state === 'handoff' ? 'processing' : 'ready'} text={t(`state_${d.conversation.state}`)} />
              {canOperate(session) && d.conversation.state !== 'closed' && (
                <button type="button" disabled={busy} onClick={() => run(() => request(`/api/v1/conversations/${id}/take`, { method: 'POST' }))}>
                  {t('take')}
                </button>
              )}
              {canOperate(session) && d.conversation.state === 'handoff' && (
                <button type="button" className="secondary" disabled={busy} onClick={() => run(() => request(`/api/v1/conversations/${id}/release`, { method: 'POST' }))}>
                  {t('release')}
                </button>
              )}
            </div>
            {error ? <ErrorBox error={error} /> : null}
            <section className="card">
              <h2>{t('transcript')}</h2>
              <ol className="chat-log">
                {d.messages.map((m) => (
                  <li key={m.id} className={`bubble ${m.author === 'contact' ? 'you' : m.author}`}>
                    <div className="who">
                      {t(`author_${m.author}`)} · <time dateTime={m.createdAt}>{formatDate(m.createdAt)}</time>
                    </div>
                    <div className="text">{m.text}</div>
                    {m.sources.length > 0 && (
                      <div className="sources">
                        <strong>{t('sources')}:</strong> {m.sources.map((s) => s.title).join('; ')}
                      </div>
                    )}
                  </li>
                ))}
              </ol>
            </section>
            {canOperate(session) && (
              <form onSubmit={reply} className="card stack">
                <Field label={t('reply')}>{(fid) => <textarea id={fid} rows={3} required maxLength={4000} value={text} onChange={(e) => setText(e.target.value)} />}</Field>
                <div className="row">
                  <button type="submit" disabled={busy || !text.trim()}>
                    {t('sendReply')}
                  </button>
                </div>
              </form>
            )}
          </>
        )}
      </Async>
    </>
  )
}
