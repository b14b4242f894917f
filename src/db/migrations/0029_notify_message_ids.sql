-- A CRVS notify's message id is recorded with its body's hash and the ACK it was given (DIGEST 7.6): the same message
-- sent again gets that ACK without being applied again, and the id reused for another message is refused.
ALTER TABLE "seen_sync_messages" ADD COLUMN "body_hash" text;--> statement-breakpoint
ALTER TABLE "seen_sync_messages" ADD COLUMN "correlation_id" text;