import type { ChannelAdapter, ChannelKind, ChatModel, CrmPort, Metrics, Notifier, RateLimiter, Store, Transcriber } from '../ports.ts'
import type { Step } from './pipeline.ts'
import type { KnowledgeService } from '../knowledge/knowledge-service.ts'
import { createCommandRegistry, customerCommands } from '../commands/registry.ts'
import { compose, HISTORY_TURNS } from './pipeline.ts'
import { answer, commandGate, crmLead, handoffGate, language, mediaGate, rateLimit, recordCost, responseDelay, retrieve, transcribe, type HandoffOps } from './steps.ts'
import { streamTopic } from './turn-service.ts'
import { quotaStep, type QuotaService } from '../billing/quota.ts'

/** The turn of DESIGN.md: transcription, language, handoff gate, admin commands, commands, rate limit, plan quota, response delay, retrieval, answer, cost. */
export function createDefaultPipeline(deps: { store: Store; knowledge: KnowledgeService; chatModel: ChatModel; limiter: RateLimiter; notifier?: Notifier; metrics?: Metrics; quota: QuotaService; admin?: Step; handoffs: HandoffOps; crm?: Pick<CrmPort, 'customerWrote'>; transcriber?: Transcriber; channels: ReadonlyMap<ChannelKind, ChannelAdapter> }) {
  return compose(
    [
      // A voice note becomes words first: asking for a person, an admin's answer or a question alike.
      transcribe({ store: deps.store, transcriber: deps.transcriber, channels: deps.channels }),
      // Which language Switchboard's own messages are in: the agent's, or the customer's (remembered per conversation).
      language({ store: deps.store }),
      handoffGate({ handoffs: deps.handoffs }),
      // Linked admins' commands and uploads (messenger channels); everyone else's messages go on.
      ...(deps.admin ? [deps.admin] : []),
      commandGate({ commands: createCommandRegistry(customerCommands) }),
      mediaGate(),
      rateLimit({ limiter: deps.limiter, limit: 30, windowMs: 60_000 }),
      // One response of the plan is reserved here, atomically; handoffs, commands and refusals above never count.
      quotaStep({ quota: deps.quota, handoffs: deps.handoffs }),
      crmLead({ crm: deps.crm }),
      responseDelay(),
      retrieve({ knowledge: deps.knowledge }),
      answer({
        chatModel: deps.chatModel,
        store: deps.store,
        historyTurns: HISTORY_TURNS,
        handoffs: deps.handoffs,
        // Streaming channels (web chat with text/event-stream, the test chat) hear the answer as it is written.
        onDelta: deps.notifier ? (ctx, text) => void deps.notifier!.publish(streamTopic(ctx.message.id), { delta: text }) : undefined,
      }),
      recordCost({ store: deps.store }),
    ],
    (step) => deps.metrics?.turnError(step),
  )
}
