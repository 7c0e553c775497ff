import { useEffect, useRef, useState, type FormEvent } from 'react'
import { request, type Agent, type Message } from '../api.ts'
import type { Session } from '../session.ts'
import { useI18n } from '../i18n.ts'
import { navigate } from '../navigate.ts'
import { NotificationToggle, useLiveEvents, useLiveState, useReasonLabel } from '../live.tsx'
import { Async, ConfirmButton, ErrorBox, Field, NamedSelect, StatusBadge, useLoad } from '../ui.tsx'

/** A row of GET /api/v1/conversations. */
export type ConversationRow = {
  id: string
  inboxId: string
  agentId: string
  contactId: string
  state: 'bot' | 'handoff' | 'closed'
  channel: string | null
  inboxName: string | null
  test: boolean
  createdAt: string
  lastMessageAt: string
  agent: { id: string; name: string } | null
  contact: { id: string; name: string | null }
  lastMessage: { author: Message['author']; text: string; createdAt: string } | null
  handoff: { id: string; status: 'open' | 'taken'; reason: string; createdAt: string } | null
  holder: { userId: string; name: string } | null
  waitingSince: string | null
}
type Page = { conversations: ConversationRow[]; nextCursor: string | null }
type Profile = {
  contact: { id: string; name: string | null; createdAt: string }
  identities: { inboxId: string; channel: string; inboxName: string }[]
  conversations: number
  facts: { key: string; value: string; source: string; updatedAt: string }[]
  leads: { id: string; title: string; value: number | null; stage: string; owner: string | null; notes: { id: string; text: string; createdAt: string }[]; tasks: { id: string; text: string; dueAt: string | null; done: boolean }[] }[]
}

const canOperate = (s: Session) => s.me.role !== 'member'
const isAdmin = (s: Session) => s.me.role === 'owner' || s.me.role === 'admin'
const CHANNELS = ['webchat', 'telegram', 'slack', 'messenger', 'instagram', 'kommo']
const ICONS: Record<string, string> = { webchat: 'W', telegram: 'T', slack: 'S', messenger: 'M', instagram: 'I', kommo: 'K' }

export function ChannelIcon({ channel }: { channel: string | null }) {
  const kind = channel ?? 'webchat'
  return (
    <span className="channel">
      <span className={`channel-icon channel-${kind}`} aria-hidden="true">
        {ICONS[kind] ?? '•'}
      </span>
      {kind}
    </span>
  )
}

/** Re-renders every `ms`, for times shown relative to now. */
function useNow(ms: number) {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms)
    return () => clearInterval(timer)
  }, [ms])
  return now
}

function useDuration() {
  const { t } = useI18n()
  return (since: string, now: number) => {
    const minutes = Math.max(0, Math.floor((now - new Date(since).getTime()) / 60_000))
    if (minutes < 1) return t('cv_justNow')
    if (minutes < 60) return t('cv_minutes', { n: minutes })
    if (minutes < 48 * 60) return t('cv_hours', { h: Math.floor(minutes / 60), m: minutes % 60 })
    return t('cv_days', { n: Math.floor(minutes / 1440) })
  }
}

export const contactName = (t: ReturnType<typeof useI18n>['t'], c: { id: string; name: string | null }) => c.name?.trim() || t('cv_visitor', { id: c.id.slice(0, 6) })

/** Reloads (at most every 300 ms) when a live event concerns conversations, and after a reconnection. */
function useReloadOnLive(reload: () => void, concerns: (e: { type: string; data: { conversationId?: string } }) => boolean) {
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined)
  useEffect(() => () => clearTimeout(timer.current), [])
  useLiveEvents((e) => {
    if (e.type !== 'ready' && !concerns(e)) return
    if (e.type === 'ready' && !e.data.resync) return
    clearTimeout(timer.current)
    timer.current = setTimeout(reload, 300)
  })
}

