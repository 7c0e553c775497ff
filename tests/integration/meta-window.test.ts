import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, waitFor, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeMeta, type FakeMeta } from '../support/fake-meta.ts'
import { metaSender, metaText } from '../support/meta.ts'

const PAGE = { pageId: '104000000000001', name: 'Acme Support', token: 'EAAGwindowtestpagetoken0000000000000001' }
const APP_SECRET = 'aaaabbbbccccddddeeeeffff00001111'
const HOUR = 3600_000

/**
 * Messenger's windows as Switchboard keeps them before asking Meta: after 24 hours without a word
 * from the customer nothing the bot writes goes out; a person's reply goes out with the HUMAN_AGENT
 * tag up to 7 days when the installation has that permission, and is refused with the reason
 * otherwise. The customer's last message is moved back in time in the database.
 */
describe.each([
  { humanAgent: false, name: 'without the Human Agent permission' },
  { humanAgent: true, name: 'with the Human Agent permission (META_HUMAN_AGENT=true)' },
])('Messenger’s messaging windows, $name', ({ humanAgent }) => {
  let meta: FakeMeta
  let t: TestApp
  let org: TestOrg
  let inboxId: string
  const toMessenger = () => metaSender(t, { path: `/webhooks/messenger/${inboxId}`, appSecret: () => APP_SECRET })

  /** A customer who wrote, was answered, and then said nothing for `hours`. */
  async function customerSilentFor(customer: string, hours: number) {
    await toMessenger()(metaText({ object: 'page', accountId: PAGE.pageId, customer, text: 'Hello, do you deliver?' }))
    await waitFor(async () => meta.deliveredTo(customer).length >= 1)
    const conversation = (await t.app.store.conversations.findByThread(inboxId, customer))!
    await t.app.db.prisma.message.updateMany({ where: { conversationId: conversation.id }, data: { createdAt: new Date(Date.now() - hours * HOUR) } })
    return conversation
  }

  beforeAll(async () => {
    meta = await startFakeMeta()
    meta.addPage(PAGE)
    t = await startTestApp({ env: { META_GRAPH_URL: meta.url, PUBLIC_URL: 'https://switchboard.example.com', META_HUMAN_AGENT: String(humanAgent) } })
    org = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC] })
    const res = await api(t, `/api/v1/agents/${org.agentId}/channels/messenger`, { token: org.token, body: { pageId: PAGE.pageId, pageAccessToken: PAGE.token, appSecret: APP_SECRET } })
    inboxId = res.json.inbox.inboxId
  })
  afterAll(async () => {
    await t?.close()
    await meta?.close()
  })

  it('inside 24 hours a person’s reply goes out as a RESPONSE', async () => {
    const conversation = await customerSilentFor('7000000000000061', 23)
    const res = await api(t, `/api/v1/conversations/${conversation.id}/reply`, { token: org.token, body: { text: 'Yes, every day but Sunday.' } })
    expect(res.status).toBe(201)
    expect(meta.deliveredTo('7000000000000061').at(-1)!.body).toMatchObject({ messaging_type: 'RESPONSE', message: { text: 'Yes, every day but Sunday.' } })
  })

  it('after 24 hours a person’s reply goes out with HUMAN_AGENT only with the permission; otherwise it is refused with the reason and kept as not sent', async () => {
    const customer = '7000000000000062'
    const conversation = await customerSilentFor(customer, 30)
    const before = meta.sendsTo(customer).length
    const res = await api(t, `/api/v1/conversations/${conversation.id}/reply`, { token: org.token, body: { text: 'Sorry for the wait: yes, we do.' } })
    const last = (await t.app.store.messages.history(org.organizationId, conversation.id, { limit: 10 })).at(-1)!
    if (humanAgent) {
      expect(res.status).toBe(201)
      expect(meta.deliveredTo(customer).at(-1)!.body).toMatchObject({ messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT', message: { text: 'Sorry for the wait: yes, we do.' } })
      expect(last).toMatchObject({ author: 'operator', status: 'sent' })
    } else {
      expect(res.status).toBe(422)
      expect(res.json.error.message).toMatch(/24 hours/)
      expect(res.json.error.message).toMatch(/META_HUMAN_AGENT/)
      expect(meta.sendsTo(customer).length).toBe(before)
      expect(last).toMatchObject({ author: 'operator', status: 'failed' })
    }
  })

  it('after 7 days nobody’s reply goes out', async () => {
    const conversation = await customerSilentFor('7000000000000063', 8 * 24)
    const before = meta.sendsTo('7000000000000063').length
    const res = await api(t, `/api/v1/conversations/${conversation.id}/reply`, { token: org.token, body: { text: 'Are you still there?' } })
    expect(res.status).toBe(422)
    expect(meta.sendsTo('7000000000000063').length).toBe(before)
  })
})
