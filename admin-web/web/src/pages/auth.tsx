import { useEffect, useState, type FormEvent } from 'react'
import { request, setCsrfToken } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { ErrorBox, Field, Loading } from '../ui.tsx'

type SessionResponse = { csrfToken: string }
type LoginResponse = SessionResponse | { mfaRequired: true; mfaToken: string; expiresAt: string }

function useSubmit(action: () => Promise<void>) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
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
  return { busy, error, onSubmit }
}

export function SignIn({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const { t } = useI18n()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [mfaToken, setMfaToken] = useState<string | null>(null)
  const { busy, error, onSubmit } = useSubmit(async () => {
    const session = await request<LoginResponse>('/api/v1/auth/login', { body: { email, password }, quiet401: true })
    if ('mfaRequired' in session) {
      setPassword('')
      setMfaToken(session.mfaToken)
      return
    }
    setCsrfToken(session.csrfToken)
    await onSignedIn()
  })
  if (mfaToken) return <MfaStep mfaToken={mfaToken} onSignedIn={onSignedIn} onBack={() => setMfaToken(null)} />
  return (
    <>
      <h1 tabIndex={-1}>{t('signInTitle')}</h1>
      <form onSubmit={onSubmit} className="stack">
        {error ? <ErrorBox error={error} /> : null}
        <Field label={t('email')}>{(id) => <input id={id} name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
        <Field label={t('password')}>{(id) => <input id={id} name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />}</Field>
        <button type="submit" disabled={busy}>
          {busy ? t('signingIn') : t('signIn')}
        </button>
      </form>
      <p>
        <a href="#/reset">{t('forgot')}</a>
      </p>
      <p>
        {t('noAccount')} <a href="#/signup">{t('createOne')}</a>
      </p>
    </>
  )
}

/** The second step of signing in: a code from the authenticator app, or a recovery code. */
function MfaStep({ mfaToken, onSignedIn, onBack }: { mfaToken: string; onSignedIn: () => Promise<void>; onBack: () => void }) {
  const { t } = useI18n()
  const [recovery, setRecovery] = useState(false)
  const [value, setValue] = useState('')
  const { busy, error, onSubmit } = useSubmit(async () => {
    const factor = recovery ? { recoveryCode: value.trim() } : { code: value.replace(/\s+/g, '') }
    const session = await request<SessionResponse>('/api/v1/auth/login/mfa', { body: { mfaToken, ...factor }, quiet401: true })
    setCsrfToken(session.csrfToken)
    await onSignedIn()
  })
  return (
    <>
      <h1 tabIndex={-1}>{t('mfa_signInTitle')}</h1>
      <p>{t('mfa_signInHelp')}</p>
      <form onSubmit={onSubmit} className="stack">
        {error ? <ErrorBox error={error} /> : null}
        {recovery ? (
          <Field key="recovery" label={t('mfa_recoveryCode')} hint={t('mfa_recoveryHint')}>
            {(id, hint) => <input id={id} name="recoveryCode" autoComplete="off" autoCapitalize="none" spellCheck={false} required aria-describedby={hint} value={value} onChange={(e) => setValue(e.target.value)} />}
          </Field>
        ) : (
          <Field key="code" label={t('mfa_code')} hint={t('mfa_codeHint')}>
            {(id, hint) => <input id={id} name="code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9 ]{6,7}" maxLength={7} required autoFocus aria-describedby={hint} value={value} onChange={(e) => setValue(e.target.value)} />}
          </Field>
        )}
        <button type="submit" disabled={busy}>
          {t('mfa_verify')}
        </button>
      </form>
      <p>
        <button
          type="button"
          className="link"
          onClick={() => {
            setRecovery(!recovery)
            setValue('')
          }}
        >
          {recovery ? t('mfa_useApp') : t('mfa_useRecovery')}
        </button>
      </p>
      <p>
        <button type="button" className="link" onClick={onBack}>
          {t('mfa_back')}
        </button>
      </p>
    </>
  )
}

export function SignUp({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const { t } = useI18n()
  const [form, setForm] = useState({ organizationName: '', name: '', email: '', password: '' })
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value })
  const { busy, error, onSubmit } = useSubmit(async () => {
    const session = await request<SessionResponse>('/api/v1/auth/signup', { body: form })
    setCsrfToken(session.csrfToken)
    await onSignedIn()
  })
  return (
    <>
      <h1 tabIndex={-1}>{t('signUpTitle')}</h1>
      <form onSubmit={onSubmit} className="stack">
        {error ? <ErrorBox error={error} /> : null}
        <Field label={t('organizationName')}>{(id) => <input id={id} name="organizationName" required maxLength={120} value={form.organizationName} onChange={set('organizationName')} />}</Field>
        <Field label={t('yourName')}>{(id) => <input id={id} name="name" autoComplete="name" required maxLength={120} value={form.name} onChange={set('name')} />}</Field>
        <Field label={t('email')}>{(id) => <input id={id} name="email" type="email" autoComplete="email" required value={form.email} onChange={set('email')} />}</Field>
        <Field label={t('password')} hint={t('passwordHint')}>
          {(id, hint) => <input id={id} name="password" type="password" autoComplete="new-password" required minLength={10} aria-describedby={hint} value={form.password} onChange={set('password')} />}
        </Field>
        <button type="submit" disabled={busy}>
          {t('signUp')}
        </button>
      </form>
      <p>
        {t('haveAccount')} <a href="#/signin">{t('signIn')}</a>
      </p>
    </>
  )
}

export function ResetPassword({ token }: { token: string | null }) {
  const { t } = useI18n()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [done, setDone] = useState(false)
  const { busy, error, onSubmit } = useSubmit(async () => {
    if (token) await request('/api/v1/auth/password-reset/confirm', { body: { token, password } })
    else await request('/api/v1/auth/password-reset', { body: { email } })
    setDone(true)
  })
  return (
    <>
      <h1 tabIndex={-1}>{t('resetTitle')}</h1>
      {done ? (
        <p role="status" className="success">
          {token ? t('passwordChanged') : t('linkSent')}
        </p>
      ) : (
        <form onSubmit={onSubmit} className="stack">
          {error ? <ErrorBox error={error} /> : null}
          {token ? (
            <Field label={t('newPassword')} hint={t('passwordHint')}>
              {(id, hint) => <input id={id} name="password" type="password" autoComplete="new-password" required minLength={10} aria-describedby={hint} value={password} onChange={(e) => setPassword(e.target.value)} />}
            </Field>
          ) : (
            <>
              <p>{t('resetExplain')}</p>
              <Field label={t('email')}>{(id) => <input id={id} name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
            </>
          )}
          <button type="submit" disabled={busy}>
            {token ? t('setPassword') : t('sendLink')}
          </button>
        </form>
      )}
      <p>
        <a href="#/signin">{t('backToSignIn')}</a>
      </p>
    </>
  )
}

export function AcceptInvitation({ token, onSignedIn }: { token: string | null; onSignedIn: () => Promise<void> }) {
  const { t } = useI18n()
  const [info, setInfo] = useState<{ email: string; role: string; organizationName: string }>()
  const [loadError, setLoadError] = useState<unknown>()
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  useEffect(() => {
    if (!token) return
    request<{ email: string; role: string; organizationName: string }>('/api/v1/auth/invitation', { body: { token } }).then(setInfo, setLoadError)
  }, [token])
  const { busy, error, onSubmit } = useSubmit(async () => {
    const session = await request<SessionResponse>('/api/v1/auth/invitation/accept', { body: { token, name, password } })
    setCsrfToken(session.csrfToken)
    await onSignedIn()
  })
  if (!token || loadError) return <><h1 tabIndex={-1}>{t('signInTitle')}</h1><ErrorBox error={loadError ?? new Error('no token')} /></>
  if (!info) return <Loading />
  return (
    <>
      <h1 tabIndex={-1}>{t('invitationTitle', { organization: info.organizationName })}</h1>
      <p>{t('invitationExplain', { role: t(`role_${info.role}` as 'role_member'), email: info.email })}</p>
      <form onSubmit={onSubmit} className="stack">
        {error ? <ErrorBox error={error} /> : null}
        <Field label={t('yourName')}>{(id) => <input id={id} autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label={t('password')} hint={t('passwordHint')}>
          {(id, hint) => <input id={id} type="password" autoComplete="new-password" required minLength={10} aria-describedby={hint} value={password} onChange={(e) => setPassword(e.target.value)} />}
        </Field>
        <button type="submit" disabled={busy}>
          {t('acceptInvitation')}
        </button>
      </form>
    </>
  )
}
