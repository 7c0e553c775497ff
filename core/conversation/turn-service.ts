import { AppError } from '../errors.ts'
import { DELIVERY_REFUSED } from '../ports.ts'
import type { ChannelAdapter, ChannelKind, Conversation, ConversationState, InboundMessage, Inbox, JobContext, Logger, Message, Metrics, Notifier, Queue, Store, TurnLoad } from '../ports.ts'
import { HISTORY_TURNS, type TurnContext } from './pipeline.ts'
import type { LiveEvents } from './live-events.ts'
import { conversationLanguage, say } from '../language/index.ts'

export const TURN_JOB = 'conversation.turn'
export type TurnJob = { organizationId: string; conversationId: string }

/** The English text of the reply to a turn that failed on its last attempt (see the catalogue in core/language). */
export const FAILURE_REPLY = say('en', 'failure')
export const conversationTopic = (conversationId: string) => `conversation:${conversationId}`
/** Text deltas of the answer to one inbound message, while it is being written. */
export const streamTopic = (inboundId: string) => `stream:${inboundId}`
/**
 * The end of the turn of one inbound message, named by what the channel knows before the message
 * is stored (its inbox and external id): a request/response channel listens before it stores the
 * message, so the outcome cannot pass unseen, and needs no database read to learn it.
 */
export const turnTopic = (inboxId: string, externalMessageId: string) => `turn:${inboxId}:${externalMessageId}`
/** What turnTopic carries: the inbound message's end, the conversation's state then, and the reply as stored. */
export type TurnOutcome = { inboundId: string; status: 'done' | 'failed'; state: ConversationState; reply: Message | null }
export type Waited = { reply: Message | null; settled: boolean; state: ConversationState | null }

export type TurnServiceDeps = {
  store: Store
  queue: Queue
  notifier: Notifier
  channels: ReadonlyMap<ChannelKind, ChannelAdapter>
  runPipeline: (ctx: TurnContext) => Promise<void>
  logger: Logger
  metrics?: Metrics
  /** New conversations and messages, for the admin web's live view. */
  events?: LiveEvents
}

/**
 * The flow of one message: ingress stores it (a redelivery is a no-op) and enqueues a turn for its
 * conversation; the worker runs that conversation's pending messages one at a time, in order,
 * through the pipeline; the reply is stored once per inbound message and sent with a key derived
 * from it, so a retried job never replies twice.
 */
