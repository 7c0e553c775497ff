import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from 'react'
import { request, setCsrfToken, whenUnauthorized, type Me } from './api.ts'
import { I18nContext, initialLang, translate, useI18n, type I18n, type Lang, type TextKey } from './i18n.ts'
import { Loading, ErrorBox } from './ui.tsx'
import { navigate, useHashRoute } from './navigate.ts'
import type { Session } from './session.ts'
import { SignIn, SignUp, ResetPassword, AcceptInvitation } from './pages/auth.tsx'
import { Agents, AgentEdit } from './pages/agents.tsx'
import { Knowledge } from './pages/knowledge.tsx'
import { TestChat } from './pages/chat.tsx'
import { Channels } from './pages/channels.tsx'
import { Crm } from './pages/crm.tsx'
import { Conversations, ConversationView } from './pages/conversations.tsx'
import { Organization } from './pages/organization.tsx'
import { HandoffBadge, LiveProvider } from './live.tsx'
import { ProviderKeys } from './pages/keys.tsx'
import { landingPath, Onboarding } from './pages/onboarding.tsx'
import { Security } from './pages/security.tsx'

// The pages with charts bring chart.js: they load when first opened.
const Dashboard = lazy(() => import('./pages/dashboard.tsx').then((m) => ({ default: m.Dashboard })))
const Billing = lazy(() => import('./pages/billing.tsx').then((m) => ({ default: m.Billing })))
// The API reference brings Swagger UI (about 1.5 MB): it loads only when the page is opened.
const ApiReference = lazy(() => import('./pages/api-reference.tsx').then((m) => ({ default: m.ApiReference })))

const NAV: { path: string; key: TextKey }[] = [
  { path: '/setup', key: 'nav_setup' },
  { path: '/dashboard', key: 'nav_dashboard' },
  { path: '/agents', key: 'nav_agents' },
  { path: '/keys', key: 'nav_keys' },
  { path: '/knowledge', key: 'nav_knowledge' },
  { path: '/chat', key: 'nav_chat' },
  { path: '/channels', key: 'nav_channels' },
  { path: '/crm', key: 'nav_crm' },
  { path: '/conversations', key: 'nav_conversations' },
  { path: '/billing', key: 'nav_billing' },
  { path: '/organization', key: 'nav_organization' },
  { path: '/security', key: 'nav_security' },
  { path: '/api', key: 'nav_api' },
]

export function App() {
  const [lang, setLangState] = useState<Lang>(initialLang)
  const i18n = useMemo<I18n>(() => {
    const locale = lang === 'ru' ? 'ru-RU' : 'en-GB'
    return {
      lang,
      t: (key, vars) => translate(lang, key, vars),
      setLang: (l) => {
        localStorage.setItem('sb.lang', l)
        setLangState(l)
      },
      formatDate: (d) => new Date(d).toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short' }),
      formatNumber: (n, digits = 0) => n.toLocaleString(locale, { maximumFractionDigits: digits, minimumFractionDigits: digits }),
    }
  }, [lang])
  useEffect(() => {
    document.documentElement.lang = lang
  }, [lang])

  return (
    <I18nContext.Provider value={i18n}>
      <Shell />
    </I18nContext.Provider>
  )
}

const PUBLIC = new Set(['/signin', '/signup', '/reset', '/invitation'])

