import { describe, expect, it } from 'vitest'
import { escapeMrkdwn, markdownToMrkdwn, plainText, SECTION_TEXT_LIMIT, splitMrkdwn, toSlackMessages } from '../../adapters/slack/format.ts'
import { HANDOFF_CHOICE } from '../../core/conversation/steps.ts'

const fenceCount = (s: string) => s.match(/```/g)?.length ?? 0
const wordsOf = (s: string) => s.split(/\s+/).filter(Boolean)

describe('Markdown to Slack mrkdwn', () => {
  it('converts emphasis, code, links, headings, lists, quotes and code blocks', () => {
    const md = [
      '# Prices',
      '**Pro** is *great*, _really_, ~~old~~ and __new__; `npm start` runs it, see [the docs](https://example.com/a?b=1&c=2).',
      '- one',
      '* two',
      '  + nested',
      '1. first',
      '2) second',
      '> quoted **bold**',
      '```js',
      'if (a < b && c > d) go("*x*")',
      '',
      '  indented',
      '```',
    ].join('\n')
    expect(markdownToMrkdwn(md)).toBe(
      [
        '*Prices*',
        '*Pro* is _great_, _really_, ~old~ and *new*; `npm start` runs it, see <https://example.com/a?b=1&amp;c=2|the docs>.',
        '• one',
        '• two',
        '  • nested',
        '1. first',
        '2. second',
        '> quoted *bold*',
        '```',
        'if (a &lt; b &amp;&amp; c &gt; d) go("*x*")',
        '',
        '  indented',
        '```',
      ].join('\n'),
    )
  })

  it('keeps code spans verbatim except for &, < and >', () => {
    expect(markdownToMrkdwn('run `a **b** <c> & [d](https://e.com)` now')).toBe('run `a **b** &lt;c&gt; &amp; [d](https://e.com)` now')
  })

  it('renders bold-italic, bold links, headings with bold inside, task lists, rules and setext headings', () => {
    expect(markdownToMrkdwn('***both*** **see [docs](https://d.com/x)**')).toBe('*_both_* *see <https://d.com/x|docs>*')
    expect(markdownToMrkdwn('## The **big** picture ##')).toBe('*The big picture*')
    expect(markdownToMrkdwn('- [ ] todo\n- [x] done\n---\nTitle\n=====')).toBe('☐ todo\n☑ done\n──────────\n*Title*')
  })

  it('leaves snake_case, lone asterisks and backslash-escaped characters alone', () => {
    expect(markdownToMrkdwn('set max_tokens and 2 * 3 = 6')).toBe('set max_tokens and 2 * 3 = 6')
    expect(markdownToMrkdwn('\\[not a link\\](https://x.com)')).toBe('[not a link](<https://x.com/>)')
  })

  it('links bare URLs itself, without the punctuation around them', () => {
    expect(markdownToMrkdwn('See https://example.com/path. Or (https://e.com/x), <https://auto.com/y>')).toBe(
      'See <https://example.com/path>. Or (<https://e.com/x>), <https://auto.com/y>',
    )
  })
})

