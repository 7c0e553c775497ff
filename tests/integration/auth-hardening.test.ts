import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../adapters/db/database.ts'
import { createPrismaStore } from '../../adapters/db/prisma-store.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { createInProcessQueue } from '../../adapters/queue/in-process.ts'
import { createMemoryNotifier } from '../../adapters/queue/memory-notifier.ts'
import { hashToken } from '../../core/security/passwords.ts'
import { postgresAnswers, scratchDatabase } from '../support/postgres.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

const redisUrl = await redisForTests()
const postgres = await postgresAnswers('the concurrent password reset test')

/** Every one-time link the log mailer wrote to this address, oldest first (no SMTP in tests). */
function linksFor(t: TestApp, email: string, kind: 'reset' | 'invitation'): string[] {
  return t.logs.lines
    .map((l) => JSON.parse(l) as { mailTo?: string; body?: string })
    .filter((l) => l.mailTo === email && l.body?.includes(`#/${kind}?token=`))
    .map((l) => new URL(/https?:\/\/\S+/.exec(l.body!)![0]).hash.split('token=')[1]!)
}

const from = (ip: string) => ({ 'x-forwarded-for': ip })
const login = (t: TestApp, email: string, password: string, ip: string) => api(t, '/api/v1/auth/login', { body: { email, password }, headers: from(ip) })
const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {})

const limiters = [
  { name: 'memory limiter', env: {} as Record<string, string>, skip: false },
  { name: 'Redis limiter', env: { REDIS_URL: redisUrl ?? '', REDIS_PREFIX: uniquePrefix('auth') }, skip: !redisUrl },
]

for (const limiter of limiters) {
  describe.skipIf(limiter.skip)(`sign-in under concurrent guessing (${limiter.name})`, () => {
    let t: TestApp
    let org: TestOrg
    beforeAll(async () => {
      // Only the limiter comes from Redis here; jobs stay in-process so the test stays small.
      const overrides = limiter.env.REDIS_URL ? { queue: createInProcessQueue({ logger: createLogger({ level: 'silent' }) }), notifier: createMemoryNotifier() } : undefined
      t = await startTestApp({ env: limiter.env, overrides })
      org = await createOrg(t, { name: 'Guarded' })
    })
    afterAll(async () => t?.close())

    it('checks at most 5 of 40 parallel wrong passwords for one account; the rest get 429 with Retry-After and RateLimit headers', async () => {
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => login(t, org.email, `wrong guess ${i}`, `10.20.0.${i + 1}`)))
      expect(tally(results.map((r) => r.status))).toEqual({ 401: 5, 429: 35 })
      const refused = results.find((r) => r.status === 429)!
      expect(refused.json.error.code).toBe('too_many_attempts')
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60)
      expect(refused.headers.get('ratelimit-policy')).toBe('"signin-account";q=5;w=60, "signin-ip";q=5;w=60')
      expect(refused.headers.get('ratelimit')).toMatch(/^"signin-account";r=0;t=\d+, "signin-ip";r=\d;t=\d+$/)

      // The right password waits for the window too, from any address.
      const right = await login(t, org.email, org.password, '10.20.1.1')
      expect(right.status).toBe(429)
      expect(right.headers.get('retry-after')).toMatch(/^\d+$/)
    })

    it('checks at most 5 of 40 parallel guesses from one address across accounts', async () => {
      const ip = '10.20.2.1'
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => login(t, `nobody-${i}@example.com`, 'wrong password', ip)))
      expect(tally(results.map((r) => r.status))).toEqual({ 401: 5, 429: 35 })
      expect((await login(t, `someone-else@example.com`, 'wrong password', ip)).status).toBe(429)
      expect((await login(t, 'someone-else@example.com', 'wrong password', '10.20.2.2')).status).toBe(401)
    })
  })
}

