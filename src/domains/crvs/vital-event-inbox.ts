import { type Database, isTransactionConflict } from '../../db/client.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import type { ApplyResult, VitalEventApplier } from './apply.js';
import { readVitalEvent, type VitalEvent } from './vital-events.js';
import { newestFirstPage } from '../../db/pages.js';
import { lockKeys } from '../../db/key-locks.js';
import { Batcher } from '../../db/batcher.js';

type Tx = Pick<Database, 'query'>;

export interface NotifiedEvent {
  reference_id: string;
  data: Record<string, unknown>;
}

interface NotifyMessage {
  senderId: string;
  messageId: string;
  /** SHA-256 of the message's canonical JSON (header and message). */
  bodyHash: string;
  /** The ACK's correlation id, if the message is new. */
  correlationId: string;
  events: NotifiedEvent[];
}

/** A notify's message id was used before for another message (DIGEST 7.6: rjct.message_id.duplicate). */
export class MessageIdReused extends Error {}

type Received = { correlationId: string } | { failure: unknown };

/** A notified record as read: its event, or why it cannot be read (it is kept for review, not applied). */
type ReadRecord = { event: VitalEvent; unreadable?: undefined } | { event?: undefined; unreadable: string };

function readRecord(data: Record<string, unknown>): ReadRecord {
  try {
    return { event: readVitalEvent(data) };
  } catch (e) {
    return { unreadable: (e as Error).message };
  }
}

export interface VitalEventRow {
  id: number;
  sender_id: string;
  event_type: string;
  reference_id: string;
  message_id: string;
  state: 'applied' | 'pending' | 'dismissed';
  outcome: string;
  attempts: number;
  received_at: string;
  updated_at: string;
}

const COLUMNS = 'id, sender_id, event_type, reference_id, message_id, state, outcome, attempts, received_at, updated_at';
const SEAL_CONTEXT = 'crvs_events.record';
/** How many pending events one change may wake up again (a birth that lets its death apply, and so on). */
const MAX_RETRIES_PER_CHANGE = 100;
const RETRIES_ON_CONFLICT = 3;

/**
 * Vital events notified by CRVS partners: stored (sealed) and applied, a message's events in one transaction, before
 * the notify is acknowledged. Identity is the event's, not the message's: a resent event is found and not applied twice. What
 * cannot be applied yet waits as `pending`, is tried again when the identifiers it waits for arrive (a birth after
 * its death), and can be re-applied or dismissed by an operator.
 */
export class VitalEventInbox {
  constructor(
    private readonly db: Database,
    private readonly vault: IdentifierVault,
    private readonly applier: VitalEventApplier,
    /** Told after events were applied (the notify fan-out looks for subscribers at once). */
    private readonly onChanged: () => void = () => {},
  ) {}

  /**
   * Receives one notify message's events in one transaction; resolves once all are durable, with the correlation id
   * of its ACK: `correlationId` for a new message, the first ACK's for the same message sent again (whose events are
   * not applied again). Throws MessageIdReused when the sender used the message id for another message. Messages
   * arriving together share that transaction and its commit (a CRVS sending one event per message pays one commit for
   * several), and each stays all or nothing. An event that cannot be applied is kept as pending, not thrown, so only a
   * database failure fails a message: the CRVS gets an error and sends it again, and the events' identities keep that
   * from applying anything twice.
   */
  async receive(message: NotifyMessage): Promise<string> {
    const received = await this.messages.add(message);
    if ('failure' in received) throw received.failure;
    this.onChanged();
    return received.correlationId;
  }

  // Up to 32 events a transaction: a batch of large messages would make each wait for the others' events.
  private readonly messages = new Batcher<NotifyMessage, Received>((batch) => this.receiveTogether(batch), 32, 4, (m) => m.events.length);

  private async receiveTogether(batch: NotifyMessage[]): Promise<Received[]> {
    try {
      return (await this.storeInOneTransaction(batch)).map((correlationId) => ({ correlationId }));
    } catch (e) {
      if (batch.length === 1) return [{ failure: e }];
    }
    // One message's failure must not fail the messages it was batched with: each is tried again on its own.
    const results: Received[] = [];
    for (const message of batch) {
      results.push(await this.storeInOneTransaction([message]).then(([correlationId]) => ({ correlationId }), (failure: unknown) => ({ failure })));
    }
    return results;
  }

