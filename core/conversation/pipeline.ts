import type { Agent, Answer, Conversation, Inbox, JobContext, Logger, Message, MessageAuthor, OutboundMessage, ReplyMeta } from '../ports.ts'
import type { SearchResult } from '../knowledge/knowledge-service.ts'
import type { Language } from '../language/messages.ts'
import type { BillingSubscription } from '../billing/plans.ts'

/** Messages of the conversation before the customer's one that the turn reads with it (the model's history). */
export const HISTORY_TURNS = 10

/** Everything one turn knows. Steps read it, add to it, and decide whether the chain goes on. */
export type TurnContext = {
  message: Message
  conversation: Conversation
  agent: Agent
  inbox: Inbox
  job: JobContext
  log: Logger
  /** The language of Switchboard's own words to this customer (the agent's fixed one, or the customer's). */
  language: Language
  /** A voice note could not be turned into text (the transcriber failed or heard nothing). */
  transcriptionFailed?: boolean
  search?: SearchResult
  answer?: Answer
  /** The reply to store and send; absent when the turn ends in silence (e.g. an operator owns the chat). */
  reply?: OutboundMessage & { author: MessageAuthor; meta?: ReplyMeta }
  /** Whether the reply consumes one response of the organization's plan (not for admins' test chats). */
  billable: boolean
  startedAt: number
  /** Done once the reply is stored and sent (e.g. telling operators of a handoff, with the reply in its transcript). */
  afterReply: (() => Promise<void>)[]
  /** The HISTORY_TURNS messages before this one, oldest first, when the turn read them with the message. */
  history?: Message[]
  /** The organization's subscription as read with the message (null: none, a trial); absent: not read. */
  subscription?: BillingSubscription | null
}

export type Step = { name: string; run: (ctx: TurnContext, next: () => Promise<void>) => Promise<void> }

/** Runs steps as a chain: each calls next() to continue or returns to stop. */
export function compose(steps: Step[], onStepError?: (step: string) => void): (ctx: TurnContext) => Promise<void> {
  return (ctx) => {
    const dispatch = async (i: number): Promise<void> => {
      const step = steps[i]
      if (!step) return
      try {
        await step.run(ctx, () => dispatch(i + 1))
      } catch (error) {
        if (!(error as { stepReported?: boolean }).stepReported) {
          onStepError?.(step.name)
          ctx.log.warn({ step: step.name, err: error }, 'turn step failed')
          if (error && typeof error === 'object') Object.assign(error, { stepReported: true })
        }
        throw error
      }
    }
    return dispatch(0)
  }
}
