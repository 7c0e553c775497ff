// What Messenger and Instagram share in the admin web (both are Meta's, as on the server: one Meta
// module, two thin channels): the Connect form with Meta's dashboard steps and, when the server
// offers it, "Connect with Facebook / Instagram"; a connected account's Callback URL and Verify
// token to paste into Meta's dashboard, and the warning once Meta refused its token. Each channel
// keeps its own texts under its prefix (ms_, ig_) with the same names after it.
import { useState } from 'react'
import type { ChannelItem } from '../api.ts'
import { useI18n, type I18n, type TextKey } from '../i18n.ts'
import { CopyButton, Field } from '../ui.tsx'
import { AgentField, ConnectForm } from './connect-form.tsx'
import type { ConnectProps } from './types.ts'

type T = I18n['t']
export type MetaPrefix = 'ms' | 'ig'

const text = (v: unknown) => (typeof v === 'string' && v ? v : null)

/** Why Meta refused the account's token (details.broken of GET /api/v1/channels), without its closing full stop; null while it works. */
export function brokenReason(channel: ChannelItem): string | null {
  const broken = channel.details?.broken as { reason?: unknown } | null | undefined
  if (!broken || typeof broken !== 'object') return null
  return (text(broken.reason) ?? '').replace(/[.\s]+$/, '') || '?'
}

/** How a kind names its fields in the connect body (Messenger: pageId, pageAccessToken; Instagram: accountId, accessToken). */
type Fields = { accountId: string; token: string }

/**
 * The agent to answer as; "Connect with …" (the server's own Meta app: a full page navigation to
 * Meta's consent page and back to the Channels page) when the server offers it; and the steps to
 * connect with an app of the organization's own: the account's id, its token, the app secret and
 * an optional verify token (made by the server when empty).
 */
export function MetaConnect({ kind, prefix, fields, before, after, tokenPlaceholder, ...props }: ConnectProps & { kind: 'messenger' | 'instagram'; prefix: MetaPrefix; fields: Fields; before: TextKey[]; after: TextKey[]; tokenPlaceholder: string }) {
  const { t } = useI18n()
  const [agentId, setAgentId] = useState(props.agents[0]!.id)
  const [accountId, setAccountId] = useState('')
  const [token, setToken] = useState('')
  const [appSecret, setAppSecret] = useState('')
  const [verifyToken, setVerifyToken] = useState('')
  const agent = props.agents.some((a) => a.id === agentId) ? agentId : props.agents[0]!.id
  const p = prefix
  return (
    <div className={`stack meta-connect ${kind}-connect`}>
      <div className="row">
        <AgentField agents={props.agents} value={agent} onChange={setAgentId} hint={t(`${p}_agentHint`)} />
      </div>
      {props.offers?.oauth === true && (
        <section className="stack" aria-labelledby={`${kind}-oauth`}>
          <h4 id={`${kind}-oauth`}>{t(`${p}_oauthTitle`)}</h4>
          <p className="hint">{t(`${p}_oauthHelp`)}</p>
          <p>
            <a className="button" href={`/api/v1/channels/${kind}/oauth/start?agentId=${encodeURIComponent(agent)}`}>
              {t(`${p}_oauth`)}
            </a>
          </p>
        </section>
      )}
      <section className="stack" aria-labelledby={`${kind}-own`}>
        <h4 id={`${kind}-own`}>{t(`${p}_ownTitle`)}</h4>
        <p className="hint">{t(`${p}_ownHelp`)}</p>
        <ol className="steps">
          {before.map((key) => (
            <li key={key}>
              <p>{t(key)}</p>
            </li>
          ))}
          <li>
            <ConnectForm
              {...props}
              agentId={agent}
              kind={kind}
              body={() => ({ [fields.accountId]: accountId.trim(), [fields.token]: token.trim(), appSecret: appSecret.trim(), ...(verifyToken.trim() ? { verifyToken: verifyToken.trim() } : {}) })}
              onDone={() => {
                setAccountId('')
                setToken('')
                setAppSecret('')
                setVerifyToken('')
              }}
              help={t(`${p}_formHelp`)}
              submit={t(`${p}_connect`)}
              submitting={t(`${p}_connecting`)}
            >
              <Field label={t(`${p}_accountId`)} hint={t(`${p}_accountIdHint`)}>
                {(id, describedBy) => <input id={id} required inputMode="numeric" autoComplete="off" spellCheck={false} aria-describedby={describedBy} value={accountId} onChange={(e) => setAccountId(e.target.value)} />}
              </Field>
              <Field label={t(`${p}_token`)} hint={t(`${p}_tokenHint`)}>
                {(id, describedBy) => <input id={id} type="password" required autoComplete="off" spellCheck={false} placeholder={tokenPlaceholder} aria-describedby={describedBy} value={token} onChange={(e) => setToken(e.target.value)} />}
              </Field>
              <Field label={t(`${p}_appSecret`)} hint={t(`${p}_appSecretHint`)}>
                {(id, describedBy) => <input id={id} type="password" required autoComplete="off" spellCheck={false} aria-describedby={describedBy} value={appSecret} onChange={(e) => setAppSecret(e.target.value)} />}
              </Field>
              <Field label={t(`${p}_verifyToken`)} hint={t(`${p}_verifyTokenHint`)}>
                {(id, describedBy) => <input id={id} autoComplete="off" spellCheck={false} aria-describedby={describedBy} value={verifyToken} onChange={(e) => setVerifyToken(e.target.value)} />}
              </Field>
            </ConnectForm>
          </li>
          {after.map((key) => (
            <li key={key}>
              <p>{t(key)}</p>
            </li>
          ))}
        </ol>
      </section>
    </div>
  )
}