  /** Stores and applies the messages' events; each message's ACK correlation id. */
  private async storeInOneTransaction(batch: NotifyMessage[]): Promise<string[]> {
    // Each record read once, for the locks and for its application, whatever the attempts.
    const read = batch.map((m) => m.events.map((item) => ({ item, record: readRecord(item.data) })));
    // Two messages naming members of one household in opposite orders can deadlock: the loser runs again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(
          async (tx) => {
            await this.lockIdentifiers(tx, read.flat().map((r) => r.record));
            const acks: string[] = [];
            for (const [k, m] of batch.entries()) {
              const first = await this.firstSeen(tx, m);
              if (first === m.correlationId) for (const { item, record } of read[k]) await this.receiveOne(tx, m.senderId, m.messageId, item, record);
              acks.push(first);
            }
            return acks;
          },
          { genericPlans: true },
        );
      } catch (e) {
        if (attempt >= RETRIES_ON_CONFLICT || !isTransactionConflict(e)) throw e;
      }
    }
  }

  /**
   * Records the message id (DIGEST 7.6); the correlation id of the message's ACK: its own when new, the earlier one's
   * for the same message again. The same id for another message (or for a sync request) is refused.
   */
  private async firstSeen(tx: Tx, m: NotifyMessage): Promise<string> {
    const added = await tx.query(
      `insert into seen_sync_messages (sender_id, message_id, body_hash, correlation_id) values ($1, $2, $3, $4)
       on conflict (sender_id, message_id) do nothing returning 1`,
      [m.senderId, m.messageId, m.bodyHash, m.correlationId],
    );
    if (added.length > 0) return m.correlationId;
    // A statement of its own: one that waited on a concurrent insert of the id sees it only from its next statement.
    const [seen] = await tx.query<{ body_hash: string | null; correlation_id: string | null }>(
      'select body_hash, correlation_id from seen_sync_messages where sender_id = $1 and message_id = $2',
      [m.senderId, m.messageId],
    );
    if (seen?.body_hash === m.bodyHash && seen.correlation_id) return seen.correlation_id;
    throw new MessageIdReused(`message_id ${m.messageId.slice(0, 100)} was already used for a different message`);
  }

  /**
   * Takes a transaction lock on every identifier the events name (subject, parents, spouse), in one order for all
   * transactions. Two notifies about the same identifier (a birth creating a BRN, a death waiting for it) then run one
   * after the other: run side by side, neither saw the other's uncommitted work, and the death waited for ever.
   */
  private async lockIdentifiers(tx: Tx, records: ReadRecord[]): Promise<void> {
    const keys = new Set<string>();
    for (const { event: e } of records) {
      if (e) for (const key of this.applier.keysOf([...e.subject, ...e.parents.flat(), ...e.spouse])) keys.add(key);
    }
    await lockKeys(tx, keys);
  }

  private async receiveOne(tx: Tx, senderId: string, messageId: string, item: NotifiedEvent, record: ReadRecord): Promise<void> {
    const { event } = record;
    const key = event ? this.applier.eventKey(event, item.reference_id) : `ref:unreadable:${item.reference_id}`;
    const sealed = this.seal(item.data);
    // Inserted as 'received', a state no other transaction ever sees (settle() gives the final one before the commit):
    // as 'pending' every event went into the two partial indexes of pending events, the GIN one among them, to be
    // updated out of them a moment later.
    const inserted = await tx.query<{ id: number }>(
      `insert into crvs_events (sender_id, event_key, event_type, reference_id, message_id, state, outcome, record_sealed)
       values ($1, $2, $3, $4, $5, 'received', 'received', decode($6, 'hex'))
       on conflict (sender_id, event_key) do nothing returning id`,
      [senderId, key, event?.type ?? event?.sentType ?? 'unreadable', item.reference_id, messageId, sealed],
    );
    if (inserted.length === 0) {
      // Seen before: count the resend; a pending one gets another try (the registry may have changed since), with the
      // record as resent, which it then keeps: a later re-apply or review must see the record that was applied.
      const [row] = await tx.query<{ id: number; state: string }>('select id, state from crvs_events where sender_id = $1 and event_key = $2 for update', [senderId, key]);
      const retried = row.state === 'pending' && event !== undefined;
      await tx.query(
        `update crvs_events set attempts = attempts + 1, updated_at = now(), record_sealed = case when $2 then decode($3, 'hex') else record_sealed end where id = $1`,
        [row.id, retried, sealed],
      );
      if (retried) await this.settle(tx, Number(row.id), await this.apply(tx, record, senderId));
      return;
    }
    await this.settle(tx, Number(inserted[0].id), await this.apply(tx, record, senderId));
  }

  /**
   * Records an outcome and, in the same statement, finds a pending event waiting for an identifier this one created;
   * tries that one again, and so on (a birth lets its earlier death apply).
   */
  private async settle(tx: Tx, id: number, result: ApplyResult): Promise<void> {
    let current = { id, result };
    let created = result.created;
    // Each pending event is tried once per change: one that still cannot apply must not stop the others waiting for
    // the same identifier (it was dropped from `created` before, and they were never tried).
    const tried = [id];
    for (let tries = 0; ; tries++) {
      // The change's registry events are written by the same statement (one round trip less per event).
      const written = current.result.events?.take(7);
      const [waiting] = await tx.query<{ id: number; sender_id: string; record: string }>(
        `with settled as (update crvs_events set state = $2, outcome = $3, waiting_for = $4::text[], updated_at = now() where id = $1)
         ${written ? `, written as (${written.text})` : ''}
         select id, sender_id, encode(record_sealed, 'base64') as record from crvs_events
         where cardinality($5::text[]) > 0 and state = 'pending' and waiting_for && $5::text[] and id <> all($6::bigint[]) order by id limit 1 for update skip locked`,
        [current.id, current.result.state, current.result.outcome.slice(0, 500), current.result.waitingFor, created, tried, ...(written?.params ?? [])],
      );
      if (!waiting || tries === MAX_RETRIES_PER_CHANGE) return;
      tried.push(Number(waiting.id));
      const retried = await this.apply(tx, readRecord(this.open(waiting.record)), waiting.sender_id);
      if (retried.state === 'applied') created = [...created, ...retried.created];
      current = { id: Number(waiting.id), result: retried };
    }
  }

  /** Applies a record; one that does not read (it never did, or the reader is stricter now) stays pending, saying why. */
  private apply(tx: Tx, record: ReadRecord, senderId: string): Promise<ApplyResult> {
    if (!record.event) return Promise.resolve({ state: 'pending', outcome: `the record cannot be read: ${record.unreadable}`, waitingFor: [], created: [] });
    return this.applier.apply(tx, record.event, `crvs:${senderId}`);
  }

  async list(filter: { state?: string; senderId?: string; beforeId?: number; limit: number }): Promise<VitalEventRow[]> {
    const { text, params } = newestFirstPage('crvs_events', COLUMNS, { state: filter.state, sender_id: filter.senderId }, filter);
    return this.db.query<VitalEventRow>(text, params);
  }

  async get(id: number): Promise<VitalEventRow | undefined> {
    return (await this.db.query<VitalEventRow>(`select ${COLUMNS} from crvs_events where id = $1`, [id]))[0];
  }

  /** An operator's retry of a pending event (after correcting the registry); undefined when it is not pending. */
  async reapply(id: number, audit: (tx: Tx) => Promise<void>): Promise<VitalEventRow | undefined> {
    const done = await this.db.transaction(async (tx) => {
      // The event's identifiers locked before its row, in the order a notify takes them: a notify resending the event
      // held the identifiers and waited for the row, and the two deadlocked. Locked again if it was resent meanwhile.
      const pending = `select sender_id, encode(record_sealed, 'base64') as record from crvs_events where id = $1 and state = 'pending'`;
      const [unlocked] = await tx.query<{ record: string }>(pending, [id]);
      if (!unlocked) return false;
      await this.lockIdentifiers(tx, [readRecord(this.open(unlocked.record))]);
      const [row] = await tx.query<{ sender_id: string; record: string }>(`${pending} for update`, [id]);
      if (!row) return false;
      const record = readRecord(this.open(row.record));
      if (row.record !== unlocked.record) await this.lockIdentifiers(tx, [record]);
      const result = await this.apply(tx, record, row.sender_id);
      await tx.query('update crvs_events set attempts = attempts + 1 where id = $1', [id]);
      await this.settle(tx, id, result);
      await audit(tx);
      return true;
    });
    if (done) this.onChanged();
    return done ? this.get(id) : undefined;
  }

  /** An operator's decision that a pending event is not to be applied (a duplicate of another, a CRVS error). */
  async dismiss(id: number, reason: string, audit: (tx: Tx) => Promise<void>): Promise<VitalEventRow | undefined> {
    const dismissed = await this.db.transaction(async (tx) => {
      const rows = await tx.query<{ id: number }>(
        `update crvs_events set state = 'dismissed', outcome = $2, waiting_for = '{}', updated_at = now() where id = $1 and state = 'pending' returning id`,
        [id, `dismissed: ${reason}`.slice(0, 500)],
      );
      if (rows.length > 0) await audit(tx);
      return rows.length > 0;
    });
    return dismissed ? this.get(id) : undefined;
  }

  /** Hex of the sealed record (bound as text: the drivers disagree on bytea parameters). */
  private seal(data: Record<string, unknown>): string {
    return this.vault.sealer.seal(SEAL_CONTEXT, JSON.stringify(data)).toString('hex');
  }

  private open(base64: string): Record<string, unknown> {
    return JSON.parse(this.vault.sealer.open(SEAL_CONTEXT, Buffer.from(base64, 'base64'))) as Record<string, unknown>;
  }
}
