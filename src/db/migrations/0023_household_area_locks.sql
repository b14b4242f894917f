-- individuals.household_area_id (0022) under concurrent writes. A household's move and a change of one of its
-- memberships in two transactions could each miss the other: the move's trigger does not see the uncommitted
-- membership, and the membership's trigger read the area the household had before the uncommitted move, so the person
-- kept the old area (or, having left, took the new one). The membership trigger now first locks the households
-- involved FOR SHARE, which a move's row lock (FOR NO KEY UPDATE) conflicts with: a move under way is waited for, and a
-- move that comes later waits for this transaction. The update after the lock runs with a new snapshot (a statement
-- of a volatile function, READ COMMITTED), so it reads the area as committed.
CREATE OR REPLACE FUNCTION refresh_household_area_of_people() RETURNS trigger LANGUAGE plpgsql AS $$
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
$$;
--> statement-breakpoint
-- A household's area follows to its members from a row trigger that fires only when the area changes (its column list
-- and WHEN are checked without calling the function): the statement trigger of 0022 ran, with its transition tables,
-- for every update of any household column, such as the CRVS's group_size update at each death.
DROP TRIGGER groups_updated_household_area ON groups;--> statement-breakpoint
DROP FUNCTION refresh_household_area_of_members();--> statement-breakpoint
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
