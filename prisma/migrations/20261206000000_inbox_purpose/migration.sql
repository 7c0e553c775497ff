-- What an inbox is for, as a column instead of a flag inside the channel's settings: "customers"
-- (a channel customers write to) or "test" (an agent's test chat in the admin web, not billed and
-- not in reports). Test chats made before this release carried {"test": true} in their settings.
ALTER TABLE "Inbox" ADD COLUMN "purpose" TEXT NOT NULL DEFAULT 'customers';
UPDATE "Inbox" SET "purpose" = 'test', "settings" = "settings" - 'test' WHERE "settings"->>'test' = 'true';
