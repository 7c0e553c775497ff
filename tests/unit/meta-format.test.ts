import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { INSTAGRAM_TEXT_LIMIT, markdownToPlain, MESSENGER_TEXT_LIMIT, QUICK_REPLY_LIMIT, QUICK_REPLY_TITLE_LIMIT, splitText, toMetaMessages, utf8Length } from '../../adapters/meta/format.ts'

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

describe('markdownToPlain', () => {
  it('drops emphasis markers and keeps the words', () => {
    expect(markdownToPlain('**Bold**, __bold__, *italic*, _italic_, ***both*** and ~~gone~~')).toBe('Bold, bold, italic, italic, both and gone')
    expect(markdownToPlain('snake_case_name and 2*3*4 stay')).toBe('snake_case_name and 2*3*4 stay')
  })

  it('writes links as "text (url)"', () => {
    expect(markdownToPlain('See [the **docs**](https://example.com/a_b_c) now')).toBe('See the docs (https://example.com/a_b_c) now')
    expect(markdownToPlain('[https://example.com](https://example.com)')).toBe('https://example.com')
    expect(markdownToPlain('Mail [us](mailto:help@example.com) or <https://example.com/x>')).toBe('Mail us (help@example.com) or https://example.com/x')
    expect(markdownToPlain('[click](javascript:alert(1)) and [local](/path)')).toBe('click and local')
    expect(markdownToPlain('Bare https://example.com/_under_score_, then more')).toBe('Bare https://example.com/_under_score_, then more')
  })

  it('turns headings into lines and lists into bullets', () => {
    const md = '# Opening hours\n\nWe are open:\n- Monday\n* Tuesday\n1. First\n2) Second\n- [x] done\n- [ ] todo\n\nTitle\n====='
    expect(markdownToPlain(md)).toBe('Opening hours\n\nWe are open:\n• Monday\n• Tuesday\n1. First\n2. Second\n☑ done\n☐ todo\n\nTitle')
  })

  it('keeps code as written, without fences or backticks', () => {
    expect(markdownToPlain('Run `npm i __x__` then:\n\n```bash\necho **not bold** _x_\n```\ndone')).toBe('Run npm i __x__ then:\n\necho **not bold** _x_\ndone')
  })

  it('writes quotes, rules, tables and escapes readably', () => {
    expect(markdownToPlain('> quoted *text*\n\n---\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n\\*literal\\*')).toBe('│ quoted text\n\n──────────\n\na | b\n1 | 2\n\n*literal*')
  })

  it('drops control characters and collapses blank lines', () => {
    expect(markdownToPlain('a\u0000b\r\n\r\n\r\n\r\nc\u0007')).toBe('ab\n\nc')
  })
})

describe('splitText', () => {
  it('keeps short text whole and gives nothing for blank text', () => {
    expect(splitText('  hello  ', 10)).toEqual(['hello'])
    expect(splitText(' \n ', 10)).toEqual([])
  })

  it('splits at paragraphs, then lines, then words', () => {
    expect(splitText('aaaa bbbb\n\ncccc dddd', 10)).toEqual(['aaaa bbbb', 'cccc dddd'])
    expect(splitText('aaaa\nbbbb\ncccc', 10)).toEqual(['aaaa\nbbbb', 'cccc'])
    expect(splitText('one two three four five', 10)).toEqual(['one two', 'three four', 'five'])
    expect(splitText('abcdefghijklmnop', 5)).toEqual(['abcde', 'fghij', 'klmno', 'p'])
  })

  it('never splits a surrogate pair or an emoji sequence', () => {
    const parts = splitText('😀😀😀😀😀', 3)
    expect(parts).toEqual(['😀', '😀', '😀', '😀', '😀'])
    const family = '👨‍👩‍👧'
    expect(splitText(`${family}${family}`, family.length)).toEqual([family, family])
  })

  it('measures bytes for Instagram', () => {
    const text = 'é'.repeat(600)
    const parts = splitText(text, INSTAGRAM_TEXT_LIMIT, utf8Length)
    expect(parts.map(utf8Length)).toEqual([1000, 200])
    expect(parts.join('')).toBe(text)
  })

  it('always fits the limit, cuts nothing but whitespace and leaves no lone surrogate', () => {
    const unit = fc.constantFrom('a', 'é', '😀', ' ', '\n', '\n\n', 'word', '中文', '👨‍👩‍👧')
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 200 }).map((a) => a.join('')), fc.integer({ min: 4, max: 60 }), fc.boolean(), (text, limit, bytes) => {
        const measure = bytes ? utf8Length : (s: string) => s.length
        const parts = splitText(text, limit, measure)
        for (const part of parts) {
          expect(measure(part)).toBeLessThanOrEqual(limit)
          expect(part).toBe(part.trim())
          expect(part).not.toBe('')
          expect(loneSurrogate.test(part)).toBe(false)
        }
        expect(parts.join('').replace(/\s/g, '')).toBe(text.replace(/\s/g, ''))
      }),
    )
  })
})

