import { useEffect, useRef, useState, type FormEvent } from 'react'
import { request, upload, type Message, type Source } from '../api.ts'
import { useI18n, type TextKey } from '../i18n.ts'
import { navigate } from '../navigate.ts'
import { isAdmin, type Session } from '../session.ts'
import { Async, ErrorBox, Field, useLoad } from '../ui.tsx'
import { MarkdownPreview } from '../markdown.tsx'

const STEPS = ['agent', 'knowledge', 'test', 'channel'] as const
type Step = (typeof STEPS)[number]
type StepState = 'done' | 'skipped' | 'pending'
/** GET /api/v1/onboarding */
export type OnboardingView = { show: boolean; completed: boolean; dismissed: boolean; steps: Record<Step, StepState>; current: Step | null; agent: { id: string; name: string; webchatKey: string | null } | null }

const stepTitle: Record<Step, TextKey> = { agent: 'ob_step_agent', knowledge: 'ob_step_knowledge', test: 'ob_step_test', channel: 'ob_step_channel' }

/** Where a signed-in admin lands: the setup while the organization has not finished or skipped it, else the dashboard. */
export async function landingPath(role: string): Promise<string> {
  if (role !== 'owner' && role !== 'admin') return '/dashboard'
  try {
    const { onboarding } = await request<{ onboarding: OnboardingView }>('/api/v1/onboarding')
    return onboarding.show ? '/setup' : '/dashboard'
  } catch {
    return '/dashboard'
  }
}

/** The first-run wizard: name the agent, add knowledge, ask a test question, connect a channel; skippable and resumable. */
export function Onboarding({ session }: { session: Session }) {
  const { t } = useI18n()
  const state = useLoad((signal) => request<{ onboarding: OnboardingView }>('/api/v1/onboarding', { signal }).then((d) => d.onboarding), [])
  return (
    <>
      <h1 tabIndex={-1}>{t('ob_title')}</h1>
      {!isAdmin(session) ? <p>{t('ob_adminOnly')}</p> : <Async state={state}>{(view) => <Wizard initial={view} />}</Async>}
    </>
  )
}

function Wizard({ initial }: { initial: OnboardingView }) {
  const { t } = useI18n()
  const [view, setView] = useState(initial)
  const [open, setOpen] = useState<Step>(initial.current ?? 'channel')
  const [error, setError] = useState<unknown>()
  const heading = useRef<HTMLHeadingElement>(null)
  const first = useRef(true)
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    heading.current?.focus()
  }, [open])

  const mark = async (step: Step, status: StepState) => {
    setError(undefined)
    try {
      const { onboarding } = await request<{ onboarding: OnboardingView }>(`/api/v1/onboarding/steps/${step}`, { method: 'PUT', body: { status } })
      setView(onboarding)
      return onboarding
    } catch (err) {
      setError(err)
      return null
    }
  }
  const next = (after: OnboardingView, from: Step) => {
    const later = STEPS.slice(STEPS.indexOf(from) + 1).find((s) => after.steps[s] === 'pending')
    setOpen(later ?? after.current ?? from)
  }
  const skipStep = async () => {
    const after = await mark(open, 'skipped')
    if (after) next(after, open)
  }
  const skipAll = async () => {
    setError(undefined)
    try {
      await request('/api/v1/onboarding/dismissed', { method: 'PUT', body: { dismissed: true } })
      navigate('/dashboard')
    } catch (err) {
      setError(err)
    }
  }

  if (view.completed) {
    return (
      <section className="card" aria-live="polite">
        <p className="success">{t('ob_finished')}</p>
        <p>
          <a className="button" href="#/dashboard">
            {t('ob_toDashboard')}
          </a>
        </p>
      </section>
    )
  }

  const index = STEPS.indexOf(open)
  return (
    <>
      <p>{t('ob_intro')}</p>
      <nav aria-label={t('nav_setup')} className="wizard-steps">
        <ol>
          {STEPS.map((s, i) => (
            <li key={s} className={`wizard-step ${view.steps[s]}`}>
              <button type="button" className="link" aria-current={s === open ? 'step' : undefined} disabled={s !== 'agent' && !view.agent} onClick={() => setOpen(s)}>
                <span className="num" aria-hidden="true">
                  {view.steps[s] === 'done' ? '✓' : i + 1}
                </span>{' '}
                {t(stepTitle[s])}
                {view.steps[s] !== 'pending' && <span className="hint"> ({t(view.steps[s] === 'done' ? 'ob_done' : 'ob_skipped')})</span>}
              </button>
            </li>
          ))}
        </ol>
      </nav>
      <section className="card wizard" aria-labelledby="wizard-step">
        <p className="hint">{t('ob_progress', { n: index + 1 })}</p>
        <h2 id="wizard-step" ref={heading} tabIndex={-1}>
          {t(stepTitle[open])}
        </h2>
        {open === 'agent' && (
          <AgentStep
            view={view}
            onNamed={(after) => {
              setView(after)
              next(after, 'agent')
            }}
          />
        )}
        {open === 'knowledge' && view.agent && <KnowledgeStep agentId={view.agent.id} done={view.steps.knowledge === 'done'} onReady={() => mark('knowledge', 'done')} onNext={() => next(view, 'knowledge')} />}
        {open === 'test' && view.agent && <TestStep agentId={view.agent.id} done={view.steps.test === 'done'} onAnswered={() => mark('test', 'done')} onNext={() => next(view, 'test')} />}
        {open === 'channel' && view.agent && <ChannelStep webchatKey={view.agent.webchatKey} onFinish={() => mark('channel', 'done')} />}
        {error ? <ErrorBox error={error} /> : null}
        <div className="row wizard-actions">
          {index > 0 && (
            <button type="button" className="secondary" onClick={() => setOpen(STEPS[index - 1]!)}>
              {t('ob_back')}
            </button>
          )}
          {view.steps[open] === 'pending' && (open !== 'agent' || view.agent) ? (
            <button type="button" className="secondary" onClick={skipStep}>
              {t('ob_skipStep')}
            </button>
          ) : null}
          <span className="spacer" />
          <button type="button" className="secondary" onClick={skipAll}>
            {t('ob_skipAll')}
          </button>
        </div>
      </section>
    </>
  )
}

