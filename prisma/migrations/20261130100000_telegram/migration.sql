-- Telegram: admins link their chat account with a one-time code, then run Switchboard from the chat.

-- One-time link codes: only the SHA-256 of the code is stored; single use, short-lived.
CREATE TABLE "AdminLinkCode" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "codeHash" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "AdminLinkCode_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "AdminLinkCode_codeHash_key" ON "AdminLinkCode"("codeHash");
CREATE INDEX "AdminLinkCode_organizationId_idx" ON "AdminLinkCode"("organizationId");
ALTER TABLE "AdminLinkCode" ADD CONSTRAINT "AdminLinkCode_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A contact (one person in one inbox) linked to a user of the organization: that person may run
-- admin commands from their private chat (externalThreadId) with the bot. currentAgentId is the
-- agent their commands act on; pendingCommand is a command waiting for its text (the admin's next
-- message answers the bot's question, e.g. the new instructions after /prompt).
CREATE TABLE "ChannelAdmin" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "inboxId" TEXT NOT NULL,
    "contactId" TEXT NOT NULL,
    "externalThreadId" TEXT NOT NULL,
    "currentAgentId" TEXT,
    "pendingCommand" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ChannelAdmin_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ChannelAdmin_contactId_key" ON "ChannelAdmin"("contactId");
CREATE INDEX "ChannelAdmin_organizationId_idx" ON "ChannelAdmin"("organizationId");
CREATE INDEX "ChannelAdmin_inboxId_idx" ON "ChannelAdmin"("inboxId");
ALTER TABLE "ChannelAdmin" ADD CONSTRAINT "ChannelAdmin_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Messages the bot posted where operators work (the transcript of a handoff, relayed customer
-- messages): an operator's reply to one of them goes to that conversation's customer.
CREATE TABLE "HandoffPost" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "inboxId" TEXT NOT NULL,
    "conversationId" TEXT NOT NULL,
    "externalMessageId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "HandoffPost_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "HandoffPost_inboxId_externalMessageId_key" ON "HandoffPost"("inboxId", "externalMessageId");
CREATE INDEX "HandoffPost_conversationId_idx" ON "HandoffPost"("conversationId");
ALTER TABLE "HandoffPost" ADD CONSTRAINT "HandoffPost_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
