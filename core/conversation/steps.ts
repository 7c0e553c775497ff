import type { ChannelAdapter, ChannelKind, ChatModel, ChatTurn, CrmPort, RateLimiter, Store, Transcriber } from '../ports.ts'
import type { ConversationOps } from './operator-service.ts'

import type { KnowledgeService } from '../knowledge/knowledge-service.ts'
import { commandOf, type CommandRegistry } from '../commands/registry.ts'
import { HISTORY_TURNS, type Step, type TurnContext } from './pipeline.ts'
import { allTexts, chooseLanguage, say } from '../language/index.ts'

// A request for a person, not any sentence that mentions one ("what does the operator role do?").
const HANDOFF_PATTERNS = [
  /\b(?:talk|speak|chat)\s+(?:to|with)\s+(?:a |an |the |some )?(?:real |live )?(?:human|person|operator|agent|manager|someone|somebody)\b/i,
  /\b(?:connect|transfer|put)\s+me\s+(?:through\s+)?(?:to|with)\s+(?:a |an |the )?(?:human|person|operator|agent|manager|someone)\b/i,
  /\bi\s+(?:want|need|would like)\s+(?:a |an |to reach a |to reach an )?(?:human|real person|person|operator|live agent)\b/i,
  /\b(?:real|live)\s+(?:person|human|agent)\b/i,
  /^\s*(?:a\s+)?(?:human|operator|person|agent)\s*(?:please)?\s*[.!?]*\s*$/i,
  /(?:^|\s)(?:позов\p{L}*|позва\p{L}*|соедин\p{L}*|переключ\p{L}*|дайте|нужен|хочу)\s+(?:\p{L}+\s+)?(?:с\s+)?(?:оператор|человек|менеджер|живо)\p{L}*/iu,
  /поговорить\s+с\s+(?:живым\s+)?(?:человеком|оператором|менеджером)/iu,
  /^\s*(?:оператор|человек|менеджер)\p{L}*\s*[.!?]*\s*$/iu,
]

// The English texts of the built-in replies; every language's are in core/language/messages.ts.
export const HANDOFF_REPLY = say('en', 'handoffStarted')
/** Offered under the agent's answers where the channel has buttons; pressing it sends the label as the customer's message. */
export const HANDOFF_CHOICE = { id: 'handoff', label: say('en', 'handoffChoice') } as const
/** The handoff button in the conversation's language. */
export const handoffChoice = (language: TurnContext['language']) => ({ id: HANDOFF_CHOICE.id, label: say(language, 'handoffChoice') })
export const VOICE_REPLY = say('en', 'voiceNotSupported')
export const FILE_REPLY = say('en', 'fileReceived')

const choiceLabels = new Set(allTexts('handoffChoice').map((t) => t.toLowerCase()))

export function wantsHuman(text: string): boolean {
  return choiceLabels.has(text.trim().toLowerCase()) || HANDOFF_PATTERNS.some((p) => p.test(text))
}

/**
 * The language of this turn's built-in messages: the agent's fixed one, or the customer's, told
 * from this message (a short or mixed one keeps the conversation's language, which is remembered).
 */
export function language(deps: { store: Store }): Step {
  return {
    name: 'language',
    async run(ctx, next) {
      const chosen = chooseLanguage({ setting: ctx.agent.language, remembered: ctx.conversation.language, text: ctx.message.text ?? '' })
      ctx.language = chosen.language
      if (chosen.remember) {
        await deps.store.conversations.setLanguage(ctx.conversation.organizationId, ctx.conversation.id, chosen.remember)
        ctx.conversation.language = chosen.remember
      }
      await next()
    },
  }
}

/** What the turn's steps need of the operators' side (core/conversation/operator-service.ts). */
export type HandoffOps = Pick<ConversationOps, 'openHandoff' | 'opened' | 'customerMessage'>

/**
 * Hands the conversation to a person from inside a turn: the bot stops answering at once, and the
 * operators are told once the customer's reply is stored, so the transcript they get includes it.
 */
