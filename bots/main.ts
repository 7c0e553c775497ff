// Everything in one process: HTTP, job consumers, and the demo workspace. `npm start`.
import { buildApp } from './app.ts'
import { boot, handleSignals, startOrExit } from './boot.ts'
import { seedDemo } from './demo.ts'
import { SEMANTIC_OFF_REASON } from '../core/knowledge/knowledge-service.ts'
import { listen } from '../adapters/http/server.ts'

const { config, logger } = boot()
const app = await startOrExit(() => buildApp({ config, logger, role: 'all' }))
const server = await listen(app.http, config.PORT, config.HOST)
handleSignals(logger, async () => {
  server.close()
  await app.close()
})
const base = config.PUBLIC_URL ?? `http://localhost:${config.PORT}`
logger.info({ port: config.PORT, database: app.db.kind, queue: app.queue.kind, answers: app.chatModel.name, embeddings: app.embedder?.name ?? 'off', knowledgeSearch: app.knowledge.searchMode().mode }, 'Switchboard is listening')

if (config.DEMO_SEED) {
  const demo = await seedDemo(app)
  // Channels the environment names (TELEGRAM_BOT_TOKEN) answer as the demo agent.
  for (const line of await app.channels.demo({ organizationId: demo.organizationId, agentId: demo.agentId })) process.stdout.write(`\n${line}\n`)
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
      ...(app.embedder ? [] : ['', `  ${SEMANTIC_OFF_REASON}`]),
      '',
    ].join('\n'),
  )
}
