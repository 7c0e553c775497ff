import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Request } from 'express'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createPrismaBillingStore } from '../../adapters/db/billing-store.ts'
import { openDatabase, type Database } from '../../adapters/db/database.ts'
import { createPrismaStore } from '../../adapters/db/prisma-store.ts'
import { createApi } from '../../adapters/http/api.ts'
import { createMetrics } from '../../adapters/http/metrics.ts'
import { createHttpApp, listen } from '../../adapters/http/server.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { registerBillingRoutes } from '../../admin-web/api/billing-routes.ts'
import { loadPlans } from '../../core/billing/plans.ts'
import { createQuotaService, DEFAULT_QUOTA_HANDOFF_MESSAGE, DEFAULT_QUOTA_MESSAGE, quotaStep, type BillingNotification, type BillingStore } from '../../core/billing/quota.ts'
import { compose, type Step, type TurnContext } from '../../core/conversation/pipeline.ts'
import { createOperatorService } from '../../core/conversation/operator-service.ts'
import { createMemoryNotifier } from '../../adapters/queue/memory-notifier.ts'
import { AppError } from '../../core/errors.ts'
import { newId, newToken } from '../../core/ids.ts'
import type { Role, Store } from '../../core/ports.ts'
import type { Principal } from '../../core/tenancy/auth-service.ts'

// Small limits so that the edges are a few calls away.
const plans = loadPlans(JSON.stringify({ trial: { responsesPerPeriod: 5 }, basic: { responsesPerPeriod: 10 } }))
const log = createLogger({ level: 'silent' })

