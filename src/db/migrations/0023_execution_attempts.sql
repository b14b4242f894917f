-- Each claim of a received request counts: one that keeps failing (a value PostgreSQL refuses, a bug) is failed for
-- good after MAX_EXECUTION_ATTEMPTS instead of being retried for ever, and txn status says why.
ALTER TABLE "dci_execution_queue" ADD COLUMN "attempts" integer DEFAULT 0 NOT NULL;