import { useState, type FormEvent } from 'react'
import { request } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { isAdmin, type Session } from '../session.ts'
import { Async, ConfirmButton, ErrorBox, Field, useLoad } from '../ui.tsx'

/** A key as GET /api/v1/provider-keys shows it: never the key, only its last four characters. */
export type ProviderKeyItem = { id: string; name: string; provider: string; baseUrl: string | null; last4: string; createdAt: string; usedBy: { id: string; name: string }[] }
type TestResult = { keyId: string; ok: boolean; status: number | null; latencyMs: number; message: string | null; models: string[] }

/** The providers the server knows (core/llm/provider-keys.ts); vllm and custom need a base URL. */
const PROVIDERS = ['openai', 'openrouter', 'groq', 'together', 'ollama', 'vllm', 'custom'] as const
const NEEDS_URL = new Set(['vllm', 'custom'])

/** The organization's own model provider keys (BYOK): list, add, test with a real call, delete. */
export function ProviderKeys({ session }: { session: Session }) {
  const { t } = useI18n()
  const admin = isAdmin(session)
  const state = useLoad((signal) => request<{ keys: ProviderKeyItem[] }>('/api/v1/provider-keys', { signal }), [])
  const [tests, setTests] = useState<Record<string, TestResult | 'testing' | { error: unknown }>>({})

  const test = async (id: string) => {
    setTests((s) => ({ ...s, [id]: 'testing' }))
    try {
      const { test: result } = await request<{ test: TestResult }>(`/api/v1/provider-keys/${id}/test`, { method: 'POST' })
      setTests((s) => ({ ...s, [id]: result }))
    } catch (error) {
      setTests((s) => ({ ...s, [id]: { error } }))
    }
  }

  return (
    <>
      <h1 tabIndex={-1}>{t('pk_title')}</h1>
      <p>{t('pk_intro')}</p>
      {!admin && <p className="hint">{t('pk_adminOnly')}</p>}
      <Async state={state} isEmpty={(d) => d.keys.length === 0} empty={t('pk_empty')}>
        {(d) => (
          <div>
            <table className="keys">
              <thead>
                <tr>
                  <th scope="col">{t('pk_label')}</th>
                  <th scope="col">{t('pk_provider')}</th>
                  <th scope="col">{t('pk_key')}</th>
                  <th scope="col">{t('pk_usedBy')}</th>
                  {admin && <th scope="col">{t('actions')}</th>}
                </tr>
              </thead>
              <tbody>
                {d.keys.map((k) => {
                  const result = tests[k.id]
                  return (
                    <tr key={k.id} data-key={k.name}>
                      <td>
                        {k.name}
                        {k.baseUrl && (
                          <>
                            <br />
                            <small className="hint url">{k.baseUrl}</small>
                          </>
                        )}
                      </td>
                      <td>{k.provider}</td>
                      <td>
                        <code>…{k.last4}</code>
                      </td>
                      <td>
                        {k.usedBy.length ? (
                          k.usedBy.map((a, i) => (
                            <span key={a.id}>
                              {i > 0 && ', '}
                              <a href={`#/agents/${a.id}`}>{a.name}</a>
                            </span>
                          ))
                        ) : (
                          <span className="hint">{t('pk_unused')}</span>
                        )}
                      </td>
                      {admin && (
                        <td>
                          <div className="row">
                            <button type="button" className="secondary" aria-label={t('pk_testOf', { name: k.name })} disabled={result === 'testing'} onClick={() => test(k.id)}>
                              {t('pk_test')}
                            </button>
                            <ConfirmButton
                              label={t('delete')}
                              ariaLabel={t('pk_deleteOf', { name: k.name })}
                              question={k.usedBy.length ? `${t('pk_deleteConfirm', { name: k.name })} ${t('pk_inUse', { agents: k.usedBy.map((a) => a.name).join(', ') })}` : t('pk_deleteConfirm', { name: k.name })}
                              confirmLabel={t('confirmDelete')}
                              onConfirm={async () => {
                                await request(`/api/v1/provider-keys/${k.id}`, { method: 'DELETE' })
                                state.reload()
                              }}
                            />
                          </div>
                          <p role="status" aria-live="polite" className="key-test">
                            {result === 'testing' ? t('pk_testing') : result === undefined ? '' : 'error' in result ? '' : result.ok ? (
                              <span className="success">{result.models.length ? t('pk_testOk', { provider: k.provider, ms: result.latencyMs, count: result.models.length }) : t('pk_testOkNoModels', { provider: k.provider, ms: result.latencyMs })}</span>
                            ) : (
                              <span className="failure">{t('pk_testFailed', { message: result.message ?? String(result.status) })}</span>
                            )}
                          </p>
                          {result && result !== 'testing' && 'error' in result ? <ErrorBox error={result.error} /> : null}
                        </td>
                      )}
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </div>
        )}
      </Async>
      {admin && <AddKey onAdded={state.reload} />}
    </>
  )
}

function AddKey({ onAdded }: { onAdded: () => void }) {
  const { t } = useI18n()
  const empty = { name: '', provider: 'openai', baseUrl: '', apiKey: '' }
  const [form, setForm] = useState(empty)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const [added, setAdded] = useState('')
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => {
    setForm({ ...form, [k]: e.target.value })
    setAdded('')
  }
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      await request('/api/v1/provider-keys', { body: { name: form.name, provider: form.provider, apiKey: form.apiKey, ...(form.baseUrl.trim() ? { baseUrl: form.baseUrl.trim() } : {}) } })
      setAdded(form.name)
      // The key leaves the page as soon as the server has it.
      setForm(empty)
      onAdded()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <section className="card" aria-labelledby="add-key">
      <h2 id="add-key">{t('pk_add')}</h2>
      <form onSubmit={submit} className="stack">
        <div className="grid2">
          <Field label={t('pk_label')} hint={t('pk_labelHint')}>
            {(id, hint) => <input id={id} aria-describedby={hint} required maxLength={80} value={form.name} onChange={set('name')} />}
          </Field>
          <Field label={t('pk_provider')}>
            {(id) => (
              <select id={id} value={form.provider} onChange={set('provider')}>
                {PROVIDERS.map((p) => (
                  <option key={p} value={p}>
                    {p}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t('pk_baseUrl')} hint={t('pk_baseUrlHint')}>
            {(id, hint) => <input id={id} aria-describedby={hint} type="url" required={NEEDS_URL.has(form.provider)} placeholder="https://…/v1" value={form.baseUrl} onChange={set('baseUrl')} />}
          </Field>
          <Field label={t('pk_apiKey')}>{(id) => <input id={id} type="password" autoComplete="off" spellCheck={false} required maxLength={500} value={form.apiKey} onChange={set('apiKey')} />}</Field>
        </div>
        {error ? <ErrorBox error={error} /> : null}
        <div className="row">
          <button type="submit" disabled={busy}>
            {t('pk_add')}
          </button>
          <span role="status" aria-live="polite" className="success">
            {added ? t('pk_added', { name: added }) : ''}
          </span>
        </div>
      </form>
    </section>
  )
}
