-- Postings as lists: one row per (organization, lexeme, source) holding, for every chunk of the
-- source that has the lexeme, its ordinal, the lexeme's frequency and the chunk's length. A
-- lexeme's postings are then read in one row per source instead of one row per chunk, and an
-- import writes about a third of the rows (measured on 100,000 chunks: docs/knowledge.md).
CREATE TABLE "KnowledgePostingList" (
    "organizationId" TEXT NOT NULL,
    "term" TEXT NOT NULL,
    "sourceId" TEXT NOT NULL,
    "ordinals" INTEGER[] NOT NULL,
    "tfs" SMALLINT[] NOT NULL,
    "lengths" INTEGER[] NOT NULL,
    CONSTRAINT "KnowledgePostingList_pkey" PRIMARY KEY ("organizationId", "term", "sourceId")
);
INSERT INTO "KnowledgePostingList" ("organizationId", "term", "sourceId", "ordinals", "tfs", "lengths")
    SELECT p."organizationId", p.term, p."sourceId", array_agg(c.ordinal ORDER BY c.ordinal), array_agg(p.tf::smallint ORDER BY c.ordinal), array_agg(p."length" ORDER BY c.ordinal)
    FROM "KnowledgePosting" p JOIN "KnowledgeChunk" c ON c.id = p."chunkId"
    GROUP BY 1, 2, 3;
CREATE INDEX "KnowledgePostingList_sourceId_idx" ON "KnowledgePostingList"("sourceId");
DROP TABLE "KnowledgePosting";

-- A posting names its chunk by (source, ordinal).
DROP INDEX "KnowledgeChunk_organizationId_sourceId_idx";
CREATE UNIQUE INDEX "KnowledgeChunk_organizationId_sourceId_ordinal_key" ON "KnowledgeChunk"("organizationId", "sourceId", "ordinal");

-- The local embedder now makes 128-dimensional vectors: as good on the retrieval benchmark as
-- 384, and three times cheaper to index. Its HNSW graph is sparse (m 8, ef_construction 16): the
-- ranking computes the exact similarity of every lexical candidate itself and takes only its 20
-- vector-only candidates from this index, so import speed counts for more than the graph's recall
-- (measured in docs/knowledge.md). Chunks embedded at 384 dimensions are embedded again by the
-- re-embed job at the next start. (IF EXISTS: test databases without pgvector never had the index.)
DROP INDEX IF EXISTS "KnowledgeChunk_embedding_384_idx";
CREATE INDEX "KnowledgeChunk_embedding_128_idx" ON "KnowledgeChunk"
    USING hnsw (("embedding"::vector(128)) vector_cosine_ops) WITH (m = 8, ef_construction = 16) WHERE "dimensions" = 128;