describe('response quota (PGlite)', () => {
  let db: Database
  let store: Store
  let billing: BillingStore
  let now: Date
  const clock = { now: () => now }
  let notified: BillingNotification[]
  const quota = () => createQuotaService({ store: billing, plans, clock, notify: (n) => void notified.push(n), logger: log })
  const newOrg = async () => (await store.organizations.create({ name: `Org ${newId().slice(0, 6)}` })).id
  const count = async (table: 'UsageReservation' | 'Notification', organizationId: string) =>
    Number((await db.runner.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${table}" WHERE "organizationId" = $1`, [organizationId]))[0]!.n)

  beforeAll(async () => {
    db = await openDatabase({ dataDir: 'memory://' })
    await db.migrate()
    store = createPrismaStore(db)
    billing = createPrismaBillingStore(db)
  })
  afterAll(async () => db?.close())
  beforeEach(() => {
    now = new Date('2026-03-15T10:00:00Z')
    notified = []
  })

  describe('reservations', () => {
    it('answers until the plan is used up, then refuses the next one', async () => {
      const org = await newOrg()
      const q = quota()
      const results = []
      for (let i = 1; i <= 6; i++) results.push(await q.reserve({ organizationId: org, messageId: `${org}-m${i}` }))
      expect(results.slice(0, 5)).toEqual([1, 2, 3, 4, 5].map((used) => ({ ok: true, used, limit: 5, remaining: 5 - used })))
      expect(results[5]).toEqual({ ok: false, used: 5, limit: 5 })
      expect(await count('UsageReservation', org)).toBe(5)
      expect((await q.summary(org)).used).toBe(5)
    })

    it('reserves once per message: a retried turn gets the same answer and counts nothing more', async () => {
      const org = await newOrg()
      const q = quota()
      const first = await q.reserve({ organizationId: org, messageId: `${org}-retry` })
      const again = await q.reserve({ organizationId: org, messageId: `${org}-retry` })
      expect(first).toEqual({ ok: true, used: 1, limit: 5, remaining: 4 })
      expect(again).toEqual(first)
      expect(await count('UsageReservation', org)).toBe(1)
      expect((await q.summary(org)).history.at(-1)).toEqual({ day: '2026-03-15', responses: 1 })
    })

    it('a released reservation is given back, once', async () => {
      const org = await newOrg()
      const q = quota()
      for (let i = 1; i <= 5; i++) await q.reserve({ organizationId: org, messageId: `${org}-m${i}` })
      expect((await q.reserve({ organizationId: org, messageId: `${org}-extra` })).ok).toBe(false)

      expect(await q.release({ organizationId: org, messageId: `${org}-m3` })).toEqual({ released: true })
      expect(await q.release({ organizationId: org, messageId: `${org}-m3` })).toEqual({ released: false })
      expect(await q.release({ organizationId: org, messageId: 'never-reserved' })).toEqual({ released: false })
      const summary = await q.summary(org)
      expect(summary).toMatchObject({ used: 4, remaining: 1 })
      expect(summary.history.at(-1)).toEqual({ day: '2026-03-15', responses: 4 })

      expect(await q.reserve({ organizationId: org, messageId: `${org}-extra` })).toEqual({ ok: true, used: 5, limit: 5, remaining: 0 })
      // The message whose reservation was given back can reserve again (the retry of a failed turn).
      expect((await q.reserve({ organizationId: org, messageId: `${org}-m3` })).ok).toBe(false)
    })

    it("one organization's message cannot be released by another", async () => {
      const [a, b] = [await newOrg(), await newOrg()]
      const q = quota()
      await q.reserve({ organizationId: a, messageId: `${a}-m1` })
      expect(await q.release({ organizationId: b, messageId: `${a}-m1` })).toEqual({ released: false })
      expect((await q.summary(a)).used).toBe(1)
      expect((await q.summary(b)).used).toBe(0)
    })

    it('unlimited plans always answer, and still count', async () => {
      const org = await newOrg()
      await db.prisma.subscription.create({ data: { id: newId(), organizationId: org, plan: 'enterprise', status: 'active', currentPeriodStart: new Date('2026-03-01T00:00:00Z'), currentPeriodEnd: new Date('2026-04-01T00:00:00Z') } })
      const q = quota()
      for (let i = 1; i <= 12; i++) expect(await q.reserve({ organizationId: org, messageId: `${org}-m${i}` })).toEqual({ ok: true, used: i, limit: null, remaining: null })
      expect(await q.summary(org)).toMatchObject({ plan: { id: 'enterprise', responsesPerPeriod: null }, used: 12, remaining: null, limit: null })
      expect(notified).toEqual([])
    })

    it('concurrent reservations on PGlite still stop at the limit (the race itself is shown on PostgreSQL)', async () => {
      const org = await newOrg()
      const q = quota()
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => q.reserve({ organizationId: org, messageId: `${org}-c${i}` })))
      expect(results.filter((r) => r.ok)).toHaveLength(5)
      expect(await count('UsageReservation', org)).toBe(5)
    })
  })

  describe('notifications', () => {
    it('80% and 100% are noticed once per period, however often the limit is hit', async () => {
      const org = await newOrg()
      const q = quota()
      for (let i = 1; i <= 3; i++) await q.reserve({ organizationId: org, messageId: `${org}-m${i}` })
      expect(notified).toEqual([])

      await q.reserve({ organizationId: org, messageId: `${org}-m4` }) // 4 of 5 = 80%
      expect(notified.map((n) => n.kind)).toEqual(['quota_80'])
      expect(notified[0]).toMatchObject({ organizationId: org, periodStart: new Date('2026-03-01T00:00:00Z') })
      expect(notified[0]!.message).toMatch(/4 of 5 responses \(80%\) of the Trial plan in the period that ends on 2026-04-01/)

      await q.reserve({ organizationId: org, messageId: `${org}-m5` }) // 100%
      expect(notified.map((n) => n.kind)).toEqual(['quota_80', 'quota_100'])
      expect(notified[1]!.message).toMatch(/used all 5 responses of the Trial plan/)

      // More refusals, a release and a new reservation, another process (no cache): nothing new.
      await q.reserve({ organizationId: org, messageId: `${org}-m6` })
      await q.reserve({ organizationId: org, messageId: `${org}-m5` })
      await q.release({ organizationId: org, messageId: `${org}-m5` })
      await q.reserve({ organizationId: org, messageId: `${org}-m7` })
      await quota().reserve({ organizationId: org, messageId: `${org}-m8` })
      expect(notified).toHaveLength(2)
      expect(await count('Notification', org)).toBe(2)

      const list = await q.notifications(org)
      expect(list.map((n) => n.kind).sort()).toEqual(['quota_100', 'quota_80'])
    })

    it("the organization's thresholds replace 80 and 100, and the chats can be left out", async () => {
      const org = await newOrg()
      const other = await newOrg()
      const where: boolean[] = []
      const q = createQuotaService({ store: billing, plans, clock, notify: (n, w) => void (notified.push(n), where.push(w.chats)), logger: log })
      const saved = await q.updateSettings(org, { quotaNoticeThresholds: [100, 40, 40, 60], quotaNoticeChats: false })
      expect(saved).toMatchObject({ quotaNoticeThresholds: [40, 60, 100], quotaNoticeChats: false })
      for (let i = 1; i <= 2; i++) await q.reserve({ organizationId: org, messageId: `${org}-t${i}` }) // 40%
      expect(notified.map((n) => n.kind)).toEqual(['quota_40'])
      expect(notified[0]!.message).toMatch(/2 of 5 responses \(40%\)/)
      for (let i = 3; i <= 4; i++) await q.reserve({ organizationId: org, messageId: `${org}-t${i}` }) // 60%, 80%: 80 is not one of them
      expect(notified.map((n) => n.kind)).toEqual(['quota_40', 'quota_60'])
      await q.reserve({ organizationId: org, messageId: `${org}-t5` })
      expect(notified.map((n) => n.kind)).toEqual(['quota_40', 'quota_60', 'quota_100'])
      expect(where).toEqual([false, false, false])

      // Another organization keeps the defaults, and its notices go to the chats.
      for (let i = 1; i <= 4; i++) await q.reserve({ organizationId: other, messageId: `${other}-t${i}` })
      expect(notified.slice(3).map((n) => [n.organizationId, n.kind])).toEqual([[other, 'quota_80']])
      expect(where.at(-1)).toBe(true)

      // null restores the defaults.
      expect(await q.updateSettings(org, { quotaNoticeThresholds: null, quotaNoticeChats: null })).toEqual({})
    })

    it('a new period starts from zero and is noticed again', async () => {
      const org = await newOrg()
      const q = quota()
      for (let i = 1; i <= 5; i++) await q.reserve({ organizationId: org, messageId: `${org}-mar${i}` })
      expect((await q.reserve({ organizationId: org, messageId: `${org}-mar6` })).ok).toBe(false)

      now = new Date('2026-04-01T00:00:00Z') // the calendar month rolls over
      expect(await q.reserve({ organizationId: org, messageId: `${org}-apr1` })).toEqual({ ok: true, used: 1, limit: 5, remaining: 4 })
      expect((await q.summary(org)).period).toEqual({ start: new Date('2026-04-01T00:00:00Z'), end: new Date('2026-05-01T00:00:00Z') })
      for (let i = 2; i <= 5; i++) await q.reserve({ organizationId: org, messageId: `${org}-apr${i}` })
      expect(notified.map((n) => [n.kind, n.periodStart.toISOString().slice(0, 10)])).toEqual([
        ['quota_80', '2026-03-01'],
        ['quota_100', '2026-03-01'],
        ['quota_80', '2026-04-01'],
        ['quota_100', '2026-04-01'],
      ])
    })

    it('a failing notify callback does not fail the reservation', async () => {
      const org = await newOrg()
      const q = createQuotaService({ store: billing, plans, clock, notify: () => Promise.reject(new Error('chat down')), logger: log })
      for (let i = 1; i <= 5; i++) expect((await q.reserve({ organizationId: org, messageId: `${org}-m${i}` })).ok).toBe(true)
      expect(await count('Notification', org)).toBe(2)
    })
  })

  describe('subscriptions and periods', () => {
    it("a subscriber's period is the subscription's and rolls over on its dates when the renewal is late", async () => {
      const org = await newOrg()
      await db.prisma.subscription.create({
        data: { id: newId(), organizationId: org, plan: 'basic', status: 'active', currentPeriodStart: new Date('2026-03-10T12:00:00Z'), currentPeriodEnd: new Date('2026-04-10T12:00:00Z') },
      })
      const q = quota()
      for (let i = 1; i <= 10; i++) await q.reserve({ organizationId: org, messageId: `${org}-m${i}` })
      expect(await q.reserve({ organizationId: org, messageId: `${org}-m11` })).toEqual({ ok: false, used: 10, limit: 10 })

      now = new Date('2026-04-10T12:00:00Z') // no renewal event yet: the next period starts anyway
      expect(await q.reserve({ organizationId: org, messageId: `${org}-m11` })).toEqual({ ok: true, used: 1, limit: 10, remaining: 9 })
      expect((await q.summary(org)).period).toEqual({ start: new Date('2026-04-10T12:00:00Z'), end: new Date('2026-05-10T12:00:00Z') })
    })

    it('an expired subscription falls back to the trial limits', async () => {
      const org = await newOrg()
      await db.prisma.subscription.create({
        data: { id: newId(), organizationId: org, plan: 'basic', status: 'expired', currentPeriodStart: new Date('2026-03-10T12:00:00Z'), currentPeriodEnd: new Date('2026-04-10T12:00:00Z') },
      })
      const summary = await quota().summary(org)
      expect(summary).toMatchObject({ plan: { id: 'trial' }, limit: 5, subscription: { status: 'expired', plan: 'basic' } })
      expect(summary.period.start).toEqual(new Date('2026-03-01T00:00:00Z'))
    })
  })

  describe('summary', () => {
    it('has the plan, the period, used, remaining and every day of the period so far', async () => {
      const org = await newOrg()
      const q = quota()
      now = new Date('2026-03-02T09:00:00Z')
      await q.reserve({ organizationId: org, messageId: `${org}-a` })
      await q.reserve({ organizationId: org, messageId: `${org}-b` })
      now = new Date('2026-03-04T23:59:00Z')
      await q.reserve({ organizationId: org, messageId: `${org}-c` })
      now = new Date('2026-03-05T08:00:00Z')

      const summary = await q.summary(org)
      expect(summary).toEqual({
        plan: { id: 'trial', name: 'Trial', responsesPerPeriod: 5, priceUsd: 0, yearlyPriceUsd: 0, limits: { agents: 1, chunks: 500, channels: 2 } },
        interval: 'month',
        subscription: null,
        period: { start: new Date('2026-03-01T00:00:00Z'), end: new Date('2026-04-01T00:00:00Z') },
        limit: 5,
        used: 3,
        remaining: 2,
        history: [
          { day: '2026-03-01', responses: 0 },
          { day: '2026-03-02', responses: 2 },
          { day: '2026-03-03', responses: 0 },
          { day: '2026-03-04', responses: 1 },
          { day: '2026-03-05', responses: 0 },
        ],
      })
      // JSON as the API sends it.
      expect(JSON.parse(JSON.stringify(summary)).period).toEqual({ start: '2026-03-01T00:00:00.000Z', end: '2026-04-01T00:00:00.000Z' })
    })
  })

  describe('plan caps', () => {
    it('refuses what passes the cap with 402 plan_limit naming the plan and the cap', async () => {
      const org = await newOrg()
      const q = quota()
      await expect(q.checkCap({ organizationId: org, kind: 'agents', adding: 1, current: 0 })).resolves.toBeUndefined()
      const error = await q.checkCap({ organizationId: org, kind: 'agents', adding: 1, current: 1 }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(AppError)
      expect(error).toMatchObject({ code: 'plan_limit', status: 402, message: 'The Trial plan allows 1 agent; this organization has 1 agent. Upgrade the plan or remove one first.' })
      await expect(q.checkCap({ organizationId: org, kind: 'chunks', adding: 101, current: 400 })).rejects.toThrow('The Trial plan allows 500 knowledge chunks; this organization has 400 knowledge chunks and this would add 101.')
      await expect(q.checkCap({ organizationId: org, kind: 'channels', adding: 1, current: 2 })).rejects.toThrow(/Trial plan allows 2 channels/)

      await db.prisma.subscription.create({ data: { id: newId(), organizationId: org, plan: 'enterprise', status: 'active', currentPeriodStart: new Date('2026-03-01T00:00:00Z'), currentPeriodEnd: new Date('2026-04-01T00:00:00Z') } })
      await expect(q.checkCap({ organizationId: org, kind: 'agents', adding: 1000, current: 1000 })).resolves.toBeUndefined()
    })
  })

  describe('the quota step of a turn', () => {
    const answered: Step = {
      name: 'answer',
      async run(ctx, next) {
        ctx.reply = { author: 'agent', text: 'The answer.' }
        await next()
      },
    }

    async function chat(organizationId: string) {
      const agent = await store.agents.create(organizationId, { name: 'Helper' })
      const inbox = await store.inboxes.create({ organizationId, agentId: agent.id, channel: 'webchat', name: 'Web', publicKey: newToken(), settings: {} })
      const conversation = await store.conversations.resolve({ inbox, externalThreadId: 'thread', externalUserId: 'customer' })
      let n = 0
      const turn = async (billable = true): Promise<TurnContext> => {
        const { message } = await store.messages.insertInbound({
          conversation,
          message: { inboxId: inbox.id, externalThreadId: 'thread', externalMessageId: `m${++n}`, externalUserId: 'customer', text: 'How much is it?', attachments: [], receivedAt: new Date(), raw: {} },
        })
        return { message, conversation: { ...conversation }, agent, inbox, job: { jobId: 'job', attempt: 1, maxAttempts: 3 }, log, language: 'en', billable, startedAt: Date.now(), afterReply: [] }
      }
      return { conversation, turn }
    }

    it('answers within the plan; at the limit the customer gets the polite message, nothing is dropped', async () => {
      const org = await newOrg()
      const q = quota()
      const { turn } = await chat(org)
      const run = compose([quotaStep({ quota: q }), answered])
      for (let i = 0; i < 5; i++) {
        const ctx = await turn()
        await run(ctx)
        expect(ctx.reply).toEqual({ author: 'agent', text: 'The answer.' })
        expect(ctx.billable).toBe(true)
      }
      const ctx = await turn()
      await run(ctx)
      expect(ctx.reply).toEqual({ author: 'system', text: DEFAULT_QUOTA_MESSAGE })
      expect(ctx.billable).toBe(false)
      expect(ctx.conversation.state).toBe('bot')
      expect(await store.handoffs.list(org)).toEqual([])
    })

    it("uses the organization's own message, and hands over to a person when configured", async () => {
      const org = await newOrg()
      const q = quota()
      const { conversation, turn } = await chat(org)
      const handedOver: string[] = []
      // The real handoff; the operators are told (here: recorded) after the reply, by the turn.
      const operators = createOperatorService({ store, notifier: createMemoryNotifier(), channels: new Map() })
      const handoffs = { ...operators, opened: async (input: { conversationId: string }) => void handedOver.push(input.conversationId) }
      const run = async (ctx: TurnContext) => {
        await compose([quotaStep({ quota: q, handoffs, defaultMessage: 'Default text' }), answered])(ctx)
        for (const after of ctx.afterReply) await after()
      }
      for (let i = 0; i < 5; i++) await run(await turn())

      await q.updateSettings(org, { quotaMessage: '  Our assistant is resting; we will write back tomorrow.  ' })
      let ctx = await turn()
      await run(ctx)
      expect(ctx.reply).toEqual({ author: 'system', text: 'Our assistant is resting; we will write back tomorrow.' })

      await q.updateSettings(org, { quotaMessage: null })
      ctx = await turn()
      await run(ctx)
      expect(ctx.reply?.text).toBe('Default text')

      await q.updateSettings(org, { handoffOnQuota: true })
      ctx = await turn()
      await run(ctx)
      expect(ctx.reply).toEqual({ author: 'system', text: DEFAULT_QUOTA_HANDOFF_MESSAGE })
      expect(ctx.conversation.state).toBe('handoff')
      expect((await store.conversations.get(org, conversation.id))?.state).toBe('handoff')
      expect(await store.handoffs.list(org, 'open')).toMatchObject([{ conversationId: conversation.id, reason: 'quota_exceeded' }])
      expect(handedOver).toEqual([conversation.id])
    })

    it('a failing turn gives its reservation back, and so does a turn that ends without a reply', async () => {
      const org = await newOrg()
      const q = quota()
      const { turn } = await chat(org)
      const failing: Step = {
        name: 'answer',
        async run() {
          throw new Error('model down')
        },
      }
      await expect(compose([quotaStep({ quota: q }), failing])(await turn())).rejects.toThrow('model down')
      expect((await q.summary(org)).used).toBe(0)

      const silent: Step = { name: 'silent', run: async () => undefined }
      await compose([quotaStep({ quota: q }), silent])(await turn())
      expect((await q.summary(org)).used).toBe(0)
      expect(await count('UsageReservation', org)).toBe(0)

      // The retry of a failed turn reserves again and is answered.
      const ctx = await turn()
      await expect(compose([quotaStep({ quota: q }), failing])(ctx)).rejects.toThrow()
      await compose([quotaStep({ quota: q }), answered])(ctx)
      expect(ctx.reply?.text).toBe('The answer.')
      expect((await q.summary(org)).used).toBe(1)
    })

    it("admins' test chats pass through without counting", async () => {
      const org = await newOrg()
      const q = quota()
      const { turn } = await chat(org)
      for (let i = 0; i < 7; i++) {
        const ctx = await turn(false)
        await compose([quotaStep({ quota: q }), answered])(ctx)
        expect(ctx.reply?.text).toBe('The answer.')
      }
      expect((await q.summary(org)).used).toBe(0)
    })
  })

  describe('billing routes', () => {
    const ROLES: Role[] = ['owner', 'admin', 'operator', 'member']
    let server: Server
    let url: string
    let org: string
    let other: string

    beforeAll(async () => {
      org = await newOrg()
      other = await newOrg()
      const api = createApi({
        authenticate: async (req: Request): Promise<Principal | null> => {
          const organizationId = req.header('x-test-org')
          const role = req.header('x-test-role') as Role | undefined
          if (!organizationId || !role || !ROLES.includes(role)) return null
          return { userId: `user-${role}`, organizationId, role }
        },
      })
      registerBillingRoutes({ api, quota: createQuotaService({ store: billing, plans, clock: { now: () => new Date('2026-03-15T10:00:00Z') } }), store })
      const app = createHttpApp({ logger: log, metrics: createMetrics({ queueDepth: async () => 0 }), maxBodyBytes: 100_000, readiness: async () => {}, routers: [api.router] })
      server = await listen(app, 0, '127.0.0.1')
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterAll(async () => {
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
    })

    const call = async (path: string, input: { org?: string; role?: Role; method?: string; body?: unknown } = {}) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (input.org) headers['x-test-org'] = input.org
      if (input.role) headers['x-test-role'] = input.role
      const res = await fetch(`${url}${path}`, { method: input.method ?? 'GET', headers, body: input.body === undefined ? undefined : JSON.stringify(input.body) })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } }
    }

    it('GET /api/v1/billing: any member sees the summary of their own organization', async () => {
      const q = createQuotaService({ store: billing, plans, clock: { now: () => new Date('2026-03-15T10:00:00Z') } })
      for (let i = 0; i < 4; i++) await q.reserve({ organizationId: org, messageId: `${org}-route-${i}` })
      const res = await call('/api/v1/billing', { org, role: 'member' })
      expect(res.status).toBe(200)
      expect(res.json).toMatchObject({ plan: { id: 'trial', responsesPerPeriod: 5 }, period: { start: '2026-03-01T00:00:00.000Z', end: '2026-04-01T00:00:00.000Z' }, used: 4, remaining: 1 })
      expect((res.json.history as unknown[]).at(-1)).toEqual({ day: '2026-03-15', responses: 4 })
      expect((await call('/api/v1/billing', { org: other, role: 'owner' })).json).toMatchObject({ used: 0 })
      expect((await call('/api/v1/billing')).status).toBe(401)
    })

    it('GET /api/v1/notifications: the 80% notice, only to its organization', async () => {
      const res = await call('/api/v1/notifications', { org, role: 'member' })
      expect(res.status).toBe(200)
      expect(res.json.notifications).toMatchObject([{ kind: 'quota_80', organizationId: org }])
      expect((await call('/api/v1/notifications', { org: other, role: 'member' })).json.notifications).toEqual([])
      expect((await call('/api/v1/notifications?limit=0', { org, role: 'member' })).status).toBe(422)
    })

    it('PATCH /api/v1/organization/settings: admins only, validated strictly', async () => {
      const patch = (role: Role, body: unknown) => call('/api/v1/organization/settings', { org, role, method: 'PATCH', body })
      expect((await patch('member', { handoffOnQuota: true })).status).toBe(403)
      expect((await patch('operator', { handoffOnQuota: true })).status).toBe(403)
      expect((await patch('admin', { quotaMessage: '' })).status).toBe(422)
      expect((await patch('admin', { quotaMessage: 'x'.repeat(501) })).status).toBe(422)
      expect((await patch('admin', { handoffOnQuota: 'yes' })).status).toBe(422)
      const unknown = await patch('admin', { somethingElse: 1 })
      expect(unknown.status).toBe(422)
      expect(unknown.json.error?.message).toMatch(/somethingElse/)

      const ok = await patch('admin', { quotaMessage: 'We are out of answers for this month, sorry!', handoffOnQuota: true })
      expect(ok).toEqual({ status: 200, json: { settings: { quotaMessage: 'We are out of answers for this month, sorry!', handoffOnQuota: true } } })
      expect((await patch('owner', { handoffOnQuota: false })).json).toEqual({ settings: { quotaMessage: 'We are out of answers for this month, sorry!', handoffOnQuota: false } })
      expect((await call('/api/v1/organization/settings', { org, role: 'member' })).json).toEqual({ settings: { quotaMessage: 'We are out of answers for this month, sorry!', handoffOnQuota: false } })
      expect((await call('/api/v1/organization/settings', { org: other, role: 'member' })).json).toEqual({ settings: {} })
    })
  })
})
