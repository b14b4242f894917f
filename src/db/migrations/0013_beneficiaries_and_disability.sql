CREATE TABLE "enrolment_status_changes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"enrolment_id" bigint NOT NULL,
	"status" smallint NOT NULL,
	"changed_on" date NOT NULL,
	"source_id" text NOT NULL,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "enrolments" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"programme_id" bigint NOT NULL,
	"individual_id" bigint,
	"group_id" bigint,
	"assistance_unit" smallint NOT NULL,
	"status" smallint NOT NULL,
	"enrolment_date" date NOT NULL,
	"status_changed_on" date,
	"benefits" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"source_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "enrolments_one_subject" CHECK (("enrolments"."individual_id" is null) <> ("enrolments"."group_id" is null))
);
--> statement-breakpoint
CREATE TABLE "programmes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"implementing_institution" text,
	"institution_type" text,
	"programme_type" text,
	"benefit_type" smallint,
	"benefit_frequency" text,
	"owner_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "disability_records" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"individual_id" bigint NOT NULL,
	"status" smallint NOT NULL,
	"level" text,
	"impairments" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"support" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"transport_requirement" text,
	"housing_type" text,
	"assessed_on" date NOT NULL,
	"assessor" text NOT NULL,
	"valid_until" date,
	"registration_date" timestamp with time zone DEFAULT now() NOT NULL,
	"last_updated" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "enrolment_status_changes" ADD CONSTRAINT "enrolment_status_changes_enrolment_id_enrolments_id_fk" FOREIGN KEY ("enrolment_id") REFERENCES "public"."enrolments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrolments" ADD CONSTRAINT "enrolments_programme_id_programmes_id_fk" FOREIGN KEY ("programme_id") REFERENCES "public"."programmes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrolments" ADD CONSTRAINT "enrolments_individual_id_individuals_id_fk" FOREIGN KEY ("individual_id") REFERENCES "public"."individuals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrolments" ADD CONSTRAINT "enrolments_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "disability_records" ADD CONSTRAINT "disability_records_individual_id_individuals_id_fk" FOREIGN KEY ("individual_id") REFERENCES "public"."individuals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "enrolment_status_changes_enrolment_idx" ON "enrolment_status_changes" USING btree ("enrolment_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "enrolments_person_uq" ON "enrolments" USING btree ("individual_id","programme_id") WHERE "enrolments"."individual_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "enrolments_group_uq" ON "enrolments" USING btree ("group_id","programme_id") WHERE "enrolments"."group_id" is not null;--> statement-breakpoint
CREATE INDEX "enrolments_programme_idx" ON "enrolments" USING btree ("programme_id","status");--> statement-breakpoint
CREATE UNIQUE INDEX "programmes_code_uq" ON "programmes" USING btree ("code");--> statement-breakpoint
CREATE UNIQUE INDEX "disability_records_individual_uq" ON "disability_records" USING btree ("individual_id");--> statement-breakpoint
CREATE INDEX "disability_records_status_level_idx" ON "disability_records" USING btree ("status","level");--> statement-breakpoint
CREATE INDEX "disability_records_impairments_idx" ON "disability_records" USING gin ("impairments" jsonb_path_ops);