export function createTurnService(deps: TurnServiceDeps) {
  const { store, queue, notifier, logger } = deps

  const enqueueTurn = (input: { organizationId: string; conversationId: string; messageId: string }) =>
    queue.add(TURN_JOB, { organizationId: input.organizationId, conversationId: input.conversationId } satisfies TurnJob, {
      groupKey: input.conversationId,
      jobId: `turn:${input.messageId}`,
      attempts: 3,
      backoffMs: 200,
    })

  async function receive(inbox: Inbox, inbound: InboundMessage) {
    const { conversation, message, created, conversationCreated } = await store.messages.receive({ inbox, message: inbound })
    if (message.status === 'pending') await enqueueTurn({ organizationId: inbox.organizationId, conversationId: conversation.id, messageId: message.id })
    if (conversationCreated) await deps.events?.publish(inbox.organizationId, { type: 'conversation.created', conversationId: conversation.id, agentId: conversation.agentId, inboxId: inbox.id })
    if (created) await deps.events?.publish(inbox.organizationId, { type: 'message.created', conversationId: conversation.id, messageId: message.id, author: 'contact' })
    return { conversation, message, created }
  }

  /** After a restart: every stored message still waiting for its turn gets one (nothing is lost with the in-process queue). */
  async function recover(): Promise<number> {
    const pending = await store.recovery.pendingTurns(10_000)
    for (const p of pending) await enqueueTurn(p)
    return pending.length
  }

  /**
   * Runs the oldest pending inbound message of the conversation. Every stored message has its own
   * job, so one turn per job answers them all; taking the oldest (not the job's own message) keeps
   * them in order even if jobs were picked up out of order.
   */
  async function processConversation(job: TurnJob, jobCtx: JobContext): Promise<void> {
    // One query reads everything the turn starts from (message, conversation, inbox, agent, a
    // stored reply, the history, the subscription): nothing is cached between turns.
    const load = await store.messages.nextTurn(job.organizationId, job.conversationId, { historyTurns: HISTORY_TURNS })
    if (load) await runTurn(load, jobCtx)
  }

  async function runTurn(load: TurnLoad, jobCtx: JobContext): Promise<void> {
    const started = performance.now()
    const { message, conversation, inbox } = load
    const log = logger.child({ jobId: jobCtx.jobId, messageId: message.id, conversationId: message.conversationId })
    if (!conversation || !inbox || inbox.organizationId !== message.organizationId) {
      await finish(message, 'failed', 'conversation or inbox no longer exists', { state: conversation?.state ?? 'bot' })
      return
    }

    // An earlier run may have stored the reply and then failed or died before sending it. After a
    // restart the job starts again at attempt 1, so the stored reply is looked for on every run:
    // otherwise the model would be called, and its cost recorded, a second time.
    const stored = load.reply
    if (stored) {
      const sent = stored.status !== 'sent' && (await deliver({ reply: stored, conversation, inbox, replyContext: message.meta.replyContext }))
      await finish(message, 'done', undefined, { state: conversation.state, reply: stored, sent })
      return
    }

    const agent = load.agent
    if (!agent) {
      await finish(message, 'failed', 'agent was deleted', { state: conversation.state })
      return
    }
    // The conversation's language until the language step reads this message (core/conversation/steps.ts).
    const language = conversationLanguage({ setting: agent.language, remembered: conversation.language })
    const ctx: TurnContext = {
      message,
      conversation,
      agent,
      inbox,
      job: jobCtx,
      log,
      language,
      billable: inbox.purpose !== 'test',
      startedAt: Date.now(),
      afterReply: [],
      history: load.history,
      subscription: load.subscription,
    }
    const stopTyping = showTyping(inbox, conversation, log)
    try {
      await deps.runPipeline(ctx)
    } catch (error) {
      stopTyping()
      if (jobCtx.attempt < jobCtx.maxAttempts) throw error
      log.error({ err: error }, 'turn failed after its last attempt')
      ctx.reply = { author: 'system', text: say(ctx.language, 'failure') }
      ctx.billable = false
      await replyAndFinish(ctx, 'failed', error instanceof AppError ? error.code : 'turn_failed')
      deps.metrics?.turnDuration((performance.now() - started) / 1000, 'failed')
      return
    }
    stopTyping()
    await replyAndFinish(ctx, 'done')
    const outcome = ctx.reply ? 'answered' : 'silent'
    const ms = performance.now() - started
    deps.metrics?.turnDuration(ms / 1000, outcome)
    log.info({ outcome, ms: Math.round(ms), attempt: jobCtx.attempt }, 'turn done')
  }

  async function replyAndFinish(ctx: TurnContext, status: 'done' | 'failed', error?: string) {
    const { message, conversation, inbox } = ctx
    let reply: Message | null = null
    let sent = false
    if (ctx.reply) {
      const inserted = await store.messages.insertReply({
        organizationId: message.organizationId,
        inboxId: message.inboxId,
        conversationId: message.conversationId,
        replyToId: message.id,
        externalMessageId: `reply:${message.id}`,
        author: ctx.reply.author,
        text: ctx.reply.text,
        sources: ctx.reply.sources ?? [],
        meta: ctx.reply.choices?.length ? { ...ctx.reply.meta, choices: ctx.reply.choices } : ctx.reply.meta,
      })
      reply = inserted.message
      // A reply stored and sent by an earlier run (that died before finishing) is not sent again.
      if (inserted.created || reply.status !== 'sent') sent = await deliver({ reply, conversation, inbox, replyContext: message.meta.replyContext })
      if (inserted.created) await deps.events?.publish(message.organizationId, { type: 'message.created', conversationId: conversation.id, messageId: reply.id, author: reply.author })
    }
    await finish(message, status, error, { state: conversation.state, reply, sent })
    for (const after of ctx.afterReply) await after().catch((err: unknown) => ctx.log.warn({ err: (err as Error).message }, 'a step after the reply failed'))
  }

  /** Sends the stored reply; true when sent (its status is set with the turn's end), false when the channel refused it. */
  async function deliver(input: { reply: Message; conversation: { id: string; externalThreadId: string }; inbox: Inbox; replyContext?: Record<string, string> }): Promise<boolean> {
    const { reply, conversation, inbox, replyContext } = input
    const channel = deps.channels.get(inbox.channel)
    if (!channel) throw new AppError('channel_unavailable', `No adapter for channel ${inbox.channel}`, 500)
    try {
      await channel.send({
        to: { conversationId: conversation.id, externalThreadId: conversation.externalThreadId, ...(replyContext ? { replyContext } : {}) },
        message: { text: reply.text, sources: reply.sources, choices: reply.meta.choices, author: reply.author },
        inbox,
        sendKey: reply.externalMessageId,
      })
    } catch (error) {
      // The service's rules forbid it now (a closed messaging window): kept as not sent, with the reason; retrying cannot help.
      if (error instanceof AppError && error.code === DELIVERY_REFUSED) {
        await store.messages.setStatus(reply.organizationId, reply.id, 'failed', error.message)
        logger.warn({ messageId: reply.id, inboxId: inbox.id, reason: error.message }, 'reply not delivered: refused by the channel')
        reply.status = 'failed'
        return false
      }
      throw error
    }
    return true
  }

  /** The channel's "typing..." while the turn runs (renewed every few seconds); failures only logged. */
  function showTyping(inbox: Inbox, conversation: { id: string; externalThreadId: string; state: string }, log: Logger): () => void {
    const channel = deps.channels.get(inbox.channel)
    if (!channel?.typing || conversation.state !== 'bot') return () => {}
    const to = { conversationId: conversation.id, externalThreadId: conversation.externalThreadId }
    const tick = () => void channel.typing!({ to, inbox }).catch((error: unknown) => log.debug({ err: (error as Error).message }, 'typing indicator failed'))
    tick()
    const timer = setInterval(tick, 4500)
    return () => clearInterval(timer)
  }

  /**
   * The inbound message done or failed and, when it was just sent, its reply marked sent: one
   * statement. Then the outcome is announced with the reply, for whoever waits for it.
   */
  async function finish(message: Message, status: 'done' | 'failed', error: string | undefined, end: { state: ConversationState; reply?: Message | null; sent?: boolean }) {
    const reply = end.reply ?? null
    await store.messages.settle({ organizationId: message.organizationId, inboundId: message.id, status, ...(error ? { error } : {}), ...(reply && end.sent ? { sentReplyId: reply.id } : {}) })
    if (reply && end.sent) reply.status = 'sent'
    const outcome: TurnOutcome = { inboundId: message.id, status, state: end.state, reply }
    await notifier.publish(turnTopic(message.inboxId, message.externalMessageId), outcome)
  }

  /** Listens for the outcome of the turn of (inboxId, externalMessageId); call before the message is stored. */
  async function listen(inboxId: string, externalMessageId: string) {
    let outcome: TurnOutcome | undefined
    let wake: () => void = () => {}
    const woke = new Promise<void>((resolve) => (wake = resolve))
    const unsubscribe = await notifier.subscribe(turnTopic(inboxId, externalMessageId), (payload) => {
      const p = payload as Partial<TurnOutcome> | undefined
      if (!p?.inboundId || (p.status !== 'done' && p.status !== 'failed')) return
      // Through Redis the reply arrives as JSON: its date as text.
      const reply = p.reply ? { ...p.reply, createdAt: new Date(p.reply.createdAt) } : null
      outcome = { inboundId: p.inboundId, status: p.status, state: p.state ?? 'bot', reply }
      wake()
    })
    return {
      unsubscribe,
      /** The outcome, or after timeoutMs what the database says. */
      async wait(organizationId: string, message: Message, timeoutMs: number): Promise<Waited> {
        if (!outcome || outcome.inboundId !== message.id) {
          let timer: NodeJS.Timeout | undefined
          await Promise.race([woke, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
          clearTimeout(timer)
        }
        if (outcome && outcome.inboundId === message.id) return { reply: outcome.reply, settled: true, state: outcome.state }
        return { ...(await check(organizationId, message.id)), state: null }
      },
    }
  }

  async function check(organizationId: string, messageId: string) {
    const current = await store.messages.get(organizationId, messageId)
    const settled = current?.status === 'done' || current?.status === 'failed'
    return { settled, reply: settled ? await store.messages.replyTo(organizationId, messageId) : null }
  }

  /**
   * Waits until the inbound message has been handled and returns its reply (null when the turn
   * ended in silence or the wait timed out). Used by request/response channels such as web chat.
   */
  async function waitForReply(input: { organizationId: string; message: Message; timeoutMs: number }): Promise<Waited> {
    const { organizationId, message } = input
    const listener = await listen(message.inboxId, message.externalMessageId)
    try {
      const first = await check(organizationId, message.id)
      if (first.settled) return { ...first, state: null }
      return await listener.wait(organizationId, message, input.timeoutMs)
    } finally {
      await listener.unsubscribe()
    }
  }

  /**
   * receive() and waitForReply() together, for a request that waits for its answer: it listens
   * before storing, so a new message's answer costs no database read beyond the turn's own; a
   * redelivered message that was answered already is read back.
   */
  async function receiveAndWait(inbox: Inbox, inbound: InboundMessage, timeoutMs: number): Promise<{ conversation: Conversation; message: Message; created: boolean } & Waited> {
    const listener = await listen(inbox.id, inbound.externalMessageId)
    try {
      const received = await receive(inbox, inbound)
      const { message } = received
      if (message.status === 'done' || message.status === 'failed') {
        return { ...received, settled: true, reply: await store.messages.replyTo(inbox.organizationId, message.id), state: null }
      }
      return { ...received, ...(await listener.wait(inbox.organizationId, message, timeoutMs)) }
    } finally {
      await listener.unsubscribe()
    }
  }

  return { receive, recover, processConversation, waitForReply, receiveAndWait }
}

export type TurnService = ReturnType<typeof createTurnService>
