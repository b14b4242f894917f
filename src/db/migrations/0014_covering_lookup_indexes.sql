-- Covering indexes for the lookups every check and identifier search makes (drizzle has no INCLUDE, so they are
-- written here by hand; the schema declares the same key columns). An identifier resolves to its owner, a person to
-- their household, and a person or household to its enrolment statuses by index-only scans: a batch of 100 duplicate
-- checks reads about half the pages it did, which is what decides its latency once the registry outgrows memory.
DROP INDEX IF EXISTS "identifiers_type_lookup_uq";--> statement-breakpoint
CREATE UNIQUE INDEX "identifiers_type_lookup_uq" ON "identifiers" USING btree ("id_type","id_lookup") INCLUDE ("individual_id","group_id");--> statement-breakpoint
DROP INDEX IF EXISTS "memberships_active_individual_uq";--> statement-breakpoint
CREATE UNIQUE INDEX "memberships_active_individual_uq" ON "memberships" USING btree ("individual_id") INCLUDE ("group_id") WHERE "memberships"."end_date" is null;--> statement-breakpoint
DROP INDEX IF EXISTS "enrolments_person_uq";--> statement-breakpoint
CREATE UNIQUE INDEX "enrolments_person_uq" ON "enrolments" USING btree ("individual_id","programme_id") INCLUDE ("status","assistance_unit") WHERE "enrolments"."individual_id" is not null;--> statement-breakpoint
DROP INDEX IF EXISTS "enrolments_group_uq";--> statement-breakpoint
CREATE UNIQUE INDEX "enrolments_group_uq" ON "enrolments" USING btree ("group_id","programme_id") INCLUDE ("status","assistance_unit") WHERE "enrolments"."group_id" is not null;