describe('sign-in, sign-up, password reset and invitations', () => {
  let t: TestApp
  let a: TestOrg
  let b: TestOrg
  let c: TestOrg
  beforeAll(async () => {
    // The reset tests below send one account more links than an hour allows by default.
    t = await startTestApp({ env: { SIGNUP_RATE_PER_IP: '2', PASSWORD_RESET_RATE_PER_ACCOUNT: '8' } })
    a = await createOrg(t, { name: 'Alpha' })
    b = await createOrg(t, { name: 'Beta' })
    c = await createOrg(t, { name: 'Gamma' })
  })
  afterAll(async () => t?.close())

  it('a right password does not count as a failure; after 5 failures it is refused too', async () => {
    const ip = '10.30.0.1'
    for (let i = 0; i < 8; i++) expect((await login(t, b.email, b.password, ip)).status).toBe(200)
    for (let i = 0; i < 4; i++) expect((await login(t, a.email, `wrong ${i}`, `10.30.1.${i}`)).status).toBe(401)
    const ok = await login(t, a.email, a.password, ip)
    expect(ok.status).toBe(200)
    expect(ok.headers.get('ratelimit')).toMatch(/^"signin-account";r=1;t=\d+, "signin-ip";r=5;t=\d+$/)
    const fifth = await login(t, a.email, 'wrong 5', '10.30.1.9')
    expect(fifth.status).toBe(401)
    expect(fifth.headers.get('ratelimit')).toMatch(/^"signin-account";r=0;t=\d+/)
    expect(fifth.headers.get('retry-after')).toBeNull()
    expect((await login(t, a.email, a.password, ip)).status).toBe(429)
  })

  it('limits sign-ups per address and hour, with the RateLimit headers, and creates nothing for a refused one', async () => {
    const signup = (n: number, ip: string) =>
      api(t, '/api/v1/auth/signup', { body: { organizationName: `Spam ${n}`, name: 'Sam', email: `sam-${n}@example.com`, password: 'a long enough password' }, headers: from(ip) })
    const first = await signup(1, '10.40.0.1')
    expect(first.status).toBe(201)
    expect(first.headers.get('ratelimit-policy')).toBe('"signup-ip";q=2;w=3600')
    expect(first.headers.get('ratelimit')).toMatch(/^"signup-ip";r=1;t=(3600|3599)$/)
    expect((await signup(2, '10.40.0.1')).status).toBe(201)
    const third = await signup(3, '10.40.0.1')
    expect(third.status).toBe(429)
    expect(third.json.error.code).toBe('too_many_attempts')
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(3500)
    expect(third.headers.get('ratelimit')).toMatch(/^"signup-ip";r=0;t=\d+$/)
    expect(await t.app.store.users.findByEmail('sam-3@example.com')).toBeNull()
    expect((await signup(4, '10.40.0.2')).status).toBe(201)
  })

  it('answers a sixth reset request in a minute with 429, Retry-After and the RateLimit headers', async () => {
    const ip = '10.50.0.1'
    for (let i = 0; i < 5; i++) {
      const sent = await api(t, '/api/v1/auth/password-reset', { body: { email: `nobody-${i}@example.com` }, headers: from(ip) })
      expect(sent.status).toBe(202)
      expect(sent.headers.get('ratelimit')).toMatch(new RegExp(`^"reset-ip";r=${4 - i};t=\\d+, "reset-account";r=7;t=\\d+$`))
    }
    const refused = await api(t, '/api/v1/auth/password-reset', { body: { email: 'nobody@example.com' }, headers: from(ip) })
    expect(refused.status).toBe(429)
    expect(refused.headers.get('ratelimit-policy')).toBe('"reset-ip";q=5;w=60, "reset-account";q=8;w=3600')
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  })

  it('sends one account at most PASSWORD_RESET_RATE_PER_ACCOUNT reset links an hour, however many addresses ask, and says the same for an unknown email', async () => {
    const email = 'flooded-mailbox@example.com'
    await t.app.auth.createOrganizationWithOwner({ organizationName: 'Flooded', email, name: 'Flo', password: 'a long enough password' })
    const ask = (to: string, i: number) => api(t, '/api/v1/auth/password-reset', { body: { email: to }, headers: from(`10.55.0.${i}`) })
    for (let i = 1; i <= 8; i++) expect((await ask(email, i)).status).toBe(202)
    const ninth = await ask(email.toUpperCase(), 9)
    expect(ninth.status).toBe(429)
    expect(Number(ninth.headers.get('retry-after'))).toBeGreaterThan(3000)
    expect(linksFor(t, email, 'reset')).toHaveLength(8)
    // An address nobody has: the same answers, so the limit tells nothing about who has an account.
    for (let i = 1; i <= 8; i++) expect((await ask('no-account-here@example.com', 10 + i)).status).toBe(202)
    expect((await ask('no-account-here@example.com', 19)).status).toBe(429)
  })

  it('a password change voids every reset link sent before it, older or newer, and ends the sessions', async () => {
    const requestLink = async (ip: string) => {
      expect((await api(t, '/api/v1/auth/password-reset', { body: { email: c.email }, headers: from(ip) })).status).toBe(202)
      return linksFor(t, c.email, 'reset').at(-1)!
    }
    const confirm = (token: string, password: string) => api(t, '/api/v1/auth/password-reset/confirm', { body: { token, password } })

    const older = await requestLink('10.60.0.1')
    const newer = await requestLink('10.60.0.2')
    expect(older).not.toBe(newer)
    const session = (await login(t, c.email, c.password, '10.60.1.1')).json.token as string
    expect((await confirm(newer, 'the first new password')).status).toBe(204)
    expect((await api(t, '/api/v1/me', { token: session })).status).toBe(401)
    const stale = await confirm(older, 'the attacker password')
    expect(stale.status).toBe(400)
    expect(stale.json.error.code).toBe('invalid_token')
    expect((await login(t, c.email, 'the attacker password', '10.60.1.2')).status).toBe(401)

    // The other way round: using the older link voids the newer one.
    const third = await requestLink('10.60.0.3')
    const fourth = await requestLink('10.60.0.4')
    expect((await confirm(third, 'the second new password')).status).toBe(204)
    expect((await confirm(fourth, 'another password')).status).toBe(400)

    // Two links used at once: one of them wins.
    const [x, y] = [await requestLink('10.60.0.5'), await requestLink('10.60.0.6')]
    const both = await Promise.all([confirm(x, 'the third new password'), confirm(y, 'the fourth new password')])
    expect(both.map((r) => r.status).sort()).toEqual([204, 400])
    const winner = both[0]!.status === 204 ? 'the third new password' : 'the fourth new password'
    expect((await login(t, c.email, winner, '10.60.1.3')).status).toBe(200)

  })

  it("withdraws only the organization's own invitations: another organization's id or an unknown one is 404", async () => {
    const invited = await api(t, '/api/v1/invitations', { token: a.token, body: { email: 'ivy@example.com', role: 'member' } })
    expect(invited.status).toBe(201)
    const id = invited.json.invitation.id as string
    const fromB = await api(t, `/api/v1/invitations/${id}`, { token: b.token, method: 'DELETE' })
    expect(fromB.status).toBe(404)
    expect(fromB.json.error.code).toBe('not_found')
    expect((await api(t, '/api/v1/invitations', { token: a.token })).json.invitations.map((i: { id: string }) => i.id)).toContain(id)
    expect((await api(t, '/api/v1/invitations/00000000-0000-4000-8000-000000000000', { token: a.token, method: 'DELETE' })).status).toBe(404)
    expect((await api(t, `/api/v1/invitations/${id}`, { token: a.token, method: 'DELETE' })).status).toBe(204)
    expect((await api(t, `/api/v1/invitations/${id}`, { token: a.token, method: 'DELETE' })).status).toBe(404)
    expect((await api(t, '/api/v1/invitations', { token: a.token })).json.invitations).toEqual([])
  })
})

