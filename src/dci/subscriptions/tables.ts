import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * Subscriptions partners made (DIGEST 3.4), one per subscribe item: which registry events, which records, under which
 * filter, delivered where. `code` is ours (SubscriptionCode). A partner cannot hold two active subscriptions with the
 * same `fingerprint` (event types, record type, filter): `rjct.event.already_subscribed`.
 */
export const subscriptions = pgTable(
  'subscriptions',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    code: text('code').notNull(),
    domain: text('domain').notNull(),
    partnerId: text('partner_id').notNull(),
    referenceId: text('reference_id').notNull(),
    /** Our event types (death, live_birth, ...), and the type as the partner wrote it (notifies name the event reported). */
    eventTypes: text('event_types').array().notNull(),
    regEventType: text('reg_event_type').notNull(),
    /** Group | Member | Person */
    recordType: text('record_type').notNull(),
    /** {filter_type, filter} as sent, or null for every record. */
    filter: jsonb('filter'),
    /** Null: each event as it happens; otherwise hourly | daily | weekly | monthly. */
    frequency: text('frequency'),
    startTime: timestamp('start_time', { withTimezone: true, mode: 'string' }),
    endTime: timestamp('end_time', { withTimezone: true, mode: 'string' }),
    notifyUrl: text('notify_url').notNull(),
    fingerprint: text('fingerprint').notNull(),
    /** subscribe | unsubscribe (SubscriptionInfo.status). */
    status: text('status').notNull(),
    /** The full SubscriptionInfo echoed in on-subscribe. */
    criteria: jsonb('criteria').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    unsubscribedAt: timestamp('unsubscribed_at', { withTimezone: true, mode: 'string' }),
    /** For batched frequencies: when the next batch is due. */
    nextBatchAt: timestamp('next_batch_at', { withTimezone: true, mode: 'string' }),
  },
  (t) => [
    uniqueIndex('subscriptions_code_uq').on(t.code),
    uniqueIndex('subscriptions_active_fingerprint_uq').on(t.partnerId, t.domain, t.fingerprint).where(sql`${t.status} = 'subscribe'`),
    index('subscriptions_active_idx').on(t.domain).where(sql`${t.status} = 'subscribe'`),
  ],
);

/**
 * The notify fan-out's lock row (`name` 'notify': one round at a time, so subscribers get events in order).
 * `last_event_id` was its read position until migration 0027; the queue below replaced it.
 */
export const eventCursors = pgTable('event_cursors', {
  name: text('name').primaryKey(),
  lastEventId: bigint('last_event_id', { mode: 'number' }).notNull(),
});

/**
 * Registry events the notify fan-out has yet to match, queued by a trigger in the transaction that records them
 * (migration 0027) and deleted by the round that matches them. A queue rather than a position in the event ids: ids are
 * taken when an event is inserted, not when it commits, so an event of a transaction still open could get a lower id
 * than one the fan-out had already passed, and was never notified.
 */
export const notifyQueue = pgTable('notify_queue', {
  registryEventId: bigint('registry_event_id', { mode: 'number' }).primaryKey(),
});

/** Events matched to a subscription with a batched frequency, waiting for its next batch. */
export const pendingNotifications = pgTable(
  'pending_notifications',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    subscriptionId: bigint('subscription_id', { mode: 'number' })
      .notNull()
      .references(() => subscriptions.id),
    registryEventId: bigint('registry_event_id', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('pending_notifications_uq').on(t.subscriptionId, t.registryEventId)],
);
