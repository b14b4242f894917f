-- A person's household area, kept on the person (individuals.household_area_id), so that a person search by region,
-- district or location reads the (area, birth date) index instead of joining every active member of the area: with
-- 100,000 households, people of one region aged 60 or over were counted from 121,546 memberships and as many person
-- rows (607,000 buffer hits, 280-850 ms).
ALTER TABLE "individuals" ADD COLUMN "household_area_id" bigint;--> statement-breakpoint
UPDATE individuals i SET household_area_id = g.area_id
FROM memberships m JOIN groups g ON g.id = m.group_id
WHERE m.individual_id = i.id AND m.end_date IS NULL AND g.area_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "individuals_household_area_birth_idx" ON "individuals" USING btree ("household_area_id","birth_date");--> statement-breakpoint
-- The column follows every write to memberships and to households' areas, whatever code path makes it. The demo
-- seeder writes the column itself (its COPYs may run with session_replication_role = replica, which skips these
-- triggers); when they do run, rows already right are left untouched.
--
-- Memberships: statement triggers with transition tables, so that a COPY of a whole seeding round is one set-based
-- update, not a call per row. A household's move and a change of one of its memberships in two transactions could
-- each miss the other (the move's trigger does not see the uncommitted membership; the membership's trigger would read
-- the area from before the uncommitted move), so this trigger first locks the households involved FOR SHARE, which a
-- move's row lock (FOR NO KEY UPDATE) conflicts with: a move under way is waited for, and a later move waits for this
-- transaction. The update after the lock runs with a new snapshot (a statement of a volatile function, READ
-- COMMITTED), so it reads the area as committed.
CREATE FUNCTION refresh_household_area_of_people() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  people bigint[];
  households bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(individual_id), array_agg(group_id) INTO people, households FROM memberships_after;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(individual_id), array_agg(group_id) INTO people, households FROM memberships_before;
  ELSE
    SELECT array_agg(individual_id), array_agg(group_id) INTO people, households
    FROM (SELECT individual_id, group_id FROM memberships_before UNION SELECT individual_id, group_id FROM memberships_after) moved;
  END IF;
  -- The households of the changed memberships, and the ones the people are members of now, in id order.
  -- (A set of ids, not an OR of two conditions: with the OR, PostgreSQL scanned every household for each death.)
  PERFORM 1 FROM groups g
  WHERE g.id IN (SELECT unnest(households)
                 UNION SELECT m.group_id FROM memberships m WHERE m.individual_id = ANY (people) AND m.end_date IS NULL)
  ORDER BY g.id
  FOR SHARE OF g;
  UPDATE individuals i SET household_area_id = now_in.area_id
  FROM (
    SELECT p.id, (SELECT g.area_id FROM memberships m JOIN groups g ON g.id = m.group_id
                  WHERE m.individual_id = p.id AND m.end_date IS NULL) AS area_id
    FROM (SELECT DISTINCT id FROM unnest(people) AS u(id)) p
  ) now_in
  WHERE i.id = now_in.id AND i.household_area_id IS DISTINCT FROM now_in.area_id;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER memberships_inserted_household_area AFTER INSERT ON memberships
  REFERENCING NEW TABLE AS memberships_after FOR EACH STATEMENT EXECUTE FUNCTION refresh_household_area_of_people();--> statement-breakpoint
CREATE TRIGGER memberships_updated_household_area AFTER UPDATE ON memberships
  REFERENCING OLD TABLE AS memberships_before NEW TABLE AS memberships_after FOR EACH STATEMENT EXECUTE FUNCTION refresh_household_area_of_people();--> statement-breakpoint
CREATE TRIGGER memberships_deleted_household_area AFTER DELETE ON memberships
  REFERENCING OLD TABLE AS memberships_before FOR EACH STATEMENT EXECUTE FUNCTION refresh_household_area_of_people();--> statement-breakpoint
-- Households: a row trigger that fires only when the area changes (its column list and WHEN are checked without
-- calling the function), so an update of any other household column, such as the CRVS's group_size at each death,
-- does not run it.
CREATE FUNCTION refresh_household_area_of_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE individuals i SET household_area_id = NEW.area_id
  FROM memberships m
  WHERE m.group_id = NEW.id AND m.end_date IS NULL AND i.id = m.individual_id AND i.household_area_id IS DISTINCT FROM NEW.area_id;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER groups_moved_household_area AFTER UPDATE OF area_id ON groups
  FOR EACH ROW WHEN (OLD.area_id IS DISTINCT FROM NEW.area_id) EXECUTE FUNCTION refresh_household_area_of_members();
