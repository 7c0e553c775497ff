-- The current handoff of each conversation in the operators' list, without scanning the organization's handoffs.
CREATE INDEX "Handoff_organizationId_conversationId_idx" ON "Handoff"("organizationId", "conversationId");
