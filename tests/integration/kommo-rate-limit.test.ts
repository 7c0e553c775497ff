import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createRedisBucket } from '../../adapters/kommo/rate-limit.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'

const redisUrl = await redisForTests()

/** The most calls that fall in any one window [t, t + windowMs). */
function maxInWindow(times: number[], windowMs = 1000): number {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let i = 0; i < sorted.length; i++) {
    let n = 0
    while (i + n < sorted.length && sorted[i + n]! < sorted[i]! + windowMs) n++
    most = Math.max(most, n)
  }
  return most
}

/**
 * Two processes (two Redis connections, two buckets) calling the same Kommo account share its 7
 * calls a second: the slots are reserved by one Lua script on Redis's clock.
 */
describe.skipIf(!redisUrl)('createRedisBucket: one Kommo limit for every process', () => {
  const one = redisUrl ? new Redis(redisUrl) : null
  const two = redisUrl ? new Redis(redisUrl) : null
  afterAll(() => {
    one?.disconnect()
    two?.disconnect()
  })

  it('never lets more than 7 calls a second go, whichever process makes them', async () => {
    const prefix = uniquePrefix('kommo-rate')
    const buckets = [createRedisBucket({ redis: one!, prefix }), createRedisBucket({ redis: two!, prefix })]
    const went: number[] = []
    const started = Date.now()
    const waits = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        buckets[i % 2]!.acquire('acme').then((wait) => {
          went.push(Date.now())
          return wait
        }),
      ),
    )
    expect(went).toHaveLength(24)
    expect(maxInWindow(went)).toBeLessThanOrEqual(7)
    // 24 calls are 7 + 7 + 7 + 3: the last ones go in the fourth second (slots 1.05 s apart).
    expect(Math.max(...went) - started).toBeGreaterThanOrEqual(3 * 1050 - 20)
    expect(waits.filter((w) => w === 0)).toHaveLength(7)
    // Another account is not held up by this one.
    const other = Date.now()
    expect(await buckets[1]!.acquire('other')).toBe(0)
    expect(Date.now() - other).toBeLessThan(200)
    // The book keeps only the last 7 slots and expires.
    const key = `${prefix}:kommo:rate:acme`
    expect(await one!.zcard(key)).toBe(7)
    expect(await one!.pttl(key)).toBeGreaterThan(0)
    await one!.del(key, `${prefix}:kommo:rate:other`)
  })

  it('reserves slots atomically under a burst from both processes', async () => {
    const prefix = uniquePrefix('kommo-burst')
    // No real sleeping: the waits the script hands out are the slots (Redis time + wait), all distinct seconds of 7.
    const noSleep = async () => undefined
    const buckets = [createRedisBucket({ redis: one!, prefix, sleep: noSleep }), createRedisBucket({ redis: two!, prefix, sleep: noSleep })]
    const waits = await Promise.all(Array.from({ length: 70 }, (_, i) => buckets[i % 2]!.acquire('acme')))
    const rounds = waits.map((w) => Math.round(w / 1050))
    for (let r = 0; r < 10; r++) expect(rounds.filter((x) => x === r)).toHaveLength(7)
    await one!.del(`${prefix}:kommo:rate:acme`)
  })
})
