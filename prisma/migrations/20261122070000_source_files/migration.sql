-- Where each knowledge chunk sits in its source: {"page": 3} of a PDF, {"row": 12} of a CSV,
-- {"heading": "Returns › Refund window"} of a document, {"url": "https://..."} of a web page.
-- Written by replaceChunks with the chunk, read back by search into Passage.location.
-- Uploaded files wait for processing in KnowledgeSource.content (base64 after a JSON header line),
-- so no new column is needed for them.
ALTER TABLE "KnowledgeChunk" ADD COLUMN "location" JSONB;
