-- Gateway mode: forwarded async searches still waiting for their upstream's final answer, per caller's request and by
-- age: a request is settled only once that answer is relayed, and the minute's sweep fails those left unanswered past
-- UPSTREAM_ANSWER_TIMEOUT_SECONDS (rows leave the index when answered). relayed_at: an upstream callback stored but
-- not yet relayed (a crash in between) is relayed when the upstream sends it again.
ALTER TABLE "received_callbacks" ADD COLUMN "relayed_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "outbound_requests_awaiting_relay_idx" ON "outbound_requests" USING btree ("relay_transaction_id","created_at") WHERE "outbound_requests"."state" in ('sent', 'acknowledged') and "outbound_requests"."relay_transaction_id" is not null;