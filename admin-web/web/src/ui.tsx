import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react'
import { ApiError } from './api.ts'
import { serverErrorsRu, useI18n, type Lang } from './i18n.ts'

export type Loaded<T> = { data: T | undefined; error: unknown; loading: boolean; reload: () => void; setData: (d: T) => void }

/** Loads data for a page; `reload` runs it again. Keeps the last data while reloading. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<unknown>()
  const [loading, setLoading] = useState(true)
  const [tick, setTick] = useState(0)
  const run = useCallback(load, deps)
  useEffect(() => {
    const ctl = new AbortController()
    setLoading(true)
    run(ctl.signal).then(
      (d) => {
        if (ctl.signal.aborted) return
        setData(d)
        setError(undefined)
        setLoading(false)
      },
      (e) => {
        if (ctl.signal.aborted) return
        setError(e)
        setLoading(false)
      },
    )
    return () => ctl.abort()
  }, [run, tick])
  return { data, error, loading, reload: () => setTick((n) => n + 1), setData }
}

export function errorText(t: ReturnType<typeof useI18n>['t'], error: unknown, lang: Lang = 'en'): string {
  if (error instanceof ApiError && error.code === 'network') return t('errorNetwork')
  if (error instanceof ApiError) return (lang === 'ru' && serverErrorsRu[error.code]) || error.message
  return t('errorGeneric', { message: (error as Error)?.message ?? String(error) })
}

export function Loading() {
  const { t } = useI18n()
  return (
    <p className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {t('loading')}
    </p>
  )
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t, lang } = useI18n()
  return (
    <div className="error" role="alert">
      <p>{errorText(t, error, lang)}</p>
      {onRetry && (
        <button type="button" className="secondary" onClick={onRetry}>
          {t('retry')}
        </button>
      )}
    </div>
  )
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>
}

/** Loading, error and empty states around a page section. */
export function Async<T>({ state, isEmpty, empty, children }: { state: Loaded<T>; isEmpty?: (d: T) => boolean; empty?: ReactNode; children: (d: T) => ReactNode }) {
  if (state.data === undefined && state.loading) return <Loading />
  if (state.error && state.data === undefined) return <ErrorBox error={state.error} onRetry={state.reload} />
  if (state.data === undefined) return null
  return (
    <>
      {state.error ? <ErrorBox error={state.error} onRetry={state.reload} /> : null}
      {isEmpty?.(state.data) ? <Empty>{empty}</Empty> : children(state.data)}
    </>
  )
}

/** A button that asks for confirmation in a modal dialog before it acts. */
export function ConfirmButton({ label, ariaLabel, question, confirmLabel, onConfirm, className = 'danger' }: { label: string; /** The accessible name when the label alone is ambiguous (e.g. one button per table row). */ ariaLabel?: string; question: string; confirmLabel: string; onConfirm: () => Promise<void> | void; className?: string }) {
  const { t } = useI18n()
  const ref = useRef<HTMLDialogElement>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const id = useId()
  return (
    <>
      <button type="button" className={className} aria-label={ariaLabel} onClick={() => ref.current?.showModal()}>
        {label}
      </button>
      <dialog ref={ref} aria-labelledby={`${id}-q`} onClose={() => setError(undefined)}>
        <p id={`${id}-q`}>{question}</p>
        {error ? <ErrorBox error={error} /> : null}
        <div className="row">
          <button type="button" className="secondary" autoFocus onClick={() => ref.current?.close()}>
            {t('cancel')}
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={async () => {
              setBusy(true)
              try {
                await onConfirm()
                ref.current?.close()
              } catch (e) {
                setError(e)
              } finally {
                setBusy(false)
              }
            }}
          >
            {confirmLabel}
          </button>
        </div>
      </dialog>
    </>
  )
}

/** Copies `text` to the clipboard (or, where the browser allows no clipboard, through a selection) and says so. */
export function CopyButton({ text, label, ariaLabel }: { text: string; label?: string; ariaLabel?: string }) {
  const { t } = useI18n()
  const [result, setResult] = useState<'copied' | 'failed' | null>(null)
  useEffect(() => {
    if (!result) return
    const timer = setTimeout(() => setResult(null), 4000)
    return () => clearTimeout(timer)
  }, [result])
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text)
      setResult('copied')
    } catch {
      setResult(copyBySelection(text) ? 'copied' : 'failed')
    }
  }
  return (
    <span className="copy">
      <button type="button" className="secondary" aria-label={ariaLabel} onClick={copy}>
        {label ?? t('copy')}
      </button>
      <span role="status" className="hint">
        {result === 'copied' ? t('copied') : result === 'failed' ? t('copyFailed') : ''}
      </span>
    </span>
  )
}

/** The clipboard without the Clipboard API (a page served over plain HTTP): a selected hidden textarea and the copy command. */
function copyBySelection(text: string): boolean {
  const area = document.createElement('textarea')
  area.value = text
  area.setAttribute('readonly', '')
  area.className = 'visually-hidden'
  const focused = document.activeElement as HTMLElement | null
  document.body.append(area)
  area.select()
  let ok: boolean
  try {
    ok = document.execCommand('copy')
  } catch {
    ok = false
  }
  area.remove()
  focused?.focus()
  return ok
}

export function StatusBadge({ status, text }: { status: string; text: string }) {
  return <span className={`badge badge-${status}`}>{text}</span>
}

/** A select of named things (agents, collections) with a first option for "none" or "all" (value ""). */
export function NamedSelect(props: { id?: string; describedBy?: string; ariaLabel?: string; value: string; onChange: (value: string) => void; none: string; items: { id: string; name: string }[]; disabled?: boolean }) {
  return (
    <select id={props.id} aria-describedby={props.describedBy} aria-label={props.ariaLabel} value={props.value} disabled={props.disabled} onChange={(e) => props.onChange(e.target.value)}>
      <option value="">{props.none}</option>
      {props.items.map((item) => (
        <option key={item.id} value={item.id}>
          {item.name}
        </option>
      ))}
    </select>
  )
}

export function Field({ label, hint, children, id }: { label: string; hint?: string; children: (id: string, describedBy?: string) => ReactNode; id?: string }) {
  const auto = useId()
  const fieldId = id ?? auto
  return (
    <div className="field">
      <label htmlFor={fieldId}>{label}</label>
      {children(fieldId, hint ? `${fieldId}-hint` : undefined)}
      {hint && (
        <small id={`${fieldId}-hint`} className="hint">
          {hint}
        </small>
      )}
    </div>
  )
}
