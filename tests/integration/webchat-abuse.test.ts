import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../adapters/log/logger.ts'
import { createInProcessQueue } from '../../adapters/queue/in-process.ts'
import { createMemoryNotifier } from '../../adapters/queue/memory-notifier.ts'
import { RATE_LIMIT_REPLY } from '../../core/conversation/steps.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

const redisUrl = await redisForTests()
const QUESTION = 'How do I connect a Telegram bot?'

const post = (t: TestApp, key: string, sessionId: string, ip: string, text = QUESTION) =>
  api(t, `/api/v1/webchat/${key}/messages`, { body: { sessionId, text }, headers: { 'x-forwarded-for': ip } })
const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {})

const limiters = [
  { name: 'memory limiter', env: {} as Record<string, string>, skip: false },
  { name: 'Redis limiter', env: { REDIS_URL: redisUrl ?? '', REDIS_PREFIX: uniquePrefix('webchat') }, skip: !redisUrl },
]

for (const limiter of limiters) {
  describe.skipIf(limiter.skip)(`anonymous web chat messages are limited (${limiter.name})`, () => {
    let t: TestApp
    let trial: TestOrg
    let other: TestOrg
    const stored = async (organizationId: string) => ({
      conversations: await t.app.db.prisma.conversation.count({ where: { organizationId } }),
      inbound: await t.app.db.prisma.message.count({ where: { organizationId, direction: 'in' } }),
    })
    beforeAll(async () => {
      const overrides = limiter.env.REDIS_URL ? { queue: createInProcessQueue({ logger: createLogger({ level: 'silent' }) }), notifier: createMemoryNotifier() } : undefined
      t = await startTestApp({ env: { ...limiter.env, WEBCHAT_RATE_PER_IP: '6', WEBCHAT_RATE_PER_KEY: '10' }, overrides })
      trial = await createOrg(t, { name: 'Trialco', docs: [TELEGRAM_DOC] })
      other = await createOrg(t, { name: 'Otherco', docs: [TELEGRAM_DOC] })
    })
    afterAll(async () => t?.close())

    it('answers 429 with Retry-After and RateLimit headers past the per-address limit, and stores nothing for the refused messages', async () => {
      const results = await Promise.all(Array.from({ length: 9 }, (_, i) => post(t, trial.webchatKey, `fresh-session-${i}`, '10.70.0.1')))
      expect(tally(results.map((r) => r.status))).toEqual({ 200: 6, 429: 3 })
      const answered = results.find((r) => r.status === 200)!
      expect(answered.json.messages[0].text).toContain('BotFather')
      expect(answered.headers.get('ratelimit-policy')).toBe('"webchat-ip";q=6;w=60, "webchat-key";q=10;w=60')
      expect(answered.headers.get('ratelimit')).toMatch(/^"webchat-ip";r=[0-5];t=\d+, "webchat-key";r=\d+;t=\d+$/)
      const refused = results.find((r) => r.status === 429)!
      expect(refused.json.error.code).toBe('rate_limited')
      const retryAfter = Number(refused.headers.get('retry-after'))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(60)
      expect(refused.headers.get('ratelimit')).toMatch(new RegExp(`^"webchat-ip";r=0;t=${retryAfter}, "webchat-key";r=\\d+;t=\\d+$`))

      expect(await stored(trial.organizationId)).toEqual({ conversations: 6, inbound: 6 })
      expect((await api(t, '/api/v1/billing', { token: trial.token })).json.used).toBe(6)
      // Another address is not held back by the first one.
      expect((await post(t, trial.webchatKey, 'fresh-session-other-ip', '10.70.0.2')).status).toBe(200)
    })

    it('limits one web chat key however many addresses send to it, without touching other keys', async () => {
      const results = await Promise.all(Array.from({ length: 13 }, (_, i) => post(t, other.webchatKey, `spread-session-${i}`, `10.71.0.${i + 1}`)))
      expect(tally(results.map((r) => r.status))).toEqual({ 200: 10, 429: 3 })
      const refused = results.find((r) => r.status === 429)!
      expect(refused.headers.get('ratelimit')).toMatch(/^"webchat-ip";r=6;t=\d+, "webchat-key";r=0;t=\d+$/)
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/)
      expect((await stored(other.organizationId)).inbound).toBe(10)
      expect((await post(t, trial.webchatKey, 'not-affected', '10.71.1.1')).status).toBe(200)
    })

    it('lets one address read conversations six times as often as it may send, then answers 429', async () => {
      const read = () => api(t, `/api/v1/webchat/${trial.webchatKey}/messages?sessionId=fresh-session-0`, { headers: { 'x-forwarded-for': '10.72.0.1' } })
      const statuses = await Promise.all(Array.from({ length: 40 }, () => read().then((r) => r.status)))
      expect(tally(statuses)).toEqual({ 200: 36, 429: 4 })
      const refused = await read()
      expect(refused.status).toBe(429)
      expect(refused.headers.get('ratelimit-policy')).toBe('"webchat-read-ip";q=36;w=60')
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      // Reading does not use up sending.
      expect((await post(t, trial.webchatKey, 'reader-sends', '10.72.0.1')).status).toBe(200)
    })
  })
}

describe('a flood of messages in one conversation', () => {
  let t: TestApp
  let org: TestOrg
  beforeAll(async () => {
    t = await startTestApp({ env: { WEBCHAT_RATE_PER_IP: '0', WEBCHAT_RATE_PER_KEY: '0' } })
    org = await createOrg(t, { name: 'Floodco', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => t?.close())

  it('gets the "too fast" notice once, and silence for the rest of the window', async () => {
    const replies: string[][] = []
    for (let i = 0; i < 34; i++) {
      const res = await post(t, org.webchatKey, 'flooding-session', '10.72.0.1', `${QUESTION} (${i})`)
      expect(res.status).toBe(200)
      replies.push((res.json.messages as { text: string }[]).map((m) => m.text))
    }
    expect(replies.slice(0, 30).every((r) => r.length === 1 && r[0]!.includes('BotFather'))).toBe(true)
    expect(replies[30]).toEqual([RATE_LIMIT_REPLY])
    expect(replies.slice(31)).toEqual([[], [], []])
    // Every message is handled (none left pending), and the silent ones used nothing of the plan.
    const inbound = await t.app.db.prisma.message.findMany({ where: { organizationId: org.organizationId, direction: 'in' }, select: { status: true } })
    expect(inbound).toHaveLength(34)
    expect(inbound.every((m) => m.status === 'done')).toBe(true)
    expect(await t.app.db.prisma.message.count({ where: { organizationId: org.organizationId, direction: 'out', author: 'agent' } })).toBe(30)
  })
})
