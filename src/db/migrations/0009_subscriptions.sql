CREATE TABLE "event_cursors" (
	"name" text PRIMARY KEY NOT NULL,
	"last_event_id" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pending_notifications" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"subscription_id" bigint NOT NULL,
	"registry_event_id" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"code" text NOT NULL,
	"domain" text NOT NULL,
	"partner_id" text NOT NULL,
	"reference_id" text NOT NULL,
	"event_types" text[] NOT NULL,
	"reg_event_type" text NOT NULL,
	"record_type" text NOT NULL,
	"filter" jsonb,
	"frequency" text,
	"start_time" timestamp with time zone,
	"end_time" timestamp with time zone,
	"notify_url" text NOT NULL,
	"fingerprint" text NOT NULL,
	"status" text NOT NULL,
	"criteria" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"unsubscribed_at" timestamp with time zone,
	"next_batch_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "pending_notifications" ADD CONSTRAINT "pending_notifications_subscription_id_subscriptions_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."subscriptions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "pending_notifications_uq" ON "pending_notifications" USING btree ("subscription_id","registry_event_id");--> statement-breakpoint
CREATE UNIQUE INDEX "subscriptions_code_uq" ON "subscriptions" USING btree ("code");--> statement-breakpoint
CREATE UNIQUE INDEX "subscriptions_active_fingerprint_uq" ON "subscriptions" USING btree ("partner_id","domain","fingerprint") WHERE "subscriptions"."status" = 'subscribe';--> statement-breakpoint
CREATE INDEX "subscriptions_active_idx" ON "subscriptions" USING btree ("domain") WHERE "subscriptions"."status" = 'subscribe';--> statement-breakpoint
INSERT INTO "event_cursors" ("name", "last_event_id") VALUES ('notify', 0) ON CONFLICT DO NOTHING;
