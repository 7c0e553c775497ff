-- An uploaded file waits in "KnowledgeSource".content (base64) only until it is indexed: search
-- and re-embedding read the chunks, never the file. Files indexed before this release give their
-- bytes back; queued, processing and failed ones keep them (a retry or a restart reads them).
UPDATE "KnowledgeSource" SET content = NULL WHERE kind = 'file' AND status = 'ready' AND content IS NOT NULL;
