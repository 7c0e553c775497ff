import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

/** The link the log mailer wrote last to this address (no SMTP in tests). */
function linkFor(t: TestApp, email: string, kind: 'reset' | 'invitation'): string {
  const lines = t.logs.lines.map((l) => JSON.parse(l) as { mailTo?: string; body?: string }).filter((l) => l.mailTo === email && l.body?.includes(`#/${kind}?token=`))
  const body = lines.at(-1)?.body
  if (!body) throw new Error(`no ${kind} mail to ${email}`)
  return new URL(/https?:\/\/\S+/.exec(body)![0]).hash.split('token=')[1]!
}

const cookieOf = (setCookie: string | null) => /sb_session=([^;]+)/.exec(setCookie ?? '')![1]!

describe('admin API for the admin web', () => {
  let t: TestApp
  let a: TestOrg
  let b: TestOrg
  let conversationId: string
  beforeAll(async () => {
    t = await startTestApp()
    a = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC] })
    b = await createOrg(t, { name: 'Bolt' })
    conversationId = (await api(t, `/api/v1/webchat/${a.webchatKey}/messages`, { body: { sessionId: 'customer-0001', text: 'How do I connect a Telegram bot?' } })).json.conversationId
  })
  afterAll(async () => t?.close())

  it('sets an HTTP-only SameSite session cookie on sign-up and sign-in, and signs out', async () => {
    const signup = await api(t, '/api/v1/auth/signup', { body: { organizationName: 'Cookie Co', name: 'Cleo', email: 'cleo@example.com', password: 'a long enough password' }, headers: { 'x-forwarded-for': '10.0.0.1' } })
    expect(signup.status).toBe(201)
    const setCookie = signup.headers.get('set-cookie')!
    expect(setCookie).toMatch(/sb_session=[\w-]{40,}/)
    expect(setCookie).toMatch(/HttpOnly/i)
    expect(setCookie).toMatch(/SameSite=Strict/i)
    // Only the API gets the cookie: the public chat pages at /chat/ never carry an admin session.
    expect(setCookie).toMatch(/Path=\/api(;|$)/)
    expect(signup.json.csrfToken).toMatch(/^[0-9a-f]{43}$/)

    const cookie = `sb_session=${cookieOf(setCookie)}`
    const me = await api(t, '/api/v1/me', { headers: { cookie } })
    expect(me.json).toMatchObject({ email: 'cleo@example.com', name: 'Cleo', role: 'owner', organization: { name: 'Cookie Co' }, csrfToken: signup.json.csrfToken })
    const out = await api(t, '/api/v1/auth/logout', { method: 'POST', headers: { cookie, 'x-csrf-token': signup.json.csrfToken } })
    expect(out.status).toBe(204)
    expect(out.headers.get('set-cookie')).toMatch(/sb_session=;/)
    expect((await api(t, '/api/v1/me', { headers: { cookie } })).status).toBe(401)
  })

  it('refuses state-changing cookie requests without the CSRF token; bearer clients need none', async () => {
    const login = await api(t, '/api/v1/auth/login', { body: { email: a.email, password: a.password }, headers: { 'x-forwarded-for': '10.0.0.2' } })
    const cookie = `sb_session=${cookieOf(login.headers.get('set-cookie'))}`
    const body = { name: 'Via cookie' }
    const path = `/api/v1/agents/${a.agentId}`
    const missing = await api(t, path, { method: 'PATCH', body, headers: { cookie } })
    expect(missing.status).toBe(403)
    expect(missing.json.error.code).toBe('csrf_failed')
    const wrong = await api(t, path, { method: 'PATCH', body, headers: { cookie, 'x-csrf-token': 'f'.repeat(43) } })
    expect(wrong.status).toBe(403)
    // Another session's token does not fit this one.
    expect((await api(t, path, { method: 'PATCH', body, headers: { cookie, 'x-csrf-token': (await api(t, '/api/v1/auth/login', { body: { email: a.email, password: a.password }, headers: { 'x-forwarded-for': '10.0.0.2' } })).json.csrfToken } })).status).toBe(403)
    expect((await api(t, '/api/v1/agents', { headers: { cookie } })).status).toBe(200)
    const ok = await api(t, path, { method: 'PATCH', body, headers: { cookie, 'x-csrf-token': login.json.csrfToken } })
    expect(ok.status).toBe(200)
    expect(ok.json.agent.name).toBe('Via cookie')
    const bearer = await api(t, path, { method: 'PATCH', body: { name: 'Acme assistant' }, token: a.token })
    expect(bearer.status).toBe(200)
  })

  it('refuses the 6th sign-in in a minute after 5 failures, per account and per IP, even with the right password', async () => {
    const ip = { 'x-forwarded-for': '10.0.1.1' }
    for (let i = 0; i < 5; i++) expect((await api(t, '/api/v1/auth/login', { body: { email: a.email, password: `wrong-${i}` }, headers: { 'x-forwarded-for': `10.0.2.${i}` } })).status).toBe(401)
    const locked = await api(t, '/api/v1/auth/login', { body: { email: a.email, password: a.password }, headers: ip })
    expect(locked.status).toBe(429)
    expect(locked.json.error.code).toBe('too_many_attempts')
    // The same IP address trying five other accounts is refused too.
    const ipOnly = { 'x-forwarded-for': '10.0.3.1' }
    for (let i = 0; i < 5; i++) expect((await api(t, '/api/v1/auth/login', { body: { email: `nobody${i}@example.com`, password: 'wrong' }, headers: ipOnly })).status).toBe(401)
    expect((await api(t, '/api/v1/auth/login', { body: { email: b.email, password: b.password }, headers: ipOnly })).status).toBe(429)
    expect((await api(t, '/api/v1/auth/login', { body: { email: b.email, password: b.password }, headers: { 'x-forwarded-for': '10.0.3.2' } })).status).toBe(200)
  })

  it('resets a password with a one-time link from the log, ends old sessions, and refuses the link a second time', async () => {
    const user = await api(t, '/api/v1/auth/signup', { body: { organizationName: 'Reset Co', name: 'Rex', email: 'rex@example.com', password: 'the old password' }, headers: { 'x-forwarded-for': '10.0.4.1' } })
    expect((await api(t, '/api/v1/auth/password-reset', { body: { email: 'REX@example.com' }, headers: { 'x-forwarded-for': '10.0.4.1' } })).status).toBe(202)
    expect((await api(t, '/api/v1/auth/password-reset', { body: { email: 'unknown@example.com' }, headers: { 'x-forwarded-for': '10.0.4.1' } })).status).toBe(202)
    const token = linkFor(t, 'rex@example.com', 'reset')
    expect(t.logs.text()).not.toContain('the old password')
    const done = await api(t, '/api/v1/auth/password-reset/confirm', { body: { token, password: 'the new password' } })
    expect(done.status).toBe(204)
    expect((await api(t, '/api/v1/me', { token: user.json.token })).status).toBe(401)
    expect((await api(t, '/api/v1/auth/login', { body: { email: 'rex@example.com', password: 'the new password' }, headers: { 'x-forwarded-for': '10.0.4.2' } })).status).toBe(200)
    const again = await api(t, '/api/v1/auth/password-reset/confirm', { body: { token, password: 'another password' } })
    expect(again.status).toBe(400)
    expect(again.json.error.code).toBe('invalid_token')
    expect(t.logs.text()).not.toContain('the new password')
  })

  it('invites members with roles; each role can do only its part; admins cannot make owners', async () => {
    expect((await api(t, '/api/v1/invitations', { token: a.token, body: { email: 'olga@example.com', role: 'operator' } })).status).toBe(201)
    expect((await api(t, '/api/v1/invitations', { token: a.token, body: { email: 'max@example.com', role: 'member' } })).status).toBe(201)
    expect((await api(t, '/api/v1/invitations', { token: a.token })).json.invitations.map((i: { email: string }) => i.email).sort()).toEqual(['max@example.com', 'olga@example.com'])
    const olgaToken = linkFor(t, 'olga@example.com', 'invitation')
    expect((await api(t, '/api/v1/auth/invitation', { body: { token: olgaToken } })).json).toEqual({ email: 'olga@example.com', role: 'operator', organizationName: 'Acme' })
    const olga = await api(t, '/api/v1/auth/invitation/accept', { body: { token: olgaToken, name: 'Olga', password: 'operator password' } })
    expect(olga.status).toBe(201)
    expect(olga.json.role).toBe('operator')
    expect((await api(t, '/api/v1/auth/invitation/accept', { body: { token: olgaToken, name: 'Olga 2', password: 'operator password' } })).status).toBe(400)
    const max = await api(t, '/api/v1/auth/invitation/accept', { body: { token: linkFor(t, 'max@example.com', 'invitation'), name: 'Max', password: 'member password' } })

    // A member reads but changes nothing; an operator handles conversations but not agents or people.
    expect((await api(t, '/api/v1/conversations', { token: max.json.token })).status).toBe(200)
    expect((await api(t, `/api/v1/conversations/${conversationId}/take`, { token: max.json.token, method: 'POST' })).status).toBe(403)
    expect((await api(t, '/api/v1/agents', { token: olga.json.token, body: { name: 'x' } })).status).toBe(403)
    expect((await api(t, '/api/v1/invitations', { token: olga.json.token, body: { email: 'z@example.com', role: 'member' } })).status).toBe(403)
    expect((await api(t, '/api/v1/reports/conversations.csv', { token: olga.json.token })).status).toBe(403)

    const take = await api(t, `/api/v1/conversations/${conversationId}/take`, { token: olga.json.token, method: 'POST' })
    expect(take.status).toBe(200)
    expect(take.json.handoff).toMatchObject({ status: 'taken', operatorUserId: expect.any(String) })
    expect((await api(t, '/api/v1/handoffs?status=taken', { token: a.token })).json.handoffs).toHaveLength(1)
    const second = await api(t, `/api/v1/conversations/${conversationId}/take`, { token: a.token, method: 'POST' })
    expect(second.status).toBe(409)
    expect(second.json.error.code).toBe('already_taken')
    expect((await api(t, `/api/v1/conversations/${conversationId}/take`, { token: olga.json.token, method: 'POST' })).status).toBe(200)
    expect((await api(t, `/api/v1/conversations/${conversationId}/reply`, { token: olga.json.token, body: { text: 'Hello, this is Olga.' } })).status).toBe(201)
    expect((await api(t, `/api/v1/conversations/${conversationId}/release`, { token: olga.json.token, method: 'POST' })).json.state).toBe('bot')

    const members = (await api(t, '/api/v1/members', { token: a.token })).json.members as { userId: string; role: string; email: string }[]
    expect(members.map((m) => m.role)).toEqual(['owner', 'operator', 'member'])
    const maxId = members.find((m) => m.email === 'max@example.com')!.userId
    const olgaId = members.find((m) => m.email === 'olga@example.com')!.userId
    expect((await api(t, `/api/v1/members/${maxId}`, { token: a.token, method: 'PATCH', body: { role: 'admin' } })).status).toBe(200)
    const maxAdmin = (await api(t, '/api/v1/auth/login', { body: { email: 'max@example.com', password: 'member password' }, headers: { 'x-forwarded-for': '10.0.5.1' } })).json.token
    expect((await api(t, `/api/v1/members/${olgaId}`, { token: maxAdmin, method: 'PATCH', body: { role: 'owner' } })).status).toBe(403)
    expect((await api(t, `/api/v1/members/${members[0]!.userId}`, { token: maxAdmin, method: 'DELETE' })).status).toBe(403)
    expect((await api(t, `/api/v1/members/${maxId}`, { token: maxAdmin, method: 'PATCH', body: { role: 'owner' } })).status).toBe(409)
    expect((await api(t, `/api/v1/members/${olgaId}`, { token: maxAdmin, method: 'DELETE' })).status).toBe(204)
    expect((await api(t, '/api/v1/me', { token: olga.json.token })).status).toBe(401)
  })

  it("keeps organizations apart: members, invitations, take and reports", async () => {
    expect((await api(t, '/api/v1/members', { token: b.token })).json.members.map((m: { email: string }) => m.email)).toEqual([b.email])
    expect((await api(t, '/api/v1/invitations', { token: b.token })).json.invitations).toEqual([])
    expect((await api(t, `/api/v1/conversations/${conversationId}/take`, { token: b.token, method: 'POST' })).status).toBe(404)
    const aOwner = (await api(t, '/api/v1/members', { token: a.token })).json.members[0].userId
    expect((await api(t, `/api/v1/members/${aOwner}`, { token: b.token, method: 'PATCH', body: { role: 'member' } })).status).toBe(404)
    expect((await api(t, `/api/v1/members/${aOwner}`, { token: b.token, method: 'DELETE' })).status).toBe(404)
    const dashboard = await api(t, '/api/v1/reports/dashboard', { token: b.token })
    expect(dashboard.json.totals).toEqual({ responses: 0, conversations: 0, handoffs: 0, handoffRate: 0 })
    expect((await api(t, '/api/v1/reports/conversations.csv', { token: b.token })).text).not.toContain(conversationId)
  })

  it('reports responses by channel and agent, the handoff rate, and exports CSV', async () => {
    const dashboard = await api(t, '/api/v1/reports/dashboard?bucket=day', { token: a.token })
    expect(dashboard.status).toBe(200)
    expect(dashboard.json.responses).toEqual([{ period: new Date().toISOString().slice(0, 10), channel: 'webchat', agentId: a.agentId, responses: 1 }])
    expect(dashboard.json.totals).toMatchObject({ responses: 1, conversations: 1, handoffs: 1, handoffRate: 1 })
    expect((await api(t, '/api/v1/reports/dashboard?bucket=month', { token: a.token })).json.responses[0].period).toMatch(/^\d{4}-\d{2}-01$/)
    const csv = await api(t, '/api/v1/reports/conversations.csv', { token: a.token })
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/)
    expect(csv.headers.get('content-disposition')).toMatch(/attachment; filename="?conversations.csv/)
    const [header, row] = csv.text.trim().split('\r\n')
    expect(header).toBe('id,channel,agent,state,contact,messages,started_at,last_message_at')
    expect(row).toContain(`${conversationId},webchat,Acme assistant,bot,`)
    const usage = await api(t, '/api/v1/reports/usage.csv', { token: a.token })
    expect(usage.text).toContain(',responses,webchat,Acme assistant,1,')
  })
})

describe('admin web pages without a build', () => {
  it('answers 503 with how to build them, and / still leads to /admin/', async () => {
    const express = (await import('express')).default
    const { createAdminWebRouter } = await import('../../admin-web/static.ts')
    const app = express().use(createAdminWebRouter('/nonexistent-admin-web-dist'))
    const server = app.listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    try {
      const index = await fetch(`${base}/admin/`)
      expect(index.status).toBe(503)
      expect(await index.text()).toContain('npm run build:web')
      const root = await fetch(`${base}/`, { redirect: 'manual' })
      expect(root.headers.get('location')).toBe('/admin/')
      expect((await fetch(`${base}/admin`, { redirect: 'manual' })).headers.get('location')).toBe('/admin/')
    } finally {
      await new Promise((r) => server.close(r))
    }
  })
})
