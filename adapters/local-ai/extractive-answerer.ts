import type { Answer, AnswerInput, ChatModel, Passage, Source } from '../../core/ports.ts'
import { keywords, passageLabel, sentences, stem, words } from '../../core/knowledge/text.ts'
import { say } from '../../core/language/index.ts'

/** In English; the customer gets it in the conversation's language (core/language/messages.ts). */
export const NOTHING_FOUND = say('en', 'notFound')

const MAX_QUOTE_SENTENCES = 3

/**
 * The offline answerer: quotes the sentences of the best passages that share the most words
 * with the question, and names where they came from. It never writes anything that is not in
 * the knowledge base, and says plainly when nothing relevant was found.
 */
export function createExtractiveAnswerer(): ChatModel {
  return {
    name: 'extractive',
    async answer(input: AnswerInput): Promise<Answer> {
      const language = input.language ?? 'en'
      if (!input.relevant || input.passages.length === 0) return { text: say(language, 'notFound'), sources: [] }
      const q = new Set(keywords(input.question).map(stem))
      const scored: { sentence: string; passage: Passage; score: number; order: number }[] = []
      input.passages.slice(0, 3).forEach((passage, rank) => {
        sentences(stripMarkdown(passage.text)).forEach((sentence, order) => {
          const hits = new Set(words(sentence).map(stem).filter((w) => q.has(w))).size
          if (hits > 0) scored.push({ sentence, passage, score: hits / (1 + rank * 0.5), order })
        })
      })
      if (scored.length === 0) return { text: say(language, 'notFound'), sources: [] }
      scored.sort((a, b) => b.score - a.score)
      const best = scored[0]!.passage
      const picked = scored.filter((s) => s.passage === best).slice(0, MAX_QUOTE_SENTENCES).sort((a, b) => a.order - b.order)
      const label = passageLabel(best)
      const quote = picked.map((s) => s.sentence).join(' ')
      const sources: Source[] = [best, ...input.passages.filter((p) => p !== best).slice(0, 2)].map((p) => ({
        title: passageLabel(p),
        snippet: snippet(p.text),
        sourceId: p.sourceId,
        chunkId: p.chunkId,
        score: Number(p.score.toFixed(4)),
      }))
      return { text: `${say(language, 'quoteFrom', { source: label })}\n\n> ${quote}`, sources }
    },
  }
}

function stripMarkdown(text: string): string {
  return text
    .replace(/```[\s\S]*?```/g, (block) => block.replace(/```\w*/g, '').trim())
    .replace(/`([^`]+)`/g, '$1')
    .replace(/\[([^\]]+)\]\([^)]+\)/g, '$1')
    .replace(/^\s*[-*]\s+/gm, '')
    .replace(/^\s*\d+\.\s+/gm, '')
    .replace(/\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*/g, (_m, a, b) => a ?? b)
    .replace(/(^|[\s(])__?([^_\s][^_]*?)__?(?=[\s.,;:!?)]|$)/g, '$1$2')
    .replace(/\n+/g, (nl) => (nl.length > 1 ? '. ' : ' '))
    .replace(/\.\s*\./g, '.')
}

const snippet = (text: string) => {
  const flat = stripMarkdown(text).replace(/\s+/g, ' ').trim()
  return flat.length > 240 ? `${flat.slice(0, 237)}...` : flat
}
