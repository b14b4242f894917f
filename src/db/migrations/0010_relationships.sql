CREATE TABLE "relationships" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"individual_id" bigint NOT NULL,
	"related_individual_id" bigint NOT NULL,
	"relationship" text NOT NULL,
	"source" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "relationships" ADD CONSTRAINT "relationships_individual_id_individuals_id_fk" FOREIGN KEY ("individual_id") REFERENCES "public"."individuals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "relationships" ADD CONSTRAINT "relationships_related_individual_id_individuals_id_fk" FOREIGN KEY ("related_individual_id") REFERENCES "public"."individuals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "relationships_pair_uq" ON "relationships" USING btree ("individual_id","related_individual_id","relationship");--> statement-breakpoint
CREATE INDEX "relationships_related_idx" ON "relationships" USING btree ("related_individual_id");