import OpenAI from 'openai'
import type { Embedder } from '../../core/ports.ts'
import { providerError } from '../../core/errors.ts'

const DIMENSIONS: Record<string, number> = { 'text-embedding-3-small': 1536, 'text-embedding-3-large': 3072, 'text-embedding-ada-002': 1536 }

export function createOpenAIEmbedder(input: { apiKey: string; baseURL?: string; model: string; dimensions?: number }): Embedder {
  const client = new OpenAI({ apiKey: input.apiKey, baseURL: input.baseURL, timeout: 30_000, maxRetries: 2 })
  const dimensions = input.dimensions ?? DIMENSIONS[input.model] ?? 1536
  return {
    name: `openai:${input.model}`,
    dimensions,
    // A semantic model: its similarity counts as much as BM25 (not measured here: no network).
    searchWeight: 1,
    async embed(texts) {
      if (texts.length === 0) return []
      try {
        const res = await client.embeddings.create({ model: input.model, input: texts.map((t) => t.slice(0, 8000)) })
        return res.data.sort((a, b) => a.index - b.index).map((d) => d.embedding)
      } catch (error) {
        throw providerError('openai.embeddings.create', error)
      }
    },
  }
}
