import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

/** The invitation link the log mailer wrote last to this address (no SMTP in tests). */
function invitationToken(t: TestApp, email: string): string {
  const body = t.logs.lines.map((l) => JSON.parse(l) as { mailTo?: string; body?: string }).filter((l) => l.mailTo === email && l.body?.includes('#/invitation?token=')).at(-1)?.body
  if (!body) throw new Error(`no invitation to ${email}`)
  return new URL(/https?:\/\/\S+/.exec(body)![0]).hash.split('token=')[1]!
}

async function invite(t: TestApp, org: TestOrg, input: { email: string; name: string; role: 'operator' | 'member' | 'admin' }): Promise<{ token: string; userId: string }> {
  expect((await api(t, '/api/v1/invitations', { token: org.token, body: { email: input.email, role: input.role } })).status).toBe(201)
  const accepted = await api(t, '/api/v1/auth/invitation/accept', { body: { token: invitationToken(t, input.email), name: input.name, password: 'a long enough password' } })
  expect(accepted.status).toBe(201)
  const me = await api(t, '/api/v1/me', { token: accepted.json.token })
  return { token: accepted.json.token, userId: me.json.userId }
}

const ask = async (t: TestApp, o: TestOrg, sessionId: string, text: string) => {
  const res = await api(t, `/api/v1/webchat/${o.webchatKey}/messages`, { body: { sessionId, text } })
  expect(res.status).toBe(200)
  return res.json as { conversationId: string; state: string }
}

type Row = {
  id: string
  state: string
  channel: string
  contactId: string
  contact: { id: string; name: string | null }
  agent: { id: string; name: string } | null
  lastMessage: { author: string; text: string } | null
  handoff: { status: string; reason: string } | null
  holder: { userId: string; name: string } | null
  waitingSince: string | null
}
const list = async (t: TestApp, token: string, query = '') => {
  const res = await api(t, `/api/v1/conversations${query}`, { token })
  expect(res.status).toBe(200)
  return res.json as { conversations: Row[]; nextCursor: string | null }
}

