CREATE TABLE "registry_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"event_type" text NOT NULL,
	"individual_id" bigint,
	"group_id" bigint,
	"occurred_on" date,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL,
	"source" text NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "crvs_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"sender_id" text NOT NULL,
	"event_key" text NOT NULL,
	"event_type" text NOT NULL,
	"reference_id" text NOT NULL,
	"message_id" text NOT NULL,
	"state" text NOT NULL,
	"outcome" text NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	"waiting_for" text[] DEFAULT '{}'::text[] NOT NULL,
	"record_sealed" "bytea" NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "registry_events" ADD CONSTRAINT "registry_events_individual_id_individuals_id_fk" FOREIGN KEY ("individual_id") REFERENCES "public"."individuals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "registry_events" ADD CONSTRAINT "registry_events_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "registry_events_event_id_uq" ON "registry_events" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "registry_events_individual_idx" ON "registry_events" USING btree ("individual_id") WHERE "registry_events"."individual_id" is not null;--> statement-breakpoint
CREATE INDEX "registry_events_group_idx" ON "registry_events" USING btree ("group_id") WHERE "registry_events"."group_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "crvs_events_identity_uq" ON "crvs_events" USING btree ("sender_id","event_key");--> statement-breakpoint
CREATE INDEX "crvs_events_pending_idx" ON "crvs_events" USING btree ("id") WHERE "crvs_events"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "crvs_events_waiting_idx" ON "crvs_events" USING gin ("waiting_for") WHERE "crvs_events"."state" = 'pending';