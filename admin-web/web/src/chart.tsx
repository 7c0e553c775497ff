import { useEffect, useRef } from 'react'
import { Chart, BarController, BarElement, CategoryScale, Legend, LinearScale, Tooltip, LineController, LineElement, PointElement, Filler, type ChartConfiguration } from 'chart.js'

// Only the pieces the pages use, so the bundle stays small; pages with charts load this on demand.
Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip, LineController, LineElement, PointElement, Filler)

export const PALETTE = ['#1d4ed8', '#b45309', '#047857', '#9d174d', '#6d28d9', '#0f766e', '#b91c1c', '#4d7c0f']

/** A chart.js chart on a canvas, with a text summary for screen readers. */
export function ChartView({ config, label, height = 260 }: { config: ChartConfiguration; label: string; height?: number }) {
  const canvas = useRef<HTMLCanvasElement>(null)
  useEffect(() => {
    if (!canvas.current) return
    const chart = new Chart(canvas.current, { ...config, options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options } })
    return () => chart.destroy()
  }, [config])
  return (
    <div className="chart" style={{ height }}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  )
}

