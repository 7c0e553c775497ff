import { useState } from 'react'
import { request, type ChannelItem } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { Async, CopyButton, Field, useLoad } from '../ui.tsx'
import { AgentField, ConnectForm } from './connect-form.tsx'
import type { ChannelUi, ConnectProps } from './types.ts'

/** GET /api/v1/channels/slack/manifest: the app's manifest, as an object and as text; requestUrl is null without a public URL or an inbox. */
type Manifest = { manifest: Record<string, unknown>; json: string; yaml: string; requestUrl: string | null }

const text = (v: unknown) => (typeof v === 'string' && v ? v : null)
/** Whether the manifest makes a Socket Mode app (events over its own connection: no Request URL). */
const socketMode = (manifest: Record<string, unknown>) => (manifest.settings as { socket_mode_enabled?: unknown } | undefined)?.socket_mode_enabled === true

/**
 * Two ways in: "Add to Slack" (this server's own app, when the server offers it: a full page
 * navigation to Slack's consent page and back to the Channels page), or the organization's own app
 * made from the manifest shown here, connected with its bot token and signing secret.
 */
function Connect(props: ConnectProps) {
  const { t } = useI18n()
  const [agentId, setAgentId] = useState(props.agents[0]!.id)
  const [botToken, setBotToken] = useState('')
  const [signingSecret, setSigningSecret] = useState('')
  const agent = props.agents.some((a) => a.id === agentId) ? agentId : props.agents[0]!.id
  return (
    <div className="stack slack-connect">
      <div className="row">
        <AgentField agents={props.agents} value={agent} onChange={setAgentId} hint={t('sl_agentHint')} />
      </div>
      {props.offers?.addToSlack === true && (
        <section className="stack" aria-labelledby="slack-add">
          <h4 id="slack-add">{t('sl_addTitle')}</h4>
          <p className="hint">{t('sl_addHelp')}</p>
          <p>
            <a className="button" href={`/api/v1/channels/slack/install?agentId=${encodeURIComponent(agent)}`}>
              {t('sl_addToSlack')}
            </a>
          </p>
        </section>
      )}
      <section className="stack" aria-labelledby="slack-own">
        <h4 id="slack-own">{t('sl_ownTitle')}</h4>
        <p className="hint">{t('sl_ownHelp')}</p>
        <ol className="steps">
          <li>
            <p>{t('sl_step1')}</p>
            <ManifestView />
          </li>
          <li>
            <p>{t('sl_step2')}</p>
          </li>
          <li>
            <ConnectForm
              {...props}
              agentId={agent}
              kind="slack"
              body={() => ({ botToken: botToken.trim(), signingSecret: signingSecret.trim() })}
              onDone={() => {
                setBotToken('')
                setSigningSecret('')
              }}
              help={t('sl_step3')}
              submit={t('sl_connect')}
              submitting={t('sl_connecting')}
            >
              <Field label={t('sl_botToken')} hint={t('sl_botTokenHint')}>
                {(id, describedBy) => <input id={id} type="password" required autoComplete="off" spellCheck={false} placeholder="xoxb-…" aria-describedby={describedBy} value={botToken} onChange={(e) => setBotToken(e.target.value)} />}
              </Field>
              <Field label={t('sl_signingSecret')} hint={t('sl_signingSecretHint')}>
                {(id, describedBy) => <input id={id} type="password" required autoComplete="off" spellCheck={false} aria-describedby={describedBy} value={signingSecret} onChange={(e) => setSigningSecret(e.target.value)} />}
              </Field>
            </ConnectForm>
          </li>
          <li>
            <p>{t('sl_step4')}</p>
          </li>
        </ol>
      </section>
    </div>
  )
}

