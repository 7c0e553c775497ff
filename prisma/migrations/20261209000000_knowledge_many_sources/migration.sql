-- Many small sources: what is asked per source, or per search, finds its rows by an index instead
-- of reading every source of the organization.
-- A source added again by its URI is looked up by it.
CREATE INDEX "KnowledgeSource_organizationId_uri_idx" ON "KnowledgeSource"("organizationId", "uri");
-- Search names the sources it may not use: those not ready (queued, processing, failed) and those
-- given to an agent; an ingest job claims the queued ones. Partial indexes (not expressible in
-- schema.prisma): both are usually a small part of the knowledge.
CREATE INDEX "KnowledgeSource_unready_idx" ON "KnowledgeSource"("organizationId", "createdAt") WHERE "status" <> 'ready';
CREATE INDEX "KnowledgeSource_agent_idx" ON "KnowledgeSource"("organizationId", "agentId") WHERE "agentId" IS NOT NULL;
