import { useMemo, useState } from 'react'
import type { ChartConfiguration } from 'chart.js'
import { request } from '../api.ts'
import type { Session } from '../session.ts'
import { useI18n } from '../i18n.ts'
import { Async, Empty, ErrorBox, StatusBadge, useLoad } from '../ui.tsx'
import { ChartView, PALETTE } from '../chart.tsx'

type Plan = { id: string; name: string; responsesPerPeriod: number | null; priceUsd: number }
type Summary = {
  plan: Plan
  subscription: { status: string; cancelAtPeriodEnd: boolean; pendingPlan: string | null } | null
  period: { start: string; end: string }
  limit: number | null
  used: number
  history: { day: string; responses: number }[]
}
type Event = { id: string; provider: string; type: string; occurredAt: string; result: string }

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
  const chart = useMemo<ChartConfiguration | null>(() => {
    const s = state.data?.summary
    if (!s) return null
    return {
      type: 'line',
      data: { labels: s.history.map((d) => d.day.slice(5)), datasets: [{ label: t('totalResponses'), data: s.history.map((d) => d.responses), borderColor: PALETTE[0], backgroundColor: 'rgba(29,78,216,0.15)', fill: true, tension: 0.2 }] },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } },
    }
  }, [state.data, t])

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
            </section>
            <section className="card">
              <h2>{t('usageChart')}</h2>
              <ChartView config={chart!} label={t('chartSummary', { title: t('usageChart'), total: s.used })} height={220} />
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
