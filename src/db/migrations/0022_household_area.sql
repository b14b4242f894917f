-- A person's household area, kept on the person (individuals.household_area_id), so that a person search by region,
-- district or location reads the (area, birth date) index instead of joining every active member of the area: with
-- 100,000 households, people of one region aged 60 or over were counted from 121,546 memberships and as many person
-- rows (607,000 buffer hits, 280-850 ms).
ALTER TABLE "individuals" ADD COLUMN "household_area_id" bigint;--> statement-breakpoint
UPDATE individuals i SET household_area_id = g.area_id
FROM memberships m JOIN groups g ON g.id = m.group_id
WHERE m.individual_id = i.id AND m.end_date IS NULL AND g.area_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "individuals_household_area_birth_idx" ON "individuals" USING btree ("household_area_id","birth_date");--> statement-breakpoint
-- The column follows every write to memberships and to households' areas, whichever code path makes it. Statement
-- triggers with transition tables: a COPY of a whole seeding round is one set-based update, not a call per row. The
-- demo seeder writes the column itself (its COPYs may run with session_replication_role = replica, which skips these
-- triggers); when they do run, rows already right are left untouched.
CREATE FUNCTION refresh_household_area_of_people() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  people bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(individual_id) INTO people FROM memberships_after;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(individual_id) INTO people FROM memberships_before;
  ELSE
    SELECT array_agg(individual_id) INTO people FROM (SELECT individual_id FROM memberships_before UNION SELECT individual_id FROM memberships_after) moved;
  END IF;
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
CREATE FUNCTION refresh_household_area_of_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE individuals i SET household_area_id = after.area_id
  FROM groups_after after
  JOIN groups_before before ON before.id = after.id
  JOIN memberships m ON m.group_id = after.id AND m.end_date IS NULL
  WHERE before.area_id IS DISTINCT FROM after.area_id AND i.id = m.individual_id AND i.household_area_id IS DISTINCT FROM after.area_id;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER groups_updated_household_area AFTER UPDATE ON groups
  REFERENCING OLD TABLE AS groups_before NEW TABLE AS groups_after FOR EACH STATEMENT EXECUTE FUNCTION refresh_household_area_of_members();