/** The app's manifest in JSON or YAML with a Copy button; for a connected inbox, with its Request URL. */
function ManifestView({ inboxId }: { inboxId?: string }) {
  const { t } = useI18n()
  const [format, setFormat] = useState<'json' | 'yaml'>('json')
  const state = useLoad((signal) => request<Manifest>(`/api/v1/channels/slack/manifest${inboxId ? `?inboxId=${encodeURIComponent(inboxId)}` : ''}`, { signal }), [inboxId])
  return (
    <Async state={state}>
      {(m) => {
        const shown = format === 'json' ? m.json : m.yaml
        return (
          <div className="stack manifest">
            <div className="row tabs">
              <div className="row tabs" role="group" aria-label={t('sl_manifestFormat')}>
                {(['json', 'yaml'] as const).map((f) => (
                  <button key={f} type="button" className={format === f ? '' : 'secondary'} aria-pressed={format === f} onClick={() => setFormat(f)}>
                    {f.toUpperCase()}
                  </button>
                ))}
              </div>
              <CopyButton text={shown} label={t('sl_copyManifest')} />
            </div>
            <pre className="manifest-text" role="region" aria-label={t('sl_manifestOf')} tabIndex={0}>
              <code>{shown}</code>
            </pre>
            <p className="hint">{m.requestUrl ? t('sl_manifestUrl', { url: m.requestUrl }) : socketMode(m.manifest) ? t('sl_manifestSocket') : inboxId ? t('sl_manifestNoUrl') : t('sl_manifestNoUrlYet')}</p>
          </div>
        )
      }}
    </Async>
  )
}

/**
 * The workspace, how events arrive, the Request URL to give Slack, the operators' channel (or how
 * to choose one) and, for an app of the organization's own, its manifest with the Request URL.
 */
function Details({ channel }: { channel: ChannelItem }) {
  const { t } = useI18n()
  const [open, setOpen] = useState(false)
  const details = channel.details ?? {}
  const team = text(details.teamName)
  const own = details.install !== 'oauth'
  const mode = channel.mode === 'webhook' ? t('sl_modeWebhook') : channel.mode === 'socket' ? t('sl_modeSocket') : null
  const facts = [team && !channel.name.includes(team) ? t('sl_workspace', { team }) : null, mode, own ? null : t('sl_installOauth')].filter(Boolean)
  const deskSet = channel.desk ? channel.desk.ready : Boolean(text(details.deskChannelId))
  const place = channel.desk?.place ?? null
  return (
    <div className="channel-details">
      {facts.length > 0 && <small className="hint">{facts.join(' · ')}</small>}
      {own && channel.webhookUrl && (
        <div className="row request-url">
          <small>
            {t('sl_requestUrl')}: <code>{channel.webhookUrl}</code>
          </small>
          <CopyButton text={channel.webhookUrl} ariaLabel={t('sl_copyRequestUrl', { name: channel.name })} />
        </div>
      )}
      <small className="hint">{deskSet ? (place ? t('sl_operatorsSet', { place }) : t('sl_operatorsSetPlain')) : t('sl_operatorsNotSet')}</small>
      {own && (
        <details onToggle={(e) => setOpen(e.currentTarget.open)}>
          <summary>{t('sl_manifest')}</summary>
          {open && <ManifestView inboxId={channel.inboxId} />}
        </details>
      )}
    </div>
  )
}

export const slack: ChannelUi = {
  label: (t) => t('sl_label'),
  connectTitle: (t) => t('sl_connectTitle'),
  Connect,
  connected: (t, inbox) => (inbox.mode === 'webhook' && inbox.webhookUrl ? t('sl_connectedNext', { name: inbox.name }) : t('sl_connected', { name: inbox.name })),
  Details,
  disconnect: {
    label: (t) => t('sl_disconnect'),
    ariaLabel: (t, c) => t('sl_disconnectApp', { name: c.name }),
    question: (t, c) => t('sl_disconnectConfirm', { name: c.name, agent: c.agentName }),
    done: (t, r, c) => (r.warning ? t('sl_disconnectedWarning', { name: r.name || c.name, warning: r.warning }) : t('sl_disconnected', { name: r.name || c.name })),
  },
  linkHint: (t, code) => t('sl_linkHint', { code }),
}
