import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { normalizeUpdate } from '../../adapters/telegram/telegram-channel.ts'
import type { Inbox } from '../../core/ports.ts'

const inbox: Inbox = { id: 'inbox-1', organizationId: 'org-1', agentId: 'agent-1', channel: 'telegram', name: '@acme_help_bot', publicKey: null, settings: { botId: 7000000001, botUsername: 'acme_help_bot', mode: 'webhook' } }
const fixture = async (name: string) => JSON.parse(await readFile(new URL(`../fixtures/telegram/${name}.json`, import.meta.url), 'utf8')) as unknown
const normalize = async (name: string) => normalizeUpdate(await fixture(name), inbox).map(({ raw: _raw, ...m }) => m)

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

  it('the "Talk to a person" button becomes that request, keyed by the callback id', async () => {
    expect((await normalize('callback-query'))[0]).toMatchObject({ externalThreadId: '184467001', externalMessageId: 'cb:792318450293847561', text: 'Talk to a person', privateThread: true })
  })

  it('an edited message gives nothing to answer; a command keeps its @bot suffix for the command parser', async () => {
    expect(await normalize('edited-message')).toEqual([])
    expect((await normalize('bot-command'))[0]!.text).toBe('/start@acme_help_bot K7M2Q9RTXW')
  })

  it('something that is not an update gives nothing', () => {
    expect(normalizeUpdate({ hello: 'world' }, inbox)).toEqual([])
    expect(normalizeUpdate(null, inbox)).toEqual([])
  })
})
