import OpenAI, { toFile } from 'openai'
import type { Transcriber } from '../../core/ports.ts'
import { providerError } from '../../core/errors.ts'

/** Speech to text through an OpenAI-compatible `/audio/transcriptions` endpoint (Whisper and the like). */
export function createOpenAITranscriber(input: { apiKey: string; baseURL?: string; model: string }): Transcriber {
  const client = new OpenAI({ apiKey: input.apiKey, baseURL: input.baseURL, timeout: 60_000, maxRetries: 2 })
  return {
    name: `openai:${input.model}`,
    async transcribe({ bytes, filename, mimeType }) {
      try {
        const res = await client.audio.transcriptions.create({ model: input.model, file: await toFile(bytes, filename, mimeType ? { type: mimeType } : undefined) })
        return res.text.trim()
      } catch (error) {
        throw providerError('openai.audio.transcriptions.create', error)
      }
    },
  }
}
