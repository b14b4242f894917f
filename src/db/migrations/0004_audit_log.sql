CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"partner_id" text NOT NULL,
	"event" text NOT NULL,
	"domain" text NOT NULL,
	"action" text NOT NULL,
	"purpose" text,
	"transaction_id" text,
	"message_id" text,
	"reference_id" text,
	"record_count" integer NOT NULL,
	"record_ids" text[] NOT NULL,
	"fields" text[],
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audit_log_partner_idx" ON "audit_log" USING btree ("partner_id","id");--> statement-breakpoint
CREATE INDEX "audit_log_at_idx" ON "audit_log" USING btree ("at");