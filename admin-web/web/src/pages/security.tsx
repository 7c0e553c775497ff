import { useState, type FormEvent } from 'react'
import { request } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { isAdmin, type Session } from '../session.ts'
import { Async, ErrorBox, Field, useLoad } from '../ui.tsx'

type Status = { enabled: boolean; enabledAt: string | null; recoveryCodesLeft: number; requiredByOrganization: boolean; enrollmentRequired: boolean }
type Enrolment = { secret: string; otpauthUrl: string; qrCode: string }

/** A form's submit with busy and error state. */
function useAction(action: () => Promise<void>) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const run = async (e?: FormEvent) => {
    e?.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      await action()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return { busy, error, run }
}

/** The signed-in user's multi-factor sign-in, and the organization's requirement (admins). */
export function Security({ session }: { session: Session }) {
  const { t, formatDate } = useI18n()
  const [version, setVersion] = useState(0)
  const state = useLoad((signal) => request<Status>('/api/v1/auth/mfa', { signal }), [version])
  const reload = () => setVersion((v) => v + 1)
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null)

  return (
    <>
      <h1 tabIndex={-1}>{t('mfa_title')}</h1>
      {session.me.mfaEnrollmentRequired && (
        <p className="notice" role="status">
          {t('mfa_required')}
        </p>
      )}
      <Async state={state}>
        {(status) => (
          <>
            <section className="card" aria-labelledby="mfa-section">
              <h2 id="mfa-section">{t('mfa_section')}</h2>
              <p>{t('mfa_intro')}</p>
              {recoveryCodes ? (
                <RecoveryCodes
                  codes={recoveryCodes}
                  onDone={async () => {
                    setRecoveryCodes(null)
                    reload()
                    await session.refresh()
                  }}
                />
              ) : status.enabled ? (
                <>
                  <p className="mfa-state">{t('mfa_on', { date: formatDate(status.enabledAt!), count: status.recoveryCodesLeft })}</p>
                  <TurnOff onDone={reload} />
                  <NewCodes onCodes={setRecoveryCodes} />
                </>
              ) : (
                <>
                  <p className="mfa-state">{t('mfa_off')}</p>
                  <Enrol onCodes={setRecoveryCodes} />
                </>
              )}
            </section>
            {isAdmin(session) && !session.me.mfaEnrollmentRequired && <OrganizationRequirement required={status.requiredByOrganization} onSaved={reload} />}
          </>
        )}
      </Async>
    </>
  )
}

function Enrol({ onCodes }: { onCodes: (codes: string[]) => void }) {
  const { t } = useI18n()
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null)
  const [code, setCode] = useState('')
  const start = useAction(async () => setEnrolment(await request<Enrolment>('/api/v1/auth/mfa/enrol', { method: 'POST', body: {} })))
  const confirm = useAction(async () => {
    const { recoveryCodes } = await request<{ recoveryCodes: string[] }>('/api/v1/auth/mfa/enrol/confirm', { body: { code: code.trim() } })
    onCodes(recoveryCodes)
  })
  if (!enrolment) {
    return (
      <>
        {start.error ? <ErrorBox error={start.error} /> : null}
        <button type="button" onClick={() => void start.run()} disabled={start.busy}>
          {t('mfa_setUp')}
        </button>
      </>
    )
  }
  return (
    <form onSubmit={confirm.run} className="stack mfa-enrol">
      <p>{t('mfa_scan')}</p>
      <img className="qr" src={enrolment.qrCode} alt={t('mfa_qrAlt')} width={200} height={200} />
      <p>
        {t('mfa_manual')} <code className="mfa-secret" data-secret={enrolment.secret}>{enrolment.secret.replace(/(.{4})/g, '$1 ').trim()}</code>
      </p>
      <p>{t('mfa_enterCode')}</p>
      {confirm.error ? <ErrorBox error={confirm.error} /> : null}
      <Field label={t('mfa_code')} hint={t('mfa_codeHint')}>
        {(id, hint) => <input id={id} name="code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9 ]{6,7}" maxLength={7} required aria-describedby={hint} value={code} onChange={(e) => setCode(e.target.value)} />}
      </Field>
      <button type="submit" disabled={confirm.busy}>
        {t('mfa_turnOn')}
      </button>
    </form>
  )
}

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => Promise<void> }) {
  const { t } = useI18n()
  return (
    <div className="stack" role="region" aria-labelledby="mfa-codes">
      <p role="status" className="success">
        {t('mfa_enabled')}
      </p>
      <h3 id="mfa-codes">{t('mfa_codesTitle')}</h3>
      <p>{t('mfa_codesHelp')}</p>
      <ol className="recovery-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ol>
      <button type="button" onClick={() => void onDone()}>
        {t('mfa_codesSaved')}
      </button>
    </div>
  )
}

