/**
 * A messenger's outbound limits, kept by reserving a time slot for every message before it is
 * sent (Telegram: 1 message per second in a chat, 30 per second per bot, 20 per minute in a group;
 * Slack: about 1 per second in a channel). Messages over the limit wait for their slot (queued,
 * never dropped). Slots are reserved synchronously, so concurrent sends in one process never
 * overbook. With Redis, every worker shares one book instead (redis-send-scheduler.ts); the
 * service's 429 with its retry time is the last guard.
 */
export type SendLimits = { perChatMs: number; perBotPerSecond: number; perGroupPerMinute: number }

type Rule = { key: string; windowMs: number; limit: number }

export function createSendScheduler(input: { limits: SendLimits; now?: () => number; sleep?: (ms: number) => Promise<void> }) {
  const limits = input.limits
  const now = input.now ?? Date.now
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const book = new Map<string, number[]>()

  const prune = (at: number) => {
    for (const [key, times] of book) {
      const kept = times.filter((t) => t > at - 60_000)
      if (kept.length) book.set(key, kept)
      else book.delete(key)
    }
  }

  /** The earliest time at or after `from` when no rule has `limit` slots within `windowMs` on either side. */
  function earliest(from: number, rules: Rule[]): number {
    let t = from
    for (let changed = true; changed; ) {
      changed = false
      for (const rule of rules) {
        const near = (book.get(rule.key) ?? []).filter((s) => s > t - rule.windowMs && s < t + rule.windowMs).sort((a, b) => a - b)
        if (near.length >= rule.limit) {
          // Move past the earliest slot that crowds this one, and check every rule again.
          t = near[near.length - rule.limit]! + rule.windowMs
          changed = true
        }
      }
    }
    return t
  }

  return {
    /** Waits until this message may go out; returns how long it waited (ms). */
    async slot(target: { bot: string; chat: string; group: boolean }): Promise<number> {
      const start = now()
      if (book.size > 1000) prune(start)
      const rules: Rule[] = [
        { key: `chat:${target.bot}:${target.chat}`, windowMs: limits.perChatMs, limit: 1 },
        { key: `bot:${target.bot}`, windowMs: 1000, limit: limits.perBotPerSecond },
      ]
      if (target.group) rules.push({ key: `group:${target.bot}:${target.chat}`, windowMs: 60_000, limit: limits.perGroupPerMinute })
      const at = earliest(start, rules)
      for (const rule of rules) book.set(rule.key, [...(book.get(rule.key) ?? []), at])
      const wait = at - start
      if (wait > 0) await sleep(wait)
      return wait
    },
  }
}

export type SendScheduler = ReturnType<typeof createSendScheduler>
