import { useMemo, useState } from 'react'
import type { ChartConfiguration } from 'chart.js'
import { request } from '../api.ts'
import type { Session } from '../session.ts'
import { useI18n } from '../i18n.ts'
import { Async, Empty, useLoad } from '../ui.tsx'
import { ChartView, PALETTE } from '../chart.tsx'

type Dashboard = {
  bucket: 'day' | 'week' | 'month'
  responses: { period: string; channel: string; agentId: string; responses: number }[]
  totals: { responses: number; conversations: number; handoffs: number; handoffRate: number }
  costByModel: { provider: string; model: string; calls: number; costUsd: number }[]
  cost: { costUsd: number; calls: number }
  agents: { id: string; name: string }[]
}

function stacked(rows: Dashboard['responses'], key: (r: Dashboard['responses'][number]) => string, label: (k: string) => string): ChartConfiguration {
  const periods = [...new Set(rows.map((r) => r.period))].sort()
  const keys = [...new Set(rows.map(key))].sort()
  return {
    type: 'bar',
    data: {
      labels: periods,
      datasets: keys.map((k, i) => ({ label: label(k), backgroundColor: PALETTE[i % PALETTE.length], maxBarThickness: 56, data: periods.map((p) => rows.filter((r) => r.period === p && key(r) === k).reduce((a, r) => a + r.responses, 0)) })),
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { position: 'bottom' } } },
  }
}

export function Dashboard({ session }: { session: Session }) {
  const { t, formatNumber } = useI18n()
  const [bucket, setBucket] = useState<Dashboard['bucket']>('day')
  const state = useLoad((signal) => request<Dashboard>(`/api/v1/reports/dashboard?bucket=${bucket}`, { signal }), [bucket])
  const canExport = session.me.role === 'owner' || session.me.role === 'admin'
  // The exports cover the period the dashboard shows.
  const since = useMemo(() => new Date(Date.now() - { day: 30, week: 84, month: 365 }[bucket] * 24 * 3600 * 1000).toISOString(), [bucket])
  const charts = useMemo(() => {
    const d = state.data
    if (!d) return null
    const agentName = new Map(d.agents.map((a) => [a.id, a.name]))
    return {
      byChannel: stacked(d.responses, (r) => r.channel, (k) => k),
      byAgent: stacked(d.responses, (r) => r.agentId, (k) => agentName.get(k) ?? k),
      cost: {
        type: 'bar',
        data: { labels: d.costByModel.map((m) => `${m.provider}/${m.model}`), datasets: [{ label: t('costByModel'), backgroundColor: PALETTE[0], maxBarThickness: 32, data: d.costByModel.map((m) => m.costUsd) }] },
        options: { indexAxis: 'y', plugins: { legend: { display: false } } },
      } as ChartConfiguration,
    }
  }, [state.data, t])

  return (
    <>
      <h1 tabIndex={-1}>{t('dashboardTitle')}</h1>
      <div className="row toolbar">
        <label htmlFor="bucket">{t('period')}</label>
        <select id="bucket" value={bucket} onChange={(e) => setBucket(e.target.value as Dashboard['bucket'])}>
          <option value="day">{t('bucket_day')}</option>
          <option value="week">{t('bucket_week')}</option>
          <option value="month">{t('bucket_month')}</option>
        </select>
        {canExport && (
          <>
            <span className="spacer" />
            <a className="button secondary" href={`/api/v1/reports/conversations.csv?from=${encodeURIComponent(since)}`} download>
              {t('exportConversations')}
            </a>
            <a className="button secondary" href={`/api/v1/reports/usage.csv?from=${encodeURIComponent(since)}`} download>
              {t('exportUsage')}
            </a>
          </>
        )}
      </div>
      <Async state={state}>
        {(d) => (
          <>
            <section aria-label={t('dashboardTitle')} className="stats">
              <Stat label={t('totalResponses')} value={formatNumber(d.totals.responses)} />
              <Stat label={t('totalConversations')} value={formatNumber(d.totals.conversations)} />
              <Stat label={t('handoffRate')} value={`${formatNumber(d.totals.handoffRate * 100, 1)}%`} />
              <Stat label={t('modelCost')} value={`$${formatNumber(d.cost.costUsd, 4)}`} />
            </section>
            {d.responses.length === 0 ? (
              <Empty>{t('dashboardEmpty')}</Empty>
            ) : (
              <div className="grid2">
                <section className="card">
                  <h2>{t('responsesByChannel')}</h2>
                  <ChartView config={charts!.byChannel} label={t('chartSummary', { title: t('responsesByChannel'), total: d.totals.responses })} />
                </section>
                <section className="card">
                  <h2>{t('responsesByAgent')}</h2>
                  <ChartView config={charts!.byAgent} label={t('chartSummary', { title: t('responsesByAgent'), total: d.totals.responses })} />
                </section>
              </div>
            )}
            <section className="card">
              <h2>{t('costByModel')}</h2>
              {d.costByModel.length === 0 ? <Empty>{t('noModelCost')}</Empty> : <ChartView config={charts!.cost} label={t('chartSummary', { title: t('costByModel'), total: `$${d.cost.costUsd}` })} height={Math.max(120, d.costByModel.length * 40)} />}
            </section>
          </>
        )}
      </Async>
    </>
  )
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="stat">
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
    </div>
  )
}
