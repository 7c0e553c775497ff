import { EventEmitter } from 'node:events'
import type { Notifier } from '../../core/ports.ts'

/** Notifications inside one process. */
export function createMemoryNotifier(): Notifier {
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  return {
    publish: async (topic, payload) => {
      emitter.emit(topic, payload)
    },
    subscribe: async (topic, handler) => {
      emitter.on(topic, handler)
      return async () => {
        emitter.off(topic, handler)
      }
    },
    close: async () => {
      emitter.removeAllListeners()
    },
  }
}
