-- One response of a plan reserved in one statement (the turn's hot path: a Prisma interactive
-- transaction cost six statements and as many round trips). The steps and their lock order are
-- those of the transaction it replaces (adapters/db/billing-store.ts):
--   1. the message's reservation, at most one ever (a concurrent insert of the same message waits,
--      then finds it: the same answer, nothing counted twice);
--   2. the period's counter row, created at 0 when missing;
--   3. the counter plus one only while below the limit: the row lock serialises concurrent turns
--      and PostgreSQL re-checks the condition against the newest committed row after the wait, so
--      exactly `limit - used` of N concurrent calls succeed;
--   4. the day's count plus one.
-- At the limit the reservation just written is deleted again, in the same statement.
CREATE OR REPLACE FUNCTION switchboard_reserve_response(
  p_message_id text,
  p_organization_id text,
  p_period_start timestamp(3),
  p_period_end timestamp(3),
  p_day timestamp(3),
  p_limit integer,
  p_counter_id text
) RETURNS TABLE (ok boolean, created boolean, used integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_reserved_org text;
  v_reserved_period timestamp(3);
  v_used integer;
BEGIN
  INSERT INTO "UsageReservation" ("messageId", "organizationId", "periodStart", "day")
  VALUES (p_message_id, p_organization_id, p_period_start, p_day)
  ON CONFLICT ("messageId") DO NOTHING;
  IF NOT FOUND THEN
    SELECT r."organizationId", r."periodStart" INTO v_reserved_org, v_reserved_period FROM "UsageReservation" r WHERE r."messageId" = p_message_id;
    IF v_reserved_org IS DISTINCT FROM p_organization_id THEN
      RAISE EXCEPTION 'Message % is reserved by another organization', p_message_id;
    END IF;
    SELECT c.responses INTO v_used FROM "UsageCounter" c WHERE c."organizationId" = p_organization_id AND c."periodStart" = v_reserved_period;
    RETURN QUERY SELECT true, false, COALESCE(v_used, 0);
    RETURN;
  END IF;

  INSERT INTO "UsageCounter" (id, "organizationId", "periodStart", "periodEnd", responses)
  VALUES (p_counter_id, p_organization_id, p_period_start, p_period_end, 0)
  ON CONFLICT ("organizationId", "periodStart") DO NOTHING;

  UPDATE "UsageCounter" c SET responses = c.responses + 1
  WHERE c."organizationId" = p_organization_id AND c."periodStart" = p_period_start
    AND (p_limit IS NULL OR c.responses < p_limit)
  RETURNING c.responses INTO v_used;
  IF NOT FOUND THEN
    DELETE FROM "UsageReservation" r WHERE r."messageId" = p_message_id;
    SELECT c.responses INTO v_used FROM "UsageCounter" c WHERE c."organizationId" = p_organization_id AND c."periodStart" = p_period_start;
    RETURN QUERY SELECT false, false, COALESCE(v_used, 0);
    RETURN;
  END IF;

  INSERT INTO "UsageDay" ("organizationId", day, responses) VALUES (p_organization_id, p_day, 1)
  ON CONFLICT ("organizationId", day) DO UPDATE SET responses = "UsageDay".responses + 1;

  RETURN QUERY SELECT true, true, v_used;
END
$$;
