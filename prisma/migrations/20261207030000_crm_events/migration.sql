-- Changes a CRM (Kommo) told about through its webhook: stored before they are acknowledged, then
-- applied by a job that reads the entity again from the CRM's API.
CREATE TABLE "CrmEvent" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "connectionId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "entityId" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "CrmEvent_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "CrmEvent_connectionId_entityId_createdAt_idx" ON "CrmEvent"("connectionId", "entityId", "createdAt");
CREATE INDEX "CrmEvent_status_createdAt_idx" ON "CrmEvent"("status", "createdAt");
ALTER TABLE "CrmEvent" ADD CONSTRAINT "CrmEvent_connectionId_fkey" FOREIGN KEY ("connectionId") REFERENCES "CrmConnection"("id") ON DELETE CASCADE ON UPDATE CASCADE;