describe('toMetaMessages', () => {
  it('sends plain text, split, with the sources as the last line', () => {
    const messages = toMetaMessages({ text: '**Hi**\n\n' + 'word '.repeat(500), sources: [{ title: 'Price list', snippet: '' }, { title: ' Price  list ', snippet: '' }, { title: 'FAQ', snippet: '' }] }, MESSENGER_TEXT_LIMIT)
    expect(messages.length).toBe(2)
    expect(messages[0]!.text.startsWith('Hi')).toBe(true)
    for (const m of messages) expect(m.text.length).toBeLessThanOrEqual(MESSENGER_TEXT_LIMIT)
    expect(messages.at(-1)!.text.endsWith('\n\nSources: Price list · FAQ')).toBe(true)
    expect(messages.some((m) => m.quick_replies)).toBe(false)
  })

  it('puts the sources in a message of their own when the last part is full', () => {
    const messages = toMetaMessages({ text: 'x'.repeat(20), sources: [{ title: 'Guide', snippet: '' }] }, 25)
    expect(messages).toEqual([{ text: 'x'.repeat(20) }, { text: 'Sources: Guide' }])
  })

  it('puts the choices as quick replies on the last message', () => {
    const long = 'p'.repeat(1001)
    const choices = [
      { id: 'handoff', label: 'Talk to a person' },
      { id: 'c2', label: 'A much longer label than twenty characters' },
      { id: long, label: 'Skipped' },
      { id: 'c3', label: '  ' },
      ...Array.from({ length: 20 }, (_, i) => ({ id: `n${i}`, label: `Option ${i}` })),
    ]
    const messages = toMetaMessages({ text: 'one\n\ntwo', choices }, 4)
    expect(messages.map((m) => m.text)).toEqual(['one', 'two'])
    expect(messages[0]!.quick_replies).toBeUndefined()
    const replies = messages[1]!.quick_replies!
    expect(replies).toHaveLength(QUICK_REPLY_LIMIT)
    expect(replies[0]).toEqual({ content_type: 'text', title: 'Talk to a person', payload: 'handoff' })
    expect(replies[1]!.title).toBe('A much longer label…')
    expect(replies[1]!.title.length).toBe(QUICK_REPLY_TITLE_LIMIT)
    expect(replies.some((r) => r.payload === long)).toBe(false)
    expect(replies[2]).toEqual({ content_type: 'text', title: 'c3', payload: 'c3' })
    for (const r of replies) expect(r.title.length).toBeLessThanOrEqual(QUICK_REPLY_TITLE_LIMIT)
  })

  it('gives choices alone their labels as text, and nothing for an empty reply', () => {
    expect(toMetaMessages({ text: '', choices: [{ id: 'a', label: 'Yes' }, { id: 'b', label: 'No' }] }, 100)).toEqual([
      {
        text: 'Yes · No',
        quick_replies: [
          { content_type: 'text', title: 'Yes', payload: 'a' },
          { content_type: 'text', title: 'No', payload: 'b' },
        ],
      },
    ])
    expect(toMetaMessages({ text: '  ', sources: [], choices: [{ id: 'x'.repeat(1001), label: 'too long' }] }, 100)).toEqual([])
  })

  it('counts bytes for Instagram', () => {
    const messages = toMetaMessages({ text: 'ü'.repeat(700), sources: [{ title: 'Doc', snippet: '' }] }, INSTAGRAM_TEXT_LIMIT, utf8Length)
    for (const m of messages) expect(utf8Length(m.text)).toBeLessThanOrEqual(INSTAGRAM_TEXT_LIMIT)
    expect(messages.at(-1)!.text.endsWith('Sources: Doc')).toBe(true)
  })
})
