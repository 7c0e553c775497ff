-- An organization's connection to an outside CRM (Kommo): sealed tokens, the account, the
-- organization's settings and what was last read from the CRM (pipelines, users, fields).
CREATE TABLE "CrmConnection" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "subdomain" TEXT NOT NULL,
    "accountId" TEXT,
    "accountName" TEXT,
    "authKind" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'active',
    "statusReason" TEXT,
    "credentials" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3),
    "webhookTokenHash" TEXT,
    "settings" JSONB NOT NULL DEFAULT '{}',
    "catalog" JSONB NOT NULL DEFAULT '{}',
    "syncedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "CrmConnection_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "CrmConnection_organizationId_key" ON "CrmConnection"("organizationId");
ALTER TABLE "CrmConnection" ADD CONSTRAINT "CrmConnection_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
