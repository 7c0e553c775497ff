import { useState, type FormEvent, type ReactNode } from 'react'
import { request, type Agent, type ConnectedInbox } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { ErrorBox, Field } from '../ui.tsx'
import type { ConnectProps } from './types.ts'

/** The agent a channel answers as. */
export function AgentField({ agents, value, onChange, hint }: { agents: Agent[]; value: string; onChange: (id: string) => void; hint?: string }) {
  const { t } = useI18n()
  return (
    <Field label={t('agent')} hint={hint}>
      {(id, describedBy) => (
        <select id={id} aria-describedby={describedBy} value={value} onChange={(e) => onChange(e.target.value)}>
          {agents.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name}
            </option>
          ))}
        </select>
      )}
    </Field>
  )
}

/**
 * The form every Connect component shares: the agent to answer as, the kind's own fields
 * (children), and POST /api/v1/agents/{agentId}/channels/{kind} with the kind's body. A kind that
 * lets the agent be chosen elsewhere too (Slack's "Add to Slack") passes `agentId`: the form then
 * has no agent field of its own.
 */
export function ConnectForm({ kind, agents, onConnected, body, onDone, help, submit, submitting, children, agentId: chosen }: ConnectProps & { kind: string; body: () => Record<string, unknown>; onDone: () => void; help: string; submit: string; submitting: string; children: ReactNode; agentId?: string }) {
  const [agentId, setAgentId] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const agent = chosen ?? (agentId || agents[0]!.id)
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
        {chosen === undefined && <AgentField agents={agents} value={agent} onChange={setAgentId} />}
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
