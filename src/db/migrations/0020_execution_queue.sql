-- Received requests wait in a queue table of their own, with their execution lease, instead of being found through a
-- partial index on dci_transactions.state: with no index covering the state, the answer and the delivery update the
-- request row on its page (HOT) instead of adding an entry to each of its indexes. The queue's own pages are kept
-- half free, as the request table's are (0019), so that its lease updates stay on their page too.
CREATE TABLE "dci_execution_queue" (
	"transaction_id" bigint PRIMARY KEY NOT NULL,
	"lease_owner" bigint,
	"lease_until" timestamp with time zone
) WITH (fillfactor = 50);
--> statement-breakpoint
INSERT INTO "dci_execution_queue" ("transaction_id", "lease_owner", "lease_until")
  SELECT "id", "lease_owner", "lease_until" FROM "dci_transactions" WHERE "state" = 'received';--> statement-breakpoint
DROP INDEX "dci_transactions_received_idx";--> statement-breakpoint
ALTER TABLE "dci_execution_queue" ADD CONSTRAINT "dci_execution_queue_transaction_id_dci_transactions_id_fk" FOREIGN KEY ("transaction_id") REFERENCES "public"."dci_transactions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dci_transactions" DROP COLUMN "lease_owner";--> statement-breakpoint
ALTER TABLE "dci_transactions" DROP COLUMN "lease_until";