/** A TOTP code is six digits; anything else is taken as a recovery code. */
const factorOf = (value: string) => (/^\d{6}$/.test(value.replace(/\s+/g, '')) ? { code: value.replace(/\s+/g, '') } : { recoveryCode: value.trim() })

function TurnOff({ onDone }: { onDone: () => void }) {
  const { t } = useI18n()
  const [value, setValue] = useState('')
  const action = useAction(async () => {
    await request('/api/v1/auth/mfa/disable', { body: factorOf(value) })
    setValue('')
    onDone()
  })
  return (
    <form onSubmit={action.run} className="stack" aria-labelledby="mfa-off">
      <h3 id="mfa-off">{t('mfa_turnOff')}</h3>
      <p>{t('mfa_turnOffHelp')}</p>
      {action.error ? <ErrorBox error={action.error} /> : null}
      <Field label={t('mfa_codeOrRecovery')}>{(id) => <input id={id} name="disable-code" autoComplete="one-time-code" required value={value} onChange={(e) => setValue(e.target.value)} />}</Field>
      <button type="submit" className="danger" disabled={action.busy}>
        {t('mfa_turnOff')}
      </button>
    </form>
  )
}

function NewCodes({ onCodes }: { onCodes: (codes: string[]) => void }) {
  const { t } = useI18n()
  const [code, setCode] = useState('')
  const action = useAction(async () => {
    const { recoveryCodes } = await request<{ recoveryCodes: string[] }>('/api/v1/auth/mfa/recovery-codes', { body: { code: code.trim() } })
    onCodes(recoveryCodes)
  })
  return (
    <form onSubmit={action.run} className="stack" aria-labelledby="mfa-new">
      <h3 id="mfa-new">{t('mfa_newCodes')}</h3>
      <p>{t('mfa_newCodesHelp')}</p>
      {action.error ? <ErrorBox error={action.error} /> : null}
      <Field label={t('mfa_code')}>{(id) => <input id={id} name="regen-code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9 ]{6,7}" required value={code} onChange={(e) => setCode(e.target.value)} />}</Field>
      <button type="submit" className="secondary" disabled={action.busy}>
        {t('mfa_newCodes')}
      </button>
    </form>
  )
}

function OrganizationRequirement({ required, onSaved }: { required: boolean; onSaved: () => void }) {
  const { t } = useI18n()
  const [value, setValue] = useState(required)
  const [saved, setSaved] = useState(false)
  const action = useAction(async () => {
    setSaved(false)
    await request('/api/v1/organization/mfa', { method: 'PUT', body: { requireForAdmins: value } })
    setSaved(true)
    onSaved()
  })
  return (
    <section className="card" aria-labelledby="mfa-org">
      <h2 id="mfa-org">{t('mfa_orgTitle')}</h2>
      <form onSubmit={action.run} className="stack">
        {action.error ? <ErrorBox error={action.error} /> : null}
        <label className="check">
          <input type="checkbox" name="requireForAdmins" checked={value} onChange={(e) => setValue(e.target.checked)} aria-describedby="mfa-require-help" /> {t('mfa_requireAdmins')}
        </label>
        <small id="mfa-require-help" className="hint">
          {t('mfa_requireHelp')}
        </small>
        <button type="submit" disabled={action.busy}>
          {t('mfa_save')}
        </button>
        {saved && (
          <p role="status" className="success">
            {t('mfa_saved')}
          </p>
        )}
      </form>
    </section>
  )
}
