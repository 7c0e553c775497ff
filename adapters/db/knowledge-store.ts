import { AppError } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import type { ChunkLocation, KnowledgeCollection, KnowledgeSource, Passage, Store } from '../../core/ports.ts'
import { Prisma, type PrismaClient } from './generated/client.ts'
import type * as Models from './generated/models.ts'

/**
 * Ranking constants, chosen on the retrieval benchmark (`npm run bench -- retrieval`, see
 * docs/knowledge.md): Okapi BM25's usual k1 and b over PostgreSQL's stemmed lexemes, a bonus for
 * the question's words found close together, and vector similarity added at the embedder's weight.
 */
export const RANKING = {
  k1: 1.2,
  b: 0.75,
  /**
   * How the two rankings are fused: 'score' adds the BM25 score (divided by the best one) and
   * the vector similarity times the embedder's weight; 'rrf' is reciprocal rank fusion,
   * 1 / (rrfK + rank) from each. 'score' measured better with the local embedder, whose weak
   * similarity should only break near-ties, which RRF cannot express.
   */
  fusion: 'score' as 'rrf' | 'score',
  rrfK: 60,
  /** Candidates taken from each ranking before fusion. */
  candidates: 50,
  /** At most this many query lexemes count (the rarest): bounds the work of a very long question. */
  maxQueryTerms: 32,
  /** Postings read for the rarest terms before the common ones only score the candidates found: bounds the work at scale. */
  postingsBudget: 5_000,
  /** Bonus for question lexeme pairs found in the same order within nearWindow positions, times their mean idf. */
  nearWeight: 0.5,
  nearWindow: 3,
}

const sourceOmit = { content: false } as const
const vectorLiteral = (v: number[]) => `[${v.map((x) => (Number.isFinite(x) ? x : 0)).join(',')}]`
const isUniqueViolation = (e: unknown) => e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002'

export const toSource = (s: Models.KnowledgeSourceModel): KnowledgeSource => ({
  id: s.id,
  organizationId: s.organizationId,
  agentId: s.agentId,
  title: s.title,
  kind: s.kind as KnowledgeSource['kind'],
  uri: s.uri,
  checksum: s.checksum,
  status: s.status as KnowledgeSource['status'],
  progress: s.progress,
  error: s.error,
  chunkCount: s.chunkCount,
  collectionId: s.collectionId,
  createdAt: s.createdAt,
  updatedAt: s.updatedAt,
})

/**
 * The hybrid search: the ready sources the agent may use; BM25 over the postings of the question's
 * lexemes (rarest first); nearest chunks by vector; the two rankings fused.
 * $1 organization, $2 agent or null, $3 collection or null, $4 regconfig, $5 question,
 * $6 question vector, $7 embedder, $8 limit, $9 weight of the vector ranking.
 */
