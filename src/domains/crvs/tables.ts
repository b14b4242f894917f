import { sql } from 'drizzle-orm';
import { bigserial, index, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { bytea } from '../../db/columns.js';

/**
 * Vital events a CRVS notified us of, one row per event identity (sender and registration number, or the sender's
 * event reference): a resent event, in a new message or not, finds its row and is not applied twice. Events that
 * cannot be applied (no such person, ambiguous match, unknown parents) wait here as `pending` for review; none is
 * dropped. The record is stored sealed (it names people and their identifiers).
 */
export const crvsEvents = pgTable(
  'crvs_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    senderId: text('sender_id').notNull(),
    /** `<event type>:<identifier type>:<blind index of the registration number>`, or `ref:<reference_id>`. */
    eventKey: text('event_key').notNull(),
    /** death | live_birth | marriage | divorce, or the type as sent when we do not know it. */
    eventType: text('event_type').notNull(),
    referenceId: text('reference_id').notNull(),
    messageId: text('message_id').notNull(),
    /** applied | pending | dismissed (`received` only inside the transaction that stores and applies the event) */
    state: text('state').notNull(),
    /** Why it is pending, or what applying it did. */
    outcome: text('outcome').notNull(),
    attempts: integer('attempts').notNull().default(1),
    /** `TYPE:lookup` of the identifiers whose arrival may let a pending event apply (a birth before a death). */
    waitingFor: text('waiting_for').array().notNull().default(sql`'{}'::text[]`),
    recordSealed: bytea('record_sealed').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('crvs_events_identity_uq').on(t.senderId, t.eventKey),
    index('crvs_events_pending_idx').on(t.id).where(sql`${t.state} = 'pending'`),
    index('crvs_events_waiting_idx').using('gin', t.waitingFor).where(sql`${t.state} = 'pending'`),
  ],
);
