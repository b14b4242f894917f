-- The location tree (/.well-known/locations.json) states when an area last changed, and is rebuilt when the newest
-- change or the number of areas differs from what it was built from: rows already here count as changed when this
-- migration ran, and any update of an area (an operator's edit by hand included) marks it changed.
ALTER TABLE "areas" ADD COLUMN "last_updated" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
CREATE FUNCTION mark_area_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.last_updated := clock_timestamp();
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER areas_changed BEFORE UPDATE ON areas FOR EACH ROW EXECUTE FUNCTION mark_area_changed();
