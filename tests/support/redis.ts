import { Redis } from 'ioredis'

/**
 * The Redis the BullMQ tests use: REDIS_URL, or the local one. Where none answers, the tests are
 * skipped with a loud warning; under CI (CI=true) a missing Redis is a failure instead.
 */
export async function redisForTests(): Promise<string | null> {
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.ping()
    return url
  } catch (error) {
    if (process.env.CI === 'true') throw new Error(`CI=true but Redis at ${url} does not answer: ${(error as Error).message}`, { cause: error })
    console.warn(`\n!!! SKIPPING Redis/BullMQ tests: no Redis answers at ${url}. Start Redis or set REDIS_URL to run them. !!!\n`)
    return null
  } finally {
    client.disconnect()
  }
}

export const uniquePrefix = (name: string) => `sbtest-${name}-${process.pid}-${Date.now().toString(36)}`
