DROP INDEX "dci_transactions_acked_idx";--> statement-breakpoint
CREATE INDEX "callback_deliveries_created_brin" ON "callback_deliveries" USING brin ("created_at") WITH (autosummarize=true);--> statement-breakpoint
CREATE INDEX "dci_transactions_acked_brin" ON "dci_transactions" USING brin ("acked_at") WITH (autosummarize=true);