import { useState, type FormEvent } from 'react'
import { request, type Agent, type ChannelList, type Collection } from '../api.ts'
import { ChannelName } from '../channels/view.tsx'
import { navigate } from '../navigate.ts'
import { isAdmin, type Session } from '../session.ts'
import { useI18n } from '../i18n.ts'
import { Async, ConfirmButton, ErrorBox, Field, useLoad } from '../ui.tsx'


export function Agents({ session }: { session: Session }) {
  const { t, formatDate } = useI18n()
  const state = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  const [name, setName] = useState('')
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)
  const create = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const { agent } = await request<{ agent: Agent }>('/api/v1/agents', { body: { name } })
      setName('')
      navigate(`/agents/${agent.id}`)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <h1 tabIndex={-1}>{t('agentsTitle')}</h1>
      {isAdmin(session) && (
        <form onSubmit={create} className="row card">
          <Field label={t('newAgent')}>{(id) => <input id={id} name="agentName" required maxLength={120} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
          <button type="submit" disabled={busy}>
            {t('create')}
          </button>
          {error ? <ErrorBox error={error} /> : null}
        </form>
      )}
      <Async state={state} isEmpty={(d) => d.agents.length === 0} empty={t('agentsEmpty')}>
        {(d) => (
          <table>
            <thead>
              <tr>
                <th scope="col">{t('name')}</th>
                <th scope="col">{t('model')}</th>
                <th scope="col">{t('created')}</th>
                <th scope="col">{t('actions')}</th>
              </tr>
            </thead>
            <tbody>
              {d.agents.map((a) => (
                <tr key={a.id}>
                  <td>
                    <a href={`#/agents/${a.id}`}>{a.name}</a>
                  </td>
                  <td>{a.model ?? t('offline')}</td>
                  <td>{formatDate(a.createdAt)}</td>
                  <td className="row">
                    <a className="button secondary" href={`#/agents/${a.id}`} aria-label={`${t('edit')}: ${a.name}`}>
                      {t('edit')}
                    </a>
                    {isAdmin(session) && (
                      <ConfirmButton
                        label={t('delete')}
                        question={t('deleteAgentConfirm', { name: a.name })}
                        confirmLabel={t('confirmDelete')}
                        onConfirm={async () => {
                          await request(`/api/v1/agents/${a.id}`, { method: 'DELETE' })
                          state.reload()
                        }}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Async>
    </>
  )
}

export type ProviderKey = { id: string; name: string; provider: string; last4: string }
type FallbackRow = { key: number; model: string; providerKeyId: string }

export function AgentEdit({ id, session }: { id: string; session: Session }) {
  const { t } = useI18n()
  const state = useLoad(
    async (signal) => {
      const [agent, keys] = await Promise.all([request<{ agent: Agent }>(`/api/v1/agents/${id}`, { signal }), request<{ keys: ProviderKey[] }>('/api/v1/provider-keys', { signal })])
      return { ...agent, keys: keys.keys }
    },
    [id],
  )
  return (
    <>
      <p>
        <a href="#/agents">← {t('back')}</a>
      </p>
      <Async state={state}>{(d) => <AgentForm agent={d.agent} keys={d.keys} readOnly={!isAdmin(session)} />}</Async>
    </>
  )
}

/** The options of a key select: the installation's key, the organization's keys, and a key that is gone (kept, not silently changed). */
function KeyOptions({ keys, current }: { keys: ProviderKey[]; current: string }) {
  const { t } = useI18n()
  return (
    <>
      <option value="">{t('environmentKey')}</option>
      {keys.map((k) => (
        <option key={k.id} value={k.id}>
          {k.name} ({k.provider}, …{k.last4})
        </option>
      ))}
      {current && !keys.some((k) => k.id === current) ? <option value={current}>{t('fb_unknownKey', { id: current.slice(0, 8) })}</option> : null}
    </>
  )
}

let rowKeys = 0
const MAX_FALLBACKS = 5

function AgentForm({ agent, keys, readOnly }: { agent: Agent; keys: ProviderKey[]; readOnly: boolean }) {
  const { t } = useI18n()
  const [form, setForm] = useState({
    name: agent.name,
    instructions: agent.instructions,
    model: agent.model ?? '',
    providerKeyId: agent.providerKeyId ?? '',
    temperature: String(agent.temperature),
    maxTokens: String(agent.maxTokens),
    responseDelayMs: String(agent.responseDelayMs),
    language: agent.language,
  })
  // Each fallback keeps its own key: what was loaded is sent back as it was unless changed here.
  const [fallbacks, setFallbacks] = useState<FallbackRow[]>(() => agent.fallbacks.map((f) => ({ key: ++rowKeys, model: f.model, providerKeyId: f.providerKeyId ?? '' })))
  const [status, setStatus] = useState<'idle' | 'saving' | 'saved'>('idle')
  const [error, setError] = useState<unknown>()
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => {
    setForm({ ...form, [k]: e.target.value })
    setStatus('idle')
  }
  const changeFallbacks = (next: FallbackRow[]) => {
    setFallbacks(next)
    setStatus('idle')
  }
  const setFallback = (i: number, patch: Partial<FallbackRow>) => changeFallbacks(fallbacks.map((f, j) => (j === i ? { ...f, ...patch } : f)))
  const move = (i: number, by: -1 | 1) => {
    const next = [...fallbacks]
    const [row] = next.splice(i, 1)
    next.splice(i + by, 0, row!)
    changeFallbacks(next)
  }
  const save = async (e: FormEvent) => {
    e.preventDefault()
    setStatus('saving')
    setError(undefined)
    try {
      await request(`/api/v1/agents/${agent.id}`, {
        method: 'PATCH',
        body: {
          name: form.name,
          instructions: form.instructions,
          model: form.model.trim() || null,
          providerKeyId: form.providerKeyId || null,
          temperature: Number(form.temperature),
          maxTokens: Number(form.maxTokens),
          responseDelayMs: Number(form.responseDelayMs),
          fallbacks: fallbacks.filter((f) => f.model.trim()).map((f) => ({ providerKeyId: f.providerKeyId || null, model: f.model.trim() })),
          language: form.language,
        },
      })
      setStatus('saved')
    } catch (err) {
      setError(err)
      setStatus('idle')
    }
  }
  return (
    <>
      <h1 tabIndex={-1}>{t('editAgent', { name: agent.name })}</h1>
      <form onSubmit={save} className="stack card">
        <fieldset disabled={readOnly} className="stack">
          <Field label={t('name')}>{(id) => <input id={id} required maxLength={120} value={form.name} onChange={set('name')} />}</Field>
          <Field label={t('instructions')}>{(id) => <textarea id={id} rows={6} maxLength={20000} value={form.instructions} onChange={set('instructions')} />}</Field>
          <div className="grid2">
            <Field label={t('temperature')}>{(id) => <input id={id} type="number" min={0} max={2} step={0.1} required value={form.temperature} onChange={set('temperature')} />}</Field>
            <Field label={t('maxTokens')}>{(id) => <input id={id} type="number" min={16} max={32000} required value={form.maxTokens} onChange={set('maxTokens')} />}</Field>
            <Field label={t('responseDelay')}>{(id) => <input id={id} type="number" min={0} max={30000} step={100} required value={form.responseDelayMs} onChange={set('responseDelayMs')} />}</Field>
            <Field label={t('customerLanguage')} hint={t('customerLanguageHint')}>
              {(id, hint) => (
                <select id={id} aria-describedby={hint} value={form.language} onChange={set('language')}>
                  <option value="auto">{t('languageAuto')}</option>
                  <option value="en">English</option>
                  <option value="ru">Русский</option>
                </select>
              )}
            </Field>
          </div>
        </fieldset>
        <fieldset disabled={readOnly} className="stack models" aria-describedby="agent-models-intro">
          <legend>{t('fb_title')}</legend>
          <small id="agent-models-intro" className="hint">
            {t('fb_intro')}
          </small>
          <div className="grid2">
            <Field label={t('fb_primary')} hint={t('modelHint')}>
              {(id, hint) => <input id={id} aria-describedby={hint} placeholder="gpt-4o-mini" maxLength={200} value={form.model} onChange={set('model')} />}
            </Field>
            <Field label={t('providerKey')}>
              {(id) => (
                <select id={id} value={form.providerKeyId} onChange={set('providerKeyId')}>
                  <KeyOptions keys={keys} current={form.providerKeyId} />
                </select>
              )}
            </Field>
          </div>
          <h2 className="subhead" id="agent-fallbacks">
            {t('fb_list')}
          </h2>
          {fallbacks.length === 0 ? <p className="empty">{t('fb_empty')}</p> : null}
          <ol className="fallbacks" aria-labelledby="agent-fallbacks">
            {fallbacks.map((f, i) => (
              <li key={f.key} className="row fallback" data-fallback={i + 1}>
                <Field label={t('fb_modelOf', { n: i + 1 })}>{(id) => <input id={id} required maxLength={200} value={f.model} onChange={(e) => setFallback(i, { model: e.target.value })} />}</Field>
                <Field label={t('fb_keyOf', { n: i + 1 })}>
                  {(id) => (
                    <select id={id} value={f.providerKeyId} onChange={(e) => setFallback(i, { providerKeyId: e.target.value })}>
                      <KeyOptions keys={keys} current={f.providerKeyId} />
                    </select>
                  )}
                </Field>
                <div className="row">
                  <button type="button" className="secondary" aria-label={t('fb_up', { n: i + 1 })} disabled={i === 0} onClick={() => move(i, -1)}>
                    ↑
                  </button>
                  <button type="button" className="secondary" aria-label={t('fb_down', { n: i + 1 })} disabled={i === fallbacks.length - 1} onClick={() => move(i, 1)}>
                    ↓
                  </button>
                  <button type="button" className="danger" aria-label={t('fb_remove', { n: i + 1 })} onClick={() => changeFallbacks(fallbacks.filter((_, j) => j !== i))}>
                    ✕
                  </button>
                </div>
              </li>
            ))}
          </ol>
          <div className="row">
            <button type="button" className="secondary" disabled={fallbacks.length >= MAX_FALLBACKS} onClick={() => changeFallbacks([...fallbacks, { key: ++rowKeys, model: '', providerKeyId: form.providerKeyId }])}>
              {t('fb_add')}
            </button>
            {fallbacks.length >= MAX_FALLBACKS ? <small className="hint">{t('fb_max')}</small> : null}
            <a href="#/keys">{t('fb_manageKeys')} →</a>
          </div>
        </fieldset>
        {error ? <ErrorBox error={error} /> : null}
        {!readOnly && (
          <div className="row">
            <button type="submit" disabled={status === 'saving'}>
              {t('save')}
            </button>
            <span role="status" aria-live="polite" className="success">
              {status === 'saved' ? t('saved') : ''}
            </span>
          </div>
        )}
      </form>
      <AgentCollections agentId={agent.id} readOnly={readOnly} />
      <AgentChannels agentId={agent.id} />
    </>
  )
}

/** Every channel connected to the agent (not its test chat), shown as on the Channels page. */
function AgentChannels({ agentId }: { agentId: string }) {
  const { t } = useI18n()
  const state = useLoad(
    async (signal) => {
      const { channels } = await request<ChannelList>('/api/v1/channels', { signal })
      return channels.filter((c) => c.agentId === agentId && c.purpose !== 'test')
    },
    [agentId],
  )
  return (
    <section className="card" aria-labelledby="agent-channels">
      <h2 id="agent-channels">{t('agentChannels')}</h2>
      <Async state={state} isEmpty={(d) => d.length === 0} empty={t('agentChannelsEmpty')}>
        {(d) => (
          <ul>
            {d.map((c) => (
              <li key={c.id} data-channel={c.kind ?? c.channel}>
                <ChannelName channel={c} />
              </li>
            ))}
          </ul>
        )}
      </Async>
      <p>
        <a href="#/channels">{t('nav_channels')} →</a>
      </p>
    </section>
  )
}

/** The collections an agent answers from, as checkboxes; none checked = all of the organization's knowledge. */
function AgentCollections({ agentId, readOnly }: { agentId: string; readOnly: boolean }) {
  const { t } = useI18n()
  const state = useLoad(
    async (signal) => {
      const [all, mine] = await Promise.all([
        request<{ collections: Collection[] }>('/api/v1/knowledge/collections', { signal }),
        request<{ collectionIds: string[] }>(`/api/v1/agents/${agentId}/collections`, { signal }),
      ])
      return { collections: all.collections, collectionIds: mine.collectionIds }
    },
    [agentId],
  )
  return (
    <section className="card" aria-labelledby="agent-collections">
      <h2 id="agent-collections">{t('agentCollections')}</h2>
      <Async state={state} isEmpty={(d) => d.collections.length === 0} empty={t('agentCollectionsEmpty')}>
        {(d) => <AgentCollectionsForm agentId={agentId} collections={d.collections} initial={d.collectionIds} readOnly={readOnly} />}
      </Async>
      <p>
        <a href="#/knowledge">{t('nav_knowledge')} →</a>
      </p>
    </section>
  )
}

function AgentCollectionsForm({ agentId, collections, initial, readOnly }: { agentId: string; collections: Collection[]; initial: string[]; readOnly: boolean }) {
  const { t } = useI18n()
  const [checked, setChecked] = useState(() => new Set(initial))
  const [current, setCurrent] = useState(initial.length)
  const [status, setStatus] = useState<'idle' | 'saving' | 'saved'>('idle')
  const [error, setError] = useState<unknown>()
  const toggle = (id: string, on: boolean) => {
    const next = new Set(checked)
    if (on) next.add(id)
    else next.delete(id)
    setChecked(next)
    setStatus('idle')
  }
  const save = async (e: FormEvent) => {
    e.preventDefault()
    setStatus('saving')
    setError(undefined)
    try {
      const { collectionIds } = await request<{ collectionIds: string[] }>(`/api/v1/agents/${agentId}/collections`, { method: 'PUT', body: { collectionIds: [...checked] } })
      setCurrent(collectionIds.length)
      setStatus('saved')
    } catch (err) {
      setError(err)
      setStatus('idle')
    }
  }
  return (
    <form onSubmit={save} className="stack">
      <fieldset disabled={readOnly} className="stack" aria-describedby="agent-collections-hint">
        <legend className="visually-hidden">{t('agentCollections')}</legend>
        <small id="agent-collections-hint" className="hint">
          {t('agentCollectionsHint')}
        </small>
        {collections.map((c) => (
          <label key={c.id} className="check">
            <input type="checkbox" checked={checked.has(c.id)} onChange={(e) => toggle(c.id, e.target.checked)} /> {c.name}
          </label>
        ))}
      </fieldset>
      <p>{current === 0 ? t('agentAllKnowledge') : t('agentSomeKnowledge', { count: current, total: collections.length })}</p>
      {error ? <ErrorBox error={error} /> : null}
      {!readOnly && (
        <div className="row">
          <button type="submit" disabled={status === 'saving'}>
            {t('saveCollections')}
          </button>
          <span role="status" aria-live="polite" className="success">
            {status === 'saved' ? t('saved') : ''}
          </span>
        </div>
      )}
    </form>
  )
}