function AgentStep({ view, onNamed }: { view: OnboardingView; onNamed: (after: OnboardingView) => void }) {
  const { t } = useI18n()
  const [name, setName] = useState(view.agent?.name ?? '')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const { onboarding } = await request<{ onboarding: OnboardingView }>('/api/v1/onboarding/agent', { body: { name } })
      onNamed(onboarding)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <form onSubmit={submit} className="stack">
      {view.agent && <p className="success">{t('ob_agentReady', { name: view.agent.name })}</p>}
      <Field label={t('ob_agentName')} hint={t('ob_agentHint')}>
        {(id, hint) => <input id={id} aria-describedby={hint} required maxLength={120} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      {error ? <ErrorBox error={error} /> : null}
      <div className="row">
        <button type="submit" disabled={busy}>
          {view.agent ? t('ob_renameAgent') : t('ob_createAgent')}
        </button>
      </div>
    </form>
  )
}

const stageOf = (s: Pick<Source, 'status' | 'progress'>): TextKey => (s.status !== 'processing' ? (s.status === 'queued' ? 'ob_stage_queued' : 'ob_stage_storing') : s.progress < 20 ? 'ob_stage_parsing' : s.progress < 25 ? 'ob_stage_chunking' : s.progress < 95 ? 'ob_stage_embedding' : 'ob_stage_storing')

function KnowledgeStep({ agentId, done, onReady, onNext }: { agentId: string; done: boolean; onReady: () => Promise<unknown>; onNext: () => void }) {
  const { t } = useI18n()
  const [kind, setKind] = useState<'file' | 'url' | 'article'>('file')
  const [file, setFile] = useState<File | null>(null)
  const [url, setUrl] = useState('')
  const [title, setTitle] = useState('')
  const [body, setBody] = useState('')
  const [uploading, setUploading] = useState<number | null>(null)
  const [source, setSource] = useState<Source | null>(null)
  const [error, setError] = useState<unknown>()
  const fileInput = useRef<HTMLInputElement>(null)

  // While the source is indexed, its status and progress are read again every second.
  useEffect(() => {
    if (!source || source.status === 'ready' || source.status === 'failed') return
    const timer = setTimeout(async () => {
      try {
        const { source: fresh } = await request<{ source: Source }>(`/api/v1/knowledge/sources/${source.id}`)
        setSource(fresh)
        if (fresh.status === 'ready') await onReady()
      } catch (err) {
        setError(err)
      }
    }, 1000)
    return () => clearTimeout(timer)
  }, [source, onReady])

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    setSource(null)
    try {
      let added: Source
      if (kind === 'file') {
        if (!file) return
        setUploading(0)
        added = (await upload<{ source: Source }>(`/api/v1/knowledge/files?agentId=${agentId}`, file, (f) => setUploading(f))).source
        setUploading(null)
        if (fileInput.current) fileInput.current.value = ''
        setFile(null)
      } else if (kind === 'url') added = (await request<{ source: Source }>('/api/v1/knowledge/urls', { body: { url: url.trim(), agentId } })).source
      else added = (await request<{ article: Source }>('/api/v1/knowledge/articles', { body: { title, markdown: body } })).article
      setSource(added)
      if (added.status === 'ready') await onReady()
    } catch (err) {
      setUploading(null)
      setError(err)
    }
  }
  const kinds = [
    ['file', 'ob_kind_file'],
    ['url', 'ob_kind_url'],
    ['article', 'ob_kind_article'],
  ] as const
  return (
    <form onSubmit={submit} className="stack">
      <p>{t('ob_knowledgeHelp')}</p>
      <fieldset className="stack">
        <legend>{t('ob_kindLegend')}</legend>
        <div className="row">
          {kinds.map(([k, label]) => (
            <label key={k} className="check">
              <input type="radio" name="knowledge-kind" value={k} checked={kind === k} onChange={() => setKind(k)} /> {t(label)}
            </label>
          ))}
        </div>
      </fieldset>
      {kind === 'file' && <Field label={t('ob_file')}>{(id) => <input id={id} ref={fileInput} type="file" required accept=".pdf,.docx,.txt,.md,.markdown,.csv,.html,.htm" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />}</Field>}
      {kind === 'url' && <Field label={t('ob_url')}>{(id) => <input id={id} type="url" required placeholder="https://example.com/faq" value={url} onChange={(e) => setUrl(e.target.value)} />}</Field>}
      {kind === 'article' && (
        <>
          <Field label={t('ob_articleTitle')}>{(id) => <input id={id} required maxLength={300} value={title} onChange={(e) => setTitle(e.target.value)} />}</Field>
          <Field label={t('ob_articleBody')}>{(id) => <textarea id={id} required rows={8} value={body} onChange={(e) => setBody(e.target.value)} />}</Field>
        </>
      )}
      <div className="row">
        <button type="submit" disabled={uploading !== null || (source !== null && source.status !== 'ready' && source.status !== 'failed')}>
          {t('ob_addKnowledge')}
        </button>
      </div>
      <div role="status" aria-live="polite" className="upload-progress">
        {uploading !== null && (
          <>
            <span id="ob-upload">{t('ob_uploading', { pct: Math.round(uploading * 100) })}</span>
            <progress aria-labelledby="ob-upload" max={1} value={uploading} />
          </>
        )}
        {source && (source.status === 'queued' || source.status === 'processing') && (
          <>
            <span id="ob-indexing">{t('ob_indexing', { title: source.title, stage: t(stageOf(source)), pct: Math.round(source.progress) })}</span>
            <progress aria-labelledby="ob-indexing" max={100} value={source.progress} />
          </>
        )}
        {source?.status === 'ready' && <span className="success">{t('ob_indexed', { title: source.title, count: source.chunkCount })}</span>}
        {source?.status === 'failed' && <span className="failure">{t('ob_failed', { title: source.title, error: source.error ?? '' })}</span>}
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {done && (
        <div className="row">
          <button type="button" onClick={onNext}>
            {t('ob_next')}
          </button>
        </div>
      )}
    </form>
  )
}