const searchSqlByDims = new Map<number, string>()
function searchSql(dims: number): string {
  const cached = searchSqlByDims.get(dims)
  if (cached) return cached
  const R = RANKING
  /** One term's BM25 contribution: w has idf, p has tf and length; stats has avgdl. */
  const bm25 = (w: string, p: string) => `${w}.idf * ${p}.tf * ${R.k1 + 1} / (${p}.tf + ${R.k1} * (${1 - R.b} + ${R.b} * ${p}."length" / stats.avgdl))`
  const sql = `WITH allowed AS (
     SELECT s.id, s.title, s."collectionId" FROM "KnowledgeSource" s
     WHERE s."organizationId" = $1 AND s.status = 'ready'
       AND ($2::text IS NULL OR s."agentId" IS NULL OR s."agentId" = $2)
       AND ($3::text IS NULL OR s."collectionId" = $3)
       AND ($2::text IS NULL
            OR NOT EXISTS (SELECT 1 FROM "AgentCollection" a WHERE a."organizationId" = $1 AND a."agentId" = $2)
            OR s."collectionId" IN (SELECT a."collectionId" FROM "AgentCollection" a WHERE a."organizationId" = $1 AND a."agentId" = $2))
   ),
   stats AS (
     SELECT chunks::float8 AS n, GREATEST(tokens::float8 / GREATEST(chunks, 1), 1) AS avgdl
     FROM "KnowledgeIndexStats" WHERE "organizationId" = $1
   ),
   qpos AS (SELECT u.lexeme, p FROM unnest(to_tsvector($4::regconfig, $5)) u, unnest(u.positions) p),
   qpairs AS (
     SELECT DISTINCT a, b FROM (SELECT lexeme AS a, lead(lexeme) OVER (ORDER BY p) AS b FROM qpos) x WHERE b IS NOT NULL AND a <> b
   ),
   weights AS (
     SELECT t.term, t.df, ln(1 + (stats.n - t.df + 0.5) / (t.df + 0.5)) AS idf
     FROM "KnowledgeTerm" t, stats
     WHERE t."organizationId" = $1 AND t.df > 0 AND t.term IN (SELECT lexeme FROM qpos)
     ORDER BY t.df, t.term LIMIT ${R.maxQueryTerms}
   ),
   -- Rarest terms first, within a budget of postings read; always at least the rarest one.
   budgeted AS (
     SELECT term, idf, sum(df) OVER (ORDER BY df, term) - df < ${R.postingsBudget} AS scanned FROM weights
   ),
   -- Postings read once, then kept to the allowed sources (a hash join, whatever the planner's estimates).
   hits AS MATERIALIZED (
     SELECT p."chunkId" AS id, p."sourceId", ${bm25('w', 'p')} AS s
     FROM budgeted w
     JOIN "KnowledgePosting" p ON p."organizationId" = $1 AND p.term = w.term
     CROSS JOIN stats
     WHERE w.scanned
   ),
   scan AS (
     SELECT h.id, sum(h.s) AS s
     FROM hits h JOIN allowed a ON a.id = h."sourceId"
     GROUP BY h.id
     ORDER BY s DESC, h.id
     LIMIT ${R.candidates * 4}
   ),
   -- The common terms left out of the scan still count for the candidates it found.
   lex AS (
     SELECT scan.id, scan.s + COALESCE((
       SELECT sum(${bm25('w', 'p')})
       FROM budgeted w JOIN "KnowledgePosting" p ON p."organizationId" = $1 AND p.term = w.term AND p."chunkId" = scan.id
       CROSS JOIN stats
       WHERE NOT w.scanned), 0) AS s
     FROM scan
     ORDER BY s DESC, scan.id
     LIMIT ${R.candidates}
   ),
   near AS (
     SELECT y.id, sum((wa.idf + wb.idf) / 2) AS bonus
     FROM (
       SELECT DISTINCT id, a, b FROM (
         SELECT lex.id, u.lexeme AS a, lead(u.lexeme) OVER w AS b, p, lead(p) OVER w AS np
         FROM lex JOIN "KnowledgeChunk" c ON c.id = lex.id, unnest(c.tsv) u, unnest(u.positions) p
         WHERE u.lexeme IN (SELECT term FROM weights)
         WINDOW w AS (PARTITION BY lex.id ORDER BY p)
       ) z WHERE np - p <= ${R.nearWindow}
     ) y
     JOIN qpairs q ON q.a = y.a AND q.b = y.b
     JOIN weights wa ON wa.term = y.a
     JOIN weights wb ON wb.term = y.b
     GROUP BY y.id
   ),
   lexs AS (SELECT lex.id, lex.s + ${R.nearWeight} * COALESCE(near.bonus, 0) AS s FROM lex LEFT JOIN near ON near.id = lex.id),
   lexr AS (SELECT id, s, row_number() OVER (ORDER BY s DESC, id) AS r, s / NULLIF(max(s) OVER (), 0) AS norm FROM lexs),
   vec AS (
     SELECT c.id, 1 - (c.embedding::vector(${dims}) <=> $6::vector(${dims})) AS sim
     FROM "KnowledgeChunk" c
     WHERE c."organizationId" = $1 AND c.dimensions = ${dims} AND c.embedder = $7 AND c."sourceId" IN (SELECT id FROM allowed)
     ORDER BY c.embedding::vector(${dims}) <=> $6::vector(${dims})
     LIMIT ${R.candidates}
   ),
   vecr AS (SELECT id, sim, row_number() OVER (ORDER BY sim DESC, id) AS r FROM vec)
   SELECT c.id, c."sourceId", s.title, s."collectionId", c.heading, c.text, c.location,
          lexr.r AS lex_rank, lexr.s AS bm25, vecr.r AS vec_rank, vecr.sim,
          (${R.fusion === 'rrf'
            ? `COALESCE(1.0 / (${R.rrfK} + lexr.r), 0) + COALESCE($9::float8 / (${R.rrfK} + vecr.r), 0)`
            : `COALESCE(lexr.norm, 0) + $9::float8 * COALESCE(vecr.sim, 0)`})::float8 AS score
   FROM (SELECT id FROM lexr UNION SELECT id FROM vecr) ids
   JOIN "KnowledgeChunk" c ON c.id = ids.id
   JOIN allowed s ON s.id = c."sourceId"
   LEFT JOIN lexr ON lexr.id = c.id
   LEFT JOIN vecr ON vecr.id = c.id
   ORDER BY score DESC, c.id
   LIMIT $8`
  searchSqlByDims.set(dims, sql)
  return sql
}

