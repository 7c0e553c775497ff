import { useEffect, useId, useRef, useState, type FormEvent } from 'react'
import { request, type KommoCatalog, type KommoConnected, type KommoDisconnected, type KommoSettings, type KommoState, type KommoWebhook } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { readHash } from '../navigate.ts'
import { isAdmin, type Session } from '../session.ts'
import { Async, ConfirmButton, CopyButton, ErrorBox, Field, StatusBadge, useLoad } from '../ui.tsx'
import { KommoChats } from './crm-chats.tsx'

/** Kommo's won and lost stages, in every pipeline: where leads end, not where they start. */
const CLOSED = new Set([142, 143])

/** "acme", "acme.kommo.com" or the account's whole address → "acme" (the server checks it). */
export const kommoSubdomain = (input: string) =>
  input
    .trim()
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, '')
    .replace(/[/?#].*$/, '')
    .replace(/\.kommo\.com\.?$/, '')

/**
 * What "Connect with Kommo" (the server's OAuth redirect) came back with: #/crm?connected=kommo,
 * or #/crm?kommoError=<message>.
 */
type Returned = { connected: boolean; error: string | null }
function oauthResult(): Returned {
  const { params } = readHash()
  return { connected: params.get('connected') === 'kommo', error: params.has('kommoError') ? (params.get('kommoError') ?? '') : null }
}

/**
 * The CRM page: the agent's leads go to Switchboard's own records, or to the organization's Kommo
 * account once it is connected (with a long-lived token of a private integration, or with Kommo's
 * consent page when the server offers it). Connected: the account, its state, the pipelines and
 * users read from it, where new leads go, the webhook, reading it again and disconnecting.
 */
export function Crm({ session }: { session: Session }) {
  const { t } = useI18n()
  const admin = isAdmin(session)
  const state = useLoad((signal) => request<KommoState>('/api/v1/crm/kommo', { signal }), [])
  const [returned, setReturned] = useState(oauthResult)
  // A function of the language: the notice follows a change of language.
  const [notice, setNotice] = useState<Say | null>(null)
  const title = useRef<HTMLHeadingElement>(null)
  // The result is shown once: a reload or a bookmark of the page does not show it again.
  useEffect(() => {
    if (returned.connected || returned.error !== null) window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}#/crm`)
  }, [returned])
  const show = (message: Say) => {
    setNotice(() => message)
    setReturned({ connected: false, error: null })
  }
  /** A new state (connected, read again, disconnected): shown, with its message; the section's heading takes the focus when the form or button that acted is gone. */
  const changed = (next: KommoState, message: Say | null, focus = false) => {
    state.setData(next)
    if (message) show(message)
    if (focus) setTimeout(() => title.current?.focus(), 0)
  }

  return (
    <>
      <h1 tabIndex={-1}>{t('crm_title')}</h1>
      <p role="status" className="success page-status">
        {notice ? notice(t) : returned.connected ? t('km_oauthConnected') : ''}
      </p>
      {returned.error !== null && (
        <div className="error" role="alert">
          <p>{t('km_oauthFailed', { message: returned.error })}</p>
        </div>
      )}
      <p className="hint">{t('crm_intro')}</p>
      <section className="card kommo" aria-labelledby="kommo-title">
        <h2 id="kommo-title" ref={title} tabIndex={-1}>
          {t('km_title')}
        </h2>
        <Async state={state}>
          {(s) =>
            s.connected ? (
              <KommoAccount
                state={s}
                admin={admin}
                onState={changed}
                onStale={state.reload}
                onBusy={() => setNotice(null)}
                onDisconnected={(message) => {
                  changed({ connected: false, oauthAvailable: s.oauthAvailable ?? false }, message, true)
                  state.reload()
                }}
              />
            ) : (
              <>
                <p>{t('km_notConnected')}</p>
                {admin ? <KommoConnect oauthAvailable={s.oauthAvailable} onConnected={(next) => changed(next, connectedText(next), true)} /> : <p className="hint">{t('km_adminOnly')}</p>}
              </>
            )
          }
        </Async>
      </section>
    </>
  )
}

type T = ReturnType<typeof useI18n>['t']
/** A notice, in the language shown when it is shown. */
type Say = (t: T) => string
const connectedText = (s: KommoState): Say | null => (s.connected ? (t) => t('km_connected', { name: s.account.name ?? s.subdomain, pipelines: s.catalog.pipelines.length, users: s.catalog.users.length }) : null)

/** The ways to connect: "Connect with Kommo" when the server offers it, and the long-lived token of a private integration. */
function KommoConnect({ oauthAvailable, onConnected, subdomain, onCancel }: { oauthAvailable: boolean; onConnected: (state: KommoState) => void; subdomain?: string; onCancel?: () => void }) {
  const { t } = useI18n()
  return (
    <div className="stack kommo-connect">
      {oauthAvailable && (
        <section className="stack" aria-labelledby="kommo-quick">
          <h3 id="kommo-quick">{t('km_quickTitle')}</h3>
          <p className="hint">{t('km_quickHelp')}</p>
          <p>
            {/* A full page navigation: the server redirects to Kommo's consent page and back to #/crm. */}
            <a className="button" href="/api/v1/crm/kommo/oauth/start">
              {t('km_connectWithKommo')}
            </a>
          </p>
        </section>
      )}
      <KommoTokenForm onConnected={onConnected} subdomain={subdomain} onCancel={onCancel} />
    </div>
  )
}

/** POST /api/v1/crm/kommo with the account's subdomain and a long-lived token: 201 is the new state, 422 says why not. */
function KommoTokenForm({ onConnected, subdomain: initial = '', onCancel }: { onConnected: (state: KommoState) => void; subdomain?: string; onCancel?: () => void }) {
  const { t } = useI18n()
  const id = useId()
  const [subdomain, setSubdomain] = useState(initial)
  const [token, setToken] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const send = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    setBusy(true)
    try {
      const state = await request<KommoState>('/api/v1/crm/kommo', { body: { subdomain: kommoSubdomain(subdomain), longLivedToken: token.trim() } })
      setToken('')
      onConnected(state)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <section className="stack" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{t('km_connectTitle')}</h3>
      <p className="hint">{t('km_connectHelp')}</p>
      <ol className="steps">
        <li>
          <p>{t('km_step1')}</p>
        </li>
        <li>
          <p>{t('km_step2')}</p>
        </li>
        <li>
          <p>{t('km_step3')}</p>
        </li>
        <li>
          <form onSubmit={send} className="stack">
            <p className="hint">{t('km_step4')}</p>
            <div className="row top">
              <Field label={t('km_subdomain')} hint={t('km_subdomainHint')}>
                {(fid, describedBy) => <input id={fid} required maxLength={100} autoComplete="off" autoCapitalize="off" spellCheck={false} placeholder="acme" aria-describedby={describedBy} value={subdomain} onChange={(e) => setSubdomain(e.target.value)} />}
              </Field>
              <Field label={t('km_token')} hint={t('km_tokenHint')}>
                {(fid, describedBy) => <input id={fid} type="password" required maxLength={5000} autoComplete="off" spellCheck={false} aria-describedby={describedBy} value={token} onChange={(e) => setToken(e.target.value)} />}
              </Field>
            </div>
            {error ? <ErrorBox error={error} /> : null}
            <div className="row">
              <button type="submit" disabled={busy}>
                {busy ? t('km_connecting') : t('km_connect')}
              </button>
              {onCancel && (
                <button type="button" className="secondary" onClick={onCancel}>
                  {t('cancel')}
                </button>
              )}
            </div>
          </form>
        </li>
      </ol>
    </section>
  )
}

/** The connected account: what it is, whether it works, reading it again, where new leads go, the webhook, what was read, disconnecting. */
function KommoAccount({ state: s, admin, onState, onStale, onBusy, onDisconnected }: { state: KommoConnected; admin: boolean; onState: (next: KommoState, message: Say | null, focus?: boolean) => void; onStale: () => void; onBusy: () => void; onDisconnected: (message: Say) => void }) {
  const { t, formatDate } = useI18n()
  const [reconnect, setReconnect] = useState(false)
  const [reading, setReading] = useState(false)
  const [readError, setReadError] = useState<unknown>()
  const name = s.account.name ?? s.subdomain
  const problem = s.status === 'broken' || s.status === 'blocked'
  const reason = s.statusReason?.trim() || t('km_noReason')
  const fields = [s.catalog.fields.phone !== null ? t('km_fieldPhone') : null, s.catalog.fields.email !== null ? t('km_fieldEmail') : null].filter(Boolean)

  const readAgain = async () => {
    // The last notice is about an earlier action.
    onBusy()
    setReadError(undefined)
    setReading(true)
    try {
      const next = await request<KommoState>('/api/v1/crm/kommo/sync', { method: 'POST' })
      onState(next, next.connected ? (tr) => tr('km_readDone', { pipelines: next.catalog.pipelines.length, users: next.catalog.users.length }) : null)
    } catch (e) {
      setReadError(e)
      // Kommo may have refused or blocked it meanwhile: its status changed.
      onStale()
    } finally {
      setReading(false)
    }
  }

  return (
    <div className="stack">
      <dl className="facts">
        <dt>{t('km_account')}</dt>
        <dd>{t('km_accountValue', { name, address: `${s.subdomain}.kommo.com` })}</dd>
        <dt>{t('km_connection')}</dt>
        <dd>{t(s.authKind === 'oauth' ? 'km_kind_oauth' : 'km_kind_long_lived')}</dd>
        <dt>{t('status')}</dt>
        <dd>
          <StatusBadge status={problem ? 'failed' : 'ready'} text={t(`km_status_${s.status}`)} />
        </dd>
        <dt>{t('km_lastRead')}</dt>
        <dd>{s.syncedAt ? formatDate(s.syncedAt) : t('never')}</dd>
        <dt>{t('km_fields')}</dt>
        <dd>{fields.length ? fields.join(', ') : t('km_fieldsNone')}</dd>
      </dl>

      {problem && (
        <div className="error kommo-problem" role="alert">
          <p>{t(s.status === 'blocked' ? 'km_blockedAlert' : 'km_brokenAlert', { reason: /[.!?]$/.test(reason) ? reason : `${reason}.` })}</p>
          {admin && !reconnect && (
            <p>
              <button type="button" className="secondary" onClick={() => setReconnect(true)}>
                {t('km_connectAgain')}
              </button>
            </p>
          )}
        </div>
      )}
      {admin && reconnect && (
        <KommoConnect
          oauthAvailable={s.oauthAvailable === true}
          subdomain={s.subdomain}
          onCancel={() => setReconnect(false)}
          onConnected={(next) => {
            setReconnect(false)
            setReadError(undefined)
            onState(next, connectedText(next), true)
          }}
        />
      )}

      {admin && (
        <div className="row kommo-actions">
          <button type="button" className="secondary" disabled={reading} onClick={readAgain}>
            {reading ? t('km_reading') : t('km_readAgain')}
          </button>
          <span className="spacer" />
          <ConfirmButton label={t('km_disconnect')} ariaLabel={t('km_disconnectAria')} question={t('km_disconnectConfirm', { name })} confirmLabel={t('km_disconnect')} onConfirm={async () => {
            const r = await request<KommoDisconnected>('/api/v1/crm/kommo', { method: 'DELETE' })
            onDisconnected((tr) => tr(r.webhookRemoved === false ? 'km_disconnectedWebhook' : 'km_disconnected'))
          }} />
        </div>
      )}
      {admin && <small className="hint">{t('km_readHint')}</small>}
      {/* Once the account is marked broken or blocked, the warning above says why. */}
      {readError && !problem ? <ErrorBox error={readError} /> : null}

      <section className="kommo-part" aria-labelledby="kommo-settings">
        <h3 id="kommo-settings">{t('km_settingsTitle')}</h3>
        <KommoSettingsForm catalog={s.catalog} settings={s.settings} admin={admin} onSaved={(next) => onState(next, null)} />
      </section>

      {s.webhook && (
        <section className="kommo-part" aria-labelledby="kommo-webhook">
          <h3 id="kommo-webhook">{t('km_webhookTitle')}</h3>
          <KommoWebhookView webhook={s.webhook} />
        </section>
      )}

      <section className="kommo-part" aria-labelledby="kommo-chats">
        <h3 id="kommo-chats">{t('kc_title')}</h3>
        <KommoChats catalog={s.catalog} admin={admin} />
      </section>

      <div className="kommo-part kommo-catalog">
        <section aria-labelledby="kommo-pipelines">
          <h3 id="kommo-pipelines">{t('km_pipelines')}</h3>
          {s.catalog.pipelines.length === 0 ? (
            <p className="empty">{t('km_noPipelines')}</p>
          ) : (
            <ul className="kommo-pipelines">
              {s.catalog.pipelines.map((p) => (
                <li key={p.id} className="kommo-pipeline" data-pipeline={p.id}>
                  <h4>
                    {p.name} {p.isMain && <span className="badge badge-processing">{t('km_main')}</span>}
                  </h4>
                  <ol aria-label={t('km_stagesOf', { name: p.name })}>
                    {ordered(p.statuses).map((st) => (
                      <li key={st.id}>{st.name}</li>
                    ))}
                  </ol>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="kommo-users">
          <h3 id="kommo-users">{t('km_users')}</h3>
          {s.catalog.users.length === 0 ? (
            <p className="empty">{t('km_noUsers')}</p>
          ) : (
            <table className="kommo-users">
              <thead>
                <tr>
                  <th scope="col">{t('name')}</th>
                  <th scope="col">{t('email')}</th>
                </tr>
              </thead>
              <tbody>
                {s.catalog.users.map((u) => (
                  <tr key={u.id} data-user={u.id}>
                    <td>{u.name}</td>
                    <td>{u.email ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
    </div>
  )
}

type Stage = KommoCatalog['pipelines'][number]['statuses'][number]
const ordered = (statuses: Stage[]) => [...statuses].sort((a, b) => a.sort - b.sort)
const idText = (id: number | null) => (id === null ? '' : String(id))
const sameList = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i])

/**
 * Where new leads go: the pipeline, its starting stage, the users responsible in turn, and when a
 * lead is made; PUT /api/v1/crm/kommo/settings with only what changed. Others than admins read it.
 */
function KommoSettingsForm({ catalog, settings, admin, onSaved }: { catalog: KommoCatalog; settings: KommoSettings; admin: boolean; onSaved: (state: KommoState) => void }) {
  const { t } = useI18n()
  const id = useId()
  const [pipeline, setPipeline] = useState(idText(settings.pipelineId))
  const [status, setStatus] = useState(idText(settings.statusId))
  const [users, setUsers] = useState(settings.responsibleUserIds)
  const [leadMode, setLeadMode] = useState(settings.leadMode)
  const [result, setResult] = useState<'idle' | 'saving' | 'saved' | 'unchanged'>('idle')
  const [error, setError] = useState<unknown>()

  // The server's defaults: the main pipeline, and its first stage that is not won or lost.
  const main = catalog.pipelines.find((p) => p.isMain) ?? catalog.pipelines[0]
  const chosen = pipeline ? catalog.pipelines.find((p) => String(p.id) === pipeline) : main
  const stages = ordered(chosen?.statuses ?? [])
  const open = stages.filter((st) => !CLOSED.has(st.id))
  const first = open[0] ?? stages[0]
  const currentStage = status ? stages.find((st) => String(st.id) === status) : undefined
  // Users chosen before who are no longer in the account stay listed, so that they can be unchecked.
  const gone = settings.responsibleUserIds.filter((u) => !catalog.users.some((x) => x.id === u))
  const order = [...catalog.users.map((u) => u.id), ...gone]
  const nameOf = (u: number) => catalog.users.find((x) => x.id === u)?.name ?? t('km_gone', { id: u })

  const edited = () => setResult('idle')
  const toggle = (user: number, on: boolean) => {
    const next = new Set(users)
    if (on) next.add(user)
    else next.delete(user)
    setUsers(order.filter((u) => next.has(u)))
    edited()
  }
  const save = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    const body: Partial<KommoSettings> = {}
    const pipelineId = pipeline ? Number(pipeline) : null
    const statusId = status ? Number(status) : null
    if (pipelineId !== settings.pipelineId) body.pipelineId = pipelineId
    if (statusId !== settings.statusId) body.statusId = statusId
    if (!sameList(users, settings.responsibleUserIds)) body.responsibleUserIds = users
    if (leadMode !== settings.leadMode) body.leadMode = leadMode
    if (Object.keys(body).length === 0) return setResult('unchanged')
    setResult('saving')
    try {
      const next = await request<KommoState>('/api/v1/crm/kommo/settings', { method: 'PUT', body })
      onSaved(next)
      setResult('saved')
    } catch (err) {
      setError(err)
      setResult('idle')
    }
  }

  return (
    <form onSubmit={save} className="stack kommo-settings">
      <fieldset disabled={!admin} className="stack">
        <legend className="visually-hidden">{t('km_settingsTitle')}</legend>
        <div className="row top">
          <Field label={t('km_pipeline')}>
            {(fid) => (
              <select
                id={fid}
                value={pipeline}
                onChange={(e) => {
                  setPipeline(e.target.value)
                  // A stage belongs to its pipeline: another pipeline starts at its own first stage.
                  setStatus('')
                  edited()
                }}
              >
                <option value="">{t('km_pipelineDefault', { name: main?.name ?? '—' })}</option>
                {catalog.pipelines.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
                {pipeline && !chosen && <option value={pipeline}>{t('km_gone', { id: pipeline })}</option>}
              </select>
            )}
          </Field>
          <Field label={t('km_startStatus')} hint={t('km_startStatusHint')}>
            {(fid, describedBy) => (
              <select
                id={fid}
                aria-describedby={describedBy}
                value={status}
                onChange={(e) => {
                  setStatus(e.target.value)
                  edited()
                }}
              >
                <option value="">{t('km_startStatusDefault', { name: first?.name ?? '—' })}</option>
                {open.map((st) => (
                  <option key={st.id} value={st.id}>
                    {st.name}
                  </option>
                ))}
                {status && !open.some((st) => String(st.id) === status) && <option value={status}>{currentStage?.name ?? t('km_gone', { id: status })}</option>}
              </select>
            )}
          </Field>
        </div>

        <fieldset className="stack kommo-choices" aria-describedby={`${id}-responsible-hint`}>
          <legend>{t('km_responsible')}</legend>
          <small id={`${id}-responsible-hint`} className="hint">
            {t('km_responsibleHint')}
          </small>
          {order.map((u) => (
            <label key={u} className="check">
              <input type="checkbox" checked={users.includes(u)} onChange={(e) => toggle(u, e.target.checked)} /> {nameOf(u)}
            </label>
          ))}
          {users.length > 1 && <p className="hint kommo-turn">{t('km_turnOrder', { names: users.map(nameOf).join(' → ') })}</p>}
        </fieldset>

        <fieldset className="stack kommo-choices">
          <legend>{t('km_leadMode')}</legend>
          {(['agent', 'every_contact'] as const).map((mode) => (
            <div key={mode} className="choice">
              <label className="check">
                <input
                  type="radio"
                  name={`${id}-lead-mode`}
                  value={mode}
                  checked={leadMode === mode}
                  aria-describedby={`${id}-${mode}-hint`}
                  onChange={() => {
                    setLeadMode(mode)
                    edited()
                  }}
                />{' '}
                {t(`km_mode_${mode}`)}
              </label>
              <small id={`${id}-${mode}-hint`} className="hint">
                {t(`km_mode_${mode}Hint`)}
              </small>
            </div>
          ))}
        </fieldset>
      </fieldset>
      {error ? <ErrorBox error={error} /> : null}
      {admin ? (
        <div className="row">
          <button type="submit" disabled={result === 'saving'}>
            {t('km_save')}
          </button>
          <span role="status" aria-live="polite" className="success">
            {result === 'saved' ? t('saved') : result === 'unchanged' ? t('km_noChanges') : ''}
          </span>
        </div>
      ) : (
        <p className="hint">{t('km_settingsReadOnly')}</p>
      )}
    </form>
  )
}

/** Whether Kommo tells Switchboard about lead changes; on a plan without API webhooks, the URL to add in Kommo by hand (admins only); else what to do. */
function KommoWebhookView({ webhook }: { webhook: KommoWebhook }) {
  const { t } = useI18n()
  if (webhook.manualUrl) {
    return (
      <div className="stack">
        <p>{t('km_webhookManual')}</p>
        <ol className="steps">
          <li>
            <p>{t('km_webhookStep1')}</p>
          </li>
          <li>
            <p>{t('km_webhookStep2')}</p>
            <div className="row webhook-url">
              <small>
                {t('km_webhookUrl')}: <code>{webhook.manualUrl}</code>
              </small>
              <CopyButton text={webhook.manualUrl} ariaLabel={t('km_copyWebhook')} />
            </div>
          </li>
          <li>
            <p>{t('km_webhookStep3')}</p>
          </li>
        </ol>
      </div>
    )
  }
  if (webhook.registered) return <p>{t('km_webhookRegistered')}</p>
  return (
    <div className="stack">
      <p>{t('km_webhookNone')}</p>
      {webhook.message && <p className="hint">{webhook.message}</p>}
    </div>
  )
}
