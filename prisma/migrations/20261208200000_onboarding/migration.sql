-- The first-run setup of an organization, kept on the server so that it can be left and resumed
-- from the admin web or from a messenger: the agent it made, each step done or skipped, and the
-- question the bot is waiting for when an admin is walked through it in a chat.
CREATE TABLE "Onboarding" (
    "organizationId" TEXT NOT NULL,
    "agentId" TEXT,
    "steps" JSONB NOT NULL DEFAULT '{}',
    "chatAdminId" TEXT,
    "chatStep" TEXT,
    "dismissedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Onboarding_pkey" PRIMARY KEY ("organizationId")
);
ALTER TABLE "Onboarding" ADD CONSTRAINT "Onboarding_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
