import { useState, type FormEvent } from 'react'
import { request, type Agent, type ChannelList, type ConnectedInbox, type Disconnected, type KommoCatalog } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { Async, ConfirmButton, CopyButton, ErrorBox, Field, useLoad } from '../ui.tsx'

type Stage = { id: number; label: string }

/**
 * Kommo's chats on the CRM page: whether this server has a Kommo chat channel (KOMMO_CHANNEL_ID and
 * KOMMO_CHANNEL_SECRET), the hook URL to give Kommo when registering it, and the organization's
 * connection: connect it to an agent (POST /api/v1/agents/{id}/channels/kommo), how operators give
 * a conversation back (minutes of silence, a "bot" stage), and disconnect (DELETE /api/v1/channels/{id}).
 */
export function KommoChats({ catalog, admin }: { catalog: KommoCatalog; admin: boolean }) {
  const { t } = useI18n()
  const list = useLoad((signal) => request<ChannelList>('/api/v1/channels', { signal }), [])
  const agents = useLoad((signal) => request<{ agents: Agent[] }>('/api/v1/agents', { signal }), [])
  const [notice, setNotice] = useState('')
  const stages: Stage[] = catalog.pipelines.flatMap((p) => p.statuses.map((s) => ({ id: s.id, label: catalog.pipelines.length > 1 ? `${p.name}: ${s.name}` : s.name })))

  return (
    <Async state={list}>
      {(l) => {
        const kind = l.kinds.find((k) => k.kind === 'kommo')
        const offers = (kind?.offers ?? {}) as { configured?: boolean; hookUrl?: string | null }
        const inbox = l.channels.find((c) => c.kind === 'kommo')
        if (!kind) return <p className="empty">{t('kc_unavailable')}</p>
        return (
          <div className="stack">
            <p role="status" className="success">
              {notice}
            </p>
            {!offers.configured && <p className="hint">{t('kc_notConfigured')}</p>}
            {offers.hookUrl && (
              <div className="row">
                <span>
                  {t('kc_hookUrl')} <code>{offers.hookUrl}</code>
                </span>
                <CopyButton text={offers.hookUrl} ariaLabel={t('kc_copyHook')} />
              </div>
            )}
            {inbox ? (
              <>
                <dl className="facts">
                  <dt>{t('status')}</dt>
                  <dd>{t('kc_connected', { agent: inbox.agentName })}</dd>
                  <dt>{t('kc_scope')}</dt>
                  <dd>
                    <code>{String(inbox.details.scopeId ?? '')}</code>
                  </dd>
                  <dt>{t('kc_silence')}</dt>
                  <dd>{Number(inbox.details.silenceMinutes) ? t('kc_minutes', { n: Number(inbox.details.silenceMinutes) }) : t('kc_never')}</dd>
                  <dt>{t('kc_botStage')}</dt>
                  <dd>{stages.find((s) => s.id === inbox.details.botStatusId)?.label ?? t('kc_none')}</dd>
                </dl>
                {admin && (
                  <>
                    <ChatsForm stages={stages} agents={agents.data?.agents ?? []} agentId={inbox.agentId} silence={Number(inbox.details.silenceMinutes ?? 30)} botStatusId={typeof inbox.details.botStatusId === 'number' ? inbox.details.botStatusId : null} submitLabel={t('kc_save')} onDone={() => {
                      setNotice(t('kc_saved'))
                      list.reload()
                    }} />
                    <div className="row">
                      <ConfirmButton label={t('kc_disconnect')} question={t('kc_disconnectConfirm')} confirmLabel={t('kc_disconnect')} onConfirm={async () => {
                        const r = await request<Disconnected>(`/api/v1/channels/${inbox.inboxId}`, { method: 'DELETE' })
                        setNotice(r.warning ? t('kc_disconnectedWarning', { warning: r.warning }) : t('kc_disconnected'))
                        list.reload()
                      }} />
                    </div>
                  </>
                )}
              </>
            ) : (
              <>
                <p>{t('kc_notConnected')}</p>
                {admin && offers.configured ? (
                  <ChatsForm stages={stages} agents={agents.data?.agents ?? []} agentId={null} silence={30} botStatusId={null} submitLabel={t('kc_connect')} onDone={() => {
                    setNotice(t('kc_connectedNotice'))
                    list.reload()
                  }} />
                ) : null}
              </>
            )}
            <p className="hint">{t('kc_help')}</p>
          </div>
        )
      }}
    </Async>
  )
}

function ChatsForm(props: { stages: Stage[]; agents: Agent[]; agentId: string | null; silence: number; botStatusId: number | null; submitLabel: string; onDone: (inbox: ConnectedInbox) => void }) {
  const { t } = useI18n()
  const [agentId, setAgentId] = useState(props.agentId ?? '')
  const [silence, setSilence] = useState(String(props.silence))
  const [stage, setStage] = useState(props.botStatusId === null ? '' : String(props.botStatusId))
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const chosenAgent = agentId || props.agents[0]?.id || ''

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const { inbox } = await request<{ inbox: ConnectedInbox }>(`/api/v1/agents/${chosenAgent}/channels/kommo`, { body: { silenceMinutes: Number(silence), botStatusId: stage ? Number(stage) : null } })
      props.onDone(inbox)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form className="stack" onSubmit={submit}>
      {props.agentId === null && (
        <Field label={t('kc_agent')}>
          {(id) => (
            <select id={id} value={chosenAgent} onChange={(e) => setAgentId(e.target.value)}>
              {props.agents.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      )}
      <Field label={t('kc_silenceLabel')} hint={t('kc_silenceHint')}>
        {(id, describedBy) => <input id={id} type="number" min={0} max={10080} required value={silence} aria-describedby={describedBy} onChange={(e) => setSilence(e.target.value)} />}
      </Field>
      <Field label={t('kc_botStageLabel')} hint={t('kc_botStageHint')}>
        {(id, describedBy) => (
          <select id={id} value={stage} aria-describedby={describedBy} onChange={(e) => setStage(e.target.value)}>
            <option value="">{t('kc_none')}</option>
            {props.stages.map((s) => (
              <option key={s.id} value={s.id}>
                {s.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <div className="row">
        <button type="submit" disabled={busy || !chosenAgent}>
          {busy ? t('kc_working') : props.submitLabel}
        </button>
      </div>
      {error ? <ErrorBox error={error} /> : null}
    </form>
  )
}
