import client from 'prom-client'
import type { Metrics } from '../../core/ports.ts'

export type HttpMetrics = Metrics & {
  registry: client.Registry
  httpRequest(input: { method: string; route: string; status: number; seconds: number }): void
  error(kind: string): void
}

/** Prometheus metrics: HTTP requests, turn latency, queue depth, errors. */
export function createMetrics(input: { queueDepth: () => Promise<number> }): HttpMetrics {
  const registry = new client.Registry()
  client.collectDefaultMetrics({ register: registry, prefix: 'switchboard_' })
  const requests = new client.Counter({ name: 'switchboard_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers: [registry] })
  const requestSeconds = new client.Histogram({ name: 'switchboard_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['method', 'route'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [registry] })
  const turns = new client.Histogram({ name: 'switchboard_turn_duration_seconds', help: 'Time to run one conversation turn', labelNames: ['outcome'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30], registers: [registry] })
  const errors = new client.Counter({ name: 'switchboard_errors_total', help: 'Errors by kind', labelNames: ['kind'], registers: [registry] })
  new client.Gauge({
    name: 'switchboard_queue_depth',
    help: 'Jobs waiting or delayed',
    registers: [registry],
    async collect() {
      this.set(await input.queueDepth().catch(() => -1))
    },
  })
  return {
    registry,
    httpRequest: ({ method, route, status, seconds }) => {
      requests.inc({ method, route, status: String(status) })
      requestSeconds.observe({ method, route }, seconds)
    },
    turnDuration: (seconds, outcome) => turns.observe({ outcome }, seconds),
    turnError: (step) => errors.inc({ kind: `turn_step_${step}` }),
    error: (kind) => errors.inc({ kind }),
  }
}
