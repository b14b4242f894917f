import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * The async protocol's durable state (DIGEST 1.3, 7.6). A request is stored here before its ACK is sent, and every
 * callback is an outbox row before it is delivered: a crash at any point loses nothing.
 *
 * Work is claimed with a lease (`lease_owner`, `lease_until`): `lease_owner` is the claiming process's worker number,
 * which that process holds as a PostgreSQL advisory lock for its lifetime, so a lease of a killed process is taken over
 * at once instead of after `lease_until`.
 */

/** Async requests partners sent us (search, txn-status), keyed by sender and message id. */
export const dciTransactions = pgTable(
  'dci_transactions',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    domain: text('domain').notNull(),
    action: text('action').notNull(),
    senderId: text('sender_id').notNull(),
    messageId: text('message_id').notNull(),
    /** SHA-256 of the canonical JSON of {header, message}: a retry with the same id must carry the same message. */
    bodyHash: text('body_hash').notNull(),
    correlationId: text('correlation_id').notNull(),
    transactionId: text('transaction_id').notNull(),
    referenceIds: text('reference_ids').array().notNull(),
    callbackUrl: text('callback_url').notNull(),
    request: jsonb('request').notNull(),
    /** received -> pending (answered, callbacks queued) -> delivered | failed */
    state: text('state').notNull().default('received'),
    totalCount: integer('total_count').notNull(),
    completedCount: integer('completed_count').notNull().default(0),
    /** Each item's answer once executed: [{reference_id, status, status_reason_code?}], for txn status. */
    outcome: jsonb('outcome'),
    ackedAt: timestamp('acked_at', { withTimezone: true, mode: 'string' }).notNull(),
    lastError: text('last_error'),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('dci_transactions_message_uq').on(t.senderId, t.messageId),
    uniqueIndex('dci_transactions_correlation_uq').on(t.correlationId),
    index('dci_transactions_sender_txn_idx').on(t.senderId, t.transactionId),
    index('dci_transactions_reference_ids_idx').using('gin', t.referenceIds),
    // Retention deletes by age: a BRIN index is a few pages and costs the insert almost nothing (acked_at follows the
    // insert order); a btree cost every ACK an index entry.
    index('dci_transactions_acked_brin').using('brin', t.ackedAt).with({ autosummarize: true }),
  ],
);

/**
 * Requests received and not yet answered, each with the lease of the worker executing it. The queue is a table of
 * its own so that no index of dci_transactions covers the request's state: the answer and the delivery then update
 * the request row on its page (HOT) instead of adding an entry to each of its six indexes (an update that changed an
 * indexed state cost about three times one that did not).
 */
export const dciExecutionQueue = pgTable('dci_execution_queue', {
  transactionId: bigint('transaction_id', { mode: 'number' })
    .primaryKey()
    .references(() => dciTransactions.id, { onDelete: 'cascade' }),
  leaseOwner: bigint('lease_owner', { mode: 'number' }),
  leaseUntil: timestamp('lease_until', { withTimezone: true, mode: 'string' }),
  /** How many times a worker took it: past MAX_EXECUTION_ATTEMPTS a request that keeps failing is failed for good. */
  attempts: integer('attempts').notNull().default(0),
});

/** The callback outbox: one row per message we POST to a partner (on-search pages, txn-on-status, later notify). */
export const callbackDeliveries = pgTable(
  'callback_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    transactionId: bigint('transaction_id', { mode: 'number' }).references(() => dciTransactions.id, { onDelete: 'cascade' }),
    partnerId: text('partner_id').notNull(),
    action: text('action').notNull(),
    /** Our header.message_id of this callback: the same on every retry, so the receiver can drop duplicates. */
    messageId: text('message_id').notNull(),
    page: integer('page').notNull().default(1),
    targetUrl: text('target_url').notNull(),
    /** The envelope without its signature, as sortedJson text; each attempt signs it afresh (a signature is valid minutes, retries run days). */
    body: text('body').notNull(),
    /** The DCI signature digest of the body's {header, message}, computed once. */
    digest: text('digest').notNull(),
    /** pending -> delivered | dead (gave up after the horizon) | gone (receiver answered 410) */
    state: text('state').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    giveUpAt: timestamp('give_up_at', { withTimezone: true, mode: 'string' }).notNull(),
    leaseOwner: bigint('lease_owner', { mode: 'number' }),
    leaseUntil: timestamp('lease_until', { withTimezone: true, mode: 'string' }),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'string' }),
    /** A notify's subscription: ending it withdraws the notifies still waiting (migration 0028). */
    subscriptionId: bigint('subscription_id', { mode: 'number' }),
  },
  (t) => [
    uniqueIndex('callback_deliveries_message_uq').on(t.messageId),
    index('callback_deliveries_subscription_idx').on(t.subscriptionId).where(sql`${t.subscriptionId} is not null`),
    // Each partner's due callbacks in order: claims walk it per partner (see DeliveryStore.claimDue).
    index('callback_deliveries_partner_due_idx').on(t.partnerId, t.nextAttemptAt, t.id).where(sql`${t.state} = 'pending'`),
    index('callback_deliveries_transaction_idx').on(t.transactionId),
    index('callback_deliveries_partner_state_idx').on(t.partnerId, t.state, t.id),
    index('callback_deliveries_created_brin').using('brin', t.createdAt).with({ autosummarize: true }),
  ],
);

