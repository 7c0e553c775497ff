import type { ChatModel, Metrics, RateLimiter, Store } from '../ports.ts'
import type { KnowledgeService } from '../knowledge/knowledge-service.ts'
import { createCommandRegistry, customerCommands } from '../commands/registry.ts'
import { compose } from './pipeline.ts'
import { answer, commandGate, handoffGate, rateLimit, recordCost, retrieve } from './steps.ts'

/** The turn of DESIGN.md: handoff gate, commands, rate limit, retrieval, answer, cost. */
export function createDefaultPipeline(deps: { store: Store; knowledge: KnowledgeService; chatModel: ChatModel; limiter: RateLimiter; metrics?: Metrics }) {
  return compose(
    [
      handoffGate({ store: deps.store }),
      commandGate({ commands: createCommandRegistry(customerCommands) }),
      rateLimit({ limiter: deps.limiter, limit: 30, windowMs: 60_000 }),
      retrieve({ knowledge: deps.knowledge }),
      answer({ chatModel: deps.chatModel, store: deps.store, historyTurns: 10 }),
      recordCost({ store: deps.store }),
    ],
    (step) => deps.metrics?.turnError(step),
  )
}