function TestStep({ agentId, done, onAnswered, onNext }: { agentId: string; done: boolean; onAnswered: () => Promise<unknown>; onNext: () => void }) {
  const { t } = useI18n()
  const [question, setQuestion] = useState('')
  const [busy, setBusy] = useState(false)
  const [answer, setAnswer] = useState<Message | null>(null)
  const [error, setError] = useState<unknown>()
  const ask = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const { messages } = await request<{ messages: Message[] }>(`/api/v1/agents/${agentId}/test-chat`, { body: { text: question, sessionId: 'setup' } })
      const reply = messages.find((m) => m.author === 'agent') ?? messages[0] ?? null
      setAnswer(reply)
      if (reply) await onAnswered()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <form onSubmit={ask} className="stack">
      <Field label={t('ob_question')} hint={t('ob_questionHint')}>
        {(id, hint) => <input id={id} aria-describedby={hint} required maxLength={4000} value={question} onChange={(e) => setQuestion(e.target.value)} />}
      </Field>
      <div className="row">
        <button type="submit" disabled={busy}>
          {busy ? t('ob_asking') : t('ob_ask')}
        </button>
      </div>
      <div aria-live="polite">
        {answer && (
          <section className="bubble agent wizard-answer" aria-labelledby="ob-answer">
            <h3 id="ob-answer">{t('ob_answer')}</h3>
            <div className="text markdown">
              <MarkdownPreview source={answer.text} />
            </div>
            {answer.sources.length > 0 && (
              <div className="sources">
                <strong>{t('ob_sourcesOfAnswer')}:</strong>
                <ol>
                  {answer.sources.map((s, i) => (
                    <li key={i}>{s.title}</li>
                  ))}
                </ol>
              </div>
            )}
          </section>
        )}
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {done && (
        <div className="row">
          <button type="button" onClick={onNext}>
            {t('ob_next')}
          </button>
        </div>
      )}
    </form>
  )
}

function ChannelStep({ webchatKey, onFinish }: { webchatKey: string | null; onFinish: () => Promise<unknown> }) {
  const { t } = useI18n()
  const link = webchatKey ? `${location.origin}/chat/${webchatKey}` : null
  return (
    <div className="stack">
      <p>{t('ob_channelHelp')}</p>
      {link && (
        <Field label={t('ob_webchatLink')}>
          {(id) => (
            <div className="row">
              <input id={id} readOnly value={link} onFocus={(e) => e.target.select()} />
              <a className="button secondary" href={link} target="_blank" rel="noopener">
                {t('ob_openChat')}
              </a>
            </div>
          )}
        </Field>
      )}
      <p>
        {t('ob_otherChannels')} <a href="#/channels">{t('ob_toChannels')} →</a>
      </p>
      <div className="row">
        <button type="button" onClick={() => void onFinish()}>
          {t('ob_finish')}
        </button>
      </div>
    </div>
  )
}
