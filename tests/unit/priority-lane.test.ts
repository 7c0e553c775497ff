import { describe, expect, it } from 'vitest'
import { createPriorityLane } from '../../adapters/db/priority-lane.ts'
import { createInboundWriter, type InboundItem } from '../../adapters/db/inbound-writer.ts'
import type { SqlRunner } from '../../adapters/db/migrate.ts'

/** An operation that holds the connection until released. */
function held() {
  let release: () => void = () => {}
  const done = new Promise<void>((resolve) => (release = resolve))
  return { op: () => done, release }
}
const tick = () => new Promise((resolve) => setImmediate(resolve))

describe('the priority lane in front of the single embedded connection', () => {
  it('serves an urgent operation before the normal ones queued ahead of it, and keeps each priority in order', async () => {
    const lane = createPriorityLane()
    const order: string[] = []
    const record = (name: string) => async () => void order.push(name)
    const holder = held()
    const first = lane.run(holder.op) // a turn's statement holds the connection...
    await tick() // ...from the next turn of the event loop
    const normal = [lane.run(record('turn-1')), lane.run(record('turn-2')), lane.run(record('turn-3'))]
    const urgent = [lane.urgent(() => lane.run(record('ingress-1'))), lane.urgent(async () => lane.run(record('ingress-2')))]
    await tick()
    expect(order).toEqual([]) // nothing runs while the connection is held
    expect(lane.waiting()).toEqual({ urgent: 2, normal: 3 })
    holder.release()
    await Promise.all([first, ...normal, ...urgent])
    expect(order).toEqual(['ingress-1', 'ingress-2', 'turn-1', 'turn-2', 'turn-3'])
  })

  it('lets normal operations follow one another for 2 ms at most, then reads what arrived meanwhile before the next', async () => {
    let clock = 0
    const lane = createPriorityLane({ now: () => clock })
    const order: string[] = []
    const turns = [1, 2, 3, 4].map((n) =>
      lane.run(async () => {
        order.push(`turn-${n}`)
        // A request arriving while the first statement runs (PGlite answers within the caller's microtasks).
        if (n === 1) setImmediate(() => order.push('request read'))
        // The second statement is a long one.
        if (n === 2) clock += 5
      }),
    )
    await Promise.all(turns)
    // turn-2 follows turn-1 at once (no time had passed); after turn-2's 5 ms the loop reads the request first.
    expect(order).toEqual(['turn-1', 'turn-2', 'request read', 'turn-3', 'turn-4'])
  })

  it('hands the connection to one operation at a time, even when one fails', async () => {
    const lane = createPriorityLane()
    let running = 0
    let most = 0
    const op = (fail: boolean) => async () => {
      running++
      most = Math.max(most, running)
      await tick()
      running--
      if (fail) throw new Error('statement failed')
      return 'ok'
    }
    const results = await Promise.allSettled([lane.run(op(false)), lane.run(op(true)), lane.urgent(() => lane.run(op(false))), lane.run(op(false))])
    expect(most).toBe(1)
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
  })

  it('is urgent for everything awaited inside urgent(), across awaits', async () => {
    const lane = createPriorityLane()
    const order: string[] = []
    const holder = held()
    const first = lane.run(holder.op)
    await tick()
    const normal = lane.run(async () => void order.push('turn'))
    const ingress = lane.urgent(async () => {
      await tick()
      await lane.run(async () => void order.push('ingress: inbox'))
      await lane.run(async () => void order.push('ingress: message'))
    })
    await tick()
    await tick()
    holder.release()
    await Promise.all([first, normal, ingress])
    // The second urgent statement was queued after the turn's, once the first had run: it still went first.
    expect(order[0]).toBe('ingress: inbox')
    expect(order).toContain('turn')
    expect(order.indexOf('ingress: message')).toBeGreaterThan(0)
  })
})

