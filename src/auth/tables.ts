import { jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The registered partners. `settings` is the partner as the server uses it (scopes, secret hash, keys, callback
 * settings, fields, purposes, rate limit). `source` says who manages it: `file` (PARTNERS_FILE, applied at every
 * start), `development` (the demo partner), `config` (given to the server in code, as tests do) or `api` (the admin
 * API); only `api` partners change through the API.
 */
export const partners = pgTable('partners', {
  id: text('id').primaryKey(),
  source: text('source').notNull(),
  settings: jsonb('settings').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});
