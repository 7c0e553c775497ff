import { useMemo, useState, type FormEvent } from 'react'
import type { ChartConfiguration } from 'chart.js'
import { request } from '../api.ts'
import type { Session } from '../session.ts'
import { useI18n } from '../i18n.ts'
import { Async, Empty, ErrorBox, Field, StatusBadge, useLoad } from '../ui.tsx'
import { readHash } from '../navigate.ts'
import { ChartView, PALETTE } from '../chart.tsx'

type Plan = { id: string; name: string; responsesPerPeriod: number | null; priceUsd: number }
type Summary = {
  plan: Plan
  subscription: { status: string; cancelAtPeriodEnd: boolean; pendingPlan: string | null } | null
  interval: string
  period: { start: string; end: string }
  limit: number | null
  used: number
  history: { day: string; responses: number }[]
}
type Event = { id: string; provider: string; type: string; occurredAt: string; result: string }
type QuotaSettings = { quotaMessage?: string; handoffOnQuota?: boolean; quotaNoticeThresholds?: number[]; quotaNoticeChats?: boolean }
type Notice = { id: string; kind: string; message: string; createdAt: string }

export function Billing({ session }: { session: Session }) {
  const { t, formatDate, formatNumber } = useI18n()
  const state = useLoad(async (signal) => {
    const [summary, plans, history] = await Promise.all([
      request<Summary>('/api/v1/billing', { signal }),
      request<{ plans: Plan[]; checkout: boolean }>('/api/v1/billing/plans', { signal }),
      request<{ events: Event[] }>('/api/v1/billing/history', { signal }),
    ])
    return { summary, plans, events: history.events }
  }, [])
  const admin = session.me.role === 'owner' || session.me.role === 'admin'
  const [checkout, setCheckout] = useState<{ url?: string; error?: unknown }>({})
  const [portal, setPortal] = useState<{ busy?: boolean; error?: unknown }>({})
  const returned = readHash().params.get('checkout') === 'success'
  const openPortal = async () => {
    setPortal({ busy: true })
    try {
      const { url } = await request<{ url: string }>('/api/v1/billing/portal', { method: 'POST', body: {} })
      window.location.assign(url)
    } catch (error) {
      setPortal({ error })
    }
  }
  // Every day of the period so far, days without responses at 0: one day of data is one bar on
  // both axes, not a lone point in a corner.
  const days = useMemo(() => (state.data ? periodDays(state.data.summary) : []), [state.data])
  const chart = useMemo<ChartConfiguration | null>(() => {
    if (!days.length) return null
    return {
      type: 'bar',
      data: { labels: days.map((d) => d.day.slice(5)), datasets: [{ label: t('axisResponses'), data: days.map((d) => d.responses), backgroundColor: PALETTE[0], maxBarThickness: 40 }] },
      options: {
        scales: {
          x: { title: { display: true, text: t('axisDay') }, grid: { display: false } },
          y: { beginAtZero: true, suggestedMax: 5, ticks: { precision: 0 }, title: { display: true, text: t('axisResponses') } },
        },
        plugins: { legend: { display: false } },
      },
    }
  }, [days, t])

  const choose = async (plan: string) => {
    setCheckout({})
    try {
      const { url } = await request<{ url: string }>('/api/v1/billing/checkout', { body: { plan } })
      setCheckout({ url })
      window.open(url, '_blank', 'noopener')
    } catch (error) {
      setCheckout({ error })
    }
  }

  return (
    <>
      <h1 tabIndex={-1}>{t('billingTitle')}</h1>
      <Async state={state}>
        {({ summary: s, plans, events }) => (
          <>
            <section className="card">
              <h2>{t('currentPlan')}</h2>
              <p className="plan-name">
                {s.plan.name}
                {s.subscription && <StatusBadge status={s.subscription.status === 'active' ? 'ready' : 'failed'} text={s.subscription.status} />}
              </p>
              <p>{s.limit === null ? t('usedUnlimited', { used: formatNumber(s.used) }) : t('usedOf', { used: formatNumber(s.used), limit: formatNumber(s.limit) })}</p>
              {s.limit !== null && (
                <progress className="wide" max={s.limit} value={Math.min(s.used, s.limit)} aria-label={t('usedOf', { used: s.used, limit: s.limit })} />
              )}
              <p className="hint">{t('periodEnds', { start: formatDate(s.period.start), end: formatDate(s.period.end) })}</p>
              {returned && s.plan.id === 'trial' && (
                <p className="notice" role="status">
                  {t('bn_returned')}
                </p>
              )}
              {s.subscription && (s.subscription.status === 'cancelled' || s.subscription.cancelAtPeriodEnd) && <p className="notice">{t('bn_cancelsOn', { date: formatDate(s.period.end) })}</p>}
              {admin && s.subscription && s.plan.id !== 'trial' && (
                <div className="stack">
                  <p className="hint">{t('bn_manageHelp')}</p>
                  <p>
                    <button type="button" className="secondary" onClick={() => void openPortal()} disabled={portal.busy}>
                      {t('bn_manage')}
                    </button>
                  </p>
                  {portal.error ? <ErrorBox error={portal.error} /> : null}
                </div>
              )}
            </section>
            <section className="card">
              <h2>{t('usageChart')}</h2>
              {s.history.length === 0 || !chart ? (
                <Empty>{t('noUsageYet')}</Empty>
              ) : (
                <div className="usage-chart" data-days={days.length}>
                  <ChartView config={chart} label={t('chartSummary', { title: t('usageChart'), total: s.used })} height={240} />
                </div>
              )}
            </section>
            <section className="card">
              <h2>{t('plans')}</h2>
              {!plans.checkout && <p className="notice">{t('checkoutOff')}</p>}
              <ul className="plans">
                {plans.plans
                  .filter((p) => p.id !== 'trial')
                  .map((p) => (
                    <li key={p.id} className="plan">
                      <h3>{p.name}</h3>
                      <p>{t('perMonth', { price: p.priceUsd })}</p>
                      <p>{p.responsesPerPeriod === null ? t('unlimited') : t('responsesPerMonth', { count: formatNumber(p.responsesPerPeriod) })}</p>
                      {p.id === s.plan.id ? (
                        <StatusBadge status="ready" text={t('currentBadge')} />
                      ) : (
                        admin && (
                          <button type="button" disabled={!plans.checkout} onClick={() => choose(p.id)}>
                            {t('choosePlan', { plan: p.name })}
                          </button>
                        )
                      )}
                    </li>
                  ))}
              </ul>
              {checkout.url && (
                <p>
                  <a href={checkout.url} target="_blank" rel="noreferrer">
                    {t('openCheckout')}
                  </a>
                </p>
              )}
              {checkout.error ? <ErrorBox error={checkout.error} /> : null}
            </section>
            <NoticeSettings admin={admin} />
            <section className="card">
              <h2>{t('history')}</h2>
              {events.length === 0 ? (
                <Empty>{t('historyEmpty')}</Empty>
              ) : (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{t('date')}</th>
                      <th scope="col">{t('event')}</th>
                      <th scope="col">{t('status')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {events.map((e) => (
                      <tr key={e.id}>
                        <td>{formatDate(e.occurredAt)}</td>
                        <td>
                          {e.provider}: {e.type}
                        </td>
                        <td>{e.result}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          </>
        )}
      </Async>
    </>
  )
}

/** When and where admins hear about the quota, and what customers get once it is used up. */
function NoticeSettings({ admin }: { admin: boolean }) {
  const { t, formatDate } = useI18n()
  const [version, setVersion] = useState(0)
  const [saved, setSaved] = useState(false)
  const state = useLoad(async (signal) => {
    const [settings, notices] = await Promise.all([request<{ settings: QuotaSettings }>('/api/v1/organization/settings', { signal }), request<{ notifications: Notice[] }>('/api/v1/notifications?limit=5', { signal })])
    return { settings: settings.settings, notices: notices.notifications }
  }, [version])
  return (
    <section className="card" aria-labelledby="notices-title">
      <h2 id="notices-title">{t('bn_noticesTitle')}</h2>
      <Async state={state}>
        {({ settings, notices }) => (
          <>
            <NoticeForm
              key={version}
              admin={admin}
              settings={settings}
              onChange={() => setSaved(false)}
              onSaved={() => {
                setSaved(true)
                setVersion((v) => v + 1)
              }}
            />
            {saved && (
              <p role="status" className="success">
                {t('bn_saved')}
              </p>
            )}
            {notices.length > 0 && (
              <>
                <h3>{t('bn_recent')}</h3>
                <ul className="notices">
                  {notices.map((n) => (
                    <li key={n.id}>
                      <span className="hint">{formatDate(n.createdAt)}</span> {n.message}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </>
        )}
      </Async>
    </section>
  )
}

function NoticeForm({ admin, settings, onSaved, onChange }: { admin: boolean; settings: QuotaSettings; onSaved: () => void; onChange: () => void }) {
  const { t } = useI18n()
  const [thresholds, setThresholds] = useState((settings.quotaNoticeThresholds ?? [80, 100]).join(', '))
  const [chats, setChats] = useState(settings.quotaNoticeChats !== false)
  const [message, setMessage] = useState(settings.quotaMessage ?? '')
  const [handoff, setHandoff] = useState(settings.handoffOnQuota === true)
  const [state, setState] = useState<{ busy?: boolean; error?: unknown }>({})
  const save = async (e: FormEvent) => {
    e.preventDefault()
    onChange()
    const values = thresholds
      .split(/[\s,;]+/)
      .filter(Boolean)
      .map((v) => Number(v.replace('%', '')))
    if (!values.length || values.some((v) => !Number.isInteger(v) || v < 1 || v > 100)) {
      setState({ error: new Error(t('bn_thresholdsHint')) })
      return
    }
    setState({ busy: true })
    try {
      await request('/api/v1/organization/settings', { method: 'PATCH', body: { quotaNoticeThresholds: values, quotaNoticeChats: chats, quotaMessage: message.trim() ? message.trim() : null, handoffOnQuota: handoff } })
      setState({})
      onSaved()
    } catch (error) {
      setState({ error })
    }
  }
  return (
    <form onSubmit={save} className="stack">
      <p>{t('bn_noticesHelp')}</p>
      {state.error ? <ErrorBox error={state.error} /> : null}
      <Field label={t('bn_thresholds')} hint={t('bn_thresholdsHint')}>
        {(id, hint) => <input id={id} name="thresholds" inputMode="numeric" disabled={!admin} aria-describedby={hint} value={thresholds} onChange={(e) => setThresholds(e.target.value)} />}
      </Field>
      <fieldset className="plain">
        <legend>{t('bn_where')}</legend>
        <label className="check">
          <input type="checkbox" checked disabled /> {t('bn_whereWeb')}
        </label>
        <label className="check">
          <input type="checkbox" name="chats" disabled={!admin} checked={chats} onChange={(e) => setChats(e.target.checked)} /> {t('bn_whereChats')}
        </label>
      </fieldset>
      <Field label={t('bn_quotaMessage')} hint={t('bn_quotaMessageHint')}>
        {(id, hint) => <textarea id={id} name="quotaMessage" rows={3} maxLength={500} disabled={!admin} aria-describedby={hint} value={message} onChange={(e) => setMessage(e.target.value)} />}
      </Field>
      <label className="check">
        <input type="checkbox" name="handoffOnQuota" disabled={!admin} checked={handoff} onChange={(e) => setHandoff(e.target.checked)} /> {t('bn_handoff')}
      </label>
      {admin && (
        <p>
          <button type="submit" disabled={state.busy}>
            {t('bn_save')}
          </button>
        </p>
      )}
    </form>
  )
}

const DAY_MS = 24 * 3600 * 1000

/** The days from the period's start to today (or its end), each with its responses (0 when none). */
function periodDays(s: Summary): { day: string; responses: number }[] {
  const byDay = new Map(s.history.map((d) => [d.day.slice(0, 10), d.responses]))
  const start = Date.parse(s.period.start.slice(0, 10))
  const last = Math.min(Date.now(), Date.parse(s.period.end) - 1)
  const days: { day: string; responses: number }[] = []
  for (let time = start; time <= last && days.length < 366; time += DAY_MS) {
    const day = new Date(time).toISOString().slice(0, 10)
    days.push({ day, responses: byDay.get(day) ?? 0 })
  }
  // Days the history names outside that span (a clock between time zones) are kept, not lost.
  for (const d of s.history) if (!days.some((x) => x.day === d.day.slice(0, 10))) days.push({ day: d.day.slice(0, 10), responses: d.responses })
  return days.sort((a, b) => a.day.localeCompare(b.day))
}
