-- Posting lists per ingestion batch: the small sources indexed together (up to 200 one-paragraph
-- FAQ entries) share one row per lexeme instead of one row per lexeme and source. A row's
-- "batchId" is its source's id when the row holds one source ("sources" NULL: every row written
-- before this migration, and every source processed alone), otherwise the batch's id, with
-- "sources" naming the source of each entry (parallel to ordinals, tfs and lengths).
ALTER TABLE "KnowledgePostingList" RENAME COLUMN "sourceId" TO "batchId";
ALTER INDEX "KnowledgePostingList_sourceId_idx" RENAME TO "KnowledgePostingList_batchId_idx";
ALTER TABLE "KnowledgePostingList" ADD COLUMN "sources" TEXT[];
-- The batch whose rows hold a source's postings (null: its own rows, or none): a delete or a new
-- version of the source takes its entries out of that batch's rows.
ALTER TABLE "KnowledgeSource" ADD COLUMN "postingBatch" TEXT;
