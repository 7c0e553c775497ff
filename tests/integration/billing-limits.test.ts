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
