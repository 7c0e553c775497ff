import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_QUOTA_MESSAGE } from '../../core/billing/quota.ts'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

/** The plan's limits in the running app: responses per period through the turn pipeline, and caps. */
describe('plan limits end to end', () => {
  let t: TestApp
  let org: TestOrg
  beforeAll(async () => {
    t = await startTestApp({ env: { PLANS_JSON: JSON.stringify({ trial: { responsesPerPeriod: 3 } }) } })
    org = await createOrg(t, { name: 'Small', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => t?.close())

  const ask = (sessionId: string, text = 'How do I connect a Telegram bot?') => api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body: { sessionId, text } })

  it('answers up to the limit, then gives the polite message instead, and says so in the billing summary', async () => {
    for (let i = 0; i < 3; i++) expect((await ask(`limit-session-${i}`)).json.messages[0].text).toContain('BotFather')
    // an admin's test chat does not use the plan
    expect((await api(t, `/api/v1/agents/${org.agentId}/test-chat`, { token: org.token, body: { text: 'How do I connect a Telegram bot?' } })).json.messages[0].text).toContain('BotFather')
    const refused = await ask('limit-session-4')
    expect(refused.status).toBe(200)
    expect(refused.json.messages[0].text).toBe(DEFAULT_QUOTA_MESSAGE)
    const billing = await api(t, '/api/v1/billing', { token: org.token })
    expect(billing.json).toMatchObject({ plan: { id: 'trial' }, used: 3, remaining: 0, limit: 3 })
    const notices = await api(t, '/api/v1/notifications', { token: org.token })
    expect(notices.json.notifications.map((n: { kind: string }) => n.kind).sort()).toEqual(['quota_100', 'quota_80'])
  })

  it('uses the organization’s own message and hands the customer to a person when configured', async () => {
    const patch = await api(t, '/api/v1/organization/settings', { token: org.token, method: 'PATCH', body: { quotaMessage: 'We are out of answers this month; a colleague will help you.', handoffOnQuota: true } })
    expect(patch.status).toBe(200)
    const res = await ask('limit-session-5')
    expect(res.json.messages[0].text).toBe('We are out of answers this month; a colleague will help you.')
    expect(res.json.state).toBe('handoff')
  })

  it('refuses a second agent on the Trial plan with a clear error, and creates nothing', async () => {
    const res = await api(t, '/api/v1/agents', { token: org.token, body: { name: 'Second' } })
    expect(res.status).toBe(402)
    expect(res.json.error.code).toBe('plan_limit')
    expect(res.json.error.message).toMatch(/Trial/)
    expect((await api(t, '/api/v1/agents', { token: org.token })).json.agents).toHaveLength(1)
  })
})

describe('a Stripe subscription raises the limits of the running app', () => {
  let t: TestApp
  let org: TestOrg
  const SECRET = 'whsec_switchboard_app_test'
  beforeAll(async () => {
    t = await startTestApp({ env: { STRIPE_SECRET_KEY: 'sk_test_app_0000', STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_PRICES: '{"basic:month":"price_1SbBasicMonthly","pro:month":"price_1SbProMonthly"}' } })
    org = await createOrg(t, { name: 'Paying' })
  })
  afterAll(async () => t?.close())

  it('verifies the webhook signature, applies the subscription once, and the billing summary shows the paid plan', async () => {
    const { default: Stripe } = await import('stripe')
    const { readFileSync } = await import('node:fs')
    const raw = readFileSync(new URL('../fixtures/stripe/customer.subscription.created.json', import.meta.url), 'utf8').replaceAll('org-fixture', org.organizationId)
    const post = (header: string) => fetch(`${t.url}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': header }, body: raw })

    const forged = await post(Stripe.webhooks.generateTestHeaderString({ payload: raw, secret: 'whsec_someone_else' }))
    expect(forged.status).toBe(401)
    expect((await api(t, '/api/v1/billing', { token: org.token })).json.plan.id).toBe('trial')

    const header = Stripe.webhooks.generateTestHeaderString({ payload: raw, secret: SECRET })
    expect(((await (await post(header)).json()) as { result: string }).result).toBe('applied')
    expect(((await (await post(header)).json()) as { result: string }).result).toBe('duplicate')
    const billing = await api(t, '/api/v1/billing', { token: org.token })
    expect(billing.json.plan).toMatchObject({ id: 'basic', responsesPerPeriod: 5000 })
    expect(billing.json.limit).toBe(5000)
    // the subscription's period started in January; billing periods have rolled over on their dates since
    expect(new Date(billing.json.period.end).getTime()).toBeGreaterThan(Date.now())
  })
})
