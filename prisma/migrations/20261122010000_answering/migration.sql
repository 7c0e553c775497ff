-- Answering: per-agent providers and fallbacks, BYOK keys, contact memory, built-in CRM records, call outcomes

ALTER TABLE "Agent" ADD COLUMN "providerKeyId" TEXT;
ALTER TABLE "Agent" ADD COLUMN "fallbacks" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "Agent" ADD COLUMN "responseDelayMs" INTEGER NOT NULL DEFAULT 0;

ALTER TABLE "Message" ADD COLUMN "meta" JSONB NOT NULL DEFAULT '{}';

ALTER TABLE "ApiUsage" ADD COLUMN "success" BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE "ApiUsage" ADD COLUMN "error" TEXT;

CREATE TABLE "ProviderKey" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "baseUrl" TEXT,
    "secret" TEXT NOT NULL,
    "keyId" TEXT NOT NULL,
    "last4" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ProviderKey_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ProviderKey_organizationId_name_key" ON "ProviderKey"("organizationId", "name");

CREATE TABLE "ContactFact" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "contactId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "source" TEXT NOT NULL DEFAULT 'agent',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ContactFact_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ContactFact_organizationId_contactId_key_key" ON "ContactFact"("organizationId", "contactId", "key");

CREATE TABLE "Lead" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "contactId" TEXT NOT NULL,
    "conversationId" TEXT,
    "title" TEXT NOT NULL,
    "value" DOUBLE PRECISION,
    "stage" TEXT NOT NULL DEFAULT 'new',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Lead_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "Lead_organizationId_contactId_idx" ON "Lead"("organizationId", "contactId");

CREATE TABLE "LeadNote" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "LeadNote_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "LeadNote_organizationId_leadId_idx" ON "LeadNote"("organizationId", "leadId");

CREATE TABLE "LeadTask" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "dueAt" TIMESTAMP(3),
    "done" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "LeadTask_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "LeadTask_organizationId_leadId_idx" ON "LeadTask"("organizationId", "leadId");
