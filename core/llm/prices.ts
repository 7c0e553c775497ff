/** USD per one million tokens. Override or extend with the LLM_PRICES setting (JSON of the same shape). */
export type PriceTable = Record<string, { input: number; output: number }>

export const DEFAULT_PRICES: PriceTable = {
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
}

/**
 * Estimated cost of one call. A model is looked up by its exact name, then without a provider prefix
 * ("openai/gpt-4o-mini") and without a date suffix ("gpt-4o-mini-2024-07-18"); unknown models cost 0.
 */
export function costOf(table: PriceTable, model: string, inputTokens: number, outputTokens: number): number {
  const bare = model.includes('/') ? model.slice(model.lastIndexOf('/') + 1) : model
  const price = table[model] ?? table[bare] ?? table[bare.replace(/-\d{4}-\d{2}-\d{2}$/, '')]
  if (!price) return 0
  return Number(((inputTokens * price.input + outputTokens * price.output) / 1_000_000).toFixed(8))
}
