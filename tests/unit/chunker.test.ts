import { describe, expect, it } from 'vitest'
import { chunkMarkdown, chunkSections } from '../../core/knowledge/chunker.ts'
import { detectLanguage, keywordCoverage, passageLabel } from '../../core/knowledge/text.ts'

describe('chunking Markdown along its structure', () => {
  const doc = `# Guide

Intro paragraph about the guide.

## Install

Run npm ci. Then run npm start.

\`\`\`bash
npm ci

npm start
\`\`\`

## Configure

### Database

Set DATABASE_URL to use PostgreSQL.
`

  it('keeps the heading path of each chunk and never splits a code block', () => {
    const chunks = chunkMarkdown(doc, { maxChars: 60, overlapChars: 0 })
    expect(chunks.map((c) => c.heading)).toEqual(['Guide', 'Guide › Install', 'Guide › Install', 'Guide › Configure › Database'])
    expect(chunks.find((c) => c.text.startsWith('```'))?.text).toBe('```bash\nnpm ci\n\nnpm start\n```')
    expect(chunks.map((c) => c.ordinal)).toEqual([0, 1, 2, 3])
  })

  it('packs paragraphs up to the size limit and splits long ones at sentence ends', () => {
    const long = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} talks about topic ${i}.`).join(' ')
    const chunks = chunkMarkdown(`# Long\n\n${long}`, { maxChars: 300, overlapChars: 40 })
    expect(chunks.length).toBeGreaterThan(4)
    for (const c of chunks) expect(c.text.length).toBeLessThanOrEqual(300 + 40 + 2)
    expect(chunks.every((c) => /\.$/.test(c.text))).toBe(true)
  })

  it('detects the full-text language of each chunk', () => {
    expect(chunkMarkdown('# Привет\n\nКак подключить бота в Телеграме?')[0]!.language).toBe('russian')
    expect(detectLanguage('How do I connect a bot?')).toBe('english')
    expect(detectLanguage('12345')).toBe('simple')
  })
})

describe('query helpers', () => {
  it('builds an OR tsquery of keywords without stop words or operators', () => {
  })

  it('measures keyword coverage across inflections', () => {
    expect(keywordCoverage('connecting telegram bots', 'Connect your Telegram bot here')).toBe(1)
    expect(keywordCoverage('capital of France', 'Connect your Telegram bot')).toBe(0)
  })

  it('labels passages without repeating the title', () => {
    expect(passageLabel({ title: 'Channels', heading: 'Channels › Telegram' })).toBe('Channels › Telegram')
    expect(passageLabel({ title: 'FAQ', heading: '' })).toBe('FAQ')
  })
})

describe('chunking sections a parser found', () => {
  it('keeps each section apart, numbers chunks across sections, and treats # inside text as text', () => {
    const chunks = chunkSections(
      [
        { heading: 'Page 1', text: '# not a heading\n\nSecond paragraph.' },
        { heading: 'Row 2', text: 'Plan: Pro; Price: 49 USD' },
      ],
      { maxChars: 1200, overlapChars: 0 },
    )
    expect(chunks).toEqual([
      { ordinal: 0, section: 0, heading: 'Page 1', text: '# not a heading\n\nSecond paragraph.', language: expect.any(String) },
      { ordinal: 1, section: 1, heading: 'Row 2', text: 'Plan: Pro; Price: 49 USD', language: expect.any(String) },
    ])
  })

  it('splits a long section and keeps its index on every piece', () => {
    const text = Array.from({ length: 30 }, (_, i) => `Sentence number ${i} is here.`).join(' ')
    const chunks = chunkSections([{ heading: '', text }], { maxChars: 200, overlapChars: 0 })
    expect(chunks.length).toBeGreaterThan(3)
    expect(new Set(chunks.map((c) => c.section))).toEqual(new Set([0]))
    expect(chunks.map((c) => c.ordinal)).toEqual(chunks.map((_, i) => i))
  })
})
