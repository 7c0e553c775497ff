import { describe, expect, it } from 'vitest'
import { AppError } from '../../core/errors.ts'
import { parseMetaWebhook } from '../../adapters/meta/webhook.ts'

const text = (sender: string, mid: string, extra: Record<string, unknown> = {}) => ({
  sender: { id: sender },
  recipient: { id: 'PAGE' },
  timestamp: 1_700_000_000_000,
  message: { mid, text: `hello ${mid}`, ...extra },
})

describe('parseMetaWebhook', () => {
  it('reads every item of every entry in order, standby items marked', () => {
    const { object, items, ignored } = parseMetaWebhook({
      object: 'page',
      entry: [
        { id: 'PAGE', time: 1, messaging: [text('U1', 'm1'), text('U2', 'm2')] },
        { id: 'PAGE', time: 2, messaging: [text('U1', 'm3')], standby: [text('U3', 'm4')] },
        { id: 'PAGE2', time: 3 },
      ],
    })
    expect(object).toBe('page')
    expect(ignored).toBe(0)
    expect(items.map((i) => [i.entryId, i.item.message?.mid, i.standby])).toEqual([
      ['PAGE', 'm1', false],
      ['PAGE', 'm2', false],
      ['PAGE', 'm3', false],
      ['PAGE', 'm4', true],
    ])
  })

  it('keeps the fields it reads and passes the others through', () => {
    const { items } = parseMetaWebhook({
      object: 'instagram',
      entry: [
        {
          id: 'IG',
          time: 1,
          messaging: [
            text('U1', 'm1', { quick_reply: { payload: 'choice-1' }, attachments: [{ type: 'image', payload: { url: 'https://cdn.example/a.jpg' } }, { type: 'fallback', payload: null }], reply_to: { story: { url: 'https://cdn.example/s', id: '99' } }, extra_field: 1 }),
            { sender: { id: 'U1' }, recipient: { id: 'IG' }, timestamp: 2, postback: { mid: 'm2', title: 'Talk to a person', payload: 'handoff' } },
            { sender: { id: 'PAGE' }, recipient: { id: 'U1' }, timestamp: 3, message: { mid: 'm3', text: 'sent by the Page', is_echo: true, app_id: 1517776481860111, metadata: 'switchboard' } },
            { sender: { id: 'U1' }, recipient: { id: 'IG' }, timestamp: 4, read: { mid: 'm3' } },
            { sender: { id: 'U1' }, recipient: { id: 'IG' }, timestamp: 5, message: { mid: 'm1', is_deleted: true } },
          ],
        },
      ],
    })
    const [first, postback, echo, read, deleted] = items.map((i) => i.item)
    expect(first!.message!.quick_reply!.payload).toBe('choice-1')
    expect(first!.message!.attachments![0]!.payload!.url).toBe('https://cdn.example/a.jpg')
    expect(first!.message!.reply_to!.story!.id).toBe('99')
    expect((first!.message as Record<string, unknown>).extra_field).toBe(1)
    expect(postback!.postback).toEqual({ mid: 'm2', title: 'Talk to a person', payload: 'handoff' })
    // A numeric app_id is read as its decimal string.
    expect(echo!.message).toMatchObject({ is_echo: true, app_id: '1517776481860111', metadata: 'switchboard' })
    expect(read!.read).toEqual({ mid: 'm3' })
    expect(deleted!.message!.is_deleted).toBe(true)
  })

  it('returns an unknown object as is', () => {
    expect(parseMetaWebhook({ object: 'whatsapp_business_account', entry: [{ id: '1', time: 1, changes: [] }] })).toEqual({ object: 'whatsapp_business_account', items: [], ignored: 0 })
  })

  it('leaves out and counts the items it cannot read', () => {
    const { items, ignored } = parseMetaWebhook({
      object: 'page',
      entry: [{ id: 'PAGE', time: 1, messaging: [{ recipient: { id: 'PAGE' }, timestamp: 1, optin: { user_ref: 'x' } }, 'junk', text('U1', 'm1'), { sender: { id: 'U1' }, recipient: { id: 'PAGE' }, timestamp: 1, message: { text: 'no mid' } }] }],
    })
    expect(items.map((i) => i.item.message?.mid)).toEqual(['m1'])
    expect(ignored).toBe(3)
  })

  it('refuses a body that is not a Meta webhook with 400', () => {
    for (const body of [null, 'x', [], {}, { object: 'page' }, { entry: [] }, { object: 1, entry: [] }, { object: 'page', entry: {} }, { object: 'page', entry: [{ time: 1 }] }, { object: 'page', entry: [{ id: 'P', time: 1, messaging: {} }] }]) {
      let error: unknown
      try {
        parseMetaWebhook(body)
      } catch (e) {
        error = e
      }
      expect(error, JSON.stringify(body)).toBeInstanceOf(AppError)
      expect((error as AppError).status).toBe(400)
      expect((error as AppError).message).toBe('Not a Meta webhook')
    }
  })
})
