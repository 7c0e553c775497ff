-- Collections: categories of knowledge (articles, files, pages) that agents are given to answer from.
CREATE TABLE "KnowledgeCollection" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "KnowledgeCollection_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "KnowledgeCollection_organizationId_name_key" ON "KnowledgeCollection"("organizationId", "name");
ALTER TABLE "KnowledgeCollection" ADD CONSTRAINT "KnowledgeCollection_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "KnowledgeSource" ADD COLUMN "collectionId" TEXT;
ALTER TABLE "KnowledgeSource" ADD CONSTRAINT "KnowledgeSource_collectionId_fkey" FOREIGN KEY ("collectionId") REFERENCES "KnowledgeCollection"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE INDEX "KnowledgeSource_organizationId_collectionId_idx" ON "KnowledgeSource"("organizationId", "collectionId");

-- The collections an agent answers from (none = all of its organization's knowledge).
CREATE TABLE "AgentCollection" (
    "organizationId" TEXT NOT NULL,
    "agentId" TEXT NOT NULL,
    "collectionId" TEXT NOT NULL,
    CONSTRAINT "AgentCollection_pkey" PRIMARY KEY ("agentId", "collectionId")
);
CREATE INDEX "AgentCollection_organizationId_idx" ON "AgentCollection"("organizationId");
ALTER TABLE "AgentCollection" ADD CONSTRAINT "AgentCollection_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES "Agent"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "AgentCollection" ADD CONSTRAINT "AgentCollection_collectionId_fkey" FOREIGN KEY ("collectionId") REFERENCES "KnowledgeCollection"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Lexical index for BM25 ranking over PostgreSQL's own text analysis: one posting per (chunk,
-- lexeme of its tsvector) with the term frequency, document frequencies per organization, and
-- the organization's chunk and token counts.
ALTER TABLE "KnowledgeChunk" ADD COLUMN "length" INTEGER NOT NULL DEFAULT 0;
CREATE TABLE "KnowledgePosting" (
    "organizationId" TEXT NOT NULL,
    "term" TEXT NOT NULL,
    "chunkId" TEXT NOT NULL,
    "sourceId" TEXT NOT NULL,
    "tf" REAL NOT NULL,
    "length" INTEGER NOT NULL,
    CONSTRAINT "KnowledgePosting_pkey" PRIMARY KEY ("organizationId", "term", "chunkId")
);
CREATE INDEX "KnowledgePosting_sourceId_idx" ON "KnowledgePosting"("sourceId");
-- The postings are the inverted index now; the GIN index on tsv only slowed every insert down.
DROP INDEX "KnowledgeChunk_tsv_idx";
CREATE TABLE "KnowledgeTerm" (
    "organizationId" TEXT NOT NULL,
    "term" TEXT NOT NULL,
    "df" INTEGER NOT NULL,
    CONSTRAINT "KnowledgeTerm_pkey" PRIMARY KEY ("organizationId", "term")
);
CREATE TABLE "KnowledgeIndexStats" (
    "organizationId" TEXT NOT NULL,
    "chunks" INTEGER NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "KnowledgeIndexStats_pkey" PRIMARY KEY ("organizationId")
);
ALTER TABLE "KnowledgeIndexStats" ADD CONSTRAINT "KnowledgeIndexStats_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Index the chunks that exist already.
UPDATE "KnowledgeChunk" c SET "length" = COALESCE((SELECT sum(COALESCE(array_length(u.positions, 1), 1)) FROM unnest(c.tsv) u), 0) WHERE c.tsv IS NOT NULL;
INSERT INTO "KnowledgePosting" ("organizationId", "term", "chunkId", "sourceId", "tf", "length")
    SELECT c."organizationId", u.lexeme, c.id, c."sourceId", COALESCE(array_length(u.positions, 1), 1), c."length"
    FROM "KnowledgeChunk" c, unnest(c.tsv) u WHERE c.tsv IS NOT NULL;
INSERT INTO "KnowledgeTerm" ("organizationId", "term", "df")
    SELECT "organizationId", "term", count(*) FROM "KnowledgePosting" GROUP BY 1, 2;
INSERT INTO "KnowledgeIndexStats" ("organizationId", "chunks", "tokens")
    SELECT "organizationId", count(*), sum("length") FROM "KnowledgeChunk" GROUP BY 1;
