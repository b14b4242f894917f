CREATE TABLE "areas" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"level" text NOT NULL,
	"parent_id" bigint,
	"path" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "groups" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"external_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"group_type" smallint DEFAULT 1 NOT NULL,
	"area_id" bigint,
	"address_line" text,
	"postal_code" text,
	"latitude" numeric(9, 6),
	"longitude" numeric(9, 6),
	"poverty_score" numeric(5, 2),
	"poverty_score_type" text,
	"group_size" integer DEFAULT 0 NOT NULL,
	"attributes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"registration_date" timestamp with time zone DEFAULT now() NOT NULL,
	"last_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "identifier_types" (
	"code" text PRIMARY KEY NOT NULL,
	"description" text NOT NULL,
	"applies_to" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "identifiers" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"id_type" text NOT NULL,
	"id_value" text NOT NULL,
	"individual_id" bigint,
	"group_id" bigint,
	CONSTRAINT "identifiers_one_owner" CHECK (("identifiers"."individual_id" is null) <> ("identifiers"."group_id" is null))
);
--> statement-breakpoint
CREATE TABLE "individuals" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"external_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"given_name" text,
	"second_name" text,
	"surname" text,
	"maiden_name" text,
	"prefix" text,
	"suffix" text,
	"sex" text DEFAULT 'unknown' NOT NULL,
	"birth_date" date,
	"death_date" date,
	"death_place" text,
	"marital_status" text,
	"is_disabled" boolean DEFAULT false NOT NULL,
	"disability_info" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"education_level" text,
	"occupation" text,
	"employment_status" smallint,
	"income_level" text,
	"language_code" text,
	"phone_number" text,
	"email" text,
	"attributes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"registration_date" timestamp with time zone DEFAULT now() NOT NULL,
	"last_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "memberships" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"group_id" bigint NOT NULL,
	"individual_id" bigint NOT NULL,
	"is_head" boolean DEFAULT false NOT NULL,
	"relationship_to_head" text NOT NULL,
	"start_date" date DEFAULT current_date NOT NULL,
	"end_date" date
);
--> statement-breakpoint
ALTER TABLE "areas" ADD CONSTRAINT "areas_parent_id_areas_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."areas"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "groups" ADD CONSTRAINT "groups_area_id_areas_id_fk" FOREIGN KEY ("area_id") REFERENCES "public"."areas"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "identifiers" ADD CONSTRAINT "identifiers_individual_id_individuals_id_fk" FOREIGN KEY ("individual_id") REFERENCES "public"."individuals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "identifiers" ADD CONSTRAINT "identifiers_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_individual_id_individuals_id_fk" FOREIGN KEY ("individual_id") REFERENCES "public"."individuals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "areas_code_uq" ON "areas" USING btree ("code");--> statement-breakpoint
CREATE INDEX "areas_path_idx" ON "areas" USING btree ("path" text_pattern_ops);--> statement-breakpoint
CREATE INDEX "areas_lower_name_idx" ON "areas" USING btree (lower("name"));--> statement-breakpoint
CREATE UNIQUE INDEX "groups_external_id_uq" ON "groups" USING btree ("external_id");--> statement-breakpoint
CREATE INDEX "groups_poverty_score_idx" ON "groups" USING btree ("poverty_score","id");--> statement-breakpoint
CREATE INDEX "groups_group_size_idx" ON "groups" USING btree ("group_size","id");--> statement-breakpoint
CREATE INDEX "groups_area_idx" ON "groups" USING btree ("area_id","poverty_score");--> statement-breakpoint
CREATE UNIQUE INDEX "identifiers_type_value_uq" ON "identifiers" USING btree ("id_type","id_value");--> statement-breakpoint
CREATE INDEX "identifiers_individual_idx" ON "identifiers" USING btree ("individual_id") WHERE "identifiers"."individual_id" is not null;--> statement-breakpoint
CREATE INDEX "identifiers_group_idx" ON "identifiers" USING btree ("group_id") WHERE "identifiers"."group_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "individuals_external_id_uq" ON "individuals" USING btree ("external_id");--> statement-breakpoint
CREATE INDEX "individuals_birth_date_idx" ON "individuals" USING btree ("birth_date");--> statement-breakpoint
CREATE INDEX "individuals_sex_marital_idx" ON "individuals" USING btree ("sex","marital_status");--> statement-breakpoint
CREATE INDEX "individuals_disabled_idx" ON "individuals" USING btree ("id") WHERE "individuals"."is_disabled";--> statement-breakpoint
CREATE INDEX "individuals_deceased_idx" ON "individuals" USING btree ("death_date") WHERE "individuals"."death_date" is not null;--> statement-breakpoint
CREATE INDEX "individuals_lower_surname_idx" ON "individuals" USING btree (lower("surname"));--> statement-breakpoint
CREATE INDEX "memberships_group_idx" ON "memberships" USING btree ("group_id") WHERE "memberships"."end_date" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "memberships_active_individual_uq" ON "memberships" USING btree ("individual_id") WHERE "memberships"."end_date" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "memberships_one_head_uq" ON "memberships" USING btree ("group_id") WHERE "memberships"."is_head" and "memberships"."end_date" is null;