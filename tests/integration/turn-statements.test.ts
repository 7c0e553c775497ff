import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { api, BILLING_DOC, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'
import { statementCounter, type StatementCount } from '../support/statement-counter.ts'

/**
 * What one web chat turn costs the database, counted at the wire protocol (every statement sent,
 * BEGIN and COMMIT included): deterministic, unlike its time, so a change that adds queries to
 * the turn fails here. The wall clock is held still while counting, so what is kept in memory for
 * two seconds (a web chat key's inbox, the CRM connection's state) is warm however slow the
 * machine is.
 */
const PLAIN_TURN_CEILING = 7
// A conversation's first turn also remembers the language the customer writes in (its contact and
// conversation are made by the statement that stores the message).
const FIRST_TURN_CEILING = 8

describe('database statements of one web chat turn (PGlite)', () => {
  let t: TestApp
  let org: TestOrg
  const counter = statementCounter()
  const send = (body: Record<string, unknown>) => api(t, `/api/v1/webchat/${org.webchatKey}/messages`, { body })
  const listed = (c: StatementCount) => c.texts.map((s, i) => `${i + 1}. ${s.replace(/\s+/g, ' ').trim().slice(0, 140)}`).join('\n')

  beforeAll(async () => {
    t = await startTestApp({ env: { LOG_LEVEL: 'error' } })
    org = await createOrg(t, { name: 'Counted', docs: [TELEGRAM_DOC, BILLING_DOC] })
  })
  afterAll(async () => {
    vi.useRealTimers()
    await t?.close()
  })

  it(`a plain answered turn in an existing conversation sends at most ${PLAIN_TURN_CEILING} statements; the first turn of a conversation at most ${FIRST_TURN_CEILING}`, async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      // The conversation's first turn, which also fills what is kept in memory (at the held time).
      const first = await send({ sessionId: 'counted-session-1', text: 'How do I connect a Telegram bot?', messageId: 'counted-1' })
      expect(first.status).toBe(200)
      counter.start()
      const res = await send({ sessionId: 'counted-session-1', text: 'How many responses does the Basic plan include?', messageId: 'counted-2' })
      const plain = counter.stop()
      expect(res.status).toBe(200)
      expect(res.json.messages[0].text).toContain('5,000 responses')
      expect(plain.statements, listed(plain)).toBeLessThanOrEqual(PLAIN_TURN_CEILING)
      // Sanity of the count itself: the reply was stored, so at least one INSERT was seen.
      expect(plain.texts.some((s) => /INSERT INTO "Message"/.test(s))).toBe(true)

      counter.start()
      const other = await send({ sessionId: 'counted-session-2', text: 'How many responses does the Basic plan include?', messageId: 'counted-3' })
      const firstOfConversation = counter.stop()
      expect(other.json.messages[0].text).toContain('5,000 responses')
      expect(firstOfConversation.statements, listed(firstOfConversation)).toBeLessThanOrEqual(FIRST_TURN_CEILING)
    } finally {
      counter.stop()
      vi.useRealTimers()
    }
  })

  it('a web chat key kept in memory is forgotten when its inbox is deleted: the next message is refused at once', async () => {
    // Warm the key's inbox in memory, then delete the inbox: the next message is refused at once.
    const { agent, webchat } = await t.app.agents.createFor(org.organizationId, { name: 'Short-lived' })
    const key = webchat.publicKey!
    const warm = await api(t, `/api/v1/webchat/${key}/messages`, { body: { sessionId: 'short-lived-1', text: 'How do I connect a Telegram bot?' } })
    expect(warm.status).toBe(200)
    expect(await t.app.store.inboxes.delete(org.organizationId, webchat.id)).toBe(true)
    const gone = await api(t, `/api/v1/webchat/${key}/messages`, { body: { sessionId: 'short-lived-1', text: 'Still there?' } })
    expect(gone.status).toBe(404)
    expect(await t.app.store.agents.get(org.organizationId, agent.id)).not.toBeNull()
  })
})
