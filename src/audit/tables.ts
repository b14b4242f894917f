import { bigserial, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The audit log: every disclosure of personal data to a partner, append-only. Each entry's `hash` covers its content
 * and the previous entry's hash, so changing or deleting any row breaks the chain from there on (`npm run
 * audit:verify` finds the first broken link). It names records by their REGISTRY_ID, never by their contents.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true, mode: 'string' }).notNull(),
    partnerId: text('partner_id').notNull(),
    event: text('event').notNull(),
    domain: text('domain').notNull(),
    action: text('action').notNull(),
    purpose: text('purpose'),
    transactionId: text('transaction_id'),
    messageId: text('message_id'),
    referenceId: text('reference_id'),
    recordCount: integer('record_count').notNull(),
    recordIds: text('record_ids').array().notNull(),
    /** The fields disclosed: the partner's allow-list, or null for whole records. */
    fields: text('fields').array(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [index('audit_log_partner_idx').on(t.partnerId, t.id), index('audit_log_at_idx').on(t.at)],
);

/** The chain's head: the hash of the last entry. Appends lock this one row, so the chain has one order. */
export const auditHead = pgTable('audit_head', {
  id: integer('id').primaryKey(),
  hash: text('hash').notNull(),
});
