-- Where an inbox's handoffs go: another inbox of the organization whose channel has an operators'
-- desk (a Slack channel receiving a Telegram bot's handoffs). NULL keeps the inbox's own desk.
-- Removing the desk's inbox sends the handoffs back to their own inbox's desk.
ALTER TABLE "Inbox" ADD COLUMN "deskInboxId" TEXT;
ALTER TABLE "Inbox" ADD CONSTRAINT "Inbox_deskInboxId_fkey" FOREIGN KEY ("deskInboxId") REFERENCES "Inbox"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE INDEX "Inbox_deskInboxId_idx" ON "Inbox"("deskInboxId");