describe('escaping', () => {
  it('escapes &, < and > in text', () => {
    expect(escapeMrkdwn('a < b && c > d')).toBe('a &lt; b &amp;&amp; c &gt; d')
    expect(markdownToMrkdwn('Use <b> & "quotes" if x < 3 > 1')).toBe('Use &lt;b&gt; &amp; "quotes" if x &lt; 3 &gt; 1')
  })

  it('never lets the model write a mention, a channel link or a broadcast', () => {
    const out = markdownToMrkdwn('Hey <!channel> <!here> <!everyone> <@U123> <#C123|general> <!subteam^S1> @here @channel @everyone')
    expect(out).not.toMatch(/<[!@#]/)
    expect(out).toContain('&lt;!channel&gt;')
    expect(out).toContain('&lt;@U123&gt;')
    expect(out).not.toMatch(/@(?:here|channel|everyone)/)
    // the neutralised words still read the same
    expect(out.replace(/\u2060/g, '')).toContain('@here @channel @everyone')
    expect(markdownToMrkdwn('write to help@here.com')).toBe('write to help@here.com')
  })

  it('keeps entities the model wrote as text', () => {
    expect(markdownToMrkdwn('&amp; &lt;')).toBe('&amp;amp; &amp;lt;')
  })
})

describe('hostile links', () => {
  it('keeps only the text of links that are not http(s)', () => {
    expect(markdownToMrkdwn('[click](javascript:alert(1)) [me](data:text/html,hi) [rel](/docs) [mail](mailto:a@b.c)')).toBe('click me rel mail')
  })

  it('neutralises | and > in link text and encodes them in the URL', () => {
    const out = markdownToMrkdwn('[a|b>c<d](https://e.com/x|y?q="z")')
    expect(out).toBe('<https://e.com/x%7Cy?q=%22z%22|a¦b&gt;c&lt;d>')
    // exactly one link, whose label cannot end it early
    expect(out.match(/</g)).toHaveLength(1)
    expect(out.match(/>/g)).toHaveLength(1)
  })

  it('cannot smuggle a mention through a link label or an image', () => {
    const out = markdownToMrkdwn('[<!channel>](https://e.com) ![<@U1>](https://i.com/a.png)')
    expect(out).toBe('<https://e.com/|&lt;!channel&gt;> <https://i.com/a.png|&lt;@U1&gt;>')
  })

  it('keeps balanced parentheses in URLs', () => {
    expect(markdownToMrkdwn('[w](https://en.wikipedia.org/wiki/Foo_(bar))')).toBe('<https://en.wikipedia.org/wiki/Foo_(bar)|w>')
  })
})

describe('splitting', () => {
  it('keeps short text as one part', () => {
    expect(splitMrkdwn('hello\n\nworld')).toEqual(['hello\n\nworld'])
    expect(splitMrkdwn('  \n ')).toEqual([])
  })

  it('cuts between paragraphs, every part within the limit, nothing lost', () => {
    const paragraphs = Array.from({ length: 30 }, (_, i) => `Paragraph ${i} ${'word '.repeat(60).trim()}.`)
    const text = paragraphs.join('\n\n')
    const parts = splitMrkdwn(text)
    expect(parts.length).toBeGreaterThan(1)
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(SECTION_TEXT_LIMIT)
      expect(p).toMatch(/^Paragraph \d+ /)
    }
    expect(wordsOf(parts.join(' '))).toEqual(wordsOf(text))
  })

  it('cuts a huge paragraph at words, never inside an entity or a link', () => {
    const text = markdownToMrkdwn(`${'<&> [a link](https://example.com/?a=1&b=2) '.repeat(300)}`)
    const parts = splitMrkdwn(text, 500)
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(500)
      expect(p).not.toMatch(/&(?!amp;|lt;|gt;)/)
      expect(p.match(/</g)?.length ?? 0).toBe(p.match(/>/g)?.length ?? 0)
    }
    expect(wordsOf(parts.join(' '))).toEqual(wordsOf(text))
  })

  it('cuts a single word longer than the limit at characters', () => {
    const parts = splitMrkdwn('x'.repeat(130), 50)
    expect(parts).toEqual(['x'.repeat(50), 'x'.repeat(50), 'x'.repeat(30)])
  })

  it('keeps code blocks whole when they fit, and closes and reopens the fence when one must be cut', () => {
    const code = Array.from({ length: 80 }, (_, i) => `line ${i} <tag> & more`).join('\n')
    const md = `Intro ${'text '.repeat(40)}\n\n\`\`\`\n${code}\n\`\`\`\n\nOutro`
    const text = markdownToMrkdwn(md)
    const parts = splitMrkdwn(text, 400)
    expect(parts.length).toBeGreaterThan(3)
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(400)
      expect(fenceCount(p) % 2).toBe(0)
    }
    // code is cut between lines, each piece a whole fenced block on lines of its own
    for (const p of parts.filter((p) => p.includes('```'))) expect(p).toMatch(/^```\n(?:line \d+ &lt;tag&gt; &amp; more\n)+```(?:\n\nOutro)?$/)
    expect(wordsOf(parts.join(' ').replace(/```/g, ''))).toEqual(wordsOf(text.replace(/```/g, '')))
  })

  it('keeps a code block that fits in the part before it, and blank lines inside it', () => {
    const text = 'Run:\n```\na\n\n\nb\n```\nDone'
    expect(splitMrkdwn(text, 100)).toEqual([text])
  })

  it('closes a code block left open', () => {
    const parts = splitMrkdwn(`Intro\n\n\`\`\`\n${'code line\n'.repeat(20)}`, 60)
    for (const p of parts) expect(fenceCount(p) % 2).toBe(0)
  })

  it('balances fences in every part for any input', () => {
    for (let seed = 1; seed <= 20; seed++) {
      let x = seed
      const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
      const lines = Array.from({ length: 120 }, () => {
        const r = rand()
        if (r < 0.1) return '```'
        if (r < 0.2) return ''
        return Array.from({ length: 1 + Math.floor(rand() * 30) }, () => 'w'.repeat(1 + Math.floor(rand() * 12))).join(' ')
      })
      for (const p of splitMrkdwn(lines.join('\n'), 200)) {
        expect(p.length).toBeLessThanOrEqual(200)
        expect(fenceCount(p) % 2).toBe(0)
      }
    }
  })
})

