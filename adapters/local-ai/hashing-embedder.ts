import { createHash } from 'node:crypto'
import type { Embedder } from '../../core/ports.ts'
import { keywords, stem } from '../../core/knowledge/text.ts'

/**
 * An offline embedder: no network, no model download. Feature hashing of word stems and
 * character trigrams into a fixed-size, L2-normalised vector, so texts that share words (also
 * inflected forms) land close together under cosine distance.
 */
export function createHashingEmbedder(dimensions = 128): Embedder {
  const bucket = (feature: string): [number, number] => {
    const h = createHash('md5').update(feature).digest()
    return [h.readUInt32LE(0) % dimensions, h[4]! & 1 ? 1 : -1]
  }
  const cache = new Map<string, [number, number]>()
  const slot = (feature: string) => {
    let v = cache.get(feature)
    if (!v) {
      v = bucket(feature)
      if (cache.size > 200_000) cache.clear()
      cache.set(feature, v)
    }
    return v
  }

  function embedOne(text: string): number[] {
    const vec = new Float64Array(dimensions)
    const counts = new Map<string, number>()
    for (const word of keywords(text)) {
      const s = stem(word)
      counts.set(`w:${s}`, (counts.get(`w:${s}`) ?? 0) + 1)
      const padded = ` ${word} `
      for (let i = 0; i + 3 <= padded.length; i++) {
        const g = `g:${padded.slice(i, i + 3)}`
        counts.set(g, (counts.get(g) ?? 0) + 0.25)
      }
    }
    for (const [feature, count] of counts) {
      const [index, sign] = slot(feature)
      vec[index]! += sign * Math.log1p(count)
    }
    let norm = 0
    for (const x of vec) norm += x * x
    norm = Math.sqrt(norm) || 1
    return Array.from(vec, (x) => x / norm)
  }

  return {
    name: `local-hash-v1-${dimensions}`,
    dimensions,
    // Measured on the retrieval benchmark: its lexical similarity helps as a tie-breaker (0.3), and
    // hurts at equal weight with BM25 (docs/knowledge.md).
    searchWeight: 0.3,
    embed: async (texts) => texts.map(embedOne),
  }
}
