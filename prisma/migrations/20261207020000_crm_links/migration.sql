-- Leads created in a connected CRM (Kommo) are mirrored as built-in leads with the CRM's id, so a
-- conversation shows them; a contact's record in the CRM is remembered by its id.
ALTER TABLE "Lead" ADD COLUMN "externalId" TEXT;
CREATE INDEX "Lead_organizationId_externalId_idx" ON "Lead"("organizationId", "externalId");
CREATE TABLE "CrmContactLink" (
    "organizationId" TEXT NOT NULL,
    "contactId" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "externalId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "CrmContactLink_pkey" PRIMARY KEY ("organizationId", "contactId", "provider")
);
