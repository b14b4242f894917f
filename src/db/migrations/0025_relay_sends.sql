-- Gateway mode: every request sent upstream for one caller's request, whatever its state: a forwarded search sent
-- twice (a retry after a timeout) relays the answers of one send only, and is settled once that send's final answer is
-- relayed (CallbackRelay, settleTransactions).
CREATE INDEX "outbound_requests_relay_idx" ON "outbound_requests" USING btree ("relay_transaction_id") WHERE "outbound_requests"."relay_transaction_id" is not null;