describe('the other work yields to ingress while it is under way', () => {
  it('a normal operation waits while a delivery is being handled, and goes as soon as it is done', async () => {
    const lane = createPriorityLane({ yieldMs: 60_000 })
    const order: string[] = []
    const delivery = held()
    const handling = lane.urgent(async () => {
      await lane.run(async () => void order.push('ingress: stored'))
      await delivery.op() // verifying, answering: not a statement, but ingress all the same
    })
    await tick()
    const turn = lane.run(async () => void order.push('turn'))
    await tick()
    await tick()
    expect(order).toEqual(['ingress: stored']) // the connection is free, yet the turn yields
    delivery.release()
    await Promise.all([handling, turn])
    expect(order).toEqual(['ingress: stored', 'turn'])
  })

  it('yields for yieldMs at most: the other work is never starved by a stream of deliveries', async () => {
    const lane = createPriorityLane({ yieldMs: 30 })
    const endless = held()
    const handling = lane.urgent(() => endless.op())
    // Resolves on its own while the delivery is still under way (were it not bounded, the test would time out).
    await lane.run(async () => 'turn ran')
    endless.release()
    await handling
  })
})

describe('deliveries arriving hold the in-process queue to one job at a time', () => {
  it('counts a webhook delivery, and the moment after it, as busy; a web chat message (urgent only) is not', async () => {
    let clock = 1000
    const lane = createPriorityLane({ yieldMs: 20, now: () => clock })
    expect(lane.ingressBusy()).toBe(false)
    await lane.urgent(async () => {
      expect(lane.ingressBusy()).toBe(false)
    })
    expect(lane.ingressBusy()).toBe(false)
    await lane.delivery(async () => {
      expect(lane.ingressBusy()).toBe(true)
    })
    clock += 19
    expect(lane.ingressBusy()).toBe(true) // the gap between two deliveries of a burst
    clock += 1
    expect(lane.ingressBusy()).toBe(false)
  })

  it('starts no second job while busy, and runs at its concurrency again once the deliveries stop', async () => {
    const { createInProcessQueue } = await import('../../adapters/queue/in-process.ts')
    let busy = true
    const queue = createInProcessQueue({ logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this } } as never, yieldTo: () => busy })
    let running = 0
    let most = 0
    const release: (() => void)[] = []
    queue.process('turn', () => {
      running++
      most = Math.max(most, running)
      return new Promise<void>((resolve) => release.push(() => { running--; resolve() }))
    }, { concurrency: 4 })
    for (let n = 0; n < 6; n++) await queue.add('turn', {}, { groupKey: `conversation-${n}` })
    await new Promise((r) => setTimeout(r, 60))
    expect(running).toBe(1) // a burst: one job, not four
    busy = false
    await new Promise((r) => setTimeout(r, 60))
    expect(running).toBe(4) // the burst is over: the queue's own concurrency
    while (release.length) {
      release.shift()!()
      await new Promise((r) => setTimeout(r, 30))
    }
    await queue.onIdle()
    expect(most).toBe(4)
    await queue.close()
  })
})

describe('the in-process queue runs jobs in its own context', () => {
  it('a job added while ingress is handled is not ingress itself', async () => {
    const { createInProcessQueue } = await import('../../adapters/queue/in-process.ts')
    const { AsyncLocalStorage } = await import('node:async_hooks')
    const caller = new AsyncLocalStorage<string>()
    const queue = createInProcessQueue({ logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this } } as never })
    const seen: (string | undefined)[] = []
    queue.process('job', async () => void seen.push(caller.getStore()))
    await tick() // the queue has looked for work and found none: the job below is picked up by the add's own wake-up
    await caller.run('webhook', () => queue.add('job', {}))
    await queue.onIdle()
    expect(seen).toEqual([undefined])
    await queue.close()
  })
})

const item = (n: number, thread = 't1'): InboundItem => ({
  id: `m${n}`,
  inboxId: 'inbox',
  externalThreadId: thread,
  externalMessageId: `e${n}`,
  externalUserId: 'u1',
  userName: null,
  text: `text ${n}`,
  attachments: [],
  meta: {},
  newIds: { conversation: `c${n}`, contact: `p${n}`, identity: `i${n}` },
})
const row = (id: string, outcome: 'stored' | 'existing' = 'stored') => ({ input_id: id, outcome, id, seq: 1, organizationId: 'org', inboxId: 'inbox', conversationId: 'c1', externalMessageId: `e-${id}`, text: '', attachments: [], meta: {}, status: 'pending', createdAtMs: 0, c_agentId: 'a', c_contactId: 'p', c_externalThreadId: 't1', c_state: 'bot', c_createdAtMs: 0, c_lastMessageAtMs: 0, c_new: false })