export async function handOver(ctx: TurnContext, handoffs: HandoffOps, reason: string): Promise<void> {
  const { organizationId, id: conversationId } = ctx.conversation
  await handoffs.openHandoff({ organizationId, conversationId, reason, announce: false })
  ctx.conversation.state = 'handoff'
  ctx.afterReply.push(() => handoffs.opened({ organizationId, conversationId }))
}

/** An operator owns the conversation: the bot stays silent. A request for a person (typed, spoken or the button) opens a handoff. */
export function handoffGate(deps: { handoffs: HandoffOps }): Step {
  return {
    name: 'handoff',
    async run(ctx, next) {
      if (ctx.conversation.state === 'closed') return
      if (ctx.conversation.state === 'handoff') {
        await deps.handoffs.customerMessage(ctx)
        return
      }
      if (ctx.message.meta.choiceId === HANDOFF_CHOICE.id || (ctx.message.text && wantsHuman(ctx.message.text))) {
        await handOver(ctx, deps.handoffs, 'customer_request')
        ctx.reply = { author: 'system', text: say(ctx.language, 'handoffStarted') }
        ctx.billable = false
        return
      }
      await next()
    },
  }
}

/** Commands every customer may use, as the channel recognised them (core never parses text for them). */
export function commandGate(deps: { commands: CommandRegistry }): Step {
  return {
    name: 'command',
    async run(ctx, next) {
      const given = commandOf(ctx.message)
      const command = given ? deps.commands.get(given.name) : undefined
      if (!command) return next()
      ctx.reply = { author: 'agent', text: await command.run({ ctx, args: given!.args }) }
      ctx.billable = false
    },
  }
}

/**
 * A voice note is turned into text first, when a transcriber is configured and the channel can
 * fetch the audio: every later step (a request for a person, an admin's answer, the agent) reads
 * its words like typed ones.
 */
export function transcribe(deps: { store: Store; transcriber?: Transcriber; channels: ReadonlyMap<ChannelKind, ChannelAdapter>; maxAudioBytes?: number }): Step {
  return {
    name: 'transcribe',
    async run(ctx, next) {
      const audio = ctx.message.text?.trim() ? undefined : ctx.message.attachments.find((a) => a.kind === 'audio')
      const channel = deps.channels.get(ctx.inbox.channel)
      if (audio && deps.transcriber && channel?.download) {
        let text = ''
        try {
          const bytes = await channel.download({ attachment: audio, inbox: ctx.inbox, maxBytes: deps.maxAudioBytes ?? 20 * 1024 * 1024 })
          text = (await deps.transcriber.transcribe({ bytes, filename: audio.name ?? 'voice.ogg', mimeType: audio.mimeType })).trim()
        } catch (error) {
          // Retried like any step; on the last attempt the customer hears that the voice note could not be read.
          if (ctx.job.attempt < ctx.job.maxAttempts) throw error
          ctx.log.warn({ err: (error as Error).message }, 'voice message not transcribed')
        }
        if (text) {
          ctx.message.text = text
          await deps.store.messages.setText(ctx.message.organizationId, ctx.message.id, text)
        } else ctx.transcriptionFailed = true
      }
      await next()
    },
  }
}

/** A message with nothing to read (a voice note not transcribed, a bare file) gets a polite request for text. */
export function mediaGate(): Step {
  return {
    name: 'media',
    async run(ctx, next) {
      if (ctx.message.text?.trim() || !ctx.message.attachments.length) return next()
      const audio = ctx.message.attachments.some((a) => a.kind === 'audio')
      ctx.reply = { author: 'system', text: say(ctx.language, audio ? (ctx.transcriptionFailed ? 'voiceNotUnderstood' : 'voiceNotSupported') : 'fileReceived') }
      ctx.billable = false
    },
  }
}

export const RATE_LIMIT_REPLY = say('en', 'slowDown')

/**
 * At most `limit` turns per conversation in a window. The first message over the limit gets a
 * polite reply; the rest of the window's messages are done in silence, so a flood is not answered
 * with a flood of notices (each of which the channel would have to send).
 */