type Tx = Prisma.TransactionClient

/**
 * Takes a source's chunks out of the lexical statistics and deletes their postings and the
 * chunks themselves (inside the caller's transaction).
 */
async function unindexSource(tx: Tx, organizationId: string, sourceId: string): Promise<void> {
  await tx.$executeRawUnsafe(
    `UPDATE "KnowledgeIndexStats" s SET chunks = s.chunks - x.n, tokens = s.tokens - x.t
     FROM (SELECT count(*)::int AS n, COALESCE(sum("length"), 0)::bigint AS t FROM "KnowledgeChunk" WHERE "organizationId" = $1 AND "sourceId" = $2) x
     WHERE s."organizationId" = $1 AND x.n > 0`,
    organizationId,
    sourceId,
  )
  await tx.$executeRawUnsafe(
    `WITH gone AS (DELETE FROM "KnowledgePosting" WHERE "organizationId" = $1 AND "sourceId" = $2 RETURNING term)
     UPDATE "KnowledgeTerm" t SET df = t.df - g.n
     FROM (SELECT term, count(*)::int AS n FROM gone GROUP BY term) g
     WHERE t."organizationId" = $1 AND t.term = g.term`,
    organizationId,
    sourceId,
  )
  await tx.knowledgeChunk.deleteMany({ where: { organizationId, sourceId } })
}

