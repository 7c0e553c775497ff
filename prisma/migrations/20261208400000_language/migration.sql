-- The language of Switchboard's own messages to customers, per agent (auto = the customer's), and
-- the language a conversation's customer writes in, remembered so a short "ok" does not change it.
ALTER TABLE "Agent" ADD COLUMN "language" TEXT NOT NULL DEFAULT 'auto';
ALTER TABLE "Conversation" ADD COLUMN "language" TEXT;
