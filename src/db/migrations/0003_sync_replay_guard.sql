CREATE TABLE "seen_sync_messages" (
	"sender_id" text NOT NULL,
	"message_id" text NOT NULL,
	"seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "seen_sync_messages_uq" ON "seen_sync_messages" USING btree ("sender_id","message_id");--> statement-breakpoint
CREATE INDEX "seen_sync_messages_seen_idx" ON "seen_sync_messages" USING btree ("seen_at");