// Applies the database migrations once and exits: docker-compose.yml's one-shot `migrate` service,
// or `npm run migrate` before starting servers and workers. (They also migrate at start, one at a
// time under a PostgreSQL advisory lock, and then find nothing left to do.)
import { boot, startOrExit } from './boot.ts'
import { openDatabase } from '../adapters/db/database.ts'

const { config, logger } = boot()
const applied = await startOrExit(async () => {
  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR, sharedBuffers: config.PGLITE_SHARED_BUFFERS, vectors: config.KNOWLEDGE_VECTORS })
  try {
    return await db.migrate()
  } finally {
    await db.close()
  }
})
logger.info({ migrations: applied, applied: applied.length, knowledgeVectors: config.KNOWLEDGE_VECTORS }, applied.length ? 'database migrated' : 'database already up to date')
