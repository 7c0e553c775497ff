// Job consumers only (turns, ingestion). Run as many as needed; they share Redis and the database.
import { buildApp } from './app.ts'
import { boot, handleSignals } from './boot.ts'

const { config, logger } = boot()
if (!config.REDIS_URL) {
  logger.fatal('REDIS_URL is required for a separate worker: without Redis, jobs run inside `npm start`')
  process.exit(78)
}
const app = await buildApp({ config, logger, role: 'worker' })
handleSignals(logger, () => app.close())
logger.info({ concurrency: config.WORKER_CONCURRENCY, database: app.db.kind }, 'Switchboard worker is consuming jobs')
