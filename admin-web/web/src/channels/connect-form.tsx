import { useState, type FormEvent, type ReactNode } from 'react'
import { request, type ConnectedInbox } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { ErrorBox, Field } from '../ui.tsx'
import type { ConnectProps } from './types.ts'

/**
 * The form every Connect component shares: the agent to answer as, the kind's own fields
 * (children), and POST /api/v1/agents/{agentId}/channels/{kind} with the kind's body.
 */
export function ConnectForm({ kind, agents, onConnected, body, onDone, help, submit, submitting, children }: ConnectProps & { kind: string; body: () => Record<string, unknown>; onDone: () => void; help: string; submit: string; submitting: string; children: ReactNode }) {
  const { t } = useI18n()
  const [agentId, setAgentId] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const agent = agentId || agents[0]!.id
  const send = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    setBusy(true)
    try {
      const { inbox } = await request<{ inbox: ConnectedInbox }>(`/api/v1/agents/${encodeURIComponent(agent)}/channels/${encodeURIComponent(kind)}`, { body: body() })
      onDone()
      onConnected(inbox)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <form onSubmit={send} className="stack">
      <p className="hint">{help}</p>
      <div className="row top">
        <Field label={t('agent')}>
          {(id) => (
            <select id={id} value={agent} onChange={(e) => setAgentId(e.target.value)}>
              {agents.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        {children}
      </div>
      {error ? <ErrorBox error={error} /> : null}
      <div>
        <button type="submit" disabled={busy}>
          {busy ? submitting : submit}
        </button>
      </div>
    </form>
  )
}