describe('conversations for operators: list, holder, profile, erasure', () => {
  let t: TestApp
  let a: TestOrg
  let b: TestOrg
  let olga: { token: string; userId: string }
  let oscar: { token: string; userId: string }
  let conversations: { bot: string; waiting: string; held: string }
  beforeAll(async () => {
    t = await startTestApp()
    a = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC] })
    b = await createOrg(t, { name: 'Bolt', docs: [TELEGRAM_DOC] })
    olga = await invite(t, a, { email: 'olga@acme.example', name: 'Olga', role: 'operator' })
    oscar = await invite(t, a, { email: 'oscar@acme.example', name: 'Oscar', role: 'operator' })
    const bot = (await ask(t, a, 'visitor-bot', 'How do I connect a Telegram bot?')).conversationId
    await ask(t, a, 'visitor-waiting', 'Hello')
    const waiting = (await ask(t, a, 'visitor-waiting', 'talk to a person please')).conversationId
    const held = (await ask(t, a, 'visitor-held', 'I want to talk to a person')).conversationId
    conversations = { bot, waiting, held }
    await ask(t, b, 'bolt-visitor', 'I want to talk to a person')
    // A contact with a name, as channels that know one (Telegram, Slack) store it.
    const row = await t.app.store.conversations.get(a.organizationId, held)
    await t.app.db.prisma.contact.updateMany({ where: { id: row!.contactId, organizationId: a.organizationId }, data: { name: 'Hanna Held' } })
    expect((await api(t, `/api/v1/conversations/${held}/take`, { method: 'POST', token: olga.token })).status).toBe(200)
  })
  afterAll(async () => t?.close())

  it('lists rows with contact, channel, agent, last message, state, handoff reason, holder and waiting time, in one organization only', async () => {
    const { conversations: rows, nextCursor } = await list(t, a.token)
    expect(nextCursor).toBeNull()
    expect(rows.map((r) => r.id).sort()).toEqual(Object.values(conversations).sort())
    const byId = new Map(rows.map((r) => [r.id, r]))
    const bot = byId.get(conversations.bot)!
    expect(bot).toMatchObject({ state: 'bot', channel: 'webchat', agent: { id: a.agentId, name: 'Acme assistant' }, handoff: null, holder: null, waitingSince: null })
    expect(bot.lastMessage).toMatchObject({ author: 'agent' })
    expect(bot.lastMessage!.text).toMatch(/BotFather/)
    const waiting = byId.get(conversations.waiting)!
    expect(waiting).toMatchObject({ state: 'handoff', handoff: { status: 'open', reason: 'customer_request' }, holder: null })
    expect(waiting.waitingSince).toEqual(expect.any(String))
    const held = byId.get(conversations.held)!
    expect(held).toMatchObject({ state: 'handoff', contact: { name: 'Hanna Held' }, handoff: { status: 'taken' }, holder: { userId: olga.userId, name: 'Olga' } })

    const bRows = (await list(t, b.token)).conversations
    expect(bRows).toHaveLength(1)
    expect(bRows.map((r) => r.id)).not.toContain(conversations.held)
    expect((await api(t, `/api/v1/conversations/${conversations.held}`, { token: b.token })).status).toBe(404)
    expect((await api(t, `/api/v1/conversations/${conversations.held}`, { token: a.token })).json.conversation.holder.name).toBe('Olga')
  })

  it('filters by state, channel, agent and "mine", and pages with a cursor', async () => {
    expect((await list(t, a.token, '?state=bot')).conversations.map((r) => r.id)).toEqual([conversations.bot])
    expect((await list(t, a.token, '?state=handoff')).conversations.map((r) => r.id).sort()).toEqual([conversations.waiting, conversations.held].sort())
    expect((await list(t, a.token, '?channel=telegram')).conversations).toHaveLength(0)
    expect((await list(t, a.token, '?channel=webchat')).conversations).toHaveLength(3)
    expect((await list(t, a.token, `?agentId=${a.agentId}`)).conversations).toHaveLength(3)
    expect((await list(t, a.token, `?agentId=${b.agentId}`)).conversations).toHaveLength(0)
    expect((await list(t, olga.token, '?mine=true')).conversations.map((r) => r.id)).toEqual([conversations.held])
    expect((await list(t, oscar.token, '?mine=true')).conversations).toHaveLength(0)
    expect((await api(t, '/api/v1/conversations?state=lost', { token: a.token })).status).toBe(422)
    expect((await api(t, '/api/v1/conversations?cursor=not-ours', { token: a.token })).status).toBe(422)

    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page = await list(t, a.token, `?limit=1${cursor ? `&cursor=${cursor}` : ''}`)
      seen.push(...page.conversations.map((r) => r.id))
      cursor = page.nextCursor
      pages++
    } while (cursor && pages < 10)
    expect(pages).toBe(3)
    expect(seen).toEqual((await list(t, a.token)).conversations.map((r) => r.id))
  })

  it('lets only the holder reply; a conversation nobody holds is taken by the operator who answers', async () => {
    const refused = await api(t, `/api/v1/conversations/${conversations.held}/reply`, { token: oscar.token, body: { text: 'Oscar here' } })
    expect(refused.status).toBe(409)
    expect(refused.json.error.code).toBe('held_by_other')
    // The owner is no exception: they take it over only after the holder hands it back.
    expect((await api(t, `/api/v1/conversations/${conversations.held}/reply`, { token: a.token, body: { text: 'Owner here' } })).status).toBe(409)
    const history = await api(t, `/api/v1/conversations/${conversations.held}/messages`, { token: a.token })
    expect(history.json.messages.map((m: { text: string }) => m.text)).not.toContain('Oscar here')
    expect((await api(t, `/api/v1/conversations/${conversations.held}/reply`, { token: olga.token, body: { text: 'Olga here, how can I help?' } })).status).toBe(201)

    const answered = await api(t, `/api/v1/conversations/${conversations.waiting}/reply`, { token: oscar.token, body: { text: 'Oscar here' } })
    expect(answered.status).toBe(201)
    const row = (await api(t, `/api/v1/conversations/${conversations.waiting}`, { token: a.token })).json.conversation as Row
    expect(row.holder).toEqual({ userId: oscar.userId, name: 'Oscar' })
    expect(row.waitingSince).toBeNull()
    expect((await api(t, `/api/v1/conversations/${conversations.waiting}/reply`, { token: olga.token, body: { text: 'Olga too' } })).status).toBe(409)
  })

  it("shows the contact's profile, and admins correct what the agent remembers", async () => {
    const row = (await api(t, `/api/v1/conversations/${conversations.held}`, { token: a.token })).json.conversation as Row
    await t.app.memory.remember({ organizationId: a.organizationId, contactId: row.contactId, key: 'city', value: 'Lisbon' })
    const lead = await t.app.crm.upsertLead({ organizationId: a.organizationId, contactId: row.contactId, conversationId: row.id, title: 'Annual plan', value: 1200 })
    expect((await api(t, `/api/v1/leads/${lead.id}/notes`, { token: olga.token, body: { text: 'Wants an invoice' } })).status).toBe(201)
    expect((await api(t, `/api/v1/leads/${lead.id}/tasks`, { token: olga.token, body: { text: 'Send the invoice', dueAt: '2030-01-01T10:00:00Z' } })).status).toBe(201)

    const profile = (await api(t, `/api/v1/contacts/${row.contactId}`, { token: olga.token })).json.profile
    expect(profile.contact).toMatchObject({ id: row.contactId, name: 'Hanna Held' })
    expect(profile.identities).toEqual([expect.objectContaining({ channel: 'webchat' })])
    expect(profile.facts).toEqual([expect.objectContaining({ key: 'city', value: 'Lisbon', source: 'agent' })])
    expect(profile.leads).toEqual([expect.objectContaining({ title: 'Annual plan', notes: [expect.objectContaining({ text: 'Wants an invoice' })], tasks: [expect.objectContaining({ text: 'Send the invoice', done: false })] })])

    expect((await api(t, `/api/v1/contacts/${row.contactId}/facts/city`, { method: 'PUT', token: olga.token, body: { value: 'Porto' } })).status).toBe(403)
    const set = await api(t, `/api/v1/contacts/${row.contactId}/facts/city`, { method: 'PUT', token: a.token, body: { value: 'Porto' } })
    expect(set.status).toBe(200)
    expect(set.json.fact).toMatchObject({ key: 'city', value: 'Porto', source: 'admin' })
    expect((await api(t, `/api/v1/contacts/${row.contactId}/facts/city`, { method: 'PUT', token: a.token, body: { value: '' } })).status).toBe(422)
    expect((await t.app.memory.list(a.organizationId, row.contactId)).map((f) => f.value)).toEqual(['Porto'])
    // Another organization sees no such contact, and cannot write to it.
    expect((await api(t, `/api/v1/contacts/${row.contactId}`, { token: b.token })).status).toBe(404)
    expect((await api(t, `/api/v1/contacts/${row.contactId}/facts/city`, { method: 'PUT', token: b.token, body: { value: 'Oslo' } })).status).toBe(404)
    expect((await api(t, `/api/v1/leads/${lead.id}/notes`, { token: b.token, body: { text: 'x' } })).status).toBe(404)
  })

  it('erases a contact (messages, facts, leads with notes and tasks, handoffs) and nothing of anyone else, with an audit entry', async () => {
    const target = (await api(t, `/api/v1/conversations/${conversations.held}`, { token: a.token })).json.conversation as Row
    const other = (await api(t, `/api/v1/conversations/${conversations.bot}`, { token: a.token })).json.conversation as Row
    const orgB = (await list(t, b.token)).conversations[0]!
    for (const [org, contactId] of [[a.organizationId, other.contactId], [b.organizationId, orgB.contactId]] as const) {
      await t.app.memory.remember({ organizationId: org, contactId, key: 'city', value: 'Berlin' })
      const lead = await t.app.crm.upsertLead({ organizationId: org, contactId, conversationId: null, title: 'Other lead' })
      await t.app.crm.addNote({ organizationId: org, leadId: lead.id, text: 'other note' })
      await t.app.crm.createTask({ organizationId: org, leadId: lead.id, text: 'other task' })
    }
    const prisma = t.app.db.prisma
    const counts = async (organizationId: string, contactId: string) => {
      const conversationIds = (await prisma.conversation.findMany({ where: { organizationId, contactId }, select: { id: true } })).map((c) => c.id)
      const leadIds = (await prisma.lead.findMany({ where: { organizationId, contactId }, select: { id: true } })).map((l) => l.id)
      return {
        contact: await prisma.contact.count({ where: { organizationId, id: contactId } }),
        conversations: conversationIds.length,
        messages: await prisma.message.count({ where: { organizationId, conversationId: { in: conversationIds } } }),
        handoffs: await prisma.handoff.count({ where: { organizationId, conversationId: { in: conversationIds } } }),
        facts: await prisma.contactFact.count({ where: { organizationId, contactId } }),
        leads: leadIds.length,
        notes: await prisma.leadNote.count({ where: { organizationId, leadId: { in: leadIds } } }),
        tasks: await prisma.leadTask.count({ where: { organizationId, leadId: { in: leadIds } } }),
        identities: await prisma.contactIdentity.count({ where: { organizationId, contactId } }),
      }
    }
    const before = await counts(a.organizationId, target.contactId)
    expect(before).toMatchObject({ contact: 1, conversations: 1, facts: 1, leads: 1, notes: 1, tasks: 1, identities: 1 })
    expect(before.messages).toBeGreaterThanOrEqual(3)
    const othersBefore = [await counts(a.organizationId, other.contactId), await counts(b.organizationId, orgB.contactId)]

    expect((await api(t, `/api/v1/contacts/${target.contactId}`, { method: 'DELETE', token: olga.token })).status).toBe(403)
    expect((await api(t, `/api/v1/contacts/${target.contactId}`, { method: 'DELETE', token: b.token })).status).toBe(404)
    const erased = await api(t, `/api/v1/contacts/${target.contactId}`, { method: 'DELETE', token: a.token })
    expect(erased.status).toBe(200)
    expect(erased.json.erased).toEqual({ conversations: 1, messages: before.messages, handoffs: before.handoffs, facts: 1, leads: 1, notes: 1, tasks: 1, identities: 1 })

    expect(await counts(a.organizationId, target.contactId)).toEqual({ contact: 0, conversations: 0, messages: 0, handoffs: 0, facts: 0, leads: 0, notes: 0, tasks: 0, identities: 0 })
    expect([await counts(a.organizationId, other.contactId), await counts(b.organizationId, orgB.contactId)]).toEqual(othersBefore)
    expect((await api(t, `/api/v1/contacts/${target.contactId}`, { token: a.token })).status).toBe(404)
    expect((await api(t, `/api/v1/contacts/${target.contactId}`, { method: 'DELETE', token: a.token })).status).toBe(404)
    expect((await list(t, a.token)).conversations.map((r) => r.id)).not.toContain(target.id)

    const audit = await prisma.auditEvent.findMany({ where: { organizationId: a.organizationId, action: 'contact.erased' } })
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({ target: target.contactId, data: erased.json.erased })
    expect(JSON.stringify(audit[0])).not.toMatch(/Hanna|Lisbon|Porto|invoice/)

    // The customer writes again: a new contact and conversation, nothing of the old one.
    const again = await ask(t, a, 'visitor-held', 'Hello again')
    expect(again.conversationId).not.toBe(target.id)
  })
})
