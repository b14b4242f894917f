-- Gateway mode: forwarded async searches still waiting for their upstream's answer, by age, for the sweep that tells
-- their callers the search failed once UPSTREAM_ANSWER_TIMEOUT_SECONDS has passed (rows leave it when answered).
CREATE INDEX "outbound_requests_awaiting_relay_idx" ON "outbound_requests" USING btree ("created_at") WHERE "outbound_requests"."state" in ('sent', 'acknowledged') and "outbound_requests"."relay_transaction_id" is not null;
