import { Redis } from 'ioredis'
import { TELEGRAM_LIMITS } from '../../adapters/telegram/bot-api.ts'
import { afterAll, describe, expect, it } from 'vitest'
import { createRedisSendScheduler } from '../../adapters/net/redis-send-scheduler.ts'
import { createSendScheduler, type SendScheduler } from '../../adapters/net/send-scheduler.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'

const redisUrl = await redisForTests()
const redis = redisUrl ? new Redis(redisUrl) : null
afterAll(() => redis?.disconnect())

/** Slots are recorded, not waited for: the test reads the booked times, not the clock. */
const noSleep = async () => {}

/** The times booked for each call, as start + wait, with `now` fixed so the arithmetic is exact. */
async function book(schedulers: SendScheduler[], targets: { bot: string; chat: string; group: boolean }[]): Promise<number[]> {
  return Promise.all(targets.map((t, i) => schedulers[i % schedulers.length]!.slot(t)))
}

describe('Telegram send limits: one process', () => {
  it('one message a second in a chat and at most 30 a second for a bot', async () => {
    let now = 1_000_000
    const s = createSendScheduler({ limits: TELEGRAM_LIMITS, now: () => now, sleep: noSleep })
    const waits = await book([s], Array.from({ length: 5 }, () => ({ bot: 'b', chat: 'c1', group: false })))
    expect(waits).toEqual([0, 1000, 2000, 3000, 4000])
    now += 10_000
    const many = await book([s], Array.from({ length: 45 }, (_, i) => ({ bot: 'b', chat: `c${i + 100}`, group: false })))
    expect(many.filter((w) => w < 1000)).toHaveLength(30)
  })
})

describe.skipIf(!redis)('Telegram send limits: several processes sharing Redis', () => {
  it('two workers never book the same second of a chat, nor more than 30 a second for a bot', async () => {
    const prefix = uniquePrefix('tg')
    const workers = [createRedisSendScheduler({ redis: redis!, prefix, namespace: 'telegram', limits: TELEGRAM_LIMITS, sleep: noSleep }), createRedisSendScheduler({ redis: redis!, prefix, namespace: 'telegram', limits: TELEGRAM_LIMITS, sleep: noSleep })]
    await book(workers, Array.from({ length: 6 }, () => ({ bot: 'b', chat: 'c1', group: false })))
    const chat = (await redis!.zrange(`${prefix}:telegram:slots:chat:b:c1`, '0', '-1', 'WITHSCORES')).filter((_, i) => i % 2 === 1).map(Number)
    expect(chat).toHaveLength(6)
    for (let i = 1; i < chat.length; i++) expect(chat[i]! - chat[i - 1]!).toBeGreaterThanOrEqual(1000)

    await book(workers, Array.from({ length: 70 }, (_, i) => ({ bot: 'b2', chat: `c${i}`, group: false })))
    const bot = (await redis!.zrange(`${prefix}:telegram:slots:bot:b2`, '0', '-1', 'WITHSCORES')).filter((_, i) => i % 2 === 1).map(Number)
    expect(bot).toHaveLength(70)
    // Any window of one second holds at most 30 of them.
    for (let i = 0; i < bot.length; i++) expect(bot.filter((t) => t >= bot[i]! && t < bot[i]! + 1000).length).toBeLessThanOrEqual(30)
    // Every key lives under "<REDIS_PREFIX>:", as the queue's and the rate limiter's do.
    expect(await redis!.keys(`${prefix}telegram*`)).toEqual([])
    expect((await redis!.keys(`${prefix}:*`)).length).toBeGreaterThan(0)
  })

  it('at most 20 messages a minute in a group', async () => {
    const prefix = uniquePrefix('tg')
    const workers = [createRedisSendScheduler({ redis: redis!, prefix, namespace: 'telegram', limits: TELEGRAM_LIMITS, sleep: noSleep }), createRedisSendScheduler({ redis: redis!, prefix, namespace: 'telegram', limits: TELEGRAM_LIMITS, sleep: noSleep })]
    const waits = await book(workers, Array.from({ length: 22 }, () => ({ bot: 'b', chat: 'g1', group: true })))
    expect(waits.filter((w) => w < 60_000 - 5_000)).toHaveLength(20)
    expect(Math.max(...waits)).toBeGreaterThanOrEqual(60_000 - 5_000)
  })
})
