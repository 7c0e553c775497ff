import { describe, expect, it } from 'vitest'
import { TELEGRAM_LIMITS } from '../../adapters/telegram/bot-api.ts'
import { markdownToTelegramHtml, sourcesHtml, toTelegramMessages } from '../../adapters/telegram/format.ts'
import { createSendScheduler } from '../../adapters/net/send-scheduler.ts'

describe('Markdown to Telegram HTML', () => {
  it('escapes HTML special characters so text can never break the message', () => {
    expect(markdownToTelegramHtml('Use <b> & "quotes" if x < 3 > 1')).toBe('Use &lt;b&gt; &amp; "quotes" if x &lt; 3 &gt; 1')
  })

  it('turns bold, italic, code, links, headings, lists and code blocks into Telegram tags', () => {
    const md = '# Prices\n**Pro** is *great* and `npm start` runs it; see [the docs](https://example.com/a?b=1&c=2).\n- one\n- two\n```js\nif (a < b) go()\n```'
    expect(markdownToTelegramHtml(md)).toBe(
      '<b>Prices</b>\n<b>Pro</b> is <i>great</i> and <code>npm start</code> runs it; see <a href="https://example.com/a?b=1&amp;c=2">the docs</a>.\n• one\n• two\n<pre><code class="language-js">if (a &lt; b) go()</code></pre>',
    )
  })

  it('leaves snake_case words and lone asterisks alone', () => {
    expect(markdownToTelegramHtml('set max_tokens and 2 * 3 = 6')).toBe('set max_tokens and 2 * 3 = 6')
  })

  it('lists at most three distinct sources', () => {
    const s = (title: string) => ({ title, snippet: '' })
    expect(sourcesHtml([s('A'), s('A'), s('B <1>'), s('C'), s('D')])).toBe('<i>Sources:</i>\n• A\n• B &lt;1&gt;\n• C')
  })
})

describe('splitting at 4096 characters', () => {
  it('cuts between paragraphs, each message within the limit, nothing lost', () => {
    const paragraphs = Array.from({ length: 30 }, (_, i) => `Paragraph ${i} ${'word '.repeat(60).trim()}.`)
    const messages = toTelegramMessages(paragraphs.join('\n\n'), { footer: '<i>Sources:</i>\n• Doc' })
    expect(messages.length).toBeGreaterThan(1)
    for (const m of messages) expect(m.length).toBeLessThanOrEqual(4096)
    // every message starts at a paragraph
    for (const m of messages) expect(m).toMatch(/^Paragraph \d+ /)
    expect(messages.join('\n\n').match(/Paragraph \d+/g)).toHaveLength(30)
    expect(messages.at(-1)!.endsWith('<i>Sources:</i>\n• Doc')).toBe(true)
  })

  it('cuts one huge paragraph at words, and counts escaped characters', () => {
    const text = '<&> '.repeat(2000) // 8000 characters, 18000 once escaped
    const messages = toTelegramMessages(text)
    for (const m of messages) {
      expect(m.length).toBeLessThanOrEqual(4096)
      expect(m).not.toMatch(/&(?!amp;|lt;|gt;)/)
    }
    expect(messages.join(' ').split('&lt;&amp;&gt;').length - 1).toBe(2000)
  })
})

describe('outbound limits', () => {
  const clock = () => {
    let now = 0
    const waits: number[] = []
    return { now: () => now, sleep: async (ms: number) => void waits.push(ms), waits, advance: (ms: number) => (now += ms) }
  }

  it('one message per second in a chat: the second waits, neither is dropped', async () => {
    const c = clock()
    const s = createSendScheduler({ limits: TELEGRAM_LIMITS, now: c.now, sleep: c.sleep })
    expect(await s.slot({ bot: 'b', chat: '1', group: false })).toBe(0)
    expect(await s.slot({ bot: 'b', chat: '1', group: false })).toBe(1000)
    expect(await s.slot({ bot: 'b', chat: '1', group: false })).toBe(2000)
    expect(await s.slot({ bot: 'b', chat: '2', group: false })).toBe(0)
  })

  it('30 per second per bot across chats', async () => {
    const c = clock()
    const s = createSendScheduler({ limits: TELEGRAM_LIMITS, now: c.now, sleep: c.sleep })
    const waits = []
    for (let chat = 0; chat < 61; chat++) waits.push(await s.slot({ bot: 'b', chat: String(chat), group: false }))
    expect(waits.filter((w) => w === 0)).toHaveLength(30)
    expect(waits.filter((w) => w === 1000)).toHaveLength(30)
    expect(waits[60]).toBe(2000)
  })

  it('20 per minute in a group', async () => {
    const c = clock()
    const s = createSendScheduler({ limits: TELEGRAM_LIMITS, now: c.now, sleep: c.sleep })
    const waits = []
    for (let i = 0; i < 21; i++) waits.push(await s.slot({ bot: 'b', chat: '-100', group: true }))
    expect(waits.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i * 1000))
    expect(waits[20]).toBe(60_000)
  })
})