describe('Slack messages', () => {
  it('one section per part, mrkdwn as the fallback text, sources and buttons on the last', () => {
    const text = Array.from({ length: 10 }, (_, i) => `Paragraph ${i} ${'word '.repeat(100).trim()}.`).join('\n\n')
    const messages = toSlackMessages({
      text,
      sources: [{ title: 'Pricing <2024>', snippet: '' }, { title: 'Pricing <2024>', snippet: '' }, { title: 'FAQ & terms', snippet: '' }],
      choices: [HANDOFF_CHOICE, { id: 'more', label: 'Tell me more' }],
    })
    expect(messages.length).toBeGreaterThan(1)
    for (const m of messages) {
      const section = m.blocks[0] as { type: string; text: { type: string; text: string; verbatim: boolean } }
      expect(section.type).toBe('section')
      expect(section.text).toEqual({ type: 'mrkdwn', text: m.text, verbatim: true })
      expect(m.text.length).toBeLessThanOrEqual(SECTION_TEXT_LIMIT)
    }
    for (const m of messages.slice(0, -1)) expect(m.blocks).toHaveLength(1)
    const last = messages.at(-1)!
    expect(last.blocks.slice(1)).toEqual([
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'Sources: Pricing &lt;2024&gt; · FAQ &amp; terms', verbatim: true }] },
      {
        type: 'actions',
        elements: [
          { type: 'button', action_id: 'choice:0', value: 'handoff', text: { type: 'plain_text', text: 'Talk to a person', emoji: true }, style: 'primary' },
          { type: 'button', action_id: 'choice:1', value: 'more', text: { type: 'plain_text', text: 'Tell me more', emoji: true } },
        ],
      },
    ])
  })

  it('keeps the sources within one context element of at most 2000 characters and 10 titles', () => {
    const sources = Array.from({ length: 40 }, (_, i) => ({ title: `Document ${i} ${'x'.repeat(300)}`, snippet: '' }))
    const [message] = toSlackMessages({ text: 'Answer', sources })
    const context = message!.blocks[1] as { type: string; elements: { text: string }[] }
    expect(context.type).toBe('context')
    expect(context.elements.length).toBeLessThanOrEqual(10)
    for (const e of context.elements) expect(e.text.length).toBeLessThanOrEqual(2000)
    expect(context.elements[0]!.text.split(' · ').length).toBeLessThanOrEqual(10)
  })

  it('skips choices whose id is too long for a button value, and clips long labels', () => {
    const [message] = toSlackMessages({
      text: 'Pick one',
      choices: [{ id: 'x'.repeat(2001), label: 'Too long' }, { id: 'ok', label: 'L'.repeat(100) }, { id: 'y'.repeat(2000), label: 'Just fits' }],
    })
    const actions = message!.blocks[1] as { elements: { action_id: string; value: string; text: { text: string }; style?: string }[] }
    expect(actions.elements.map((b) => b.action_id)).toEqual(['choice:1', 'choice:2'])
    expect(actions.elements[0]!.text.text).toHaveLength(75)
    expect(actions.elements[0]!.text.text.endsWith('…')).toBe(true)
    expect(actions.elements[0]!.style).toBeUndefined()
    expect(actions.elements[1]!.value).toHaveLength(2000)
  })

  it('at most 25 buttons', () => {
    const choices = Array.from({ length: 30 }, (_, i) => ({ id: `c${i}`, label: `Choice ${i}` }))
    const [message] = toSlackMessages({ text: 'Pick', choices })
    expect((message!.blocks[1] as { elements: unknown[] }).elements).toHaveLength(25)
  })

  it('empty text with choices still makes one message', () => {
    const messages = toSlackMessages({ text: '  ', choices: [HANDOFF_CHOICE] })
    expect(messages).toHaveLength(1)
    expect(messages[0]!.text).toBe('Talk to a person')
    expect(messages[0]!.blocks.map((b) => b.type)).toEqual(['actions'])
    expect(toSlackMessages({ text: '' })).toEqual([])
  })
})

describe('plain text fields', () => {
  it('keeps text unescaped and clips it with an ellipsis', () => {
    expect(plainText('A & <b>', 75)).toEqual({ type: 'plain_text', text: 'A & <b>', emoji: true })
    const clipped = plainText('word '.repeat(30), 20)
    expect(clipped.text.length).toBeLessThanOrEqual(20)
    expect(clipped.text.endsWith('…')).toBe(true)
  })

  it('does not cut an emoji in half', () => {
    const text = plainText('😀'.repeat(10), 6).text
    expect(text).toBe('😀😀…')
  })
})
