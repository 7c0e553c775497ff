// Everything in one process: HTTP, job consumers, and the demo workspace. `npm start`.
import { buildApp } from './app.ts'
import { boot, handleSignals } from './boot.ts'
import { seedDemo } from './demo.ts'
import { listen } from '../adapters/http/server.ts'

const { config, logger } = boot()
const app = await buildApp({ config, logger, role: 'all' })
const server = await listen(app.http, config.PORT, config.HOST)
handleSignals(logger, async () => {
  server.close()
  await app.close()
})
const base = config.PUBLIC_URL ?? `http://localhost:${config.PORT}`
logger.info({ port: config.PORT, database: app.db.kind, queue: app.queue.kind, answers: app.chatModel.name, embeddings: app.embedder.name }, 'Switchboard is listening')

if (!config.DEMO_SEED && config.TELEGRAM_BOT_TOKEN) logger.warn('TELEGRAM_BOT_TOKEN is used with the demo workspace only; connect bots to your agents with `npm run cli -- telegram connect`')
if (config.DEMO_SEED) {
  const demo = await seedDemo(app)
  if (config.TELEGRAM_BOT_TOKEN) {
    // Development: the bot answers as the demo agent, by long polling unless PUBLIC_URL is set.
    const bot = await app.telegram.connector.connect({ organizationId: demo.organizationId, agentId: demo.agentId, token: config.TELEGRAM_BOT_TOKEN, actorUserId: null }).catch((error: Error) => {
      logger.error({ err: error.message }, 'TELEGRAM_BOT_TOKEN: could not connect the bot')
      return null
    })
    if (bot) process.stdout.write(`\n  Telegram:     @${bot.botUsername} answers as the demo agent (${bot.mode})\n`)
  }
  process.stdout.write(
    [
      '',
      'Switchboard is running on its embedded defaults.',
      `  Admin web:    ${base}/admin/`,
      `  Web chat:     ${base}/chat/${demo.webchatKey}`,
      `  Admin login:  ${demo.adminEmail} / ${demo.adminPassword}   (the admin web, or POST ${base}/api/v1/auth/login)`,
      `  API docs:     ${base}/api/v1/openapi.json`,
      `  Credentials:  ${config.DATA_DIR}/demo-credentials.json`,
      '  Terminal chat: npm run chat',
      '',
    ].join('\n'),
  )
}
