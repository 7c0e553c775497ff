import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'
import { api, createOrg, waitFor, type TestOrg } from '../support/test-app.ts'

const BOT = { token: '7000000051:AAH-setup-bot-token-for-tests-abcdef', id: 7000000051, username: 'harbour_setup_bot', first_name: 'Harbour' }
const ADMIN_CHAT = 9501
const SECOND_ADMIN_CHAT = 9502

const RETURNS = `# Returns policy

## Refunds

Customers can return any item within 30 days of delivery for a full refund. Send the parcel to 12 Harbour Street with the order number inside.
`

/**
 * The first-run setup through its API and through Telegram (the fake Bot API of
 * tests/support/fake-telegram.ts): the state is the organization's own; the first admin linked to
 * the bot of an organization that has not set up is walked through naming the agent, sending a
 * document and asking a test question, and the admin web's wizard sees the same steps done.
 */
describe('first-run setup', () => {
  let b: TelegramTestBed
  let other: TestOrg

  beforeAll(async () => {
    // An organization with an agent and its bot, and no knowledge at all.
    b = await startTelegramTestBed({ name: 'Harbour', bot: BOT, docs: [] })
    other = await createOrg(b.t, { name: 'Other setup' })
  }, 120_000)
  afterAll(async () => {
    await b?.close()
  })

  const say = async (chatId: number, text: string) => {
    const before = b.tg.sentTo(chatId).length
    await b.deliver(updates.text({ chatId, userId: chatId, text }))
    await b.waitForSent(chatId, before + 1)
    return b.texts(chatId).slice(before).join('\n---\n')
  }
  const linkCode = async (token: string) => (await api(b.t, '/api/v1/channel-admins/link-codes', { token, body: {} })).json.code as string
  const view = async (org: TestOrg) => (await api(b.t, '/api/v1/onboarding', { token: org.token })).json.onboarding

  it('the API: a step needs the agent; skip and resume; each organization sees only its own', async () => {
    // An organization that already has an agent and has not started is not sent to the setup.
    expect(await view(other)).toMatchObject({ show: false, completed: false, current: 'agent', agent: null })
    const early = await api(b.t, '/api/v1/onboarding/steps/test', { token: other.token, method: 'PUT', body: { status: 'done' } })
    expect(early.status).toBe(409)
    expect(early.json.error.code).toBe('onboarding_no_agent')
    expect((await api(b.t, '/api/v1/onboarding/steps/billing', { token: other.token, method: 'PUT', body: { status: 'done' } })).status).toBe(404)

    // Without an agent the setup is offered (the plan of a new organization allows one agent).
    expect((await api(b.t, `/api/v1/agents/${other.agentId}`, { token: other.token, method: 'DELETE' })).status).toBe(204)
    expect(await view(other)).toMatchObject({ show: true, current: 'agent', agent: null })
    const named = await api(b.t, '/api/v1/onboarding/agent', { token: other.token, body: { name: 'Other helper' } })
    expect(named.status).toBe(200)
    expect(named.json.onboarding).toMatchObject({ show: true, current: 'knowledge', steps: { agent: 'done' }, agent: { name: 'Other helper' } })
    expect(named.json.onboarding.agent.webchatKey).toMatch(/\w{10,}/)
    // Naming again renames the same agent.
    const renamed = await api(b.t, '/api/v1/onboarding/agent', { token: other.token, body: { name: 'Other concierge' } })
    expect(renamed.json.agent.id).toBe(named.json.agent.id)
    expect((await b.t.app.store.agents.list(other.organizationId)).map((a) => a.name).sort()).toEqual(['Other concierge'])

    const skipped = await api(b.t, '/api/v1/onboarding/dismissed', { token: other.token, method: 'PUT', body: { dismissed: true } })
    expect(skipped.json.onboarding).toMatchObject({ show: false, dismissed: true })
    const resumed = await api(b.t, '/api/v1/onboarding/dismissed', { token: other.token, method: 'PUT', body: { dismissed: false } })
    expect(resumed.json.onboarding).toMatchObject({ show: true, dismissed: false, current: 'knowledge', steps: { agent: 'done' } })

    // Another organization's setup is untouched by all this.
    expect(await view(b.org)).toMatchObject({ steps: { agent: 'pending', knowledge: 'pending', test: 'pending', channel: 'pending' }, agent: null })
  })

  it('Telegram: the first linked admin is walked through naming, a document and a test question', { timeout: 120_000 }, async () => {
    const linked = await say(ADMIN_CHAT, `/start ${await linkCode(b.org.token)}`)
    expect(linked).toContain('You are linked as an admin of this workspace.')
    expect(linked).toContain('Step 1 of 3: what should your agent be called?')

    // A name that is too long is refused with the reason, and the question stands.
    expect(await say(ADMIN_CHAT, 'x'.repeat(130))).toMatch(/^Not changed: at most 120 characters\. .*Step 1 of 3/s)
    const named = await say(ADMIN_CHAT, 'Harbour helper')
    expect(named).toContain('Your agent is called "Harbour helper".')
    expect(named).toContain('Step 2 of 3: send me a document')
    expect((await b.t.app.store.agents.get(b.org.organizationId, b.org.agentId))!.name).toBe('Harbour helper')

    // Plain text is not knowledge: the bot asks again.
    expect(await say(ADMIN_CHAT, 'what now?')).toContain('Step 2 of 3')
    const bytes = Buffer.from(RETURNS)
    b.tg.addFile('doc-returns', 'documents/returns.md', bytes)
    const before = b.tg.sentTo(ADMIN_CHAT).length
    await b.deliver(updates.document({ chatId: ADMIN_CHAT, fileId: 'doc-returns', fileName: 'returns.md', mimeType: 'text/markdown', size: bytes.length }))
    await b.waitForSent(ADMIN_CHAT, before + 2)
    const [progress, nextStep] = b.texts(ADMIN_CHAT).slice(before)
    expect(progress).toMatch(/Adding "returns\.md" to "Harbour helper"/)
    expect(nextStep).toContain('Step 3 of 3: ask me a question as a customer would')
    await waitFor(async () => (await b.t.app.store.knowledge.listSources(b.org.organizationId)).some((s) => s.status === 'ready'))
    await waitFor(async () => b.tg.callsOf('editMessageText').some((c) => String(c.payload.text).includes('is in the knowledge of "Harbour helper"')))
    const [source] = await b.t.app.store.knowledge.listSources(b.org.organizationId)
    expect(source).toMatchObject({ agentId: b.org.agentId, status: 'ready' })

    const answered = await say(ADMIN_CHAT, 'How many days do I have to return an item?')
    expect(answered).toContain('30 days')
    expect(answered).toContain('Returns policy')
    expect(answered).toContain('Setup is done: "Harbour helper" answers your customers here')

    // The admin web's wizard sees the same setup, finished.
    expect(await view(b.org)).toMatchObject({ completed: true, show: false, steps: { agent: 'done', knowledge: 'done', test: 'done', channel: 'done' }, agent: { id: b.org.agentId, name: 'Harbour helper' } })
    // After the setup, messages are the admin's usual ones again: a question is the agent's, not a setup answer.
    expect(await say(ADMIN_CHAT, '/setup')).toContain('Setup is finished already.')
  })

  it('a second admin linked afterwards is not walked through it', async () => {
    const reply = await say(SECOND_ADMIN_CHAT, `/start ${await linkCode(b.org.token)}`)
    expect(reply).toContain('Your commands act on the agent "Harbour helper"')
    expect(reply).not.toContain('Step 1 of 3')
  })
})
