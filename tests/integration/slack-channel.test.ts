import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, waitFor, TELEGRAM_DOC, BILLING_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.ts'
import { buttonPress, channelEvent, commandFields, dmEvent, slackFixture, slackSender } from '../support/slack.ts'

const WORKSPACE = { teamId: 'T0WORKSPACE', teamName: 'Acme Support', botToken: 'xoxb-1000-2000-acmebottokenfortests', botUserId: 'U0BOT', botId: 'B0BOT', appId: 'A0SWITCHBRD' }
const SIGNING_SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
const PUBLIC_URL = 'https://switchboard.example.com'

describe('Slack channel: a business’s own app, against a fake Slack Web API', () => {
  let slack: FakeSlack
  let t: TestApp
  let org: TestOrg
  let inboxId: string
  let secret = SIGNING_SECRET

  const sender = () => slackSender(t, { path: `/webhooks/slack/${inboxId}`, secret: () => secret })
  const posts = (channel: string) => slack.callsOf('chat.postMessage').filter((c) => c.payload.channel === channel)
  const conversations = () => t.app.store.conversations.list(org.organizationId, { limit: 200 })

  beforeAll(async () => {
    slack = await startFakeSlack()
    slack.addWorkspace(WORKSPACE)
    t = await startTestApp({ env: { SLACK_API_URL: slack.url, PUBLIC_URL } })
    org = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC, BILLING_DOC] })
    const res = await api(t, `/api/v1/agents/${org.agentId}/channels/slack`, { token: org.token, body: { botToken: WORKSPACE.botToken, signingSecret: SIGNING_SECRET } })
    expect(res.status).toBe(201)
    inboxId = res.json.inbox.inboxId
  })
  afterAll(async () => {
    await t?.close()
    await slack?.close()
  })

  it('connecting checks the token with auth.test, seals both secrets and answers with the one Request URL', async () => {
    expect(slack.callsOf('auth.test')).toHaveLength(1)
    const list = await api(t, '/api/v1/channels', { token: org.token })
    const row = list.json.channels.find((c: { inboxId: string }) => c.inboxId === inboxId)
    expect(row).toMatchObject({ kind: 'slack', mode: 'webhook', webhookUrl: `${PUBLIC_URL}/webhooks/slack/${inboxId}`, details: { teamId: 'T0WORKSPACE', teamName: 'Acme Support', appId: 'A0SWITCHBRD', botUserId: 'U0BOT', install: 'app' } })
    expect(JSON.stringify(list.json)).not.toContain(WORKSPACE.botToken)
    expect(JSON.stringify(list.json)).not.toContain(SIGNING_SECRET)
    const sealed = await t.app.store.inboxes.credentials(inboxId)
    expect(sealed).not.toContain(WORKSPACE.botToken)
    expect(sealed).not.toContain(SIGNING_SECRET)
    expect(t.logs.text()).not.toContain(WORKSPACE.botToken)
  })

  it('refuses a token Slack does not accept, and a malformed token or secret, with a clear 422', async () => {
    const bad = await api(t, `/api/v1/agents/${org.agentId}/channels/slack`, { token: org.token, body: { botToken: 'xoxb-9-9-revokedtokenxx', signingSecret: SIGNING_SECRET } })
    expect(bad.status).toBe(422)
    expect(bad.json.error.message).toMatch(/Slack refused the bot token/)
    const shape = await api(t, `/api/v1/agents/${org.agentId}/channels/slack`, { token: org.token, body: { botToken: 'xoxp-user-token-123456', signingSecret: SIGNING_SECRET } })
    expect(shape.status).toBe(422)
    expect(shape.json.error.message).toMatch(/xoxb-/)
  })

  it('answers url_verification only once the signature checks out', async () => {
    const challenge = slackFixture('url-verification.json')
    const good = await sender().event(challenge)
    expect(good).toMatchObject({ status: 200, text: challenge.challenge })
    const unsigned = await sender().event(challenge, { signature: 'v0=00' })
    expect(unsigned.status).toBe(401)
  })

  it('answers a DM in the DM, once, however often Slack redelivers the event', async () => {
    const event = dmEvent({ user: 'U0ADA', text: 'How do I connect Telegram?' })
    const first = await sender().event(event)
    expect(first.status).toBe(200)
    // Slack's retries carry X-Slack-Retry-Num and a new signature; the event is the same.
    const retry = await sender().event(event, { headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } })
    expect(retry.status).toBe(200)
    await waitFor(async () => posts('U0ADA').length >= 1)
    await new Promise((r) => setTimeout(r, 300))
    expect(posts('U0ADA')).toHaveLength(1)
    const reply = posts('U0ADA')[0]!.payload
    expect(reply.thread_ts).toBeUndefined()
    expect(String(reply.text).length).toBeGreaterThan(10)
    expect(JSON.stringify(reply.blocks)).toMatch(/Sources/)
  })

  it('answers a mention in its thread, continues the thread without a mention, and ignores other channel chatter and bots', async () => {
    const mention = channelEvent({ type: 'app_mention', user: 'U0BEA', channel: 'C0GENERAL', text: '<@U0BOT> what does the billing plan include?' })
    await sender().event(mention)
    await waitFor(async () => posts('C0GENERAL').length >= 1)
    const rootTs = (mention.event as { ts: string }).ts
    expect(posts('C0GENERAL')[0]!.payload.thread_ts).toBe(rootTs)
    const later = channelEvent({ user: 'U0BEA', channel: 'C0GENERAL', text: 'and how do I pay?', threadTs: rootTs })
    await sender().event(later)
    await waitFor(async () => posts('C0GENERAL').length >= 2)
    expect(posts('C0GENERAL')[1]!.payload.thread_ts).toBe(rootTs)
    const stranger = channelEvent({ user: 'U0BEA', channel: 'C0GENERAL', text: 'lunch?', threadTs: '1700000000.000001' })
    const plain = channelEvent({ user: 'U0BEA', channel: 'C0GENERAL', text: 'nothing for the bot' })
    const bot = slackFixture('message-bot.json')
    for (const e of [stranger, plain, bot]) expect((await sender().event(e)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 400))
    expect(posts('C0GENERAL')).toHaveLength(2)
    const threads = (await conversations()).filter((c) => c.inboxId === inboxId).map((c) => c.externalThreadId)
    expect(threads).toContain(`C0GENERAL:${rootTs}`)
    expect(threads).not.toContain('C0GENERAL:1700000000.000001')
  })

  it('refuses wrong signatures, stale or future timestamps and replays with 401, malformed bodies with 400, and stores nothing', async () => {
    const before = (await conversations()).length
    const event = dmEvent({ user: 'U0EVE', text: 'hello' })
    // Read afresh for each request and kept 10 s past the limit: a busy machine's second does not move them inside it.
    const now = () => Math.floor(Date.now() / 1000)
    expect((await sender().event(event, { timestamp: now() - 310 })).status).toBe(401)
    expect((await sender().event(event, { timestamp: now() + 310 })).status).toBe(401)
    secret = 'f'.repeat(32)
    expect((await sender().event(event)).status).toBe(401)
    secret = SIGNING_SECRET
    expect((await sender().send('{"type": "event_callback", ', 'application/json')).status).toBe(400)
    expect((await sender().send('payload=%7Bnot-json', 'application/x-www-form-urlencoded')).status).toBe(400)
    expect((await sender().send(JSON.stringify({ hello: 'world' }), 'application/json')).status).toBe(400)
    // The same signed request twice: the second is a replay.
    const body = JSON.stringify(dmEvent({ user: 'U0EVE', text: 'once' }))
    const ts = Math.floor(Date.now() / 1000)
    const first = await sender().send(body, 'application/json', { timestamp: ts })
    expect(first.status).toBe(200)
    expect((await sender().send(body, 'application/json', { timestamp: ts })).status).toBe(401)
    await waitFor(async () => posts('U0EVE').length >= 1)
    expect((await conversations()).length).toBe(before + 1)
    // Another workspace's inbox id in the URL is not this one's.
    expect((await api(t, '/webhooks/slack/not-an-inbox', { body: event })).status).toBe(401)
  })

  it('takes a "Talk to a person" button press as the choice, and the conversation goes to a person', async () => {
    await sender().event(dmEvent({ user: 'U0FOX', text: 'I need help with my invoice' }))
    await waitFor(async () => posts('U0FOX').length >= 1)
    const answer = posts('U0FOX')[0]!
    const buttons = JSON.stringify(answer.payload.blocks)
    expect(buttons).toContain('"action_id":"choice:0"')
    const press = buttonPress({ user: 'U0FOX', actionId: 'choice:0', value: 'handoff', label: 'Talk to a person', channel: 'DU0FOX', messageTs: String(answer.response?.ts ?? '1.1') })
    expect((await sender().interaction(press)).status).toBe(200)
    await waitFor(async () => (await conversations()).some((c) => c.externalThreadId === 'U0FOX' && c.state === 'handoff'))
  })

  it('/switchboard from someone not linked asks the agent and answers only them, through response_url', async () => {
    const url = slack.responseUrl('q1')
    const res = await sender().command(commandFields({ user: 'U0GUS', channel: 'C0GENERAL', text: 'what does the billing plan include?', responseUrl: url }))
    expect(res).toMatchObject({ status: 200, text: '' })
    await waitFor(async () => slack.responsesTo('q1').length >= 1)
    const body = slack.responsesTo('q1')[0] as { response_type: string; text: string }
    expect(body.response_type).toBe('ephemeral')
    expect(body.text.length).toBeGreaterThan(10)
    expect(posts('C0GENERAL').filter((p) => String(p.payload.text).includes('billing'))).toHaveLength(0)
  })

  it('/switchboard link <code> links an admin; then /switchboard runs the admin console, ephemerally', async () => {
    const code = (await api(t, '/api/v1/channel-admins/link-codes', { token: org.token, body: {} })).json
    expect(code.instructions).toContain('/switchboard link')
    await sender().command(commandFields({ user: 'U0ADMIN', channel: 'DU0ADMIN', text: `link ${code.code}`, responseUrl: slack.responseUrl('link') }))
    await waitFor(async () => slack.responsesTo('link').length >= 1)
    expect(JSON.stringify(slack.responsesTo('link')[0])).toMatch(/linked/i)
    await sender().command(commandFields({ user: 'U0ADMIN', channel: 'C0GENERAL', text: 'agents', responseUrl: slack.responseUrl('agents') }))
    await waitFor(async () => slack.responsesTo('agents').length >= 1)
    const agents = slack.responsesTo('agents')[0] as { text: string; blocks: unknown[] }
    expect(agents.text).toContain('Acme assistant')
    expect(JSON.stringify(agents.blocks)).toContain('"type":"button"')
    // Someone else cannot use the console.
    await sender().command(commandFields({ user: 'U0GUS', channel: 'C0GENERAL', text: 'usage', responseUrl: slack.responseUrl('gus') }))
    await waitFor(async () => slack.responsesTo('gus').length >= 1)
    expect(JSON.stringify(slack.responsesTo('gus')[0])).not.toMatch(/responses this month|quota/i)
  })

  it('a document a linked admin shares in the DM is downloaded with the bot token and added, with a progress message updated as it goes', async () => {
    const bytes = Buffer.from('# Returns\n\nReturns are accepted within 30 days with the receipt. Refunds take five business days.\n')
    slack.addFile('T0WORKSPACE/F0RETURNS/returns.md', bytes, { mimetype: 'text/markdown' })
    const files = [{ id: 'F0RETURNS', name: 'returns.md', title: 'Returns', mimetype: 'text/markdown', filetype: 'markdown', size: bytes.length, url_private: slack.fileUrl('T0WORKSPACE/F0RETURNS/returns.md'), url_private_download: slack.fileUrl('T0WORKSPACE/F0RETURNS/returns.md') }]
    await sender().event(dmEvent({ user: 'U0ADMIN', text: '', files }))
    await waitFor(async () => (await t.app.store.knowledge.listSources(org.organizationId)).some((s) => s.title.toLowerCase().includes('returns') && s.status === 'ready'))
    expect(slack.downloads.at(-1)).toMatchObject({ token: WORKSPACE.botToken, status: 200 })
    await waitFor(async () => slack.callsOf('chat.update').some((c) => String(c.payload.text).includes('✅')))
  })

  it('a file URL that is not Slack’s is never fetched', async () => {
    const files = [{ id: 'F0EVIL', name: 'evil.pdf', mimetype: 'application/pdf', size: 10, url_private_download: 'http://169.254.169.254/latest/meta-data' }]
    const before = slack.downloads.length
    await sender().event(dmEvent({ user: 'U0ADMIN', text: '', files }))
    await waitFor(async () => posts('U0ADMIN').some((p) => /not a Slack file|could not/i.test(String(p.payload.text))))
    expect(slack.downloads.length).toBe(before)
  })

  it('waits out a 429 with Retry-After and still answers once', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 1 })
    await sender().event(dmEvent({ user: 'U0HAL', text: 'hello there' }))
    await waitFor(async () => posts('U0HAL').some((p) => p.status === 200 || p.response?.ok === true), 15_000)
    expect(posts('U0HAL').filter((p) => p.response?.ok === true)).toHaveLength(1)
  })

  it('disconnecting removes the inbox and its sealed credentials; its Request URL then refuses', async () => {
    const res = await api(t, `/api/v1/channels/${inboxId}`, { method: 'DELETE', token: org.token })
    expect(res.status).toBe(200)
    expect(await t.app.store.inboxes.credentials(inboxId)).toBeNull()
    expect((await sender().event(dmEvent({ user: 'U0ADA', text: 'still there?' }))).status).toBe(401)
  })
})
