import { Redis } from 'ioredis'
import type { Logger, Notifier } from '../../core/ports.ts'
import { createMemoryNotifier } from './memory-notifier.ts'

/** Redis pub/sub, so a web chat request in the server process hears a reply made by a worker. */
export function createRedisNotifier(deps: { redisUrl: string; prefix?: string; logger: Logger }): Notifier {
  const prefix = `${deps.prefix ?? 'switchboard'}:events:`
  const pub = new Redis(deps.redisUrl, { maxRetriesPerRequest: 3 })
  const sub = new Redis(deps.redisUrl, { maxRetriesPerRequest: 3 })
  for (const c of [pub, sub]) c.on('error', (err) => deps.logger.warn({ err: err.message }, 'redis notifier error'))
  const local = createMemoryNotifier()
  const counts = new Map<string, number>()
  sub.on('message', (channel: string, message: string) => {
    try {
      void local.publish(channel.slice(prefix.length), JSON.parse(message))
    } catch {
      deps.logger.warn({ channel }, 'unreadable notification')
    }
  })
  return {
    publish: async (topic, payload) => {
      await pub.publish(prefix + topic, JSON.stringify(payload))
    },
    subscribe: async (topic, handler) => {
      const off = await local.subscribe(topic, handler)
      const n = (counts.get(topic) ?? 0) + 1
      counts.set(topic, n)
      if (n === 1) await sub.subscribe(prefix + topic)
      return async () => {
        await off()
        const left = (counts.get(topic) ?? 1) - 1
        if (left <= 0) {
          counts.delete(topic)
          await sub.unsubscribe(prefix + topic).catch(() => undefined)
        } else counts.set(topic, left)
      }
    },
    close: async () => {
      pub.disconnect()
      sub.disconnect()
    },
  }
}
