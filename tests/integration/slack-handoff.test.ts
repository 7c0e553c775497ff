import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, waitFor, TELEGRAM_DOC, BILLING_DOC } from '../support/test-app.ts'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'
import { startFakeSlack, type FakeSlack, type SlackCall } from '../support/fake-slack.ts'
import { buttonPress as press0, channelEvent as channelEvent0, commandFields as commandFields0, slackSender } from '../support/slack.ts'
import { hashPassword } from '../../core/security/passwords.ts'

const BOT = { token: '7000000041:AAH-slack-desk-bot-token-for-tests', id: 7000000041, username: 'acme_shop_bot', first_name: 'Acme Shop' }
const WORKSPACE = { teamId: 'T0ACME', teamName: 'Acme HQ', botToken: 'xoxb-41-42-slackdeskbottokenfortests', botUserId: 'U0DESKBOT', botId: 'B0DESKBOT', appId: 'A0DESKAPP' }
const SIGNING_SECRET = 'd3sk5ecretd3sk5ecretd3sk5ecret00'
const OPS = 'C0OPS'
const ADMIN = 'U0ADMIN'
const OLGA = 'U0OLGA'
const CUSTOMER = 9501
// Payloads of this workspace and app (the inbox refuses another workspace's, even signed).
const ours = { team: WORKSPACE.teamId, app: WORKSPACE.appId }
const commandFields = (input: Omit<Parameters<typeof commandFields0>[0], 'team' | 'app'>) => commandFields0({ ...input, ...ours })
const channelEvent = (input: Omit<Parameters<typeof channelEvent0>[0], 'team' | 'app'>) => channelEvent0({ ...input, ...ours })
const buttonPress = (input: Omit<Parameters<typeof press0>[0], 'team' | 'app'>) => press0({ ...input, ...ours })

/**
 * The handoff loop across channels: a Telegram customer asks for a person; the organization routes
 * the Telegram bot's handoffs to a Slack channel; an operator takes it there, answers in the
 * thread, sees the customer's next message in the thread, and hands it back.
 */
