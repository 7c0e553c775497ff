import { AppError } from '../errors.ts'
import type { Agent, Answer, AnswerInput, ApiCall, ChatModel, ContactMemory, LlmAttempt, LlmClient, LlmMessage, ProviderTarget, Source } from '../ports.ts'
import type { ToolRegistry } from '../crm/tools.ts'
import { passageLabel } from '../knowledge/text.ts'
import { assemblePrompt, DEFAULT_PROMPT_BUDGET } from './prompt.ts'
import { costOf, type PriceTable } from './prices.ts'
import { say } from '../language/index.ts'

// English texts; the customer gets them in the conversation's language (core/language/messages.ts).
export const UNAVAILABLE_REPLY = say('en', 'assistantUnavailable')
const MAX_TOOL_ROUNDS = 4
export const HANDOFF_BY_TOOL = say('en', 'handoffStarted')

export type LlmAnswererDeps = {
  llm: LlmClient
  /** The agent's primary model and its fallbacks, in order; empty when none is configured. */
  resolveTargets: (agent: Agent) => Promise<ProviderTarget[]>
  tools?: ToolRegistry
  memory?: ContactMemory
  prices: PriceTable
  budgetTokens?: number
}

/**
 * Answers with a language model: assembles the prompt within a token budget, lets the model call
 * tools (validated arguments only; invalid ones are answered back to the model), and reports every
 * call for usage and cost. When every provider fails, the customer gets a short honest message.
 */
export function createLlmAnswerer(deps: LlmAnswererDeps): ChatModel {
  return {
    name: 'llm',
    async answer(input: AnswerInput): Promise<Answer> {
      const language = input.language ?? 'en'
      const unavailable = say(language, 'assistantUnavailable')
      const targets = await deps.resolveTargets(input.agent)
      if (targets.length === 0) throw new AppError('no_model', `Agent ${input.agent.name} has no language model configured`, 500)
      const facts = input.context && deps.memory ? await deps.memory.list(input.context.organizationId, input.context.contactId) : []
      const prompt = assemblePrompt({ agent: input.agent, question: input.question, history: input.history, passages: input.passages, relevant: input.relevant, facts, budgetTokens: deps.budgetTokens ?? DEFAULT_PROMPT_BUDGET })
      const messages: LlmMessage[] = [...prompt.messages]
      const calls: ApiCall[] = []
      const toCall = (a: LlmAttempt): ApiCall => ({ provider: a.provider, model: a.model, inputTokens: a.inputTokens, outputTokens: a.outputTokens, latencyMs: a.latencyMs, costUsd: costOf(deps.prices, a.model, a.inputTokens, a.outputTokens), success: a.success, error: a.error })
      let handoff = false
      const tools = input.context ? deps.tools : undefined
      const specs = tools && input.context ? await tools.specsFor(input.context.organizationId) : undefined

      for (let round = 0; round < MAX_TOOL_ROUNDS; round++) {
        let result
        try {
          result = await deps.llm.complete({ targets, messages, tools: specs, temperature: input.agent.temperature, maxTokens: input.agent.maxTokens, onDelta: input.onDelta })
        } catch (error) {
          if (!(error instanceof AppError) || error.code !== 'llm_unavailable') throw error
          const attempts = ((error.details as { attempts?: LlmAttempt[] })?.attempts ?? []).map(toCall)
          return { text: unavailable, sources: [], calls: [...calls, ...attempts], meta: { provider: 'none', model: 'none' } }
        }
        calls.push(...result.attempts.map(toCall))
        if (result.toolCalls.length === 0 || !tools || !input.context) {
          const meta = { provider: result.provider, model: result.model, inputTokens: sum(calls, 'inputTokens'), outputTokens: sum(calls, 'outputTokens'), costUsd: Number(calls.reduce((n, c) => n + c.costUsd, 0).toFixed(8)) }
          return { text: result.content.trim() || unavailable, sources: citedSources(result.content, prompt.passages), calls, meta, handoff }
        }
        messages.push({ role: 'assistant', content: result.content || null, toolCalls: result.toolCalls })
        for (const call of result.toolCalls) {
          const outcome = await tools.execute(call, input.context)
          if (outcome.ok && outcome.handoff) handoff = true
          messages.push({ role: 'tool', toolCallId: call.id, content: outcome.ok ? outcome.result : JSON.stringify({ error: outcome.error }) })
        }
        // A person takes over: the bot says so and stops (another round could open a second handoff).
        if (handoff) return { text: say(language, 'handoffStarted'), sources: [], calls, handoff, meta: { provider: result.provider, model: result.model } }
      }
      return { text: unavailable, sources: [], calls, handoff }
    },
  }
}

const sum = (calls: ApiCall[], key: 'inputTokens' | 'outputTokens') => calls.reduce((n, c) => n + c[key], 0)

/** The passages the answer cites as [n]; all of them when it cites none. */
function citedSources(text: string, passages: AnswerInput['passages']): Source[] {
  const cited = new Set([...text.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1])))
  return passages
    .filter((_, i) => cited.size === 0 || cited.has(i + 1))
    .slice(0, 3)
    .map((p) => ({ title: passageLabel(p), snippet: p.text.replace(/\s+/g, ' ').slice(0, 240), sourceId: p.sourceId, chunkId: p.chunkId, score: p.score }))
}

/** Agents with a model answer through it; agents without one use the offline answerer. */
export function createModelChooser(deps: { llm: ChatModel; offline: ChatModel; hasModel: (agent: Agent) => Promise<boolean> }): ChatModel {
  return {
    name: 'auto',
    async answer(input) {
      return (await deps.hasModel(input.agent)) ? deps.llm.answer(input) : deps.offline.answer(input)
    },
  }
}
