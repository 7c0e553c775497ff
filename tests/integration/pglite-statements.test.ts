import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PGlite } from '@electric-sql/pglite'
import { createStatementCache, withPreparedStatements } from '../../adapters/db/pglite-statements.ts'
import { statementCounter } from '../support/statement-counter.ts'

/**
 * Named prepared statements on the embedded database (adapters/db/pglite-statements.ts): the same
 * rows and errors as PGlite's own `query`, each SQL text parsed once, and a statement the session
 * lost, or whose result columns changed, prepared again.
 */
describe('prepared statements on PGlite', () => {
  let db: PGlite
  beforeAll(async () => {
    db = await PGlite.create()
    await db.exec(`CREATE TABLE item (id int PRIMARY KEY, name text, tags text[], doc jsonb, at timestamp(3), price numeric, big bigint, flag boolean)`)
  })
  afterAll(async () => {
    await db.close()
  })

  const parses = async (fn: () => Promise<unknown>) => {
    let count = 0
    const proto = db as unknown as { execProtocolRawSync(m: Uint8Array): Uint8Array }
    const original = proto.execProtocolRawSync.bind(db)
    proto.execProtocolRawSync = (m: Uint8Array) => {
      for (let at = 0; at + 5 <= m.length; at += 1 + new DataView(m.buffer, m.byteOffset).getInt32(at + 1)) if (m[at] === 0x50) count++
      return original(m)
    }
    try {
      await fn()
    } finally {
      delete (proto as Partial<typeof proto>).execProtocolRawSync
    }
    return count
  }

  it('returns what PGlite’s own query returns, for every kind of value, in both row modes', async () => {
    const prepared = withPreparedStatements(db)
    const insert = 'INSERT INTO item (id, name, tags, doc, at, price, big, flag) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *'
    const at = new Date('2026-12-07T10:11:12.345Z')
    const own = await db.query(insert, [1, "O'Brien", ['a', 'b,c', 'd"e'], JSON.stringify({ k: [1, 2] }), at, '12.50', 9007199254740993n, true])
    const ours = await prepared.query(insert, [2, "O'Brien", ['a', 'b,c', 'd"e'], JSON.stringify({ k: [1, 2] }), at, '12.50', 9007199254740993n, true])
    expect(ours.rows).toEqual([{ ...(own.rows[0] as object), id: 2 }])
    expect(ours.fields).toEqual(own.fields)
    expect(ours.affectedRows).toBe(1)
    const select = 'SELECT id, name, tags, doc, price, flag FROM item WHERE id = ANY($1::int[]) ORDER BY id'
    const array = { rowMode: 'array' as const, parsers: { 1700: (value: string) => `n:${value}` } }
    expect((await prepared.query(select, [[1, 2]], array)).rows).toEqual((await db.query(select, [[1, 2]], array)).rows)
    const nulls = 'SELECT $1::text AS a, $2::int AS b'
    expect((await prepared.query(nulls, [null, undefined])).rows).toEqual([{ a: null, b: null }])
  })

  it('parses a text once: later runs only bind and execute', async () => {
    const prepared = withPreparedStatements(db)
    const sql = 'SELECT count(*)::int AS n FROM item WHERE id > $1'
    // Installed before the text is parsed: the counter names a prepared statement's runs by the text it saw parsed.
    const counter = statementCounter()
    expect(await parses(() => prepared.query(sql, [0]))).toBe(1)
    counter.start()
    const again = await parses(async () => {
      for (let i = 0; i < 5; i++) expect((await prepared.query<{ n: number }>(sql, [0])).rows[0]!.n).toBe(2)
    })
    const counted = counter.stop()
    expect(again).toBe(0)
    // Each run is still one statement, with its text, to the statement counter.
    expect(counted.statements).toBe(5)
    expect(new Set(counted.texts)).toEqual(new Set([sql]))
    expect(counted.roundTrips).toBe(5)
  })

  it('fails as PGlite fails (the same DatabaseError), and the statement runs again afterwards', async () => {
    const prepared = withPreparedStatements(db)
    const insert = 'INSERT INTO item (id, name) VALUES ($1, $2)'
    await prepared.query(insert, [10, 'ten'])
    const error = (await prepared.query(insert, [10, 'again']).catch((e: unknown) => e)) as Error & { code?: string; query?: string }
    const own = (await db.query(insert, [10, 'again']).catch((e: unknown) => e)) as Error & { code?: string }
    expect(error.constructor).toBe(own.constructor)
    expect(error.code).toBe('23505')
    expect(error.message).toBe(own.message)
    expect(error.query).toBe(insert)
    await prepared.query(insert, [11, 'eleven'])
    expect((await db.query('SELECT name FROM item WHERE id = 11')).rows).toEqual([{ name: 'eleven' }])
    // A statement that does not parse is not kept.
    await expect(prepared.query('SELEC 1')).rejects.toThrow(/syntax error/)
  })

  it('runs inside transactions: a rollback undoes the rows and keeps the statement', async () => {
    const cache = createStatementCache(db)
    const prepared = withPreparedStatements(db, cache)
    const insert = 'INSERT INTO item (id, name) VALUES ($1, $2)'
    await prepared.transaction(async (tx) => {
      await tx.query(insert, [20, 'kept'])
    })
    const kept = cache.size()
    await prepared
      .transaction(async (tx) => {
        await tx.query(insert, [21, 'undone'])
        throw new Error('changed my mind')
      })
      .catch(() => undefined)
    expect((await db.query('SELECT id FROM item WHERE id IN (20, 21) ORDER BY id')).rows).toEqual([{ id: 20 }])
    expect(cache.size()).toBe(kept)
    expect(await parses(() => prepared.transaction((tx) => tx.query(insert, [22, 'again'])))).toBe(0)
  })

  it('keeps at most `max` statements, closing the least recently used on the server too', async () => {
    const cache = createStatementCache(db, { max: 2 })
    const texts = ['SELECT 1 AS one', 'SELECT 2 AS two', 'SELECT 3 AS three']
    for (const sql of texts) await cache.query(sql)
    await cache.query(texts[1]!)
    await cache.query(texts[2]!)
    expect(cache.size()).toBe(2)
    const onServer = await db.query<{ statement: string }>(`SELECT statement FROM pg_prepared_statements WHERE statement IN ('SELECT 1 AS one', 'SELECT 2 AS two', 'SELECT 3 AS three') ORDER BY statement`)
    expect(onServer.rows.map((r) => r.statement)).toEqual(['SELECT 2 AS two', 'SELECT 3 AS three'])
    // The closed one is prepared again when it comes back.
    expect((await cache.query(texts[0]!)).rows).toEqual([{ one: 1 }])
  })

  it('prepares again a statement the session lost, or whose columns a migration changed', async () => {
    const cache = createStatementCache(db)
    await db.exec('CREATE TABLE shape (id int)')
    await db.exec('INSERT INTO shape VALUES (1)')
    const sql = 'SELECT * FROM shape'
    expect((await cache.query(sql)).rows).toEqual([{ id: 1 }])
    await db.exec("ALTER TABLE shape ADD COLUMN label text DEFAULT 'x'")
    expect((await cache.query(sql)).rows).toEqual([{ id: 1, label: 'x' }])
    await db.exec('DEALLOCATE ALL')
    expect((await cache.query(sql)).rows).toEqual([{ id: 1, label: 'x' }])
  })
})
