import { useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react'
import { request, upload, type Agent, type Passage, type Source } from '../api.ts'
import type { Session } from '../App.tsx'
import { useI18n } from '../i18n.ts'
import { Async, ConfirmButton, Empty, ErrorBox, Field, StatusBadge, useLoad } from '../ui.tsx'
import { MarkdownPreview } from '../markdown.tsx'

type Uploading = { name: string; fraction: number; error?: unknown; done?: boolean }

export function Knowledge({ session }: { session: Session }) {
  const { t, formatDate } = useI18n()
  const admin = session.me.role === 'owner' || session.me.role === 'admin'
  const sources = useLoad((signal) => request<{ sources: Source[] }>('/api/v1/knowledge/sources', { signal }), [])
  const agents = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  const agentName = new Map((agents.data?.agents ?? []).map((a) => [a.id, a.name]))
  // New knowledge is for every agent, or for one agent only.
  const [scope, setScope] = useState('')
  const busy = sources.data?.sources.some((s) => s.status === 'queued' || s.status === 'processing')
  // While something is processing, refresh its progress.
  useEffect(() => {
    if (!busy) return
    const timer = setInterval(() => {
      request<{ sources: Source[] }>('/api/v1/knowledge/sources').then((d) => sources.setData(d), () => undefined)
    }, 1000)
    return () => clearInterval(timer)
  }, [busy, sources.setData])

  return (
    <>
      <h1 tabIndex={-1}>{t('knowledgeTitle')}</h1>
      {admin && (
        <>
          <div className="row toolbar">
            <Field label={t('scope')} hint={t('scopeHint')}>
              {(id, hint) => (
                <select id={id} aria-describedby={hint} value={scope} onChange={(e) => setScope(e.target.value)}>
                  <option value="">{t('allAgents')}</option>
                  {(agents.data?.agents ?? []).map((a) => (
                    <option key={a.id} value={a.id}>
                      {a.name}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <div className="grid2">
            <Upload agentId={scope} onUploaded={sources.reload} />
            <ImportUrl agentId={scope} onImported={sources.reload} />
          </div>
          <Article agentId={scope} onSaved={sources.reload} />
        </>
      )}
      <section className="card">
        <h2>{t('sourcesTitle')}</h2>
        <Async state={sources} isEmpty={(d) => d.sources.length === 0} empty={t('sourcesEmpty')}>
          {(d) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('title')}</th>
                  <th scope="col">{t('kind')}</th>
                  <th scope="col">{t('scope')}</th>
                  <th scope="col">{t('status')}</th>
                  <th scope="col">{t('chunks')}</th>
                  <th scope="col">{t('updated')}</th>
                  {admin && <th scope="col">{t('actions')}</th>}
                </tr>
              </thead>
              <tbody>
                {d.sources.map((s) => (
                  <tr key={s.id} data-status={s.status}>
                    <td>{s.title}</td>
                    <td>{s.kind}</td>
                    <td>{s.agentId ? (agentName.get(s.agentId) ?? '—') : t('allAgents')}</td>
                    <td>
                      <StatusBadge status={s.status} text={t(`status_${s.status}`)} />
                      {(s.status === 'processing' || s.status === 'queued') && (
                        <progress max={100} value={s.progress} aria-label={`${t('progress')}: ${s.title}`}>
                          {s.progress}%
                        </progress>
                      )}
                      {s.error && <div className="error-text">{s.error}</div>}
                    </td>
                    <td>{s.chunkCount}</td>
                    <td>{formatDate(s.updatedAt)}</td>
                    {admin && (
                      <td>
                        <ConfirmButton
                          label={t('delete')}
                          question={t('deleteSourceConfirm', { name: s.title })}
                          confirmLabel={t('confirmDelete')}
                          onConfirm={async () => {
                            await request(`/api/v1/knowledge/sources/${s.id}`, { method: 'DELETE' })
                            sources.reload()
                          }}
                        />
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Async>
      </section>
      <Search />
    </>
  )
}

function Upload({ agentId, onUploaded }: { agentId: string; onUploaded: () => void }) {
  const { t } = useI18n()
  const [over, setOver] = useState(false)
  const [current, setCurrent] = useState<Uploading>()
  const input = useRef<HTMLInputElement>(null)
  const send = async (file: File) => {
    setCurrent({ name: file.name, fraction: 0 })
    try {
      await upload(`/api/v1/knowledge/files${agentId ? `?agentId=${agentId}` : ''}`, file, (fraction) => setCurrent({ name: file.name, fraction }))
      setCurrent({ name: file.name, fraction: 1, done: true })
      onUploaded()
    } catch (error) {
      setCurrent({ name: file.name, fraction: 0, error })
    }
    if (input.current) input.current.value = ''
  }
  const onDrop = (e: DragEvent) => {
    e.preventDefault()
    setOver(false)
    const file = e.dataTransfer.files[0]
    if (file) void send(file)
  }
  return (
    <section className="card">
      <h2>{t('uploadTitle')}</h2>
      <div
        className={`dropzone${over ? ' over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault()
          setOver(true)
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>{t('dropHere')}</p>
        <label className="button secondary" htmlFor="file-input">
          {t('chooseFile')}
        </label>
        <input
          id="file-input"
          ref={input}
          className="visually-hidden-input"
          type="file"
          accept=".pdf,.docx,.txt,.md,.markdown,.csv,.html,.htm"
          onChange={(e) => {
            const file = e.target.files?.[0]
            if (file) void send(file)
          }}
        />
        <small className="hint">{t('formats')}</small>
      </div>
      <div aria-live="polite">
        {current && !current.error && !current.done && (
          <div className="upload-progress">
            <span id="upload-label">{t('uploading', { name: current.name, percent: Math.round(current.fraction * 100) })}</span>
            <progress aria-labelledby="upload-label" max={1} value={current.fraction} />
          </div>
        )}
        {current?.done && <p className="success">{t('uploadDone', { name: current.name })}</p>}
      </div>
      {current?.error ? <ErrorBox error={current.error} /> : null}
    </section>
  )
}

/** An article written here in Markdown, with a preview; it becomes a knowledge source like a file. */
function Article({ agentId, onSaved }: { agentId: string; onSaved: () => void }) {
  const { t } = useI18n()
  const [title, setTitle] = useState('')
  const [content, setContent] = useState('')
  const [tab, setTab] = useState<'write' | 'preview'>('write')
  const [error, setError] = useState<unknown>()
  const [saved, setSaved] = useState('')
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    try {
      await request('/api/v1/knowledge/sources', { body: { title, content, kind: 'markdown', ...(agentId ? { agentId } : {}) } })
      setSaved(title)
      setTitle('')
      setContent('')
      setTab('write')
      onSaved()
    } catch (err) {
      setError(err)
    }
  }
  return (
    <section className="card">
      <h2>{t('articleTitle')}</h2>
      <form onSubmit={submit} className="stack">
        <Field label={t('title')}>{(id) => <input id={id} required maxLength={300} value={title} onChange={(e) => setTitle(e.target.value)} />}</Field>
        <div className="row tabs" role="group" aria-label={t('articleTitle')}>
          <button type="button" className={tab === 'write' ? '' : 'secondary'} aria-pressed={tab === 'write'} onClick={() => setTab('write')}>
            {t('write')}
          </button>
          <button type="button" className={tab === 'preview' ? '' : 'secondary'} aria-pressed={tab === 'preview'} onClick={() => setTab('preview')}>
            {t('preview')}
          </button>
        </div>
        {tab === 'write' ? (
          <Field label={t('articleText')} hint={t('markdownHint')}>
            {(id, hint) => <textarea id={id} rows={8} required aria-describedby={hint} value={content} onChange={(e) => setContent(e.target.value)} />}
          </Field>
        ) : (
          <div className="preview" aria-label={t('preview')} role="region">
            {content.trim() ? <MarkdownPreview source={content} /> : <p className="hint">{t('previewEmpty')}</p>}
          </div>
        )}
        {error ? <ErrorBox error={error} /> : null}
        <p role="status" className="success">
          {saved && t('articleSaved', { name: saved })}
        </p>
        <div className="row">
          <button type="submit" disabled={!title.trim() || !content.trim()}>
            {t('addArticle')}
          </button>
        </div>
      </form>
    </section>
  )
}

function ImportUrl({ agentId, onImported }: { agentId: string; onImported: () => void }) {
  const { t } = useI18n()
  const [url, setUrl] = useState('')
  const [sitemap, setSitemap] = useState(false)
  const [error, setError] = useState<unknown>()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    try {
      await request('/api/v1/knowledge/urls', { body: { url, sitemap, ...(agentId ? { agentId } : {}) } })
      setUrl('')
      onImported()
    } catch (err) {
      setError(err)
    }
  }
  return (
    <section className="card">
      <h2>{t('importUrl')}</h2>
      <form onSubmit={submit} className="stack">
        <Field label={t('url')}>{(id) => <input id={id} type="url" required placeholder="https://example.com/help" value={url} onChange={(e) => setUrl(e.target.value)} />}</Field>
        <label className="check">
          <input type="checkbox" checked={sitemap} onChange={(e) => setSitemap(e.target.checked)} /> {t('sitemap')}
        </label>
        {error ? <ErrorBox error={error} /> : null}
        <button type="submit">{t('import')}</button>
      </form>
    </section>
  )
}

function Search() {
  const { t, formatNumber } = useI18n()
  const agents = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  const [q, setQ] = useState('')
  const [agentId, setAgentId] = useState('')
  const [result, setResult] = useState<{ passages: Passage[]; relevant: boolean }>()
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      setResult(await request(`/api/v1/knowledge/search?q=${encodeURIComponent(q)}&limit=5${agentId ? `&agentId=${agentId}` : ''}`))
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <section className="card">
      <h2>{t('searchTitle')}</h2>
      <form onSubmit={submit} className="row" role="search">
        <Field label={t('searchLabel')}>{(id) => <input id={id} type="search" required value={q} onChange={(e) => setQ(e.target.value)} />}</Field>
        <Field label={t('agent')}>
          {(id) => (
            <select id={id} value={agentId} onChange={(e) => setAgentId(e.target.value)}>
              {(agents.data?.agents ?? []).map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" disabled={busy}>
          {t('search')}
        </button>
      </form>
      {error ? <ErrorBox error={error} /> : null}
      {result &&
        (result.passages.length === 0 ? (
          <Empty>{t('noPassages')}</Empty>
        ) : (
          <>
            <p>{t('relevance', { yes: result.relevant ? t('yes') : t('no') })}</p>
            <ol className="passages">
              {result.passages.map((p) => (
                <li key={p.chunkId}>
                  <div className="passage-head">
                    <strong>{p.title}</strong>
                    {p.heading && <span> › {p.heading}</span>}
                    <span className="score">{t('score', { score: formatNumber(p.score, 3) })}</span>
                  </div>
                  <p>{p.text}</p>
                </li>
              ))}
            </ol>
          </>
        ))}
    </section>
  )
}
