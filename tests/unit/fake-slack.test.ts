import { SocketModeClient } from '@slack/socket-mode'
import { ErrorCode, LogLevel, WebClient, type WebAPIPlatformError } from '@slack/web-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.ts'

/** The fake driven through the real Slack SDK clients, so it speaks what they send and expect. */
describe('fake Slack Web API', () => {
  let fake: FakeSlack
  const workspace = { teamId: 'T0WORKSPACE', teamName: 'Acme Support', botToken: 'xoxb-fake-acme', botUserId: 'U0BOT', botId: 'B0BOT', appId: 'A0SWITCHBRD' }
  const client = () => new WebClient(workspace.botToken, { slackApiUrl: fake.url, logLevel: LogLevel.ERROR })

  beforeAll(async () => {
    fake = await startFakeSlack()
    fake.addWorkspace(workspace)
    fake.addAppToken('xapp-1-A0SWITCHBRD-fake', 'A0SWITCHBRD')
  })
  afterAll(() => fake.close())

  it('auth.test answers as the bot of the workspace, with the token from the Authorization header', async () => {
    const res = await client().auth.test()
    expect(res).toMatchObject({ ok: true, url: 'https://acme-support.slack.com/', team: 'Acme Support', team_id: 'T0WORKSPACE', user_id: 'U0BOT', bot_id: 'B0BOT', is_enterprise_install: false })
    expect(fake.callsOf('auth.test').at(-1)).toMatchObject({ token: 'xoxb-fake-acme', payload: {} })
  })

  it('chat.postMessage: blocks arrive decoded; a user id as channel answers with a stable DM id', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*Opening hours*: 9–17' } }, { type: 'actions', elements: [{ type: 'button', action_id: 'handoff', text: { type: 'plain_text', text: 'Talk to a person' }, value: 'handoff' }] }]
    const res = await client().chat.postMessage({ channel: 'C0GENERAL', text: 'Opening hours: 9–17', blocks, thread_ts: '1715000000.000100' })
    expect(res).toMatchObject({ ok: true, channel: 'C0GENERAL', message: { type: 'message', text: 'Opening hours: 9–17', user: 'U0BOT', bot_id: 'B0BOT', thread_ts: '1715000000.000100', blocks } })
    expect(res.ts).toMatch(/^\d{10}\.\d{6}$/)
    expect(fake.callsOf('chat.postMessage').at(-1)!.payload).toMatchObject({ channel: 'C0GENERAL', blocks, thread_ts: '1715000000.000100' })

    const dm1 = await client().chat.postMessage({ channel: 'U0CUSTOMER', text: 'hi' })
    const dm2 = await client().chat.postMessage({ channel: 'U0CUSTOMER', text: 'again' })
    expect(dm1.channel).toMatch(/^D/)
    expect(dm2.channel).toBe(dm1.channel)
    expect(fake.postedTo('U0CUSTOMER').map((c) => c.payload.text)).toEqual(['hi', 'again'])
    expect(await client().chat.update({ channel: dm1.channel!, ts: dm1.ts!, text: 'hi!' })).toMatchObject({ ok: true, channel: dm1.channel, ts: dm1.ts, text: 'hi!' })
  })

  it('a 429 with Retry-After: 1 is waited out and retried by WebClient itself', async () => {
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 })
    const before = fake.callsOf('chat.postMessage').length
    const started = Date.now()
    const res = await client().chat.postMessage({ channel: 'C0GENERAL', text: 'after the rate limit' })
    expect(res.ok).toBe(true)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    const attempts = fake.callsOf('chat.postMessage').slice(before)
    expect(attempts.map((c) => c.status)).toEqual([429, 200])
    expect(attempts[0]!.response).toEqual({ ok: false, error: 'ratelimited' })
  })

  it('an unknown or revoked token raises the platform error invalid_auth', async () => {
    const bad = new WebClient('xoxb-nobody', { slackApiUrl: fake.url, logLevel: LogLevel.ERROR })
    await expect(bad.auth.test()).rejects.toMatchObject({ code: ErrorCode.PlatformError, data: { ok: false, error: 'invalid_auth' } })
    fake.addWorkspace({ ...workspace, teamId: 'T0OTHER', botToken: 'xoxb-fake-other' })
    fake.revoke('xoxb-fake-other')
    const revoked = new WebClient('xoxb-fake-other', { slackApiUrl: fake.url, logLevel: LogLevel.ERROR })
    const error = (await revoked.chat.postMessage({ channel: 'C0GENERAL', text: 'x' }).catch((e: unknown) => e)) as WebAPIPlatformError
    expect(error.data.error).toBe('invalid_auth')
    fake.failNext('users.info', { error: 'user_not_found' })
    await expect(client().users.info({ user: 'U0CUSTOMER' })).rejects.toMatchObject({ data: { error: 'user_not_found' } })
    await expect(client().apiCall('no.such.method')).rejects.toMatchObject({ data: { error: 'unknown_method' } })
  })

  it('oauth.v2.access exchanges a code once (client credentials as form fields) and installs the bot token', async () => {
    fake.addOAuthCode('code-beta', { teamId: 'T0BETA', teamName: 'Beta', appId: 'A0SWITCHBRD', botToken: 'xoxb-fake-beta', botUserId: 'U0BETABOT', botId: 'B0BETA', authedUserId: 'U0ADMIN', scope: 'app_mentions:read,chat:write,im:history' })
    const anonymous = new WebClient(undefined, { slackApiUrl: fake.url, logLevel: LogLevel.ERROR })
    const grant = await anonymous.oauth.v2.access({ client_id: '1234.5678', client_secret: 'shh', code: 'code-beta', redirect_uri: 'https://switchboard.test/slack/oauth' })
    expect(grant).toMatchObject({ ok: true, access_token: 'xoxb-fake-beta', token_type: 'bot', bot_user_id: 'U0BETABOT', app_id: 'A0SWITCHBRD', team: { id: 'T0BETA', name: 'Beta' }, enterprise: null, is_enterprise_install: false, authed_user: { id: 'U0ADMIN' } })
    expect(await new WebClient('xoxb-fake-beta', { slackApiUrl: fake.url }).auth.test()).toMatchObject({ team_id: 'T0BETA', bot_id: 'B0BETA' })
    await expect(anonymous.oauth.v2.access({ client_id: '1234.5678', client_secret: 'shh', code: 'code-beta' })).rejects.toMatchObject({ data: { error: 'code_already_used' } })
    await expect(anonymous.oauth.v2.access({ client_id: '1234.5678', client_secret: 'shh', code: 'wrong' })).rejects.toMatchObject({ data: { error: 'invalid_code' } })
  })

  it('private files need the bot token; response_urls take 5 posts', async () => {
    fake.addFile('T0WORKSPACE-F0FILE/download/price-list.pdf', Buffer.from('%PDF-1.4 fake'), { mimetype: 'application/pdf' })
    const url = fake.fileUrl('T0WORKSPACE-F0FILE/download/price-list.pdf')
    const ok = await fetch(url, { headers: { Authorization: `Bearer ${workspace.botToken}` } })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toBe('%PDF-1.4 fake')
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(302)
    expect((await fetch(url, { headers: { Authorization: 'Bearer xoxb-nobody' } })).status).toBe(403)

    const responseUrl = fake.responseUrl('T0WORKSPACE/1234567890/abcdef')
    const post = () => fetch(responseUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'Linked', response_type: 'ephemeral' }) })
    for (let i = 0; i < 5; i++) expect((await post()).status).toBe(200)
    const sixth = await post()
    expect([sixth.status, await sixth.text()]).toEqual([404, 'used_url'])
    expect(fake.responsesTo('T0WORKSPACE/1234567890/abcdef')).toHaveLength(5)
  })

  it('Socket Mode: the real SocketModeClient connects, receives an events_api envelope and acks it', async () => {
    const socket = new SocketModeClient({ appToken: 'xapp-1-A0SWITCHBRD-fake', clientOptions: { slackApiUrl: fake.url }, logLevel: LogLevel.ERROR })
    const received: unknown[] = []
    socket.on('app_mention', async ({ ack, event }: { ack: () => Promise<void>; event: unknown }) => {
      received.push(event)
      await ack()
    })
    await socket.start()
    try {
      expect(fake.socketConnections()).toBe(1)
      expect(fake.callsOf('apps.connections.open').at(-1)!.token).toBe('xapp-1-A0SWITCHBRD-fake')
      const event = { type: 'app_mention', user: 'U0CUSTOMER', text: '<@U0BOT> what are your opening hours?', ts: '1715000000.000100', channel: 'C0GENERAL', event_ts: '1715000000.000100' }
      const ack = await fake.pushEnvelope({ type: 'events_api', payload: { token: 'x', team_id: 'T0WORKSPACE', api_app_id: 'A0SWITCHBRD', event, type: 'event_callback', event_id: 'Ev0001', event_time: 1715000000 } })
      expect(ack.envelope_id).toMatch(/^[0-9a-f-]{36}$/)
      expect(ack.payload).toEqual({})
      expect(received).toEqual([event])
    } finally {
      await socket.disconnect()
    }
    await expect.poll(() => fake.socketConnections()).toBe(0)
  })
})
