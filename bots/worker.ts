// Job consumers only (turns, ingestion). Run as many as needed; they share Redis and the database.
import { buildApp } from './app.ts'
import { boot, handleSignals, startOrExit } from './boot.ts'
import { listen } from '../adapters/http/server.ts'

const { config, logger } = boot()
if (!config.REDIS_URL) {
  logger.fatal('REDIS_URL is required for a separate worker: without Redis, jobs run inside `npm start`')
  process.exit(78)
}
const app = await startOrExit(() => buildApp({ config, logger, role: 'worker' }))
// A worker serves no API; METRICS_PORT exposes /healthz, /readyz and /metrics (turn latency lives here).
const server = config.METRICS_PORT !== undefined ? await listen(app.http, config.METRICS_PORT, config.HOST) : undefined
handleSignals(logger, async () => {
  server?.close()
  await app.close()
})
logger.info({ concurrency: config.WORKER_CONCURRENCY, database: app.db.kind, knowledgeSearch: app.knowledge.searchMode().mode }, 'Switchboard worker is consuming jobs')
