import { describe, expect, it } from 'vitest'
import { createExtractiveAnswerer, NOTHING_FOUND } from '../../adapters/local-ai/extractive-answerer.ts'
import type { Agent, Passage } from '../../core/ports.ts'
import { handoffGate, wantsHuman } from '../../core/conversation/steps.ts'

const agent: Agent = { id: 'a', organizationId: 'o', name: 'Guide', instructions: '', model: null, temperature: 0.2, maxTokens: 600, providerKeyId: null, fallbacks: [], responseDelayMs: 0, language: 'auto', createdAt: new Date(), updatedAt: new Date() }
const passage = (over: Partial<Passage>): Passage => ({ chunkId: 'c1', sourceId: 's1', title: 'Docs', heading: '', text: '', score: 0.03, ftsRank: 1, vectorRank: 1, similarity: 0.5, bm25: 4.2, collectionId: null, ...over })

describe('extractive answerer', () => {
  const answerer = createExtractiveAnswerer()

  it('quotes the sentences that answer the question and names the source', async () => {
    const p = passage({
      title: 'Channels',
      heading: 'Channels › Telegram',
      text: 'Switchboard supports many channels. To connect a **Telegram** bot, send /newbot to @BotFather and copy the token. Web chat needs nothing.',
    })
    const answer = await answerer.answer({ agent, question: 'How do I connect a Telegram bot?', history: [], passages: [p], relevant: true })
    expect(answer.text).toBe('From "Channels › Telegram":\n\n> To connect a Telegram bot, send /newbot to @BotFather and copy the token.')
    expect(answer.sources).toEqual([expect.objectContaining({ title: 'Channels › Telegram', sourceId: 's1', chunkId: 'c1' })])
  })

  it('keeps names with underscores intact while removing emphasis', async () => {
    const p = passage({ text: 'Set **DATABASE_URL** to a PostgreSQL address. The _old_ way used REDIS_URL too.' })
    const answer = await answerer.answer({ agent, question: 'How do I set DATABASE_URL for PostgreSQL?', history: [], passages: [p], relevant: true })
    expect(answer.text).toContain('Set DATABASE_URL to a PostgreSQL address.')
  })

  it('says it does not know instead of guessing when retrieval found nothing relevant', async () => {
    const answer = await answerer.answer({ agent, question: 'Capital of France?', history: [], passages: [passage({ text: 'Telegram bots need a token.' })], relevant: false })
    expect(answer).toEqual({ text: NOTHING_FOUND, sources: [] })
  })
})

describe('asking for a person', () => {
  it.each(['Can I talk to a human?', 'I want to speak to an operator', 'talk to a person please', 'Connect me to an agent', 'operator!', 'Позовите оператора', 'хочу поговорить с человеком', 'Соедините с менеджером'])('recognises %s', (text) => {
    expect(wantsHuman(text)).toBe(true)
  })
  it.each(['How do I connect a Telegram bot?', 'Is this personal data safe?', 'Какие операции доступны?', 'What does the operator role do?', 'Can a human edit the knowledge base?', 'Что может менеджер в админке?'])('does not trigger on %s', (text) => {
    expect(wantsHuman(text)).toBe(false)
  })
  it('exists as a pipeline step', () => {
    expect(handoffGate({ handoffs: {} as never }).name).toBe('handoff')
  })
})
