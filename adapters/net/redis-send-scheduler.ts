import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { SendLimits, SendScheduler } from './send-scheduler.ts'

/**
 * A messenger's outbound limits shared by every process that sends for the same bots: the same
 * slot book as createSendScheduler, kept in Redis sorted sets and reserved by one Lua script, so
 * two workers never book the same second of a chat or more than 30 messages a second for a bot.
 */
const RESERVE = `
local t = tonumber(ARGV[1])
local n = #KEYS
for i = 1, n do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', t - 120000) end
local changed = true
while changed do
  changed = false
  for i = 1, n do
    local w = tonumber(ARGV[2 * i])
    local limit = tonumber(ARGV[2 * i + 1])
    local near = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. (t - w), '(' .. (t + w), 'WITHSCORES')
    local count = #near / 2
    if count >= limit then
      t = tonumber(near[2 * (count - limit + 1)]) + w
      changed = true
    end
  end
end
for i = 1, n do
  redis.call('ZADD', KEYS[i], t, ARGV[2 * n + 2])
  redis.call('PEXPIRE', KEYS[i], 120000)
end
return t
`

export function createRedisSendScheduler(input: { redis: Redis; prefix: string; namespace: string; limits: SendLimits; sleep?: (ms: number) => Promise<void> }): SendScheduler {
  const limits = input.limits
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const key = (k: string) => `${input.prefix}:${input.namespace}:slots:${k}`
  return {
    async slot(target) {
      const start = Date.now()
      const rules = [
        { key: key(`chat:${target.bot}:${target.chat}`), windowMs: limits.perChatMs, limit: 1 },
        { key: key(`bot:${target.bot}`), windowMs: 1000, limit: limits.perBotPerSecond },
        ...(target.group ? [{ key: key(`group:${target.bot}:${target.chat}`), windowMs: 60_000, limit: limits.perGroupPerMinute }] : []),
      ]
      const args = [String(start), ...rules.flatMap((r) => [String(r.windowMs), String(r.limit)]), randomUUID()]
      const at = Number(await input.redis.eval(RESERVE, rules.length, ...rules.map((r) => r.key), ...args))
      const wait = Math.max(0, at - start)
      if (wait > 0) await sleep(wait)
      return wait
    },
  }
}