/** Each delivery attempt, for operators: when, how long, what the receiver said. */
export const callbackAttempts = pgTable(
  'callback_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: bigint('delivery_id', { mode: 'number' })
      .notNull()
      .references(() => callbackDeliveries.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'string' }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    httpStatus: integer('http_status'),
    error: text('error'),
  },
  (t) => [index('callback_attempts_delivery_idx').on(t.deliveryId, t.attempt)],
);

/** Requests this server sent to another registry (the gateway's upstream side), to match their callbacks. */
export const outboundRequests = pgTable(
  'outbound_requests',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    domain: text('domain').notNull(),
    /** The registry we sent it to (its DCI id). */
    peerId: text('peer_id').notNull(),
    action: text('action').notNull(),
    messageId: text('message_id').notNull(),
    transactionId: text('transaction_id').notNull(),
    /** Issued by the peer in its ACK. */
    correlationId: text('correlation_id'),
    request: jsonb('request').notNull(),
    /**
     * sent -> acknowledged -> answered (final callback received) | refused | unanswered (gateway mode: no final
     * callback within UPSTREAM_ANSWER_TIMEOUT_SECONDS; the caller was told the search failed)
     */
    state: text('state').notNull(),
    ack: jsonb('ack'),
    /** Gateway mode: the async request of ours (dci_transactions.id) whose caller gets the peer's answers relayed. */
    relayTransactionId: bigint('relay_transaction_id', { mode: 'number' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('outbound_requests_message_uq').on(t.messageId),
    index('outbound_requests_transaction_idx').on(t.peerId, t.transactionId),
    index('outbound_requests_created_brin').using('brin', t.createdAt).with({ autosummarize: true }),
    index('outbound_requests_relay_idx').on(t.relayTransactionId).where(sql`${t.relayTransactionId} is not null`),
    index('outbound_requests_awaiting_relay_idx')
      .on(t.relayTransactionId, t.createdAt)
      .where(sql`${t.state} in ('sent', 'acknowledged') and ${t.relayTransactionId} is not null`),
  ],
);

/** Callbacks peers sent us (on-search, txn-on-status), each stored once per sender and message id. */
export const receivedCallbacks = pgTable(
  'received_callbacks',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    outboundRequestId: bigint('outbound_request_id', { mode: 'number' })
      .notNull()
      .references(() => outboundRequests.id, { onDelete: 'cascade' }),
    senderId: text('sender_id').notNull(),
    messageId: text('message_id').notNull(),
    action: text('action').notNull(),
    status: text('status').notNull(),
    envelope: jsonb('envelope').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    /** Gateway mode: when it was queued for our caller (a redelivery of one stored but not yet relayed is relayed). */
    relayedAt: timestamp('relayed_at', { withTimezone: true, mode: 'string' }),
  },
  (t) => [
    uniqueIndex('received_callbacks_message_uq').on(t.senderId, t.messageId),
    index('received_callbacks_request_idx').on(t.outboundRequestId),
  ],
);

/**
 * Message ids of sync requests seen within the replay window (DIGEST 7.6): a replayed sync request is refused
 * instead of answered again. Rows older than the window are pruned; older messages fail the message_ts check.
 * A CRVS notify (answered with its ACK at once, migration 0029) keeps its body's hash and ACK: the same message sent
 * again gets that ACK, and the id reused for another message is refused.
 */
export const seenSyncMessages = pgTable(
  'seen_sync_messages',
  {
    senderId: text('sender_id').notNull(),
    messageId: text('message_id').notNull(),
    seenAt: timestamp('seen_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    bodyHash: text('body_hash'),
    correlationId: text('correlation_id'),
  },
  (t) => [uniqueIndex('seen_sync_messages_uq').on(t.senderId, t.messageId), index('seen_sync_messages_seen_idx').on(t.seenAt)],
);