export function rateLimit(deps: { limiter: RateLimiter; limit: number; windowMs: number }): Step {
  return {
    name: 'rate_limit',
    async run(ctx, next) {
      const hit = await deps.limiter.hit(`turn:${ctx.conversation.id}`, { limit: deps.limit, windowMs: deps.windowMs })
      if (hit.allowed) return next()
      ctx.billable = false
      // The counter is atomic: exactly one message of the window sees the count just over the limit.
      if (hit.count === deps.limit + 1) ctx.reply = { author: 'system', text: say(ctx.language, 'slowDown') }
    },
  }
}

export function retrieve(deps: { knowledge: KnowledgeService }): Step {
  return {
    name: 'retrieve',
    async run(ctx, next) {
      ctx.search = await deps.knowledge.search({ organizationId: ctx.conversation.organizationId, agentId: ctx.agent.id, query: ctx.message.text ?? '' })
      await next()
    },
  }
}

export function answer(deps: { chatModel: ChatModel; store: Store; historyTurns: number; handoffs?: HandoffOps; onDelta?: (ctx: TurnContext, text: string) => void }): Step {
  return {
    name: 'answer',
    async run(ctx, next) {
      // Read with the message when the turn began, unless this step wants more than was read.
      const previous =
        ctx.history && deps.historyTurns <= HISTORY_TURNS
          ? ctx.history.slice(Math.max(0, ctx.history.length - deps.historyTurns))
          : await deps.store.messages.history(ctx.conversation.organizationId, ctx.conversation.id, { limit: deps.historyTurns, beforeSeq: ctx.message.seq })
      const history: ChatTurn[] = previous.map((m) => ({ role: m.direction === 'in' ? 'user' : 'assistant', content: m.text }))
      const search = ctx.search ?? { passages: [], relevant: false, confidence: 0 }
      ctx.answer = await deps.chatModel.answer({
        agent: ctx.agent,
        question: ctx.message.text ?? '',
        history,
        passages: search.passages,
        relevant: search.relevant,
        context: { organizationId: ctx.conversation.organizationId, contactId: ctx.conversation.contactId, conversationId: ctx.conversation.id },
        language: ctx.language,
        onDelta: deps.onDelta && ctx.message.meta.streaming ? (text) => deps.onDelta!(ctx, text) : undefined,
      })
      // The agent's handoff tool opened the handoff already; the operators hear of it after the reply.
      if (ctx.answer.handoff) {
        ctx.conversation.state = 'handoff'
        const { organizationId, id: conversationId } = ctx.conversation
        if (deps.handoffs) ctx.afterReply.push(() => deps.handoffs!.opened({ organizationId, conversationId }))
      }
      ctx.reply = { author: 'agent', text: ctx.answer.text, sources: ctx.answer.sources, meta: ctx.answer.meta, choices: ctx.answer.handoff ? undefined : [handoffChoice(ctx.language)] }
      await next()
    },
  }
}

/** Waits out the agent's response delay (counted from the start of the turn) before the reply goes out. */
export function responseDelay(deps: { sleep?: (ms: number) => Promise<void> } = {}): Step {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  return {
    name: 'response_delay',
    async run(ctx, next) {
      await next()
      const left = ctx.agent.responseDelayMs - (Date.now() - ctx.startedAt)
      if (ctx.reply && left > 0) await sleep(left)
    },
  }
}

/**
 * Before the agent answers a customer, the CRM may make them a lead (Kommo, when the organization
 * wants one for every new customer). A CRM that fails never keeps the customer from an answer.
 */
export function crmLead(deps: { crm?: Pick<CrmPort, 'customerWrote'> }): Step {
  return {
    name: 'crm_lead',
    async run(ctx, next) {
      if (deps.crm?.customerWrote && ctx.billable) {
        await deps.crm.customerWrote({ organizationId: ctx.conversation.organizationId, contactId: ctx.conversation.contactId, conversationId: ctx.conversation.id }).catch((error: unknown) => ctx.log.warn({ err: (error as Error).message }, 'the CRM did not make a lead'))
      }
      await next()
    },
  }
}

export function recordCost(deps: { store: Store }): Step {
  return {
    name: 'record_cost',
    async run(ctx, next) {
      for (const call of ctx.answer?.calls ?? []) {
        await deps.store.usage.recordApiCall({ organizationId: ctx.conversation.organizationId, agentId: ctx.agent.id, kind: 'chat', ...call })
      }
      await next()
    },
  }
}
