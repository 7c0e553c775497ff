-- Who is responsible for a mirrored lead in the connected CRM (Kommo's user name), kept up to date
-- from the CRM's webhooks.
ALTER TABLE "Lead" ADD COLUMN "owner" TEXT;
