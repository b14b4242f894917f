DROP INDEX "groups_area_idx";--> statement-breakpoint
CREATE INDEX "groups_area_score_size_idx" ON "groups" USING btree ("area_id","poverty_score","group_size","id");