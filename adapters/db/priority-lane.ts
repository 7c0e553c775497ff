import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * The embedded database has one connection: PGlite runs one query (or one whole transaction) at
 * a time, first come first served. Left alone, a webhook's INSERT waits behind every statement the
 * turns have queued. The lane sits in front of it and hands the connection out one operation at a
 * time, urgent ones first: an operation started inside `urgent(fn)` (ingress: storing what a
 * service delivered before acknowledging it) waits at most for the one operation that holds the
 * connection, never for the queue behind it.
 *
 * Other operations run one after another for at most `chainMs` (2 ms), then the next starts on a
 * new turn of the event loop, so that the requests that arrived meanwhile are read first. While
 * ingress work is under way (inside `urgent`, from the request's arrival to its answer), the other
 * operations also yield: one waits up to `yieldMs` for the connection (a turn then runs at a few
 * statements per `yieldMs`), leaving the process's one CPU thread to the deliveries during a burst.
 * The turns catch up when it ends; nothing waits longer than `yieldMs` for its place.
 *
 * A transaction is one operation: it keeps the connection from BEGIN to COMMIT (its own
 * statements go to the transaction's handle, not through the lane), so nothing is interleaved in
 * it. Order within each priority is kept.
 */
export type PriorityLane = {
  /** Runs `fn`; every operation it (and what it awaits) sends through the lane goes first. */
  urgent<T>(fn: () => Promise<T>): Promise<T>
  /** Runs a webhook delivery: urgent, and counted by `ingressBusy`. */
  delivery<T>(fn: () => Promise<T>): Promise<T>
  /** Hands the connection to `op` when its turn comes (urgent when called inside `urgent`). */
  run<T>(op: () => Promise<T>): Promise<T>
  /** Operations waiting, by priority (tests, metrics). */
  waiting(): { urgent: number; normal: number }
  /**
   * Whether a webhook delivery is being handled, or was less than `yieldMs` ago (the gap between
   * one delivery and the next of a burst): the in-process queue then starts no second job
   * (adapters/queue/in-process.ts). A web chat message is not counted: its customer waits for the
   * turn it queues.
   */
  ingressBusy(): boolean
}

type Waiting = { op: () => Promise<unknown>; resolve: (value: unknown) => void; reject: (error: unknown) => void; at: number }

/** How long another operation yields its place while ingress work is under way, at most. */
export const DEFAULT_YIELD_MS = 20
/** How long operations may follow one another before the event loop reads its sockets again. */
export const DEFAULT_CHAIN_MS = 2

export function createPriorityLane(options: { yieldMs?: number; chainMs?: number; now?: () => number } = {}): PriorityLane {
  const yieldMs = options.yieldMs ?? DEFAULT_YIELD_MS
  const chainMs = options.chainMs ?? DEFAULT_CHAIN_MS
  const now = options.now ?? performance.now.bind(performance)
  const context = new AsyncLocalStorage<true>()
  const urgentQueue: Waiting[] = []
  const normalQueue: Waiting[] = []
  let busy = false
  let ingress = 0 // urgent() calls under way
  let deliveries = 0 // delivery() calls under way
  let deliveryEndedAt = -Infinity
  let timer: NodeJS.Timeout | undefined

  let deferred = false // a normal operation is to start on the next turn of the event loop
  let turnStartedAt = -Infinity // when operations last started on a fresh turn of the loop

  function next(onNewTurn = false) {
    if (busy) return
    let item = urgentQueue.shift()
    if (!item && normalQueue.length) {
      const waited = now() - normalQueue[0]!.at
      if (ingress > 0 && waited < yieldMs) {
        // Ingress is being handled: the others wait a little, and go when it is done or their time is up.
        if (!timer) {
          timer = setTimeout(() => {
            timer = undefined
            next()
          }, Math.ceil(yieldMs - waited))
          timer.unref?.()
        }
        return
      }
      if (!onNewTurn && now() - turnStartedAt >= chainMs) {
        // PGlite answers within the microtasks of the caller: left alone, a turn's statements would
        // follow one another without the event loop ever reading a socket, and a delivery arriving
        // meanwhile would not even be seen. So once operations have run for `chainMs` since the
        // loop last read its sockets, the next starts on the next turn of the loop, after the I/O
        // that came meanwhile has been read (and its urgent statement queued).
        if (!deferred) {
          deferred = true
          setImmediate(() => {
            deferred = false
            turnStartedAt = now()
            next(true)
          })
        }
        return
      }
      item = normalQueue.shift()
    }
    if (!item) return
    busy = true
    let result: Promise<unknown>
    try {
      result = Promise.resolve(item.op())
    } catch (error) {
      result = Promise.reject(error)
    }
    result.then(item.resolve, item.reject).finally(() => {
      busy = false
      next()
    })
  }

  const lane: PriorityLane = {
    async urgent<T>(fn: () => Promise<T>): Promise<T> {
      ingress++
      try {
        return await context.run(true, fn)
      } finally {
        ingress--
        if (ingress === 0) next()
      }
    },
    run<T>(op: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        ;(context.getStore() ? urgentQueue : normalQueue).push({ op, resolve: resolve as (value: unknown) => void, reject, at: now() })
        next()
      })
    },
    waiting: () => ({ urgent: urgentQueue.length, normal: normalQueue.length }),
    async delivery<T>(fn: () => Promise<T>): Promise<T> {
      deliveries++
      try {
        return await lane.urgent(fn)
      } finally {
        deliveries--
        if (deliveries === 0) deliveryEndedAt = now()
      }
    },
    ingressBusy: () => deliveries > 0 || now() - deliveryEndedAt < yieldMs,
  }
  return lane
}

/** The calls of a PGlite client that take its connection: each goes through the lane. */
type Connection = {
  query(...args: never[]): Promise<unknown>
  exec(...args: never[]): Promise<unknown>
  transaction(...args: never[]): Promise<unknown>
}

/**
 * The client as Prisma's adapter and the raw runner see it: `query`, `exec` and `transaction` wait
 * for their turn in the lane; everything else is the client's own.
 */
export function throughLane<C extends Connection>(client: C, lane: PriorityLane): C {
  const gated = new Set<PropertyKey>(['query', 'exec', 'transaction'])
  return new Proxy(client, {
    get(target, property) {
      // Read on the client itself: its getters use private fields, which a proxy does not have.
      const value = Reflect.get(target, property)
      if (!gated.has(property) || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value
      return (...args: unknown[]) => lane.run(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args))
    },
  })
}