describe('a Telegram customer handed to operators in a Slack channel', () => {
  let b: TelegramTestBed
  let slack: FakeSlack
  let slackInboxId: string
  const sender = () => slackSender(b.t, { path: `/webhooks/slack/${slackInboxId}`, secret: () => SIGNING_SECRET })
  const opsPosts = () => slack.callsOf('chat.postMessage').filter((c) => c.payload.channel === OPS)
  const waitForOps = (count: number) => waitFor(async () => opsPosts().length >= count)

  /** Links a Slack user to an account (the owner's, or a new operator's) with /switchboard link <code>. */
  async function link(user: string, role: 'owner' | 'operator') {
    let token = b.org.token
    if (role === 'operator') {
      const email = `olga-slack@example.com`
      const account = await b.t.app.store.users.create({ email, name: 'Olga', passwordHash: await hashPassword('operator password 1') })
      await b.t.app.store.users.addMembership({ organizationId: b.org.organizationId, userId: account.id, role: 'operator' })
      token = (await api(b.t, '/api/v1/auth/login', { body: { email, password: 'operator password 1' } })).json.token
    }
    const code = (await api(b.t, '/api/v1/channel-admins/link-codes', { token, body: {} })).json.code
    await sender().command(commandFields({ user, channel: `D${user}`, text: `link ${code}`, responseUrl: slack.responseUrl(`link-${user}`) }))
    await waitFor(async () => slack.responsesTo(`link-${user}`).length >= 1)
    return JSON.stringify(slack.responsesTo(`link-${user}`)[0])
  }

  beforeAll(async () => {
    slack = await startFakeSlack()
    slack.addWorkspace(WORKSPACE)
    b = await startTelegramTestBed({ name: 'Acme', bot: BOT, docs: [TELEGRAM_DOC, BILLING_DOC], env: { SLACK_API_URL: slack.url, HANDOFF_TIMEOUT_MS: '600000', PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 2, chunks: 500, channels: 5 } } }) } })
    const res = await api(b.t, `/api/v1/agents/${b.org.agentId}/channels/slack`, { token: b.org.token, body: { botToken: WORKSPACE.botToken, signingSecret: SIGNING_SECRET } })
    expect(res.status).toBe(201)
    slackInboxId = res.json.inbox.inboxId
  })
  afterAll(async () => {
    await b?.close()
    await slack?.close()
  })

  it('an admin makes a Slack channel the desk, and the Telegram bot’s handoffs are routed there', async () => {
    expect(await link(ADMIN, 'owner')).toMatch(/linked as an admin/i)
    expect(await link(OLGA, 'operator')).toMatch(/linked as an operator/i)

    // Routing to a desk with no channel chosen yet is refused, with the reason.
    const early = await api(b.t, `/api/v1/channels/${b.inboxId}/desk`, { method: 'PUT', token: b.org.token, body: { deskInboxId: slackInboxId } })
    expect(early.status).toBe(422)
    expect(early.json.error.message).toMatch(/operators here/)

    // Only an admin chooses the channel.
    await sender().command(commandFields({ user: OLGA, channel: OPS, text: 'operators here', responseUrl: slack.responseUrl('olga-here') }))
    await waitFor(async () => slack.responsesTo('olga-here').length >= 1)
    expect(JSON.stringify(slack.responsesTo('olga-here')[0])).toMatch(/Only a linked admin/)
    await sender().command(commandFields({ user: ADMIN, channel: OPS, text: 'operators here', responseUrl: slack.responseUrl('admin-here') }))
    await waitFor(async () => slack.responsesTo('admin-here').length >= 1)
    expect(JSON.stringify(slack.responsesTo('admin-here')[0])).toMatch(/now receives/)

    const routed = await api(b.t, `/api/v1/channels/${b.inboxId}/desk`, { method: 'PUT', token: b.org.token, body: { deskInboxId: slackInboxId } })
    expect(routed).toMatchObject({ status: 200, json: { inboxId: b.inboxId, deskInboxId: slackInboxId } })
    const list = (await api(b.t, '/api/v1/channels', { token: b.org.token })).json.channels as { inboxId: string; kind: string; deskInboxId: string | null; desk: { ready: boolean; place: string | null } | null }[]
    expect(list.find((c) => c.inboxId === b.inboxId)).toMatchObject({ deskInboxId: slackInboxId })
    expect(list.find((c) => c.inboxId === slackInboxId)).toMatchObject({ desk: { ready: true, place: OPS } })
    expect(list.find((c) => c.kind === 'webchat')).toMatchObject({ desk: null })
  })

  it('the whole loop: announcement with transcript and Take, reply in the thread reaches Telegram, relay, release', async () => {
    await b.deliver(updates.text({ chatId: CUSTOMER, text: 'How do I connect a Telegram bot?' }))
    await b.waitForSent(CUSTOMER, 1)
    await b.deliver(updates.callback({ chatId: CUSTOMER, data: 'handoff', messageId: 5, botId: BOT.id, botUsername: BOT.username }))
    await b.waitForSent(CUSTOMER, 2)
    expect(b.texts(CUSTOMER)[1]).toMatch(/asked a person from our team/)

    await waitForOps(1)
    const announcement = opsPosts()[0]!
    const blocks = JSON.stringify(announcement.payload.blocks)
    expect(blocks).toContain('A customer wants a person')
    expect(blocks).toContain('How do I connect a Telegram bot?')
    expect(blocks).toContain('@acme_shop_bot (telegram)')
    expect(blocks).toContain('"action_id":"op:take"')
    const rootTs = String(announcement.response!.ts)
    const conversation = (await b.t.app.store.conversations.findByThread(b.inboxId, String(CUSTOMER)))!
    // Nothing of the handoff reaches the Telegram bot's own (unset) group.
    expect(b.tg.callsOf('sendMessage').filter((c) => Number(c.payload.chat_id) < 0)).toHaveLength(0)

    // Someone not linked cannot take it: told privately.
    const press = (user: string, actionId: string) => buttonPress({ user, actionId, value: conversation.id, channel: OPS, messageTs: rootTs, blocks: announcement.payload.blocks as unknown[], responseUrl: slack.responseUrl(`press-${user}-${actionId}`, 'actions') })
    await sender().interaction(press('U0STRANGER', 'op:take'))
    await waitFor(async () => slack.responsesTo('press-U0STRANGER-op:take').length >= 1)
    expect(JSON.stringify(slack.responsesTo('press-U0STRANGER-op:take')[0])).toMatch(/Link your Slack account first/)
    expect((await b.t.app.store.handoffs.current(b.org.organizationId, conversation.id))!.status).toBe('open')

    // Olga takes it: the announcement's button becomes "Back to bot", and the thread says who has it.
    await sender().interaction(press(OLGA, 'op:take'))
    await waitFor(async () => (await b.t.app.store.handoffs.current(b.org.organizationId, conversation.id))?.status === 'taken')
    await waitFor(async () => slack.callsOf('chat.update').length >= 1)
    const updated = slack.callsOf('chat.update').at(-1)!
    expect(updated.payload).toMatchObject({ channel: OPS, ts: rootTs })
    expect(JSON.stringify(updated.payload.blocks)).toContain('"action_id":"op:release"')
    expect(JSON.stringify(updated.payload.blocks)).toContain('How do I connect a Telegram bot?')
    await waitForOps(2)
    expect(opsPosts()[1]!.payload).toMatchObject({ thread_ts: rootTs })
    expect(String(opsPosts()[1]!.payload.text)).toMatch(/took conversation/)

    // Her reply in the thread reaches the customer in Telegram, as the business; a tick confirms it.
    const reply = channelEvent({ user: OLGA, channel: OPS, threadTs: rootTs, text: 'Hi, this is Olga from Acme. Let me help.' })
    await sender().event(reply)
    await b.waitForSent(CUSTOMER, 3)
    expect(b.texts(CUSTOMER)[2]).toBe('Hi, this is Olga from Acme. Let me help.')
    await waitFor(async () => slack.callsOf('reactions.add').some((c: SlackCall) => c.payload.timestamp === (reply.event as { ts: string }).ts))
    // Chatter in the channel outside a handoff thread reaches nobody.
    await sender().event(channelEvent({ user: OLGA, channel: OPS, text: 'brb, coffee' }))

    // The customer writes again: the bot stays silent, the thread shows it.
    await b.deliver(updates.text({ chatId: CUSTOMER, text: 'Thanks, and the webhook?' }))
    await waitFor(async () => opsPosts().some((p) => String(p.payload.text).includes('Thanks, and the webhook?')))
    const relay = opsPosts().find((p) => String(p.payload.text).includes('Thanks, and the webhook?'))!
    expect(relay.payload.thread_ts).toBe(rootTs)
    expect(b.tg.sentTo(CUSTOMER)).toHaveLength(3)

    // /switchboard release in the channel hands back the one conversation she holds.
    await sender().command(commandFields({ user: OLGA, channel: OPS, text: 'release', responseUrl: slack.responseUrl('release') }))
    await waitFor(async () => slack.responsesTo('release').length >= 1)
    expect(JSON.stringify(slack.responsesTo('release')[0])).toMatch(/back with the bot/)
    expect((await b.t.app.store.conversations.get(b.org.organizationId, conversation.id))!.state).toBe('bot')
    await waitFor(async () => opsPosts().some((p) => /handed conversation .* back to the bot/.test(String(p.payload.text))))
    // A second release: she holds nothing now.
    await sender().command(commandFields({ user: OLGA, channel: OPS, text: 'release', responseUrl: slack.responseUrl('release-2') }))
    await waitFor(async () => slack.responsesTo('release-2').length >= 1)
    expect(JSON.stringify(slack.responsesTo('release-2')[0])).toMatch(/hold no conversation/)

    // The bot answers the customer again.
    await b.waitForSent(CUSTOMER, 4)
    expect(b.texts(CUSTOMER)[3]).toMatch(/handed the conversation back to me/)
    await b.deliver(updates.text({ chatId: CUSTOMER, text: 'How much is the plan?' }))
    await b.waitForSent(CUSTOMER, 5)
    expect(await b.t.app.store.messages.history(b.org.organizationId, conversation.id, { limit: 50 })).toEqual(expect.arrayContaining([expect.objectContaining({ author: 'operator', text: 'Hi, this is Olga from Acme. Let me help.', status: 'sent' })]))
  })

  it('another organization cannot route its handoffs to this desk, nor take this desk’s conversations', async () => {
    const other = await createOrg(b.t, { name: 'Globex' })
    const otherInbox = (await b.t.app.store.inboxes.listByOrganization(other.organizationId)).find((i) => i.purpose === 'customers')!
    const res = await api(b.t, `/api/v1/channels/${otherInbox.id}/desk`, { method: 'PUT', token: other.token, body: { deskInboxId: slackInboxId } })
    expect(res.status).toBe(422)
    expect((await b.t.app.store.inboxes.get(otherInbox.id))!.deskInboxId).toBeNull()
    // The web chat has no desk of its own to be chosen.
    const ours = (await b.t.app.store.inboxes.listByOrganization(b.org.organizationId)).find((i) => i.channel === 'webchat' && i.purpose === 'customers')!
    expect((await api(b.t, `/api/v1/channels/${b.inboxId}/desk`, { method: 'PUT', token: b.org.token, body: { deskInboxId: ours.id } })).status).toBe(422)
    // A Take button naming another organization's conversation does nothing.
    await b.t.app.agents.createFor(other.organizationId, { name: 'x' }).catch(() => undefined)
    const foreign = await b.t.app.store.conversations.resolve({ inbox: otherInbox, externalThreadId: 'visitor-1', externalUserId: 'visitor-1' })
    await sender().interaction(buttonPress({ user: OLGA, actionId: 'op:take', value: foreign.id, channel: OPS, messageTs: '1.000001', responseUrl: slack.responseUrl('foreign', 'actions') }))
    await waitFor(async () => slack.responsesTo('foreign').length >= 1)
    expect(JSON.stringify(slack.responsesTo('foreign')[0])).toMatch(/not handed to this channel/)
    // Back to its own desk: null.
    expect((await api(b.t, `/api/v1/channels/${b.inboxId}/desk`, { method: 'PUT', token: b.org.token, body: { deskInboxId: null } })).json).toMatchObject({ deskInboxId: null })
  })
})
