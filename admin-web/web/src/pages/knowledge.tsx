import { useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react'
import { isArticle, request, upload, type Agent, type Collection, type Passage, type Source } from '../api.ts'
import type { Session } from '../session.ts'
import { useI18n, type TextKey } from '../i18n.ts'
import { Async, ConfirmButton, Empty, ErrorBox, Field, Loading, NamedSelect, StatusBadge, useLoad, type Loaded } from '../ui.tsx'
import { MarkdownPreview } from '../markdown.tsx'
import { useLiveEvents } from '../live.tsx'

type Uploading = { name: string; fraction: number; error?: unknown; done?: boolean }

export function Knowledge({ session }: { session: Session }) {
  const { t, formatDate } = useI18n()
  const admin = session.me.role === 'owner' || session.me.role === 'admin'
  const sources = useLoad((signal) => request<{ sources: Source[] }>('/api/v1/knowledge/sources', { signal }), [])
  const agents = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  const collections = useLoad((signal) => request<{ collections: Collection[] }>('/api/v1/knowledge/collections', { signal }), [])
  const searchMode = useLoad((signal) => request<{ semantic: boolean }>('/api/v1/knowledge/search-mode', { signal }), [])
  const agentName = new Map((agents.data?.agents ?? []).map((a) => [a.id, a.name]))
  const collectionList = collections.data?.collections ?? []
  const collectionName = new Map(collectionList.map((c) => [c.id, c.name]))
  // New documents and pages are for every agent or for one agent only, and go to a collection or to none.
  const [scope, setScope] = useState('')
  const [chosenTarget, setTarget] = useState('')
  // The sources table shows every collection, the uncategorised sources, or one collection.
  const [chosenShown, setShown] = useState(ALL)
  // The article opened in the editor from the table (none: a new one); `key` starts the editor afresh.
  const [opened, setOpened] = useState<{ id?: string; key: number }>({ key: 0 })
  // The article in the editor once it is saved, whose status and progress the editor shows.
  const [editing, setEditing] = useState<string>()
  const startEditor = (id?: string) => {
    setOpened((o) => ({ id, key: o.key + 1 }))
    setEditing(id)
  }
  const editor = useRef<HTMLElement>(null)
  const busy = sources.data?.sources.some((s) => s.status === 'queued' || s.status === 'processing')
  // While something is processing, refresh its progress.
  useEffect(() => {
    if (!busy) return
    const timer = setInterval(() => {
      request<{ sources: Source[] }>('/api/v1/knowledge/sources').then((d) => sources.setData(d), () => undefined)
    }, 1000)
    return () => clearInterval(timer)
  }, [busy, sources.setData])
  // Indexing progress as it happens (the live stream); the polling above stays as the fallback.
  useLiveEvents((e) => {
    if (e.type !== 'source.progress' || !sources.data) return
    const { sourceId, status, progress } = e.data as { sourceId?: string; status?: Source['status'] | null; progress?: number | null }
    // A new source, or one finished (its passage count and error come with the list): read the list again.
    if (status === 'ready' || status === 'failed' || !sources.data.sources.some((s) => s.id === sourceId)) return sources.reload()
    sources.setData({ ...sources.data, sources: sources.data.sources.map((s) => (s.id === sourceId ? { ...s, ...(status ? { status } : {}), ...(typeof progress === 'number' ? { progress } : {}) } : s)) })
  })
  const changed = () => {
    sources.reload()
    collections.reload()
  }
  const openArticle = (id: string) => {
    startEditor(id)
    editor.current?.scrollIntoView({ block: 'start' })
  }
  // A collection deleted meanwhile is no longer a choice.
  const target = collectionName.has(chosenTarget) ? chosenTarget : ''
  const shown = chosenShown === NONE || collectionName.has(chosenShown) ? chosenShown : ALL
  const visible = (sources.data?.sources ?? []).filter((s) => shown === ALL || (shown === NONE ? s.collectionId === null : s.collectionId === shown))

  return (
    <>
      <h1 tabIndex={-1}>{t('knowledgeTitle')}</h1>
      {searchMode.data?.semantic === false && (
        <p className="notice" role="note" data-testid="semantic-off">
          {t('semanticOff')}
        </p>
      )}
      <Collections state={collections} admin={admin} onChanged={changed} />
      {admin && (
        <>
          <div className="grid2 placement">
            <Field label={t('scope')} hint={t('scopeHint')}>
              {(id, hint) => (
                <NamedSelect id={id} describedBy={hint} value={scope} onChange={setScope} none={t('allAgents')} items={agents.data?.agents ?? []} />
              )}
            </Field>
            <Field label={t('targetCollection')} hint={t('targetCollectionHint')}>
              {(id, hint) => (
                <NamedSelect id={id} describedBy={hint} value={target} onChange={setTarget} none={t('noCollection')} items={collectionList} />
              )}
            </Field>
          </div>
          <div className="grid2">
            <Upload agentId={scope} collectionId={target} onUploaded={changed} />
            <ImportUrl agentId={scope} collectionId={target} onImported={changed} />
          </div>
          <section className="card" ref={editor} aria-labelledby="article-heading">
            <Article
              key={opened.key}
              id={opened.id}
              focus={opened.key > 0}
              collections={collectionList}
              defaultCollectionId={target}
              source={sources.data?.sources.find((s) => s.id === editing)}
              onSaved={(id) => {
                setEditing(id)
                changed()
              }}
              onClose={() => {
                startEditor(undefined)
                changed()
              }}
            />
          </section>
        </>
      )}
      <section className="card">
        <h2>{t('sourcesTitle')}</h2>
        <div className="row toolbar">
          <Field label={t('showCollection')}>
            {(id) => (
              <select id={id} value={shown} onChange={(e) => setShown(e.target.value)}>
                <option value={ALL}>{t('allCollections')}</option>
                <option value={NONE}>{t('noCollection')}</option>
                {collectionList.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <Async state={sources} isEmpty={(d) => d.sources.length === 0} empty={t('sourcesEmpty')}>
          {() =>
            visible.length === 0 ? (
              <Empty>{t('collectionEmpty')}</Empty>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('title')}</th>
                    <th scope="col">{t('kind')}</th>
                    <th scope="col">{t('collection')}</th>
                    <th scope="col">{t('scope')}</th>
                    <th scope="col">{t('status')}</th>
                    <th scope="col">{t('chunks')}</th>
                    <th scope="col">{t('updated')}</th>
                    {admin && <th scope="col">{t('actions')}</th>}
                  </tr>
                </thead>
                <tbody>
                  {visible.map((s) => (
                    <tr key={s.id} data-status={s.status}>
                      <td>{s.title}</td>
                      <td>{t(isArticle(s) ? 'kind_article' : (`kind_${s.kind}` as TextKey))}</td>
                      <td>
                        {admin ? (
                          <MoveSource source={s} collections={collectionList} onMoved={changed} />
                        ) : s.collectionId ? (
                          (collectionName.get(s.collectionId) ?? '—')
                        ) : (
                          t('noCollection')
                        )}
                      </td>
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
                          <div className="row">
                            {isArticle(s) && (
                              <button type="button" className="secondary" aria-label={`${t('edit')}: ${s.title}`} onClick={() => openArticle(s.id)}>
                                {t('edit')}
                              </button>
                            )}
                            <ConfirmButton
                              label={t('delete')}
                              question={t('deleteSourceConfirm', { name: s.title })}
                              confirmLabel={t('confirmDelete')}
                              onConfirm={async () => {
                                await request(`/api/v1/knowledge/sources/${s.id}`, { method: 'DELETE' })
                                if (editing === s.id) startEditor(undefined)
                                changed()
                              }}
                            />
                          </div>
                        </td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </Async>
      </section>
      <Search agents={agents.data?.agents ?? []} collections={collectionList} />
    </>
  )
}

const ALL = '*'
const NONE = '-'

/** Collections with their source counts: create, rename and delete (admins). */
function Collections({ state, admin, onChanged }: { state: Loaded<{ collections: Collection[] }>; admin: boolean; onChanged: () => void }) {
  const { t } = useI18n()
  const [name, setName] = useState('')
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)
  const create = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      await request('/api/v1/knowledge/collections', { body: { name } })
      setName('')
      onChanged()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <section className="card">
      <h2>{t('collectionsTitle')}</h2>
      <p className="hint">{t('collectionsText')}</p>
      {admin && (
        <form onSubmit={create} className="row">
          <Field label={t('newCollection')}>{(id) => (
              <input
                id={id}
                required
                maxLength={120}
                value={name}
                onChange={(e) => {
                  setName(e.target.value)
                  setError(undefined)
                }}
              />
            )}
          </Field>
          <button type="submit" disabled={busy || !name.trim()}>
            {t('createCollection')}
          </button>
        </form>
      )}
      {error ? <ErrorBox error={error} /> : null}
      <Async state={state} isEmpty={(d) => d.collections.length === 0} empty={t('collectionsEmpty')}>
        {(d) => (
          <table>
            <thead>
              <tr>
                <th scope="col">{t('name')}</th>
                <th scope="col">{t('sourceCount')}</th>
                {admin && <th scope="col">{t('actions')}</th>}
              </tr>
            </thead>
            <tbody>
              {d.collections.map((c) => (
                <CollectionRow key={c.id} collection={c} admin={admin} onChanged={onChanged} />
              ))}
            </tbody>
          </table>
        )}
      </Async>
    </section>
  )
}

function CollectionRow({ collection, admin, onChanged }: { collection: Collection; admin: boolean; onChanged: () => void }) {
  const { t, formatNumber } = useI18n()
  const [renaming, setRenaming] = useState(false)
  const [name, setName] = useState(collection.name)
  const [error, setError] = useState<unknown>()
  const renameButton = useRef<HTMLButtonElement>(null)
  // After renaming (or cancelling), the focus goes back to the "Rename" button.
  const wasRenaming = useRef(false)
  useEffect(() => {
    if (wasRenaming.current && !renaming) renameButton.current?.focus()
    wasRenaming.current = renaming
  }, [renaming])
  const stop = () => {
    setRenaming(false)
    setError(undefined)
    setName(collection.name)
  }
  const save = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    try {
      await request(`/api/v1/knowledge/collections/${collection.id}`, { method: 'PATCH', body: { name } })
      setRenaming(false)
      onChanged()
    } catch (err) {
      setError(err)
    }
  }
  return (
    <tr>
      <td>
        {renaming ? (
          <form onSubmit={save} className="row" onKeyDown={(e) => e.key === 'Escape' && stop()}>
            <Field label={t('renameCollection', { name: collection.name })}>
              {(id) => <input id={id} required maxLength={120} autoFocus value={name} onChange={(e) => setName(e.target.value)} />}
            </Field>
            <button type="submit" disabled={!name.trim()}>
              {t('save')}
            </button>
            <button type="button" className="secondary" onClick={stop}>
              {t('cancel')}
            </button>
            {error ? <ErrorBox error={error} /> : null}
          </form>
        ) : (
          collection.name
        )}
      </td>
      <td>{formatNumber(collection.sourceCount)}</td>
      {admin && (
        <td>
          <div className="row">
            {!renaming && (
              <button type="button" ref={renameButton} className="secondary" aria-label={`${t('rename')}: ${collection.name}`} onClick={() => setRenaming(true)}>
                {t('rename')}
              </button>
            )}
            <ConfirmButton
              label={t('delete')}
              question={t('deleteCollectionConfirm', { name: collection.name })}
              confirmLabel={t('confirmDelete')}
              onConfirm={async () => {
                await request(`/api/v1/knowledge/collections/${collection.id}`, { method: 'DELETE' })
                onChanged()
              }}
            />
          </div>
        </td>
      )}
    </tr>
  )
}

/** The collection picker in a source's row: choosing another one moves the source at once. */
function MoveSource({ source, collections, onMoved }: { source: Source; collections: Collection[]; onMoved: () => void }) {
  const { t } = useI18n()
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)
  const move = async (value: string) => {
    setBusy(true)
    setError(undefined)
    try {
      await request(`/api/v1/knowledge/sources/${source.id}`, { method: 'PATCH', body: { collectionId: value || null } })
      onMoved()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <NamedSelect ariaLabel={t('moveSource', { name: source.title })} value={source.collectionId ?? ''} disabled={busy} onChange={(value) => void move(value)} none={t('noCollection')} items={collections} />
      {error ? <ErrorBox error={error} /> : null}
    </>
  )
}

/** The query or body fields that put new knowledge for one agent and in one collection. */
const placement = (agentId: string, collectionId: string) => ({ ...(agentId ? { agentId } : {}), ...(collectionId ? { collectionId } : {}) })

function Upload({ agentId, collectionId, onUploaded }: { agentId: string; collectionId: string; onUploaded: () => void }) {
  const { t } = useI18n()
  const [over, setOver] = useState(false)
  const [current, setCurrent] = useState<Uploading>()
  const input = useRef<HTMLInputElement>(null)
  const send = async (file: File) => {
    setCurrent({ name: file.name, fraction: 0 })
    try {
      const query = new URLSearchParams(placement(agentId, collectionId)).toString()
      await upload(`/api/v1/knowledge/files${query ? `?${query}` : ''}`, file, (fraction) => setCurrent({ name: file.name, fraction }))
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

type ArticleData = { article: Source; markdown: string }

/**
 * An article written here in Markdown, with a preview: a new one, or one opened from the table to
 * edit, save again or delete. While it is indexed, its status and progress show under the form.
 */
function Article({ id, focus, collections, defaultCollectionId, source, onSaved, onClose }: { id?: string; focus: boolean; collections: Collection[]; defaultCollectionId: string; source?: Source; onSaved: (id: string) => void; onClose: () => void }) {
  const { t } = useI18n()
  const loaded = useLoad((signal) => (id ? request<ArticleData>(`/api/v1/knowledge/articles/${id}`, { signal }) : Promise.resolve(undefined)), [id])
  if (id && loaded.data === undefined) {
    return (
      <>
        <h2 id="article-heading">{t('editArticle')}</h2>
        <Async state={loaded}>{() => null}</Async>
      </>
    )
  }
  return <ArticleForm initial={loaded.data} focus={focus} collections={collections} defaultCollectionId={defaultCollectionId} source={source} onSaved={onSaved} onClose={onClose} />
}

function ArticleForm({ initial, focus, collections, defaultCollectionId, source, onSaved, onClose }: { initial?: ArticleData; focus: boolean; collections: Collection[]; defaultCollectionId: string; source?: Source; onSaved: (id: string) => void; onClose: () => void }) {
  const { t } = useI18n()
  const [title, setTitle] = useState(initial?.article.title ?? '')
  const [content, setContent] = useState(initial?.markdown ?? '')
  const [collectionId, setCollectionId] = useState(initial ? (initial.article.collectionId ?? '') : defaultCollectionId)
  const [tab, setTab] = useState<'write' | 'preview'>('write')
  const [error, setError] = useState<unknown>()
  const [saved, setSaved] = useState('')
  const [busy, setBusy] = useState(false)
  const [id, setId] = useState(initial?.article.id)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    setBusy(true)
    try {
      // The collection is sent only when changed here: a move in the sources table meanwhile stays.
      const moved = !initial || collectionId !== (initial.article.collectionId ?? '')
      const body = { title, markdown: content, ...(moved ? { collectionId: collectionId || null } : {}) }
      const { article } = id
        ? await request<{ article: Source }>(`/api/v1/knowledge/articles/${id}`, { method: 'PATCH', body })
        : await request<{ article: Source }>('/api/v1/knowledge/articles', { body })
      setSaved(t(id ? 'articleUpdated' : 'articleSaved', { name: title }))
      setId(article.id)
      onSaved(article.id)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const status = source ?? initial?.article
  return (
    <>
      <h2 id="article-heading">{id ? t('editArticle') : t('articleTitle')}</h2>
      <form onSubmit={submit} className="stack">
        <div className="grid2">
          <Field label={t('title')}>{(fid) => <input id={fid} required maxLength={300} autoFocus={focus} value={title} onChange={(e) => setTitle(e.target.value)} />}</Field>
          <Field label={t('articleCollection')}>
            {(fid) => (
              <NamedSelect id={fid} value={collectionId} onChange={setCollectionId} none={t('noCollection')} items={collections} />
            )}
          </Field>
        </div>
        <div className="row tabs" role="group" aria-label={t('articleView')}>
          <button type="button" className={tab === 'write' ? '' : 'secondary'} aria-pressed={tab === 'write'} onClick={() => setTab('write')}>
            {t('write')}
          </button>
          <button type="button" className={tab === 'preview' ? '' : 'secondary'} aria-pressed={tab === 'preview'} onClick={() => setTab('preview')}>
            {t('preview')}
          </button>
        </div>
        {tab === 'write' ? (
          <Field label={t('articleText')} hint={t('markdownHint')}>
            {(fid, hint) => <textarea id={fid} rows={8} required aria-describedby={hint} value={content} onChange={(e) => setContent(e.target.value)} />}
          </Field>
        ) : (
          <div className="preview" aria-label={t('preview')} role="region">
            {content.trim() ? <MarkdownPreview source={content} /> : <p className="hint">{t('previewEmpty')}</p>}
          </div>
        )}
        {error ? <ErrorBox error={error} /> : null}
        <div role="status" aria-live="polite" className="article-status">
          {saved && <p className="success">{saved}</p>}
          {status && (
            <p>
              <StatusBadge status={status.status} text={t(`status_${status.status}`)} />
              {(status.status === 'processing' || status.status === 'queued') && (
                <progress max={100} value={status.progress} aria-label={`${t('progress')}: ${status.title}`}>
                  {status.progress}%
                </progress>
              )}
              {status.status === 'ready' && t('articlePassages', { count: status.chunkCount })}
              {status.error && <span className="error-text"> {status.error}</span>}
            </p>
          )}
        </div>
        <div className="row">
          <button type="submit" disabled={busy || !title.trim() || !content.trim()}>
            {id ? t('saveArticle') : t('addArticle')}
          </button>
          {id && (
            <>
              <button type="button" className="secondary" onClick={onClose}>
                {t('newArticle')}
              </button>
              <ConfirmButton
                label={t('deleteArticle')}
                question={t('deleteSourceConfirm', { name: title })}
                confirmLabel={t('confirmDelete')}
                onConfirm={async () => {
                  await request(`/api/v1/knowledge/articles/${id}`, { method: 'DELETE' })
                  onClose()
                }}
              />
            </>
          )}
        </div>
      </form>
    </>
  )
}

function ImportUrl({ agentId, collectionId, onImported }: { agentId: string; collectionId: string; onImported: () => void }) {
  const { t } = useI18n()
  const [url, setUrl] = useState('')
  const [sitemap, setSitemap] = useState(false)
  const [error, setError] = useState<unknown>()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    try {
      await request('/api/v1/knowledge/urls', { body: { url, sitemap, ...placement(agentId, collectionId) } })
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

function Search({ agents, collections }: { agents: Agent[]; collections: Collection[] }) {
  const { t, formatNumber } = useI18n()
  const [q, setQ] = useState('')
  const [agentId, setAgentId] = useState('')
  const [collectionId, setCollectionId] = useState('')
  const [result, setResult] = useState<{ passages: Passage[]; relevant: boolean }>()
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)
  const collectionName = new Map(collections.map((c) => [c.id, c.name]))
  const number = (n: number | null) => (n === null ? '—' : formatNumber(n, 3))
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const query = new URLSearchParams({ q, limit: '5', ...placement(agentId, collectionId) })
      setResult(await request(`/api/v1/knowledge/search?${query}`))
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
        <Field label={t('searchAgent')}>
          {(id) => (
            <NamedSelect id={id} value={agentId} onChange={setAgentId} none={t('anyAgent')} items={agents} />
          )}
        </Field>
        <Field label={t('searchCollection')}>
          {(id) => (
            <NamedSelect id={id} value={collectionId} onChange={setCollectionId} none={t('allCollections')} items={collections} />
          )}
        </Field>
        <button type="submit" disabled={busy}>
          {t('search')}
        </button>
      </form>
      <div aria-live="polite">
        {busy && <Loading />}
        {error ? <ErrorBox error={error} /> : null}
        {result &&
          !busy &&
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
                      <span className="collection-name">{p.collectionId ? (collectionName.get(p.collectionId) ?? '—') : t('noCollection')}</span>
                    </div>
                    <p className="scores">
                      <span className="score">{t('score', { score: number(p.score) })}</span>
                      <span>{t('bm25', { score: number(p.bm25) })}</span>
                      <span>{t('similarity', { score: number(p.similarity) })}</span>
                    </p>
                    <p>{p.text}</p>
                  </li>
                ))}
              </ol>
            </>
          ))}
      </div>
    </section>
  )
}
