CREATE TABLE "callback_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"delivery_id" bigint NOT NULL,
	"attempt" integer NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"duration_ms" integer NOT NULL,
	"http_status" integer,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "callback_deliveries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"transaction_id" bigint,
	"partner_id" text NOT NULL,
	"action" text NOT NULL,
	"message_id" text NOT NULL,
	"page" integer DEFAULT 1 NOT NULL,
	"target_url" text NOT NULL,
	"body" text NOT NULL,
	"digest" text NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"give_up_at" timestamp with time zone NOT NULL,
	"lease_owner" bigint,
	"lease_until" timestamp with time zone,
	"last_status" integer,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "dci_transactions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"domain" text NOT NULL,
	"action" text NOT NULL,
	"sender_id" text NOT NULL,
	"message_id" text NOT NULL,
	"body_hash" text NOT NULL,
	"correlation_id" text NOT NULL,
	"transaction_id" text NOT NULL,
	"reference_ids" text[] NOT NULL,
	"callback_url" text NOT NULL,
	"request" jsonb NOT NULL,
	"state" text DEFAULT 'received' NOT NULL,
	"total_count" integer NOT NULL,
	"completed_count" integer DEFAULT 0 NOT NULL,
	"outcome" jsonb,
	"acked_at" timestamp with time zone NOT NULL,
	"lease_owner" bigint,
	"lease_until" timestamp with time zone,
	"last_error" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "outbound_requests" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"domain" text NOT NULL,
	"peer_id" text NOT NULL,
	"action" text NOT NULL,
	"message_id" text NOT NULL,
	"transaction_id" text NOT NULL,
	"correlation_id" text,
	"request" jsonb NOT NULL,
	"state" text NOT NULL,
	"ack" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "received_callbacks" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"outbound_request_id" bigint NOT NULL,
	"sender_id" text NOT NULL,
	"message_id" text NOT NULL,
	"action" text NOT NULL,
	"status" text NOT NULL,
	"envelope" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "callback_attempts" ADD CONSTRAINT "callback_attempts_delivery_id_callback_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."callback_deliveries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "callback_deliveries" ADD CONSTRAINT "callback_deliveries_transaction_id_dci_transactions_id_fk" FOREIGN KEY ("transaction_id") REFERENCES "public"."dci_transactions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "received_callbacks" ADD CONSTRAINT "received_callbacks_outbound_request_id_outbound_requests_id_fk" FOREIGN KEY ("outbound_request_id") REFERENCES "public"."outbound_requests"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "callback_attempts_delivery_idx" ON "callback_attempts" USING btree ("delivery_id","attempt");--> statement-breakpoint
CREATE UNIQUE INDEX "callback_deliveries_message_uq" ON "callback_deliveries" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "callback_deliveries_due_idx" ON "callback_deliveries" USING btree ("next_attempt_at") WHERE "callback_deliveries"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "callback_deliveries_transaction_idx" ON "callback_deliveries" USING btree ("transaction_id");--> statement-breakpoint
CREATE INDEX "callback_deliveries_partner_state_idx" ON "callback_deliveries" USING btree ("partner_id","state","id");--> statement-breakpoint
CREATE UNIQUE INDEX "dci_transactions_message_uq" ON "dci_transactions" USING btree ("sender_id","message_id");--> statement-breakpoint
CREATE UNIQUE INDEX "dci_transactions_correlation_uq" ON "dci_transactions" USING btree ("correlation_id");--> statement-breakpoint
CREATE INDEX "dci_transactions_sender_txn_idx" ON "dci_transactions" USING btree ("sender_id","transaction_id");--> statement-breakpoint
CREATE INDEX "dci_transactions_reference_ids_idx" ON "dci_transactions" USING gin ("reference_ids");--> statement-breakpoint
CREATE INDEX "dci_transactions_received_idx" ON "dci_transactions" USING btree ("id") WHERE "dci_transactions"."state" = 'received';--> statement-breakpoint
CREATE INDEX "dci_transactions_acked_idx" ON "dci_transactions" USING btree ("acked_at");--> statement-breakpoint
CREATE UNIQUE INDEX "outbound_requests_message_uq" ON "outbound_requests" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "outbound_requests_transaction_idx" ON "outbound_requests" USING btree ("peer_id","transaction_id");--> statement-breakpoint
CREATE UNIQUE INDEX "received_callbacks_message_uq" ON "received_callbacks" USING btree ("sender_id","message_id");--> statement-breakpoint
CREATE INDEX "received_callbacks_request_idx" ON "received_callbacks" USING btree ("outbound_request_id");