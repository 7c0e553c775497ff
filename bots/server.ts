// HTTP ingress only: webhooks, web chat and the admin API. Jobs go to Redis for bots/worker.ts.
import { buildApp } from './app.ts'
import { boot, handleSignals, startOrExit } from './boot.ts'
import { listen } from '../adapters/http/server.ts'

const { config, logger } = boot()
if (!config.REDIS_URL) logger.warn('REDIS_URL is not set: this server also runs the jobs itself (in-process queue)')
const app = await startOrExit(() => buildApp({ config, logger, role: config.REDIS_URL ? 'server' : 'all' }))
const server = await listen(app.http, config.PORT, config.HOST)
handleSignals(logger, async () => {
  server.close()
  await app.close()
})
logger.info({ port: config.PORT, database: app.db.kind, queue: app.queue.kind, knowledgeSearch: app.knowledge.searchMode().mode }, 'Switchboard server is listening')
