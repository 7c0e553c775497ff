import { useEffect, useRef, useState, type FormEvent } from 'react'
import { request, stream, type Agent, type Message } from '../api.ts'
import type { Session } from '../session.ts'
import { useI18n } from '../i18n.ts'
import { Async, Empty, ErrorBox, Field, useLoad } from '../ui.tsx'

type Line = { id: string; author: 'you' | 'agent'; text: string; pending?: boolean; message?: Message }

const newSession = () => `admin-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
const storageKey = (agentId: string) => `sb.testchat.${agentId}`

/** The conversation of an agent's test chat, kept in this browser until cleared. */
function loadSaved(agentId: string): { sessionId: string; lines: Line[] } {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey(agentId)) ?? '')
    if (saved && typeof saved.sessionId === 'string' && Array.isArray(saved.lines)) return saved
  } catch {
    // nothing saved
  }
  return { sessionId: newSession(), lines: [] }
}

export function TestChat({ session }: { session: Session }) {
  const { t } = useI18n()
  const agents = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  const [agentId, setAgentId] = useState('')
  useEffect(() => {
    if (!agentId && agents.data?.agents[0]) setAgentId(agents.data.agents[0].id)
  }, [agents.data, agentId])
  const canChat = session.me.role === 'owner' || session.me.role === 'admin'
  return (
    <>
      <h1 tabIndex={-1}>{t('chatTitle')}</h1>
      <p>{t('chatExplain')}</p>
      <Async state={agents} isEmpty={(d) => d.agents.length === 0} empty={<a href="#/agents">{t('noAgents')}</a>}>
        {(d) => (
          <>
            <div className="row toolbar">
              <Field label={t('agent')}>
                {(id) => (
                  <select id={id} value={agentId} onChange={(e) => setAgentId(e.target.value)}>
                    {d.agents.map((a) => (
                      <option key={a.id} value={a.id}>
                        {a.name}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            </div>
            {agentId && canChat && <ChatBox key={agentId} agentId={agentId} />}
          </>
        )}
      </Async>
    </>
  )
}

function ChatBox({ agentId }: { agentId: string }) {
  const { t, formatNumber } = useI18n()
  const [state, setState] = useState(() => loadSaved(agentId))
  const [text, setText] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const log = useRef<HTMLOListElement>(null)
  useEffect(() => {
    localStorage.setItem(storageKey(agentId), JSON.stringify({ sessionId: state.sessionId, lines: state.lines.filter((l) => !l.pending) }))
    log.current?.lastElementChild?.scrollIntoView({ block: 'nearest' })
  }, [agentId, state])

  const send = async (e: FormEvent) => {
    e.preventDefault()
    const question = text.trim()
    if (!question) return
    setText('')
    setBusy(true)
    setError(undefined)
    const replyId = `pending-${Date.now()}`
    setState((s) => ({ ...s, lines: [...s.lines, { id: `you-${Date.now()}`, author: 'you', text: question }, { id: replyId, author: 'agent', text: '', pending: true }] }))
    const update = (fn: (l: Line) => Line) => setState((s) => ({ ...s, lines: s.lines.map((l) => (l.id === replyId ? fn(l) : l)) }))
    try {
      await stream(`/api/v1/agents/${agentId}/test-chat`, { text: question, sessionId: state.sessionId }, ({ event, data }) => {
        if (event === 'delta') update((l) => ({ ...l, text: l.text + (data as { text: string }).text }))
        if (event === 'message') {
          const message = data as Message
          update(() => ({ id: message.id, author: 'agent', text: message.text, message }))
        }
      })
      update((l) => ({ ...l, pending: false }))
    } catch (err) {
      setError(err)
      setState((s) => ({ ...s, lines: s.lines.filter((l) => l.id !== replyId) }))
    } finally {
      setBusy(false)
    }
  }

  return (
    <section className="card chat" aria-label={t('chatTitle')}>
      {state.lines.length === 0 ? (
        <Empty>{t('chatEmpty')}</Empty>
      ) : (
        <ol className="chat-log" ref={log} aria-live="polite">
          {state.lines.map((l) => (
            <li key={l.id} className={`bubble ${l.author}`}>
              <div className="who">{l.author === 'you' ? t('you') : t('author_agent')}</div>
              <div className="text">{l.text || (l.pending ? t('thinking') : '')}</div>
              {l.message && l.message.sources.length > 0 && (
                <div className="sources">
                  <strong>{t('sources')}:</strong>
                  <ul>
                    {l.message.sources.map((s, i) => (
                      <li key={i}>
                        {s.title}
                        {s.score !== undefined && <span className="score"> ({formatNumber(s.score, 2)})</span>}
                      </li>
                    ))}
                  </ul>
                </div>
              )}
              {l.message?.meta && (
                <div className="meta">
                  {t('modelUsed', { model: l.message.meta.model ?? t('offline') })}
                  {l.message.meta.inputTokens !== undefined && <> · {t('tokens', { input: l.message.meta.inputTokens, output: l.message.meta.outputTokens ?? 0 })}</>}
                  {l.message.meta.costUsd ? <> · ${l.message.meta.costUsd}</> : null}
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
      {error ? <ErrorBox error={error} /> : null}
      <form onSubmit={send} className="row composer">
        <label htmlFor="chat-text" className="visually-hidden">
          {t('yourMessage')}
        </label>
        <textarea
          id="chat-text"
          rows={2}
          maxLength={4000}
          placeholder={t('yourMessage')}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault()
              e.currentTarget.form?.requestSubmit()
            }
          }}
        />
        <button type="submit" disabled={busy || !text.trim()}>
          {t('send')}
        </button>
        <button type="button" className="secondary" disabled={busy || state.lines.length === 0} onClick={() => setState({ sessionId: newSession(), lines: [] })}>
          {t('clearChat')}
        </button>
      </form>
    </section>
  )
}