/**
 * The account's id and how it was connected, when its token expires (Instagram), the Callback URL
 * and Verify token to paste into the app's Webhooks settings (an app of the organization's own),
 * each with a Copy button; and, once Meta refused the token, a warning to connect it again.
 */
export function MetaDetails({ channel, prefix }: { channel: ChannelItem; prefix: MetaPrefix }) {
  const { t, formatDate } = useI18n()
  const p = prefix
  const details = channel.details ?? {}
  const broken = brokenReason(channel)
  const own = details.install !== 'oauth'
  const accountId = text(details.accountId)
  const expires = text(details.tokenExpiresAt)
  const verifyToken = text(details.verifyToken)
  const facts = [accountId ? t(`${p}_accountFact`, { id: accountId }) : null, own ? null : t(`${p}_oauthInstalled`), expires && !broken ? t(`${p}_tokenExpires`, { date: formatDate(expires) }) : null].filter(Boolean)
  return (
    <div className="channel-details">
      {broken && (
        <div className="error meta-broken" role="alert">
          <p>{t(`${p}_broken`, { reason: broken })}</p>
        </div>
      )}
      {facts.length > 0 && <small className="hint">{facts.join(' · ')}</small>}
      {own && channel.webhookUrl && (
        <div className="row request-url callback-url">
          <small>
            {t(`${p}_callbackUrl`)}: <code>{channel.webhookUrl}</code>
          </small>
          <CopyButton text={channel.webhookUrl} ariaLabel={t(`${p}_copyCallbackUrl`, { name: channel.name })} />
        </div>
      )}
      {own && verifyToken && (
        <div className="row request-url verify-token">
          <small>
            {t(`${p}_verifyTokenShown`)}: <code>{verifyToken}</code>
          </small>
          <CopyButton text={verifyToken} ariaLabel={t(`${p}_copyVerifyToken`, { name: channel.name })} />
        </div>
      )}
    </div>
  )
}

/** The texts of the disconnect button, its confirmation and its result, under the kind's prefix. */
export const metaDisconnect = (p: MetaPrefix) => ({
  label: (t: T) => t(`${p}_disconnect`),
  ariaLabel: (t: T, c: ChannelItem) => t(`${p}_disconnectAccount`, { name: c.name }),
  question: (t: T, c: ChannelItem) => t(`${p}_disconnectConfirm`, { name: c.name, agent: c.agentName }),
  done: (t: T, r: { name: string; warning: string | null }, c: ChannelItem) => (r.warning ? t(`${p}_disconnectedWarning`, { name: r.name || c.name, warning: r.warning }) : t(`${p}_disconnected`, { name: r.name || c.name })),
})

/** What "Connect with Facebook / Instagram" came back with: how many accounts it connected, or Meta's error (?metaError=). */
export const metaInstall = (p: MetaPrefix) => ({
  errorParam: 'metaError',
  done: (t: T, count: number | null) => (count === null ? t(`${p}_installed`) : count === 0 ? t(`${p}_installedNone`) : t(`${p}_installedCount`, { count })),
  failed: (t: T, message: string) => t(`${p}_installFailed`, { message }),
})

/** The Status column's text while Meta refuses the token. */
export const metaProblem = (p: MetaPrefix) => (t: T, channel: ChannelItem) => (brokenReason(channel) ? t(`${p}_brokenStatus`) : null)
