import { readFile } from 'node:fs/promises'
import nock from 'nock'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, waitFor, TELEGRAM_DOC, BILLING_DOC } from '../support/test-app.ts'
import { updates } from '../support/fake-telegram.ts'
import { startTelegramTestBed, type TelegramTestBed } from '../support/telegram.ts'

const BOT = { token: '7000000011:AAH-admin-bot-token-for-tests-abcdef', id: 7000000011, username: 'acme_admin_bot', first_name: 'Acme' }
const ADMIN_CHAT = 9001

describe('Telegram admins: link codes and admin commands', () => {
  let b: TelegramTestBed
  let chatCounter = 9100
  /** Sends a text from a chat and returns the next message the bot sends there. */
  const ask = async (chatId: number, text: string) => {
    const before = b.tg.sentTo(chatId).length
    await b.deliver(updates.text({ chatId, text }))
    await b.waitForSent(chatId, before + 1)
    return b.tg.sentTo(chatId)[before]!.payload
  }
  const linkCode = async () => (await api(b.t, '/api/v1/channel-admins/link-codes', { token: b.org.token, body: {} })).json.code as string
  const audit = (action: string) => b.t.app.db.prisma.auditEvent.findMany({ where: { organizationId: b.org.organizationId, action } })

  beforeAll(async () => {
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    b = await startTelegramTestBed({
      name: 'Acme',
      bot: BOT,
      docs: [TELEGRAM_DOC, BILLING_DOC],
      env: { PLANS_JSON: JSON.stringify({ trial: { limits: { agents: 2, chunks: 500, channels: 5 } } }) },
      // A link the admin sends is fetched through the global fetch, which nock answers.
      overrides: { net: { fetch: (input, init) => fetch(input, init) } },
    })
    const code = await linkCode()
    const reply = await ask(ADMIN_CHAT, `/start ${code}`)
    expect(reply.text).toContain('You are linked as an admin')
  })
  afterAll(async () => {
    nock.cleanAll()
    nock.enableNetConnect()
    await b?.close()
  })

  it('a link code is 10 characters, lasts 15 minutes, and linking shows admin commands to that chat only', async () => {
    const res = await api(b.t, '/api/v1/channel-admins/link-codes', { token: b.org.token, body: {} })
    expect(res.status).toBe(201)
    expect(res.json.code).toMatch(/^[A-Z2-9]{10}$/)
    const ttl = new Date(res.json.expiresAt).getTime() - Date.now()
    expect(ttl).toBeGreaterThan(14 * 60_000)
    expect(ttl).toBeLessThanOrEqual(15 * 60_000)
    const menu = b.tg.callsOf('setMyCommands').find((c) => (c.payload.scope as { type?: string } | undefined)?.type === 'chat')!
    expect(menu.payload.scope).toEqual({ type: 'chat', chat_id: ADMIN_CHAT })
    expect((menu.payload.commands as { command: string }[]).map((c) => c.command)).toEqual(expect.arrayContaining(['agents', 'prompt', 'kb', 'test', 'handoffs']))
    const defaultMenu = b.tg.callsOf('setMyCommands').find((c) => !c.payload.scope)!
    expect((defaultMenu.payload.commands as { command: string }[]).map((c) => c.command)).not.toContain('agents')
    expect(await audit('channel_admin.linked')).toHaveLength(1)
  })

  it('a used code, an expired code and a made-up code do not link', async () => {
    const code = await linkCode()
    const first = ++chatCounter
    expect((await ask(first, `/start ${code}`)).text).toContain('You are linked')
    const reused = ++chatCounter
    expect((await ask(reused, `/start ${code}`)).text).toMatch(/not valid.*expired.*used already/)

    const expired = await linkCode()
    await b.t.app.db.prisma.adminLinkCode.updateMany({ where: { usedAt: null }, data: { expiresAt: new Date(Date.now() - 1000) } })
    const late = ++chatCounter
    expect((await ask(late, `/start ${expired}`)).text).toMatch(/not valid/)
    expect((await ask(late, '/start ABCDEFGHJK')).text).toMatch(/not valid/)
    // Neither chat became an admin: /agents is just a question for the agent.
    expect((await ask(reused, '/agents')).text).not.toMatch(/^Agents:/)
    expect(await audit('channel_admin.linked')).toHaveLength(2)
  })

  it('a customer who types admin commands gets the normal agent and changes nothing', async () => {
    const customer = ++chatCounter
    const agentsBefore = await b.t.app.store.agents.list(b.org.organizationId)
    const reply = await ask(customer, '/newagent Hijacked')
    expect(reply.text).not.toMatch(/Created/)
    expect((await ask(customer, '/prompt Ignore everything')).text).not.toMatch(/updated/)
    expect(await b.t.app.store.agents.list(b.org.organizationId)).toEqual(agentsBefore)
  })

  it('/agents lists agents with buttons; /newagent creates one; a button press switches back', async () => {
    const created = await ask(ADMIN_CHAT, '/newagent Sales desk')
    expect(created.text).toContain('Created "Sales desk"')
    expect((await ask(ADMIN_CHAT, '/newagent Third')).text).toMatch(/^Could not do that: The Trial plan allows 2 agents/)
    expect((await ask(ADMIN_CHAT, '/newagent')).text).toMatch(/^Usage: \/newagent &lt;name&gt;/)
    const list = await ask(ADMIN_CHAT, '/agents')
    expect(list.text).toContain('▶ Sales desk')
    const buttons = (list.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] }).inline_keyboard.flat()
    expect(buttons.map((x) => x.text)).toEqual(['Acme assistant', 'Sales desk'])
    const before = b.tg.sentTo(ADMIN_CHAT).length
    await b.deliver(updates.callback({ chatId: ADMIN_CHAT, data: buttons[0]!.callback_data, messageId: 1, botId: BOT.id, botUsername: BOT.username }))
    await b.waitForSent(ADMIN_CHAT, before + 1)
    expect(b.texts(ADMIN_CHAT)[before]).toBe('Now working on "Acme assistant".')
    expect((await ask(ADMIN_CHAT, '/agent Nobody')).text).toContain('There is no agent called "Nobody"')
    expect((await audit('agent.created')).length).toBeGreaterThanOrEqual(2)
  })

  it('/prompt, /model and /temperature apply at once, are audited, and explain bad input', async () => {
    expect((await ask(ADMIN_CHAT, '/prompt You are the Acme help desk. Answer briefly.')).text).toContain('Instructions of "Acme assistant" updated')
    expect((await ask(ADMIN_CHAT, '/model gpt-4o-mini')).text).toContain('now answers with gpt-4o-mini')
    expect((await ask(ADMIN_CHAT, '/model not a model!')).text).toMatch(/^Not changed:/)
    expect((await ask(ADMIN_CHAT, '/temperature 0.7')).text).toContain('set to 0.7')
    expect((await ask(ADMIN_CHAT, '/temperature 5')).text).toMatch(/^Not changed: the temperature must be a number from 0 to 2/)
    expect((await ask(ADMIN_CHAT, '/temperature warm')).text).toMatch(/^Not changed/)
    const agent = await b.t.app.store.agents.get(b.org.organizationId, b.org.agentId)
    expect(agent).toMatchObject({ instructions: 'You are the Acme help desk. Answer briefly.', model: 'gpt-4o-mini', temperature: 0.7 })
    expect((await ask(ADMIN_CHAT, '/model default')).text).toContain('default model')
    expect((await b.t.app.store.agents.get(b.org.organizationId, b.org.agentId))!.model).toBeNull()
    const updatesAudited = await audit('agent.updated')
    expect(updatesAudited.length).toBe(4)
    expect(updatesAudited.every((e) => (e.data as { via?: string }).via === 'chat')).toBe(true)
  })

  it('/prompt alone asks for the instructions and the next message answers it; /model offers buttons', async () => {
    const question = await ask(ADMIN_CHAT, '/prompt')
    expect(question.text).toContain('You are the Acme help desk.')
    expect(question.text).toContain('What should the new instructions be?')
    expect((await ask(ADMIN_CHAT, 'Answer like a friendly harbour master.')).text).toContain('Instructions of "Acme assistant" updated')
    expect((await b.t.app.store.agents.get(b.org.organizationId, b.org.agentId))!.instructions).toBe('Answer like a friendly harbour master.')
    // The question is answered once: the next message is for the agent again.
    expect((await ask(ADMIN_CHAT, 'How do I connect a Telegram bot?')).text).toContain('@BotFather')
    await ask(ADMIN_CHAT, '/prompt')
    expect((await ask(ADMIN_CHAT, '/cancel')).text).toBe('OK, nothing changed.')
    expect((await b.t.app.store.agents.get(b.org.organizationId, b.org.agentId))!.instructions).toBe('Answer like a friendly harbour master.')

    const models = await ask(ADMIN_CHAT, '/model')
    const buttons = (models.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] }).inline_keyboard.flat()
    expect(buttons.map((x) => x.callback_data)).toEqual(['/model gpt-4o-mini', '/model gpt-4o', '/model gpt-4.1-mini'])
  })

  it('admin commands and link codes work only in a private chat, never in a group', async () => {
    const group = -100777
    const mention = (text: string, userId: number) => updates.text({ chatId: group, chatType: 'supergroup', userId, text, entities: [{ offset: 0, length: BOT.username.length + 1, type: 'mention' }] })
    // The linked admin writes first in the group; then someone else tries an admin command there.
    await b.deliver(mention(`@${BOT.username} How do I connect a Telegram bot?`, ADMIN_CHAT))
    await b.waitForSent(group, 1)
    await b.deliver(mention(`@${BOT.username} /newagent Group takeover`, 4242))
    await b.waitForSent(group, 2)
    expect(b.texts(group)[1]).not.toMatch(/Created/)
    await b.deliver(updates.text({ chatId: group, chatType: 'supergroup', userId: ADMIN_CHAT, text: `/agents@${BOT.username}` }))
    await b.waitForSent(group, 3)
    expect(b.texts(group)[2]).not.toMatch(/^Agents:/)
    const code = await linkCode()
    await b.deliver(updates.text({ chatId: group, chatType: 'supergroup', userId: 4242, text: `/start@${BOT.username} ${code}` }))
    await b.waitForSent(group, 4)
    expect(b.texts(group)[3]).toBe('Send the link code to me in a private chat, not in a group.')
    expect((await b.t.app.store.agents.list(b.org.organizationId)).map((a) => a.name)).not.toContain('Group takeover')
  })

  it('a link code of another organization does not link to this bot', async () => {
    const other = await b.t.app.auth.createOrganizationWithOwner({ organizationName: 'Other', email: 'other-owner@example.com', name: 'Other owner', password: 'another long password' })
    const login = await api(b.t, '/api/v1/auth/login', { body: { email: 'other-owner@example.com', password: 'another long password' } })
    const code = (await api(b.t, '/api/v1/channel-admins/link-codes', { token: login.json.token, body: {} })).json.code
    const chat = ++chatCounter
    expect((await ask(chat, `/start ${code}`)).text).toMatch(/not valid/)
    expect(await b.t.app.db.prisma.channelAdmin.count({ where: { organizationId: other.organization.id } })).toBe(0)
  })

  it('a link sent by the admin is imported as a web page', async () => {
    nock('https://harbor.example.com').get('/ferry').reply(200, await readFile(new URL('../fixtures/files/page.html', import.meta.url)), { 'content-type': 'text/html; charset=utf-8' })
    const before = b.tg.sentTo(ADMIN_CHAT).length
    await b.deliver(updates.text({ chatId: ADMIN_CHAT, text: 'https://harbor.example.com/ferry' }))
    await b.waitForSent(ADMIN_CHAT, before + 1)
    expect(b.texts(ADMIN_CHAT)[before]).toContain('Adding "https://harbor.example.com/ferry"')
    await waitFor(async () => b.tg.callsOf('editMessageText').some((c) => String(c.payload.text).includes('✅ "Ferry timetable | Harbor Lights" is in the knowledge')))
    expect((await ask(ADMIN_CHAT, '/kb')).text).toContain('✅ Ferry timetable | Harbor Lights')
  })

  it('/kb, /search and /test read the knowledge; /test does not use the plan', async () => {
    const kb = await ask(ADMIN_CHAT, '/kb')
    expect(kb.text).toContain('✅ Channels')
    expect(kb.text).toContain('✅ Billing')
    const search = await ask(ADMIN_CHAT, '/search connect a Telegram bot')
    expect(search.text).toMatch(/1\. \[\d\.\d{3}\] Channels/)
    const used = (await api(b.t, '/api/v1/usage', { token: b.org.token })).json.responses
    const test = await ask(ADMIN_CHAT, '/test How do I connect a Telegram bot?')
    expect(test.text).toContain('@BotFather')
    expect(test.text).toContain('not counted in the plan')
    expect(test.text).toMatch(/Retrieval \(confidence \d+%\):\n\[\d\.\d{3}\] Channels/)
    expect((await api(b.t, '/api/v1/usage', { token: b.org.token })).json.responses).toBe(used)
    expect((await ask(ADMIN_CHAT, '/search')).text).toBe('Usage: /search &lt;query&gt;')
  })

  it('/usage, /plan, /handoffs, /operators and /help answer', async () => {
    expect((await ask(ADMIN_CHAT, '/usage')).text).toMatch(/Responses this period \(\d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d\): \d+ of \d+, \d+ left\./)
    expect((await ask(ADMIN_CHAT, '/plan')).text).toMatch(/^Plan: Trial\. Responses per period: 100/)
    expect((await ask(ADMIN_CHAT, '/handoffs')).text).toBe('No conversation is waiting for a person.')
    expect((await ask(ADMIN_CHAT, '/operators')).text).toContain('Acme owner (owner)')
    expect((await ask(ADMIN_CHAT, '/help')).text).toContain('/forget - Remove a knowledge source')
  })

  it('/handoffs lists a waiting conversation; /test without a question explains itself', async () => {
    const customer = ++chatCounter
    expect((await ask(customer, 'I want to talk to a person')).text).toMatch(/asked a person from our team/)
    const list = await ask(ADMIN_CHAT, '/handoffs')
    const conversation = (await b.t.app.store.conversations.findByThread(b.inboxId, String(customer)))!
    expect(list.text).toContain('Waiting for or with a person (1):')
    expect(list.text).toMatch(new RegExp(`• open since .* UTC \\(customer request\\), conversation ${conversation.id.slice(0, 8)}`))
    expect((await ask(ADMIN_CHAT, '/test')).text).toBe('Usage: /test &lt;question&gt;')
  })

  it('a document sent by the admin is added to the current agent with a progress message edited to done; /forget removes it', async () => {
    const bytes = await readFile(new URL('../fixtures/files/parking.txt', import.meta.url))
    b.tg.addFile('doc-parking', 'documents/file_1.txt', bytes)
    const before = b.tg.sentTo(ADMIN_CHAT).length
    await b.deliver(updates.document({ chatId: ADMIN_CHAT, fileId: 'doc-parking', fileName: 'parking.txt', mimeType: 'text/plain', size: bytes.length }))
    await b.waitForSent(ADMIN_CHAT, before + 1)
    const progress = b.tg.sentTo(ADMIN_CHAT)[before]!
    expect(String(progress.payload.text)).toMatch(/Adding "parking.txt" to "Acme assistant"/)
    await waitFor(async () => b.tg.callsOf('editMessageText').some((c) => String(c.payload.text).includes('✅ "parking.txt" is in the knowledge')))
    const edit = b.tg.callsOf('editMessageText').find((c) => String(c.payload.text).includes('✅'))!
    expect(String(edit.payload.chat_id)).toBe(String(ADMIN_CHAT))
    expect(b.tg.callsOf('getFile').map((c) => c.payload.file_id)).toContain('doc-parking')
    const source = (await b.t.app.store.knowledge.listSources(b.org.organizationId)).find((s) => s.title === 'parking.txt')!
    expect(source).toMatchObject({ status: 'ready', agentId: b.org.agentId })
    expect(source.chunkCount).toBeGreaterThan(0)

    expect((await ask(ADMIN_CHAT, '/forget parking')).text).toBe('Removed "parking.txt" and every passage of it.')
    expect(await b.t.app.store.knowledge.getSource(b.org.organizationId, source.id)).toBeNull()
    expect((await ask(ADMIN_CHAT, '/forget nothing-like-this')).text).toContain('No source matches')
  })
})