export function Conversations({ session }: { session: Session }) {
  const { t } = useI18n()
  const { connected } = useLiveState()
  const [state, setState] = useState<'' | 'bot' | 'handoff' | 'closed'>('')
  const [channel, setChannel] = useState('')
  const [agentId, setAgentId] = useState('')
  const [mine, setMine] = useState(false)
  const [tests, setTests] = useState(false)
  const [more, setMore] = useState<ConversationRow[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const agents = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  const query = new URLSearchParams({ limit: '50', ...(state ? { state } : {}), ...(channel ? { channel } : {}), ...(agentId ? { agentId } : {}), ...(mine ? { mine: 'true' } : {}), ...(tests ? { tests: 'true' } : {}) }).toString()
  const waiting = useLoad((signal) => request<Page>('/api/v1/conversations?state=handoff&limit=100', { signal }).then((p) => p.conversations.filter((c) => c.handoff?.status === 'open')), [])
  const list = useLoad(
    async (signal) => {
      const page = await request<Page>(`/api/v1/conversations?${query}`, { signal })
      setMore([])
      setCursor(page.nextCursor)
      return page
    },
    [query],
  )
  const conversationEvent = (e: { type: string }) => e.type.startsWith('conversation.') || e.type.startsWith('message.') || e.type.startsWith('handoff.') || e.type === 'contact.erased'
  useReloadOnLive(() => {
    list.reload()
    waiting.reload()
  }, conversationEvent)
  const [actionError, setActionError] = useState<unknown>()
  const [erased] = useState(() => {
    const text = sessionStorage.getItem('sb.erased')
    sessionStorage.removeItem('sb.erased')
    return text
  })
  const take = async (conversationId: string) => {
    setActionError(undefined)
    try {
      await request(`/api/v1/conversations/${conversationId}/take`, { method: 'POST' })
      navigate(`/conversations/${conversationId}`)
    } catch (e) {
      setActionError(e)
      list.reload()
      waiting.reload()
    }
  }
  const loadMore = async () => {
    if (!cursor) return
    try {
      const page = await request<Page>(`/api/v1/conversations?${query}&cursor=${encodeURIComponent(cursor)}`)
      setMore((m) => [...m, ...page.conversations])
      setCursor(page.nextCursor)
    } catch (e) {
      setActionError(e)
    }
  }
  return (
    <>
      <h1 tabIndex={-1}>{t('conversationsTitle')}</h1>
      <p className="hint live-state" role="status">
        {connected ? t('cv_live') : t('cv_offline')}
      </p>
      {erased && (
        <p className="notice" role="status">
          {erased}
        </p>
      )}
      {canOperate(session) && <NotificationToggle />}
      {actionError ? <ErrorBox error={actionError} /> : null}
      <section className="card" aria-labelledby="waiting-title">
        <h2 id="waiting-title">{t('cv_waitingTitle')}</h2>
        <Async state={waiting} isEmpty={(d) => d.length === 0} empty={t('queueEmpty')}>
          {(rows) => <ConversationTable rows={rows} session={session} onTake={take} caption={t('cv_waitingTitle')} />}
        </Async>
      </section>
      <section className="card" aria-labelledby="all-title">
        <h2 id="all-title">{t('cv_allTitle')}</h2>
        <div className="row toolbar filters" role="group" aria-label={t('cv_filters')}>
          <Field label={t('state')}>
            {(id) => (
              <select id={id} value={state} onChange={(e) => setState(e.target.value as typeof state)}>
                <option value="">{t('cv_anyState')}</option>
                <option value="bot">{t('state_bot')}</option>
                <option value="handoff">{t('state_handoff')}</option>
                <option value="closed">{t('state_closed')}</option>
              </select>
            )}
          </Field>
          <Field label={t('channel')}>
            {(id) => (
              <select id={id} value={channel} onChange={(e) => setChannel(e.target.value)}>
                <option value="">{t('cv_anyChannel')}</option>
                {CHANNELS.map((c) => (
                  <option key={c} value={c}>
                    {c}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t('cv_agent')}>{(id) => <NamedSelect id={id} value={agentId} onChange={setAgentId} none={t('cv_anyAgent')} items={agents.data?.agents ?? []} />}</Field>
          <label className="check">
            <input type="checkbox" checked={mine} onChange={(e) => setMine(e.target.checked)} /> {t('cv_mine')}
          </label>
          <label className="check">
            <input type="checkbox" checked={tests} onChange={(e) => setTests(e.target.checked)} /> {t('includeTests')}
          </label>
        </div>
        <Async state={list} isEmpty={(d) => d.conversations.length === 0} empty={t('conversationsEmpty')}>
          {(d) => (
            <>
              <ConversationTable rows={[...d.conversations, ...more]} session={session} onTake={take} caption={t('cv_allTitle')} />
              {cursor && (
                <p>
                  <button type="button" className="secondary" onClick={loadMore}>
                    {t('cv_loadMore')}
                  </button>
                </p>
              )}
            </>
          )}
        </Async>
      </section>
    </>
  )
}

function ConversationTable({ rows, session, onTake, caption }: { rows: ConversationRow[]; session: Session; onTake: (id: string) => void; caption: string }) {
  const { t, formatDate } = useI18n()
  const reasonLabel = useReasonLabel()
  const duration = useDuration()
  const now = useNow(30_000)
  return (
    <table className="conversations">
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{t('cv_contact')}</th>
          <th scope="col">{t('channel')}</th>
          <th scope="col">{t('cv_agent')}</th>
          <th scope="col">{t('cv_lastMessage')}</th>
          <th scope="col">{t('state')}</th>
          <th scope="col">{t('cv_waiting')}</th>
          <th scope="col">{t('cv_holder')}</th>
          <th scope="col">{t('actions')}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => (
          <tr key={c.id} data-conversation={c.id}>
            <th scope="row" data-label={t('cv_contact')}>
              {contactName(t, c.contact)}
            </th>
            <td data-label={t('channel')}>
              <ChannelIcon channel={c.channel} />
              {c.test ? ` (${t('nav_chat')})` : ''}
            </td>
            <td data-label={t('cv_agent')}>{c.agent?.name ?? t('cv_nobody')}</td>
            <td data-label={t('cv_lastMessage')} className="last-message">
              {c.lastMessage ? (
                <>
                  <span className="hint">{t(`author_${c.lastMessage.author}`)}:</span> {c.lastMessage.text}
                  <br />
                  <time className="hint" dateTime={c.lastMessage.createdAt}>
                    {formatDate(c.lastMessage.createdAt)}
                  </time>
                </>
              ) : (
                t('cv_nobody')
              )}
            </td>
            <td data-label={t('state')}>
              <StatusBadge status={c.handoff?.status === 'open' ? 'failed' : c.state === 'handoff' ? 'processing' : c.state === 'bot' ? 'ready' : 'queued'} text={c.handoff?.status === 'open' ? t('handoff_open') : t(`state_${c.state}`)} />
              {c.handoff && <div className="hint">{reasonLabel(c.handoff.reason)}</div>}
            </td>
            <td data-label={t('cv_waiting')}>{c.waitingSince ? duration(c.waitingSince, now) : t('cv_nobody')}</td>
            <td data-label={t('cv_holder')}>{c.holder ? (c.holder.userId === session.me.userId ? t('cv_you') : c.holder.name) : c.handoff?.status === 'taken' ? t('cv_outside') : t('cv_nobody')}</td>
            <td data-label={t('actions')}>
              <div className="row">
                <a className="button secondary" href={`#/conversations/${c.id}`} aria-label={`${t('open')}: ${contactName(t, c.contact)}`}>
                  {t('open')}
                </a>
                {canOperate(session) && c.state !== 'closed' && !c.holder && (
                  <button type="button" onClick={() => onTake(c.id)} aria-label={`${t('take')}: ${contactName(t, c.contact)}`}>
                    {t('take')}
                  </button>
                )}
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

export function ConversationView({ id, session }: { id: string; session: Session }) {
  const { t, formatDate } = useI18n()
  const reasonLabel = useReasonLabel()
  const duration = useDuration()
  const now = useNow(30_000)
  const state = useLoad(async (signal) => {
    const [{ conversation }, { messages }] = await Promise.all([
      request<{ conversation: ConversationRow }>(`/api/v1/conversations/${id}`, { signal }),
      request<{ messages: Message[] }>(`/api/v1/conversations/${id}/messages`, { signal }),
    ])
    return { conversation, messages }
  }, [id])
  useReloadOnLive(state.reload, (e) => e.data.conversationId === id || e.type === 'contact.erased')
  const [text, setText] = useState('')
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)
  const log = useRef<HTMLOListElement>(null)
  const count = state.data?.messages.length ?? 0
  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight })
  }, [count])
  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true)
    setError(undefined)
    try {
      await fn()
      state.reload()
    } catch (e) {
      setError(e)
      state.reload()
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
  if (state.error && (state.error as { status?: number }).status === 404)
    return (
      <>
        <p>
          <a href="#/conversations">← {t('back')}</a>
        </p>
        <h1 tabIndex={-1}>{t('conversationsTitle')}</h1>
        <p>{t('cv_gone')}</p>
      </>
    )
  return (
    <>
      <p>
        <a href="#/conversations">← {t('back')}</a>
      </p>
      <Async state={state}>
        {({ conversation: c, messages }) => {
          const mineHeld = c.holder?.userId === session.me.userId
          const heldByOther = Boolean(c.holder) && !mineHeld
          return (
            <>
              <h1 tabIndex={-1}>
                {contactName(t, c.contact)} · <ChannelIcon channel={c.channel} />
              </h1>
              <div className="row toolbar">
                <StatusBadge status={c.handoff?.status === 'open' ? 'failed' : c.state === 'handoff' ? 'processing' : 'ready'} text={c.handoff?.status === 'open' ? t('handoff_open') : t(`state_${c.state}`)} />
                {c.agent && <span className="hint">{c.agent.name}</span>}
                {c.handoff && <span className="hint">{reasonLabel(c.handoff.reason)}</span>}
              </div>
              <p className="holder" role="status">
                {mineHeld
                  ? t('cv_heldByYou')
                  : heldByOther
                    ? t('cv_heldBy', { name: c.holder!.name })
                    : c.handoff?.status === 'taken'
                      ? t('cv_heldOutside')
                      : c.handoff?.status === 'open'
                        ? t('cv_waitingSince', { time: duration(c.handoff.createdAt, now) })
                        : t('cv_withBot')}
              </p>
              <div className="row toolbar">
                {canOperate(session) && c.state !== 'closed' && !c.holder && (
                  <button type="button" disabled={busy} onClick={() => run(() => request(`/api/v1/conversations/${id}/take`, { method: 'POST' }))}>
                    {t('take')}
                  </button>
                )}
                {canOperate(session) && c.state === 'handoff' && (mineHeld || isAdmin(session) || !c.holder) && (
                  <button type="button" className="secondary" disabled={busy} onClick={() => run(() => request(`/api/v1/conversations/${id}/release`, { method: 'POST' }))}>
                    {t('release')}
                  </button>
                )}
              </div>
              {error ? <ErrorBox error={error} /> : null}
              <div className="conversation-layout">
                <div className="stack">
                  <section className="card" aria-labelledby="transcript-title">
                    <h2 id="transcript-title">{t('transcript')}</h2>
                    <ol className="chat-log" ref={log} aria-live="polite" tabIndex={0} aria-labelledby="transcript-title">
                      {messages.map((m) => (
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
                  {canOperate(session) &&
                    (mineHeld ? (
                      <form onSubmit={reply} className="card stack">
                        <Field label={t('reply')}>{(fid) => <textarea id={fid} rows={3} required maxLength={4000} value={text} onChange={(e) => setText(e.target.value)} />}</Field>
                        <div className="row">
                          <button type="submit" disabled={busy || !text.trim()}>
                            {t('sendReply')}
                          </button>
                        </div>
                      </form>
                    ) : (
                      !heldByOther && c.state !== 'closed' && <p className="hint">{t('cv_takeToReply')}</p>
                    ))}
                </div>
                <ContactPanel contactId={c.contactId} session={session} />
              </div>
            </>
          )
        }}
      </Async>
    </>
  )
}

function ContactPanel({ contactId, session }: { contactId: string; session: Session }) {
  const { t, formatDate, formatNumber } = useI18n()
  const profile = useLoad((signal) => request<{ profile: Profile }>(`/api/v1/contacts/${contactId}`, { signal }).then((d) => d.profile), [contactId])
  useReloadOnLive(profile.reload, (e) => e.type === 'contact.erased')
  const [error, setError] = useState<unknown>()
  const [editing, setEditing] = useState<string | null>(null)
  const [value, setValue] = useState('')
  const [newKey, setNewKey] = useState('')
  const [note, setNote] = useState<Record<string, string>>({})
  const act = async (fn: () => Promise<unknown>) => {
    setError(undefined)
    try {
      await fn()
      profile.reload()
    } catch (e) {
      setError(e)
    }
  }
  const saveFact = (key: string) => (e: FormEvent) => {
    e.preventDefault()
    void act(async () => {
      await request(`/api/v1/contacts/${contactId}/facts/${encodeURIComponent(key)}`, { method: 'PUT', body: { value } })
      setEditing(null)
      setNewKey('')
      setValue('')
    })
  }
  return (
    <aside className="card contact-panel" aria-labelledby="contact-title">
      <h2 id="contact-title">{t('cv_profile')}</h2>
      {error ? <ErrorBox error={error} /> : null}
      <Async state={profile}>
        {(p) => (
          <div className="stack">
            <p>
              <strong>{contactName(t, p.contact)}</strong>
              <br />
              <span className="hint">
                {t('cv_channels')}: {p.identities.map((i) => `${i.channel} (${i.inboxName})`).join(', ') || t('cv_nobody')} · {t('cv_conversations')}: {p.conversations}
              </span>
            </p>
            <h3>{t('cv_facts')}</h3>
            {p.facts.length === 0 ? <p className="hint">{t('cv_noFacts')}</p> : null}
            <ul className="plain facts">
              {p.facts.map((f) => (
                <li key={f.key}>
                  {editing === f.key ? (
                    <form className="row" onSubmit={saveFact(f.key)}>
                      <Field label={f.key}>{(fid) => <input id={fid} required maxLength={1000} value={value} onChange={(e) => setValue(e.target.value)} />}</Field>
                      <button type="submit">{t('save')}</button>
                      <button type="button" className="secondary" onClick={() => setEditing(null)}>
                        {t('cancel')}
                      </button>
                    </form>
                  ) : (
                    <div className="row">
                      <span>
                        <strong>{f.key}</strong>: {f.value}
                      </span>
                      {isAdmin(session) && (
                        <>
                          <button
                            type="button"
                            className="secondary"
                            aria-label={t('cv_editFact', { key: f.key })}
                            onClick={() => {
                              setEditing(f.key)
                              setValue(f.value)
                            }}
                          >
                            {t('edit')}
                          </button>
                          <ConfirmButton label={t('delete')} ariaLabel={t('cv_deleteFact', { key: f.key })} question={t('cv_deleteFactQ', { key: f.key })} confirmLabel={t('confirmDelete')} onConfirm={() => act(() => request(`/api/v1/contacts/${contactId}/facts/${encodeURIComponent(f.key)}`, { method: 'DELETE' }))} />
                        </>
                      )}
                    </div>
                  )}
                </li>
              ))}
            </ul>
            {isAdmin(session) && editing === null && (
              <form className="row" onSubmit={saveFact(newKey.trim())}>
                <Field label={t('cv_factKey')}>{(fid) => <input id={fid} required maxLength={64} value={newKey} onChange={(e) => setNewKey(e.target.value)} />}</Field>
                <Field label={t('cv_factValue')}>{(fid) => <input id={fid} required maxLength={1000} value={value} onChange={(e) => setValue(e.target.value)} />}</Field>
                <button type="submit" className="secondary">
                  {t('cv_addFact')}
                </button>
              </form>
            )}
            <h3>{t('cv_leads')}</h3>
            {p.leads.length === 0 ? <p className="hint">{t('cv_noLeads')}</p> : null}
            {p.leads.map((l) => (
              <div key={l.id} className="lead">
                <p>
                  <strong>{l.title}</strong>
                  <br />
                  <span className="hint">
                    {t('cv_stage', { stage: l.stage })}
                    {l.value !== null ? ` · ${t('cv_value', { value: formatNumber(l.value) })}` : ''}
                    {l.owner ? ` · ${l.owner}` : ''}
                  </span>
                </p>
                {l.notes.length > 0 && (
                  <>
                    <h4>{t('cv_notes')}</h4>
                    <ul>
                      {l.notes.map((n) => (
                        <li key={n.id}>
                          {n.text} <span className="hint">{formatDate(n.createdAt)}</span>
                        </li>
                      ))}
                    </ul>
                  </>
                )}
                {l.tasks.length > 0 && (
                  <>
                    <h4>{t('cv_tasks')}</h4>
                    <ul>
                      {l.tasks.map((task) => (
                        <li key={task.id}>
                          {task.text}
                          {task.dueAt ? <span className="hint"> · {t('cv_due', { date: formatDate(task.dueAt) })}</span> : null}
                          {task.done ? <span className="hint"> · {t('cv_done')}</span> : null}
                        </li>
                      ))}
                    </ul>
                  </>
                )}
                {canOperate(session) && (
                  <form
                    className="row"
                    onSubmit={(e) => {
                      e.preventDefault()
                      void act(async () => {
                        await request(`/api/v1/leads/${l.id}/notes`, { body: { text: note[l.id] ?? '' } })
                        setNote((n) => ({ ...n, [l.id]: '' }))
                      })
                    }}
                  >
                    <Field label={t('cv_noteFor', { lead: l.title })}>{(fid) => <input id={fid} required maxLength={4000} value={note[l.id] ?? ''} onChange={(e) => setNote((n) => ({ ...n, [l.id]: e.target.value }))} />}</Field>
                    <button type="submit" className="secondary">
                      {t('cv_addNote')}
                    </button>
                  </form>
                )}
              </div>
            ))}
            {isAdmin(session) && (
              <div className="erase">
                <h3>{t('cv_erase')}</h3>
                <p className="hint">{t('cv_eraseHelp')}</p>
                <ConfirmButton
                  label={t('cv_erase')}
                  question={t('cv_eraseQ', { name: contactName(t, p.contact) })}
                  confirmLabel={t('cv_eraseConfirm')}
                  onConfirm={async () => {
                    const { erased } = await request<{ erased: { messages: number; facts: number; leads: number } }>(`/api/v1/contacts/${contactId}`, { method: 'DELETE' })
                    sessionStorage.setItem('sb.erased', t('cv_erased', erased))
                    navigate('/conversations')
                  }}
                />
              </div>
            )}
          </div>
        )}
      </Async>
    </aside>
  )
}