/** A runner whose statements complete (or fail) only when the test says so. */
function controlledRunner() {
  const statements: { params: unknown[]; finish: (rows: unknown[]) => void; fail: (error: Error) => void }[] = []
  const runner: SqlRunner = {
    exec: async () => undefined,
    withLock: (fn) => fn(),
    query: <T,>(_sql: string, params: unknown[] = []) =>
      new Promise<T[]>((resolve, reject) => statements.push({ params, finish: (rows) => resolve(rows as T[]), fail: reject })),
  }
  return { runner, statements }
}

/** The messages a statement writes, in order: its one parameter is the batch as JSON. */
const messagesOf = (statement: { params: unknown[] }) => (JSON.parse(statement.params[0] as string) as { id: string }[]).map((m) => m.id)
const idOf = (w: Awaited<ReturnType<ReturnType<typeof createInboundWriter>['write']>>) => (w ? w.message.id : w)

describe('group commit of inbound messages', () => {
  it('resolves no write before its statement has completed, and writes what arrived meanwhile in the next statement', async () => {
    const { runner, statements } = controlledRunner()
    const writer = createInboundWriter({ runner })
    const settled: string[] = []
    const first = writer.write(item(1)).then((w) => void settled.push(`1:${idOf(w)}`))
    const second = writer.write(item(2)).then((w) => void settled.push(`2:${idOf(w)}`))
    await tick()
    expect(statements).toHaveLength(1)
    expect(messagesOf(statements[0]!)).toEqual(['m1', 'm2']) // one statement for both, in arrival order
    const third = writer.write(item(3)).then((w) => void settled.push(`3:${idOf(w)}`))
    await tick()
    expect(statements).toHaveLength(1) // waits for the write under way
    expect(settled).toEqual([]) // nothing acknowledged before the commit
    statements[0]!.finish([row('m1'), row('m2')])
    await Promise.all([first, second])
    expect(settled).toEqual(['1:m1', '2:m2'])
    await tick()
    expect(statements).toHaveLength(2)
    expect(messagesOf(statements[1]!)).toEqual(['m3'])
    expect(settled).toHaveLength(2)
    statements[1]!.finish([]) // not placed (sent twice in one batch, or its inbox deleted): the caller's general path
    await third
    expect(settled).toEqual(['1:m1', '2:m2', '3:null'])
    expect(writer.batches()).toBe(2)
  })

  it('tells a message it stored from one stored before (a redelivery) and from one it could not place (null)', async () => {
    const { runner, statements } = controlledRunner()
    const writer = createInboundWriter({ runner })
    const writes = [writer.write(item(1)), writer.write(item(2)), writer.write(item(3))]
    await tick()
    statements[0]!.finish([row('m1'), { ...row('m2', 'existing'), id: 'stored-earlier' }])
    const [first, second, third] = await Promise.all(writes)
    expect([first?.created, first?.message.id]).toEqual([true, 'm1'])
    expect([second?.created, second?.message.id]).toEqual([false, 'stored-earlier'])
    expect(third).toBeNull()
  })

  it('fails every write of a batch whose statement fails: none is reported stored', async () => {
    const { runner, statements } = controlledRunner()
    const writer = createInboundWriter({ runner })
    const writes = [writer.write(item(1)), writer.write(item(2)), writer.write(item(3))]
    await tick()
    statements[0]!.fail(new Error('disk full'))
    const results = await Promise.allSettled(writes)
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'stored'))).toEqual(['disk full', 'disk full', 'disk full'])
    // The writer goes on with the next batch.
    const next = writer.write(item(4))
    await tick()
    statements[1]!.finish([row('m4')])
    expect(idOf(await next)).toBe('m4')
  })

  it('writes at most maxBatch messages per statement', async () => {
    const { runner, statements } = controlledRunner()
    const writer = createInboundWriter({ runner, maxBatch: 2 })
    const writes = [1, 2, 3, 4, 5].map((n) => writer.write(item(n)))
    await tick()
    statements[0]!.finish([])
    await tick()
    statements[1]!.finish([])
    await tick()
    statements[2]!.finish([])
    await Promise.all(writes)
    expect(statements.map(messagesOf)).toEqual([['m1', 'm2'], ['m3', 'm4'], ['m5']])
  })
})
