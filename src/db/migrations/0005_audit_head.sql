CREATE TABLE "audit_head" (
	"id" integer PRIMARY KEY NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
INSERT INTO "audit_head" ("id", "hash") VALUES (1, coalesce((SELECT "hash" FROM "audit_log" ORDER BY "id" DESC LIMIT 1), repeat('0', 64)));
