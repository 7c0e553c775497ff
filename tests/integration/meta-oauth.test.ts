import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { INSTAGRAM_SCOPES, MESSENGER_SCOPES } from '../../adapters/meta/oauth.ts'
import { metaCredentials, settingsOf } from '../../adapters/meta/settings.ts'
import { startFakeMeta, type FakeMeta } from '../support/fake-meta.ts'
import { metaSignature, metaText, type Json } from '../support/meta.ts'
import { api, createOrg, startTestApp, waitFor, BILLING_DOC, TELEGRAM_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

const PUBLIC_URL = 'https://switchboard.example.com'
const APP_ID = '1200000000000001'
const APP_SECRET = 'c0ffee00ddba11c0ffee00ddba11ab12'
const IG_APP_ID = '9900000000000001'
const IG_APP_SECRET = '1ab2c3d4e5f60718293a4b5c6d7e8f90'
const VERIFY_TOKEN = 'switchboard-app-verify-token-1'
const COOKIE = 'switchboard-meta-oauth-state'
const REDIRECT = { messenger: `${PUBLIC_URL}/meta/oauth/callback/messenger`, instagram: `${PUBLIC_URL}/meta/oauth/callback/instagram` }

const USER_TOKEN = 'EAAGoauthusertoken00000000000000000000001'
const BETA_USER_TOKEN = 'EAAGoauthusertoken00000000000000000000002'
const PAGE_ONE = { pageId: '104000000000101', name: 'Acme Support', token: 'EAAGoauthpagetoken000000000000000000000101' }
const PAGE_TWO = { pageId: '104000000000102', name: 'Acme Sales', token: 'EAAGoauthpagetoken000000000000000000000102' }
const PAGE_VIEW_ONLY = { pageId: '104000000000103', name: 'Acme Blog', token: 'EAAGoauthpagetoken000000000000000000000103', tasks: ['ANALYZE', 'CREATE_CONTENT'] }
const PAGE_BETA = { pageId: '104000000000201', name: 'Beta Shop', token: 'EAAGoauthpagetoken000000000000000000000201' }
const IG_WRAPPED = { accountId: '17841400000000011', username: 'acme.shop', shortToken: 'IGAAoauthshorttoken0000000000000000000011', longToken: 'IGAAoauthlongtoken00000000000000000000011' }
// An id past 2^53: written as a JSON number by the flat answer, it does not survive JSON.parse.
const IG_FLAT = { accountId: '17841400000000023', username: 'acme.studio', shortToken: 'IGAAoauthshorttoken0000000000000000000023', longToken: 'IGAAoauthlongtoken00000000000000000000023' }
const SECRETS = [USER_TOKEN, BETA_USER_TOKEN, PAGE_ONE.token, PAGE_TWO.token, PAGE_VIEW_ONLY.token, PAGE_BETA.token, IG_WRAPPED.shortToken, IG_WRAPPED.longToken, IG_FLAT.shortToken, IG_FLAT.longToken, APP_SECRET, IG_APP_SECRET]

type Kind = 'messenger' | 'instagram'
type Back = { status: number; location: string; connected: string | null; count: string | null; error: string | null; setCookie: string[] }

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe('"Connect with Facebook" and "Connect with Instagram": this installation’s Meta app, one webhook address per kind', () => {
  let meta: FakeMeta
  let t: TestApp
  let acme: TestOrg
  let beta: TestOrg

  const start = (org: TestOrg, kind: Kind, agentId = org.agentId) => fetch(`${t.url}/api/v1/channels/${kind}/oauth/start?agentId=${encodeURIComponent(agentId)}`, { headers: { authorization: `Bearer ${org.token}` }, redirect: 'manual' })
  /** The button pressed: the state Meta will carry back and the cookie the browser keeps. */
  async function begin(org: TestOrg, kind: Kind) {
    const res = await start(org, kind)
    expect(res.status).toBe(302)
    const location = new URL(res.headers.get('location')!)
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`))!
    expect(setCookie).toBeDefined()
    const state = location.searchParams.get('state')!
    return { state, cookie: `${COOKIE}=${state}`, location, setCookie }
  }
  /** Meta's redirect back to the callback, in the browser that started it (or not). */
  async function callback(kind: Kind, query: Record<string, string>, cookie?: string): Promise<Back> {
    const res = await fetch(`${t.url}/meta/oauth/callback/${kind}?${new URLSearchParams(query)}`, { headers: cookie ? { cookie } : {}, redirect: 'manual' })
    const location = res.headers.get('location') ?? ''
    const param = (name: string) => {
      const value = new RegExp(`[?&]${name}=([^&]*)`).exec(location)?.[1]
      return value === undefined ? null : decodeURIComponent(value)
    }
    return { status: res.status, location, connected: param('connected'), count: param('count'), error: param('metaError'), setCookie: res.headers.getSetCookie() }
  }
  const inboxesOf = async (org: TestOrg, kind: Kind) => (await t.app.store.inboxes.listByOrganization(org.organizationId)).filter((i) => i.channel === kind)
  const credentialsOf = async (inboxId: string) => metaCredentials.parse(JSON.parse(t.app.secrets.open((await t.app.store.inboxes.credentials(inboxId))!)))
  const exchanged = (code: string) => meta.calls.filter((c) => /\/oauth\/access_token$/.test(c.path) && (c.query.code === code || c.body.code === code))
  /** Posts to the app's one address as Meta does: the raw JSON signed with the secret. */
  const post = (kind: Kind, body: unknown, secret = kind === 'messenger' ? APP_SECRET : IG_APP_SECRET) => {
    const raw = JSON.stringify(body)
    return api(t, `/webhooks/${kind}`, { raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(secret, raw) }, method: 'POST' })
  }
  /** One body with the entries of several accounts, as Meta batches them. */
  const batch = (object: 'page' | 'instagram', parts: { accountId: string; customer: string; text: string }[]): Json => ({ object, entry: parts.flatMap((p) => (metaText({ object, ...p }).entry as Json[])) })

  beforeAll(async () => {
    meta = await startFakeMeta({ appId: APP_ID, appSecret: APP_SECRET, instagramAppId: IG_APP_ID, instagramAppSecret: IG_APP_SECRET })
    t = await startTestApp({
      env: {
        META_GRAPH_URL: meta.url,
        INSTAGRAM_GRAPH_URL: meta.instagramUrl,
        INSTAGRAM_API_URL: meta.instagramApiUrl,
        PUBLIC_URL,
        META_APP_ID: APP_ID,
        META_APP_SECRET: APP_SECRET,
        META_VERIFY_TOKEN: VERIFY_TOKEN,
        INSTAGRAM_APP_ID: IG_APP_ID,
        INSTAGRAM_APP_SECRET: IG_APP_SECRET,
        PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 2, chunks: 500, channels: 10 } } }),
      },
    })
    acme = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC, BILLING_DOC] })
    beta = await createOrg(t, { name: 'Beta', docs: [BILLING_DOC] })
  })
  afterAll(async () => {
    await t?.close()
    await meta?.close()
  })

  it('offers "Connect with Facebook" and "Connect with Instagram" among the kinds', async () => {
    const kinds = (await api(t, '/api/v1/channels', { token: acme.token })).json.kinds as { kind: string; offers?: unknown }[]
    expect(kinds.find((k) => k.kind === 'messenger')?.offers).toEqual({ oauth: true })
    expect(kinds.find((k) => k.kind === 'instagram')?.offers).toEqual({ oauth: true })
  })

  it('sends an admin to Facebook Login’s dialog with the app id, the callback, the Messenger scopes and a state bound to a cookie', async () => {
    const { location, state, setCookie } = await begin(acme, 'messenger')
    expect(`${location.origin}${location.pathname}`).toBe('https://www.facebook.com/v21.0/dialog/oauth')
    expect(location.searchParams.get('client_id')).toBe(APP_ID)
    expect(location.searchParams.get('redirect_uri')).toBe(REDIRECT.messenger)
    expect(location.searchParams.get('response_type')).toBe('code')
    expect(location.searchParams.get('scope')!.split(',').sort()).toEqual([...MESSENGER_SCOPES].sort())
    expect(state.length).toBeGreaterThan(40)
    expect(setCookie).toMatch(new RegExp(`^${COOKIE}=${escape(state)};`))
    expect(setCookie).toMatch(/; HttpOnly/)
    expect(setCookie).toMatch(/; SameSite=Lax/i)
    expect(setCookie).toMatch(/; Path=\/meta\/oauth(;|$)/)
    expect(setCookie).toMatch(/; Max-Age=600(;|$)/)
    expect(setCookie).toMatch(/; Secure/)
    // Sealed: who started it is not readable from the URL.
    expect(location.toString()).not.toContain(acme.organizationId)
    expect(location.toString()).not.toContain(acme.agentId)
  })

  it('sends an admin to Instagram Login’s authorization window with the Instagram app id and scopes', async () => {
    const { location, state } = await begin(acme, 'instagram')
    expect(`${location.origin}${location.pathname}`).toBe('https://www.instagram.com/oauth/authorize')
    expect(location.searchParams.get('client_id')).toBe(IG_APP_ID)
    expect(location.searchParams.get('redirect_uri')).toBe(REDIRECT.instagram)
    expect(location.searchParams.get('response_type')).toBe('code')
    expect(location.searchParams.get('scope')!.split(',').sort()).toEqual([...INSTAGRAM_SCOPES].sort())
    expect(state.length).toBeGreaterThan(40)
  })

  it('refuses members, anonymous callers, unknown agents and another organization’s agent', async () => {
    const { hashPassword } = await import('../../core/security/passwords.ts')
    const user = await t.app.store.users.create({ email: 'member-meta@example.com', name: 'Member', passwordHash: await hashPassword('member password') })
    await t.app.store.users.addMembership({ organizationId: acme.organizationId, userId: user.id, role: 'member' })
    const login = await api(t, '/api/v1/auth/login', { body: { email: 'member-meta@example.com', password: 'member password' } })
    const member = { ...acme, token: login.json.token as string }
    const refused = await start(member, 'messenger')
    expect(refused.status).toBe(403)
    expect(refused.headers.get('location')).toBeNull()
    expect((await start(acme, 'messenger', 'no-such-agent')).status).toBe(404)
    expect((await start(acme, 'instagram', beta.agentId)).status).toBe(404)
    expect((await fetch(`${t.url}/api/v1/channels/messenger/oauth/start?agentId=${acme.agentId}`, { redirect: 'manual' })).status).toBe(401)
  })

  it('the Facebook callback connects every granted Page with the MESSAGING task, through the same connector as the API, audited', async () => {
    meta.addFacebookOAuthCode('fb-code-acme', { userToken: USER_TOKEN, redirectUri: REDIRECT.messenger, pages: [PAGE_ONE, PAGE_TWO, PAGE_VIEW_ONLY] })
    const { state, cookie } = await begin(acme, 'messenger')
    const back = await callback('messenger', { code: 'fb-code-acme', state }, cookie)
    expect(back).toMatchObject({ status: 302, location: '/admin/#/channels?connected=messenger&count=2', connected: 'messenger', count: '2', error: null })
    // The state cookie is used up.
    expect(back.setCookie.some((c) => new RegExp(`^${COOKIE}=;.*Path=/meta/oauth`).test(c))).toBe(true)

    // The code exchanged once with the app's credentials, then for a long-lived user token, then the Pages listed.
    expect(exchanged('fb-code-acme')).toHaveLength(1)
    expect(exchanged('fb-code-acme')[0]!.query).toMatchObject({ client_id: APP_ID, client_secret: APP_SECRET, redirect_uri: REDIRECT.messenger })
    expect(meta.calls.some((c) => c.path === '/oauth/access_token' && c.query.grant_type === 'fb_exchange_token' && c.query.fb_exchange_token === USER_TOKEN && c.status === 200)).toBe(true)
    expect(meta.callsOf('GET /me/accounts').some((c) => c.status === 200)).toBe(true)

    const inboxes = await inboxesOf(acme, 'messenger')
    expect(inboxes.map((i) => settingsOf(i)?.accountId).sort()).toEqual([PAGE_ONE.pageId, PAGE_TWO.pageId])
    expect(inboxes.every((i) => i.agentId === acme.agentId)).toBe(true)
    for (const page of [PAGE_ONE, PAGE_TWO]) {
      const inbox = inboxes.find((i) => settingsOf(i)?.accountId === page.pageId)!
      expect(inbox.publicKey).toBe(`messenger:${page.pageId}`)
      expect(inbox.name).toBe(page.name)
      expect(settingsOf(inbox)).toMatchObject({ verifyToken: VERIFY_TOKEN, appId: APP_ID })
      expect(await credentialsOf(inbox.id)).toEqual({ accessToken: page.token, appSecret: APP_SECRET })
      expect(meta.subscribedFields(page.pageId)).toEqual(expect.arrayContaining(['messages', 'messaging_postbacks', 'message_echoes']))
    }
    // The Page without the MESSAGING task is left alone.
    expect(meta.subscribedFields(PAGE_VIEW_ONLY.pageId)).toEqual([])

    // Shown on the app's one address, with nothing to paste into Meta's dashboard.
    const list = await api(t, '/api/v1/channels', { token: acme.token })
    const rows = list.json.channels.filter((c: { kind: string }) => c.kind === 'messenger')
    expect(rows).toHaveLength(2)
    for (const row of rows) expect(row).toMatchObject({ webhookUrl: `${PUBLIC_URL}/webhooks/messenger`, details: { install: 'oauth', verifyToken: null } })

    const me = await api(t, '/api/v1/me', { token: acme.token })
    const audit = await t.app.db.prisma.auditEvent.findMany({ where: { organizationId: acme.organizationId, action: 'channel.messenger_connected' } })
    expect(audit.map((a) => a.target).sort()).toEqual(inboxes.map((i) => i.id).sort())
    expect(audit.every((a) => a.actorUserId === me.json.userId)).toBe(true)
    for (const secret of SECRETS) expect(list.text).not.toContain(secret)
  })

  it('Instagram Login: the wrapped answer, then a long-lived token whose expiry is kept, connected on the app’s address', async () => {
    meta.addInstagramOAuthCode('ig-code-wrapped', { ...IG_WRAPPED, redirectUri: REDIRECT.instagram, shape: 'wrapped' })
    const { state, cookie } = await begin(acme, 'instagram')
    const before = Date.now()
    const back = await callback('instagram', { code: 'ig-code-wrapped', state }, cookie)
    expect(back).toMatchObject({ status: 302, location: '/admin/#/channels?connected=instagram&count=1', error: null })
    const exchange = exchanged('ig-code-wrapped')
    expect(exchange).toHaveLength(1)
    expect(exchange[0]).toMatchObject({ base: 'ig-api', method: 'POST', body: { client_id: IG_APP_ID, client_secret: IG_APP_SECRET, grant_type: 'authorization_code', redirect_uri: REDIRECT.instagram } })
    expect(meta.calls.some((c) => c.base === 'ig' && c.path === '/access_token' && c.query.grant_type === 'ig_exchange_token' && c.query.client_secret === IG_APP_SECRET && c.token === IG_WRAPPED.shortToken && c.status === 200)).toBe(true)

    const inbox = (await inboxesOf(acme, 'instagram')).find((i) => settingsOf(i)?.accountId === IG_WRAPPED.accountId)!
    expect(inbox).toBeDefined()
    expect(inbox.name).toBe(`@${IG_WRAPPED.username}`)
    const settings = settingsOf(inbox)!
    expect(settings.verifyToken).toBe(VERIFY_TOKEN)
    const expiresAt = new Date(settings.tokenExpiresAt!).getTime()
    expect(expiresAt).toBeGreaterThan(before + 59 * 24 * 3600_000)
    expect(expiresAt).toBeLessThan(Date.now() + 61 * 24 * 3600_000)
    expect(await credentialsOf(inbox.id)).toEqual({ accessToken: IG_WRAPPED.longToken, appSecret: IG_APP_SECRET })
    expect(meta.subscribedFields(IG_WRAPPED.accountId)).toEqual(expect.arrayContaining(['messages']))
    const row = (await api(t, '/api/v1/channels', { token: acme.token })).json.channels.find((c: { inboxId: string }) => c.inboxId === inbox.id)
    expect(row).toMatchObject({ webhookUrl: `${PUBLIC_URL}/webhooks/instagram`, details: { install: 'oauth', tokenExpiresAt: settings.tokenExpiresAt } })
  })

  it('Instagram Login: the flat answer, its user_id too long for a JSON number, connects the account by its exact id', async () => {
    meta.addInstagramOAuthCode('ig-code-flat', { ...IG_FLAT, redirectUri: REDIRECT.instagram, shape: 'flat' })
    const { state, cookie } = await begin(acme, 'instagram')
    const back = await callback('instagram', { code: 'ig-code-flat', state }, cookie)
    expect(back).toMatchObject({ status: 302, connected: 'instagram', count: '1', error: null })
    const inbox = (await inboxesOf(acme, 'instagram')).find((i) => i.publicKey === `instagram:${IG_FLAT.accountId}`)
    expect(inbox).toBeDefined()
    expect(settingsOf(inbox!)?.tokenExpiresAt).toBeTruthy()
    expect(await credentialsOf(inbox!.id)).toEqual({ accessToken: IG_FLAT.longToken, appSecret: IG_APP_SECRET })
  })

  it('refuses a callback without the cookie, with another browser’s, a tampered, expired or other kind’s state, and a cancelled sign-in: nothing is exchanged or connected', async () => {
    expect(await inboxesOf(beta, 'messenger')).toHaveLength(0)
    meta.addFacebookOAuthCode('fb-code-refused', { userToken: 'EAAGneverexchangedtoken00000000000000001', pages: [{ pageId: '104000000000999', name: 'Never', token: 'EAAGneverexchangedpagetoken00000000000001' }] })
    const { state, cookie } = await begin(beta, 'messenger')
    const other = await begin(beta, 'messenger')

    const missing = await callback('messenger', { code: 'fb-code-refused', state })
    const wrong = await callback('messenger', { code: 'fb-code-refused', state }, other.cookie)
    const parts = state.split('.')
    parts[4] = (parts[4]!.startsWith('A') ? 'B' : 'A') + parts[4]!.slice(1)
    const tampered = parts.join('.')
    const forged = await callback('messenger', { code: 'fb-code-refused', state: tampered }, `${COOKIE}=${tampered}`)
    // The same intent, sealed with the installation's key, but eleven minutes old.
    const intent = JSON.parse(t.app.secrets.open(state)) as Record<string, unknown>
    const old = t.app.secrets.seal(JSON.stringify({ ...intent, at: Date.now() - 11 * 60_000 }))
    const expired = await callback('messenger', { code: 'fb-code-refused', state: old }, `${COOKIE}=${old}`)
    // Sealed with the key but without its time, or for the other kind.
    const timeless = t.app.secrets.seal(JSON.stringify({ ...intent, at: undefined }))
    const undated = await callback('messenger', { code: 'fb-code-refused', state: timeless }, `${COOKIE}=${timeless}`)
    const crossed = await callback('instagram', { code: 'fb-code-refused', state }, cookie)
    const noState = await callback('messenger', { code: 'fb-code-refused' }, cookie)
    // The manager said no: Meta comes back with the state and error=access_denied, no code.
    const fresh = await begin(beta, 'messenger')
    const denied = await callback('messenger', { error: 'access_denied', error_reason: 'user_denied', error_description: 'Permissions error', state: fresh.state }, fresh.cookie)

    for (const back of [missing, wrong, forged, expired, undated, crossed, noState, denied]) {
      expect(back.status).toBe(302)
      expect(back.location).toMatch(/^\/admin\/#\/channels\?metaError=/)
      expect(back.error).toBeTruthy()
      expect(back.connected).toBeNull()
    }
    expect(missing.error).toMatch(/browser session/)
    expect(wrong.error).toMatch(/browser session/)
    expect(forged.error).toMatch(/did not make/)
    expect(expired.error).toMatch(/10 minutes/)
    expect(undated.error).toMatch(/did not make/)
    expect(crossed.error).toMatch(/did not make/)
    expect(noState.error).toMatch(/without its state/)
    expect(denied.error).toMatch(/cancelled/)
    expect(exchanged('fb-code-refused')).toHaveLength(0)
    expect(await inboxesOf(beta, 'messenger')).toHaveLength(0)
    expect(await inboxesOf(beta, 'instagram')).toHaveLength(0)
  })

  it('no Page with messaging, a used code or a token error: back with the reason, nothing connected, no token in the address', async () => {
    meta.addFacebookOAuthCode('fb-code-viewonly', { userToken: 'EAAGviewonlyusertoken0000000000000000001', pages: [{ ...PAGE_VIEW_ONLY, pageId: '104000000000301', token: 'EAAGviewonlypagetoken0000000000000000301' }] })
    let flow = await begin(beta, 'messenger')
    const viewOnly = await callback('messenger', { code: 'fb-code-viewonly', state: flow.state }, flow.cookie)
    expect(viewOnly.error).toMatch(/MESSAGING/)

    flow = await begin(beta, 'messenger')
    const used = await callback('messenger', { code: 'fb-code-acme', state: flow.state }, flow.cookie)
    expect(used.error).toMatch(/authorization code has been used/)

    meta.addInstagramOAuthCode('ig-code-badlong', { accountId: '17841400000000031', username: 'beta.shop', shortToken: 'IGAAbadlongshorttoken000000000000000031' })
    meta.failNext('GET /access_token', { code: 190, base: 'ig' })
    flow = await begin(beta, 'instagram')
    const badLong = await callback('instagram', { code: 'ig-code-badlong', state: flow.state }, flow.cookie)
    expect(badLong.error).toMatch(/long-lived Instagram token/)

    flow = await begin(beta, 'instagram')
    const unknownCode = await callback('instagram', { code: 'ig-code-unknown', state: flow.state }, flow.cookie)
    expect(unknownCode.error).toMatch(/Invalid authorization code/)

    for (const back of [viewOnly, used, badLong, unknownCode]) {
      expect(back.location).toMatch(/^\/admin\/#\/channels\?metaError=/)
      expect(back.location).not.toMatch(/EAA|IGAA/)
    }
    expect(await inboxesOf(beta, 'messenger')).toHaveLength(0)
    expect(await inboxesOf(beta, 'instagram')).toHaveLength(0)
  })

  it('answers Meta’s check of the app’s one address per kind only with the app’s verify token', async () => {
    for (const kind of ['messenger', 'instagram'] as const) {
      const good = await api(t, `/webhooks/${kind}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(VERIFY_TOKEN)}&hub.challenge=1158201444`)
      expect(good).toMatchObject({ status: 200, text: '1158201444' })
      expect((await api(t, `/webhooks/${kind}?hub.mode=subscribe&hub.verify_token=guess-the-token&hub.challenge=1`)).status).toBe(403)
      expect((await api(t, `/webhooks/${kind}?hub.mode=unsubscribe&hub.verify_token=${encodeURIComponent(VERIFY_TOKEN)}&hub.challenge=1`)).status).toBe(403)
      const plain = await api(t, `/webhooks/${kind}`)
      expect(plain.status).toBe(405)
      expect(plain.headers.get('allow')).toBe('POST')
    }
  })

  it('one batched POST with the entries of two Pages of two organizations reaches both, and each customer is answered', async () => {
    meta.addFacebookOAuthCode('fb-code-beta', { userToken: BETA_USER_TOKEN, redirectUri: REDIRECT.messenger, pages: [PAGE_BETA] })
    const flow = await begin(beta, 'messenger')
    expect(await callback('messenger', { code: 'fb-code-beta', state: flow.state }, flow.cookie)).toMatchObject({ connected: 'messenger', count: '1' })
    const acmeInbox = (await t.app.store.inboxes.findByPublicKey(`messenger:${PAGE_ONE.pageId}`))!
    const betaInbox = (await t.app.store.inboxes.findByPublicKey(`messenger:${PAGE_BETA.pageId}`))!
    expect(acmeInbox.organizationId).toBe(acme.organizationId)
    expect(betaInbox.organizationId).toBe(beta.organizationId)

    const body = batch('page', [
      { accountId: PAGE_ONE.pageId, customer: '7100000000000001', text: 'How do I connect Telegram?' },
      { accountId: PAGE_BETA.pageId, customer: '7100000000000002', text: 'What does the billing plan include?' },
      { accountId: '104000000000999', customer: '7100000000000003', text: 'Anyone there?' },
    ])
    const res = await post('messenger', body)
    expect(res.status).toBe(200)
    await waitFor(async () => meta.deliveredTo('7100000000000001').length >= 1 && meta.deliveredTo('7100000000000002').length >= 1)
    // Each answered with its own Page's token, in its own organization.
    expect(meta.deliveredTo('7100000000000001')[0]!.token).toBe(PAGE_ONE.token)
    expect(meta.deliveredTo('7100000000000002')[0]!.token).toBe(PAGE_BETA.token)
    expect(await t.app.store.conversations.findByThread(acmeInbox.id, '7100000000000001')).toMatchObject({ organizationId: acme.organizationId })
    expect(await t.app.store.conversations.findByThread(betaInbox.id, '7100000000000002')).toMatchObject({ organizationId: beta.organizationId })
    expect(await t.app.store.conversations.findByThread(acmeInbox.id, '7100000000000002')).toBeNull()
    expect(await t.app.store.conversations.findByThread(betaInbox.id, '7100000000000001')).toBeNull()
    // The same batch again (Meta redelivers): nothing answered twice.
    expect((await post('messenger', body)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 400))
    expect(meta.deliveredTo('7100000000000001')).toHaveLength(1)
    expect(meta.deliveredTo('7100000000000002')).toHaveLength(1)
    expect(meta.sendsTo('7100000000000003')).toHaveLength(0)
  })

  it('an Instagram batch to the app’s address is checked with the Instagram app’s secret and answered through graph.instagram.com', async () => {
    const body = batch('instagram', [{ accountId: IG_WRAPPED.accountId, customer: '1330000000000101', text: 'What does the billing plan include?' }])
    expect((await post('instagram', body, APP_SECRET)).status).toBe(401)
    expect((await post('instagram', body)).status).toBe(200)
    await waitFor(async () => meta.deliveredTo('1330000000000101').length >= 1)
    expect(meta.deliveredTo('1330000000000101')[0]).toMatchObject({ base: 'ig', token: IG_WRAPPED.longToken })
  })

  it('refuses a wrong signature (401); acknowledges ids no inbox has, other objects and receipts (200) and stores nothing', async () => {
    const before = (await t.app.store.conversations.list(acme.organizationId, { limit: 500 })).length + (await t.app.store.conversations.list(beta.organizationId, { limit: 500 })).length
    const ours = batch('page', [{ accountId: PAGE_ONE.pageId, customer: '7100000000000010', text: 'hello?' }])
    const raw = JSON.stringify(ours)
    expect((await post('messenger', ours, 'f'.repeat(32))).status).toBe(401)
    expect((await post('messenger', ours, IG_APP_SECRET)).status).toBe(401)
    expect((await api(t, '/webhooks/messenger', { raw, headers: { 'content-type': 'application/json' }, method: 'POST' })).status).toBe(401)
    // A POST is never the subscription check, whatever its query says.
    expect((await api(t, `/webhooks/messenger?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(VERIFY_TOKEN)}&hub.challenge=5`, { raw, headers: { 'content-type': 'application/json' }, method: 'POST' })).status).toBe(401)
    expect((await api(t, '/webhooks/messenger', { raw: raw.replace('hello', 'hallo'), headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(APP_SECRET, raw) }, method: 'POST' })).status).toBe(401)

    const unknown = await post('messenger', batch('page', [{ accountId: '104000000000998', customer: '7100000000000011', text: 'hi' }]))
    expect(unknown).toMatchObject({ status: 200, json: { ok: true } })
    expect((await post('messenger', { object: 'instagram', entry: ours.entry })).status).toBe(200)
    expect((await post('messenger', { object: 'page', entry: [{ id: PAGE_ONE.pageId, time: Date.now(), messaging: [{ sender: { id: '7100000000000012' }, recipient: { id: PAGE_ONE.pageId }, timestamp: Date.now(), read: { watermark: Date.now() } }] }] })).status).toBe(200)
    expect((await post('messenger', { hello: 'world' })).status).toBe(400)
    await new Promise((r) => setTimeout(r, 300))
    const after = (await t.app.store.conversations.list(acme.organizationId, { limit: 500 })).length + (await t.app.store.conversations.list(beta.organizationId, { limit: 500 })).length
    expect(after).toBe(before)
    expect(meta.sendsTo('7100000000000010')).toHaveLength(0)
    expect(meta.sendsTo('7100000000000011')).toHaveLength(0)
  })

  it('no token or app secret ever reaches the logs', () => {
    const logs = t.logs.text()
    expect(logs.length).toBeGreaterThan(1000)
    for (const secret of SECRETS) expect(logs).not.toContain(secret)
  })
})

describe('"Connect with Facebook / Instagram" without the app’s verify token', () => {
  let meta: FakeMeta
  let t: TestApp
  let org: TestOrg

  beforeAll(async () => {
    meta = await startFakeMeta()
    t = await startTestApp({ env: { META_GRAPH_URL: meta.url, INSTAGRAM_GRAPH_URL: meta.instagramUrl, INSTAGRAM_API_URL: meta.instagramApiUrl, PUBLIC_URL, META_APP_ID: APP_ID, META_APP_SECRET: APP_SECRET } })
    org = await createOrg(t, { name: 'Unconfigured' })
  })
  afterAll(async () => {
    await t?.close()
    await meta?.close()
  })

  it('is not offered; the start and the callbacks answer 404; the app’s address answers no check', async () => {
    const kinds = (await api(t, '/api/v1/channels', { token: org.token })).json.kinds as { kind: string; offers?: unknown }[]
    expect(kinds.find((k) => k.kind === 'messenger')?.offers).toEqual({ oauth: false })
    expect(kinds.find((k) => k.kind === 'instagram')?.offers).toEqual({ oauth: false })
    for (const kind of ['messenger', 'instagram'] as const) {
      const res = await fetch(`${t.url}/api/v1/channels/${kind}/oauth/start?agentId=${org.agentId}`, { headers: { authorization: `Bearer ${org.token}` }, redirect: 'manual' })
      expect(res.status).toBe(404)
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('META_VERIFY_TOKEN')
      expect((await fetch(`${t.url}/meta/oauth/callback/${kind}?code=x&state=y`, { redirect: 'manual' })).status).toBe(404)
      expect((await api(t, `/webhooks/${kind}?hub.mode=subscribe&hub.verify_token=anything-at-all&hub.challenge=1`)).status).toBe(403)
    }
  })
})
