import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { normalizeUpdate } from '../../adapters/telegram/telegram-channel.ts'
import type { ChannelEvent, InboundMessage, Inbox } from '../../core/ports.ts'

const inbox: Inbox = { id: 'inbox-1', organizationId: 'org-1', agentId: 'agent-1', channel: 'telegram', name: '@acme_help_bot', publicKey: null, purpose: 'customers',
  deskInboxId: null, settings: { botId: 7000000001, botUsername: 'acme_help_bot', mode: 'webhook' } }
const fixture = async (name: string) => JSON.parse(await readFile(new URL(`../fixtures/telegram/${name}.json`, import.meta.url), 'utf8')) as unknown
const messagesOf = (events: ChannelEvent[]) => events.map((e) => (e.type === 'message' ? e.message : e)).map((m) => ('raw' in m ? (({ raw: _raw, ...rest }) => rest)(m) : m))
const normalize = async (name: string) => messagesOf(normalizeUpdate(await fixture(name), inbox)) as Omit<InboundMessage, 'raw'>[]

describe('Telegram updates to inbound messages', () => {
  it('a private text: thread and message ids from the chat, the sender named', async () => {
    expect(await normalize('private-text')).toEqual([
      { inboxId: 'inbox-1', externalThreadId: '184467001', externalMessageId: '184467001:412', externalUserId: '184467001', userName: 'Ada Lovelace', privateThread: true, text: 'How do I connect a Telegram bot?', attachments: [], receivedAt: new Date(1764500000 * 1000) },
    ])
  })

  it('groups: a mention (without the @name) and a reply to the bot are for it; other chatter is not', async () => {
    expect((await normalize('group-mention'))[0]).toMatchObject({ externalThreadId: '-1001987654321', externalUserId: '184467002', privateThread: false, text: 'what does the Pro plan include?' })
    expect((await normalize('group-reply'))[0]).toMatchObject({ externalMessageId: '-1001987654321:80', text: 'and the Basic plan?' })
    expect(await normalize('group-plain')).toEqual([])
  })

  it('documents and photos become attachments (the largest photo), with the caption as the text', async () => {
    expect((await normalize('document'))[0]).toMatchObject({ text: 'Is this price list still valid?', attachments: [{ kind: 'document', ref: 'BQACAgIAAxkBAAIBZ2dDocumentFileId', name: 'price-list.pdf', mimeType: 'application/pdf', size: 48213 }] })
    expect((await normalize('photo'))[0]).toMatchObject({ text: 'My router shows this light', attachments: [{ kind: 'image', ref: 'AgACAgIAAxkBAAIBaGdPhotoLarge', size: 73504 }] })
  })

  it('a voice message has no text and an audio attachment', async () => {
    const [m] = await normalize('voice')
    expect(m!.text).toBeUndefined()
    expect(m!.attachments).toEqual([{ kind: 'audio', ref: 'AwACAgIAAxkBAAIBaWdVoiceFileId', mimeType: 'audio/ogg', size: 7421 }])
  })

  it('the "Talk to a person" button becomes that choice, with its label as the text, keyed by the callback id', async () => {
    expect((await normalize('callback-query'))[0]).toMatchObject({ externalThreadId: '184467001', externalMessageId: 'cb:792318450293847561', text: 'Talk to a person', choiceId: 'handoff', privateThread: true })
  })

  it('an edited message gives nothing to answer; a command arrives as data, /start <code> as the command link', async () => {
    expect(await normalize('edited-message')).toEqual([])
    const [command] = await normalize('bot-command')
    expect(command!.command).toEqual({ name: 'link', args: 'K7M2Q9RTXW' })
    const help = normalizeUpdate({ update_id: 1, message: { message_id: 9, date: 1, chat: { id: 5, type: 'private' }, from: { id: 5, first_name: 'Ada' }, text: '/help@acme_help_bot', entities: [{ type: 'bot_command', offset: 0, length: 19 }] } }, inbox)
    expect(help).toMatchObject([{ type: 'message', message: { command: { name: 'help', args: '' } } }])
    // A command for another bot in a group is not for this one.
    const other = { update_id: 2, message: { message_id: 10, date: 1, chat: { id: -100, type: 'supergroup' }, from: { id: 5, first_name: 'Ada' }, text: '/help@other_bot', entities: [{ type: 'bot_command', offset: 0, length: 15 }] } }
    expect(normalizeUpdate(other, inbox)).toEqual([])
  })

  it("in the operators' group: /operatorgroup claims the desk, a reply to the bot's post is an operator's reply, Take is an operator action", () => {
    const desk: Inbox = { ...inbox, settings: { ...inbox.settings, operatorsChatId: '-100900' } }
    const inGroup = (message: Record<string, unknown>) => ({ update_id: 3, message: { message_id: 11, date: 1, chat: { id: -100900, type: 'supergroup' }, from: { id: 77, first_name: 'Olga' }, ...message } })
    expect(normalizeUpdate(inGroup({ text: '/operatorgroup', entities: [{ type: 'bot_command', offset: 0, length: 14 }] }), inbox)).toMatchObject([{ type: 'operator', action: { kind: 'claim_desk', place: '-100900', externalUserId: '77' } }])
    expect(normalizeUpdate(inGroup({ text: 'On it', reply_to_message: { message_id: 5, from: { id: 7000000001, is_bot: true } } }), desk)).toMatchObject([{ type: 'operator', action: { kind: 'reply', postId: '-100900:5', text: 'On it', release: false } }])
    expect(normalizeUpdate(inGroup({ text: 'brb, coffee' }), desk)).toEqual([])
    const take = { update_id: 4, callback_query: { id: '99', from: { id: 77, first_name: 'Olga' }, data: 'op:take:conv-1', message: { message_id: 5, date: 1, chat: { id: -100900, type: 'supergroup' } } } }
    expect(normalizeUpdate(take, desk)).toMatchObject([{ type: 'operator', action: { kind: 'take', conversationId: 'conv-1', reply: { callbackQueryId: '99' } } }])
  })

  it('something that is not an update is refused with 400', () => {
    expect(() => normalizeUpdate({ hello: 'world' }, inbox)).toThrow(/Not a Telegram update/)
    expect(() => normalizeUpdate(null, inbox)).toThrow(/Not a Telegram update/)
  })
})
