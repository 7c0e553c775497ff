-- The dashboard counts responses from the quota's reservations (one per billed customer message).
CREATE INDEX "UsageReservation_organizationId_createdAt_idx" ON "UsageReservation"("organizationId", "createdAt");
