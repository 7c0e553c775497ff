import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BOT_SCOPES } from '../../adapters/slack/manifest.ts'
import { startFakeSlack, type FakeSlack, type OAuthGrant } from '../support/fake-slack.ts'
import { commandFields, dmEvent, slackFixture, slackSender } from '../support/slack.ts'
import { api, createOrg, startTestApp, waitFor, BILLING_DOC, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

const PUBLIC_URL = 'https://switchboard.example.com'
const REDIRECT_URI = `${PUBLIC_URL}/slack/oauth/callback`
const CLIENT_ID = '1000000001.2000000002'
const CLIENT_SECRET = 'c1i3n7s3cr37f0r7h3f4k3s14ckapp0'
const APP_SIGNING_SECRET = '5w17chb04rd519n1n953cr37f0r7357s'
const APP_ID = 'A0SWITCHBRD'
const STATE_COOKIE = 'switchboard-slack-oauth-state'
const ACME_TEAM = { teamId: 'T0ACME', teamName: 'Acme Support', appId: APP_ID, botUserId: 'U0ACMEBOT', botId: 'B0ACMEBOT', authedUserId: 'U0INSTALLER', scope: BOT_SCOPES.join(','), redirectUri: REDIRECT_URI }
const FIRST_TOKEN = 'xoxb-2000-3000-acmeoauthbottokenfirst'
const SECOND_TOKEN = 'xoxb-2000-3000-acmeoauthbottokensecond'

type Channel = { inboxId: string; kind: string; mode: string | null; webhookUrl: string | null; details: Record<string, unknown> }
type Kind = { kind: string; offers?: Record<string, unknown> }

const slackKind = async (t: TestApp, token: string): Promise<Kind | undefined> => (await api(t, '/api/v1/channels', { token })).json.kinds.find((k: Kind) => k.kind === 'slack')
const slackInboxes = async (t: TestApp, organizationId: string) => (await t.app.store.inboxes.listByOrganization(organizationId)).filter((i) => i.channel === 'slack')

describe('"Add to Slack": this installation’s app installed with OAuth v2, events to the one Request URL', () => {
  let slack: FakeSlack
  let t: TestApp
  let acme: TestOrg
  let beta: TestOrg
  let inboxId: string
  let secret = APP_SIGNING_SECRET

  const events = () => slackSender(t, { path: '/webhooks/slack', secret: () => secret })
  const grant = (botToken: string): OAuthGrant => ({ ...ACME_TEAM, botToken })
  const install = (org: TestOrg, agentId = org.agentId) => fetch(`${t.url}/api/v1/channels/slack/install?agentId=${encodeURIComponent(agentId)}`, { headers: { authorization: `Bearer ${org.token}` }, redirect: 'manual' })
  /** "Add to Slack" pressed: the state Slack will carry back and the cookie the browser keeps. */
  async function begin(org: TestOrg): Promise<{ state: string; cookie: string; location: URL; setCookie: string }> {
    const res = await install(org)
    expect(res.status).toBe(302)
    const location = new URL(res.headers.get('location')!)
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${STATE_COOKIE}=`))!
    expect(setCookie).toBeDefined()
    const state = location.searchParams.get('state')!
    return { state, cookie: `${STATE_COOKIE}=${state}`, location, setCookie }
  }
  /** Slack's redirect back to the callback, in the browser that started it (or not). */
  async function callback(query: Record<string, string>, cookie?: string): Promise<{ status: number; location: string; error: string | null; setCookie: string[] }> {
    const res = await fetch(`${t.url}/slack/oauth/callback?${new URLSearchParams(query)}`, { headers: cookie ? { cookie } : {}, redirect: 'manual' })
    const location = res.headers.get('location') ?? ''
    const error = /[?&]slackError=([^&]*)/.exec(location)?.[1]
    return { status: res.status, location, error: error === undefined ? null : decodeURIComponent(error), setCookie: res.headers.getSetCookie() }
  }
  const exchanged = (code: string) => slack.callsOf('oauth.v2.access').filter((c) => c.payload.code === code)

  beforeAll(async () => {
    slack = await startFakeSlack({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
    t = await startTestApp({ env: { SLACK_API_URL: slack.url, PUBLIC_URL, SLACK_CLIENT_ID: CLIENT_ID, SLACK_CLIENT_SECRET: CLIENT_SECRET, SLACK_SIGNING_SECRET: APP_SIGNING_SECRET } })
    acme = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC, BILLING_DOC] })
    beta = await createOrg(t, { name: 'Beta' })
  })
  afterAll(async () => {
    await t?.close()
    await slack?.close()
  })

  it('offers "Add to Slack" among the kinds', async () => {
    expect(await slackKind(t, acme.token)).toMatchObject({ kind: 'slack', offers: { addToSlack: true } })
  })

  it('sends an admin to Slack’s consent page with the bot scopes, the callback address and a state bound to a cookie', async () => {
    const { location, state, setCookie } = await begin(acme)
    expect(`${location.origin}${location.pathname}`).toBe('https://slack.com/oauth/v2/authorize')
    expect(location.searchParams.get('client_id')).toBe(CLIENT_ID)
    expect(location.searchParams.get('scope')!.split(',').sort()).toEqual([...BOT_SCOPES].sort())
    expect(location.searchParams.get('redirect_uri')).toBe(REDIRECT_URI)
    expect(state.length).toBeGreaterThan(20)
    expect(setCookie).toMatch(new RegExp(`^${STATE_COOKIE}=${state.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')};`))
    expect(setCookie).toMatch(/HttpOnly/)
    // The state is sealed: who started it is not readable from the URL.
    expect(location.toString()).not.toContain(acme.organizationId)
  })

  it('refuses members, unknown agents and another organization’s agent', async () => {
    const { hashPassword } = await import('../../core/security/passwords.ts')
    const user = await t.app.store.users.create({ email: 'member-slack@example.com', name: 'Member', passwordHash: await hashPassword('member password') })
    await t.app.store.users.addMembership({ organizationId: acme.organizationId, userId: user.id, role: 'member' })
    const login = await api(t, '/api/v1/auth/login', { body: { email: 'member-slack@example.com', password: 'member password' } })
    const member = { ...acme, token: login.json.token as string }
    const refused = await install(member)
    expect(refused.status).toBe(403)
    expect(refused.headers.get('location')).toBeNull()
    expect((await install(acme, 'no-such-agent')).status).toBe(404)
    expect((await install(acme, beta.agentId)).status).toBe(404)
    const anonymous = await fetch(`${t.url}/api/v1/channels/slack/install?agentId=${acme.agentId}`, { redirect: 'manual' })
    expect(anonymous.status).toBe(401)
  })

  it('the callback exchanges the code, connects the workspace to the agent, seals the bot token and audits it', async () => {
    const { state, cookie } = await begin(acme)
    slack.addOAuthCode('code-first', grant(FIRST_TOKEN))
    const back = await callback({ code: 'code-first', state }, cookie)
    expect(back).toMatchObject({ status: 302, location: '/admin/#/channels?connected=slack', error: null })
    // The state cookie is used up.
    expect(back.setCookie.some((c) => c.startsWith(`${STATE_COOKIE}=deleted;`))).toBe(true)

    expect(exchanged('code-first')).toHaveLength(1)
    expect(exchanged('code-first')[0]!.payload).toMatchObject({ code: 'code-first', redirect_uri: REDIRECT_URI, client_id: CLIENT_ID })
    const inboxes = await slackInboxes(t, acme.organizationId)
    expect(inboxes).toHaveLength(1)
    inboxId = inboxes[0]!.id
    expect(inboxes[0]!.agentId).toBe(acme.agentId)

    const list = await api(t, '/api/v1/channels', { token: acme.token })
    const row = list.json.channels.find((c: Channel) => c.inboxId === inboxId) as Channel
    expect(row).toMatchObject({ kind: 'slack', mode: 'webhook', webhookUrl: `${PUBLIC_URL}/webhooks/slack`, details: { teamId: 'T0ACME', teamName: 'Acme Support', appId: APP_ID, botUserId: 'U0ACMEBOT', install: 'oauth' } })
    expect(list.text).not.toContain(FIRST_TOKEN)
    const sealed = (await t.app.store.inboxes.credentials(inboxId))!
    expect(sealed).not.toContain(FIRST_TOKEN)
    expect(JSON.parse(t.app.secrets.open(sealed))).toEqual({ botToken: FIRST_TOKEN })
    expect(t.logs.text()).not.toContain(FIRST_TOKEN)
    expect(t.logs.text()).not.toContain(CLIENT_SECRET)

    const me = await api(t, '/api/v1/me', { token: acme.token })
    const audit = await t.app.db.prisma.auditEvent.findMany({ where: { organizationId: acme.organizationId, action: 'channel.slack_connected' } })
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({ target: inboxId, data: { agentId: acme.agentId, install: 'oauth', mode: 'webhook' } })
    expect(audit[0]!.actorUserId).toBe(me.json.userId)
  })

  it('refuses a callback without the state cookie, with another browser’s, a tampered or an expired state: nothing is exchanged or connected', async () => {
    const before = await slackInboxes(t, beta.organizationId)
    expect(before).toHaveLength(0)
    const { state, cookie } = await begin(beta)
    const other = await begin(beta)
    slack.addOAuthCode('code-refused', { ...grant('xoxb-2000-3000-neverexchangedtoken'), teamId: 'T0OTHER', teamName: 'Other' })

    const missing = await callback({ code: 'code-refused', state })
    const wrong = await callback({ code: 'code-refused', state }, other.cookie)
    const parts = state.split('.')
    parts[4] = (parts[4]!.startsWith('A') ? 'B' : 'A') + parts[4]!.slice(1)
    const tampered = parts.join('.')
    const forged = await callback({ code: 'code-refused', state: tampered }, `${STATE_COOKIE}=${tampered}`)
    // The same intent, sealed with the installation's key, but eleven minutes old.
    const { installOptions } = JSON.parse(t.app.secrets.open(state)) as { installOptions: unknown }
    const old = t.app.secrets.seal(JSON.stringify({ installOptions, at: Date.now() - 11 * 60_000 }))
    const expired = await callback({ code: 'code-refused', state: old }, `${STATE_COOKIE}=${old}`)
    // Sealed with the key but not a state this server made (no time): refused too.
    const timeless = t.app.secrets.seal(JSON.stringify({ installOptions }))
    const undated = await callback({ code: 'code-refused', state: timeless }, `${STATE_COOKIE}=${timeless}`)
    const noState = await callback({ code: 'code-refused' }, cookie)

    for (const back of [missing, wrong, forged, expired, undated, noState]) {
      expect(back.status).toBe(302)
      expect(back.location).toMatch(/^\/admin\/#\/channels\?slackError=/)
      expect(back.error).toBeTruthy()
    }
    expect(missing.error).toMatch(/browser session/)
    expect(wrong.error).toMatch(/browser session/)
    expect(forged.error).toMatch(/did not make/)
    expect(expired.error).toMatch(/10 minutes/)
    expect(undated.error).toMatch(/did not make/)
    expect(exchanged('code-refused')).toHaveLength(0)
    expect(await slackInboxes(t, beta.organizationId)).toHaveLength(0)
  })

  it('events of the installed workspace come to the one Request URL, signed with the app’s secret, and are answered with the installed bot token', async () => {
    const first = await events().event(dmEvent({ user: 'U0ADA', text: 'How do I connect Telegram?', team: 'T0ACME', app: APP_ID }))
    expect(first.status).toBe(200)
    await waitFor(async () => slack.postedTo('U0ADA').length >= 1)
    const reply = slack.postedTo('U0ADA')[0]!
    expect(reply.token).toBe(FIRST_TOKEN)
    expect(reply.payload.channel).toBe('U0ADA')
    expect(String(reply.payload.text).length).toBeGreaterThan(10)
    const conversations = await t.app.store.conversations.list(acme.organizationId, { limit: 50 })
    expect(conversations.some((c) => c.inboxId === inboxId && c.externalThreadId === 'U0ADA')).toBe(true)
  })

  it('answers Slack’s check of the app’s one Request URL (url_verification names no workspace) only when signed with the app’s secret', async () => {
    const challenge = slackFixture('url-verification.json')
    expect(await events().event(challenge)).toMatchObject({ status: 200, text: challenge.challenge })
    secret = 'f'.repeat(32)
    expect((await events().event(challenge)).status).toBe(401)
    secret = APP_SIGNING_SECRET
  })

  it('refuses events of an unknown workspace or app, a wrong signature, and GET', async () => {
    expect((await events().event(dmEvent({ user: 'U0EVE', text: 'hello', team: 'T0NOBODY', app: APP_ID }))).status).toBe(401)
    expect((await events().event(dmEvent({ user: 'U0EVE', text: 'hello', team: 'T0ACME', app: 'A0SOMEOTHER' }))).status).toBe(401)
    secret = 'f'.repeat(32)
    expect((await events().event(dmEvent({ user: 'U0EVE', text: 'hello', team: 'T0ACME', app: APP_ID }))).status).toBe(401)
    secret = APP_SIGNING_SECRET
    const get = await api(t, '/webhooks/slack')
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toBe('POST')
    await new Promise((r) => setTimeout(r, 200))
    expect(slack.postedTo('U0EVE')).toHaveLength(0)
  })

  it('installing the same workspace again updates the same inbox with the new token', async () => {
    const { state, cookie } = await begin(acme)
    slack.addOAuthCode('code-second', grant(SECOND_TOKEN))
    const back = await callback({ code: 'code-second', state }, cookie)
    expect(back.location).toBe('/admin/#/channels?connected=slack')
    const inboxes = await slackInboxes(t, acme.organizationId)
    expect(inboxes.map((i) => i.id)).toEqual([inboxId])
    expect(JSON.parse(t.app.secrets.open((await t.app.store.inboxes.credentials(inboxId))!))).toEqual({ botToken: SECOND_TOKEN })
    await events().event(dmEvent({ user: 'U0BEA', text: 'What does the billing plan include?', team: 'T0ACME', app: APP_ID }))
    await waitFor(async () => slack.postedTo('U0BEA').length >= 1)
    expect(slack.postedTo('U0BEA')[0]!.token).toBe(SECOND_TOKEN)
  })

  it('another organization installing the same workspace and app is refused; the first one’s inbox is intact', async () => {
    const sealedBefore = await t.app.store.inboxes.credentials(inboxId)
    const { state, cookie } = await begin(beta)
    slack.addOAuthCode('code-beta', grant('xoxb-2000-3000-betaoauthbottokenxx'))
    const back = await callback({ code: 'code-beta', state }, cookie)
    expect(back.status).toBe(302)
    expect(back.error).toMatch(/already connected to another organization/)
    expect(await slackInboxes(t, beta.organizationId)).toHaveLength(0)
    expect((await slackInboxes(t, acme.organizationId)).map((i) => i.id)).toEqual([inboxId])
    expect(await t.app.store.inboxes.credentials(inboxId)).toBe(sealedBefore)
    expect(t.logs.text()).not.toContain('xoxb-2000-3000-betaoauthbottokenxx')
  })

  it('disconnecting uninstalls the app from the workspace with the client credentials; events then find no inbox', async () => {
    const res = await api(t, `/api/v1/channels/${inboxId}`, { method: 'DELETE', token: acme.token })
    expect(res.status).toBe(200)
    expect(res.json.warning).toBeNull()
    const uninstall = slack.callsOf('apps.uninstall')
    expect(uninstall).toHaveLength(1)
    expect(uninstall[0]).toMatchObject({ token: SECOND_TOKEN, payload: { client_id: CLIENT_ID }, response: { ok: true } })
    expect(await slackInboxes(t, acme.organizationId)).toHaveLength(0)
    expect((await events().event(dmEvent({ user: 'U0ADA', text: 'still there?', team: 'T0ACME', app: APP_ID }))).status).toBe(401)
  })
})

describe('Slack over Socket Mode (SLACK_APP_TOKEN, no PUBLIC_URL)', () => {
  const WORKSPACE = { teamId: 'T0WORKSPACE', teamName: 'Acme Support', botToken: 'xoxb-1000-2000-acmesocketbottokenxx', botUserId: 'U0BOT', botId: 'B0BOT', appId: APP_ID }
  const APP_TOKEN = 'xapp-1-A0SWITCHBRD-123-abc'
  const SIGNING_SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
  let slack: FakeSlack
  let t: TestApp
  let org: TestOrg
  let closed = false
  let atStart: { connections: number; health: number }

  beforeAll(async () => {
    slack = await startFakeSlack()
    slack.addWorkspace(WORKSPACE)
    slack.addAppToken(APP_TOKEN, APP_ID)
    // Slack is down at first: the app still starts and serves, and the socket connects once Slack answers (the client retries after a second).
    slack.failNext('apps.connections.open', { status: 503 })
    t = await startTestApp({ env: { SLACK_API_URL: slack.url, SLACK_APP_TOKEN: APP_TOKEN } })
    atStart = { connections: slack.socketConnections(), health: (await api(t, '/healthz')).status }
    org = await createOrg(t, { name: 'Socket', docs: [BILLING_DOC] })
  })
  afterAll(async () => {
    if (!closed) await t?.close()
    await slack?.close()
  })

  it('starts without waiting for Slack, then connects over the socket with the app token; a bot token connects in socket mode, with no Request URL', async () => {
    expect(atStart).toEqual({ connections: 0, health: 200 })
    await waitFor(async () => slack.socketConnections() === 1, 10_000)
    expect(slack.callsOf('apps.connections.open').map((c) => [c.token, c.status])).toEqual([
      [APP_TOKEN, 503],
      [APP_TOKEN, 200],
    ])
    const res = await api(t, `/api/v1/agents/${org.agentId}/channels/slack`, { token: org.token, body: { botToken: WORKSPACE.botToken, signingSecret: SIGNING_SECRET } })
    expect(res.status).toBe(201)
    expect(res.json.inbox).toMatchObject({ kind: 'slack', mode: 'socket', webhookUrl: null, details: { teamId: 'T0WORKSPACE', appId: APP_ID, install: 'app' } })
    // "Add to Slack" is not configured here.
    expect((await slackKind(t, org.token))?.offers).toEqual({ addToSlack: false })
    expect((await fetch(`${t.url}/api/v1/channels/slack/install?agentId=${org.agentId}`, { headers: { authorization: `Bearer ${org.token}` }, redirect: 'manual' })).status).toBe(404)
    expect(slack.socketConnections()).toBe(1)
  })

  it('acknowledges an events_api envelope and answers the DM once, however often it is redelivered', async () => {
    const event = dmEvent({ user: 'U0ADA', text: 'What does the billing plan include?' })
    const ack = await slack.pushEnvelope({ type: 'events_api', payload: event, envelope_id: 'env-dm-1' })
    expect(ack.envelope_id).toBe('env-dm-1')
    await waitFor(async () => slack.postedTo('U0ADA').length >= 1)
    const again = await slack.pushEnvelope({ type: 'events_api', payload: event, envelope_id: 'env-dm-1', retry_attempt: 1, retry_reason: 'timeout' })
    expect(again.envelope_id).toBe('env-dm-1')
    await new Promise((r) => setTimeout(r, 400))
    const replies = slack.postedTo('U0ADA')
    expect(replies).toHaveLength(1)
    expect(replies[0]!.token).toBe(WORKSPACE.botToken)
    expect(String(replies[0]!.payload.text).length).toBeGreaterThan(10)
  })

  it('answers /switchboard sent over the socket (the fields as an object) through its response_url', async () => {
    const fields = commandFields({ user: 'U0GUS', channel: 'C0GENERAL', text: 'what does the billing plan include?', responseUrl: slack.responseUrl('sock-q1') })
    const ack = await slack.pushEnvelope({ type: 'slash_commands', payload: fields, envelope_id: 'env-cmd-1' })
    expect(ack.envelope_id).toBe('env-cmd-1')
    await waitFor(async () => slack.responsesTo('sock-q1').length >= 1)
    const body = slack.responsesTo('sock-q1')[0] as { response_type: string; text: string }
    expect(body.response_type).toBe('ephemeral')
    expect(body.text.length).toBeGreaterThan(10)
    expect(slack.postedTo('C0GENERAL')).toHaveLength(0)
  })

  it('acknowledges and drops an envelope for a workspace no inbox has', async () => {
    const before = (await t.app.store.conversations.list(org.organizationId, { limit: 200 })).length
    const ack = await slack.pushEnvelope({ type: 'events_api', payload: dmEvent({ user: 'U0EVE', text: 'hello', team: 'T0NOBODY' }), envelope_id: 'env-unknown' })
    expect(ack.envelope_id).toBe('env-unknown')
    await new Promise((r) => setTimeout(r, 300))
    expect(slack.postedTo('U0EVE')).toHaveLength(0)
    expect((await t.app.store.conversations.list(org.organizationId, { limit: 200 })).length).toBe(before)
    expect(t.logs.text()).toContain('acknowledged and dropped')
    expect(t.logs.text()).not.toContain(WORKSPACE.botToken)
    expect(t.logs.text()).not.toContain(APP_TOKEN)
  })

  it('closing the app disconnects the socket, and it does not come back', async () => {
    const opened = slack.callsOf('apps.connections.open').length
    closed = true
    await t.close()
    await waitFor(async () => slack.socketConnections() === 0, 5000)
    await new Promise((r) => setTimeout(r, 300))
    expect(slack.socketConnections()).toBe(0)
    expect(slack.callsOf('apps.connections.open')).toHaveLength(opened)
  })
})

describe('Slack with neither PUBLIC_URL nor SLACK_APP_TOKEN', () => {
  let slack: FakeSlack
  let t: TestApp
  let org: TestOrg

  beforeAll(async () => {
    slack = await startFakeSlack()
    t = await startTestApp({ env: { SLACK_API_URL: slack.url } })
    org = await createOrg(t, { name: 'Nowhere' })
  })
  afterAll(async () => {
    await t?.close()
    await slack?.close()
  })

  it('connecting a bot token answers 422 naming both ways, and "Add to Slack" is not offered', async () => {
    const res = await api(t, `/api/v1/agents/${org.agentId}/channels/slack`, { token: org.token, body: { botToken: 'xoxb-1000-2000-nowherebottokenxx', signingSecret: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' } })
    expect(res.status).toBe(422)
    expect(res.json.error.message).toContain('PUBLIC_URL')
    expect(res.json.error.message).toContain('SLACK_APP_TOKEN')
    expect(slack.callsOf('auth.test')).toHaveLength(0)
    expect(slack.socketConnections()).toBe(0)
    expect((await slackKind(t, org.token))?.offers).toEqual({ addToSlack: false })
    const notConfigured = await fetch(`${t.url}/api/v1/channels/slack/install?agentId=${org.agentId}`, { headers: { authorization: `Bearer ${org.token}` }, redirect: 'manual' })
    expect(notConfigured.status).toBe(404)
    expect((await fetch(`${t.url}/slack/oauth/callback?code=x&state=y`, { redirect: 'manual' })).status).toBe(404)
  })
})