export function createKnowledgeRepository(prisma: PrismaClient): Pick<Store, 'knowledge' | 'collections'> {
  /** Chunks of each organization at its last ANALYZE: PGlite runs no autovacuum, so fresh statistics come from here. */
  const analyzedAt = new Map<string, number>()
  async function analyzeIfGrown(organizationId: string): Promise<void> {
    const stats = await prisma.knowledgeIndexStats.findUnique({ where: { organizationId }, select: { chunks: true } })
    const now = stats?.chunks ?? 0
    const last = analyzedAt.get(organizationId)
    if (last !== undefined && now <= last * 1.25 + 50 && now >= last * 0.75 - 50) return
    analyzedAt.set(organizationId, now)
    await prisma.$executeRawUnsafe('ANALYZE "KnowledgeChunk", "KnowledgeSource", "KnowledgePosting", "KnowledgeTerm"')
  }

  const knowledge: Store['knowledge'] = {
    createSource: async (input) => toSource(await prisma.knowledgeSource.create({ data: { id: newId(), status: 'queued', ...input, collectionId: input.collectionId ?? null }, omit: sourceOmit })),
    listSources: async (organizationId, filter = {}) =>
      (
        await prisma.knowledgeSource.findMany({
          where: { organizationId, ...(filter.collectionId ? { collectionId: filter.collectionId } : {}), ...(filter.kind ? { kind: filter.kind } : {}) },
          orderBy: { createdAt: 'asc' },
          omit: sourceOmit,
        })
      ).map(toSource),
    getSource: async (organizationId, id) => {
      const s = await prisma.knowledgeSource.findFirst({ where: { id, organizationId }, omit: sourceOmit })
      return s ? toSource(s) : null
    },
    sourceContent: async (organizationId, id) => (await prisma.knowledgeSource.findFirst({ where: { id, organizationId }, select: { content: true } }))?.content ?? null,
    findSourceByUri: async (organizationId, uri) => {
      const s = await prisma.knowledgeSource.findFirst({ where: { organizationId, uri }, omit: sourceOmit })
      return s ? toSource(s) : null
    },
    updateSource: async (organizationId, id, patch) => {
      await prisma.knowledgeSource.updateMany({ where: { id, organizationId }, data: { ...patch, updatedAt: new Date() } })
    },
    replaceChunks: async ({ organizationId, sourceId, embedder, dimensions, chunks }) => {
      const source = await prisma.knowledgeSource.findFirst({ where: { id: sourceId, organizationId }, select: { title: true } })
      if (!source) return
      await prisma.$transaction(
        async (tx) => {
          await unindexSource(tx, organizationId, sourceId)
          const PER_INSERT = 100
          for (let i = 0; i < chunks.length; i += PER_INSERT) {
            const batch = chunks.slice(i, i + PER_INSERT)
            // Let HTTP requests and timers in between batches (PGlite runs each statement synchronously).
            if (i > 0) await new Promise((resolve) => setImmediate(resolve))
            const params: unknown[] = [organizationId, sourceId, source.title, embedder, dimensions]
            const p = (v: unknown) => {
              params.push(v)
              return `$${params.length}`
            }
            const rows = batch.map((c) => {
              const lang = `${p(c.language)}::text`
              const heading = `${p(c.heading)}::text`
              const text = `${p(c.text)}::text`
              const location = c.location && Object.keys(c.location).length ? JSON.stringify(c.location) : null
              return `(${p(newId())}::text, ${p(c.ordinal)}::int, ${heading}, ${text}, ${lang},
                setweight(to_tsvector(${lang}::regconfig, $3::text || ' ' || ${heading}), 'A') || setweight(to_tsvector(${lang}::regconfig, ${text}), 'B'),
                ${p(vectorLiteral(c.embedding))}::vector, ${p(location)}::jsonb)`
            })
            // The chunks with their token counts, then one posting per lexeme of each.
            await tx.$executeRawUnsafe(
              `WITH v (id, ordinal, heading, text, language, tsv, embedding, location) AS (VALUES ${rows.join(',\n')}),
               ins AS (
                 INSERT INTO "KnowledgeChunk" (id, "organizationId", "sourceId", ordinal, heading, text, language, tsv, embedding, embedder, dimensions, location, "length")
                 SELECT v.id, $1, $2, v.ordinal, v.heading, v.text, v.language, v.tsv, v.embedding, $4, $5, v.location,
                        (SELECT COALESCE(sum(COALESCE(array_length(u.positions, 1), 1)), 0) FROM unnest(v.tsv) u)
                 FROM v
                 RETURNING id, tsv, "length"
               )
               INSERT INTO "KnowledgePosting" ("organizationId", term, "chunkId", "sourceId", tf, "length")
               SELECT $1, u.lexeme, ins.id, $2, COALESCE(array_length(u.positions, 1), 1), ins."length" FROM ins, unnest(ins.tsv) u`,
              ...params,
            )
          }
          if (chunks.length) {
            // In term order, so concurrent imports take the term rows' locks in the same order.
            await tx.$executeRawUnsafe(
              `INSERT INTO "KnowledgeTerm" ("organizationId", term, df)
               SELECT $1, term, count(*) FROM "KnowledgePosting" WHERE "organizationId" = $1 AND "sourceId" = $2 GROUP BY term ORDER BY term
               ON CONFLICT ("organizationId", term) DO UPDATE SET df = "KnowledgeTerm".df + EXCLUDED.df`,
              organizationId,
              sourceId,
            )
            await tx.$executeRawUnsafe(
              `INSERT INTO "KnowledgeIndexStats" ("organizationId", chunks, tokens)
               SELECT $1, count(*), COALESCE(sum("length"), 0) FROM "KnowledgeChunk" WHERE "organizationId" = $1 AND "sourceId" = $2
               ON CONFLICT ("organizationId") DO UPDATE SET chunks = "KnowledgeIndexStats".chunks + EXCLUDED.chunks, tokens = "KnowledgeIndexStats".tokens + EXCLUDED.tokens`,
              organizationId,
              sourceId,
            )
          }
        },
        { timeout: 120_000, maxWait: 60_000 },
      )
      await analyzeIfGrown(organizationId)
    },
    deleteSource: async (organizationId, id) =>
      prisma.$transaction(async (tx) => {
        await unindexSource(tx, organizationId, id)
        const { count } = await tx.knowledgeSource.deleteMany({ where: { id, organizationId } })
        return count > 0
      }),
    search: async (input) => {
      const dims = Math.trunc(input.dimensions)
      const rows = await prisma.$queryRawUnsafe<
        {
          id: string
          sourceId: string
          title: string
          collectionId: string | null
          heading: string
          text: string
          location: ChunkLocation | null
          lex_rank: bigint | null
          bm25: number | null
          vec_rank: bigint | null
          sim: number | null
          score: number
        }[]
      >(
        searchSql(dims),
        input.organizationId,
        input.agentId,
        input.collectionId ?? null,
        input.language,
        input.query,
        vectorLiteral(input.embedding),
        input.embedder,
        input.limit,
        input.vectorWeight,
      )
      return rows.map(
        (r): Passage => ({
          chunkId: r.id,
          sourceId: r.sourceId,
          title: r.title,
          heading: r.heading,
          text: r.text,
          ...(r.location ? { location: r.location } : {}),
          score: Number(r.score),
          ftsRank: r.lex_rank === null ? null : Number(r.lex_rank),
          bm25: r.bm25 === null ? null : Number(r.bm25),
          vectorRank: r.vec_rank === null ? null : Number(r.vec_rank),
          similarity: r.sim === null ? null : Number(r.sim),
          collectionId: r.collectionId,
        }),
      )
    },
    countChunks: (organizationId) => prisma.knowledgeChunk.count({ where: { organizationId } }),
    staleEmbeddings: async ({ embedder, dimensions, limit }) =>
      prisma.$queryRawUnsafe(
        `SELECT c.id, c."organizationId", s.title, c.heading, c.text FROM "KnowledgeChunk" c JOIN "KnowledgeSource" s ON s.id = c."sourceId"
         WHERE c.embedder <> $1 OR c.dimensions <> $2 ORDER BY c."organizationId", c.id LIMIT $3`,
        embedder,
        dimensions,
        limit,
      ),
    setEmbeddings: async ({ embedder, dimensions, vectors }) => {
      if (!vectors.length) return
      const params: unknown[] = [embedder, dimensions]
      const values = vectors.map((v) => {
        params.push(v.id, vectorLiteral(v.embedding))
        return `($${params.length - 1}::text, $${params.length}::vector)`
      })
      await prisma.$executeRawUnsafe(
        `UPDATE "KnowledgeChunk" c SET embedding = v.embedding, embedder = $1, dimensions = $2 FROM (VALUES ${values.join(',')}) v (id, embedding) WHERE c.id = v.id`,
        ...params,
      )
    },
  }

  const toCollection = (c: Models.KnowledgeCollectionModel & { _count: { sources: number } }): KnowledgeCollection => ({
    id: c.id,
    organizationId: c.organizationId,
    name: c.name,
    description: c.description,
    sourceCount: c._count.sources,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  })
  const withCount = { _count: { select: { sources: true } } } as const
  const duplicate = (name: string) => new AppError('collection_exists', `A collection named "${name}" exists already`, 409)

  const collections: Store['collections'] = {
    list: async (organizationId) => (await prisma.knowledgeCollection.findMany({ where: { organizationId }, orderBy: { name: 'asc' }, include: withCount })).map(toCollection),
    get: async (organizationId, id) => {
      const c = await prisma.knowledgeCollection.findFirst({ where: { id, organizationId }, include: withCount })
      return c ? toCollection(c) : null
    },
    create: async (organizationId, input) => {
      try {
        return toCollection(await prisma.knowledgeCollection.create({ data: { id: newId(), organizationId, name: input.name, description: input.description ?? '' }, include: withCount }))
      } catch (error) {
        if (isUniqueViolation(error)) throw duplicate(input.name)
        throw error
      }
    },
    update: async (organizationId, id, input) => {
      try {
        const { count } = await prisma.knowledgeCollection.updateMany({ where: { id, organizationId }, data: { ...input, updatedAt: new Date() } })
        return count ? collections.get(organizationId, id) : null
      } catch (error) {
        if (isUniqueViolation(error)) throw duplicate(input.name ?? '')
        throw error
      }
    },
    delete: async (organizationId, id) => (await prisma.knowledgeCollection.deleteMany({ where: { id, organizationId } })).count > 0,
    forAgent: async (organizationId, agentId) => (await prisma.agentCollection.findMany({ where: { organizationId, agentId }, select: { collectionId: true }, orderBy: { collectionId: 'asc' } })).map((a) => a.collectionId),
    setForAgent: async (organizationId, agentId, collectionIds) => {
      const ids = [...new Set(collectionIds)]
      await prisma.$transaction(async (tx) => {
        const owned = await tx.knowledgeCollection.count({ where: { organizationId, id: { in: ids } } })
        if (owned !== ids.length) throw new AppError('not_found', 'Collection not found', 404)
        await tx.agentCollection.deleteMany({ where: { organizationId, agentId } })
        if (ids.length) await tx.agentCollection.createMany({ data: ids.map((collectionId) => ({ organizationId, agentId, collectionId })) })
      })
    },
  }

  return { knowledge, collections }
}
