-- A notify delivery names its subscription: unsubscribing withdraws the notifies of that subscription still waiting to
-- be delivered (or retried), so none reaches the partner after its on-unsubscribe.
ALTER TABLE "callback_deliveries" ADD COLUMN "subscription_id" bigint;--> statement-breakpoint
CREATE INDEX "callback_deliveries_subscription_idx" ON "callback_deliveries" USING btree ("subscription_id") WHERE "callback_deliveries"."subscription_id" is not null;