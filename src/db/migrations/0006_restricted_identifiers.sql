DROP INDEX "identifiers_type_value_uq";--> statement-breakpoint
ALTER TABLE "identifiers" ALTER COLUMN "id_value" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "identifier_types" ADD COLUMN "classification" text DEFAULT 'internal' NOT NULL;--> statement-breakpoint
ALTER TABLE "identifier_types" ADD CONSTRAINT "identifier_types_classification" CHECK ("identifier_types"."classification" in ('public', 'internal', 'confidential', 'restricted'));--> statement-breakpoint
-- National identifiers are restricted (OpenSPP v2's classes): the server seals their values when it next starts.
UPDATE "identifier_types" SET "classification" = 'restricted' WHERE "code" in ('UIN', 'BRN', 'DRN', 'MRN');--> statement-breakpoint
ALTER TABLE "identifiers" ADD COLUMN "id_sealed" "bytea";--> statement-breakpoint
ALTER TABLE "identifiers" ADD COLUMN "id_lookup" text;--> statement-breakpoint
UPDATE "identifiers" SET "id_lookup" = "id_value";--> statement-breakpoint
ALTER TABLE "identifiers" ALTER COLUMN "id_lookup" SET NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "identifiers_type_lookup_uq" ON "identifiers" USING btree ("id_type","id_lookup");--> statement-breakpoint
ALTER TABLE "identifiers" ADD CONSTRAINT "identifiers_clear_or_sealed" CHECK (("identifiers"."id_value" is null) <> ("identifiers"."id_sealed" is null));--> statement-breakpoint
CREATE TABLE "data_key_check" (
	"id" integer PRIMARY KEY NOT NULL,
	"fingerprint" text NOT NULL
);