// PGlite runs one query at a time, so only a real PostgreSQL with parallel connections shows the race.
describe.skipIf(!postgres)('reset links used at once (PostgreSQL, 10 connections)', () => {
  let db: Database
  let drop: () => Promise<void>
  beforeAll(async () => {
    ;({ db, drop } = await scratchDatabase('resets', 10))
  })
  afterAll(async () => drop?.())

  it('of ten open links of one account used at the same moment exactly one works; expired links never do', async () => {
    const store = createPrismaStore(db)
    const user = await store.users.create({ email: 'race@example.com', name: 'Race', passwordHash: 'x' })
    const now = new Date()
    const tokens = Array.from({ length: 10 }, (_, i) => `race-token-${i}`)
    for (const token of tokens) await store.passwordResets.create({ tokenHash: hashToken(token), userId: user.id, expiresAt: new Date(now.getTime() + 3600_000) })
    const used = await Promise.all(tokens.map((token) => store.passwordResets.consume(hashToken(token), now)))
    expect(used.filter((u) => u === user.id)).toHaveLength(1)
    expect(used.filter((u) => u === null)).toHaveLength(9)

    await store.passwordResets.create({ tokenHash: hashToken('expired-token'), userId: user.id, expiresAt: new Date(now.getTime() - 1000) })
    expect(await store.passwordResets.consume(hashToken('expired-token'), now)).toBeNull()
    await store.passwordResets.create({ tokenHash: hashToken('fresh-token'), userId: user.id, expiresAt: new Date(now.getTime() + 3600_000) })
    await store.users.setPassword(user.id, 'y')
    expect(await store.passwordResets.consume(hashToken('fresh-token'), now)).toBeNull()
  })
})