function Shell() {
  const { t } = useI18n()
  const route = useHashRoute()
  const [me, setMe] = useState<Me | null | undefined>(undefined)
  const [error, setError] = useState<unknown>()

  const refresh = useCallback(async () => {
    try {
      const data = await request<Me>('/api/v1/me', { quiet401: true })
      setCsrfToken(data.csrfToken ?? null)
      setMe(data)
      setError(undefined)
    } catch (e) {
      if ((e as { status?: number }).status === 401) {
        setCsrfToken(null)
        setMe(null)
      } else setError(e)
    }
  }, [])
  useEffect(() => {
    void refresh()
    whenUnauthorized(() => {
      setCsrfToken(null)
      setMe(null)
    })
  }, [refresh])

  // Signed out: every private page leads to sign-in; signed in: the public pages lead in.
  useEffect(() => {
    if (me === null && !PUBLIC.has(route.path)) navigate('/signin')
    // A new organization's admins land on the first-run setup until it is finished or skipped; an admin
    // the organization requires MFA of, without it yet, goes to enrolment first.
    if (me && (PUBLIC.has(route.path) || route.path === '/')) {
      if (me.mfaEnrollmentRequired) navigate('/security')
      else void landingPath(me.role).then(navigate)
    } else if (me?.mfaEnrollmentRequired && route.path !== '/security') navigate('/security')
  }, [me, route.path])

  // Focus the page heading after navigation, so screen readers and keyboards start there.
  // Not on the first load: there, Tab starts at the skip link.
  const main = useRef<HTMLElement>(null)
  const firstPath = useRef(route.path)
  useEffect(() => {
    if (route.path === firstPath.current) return
    firstPath.current = ''
    const focus = () => main.current?.querySelector('h1')?.focus()
    focus()
    const timer = setTimeout(focus, 300)
    return () => clearTimeout(timer)
  }, [route.path])

  let title = t('appName')
  let page: ReactNode
  if (error && me === undefined) page = <ErrorBox error={error} onRetry={refresh} />
  else if (me === undefined) page = <Loading />
  else if (me === null || PUBLIC.has(route.path)) {
    page =
      route.path === '/signup' ? <SignUp onSignedIn={refresh} /> : route.path === '/reset' ? <ResetPassword key={route.params.get('token') ?? 'request'} token={route.params.get('token')} /> : route.path === '/invitation' ? <AcceptInvitation token={route.params.get('token')} onSignedIn={refresh} /> : <SignIn onSignedIn={refresh} />
    return (
      <div className="public">
        <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); main.current?.focus() }}>{t('skipToContent')}</a>
        <header className="public-header">
          <span className="brand">{t('appName')}</span>
          <LanguagePicker />
        </header>
        <main id="main" ref={main} tabIndex={-1} className="card narrow">
          {page}
        </main>
      </div>
    )
  } else {
    const session: Session = { me, refresh }
    const [, section, id] = route.path.split('/')
    const nav = NAV.find((n) => n.path === `/${section}`)
    if (nav) title = `${t(nav.key)} · ${t('appName')}`
    page =
      section === 'agents' && id ? <AgentEdit id={id} session={session} />
      : section === 'agents' ? <Agents session={session} />
      : section === 'keys' ? <ProviderKeys session={session} />
      : section === 'setup' ? <Onboarding session={session} />
      : section === 'knowledge' ? <Knowledge session={session} />
      : section === 'chat' ? <TestChat session={session} />
      : section === 'channels' ? <Channels session={session} />
      : section === 'crm' ? <Crm session={session} />
      : section === 'conversations' && id ? <ConversationView id={id} session={session} />
      : section === 'conversations' ? <Conversations session={session} />
      : section === 'billing' ? <Billing session={session} />
      : section === 'organization' ? <Organization session={session} />
      : section === 'security' || me.mfaEnrollmentRequired ? <Security session={session} />
      : section === 'api' ? <ApiReference />
      : <Dashboard session={session} />
  }
  document.title = title

  const signOut = async () => {
    try {
      await request('/api/v1/auth/logout', { method: 'POST' })
    } finally {
      setCsrfToken(null)
      setMe(null)
      navigate('/signin')
    }
  }

  return (
    <LiveProvider>
    <div className="layout">
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); main.current?.focus() }}>{t('skipToContent')}</a>
      <header className="topbar">
        <span className="brand">{t('appName')}</span>
        {me && <span className="org">{me.organization.name}</span>}
        <span className="spacer" />
        {me && <span className="who">{t('signedInAs', { name: me.name, role: t(`role_${me.role}`) })}</span>}
        <LanguagePicker />
        <button type="button" className="secondary" onClick={signOut}>
          {t('signOut')}
        </button>
      </header>
      <nav aria-label={t('mainNav')} className="sidebar">
        <ul>
          {NAV.map((n) => (
            <li key={n.path}>
              <a href={`#${n.path}`} aria-current={route.path.startsWith(n.path) ? 'page' : undefined}>
                {t(n.key)}
                {n.path === '/conversations' && <HandoffBadge />}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" ref={main} tabIndex={-1} className="content">
        <Suspense fallback={<Loading />}>{page}</Suspense>
      </main>
    </div>
    </LiveProvider>
  )
}

function LanguagePicker() {
  const { t, lang, setLang } = useI18n()
  return (
    <label className="lang">
      <span className="visually-hidden">{t('language')}</span>
      <select value={lang} onChange={(e) => setLang(e.target.value as Lang)} aria-label={t('language')}>
        <option value="en">English</option>
        <option value="ru">Русский</option>
      </select>
    </label>
  )
}
