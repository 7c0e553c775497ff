import { parse, protocol, type PGlite, type QueryOptions, type Results, type Transaction } from '@electric-sql/pglite'

/**
 * Named prepared statements on the embedded database. PGlite's `query` sends its SQL as the
 * extended protocol's unnamed statement, so PostgreSQL parses, analyses and plans it anew every
 * time, in six calls into the WebAssembly backend (Parse, Describe, Bind, Describe, Execute,
 * Sync). For the statements the hot paths repeat that is most of their cost: the group commit of
 * inbound messages took 10 to 14 ms a run, 1.5 to 3 ms of it executing.
 *
 * Here each distinct SQL text is parsed once into a named statement, and every later run only
 * binds its parameters and executes it, in one call (Bind, Describe, Execute, Sync). PostgreSQL's
 * plan cache then decides, as for any prepared statement, whether to keep a generic plan
 * (`plan_cache_mode = auto`). Values are serialized and rows parsed exactly as PGlite's own `query`
 * does (the client's type serializers and parsers, `rowMode`, `parsers`), so callers, Prisma's
 * adapter among them, see the same results and the same `DatabaseError`s.
 *
 * The statements are the session's: they outlive transactions (a rollback keeps them), and the
 * least recently used one is closed once `max` are kept. A statement the server no longer has
 * (26000), or whose result columns changed under it (a migration: 0A000), is prepared again once.
 */
export type StatementCache = {
  query<T>(sql: string, params?: unknown[], options?: QueryOptions, transaction?: boolean): Promise<Results<T>>
  /** Statements kept now (tests). */
  size(): number
}

/** Options PGlite's `query` takes that this path does not: such a call goes to PGlite's own `query`. */
const UNSUPPORTED: readonly (keyof QueryOptions)[] = ['blob', 'paramTypes', 'serializers', 'onNotice']

/** Statement names are unique in the process, so two caches on one client never take the same. */
let sequence = 0

export function createStatementCache(client: PGlite, options: { max?: number } = {}): StatementCache {
  const max = options.max ?? 128
  const { serialize } = protocol
  // Map order is use order: a statement used again moves to the end, the first is the least recent.
  const statements = new Map<string, { name: string; types: number[] }>()

  const call = async (messages: Uint8Array[], transaction: boolean) =>
    (await client.execProtocol(concat(messages), { syncToFs: !transaction })).messages

  async function prepare(sql: string, transaction: boolean) {
    if (statements.size >= max) {
      const [oldest, entry] = statements.entries().next().value!
      statements.delete(oldest)
      await call([serialize.close({ type: 'S', name: entry.name }), serialize.sync()], transaction)
    }
    const name = `sb_${++sequence}`
    const described = await call([serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name }), serialize.sync()], transaction)
    const entry = { name, types: parse.parseDescribeStatementResults(described) }
    statements.set(sql, entry)
    return entry
  }

  async function run<T>(sql: string, params: unknown[], queryOptions: QueryOptions | undefined, transaction: boolean, retried: boolean): Promise<Results<T>> {
    let entry = statements.get(sql)
    if (entry) {
      statements.delete(sql)
      statements.set(sql, entry)
    } else entry = await prepare(sql, transaction)
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null
      const serializer = client.serializers[entry.types[i]!]
      return serializer ? serializer(value) : String(value)
    })
    try {
      const messages = await call([serialize.bind({ statement: entry.name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()], transaction)
      return parse.parseResults(messages, client.parsers, queryOptions)[0] as Results<T>
    } catch (error) {
      const code = (error as { code?: string }).code
      // Inside a transaction a failed statement has aborted it: trying again there cannot succeed.
      if (!retried && !transaction && (code === '26000' || (code === '0A000' && /cached plan must not change result type/.test((error as Error).message)))) {
        statements.delete(sql)
        await call([serialize.close({ type: 'S', name: entry.name }), serialize.sync()], transaction).catch(() => undefined)
        return run<T>(sql, params, queryOptions, transaction, true)
      }
      throw error
    }
  }

  return {
    query<T>(sql: string, params: unknown[] = [], queryOptions?: QueryOptions, transaction = false): Promise<Results<T>> {
      if (queryOptions && UNSUPPORTED.some((key) => queryOptions[key] !== undefined)) {
        return client.query<T>(sql, params, queryOptions)
      }
      // PGlite's own lock for queries, as its `query` takes it: nothing else reaches the backend meanwhile.
      return client.runExclusive(async () => {
        try {
          return await run<T>(sql, params, queryOptions, transaction, false)
        } catch (error) {
          // As PGlite's `query` reports its errors.
          Object.assign(error as object, { query: sql, params, queryOptions })
          throw error
        }
      })
    },
    size: () => statements.size,
  }
}

/**
 * The client with its `query` (and the `query` of its transactions) on named prepared statements;
 * everything else is the client's own.
 */
export function withPreparedStatements(client: PGlite, cache: StatementCache = createStatementCache(client)): PGlite {
  const inTransaction = (tx: Transaction): Transaction =>
    new Proxy(tx, {
      get(target, property) {
        if (property === 'query')
          return <T,>(sql: string, params?: unknown[], options?: QueryOptions) => {
            if (target.closed) throw new Error('Transaction is closed')
            return cache.query<T>(sql, params, options, true)
          }
        const value = Reflect.get(target, property)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  return new Proxy(client, {
    get(target, property) {
      if (property === 'query') return <T,>(sql: string, params?: unknown[], options?: QueryOptions) => cache.query<T>(sql, params, options)
      if (property === 'transaction') return <T,>(fn: (tx: Transaction) => Promise<T>) => target.transaction((tx) => fn(inTransaction(tx)))
      // Read on the client itself: its getters use private fields, which a proxy does not have.
      const value = Reflect.get(target, property)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
