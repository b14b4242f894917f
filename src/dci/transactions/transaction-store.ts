import type { Database, Transaction } from '../../db/client.js';
import { Batcher } from '../../db/batcher.js';
import type { SettledRows } from '../../db/retention.js';
import { type ClaimedDelivery, settleTransactions } from './delivery-store.js';
import { STALE_LEASE } from './worker-identity.js';
import { UPSTREAM_ANSWER_RELAYED_OR_NONE } from './outbound-store.js';
import { newestFirstPage } from '../../db/pages.js';

/** How long an executing worker owns a transaction (a live owner keeps it anyway; see STALE_LEASE). */
const EXECUTION_LEASE = '5 minutes';

export type TransactionState = 'received' | 'pending' | 'delivered' | 'failed';

export interface ItemOutcome {
  reference_id: string;
  status: 'succ' | 'rjct';
  status_reason_code?: string;
  status_reason_message?: string;
}

export interface NewTransaction {
  domain: string;
  action: string;
  senderId: string;
  messageId: string;
  bodyHash: string;
  correlationId: string;
  transactionId: string;
  referenceIds: string[];
  callbackUrl: string;
  request: { header: unknown; message: unknown };
  totalCount: number;
}

export interface ClaimedTransaction {
  id: number;
  /** Times it has been claimed, this one included. */
  attempts: number;
  domain: string;
  action: string;
  sender_id: string;
  correlation_id: string;
  transaction_id: string;
  callback_url: string;
  request: { header: Record<string, unknown>; message: Record<string, unknown> };
  total_count: number;
}

/** What answering a request takes, a callback to its partner included (its execution aside). */
export type RequestToAnswer = Pick<ClaimedTransaction, 'id' | 'action' | 'sender_id' | 'correlation_id' | 'transaction_id' | 'callback_url' | 'request' | 'total_count'>;

/** Whose transactions txn status may report: the asking partner's, of the domain asked, of these actions. */
export interface StatusScope {
  senderId: string;
  domain: string;
  actions: readonly string[];
}

export interface TransactionRow {
  id: number;
  domain: string;
  action: string;
  sender_id: string;
  message_id: string;
  correlation_id: string;
  transaction_id: string;
  reference_ids: string[];
  callback_url: string;
  state: TransactionState;
  total_count: number;
  completed_count: number;
  outcome: ItemOutcome[] | null;
  acked_at: string;
  updated_at: string;
  last_error: string | null;
}

export interface NewDelivery {
  /** Leased at once to the worker that created it, which delivers it without a claim. */
  leased?: boolean;
  transactionId: number | null;
  partnerId: string;
  action: string;
  messageId: string;
  /**
   * Its place among its request's callbacks. Absent: after the request's last one so far, as committed when it is
   * inserted; the caller holds the request's row lock, as a relay does (CallbackRelay.relay), so none comes between.
   */
  page?: number;
  targetUrl: string;
  body: string;
  digest: string;
  /** A notify's subscription. */
  subscriptionId?: number;
}

/** An accepted request: the stored one when the same message came before (a partner retry). */
export type AcceptOutcome = { stored: 'new' | 'retry'; correlationId: string; ackedAt: string } | { stored: 'conflict' };

export const isoTimestamp = (v: unknown): string => new Date(v as string).toISOString();

const TRANSACTION_COLUMNS =
  'id, domain, action, sender_id, message_id, correlation_id, transaction_id, reference_ids, callback_url, state, total_count, ' +
  'completed_count, outcome, acked_at, updated_at, last_error';

/** Requests delivered or failed, with their callbacks and attempts (cascade), by the age of their ACK. */
export const SETTLED_TRANSACTIONS: SettledRows = {
  table: 'dci_transactions',
  ageColumn: 'acked_at',
  brinIndex: 'dci_transactions_acked_brin',
  // A failed request's rejection callback may still be on its way (TransactionStore.failExecution).
  settled: "state in ('delivered', 'failed') and not exists (select 1 from callback_deliveries d where d.transaction_id = dci_transactions.id and d.state = 'pending')",
};

/** The durable side of the async protocol: requests in, their execution claimed by workers, their state for txn status. */
export class TransactionStore {
  constructor(private readonly db: Database) {}

  /**
   * Stores a request before its ACK; a retry of the same message (same hash) gets the first ACK again. Requests
   * arriving together are written in one statement and one commit (a 2-core server ACKs several times more this way).
   */
  accept(t: NewTransaction): Promise<AcceptOutcome> {
    return this.acceptBatcher.add(t);
  }

  private readonly acceptBatcher = new Batcher<NewTransaction, AcceptOutcome>((batch) => this.acceptMany(batch), 200, 4);

  private async acceptMany(batch: NewTransaction[]): Promise<AcceptOutcome[]> {
    const col = <K extends keyof NewTransaction>(k: K) => batch.map((t) => t[k]);
    const inserted = await this.db.query<{ sender_id: string; message_id: string; acked_at: unknown }>(
      `with stored as (
       insert into dci_transactions (domain, action, sender_id, message_id, body_hash, correlation_id, transaction_id,
         reference_ids, callback_url, request, total_count, acked_at)
       select u.domain, u.action, u.sender_id, u.message_id, u.body_hash, u.correlation_id, u.transaction_id,
         array(select jsonb_array_elements_text(u.reference_ids::jsonb)), u.callback_url, u.request::jsonb, u.total_count, now()
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[])
         as u(domain, action, sender_id, message_id, body_hash, correlation_id, transaction_id, reference_ids, callback_url, request, total_count)
       on conflict (sender_id, message_id) do nothing
       returning id, sender_id, message_id, acked_at
       ), queued as (insert into dci_execution_queue (transaction_id) select id from stored)
       select sender_id, message_id, acked_at from stored`,
      [
        col('domain'),
        col('action'),
        col('senderId'),
        col('messageId'),
        col('bodyHash'),
        col('correlationId'),
        col('transactionId'),
        batch.map((t) => JSON.stringify(t.referenceIds)),
        col('callbackUrl'),
        batch.map((t) => JSON.stringify(t.request)),
        col('totalCount'),
      ],
    );
    const key = (senderId: string, messageId: string) => `${senderId}\u0000${messageId}`;
    const stored = new Map(inserted.map((r) => [key(r.sender_id, r.message_id), isoTimestamp(r.acked_at)]));
    const earlierOnes = batch.filter((t) => !stored.has(key(t.senderId, t.messageId)));
    const earlier = new Map<string, { body_hash: string; correlation_id: string; acked_at: unknown; domain: string; action: string }>();
    if (earlierOnes.length > 0) {
      const rows = await this.db.query<{ sender_id: string; message_id: string; body_hash: string; correlation_id: string; acked_at: unknown; domain: string; action: string }>(
        `select t.sender_id, t.message_id, t.body_hash, t.correlation_id, t.acked_at, t.domain, t.action
         from dci_transactions t join unnest($1::text[], $2::text[]) as k(sender_id, message_id) using (sender_id, message_id)`,
        [earlierOnes.map((t) => t.senderId), earlierOnes.map((t) => t.messageId)],
      );
      for (const r of rows) earlier.set(key(r.sender_id, r.message_id), r);
    }
    const claimed = new Set<string>();
    return batch.map((t): AcceptOutcome => {
      const k = key(t.senderId, t.messageId);
      const ackedAt = stored.get(k);
      // Two copies of one message in the same batch: the first is the new request, the second its retry.
      if (ackedAt !== undefined && !claimed.has(k)) {
        claimed.add(k);
        return { stored: 'new', correlationId: t.correlationId, ackedAt };
      }
      const first = ackedAt !== undefined ? batch.find((b) => key(b.senderId, b.messageId) === k)! : undefined;
      const e = first ? { body_hash: first.bodyHash, correlation_id: first.correlationId, acked_at: ackedAt, domain: first.domain, action: first.action } : earlier.get(k);
      if (!e || e.body_hash !== t.bodyHash || e.domain !== t.domain || e.action !== t.action) return { stored: 'conflict' };
      return { stored: 'retry', correlationId: e.correlation_id, ackedAt: isoTimestamp(e.acked_at) };
    });
  }

  /**
   * Takes up to `limit` received requests for this worker to execute, oldest first. The ids are chosen and locked
   * once, as an array: as `q.transaction_id in (subquery)` a plan cached while the table was small rescanned the
   * backlog for every row it updated.
   */
  claimReceived(owner: number, limit: number): Promise<ClaimedTransaction[]> {
    return this.db.query<ClaimedTransaction>(
      `with leased as (
         update dci_execution_queue q set lease_owner = $1, lease_until = now() + interval '${EXECUTION_LEASE}', attempts = q.attempts + 1
         where q.transaction_id = any(array(select x.transaction_id from dci_execution_queue x where ${STALE_LEASE('x')}
                                             order by x.transaction_id limit $2 for update skip locked))
         returning q.transaction_id, q.attempts)
       select l.attempts, t.id, t.domain, t.action, t.sender_id, t.correlation_id, t.transaction_id, t.callback_url, t.request, t.total_count
       from leased l join dci_transactions t on t.id = l.transaction_id
       order by t.id`,
      [owner, limit],
      { replan: true },
    );
  }

  /**
   * Runs `fn` in a transaction that holds the request's row in the execution queue, if this worker still owns it
   * (undefined, without running it, if not): a request whose execution writes (subscribe, unsubscribe) writes and
   * records its answer (completeExecution with this transaction) in one commit.
   */
  async whileHeld<T>(owner: number, id: number, fn: (tx: Transaction) => Promise<T>): Promise<T | undefined> {
    return this.db.transaction(async (tx) => {
      const [held] = await tx.query('select 1 from dci_execution_queue where transaction_id = $1 and lease_owner = $2 for update', [id, owner]);
      return held ? fn(tx) : undefined;
    });
  }

  /**
   * Records executed requests and queues their callbacks, atomically and only for requests this worker still owns:
   * a request whose lease passed to another worker is not answered twice. Within `within` when given (whileHeld).
   */
  async completeExecution(
    owner: number,
    done: { id: number; outcome: ItemOutcome[]; completedCount: number; deliveries: NewDelivery[] }[],
    opts: { horizonSeconds: number; leaseMs: number },
    within?: Transaction,
  ): Promise<ClaimedDelivery[]> {
    if (done.length === 0) return [];
    const complete = async (tx: Transaction) => {
      const owned = await tx.query<{ id: number }>(
        `with owned as (
           delete from dci_execution_queue q where q.transaction_id = any($2::bigint[]) and q.lease_owner = $1
           returning q.transaction_id)
         update dci_transactions t set state = 'pending', outcome = coalesce(t.outcome, '[]'::jsonb) || u.outcome::jsonb, completed_count = u.completed, updated_at = now()
         from (select * from unnest($2::bigint[], $3::text[], $4::int[]) as u(id, outcome, completed)) u
         join owned o on o.transaction_id = u.id
         where t.id = u.id and t.state = 'received'
         returning t.id`,
        [owner, done.map((d) => d.id), done.map((d) => JSON.stringify(d.outcome)), done.map((d) => d.completedCount)],
        { replan: true },
      ).then((rows) => rows.map((r) => Number(r.id)));
      const ownedSet = new Set(owned);
      const deliveries = done.filter((d) => ownedSet.has(d.id)).flatMap((d) => d.deliveries);
      // A search forwarded upstream (no callback of its own): a quick upstream's answer may have been relayed and
      // delivered while it was still being sent, when it could not yet be settled. Its items' outcomes, recorded by
      // that relay, are kept (the outcome above is added to them: only such a relay records one before this).
      const forwarded = done.filter((d) => ownedSet.has(d.id) && d.deliveries.length === 0).map((d) => d.id);
      if (forwarded.length > 0) await settleTransactions(tx, forwarded);
      return insertDeliveries(tx, deliveries, { ...opts, owner });
    };
    return within ? complete(within) : this.db.transaction(complete);
  }

  /**
   * A request that cannot be executed (its domain vanished from the configuration, its upstream refused it, it kept
   * failing): failed, with the callback that tells its partner so queued in the same commit, only by the worker still
   * holding it.
   */
  async failExecution(owner: number, id: number, error: string, rejection?: { delivery: NewDelivery; horizonSeconds: number }): Promise<void> {
    await this.db.transaction(async (tx) => {
      const failed = await tx.query(
        `with owned as (delete from dci_execution_queue where transaction_id = $1 and lease_owner = $2 returning transaction_id)
         update dci_transactions t set state = 'failed', last_error = $3, updated_at = now()
         from owned o where t.id = o.transaction_id
         returning t.id`,
        [id, owner, error.slice(0, 2000)],
      );
      if (failed.length > 0 && rejection) await insertDeliveries(tx, [rejection.delivery], { horizonSeconds: rejection.horizonSeconds });
    });
  }

  /**
   * Gateway mode: requests sent upstream for a caller of ours at least `seconds` ago with no final answer yet, oldest
   * first, with the caller's request; `waiting` when that is still pending (expireRelays judges it again under its
   * lock), `relayed` the pages relayed to it so far.
   */
  awaitingRelays(seconds: number, limit: number): Promise<(RequestToAnswer & { outbound_id: number; peer_id: string; waiting: boolean; relayed: number })[]> {
    return this.db.query(
      `select o.id as outbound_id, o.peer_id, coalesce(t.state = 'pending', false) as waiting,
         (select count(*)::int from callback_deliveries d where d.transaction_id = t.id) as relayed,
         t.id, t.action, t.sender_id, t.correlation_id, t.transaction_id, t.callback_url, t.request, t.total_count
       from outbound_requests o left join dci_transactions t on t.id = o.relay_transaction_id
       where o.state in ('sent', 'acknowledged') and o.relay_transaction_id is not null and o.created_at < now() - $1 * interval '1 second'
       order by o.created_at limit $2`,
      [seconds, limit],
    );
  }

  /**
   * Marks requests sent upstream unanswered and fails the callers' requests named in `failing` (if still pending and
   * no final answer was relayed meanwhile), queuing the callbacks that tell them after their last page, in one commit.
   * Returns how many requests failed.
   */
  async expireRelays(outboundIds: number[], failing: { transactionId: number; error: string; delivery?: NewDelivery }[], horizonSeconds: number): Promise<number> {
    return this.db.transaction(async (tx) => {
      await tx.query(`update outbound_requests set state = 'unanswered', updated_at = now() where id = any($1::bigint[]) and state in ('sent', 'acknowledged')`, [outboundIds]);
      if (failing.length === 0) return 0;
      // Locked first (a relay holds the same lock while it queues a page, CallbackRelay.relay), then judged by what is
      // committed: an answer relayed since the sweep looked is not failed, and the callback goes after the last page.
      const ids = failing.map((f) => f.transactionId);
      await tx.query(`select id from dci_transactions where id = any($1::bigint[]) and state = 'pending' order by id for no key update`, [ids]);
      const failed = await tx.query<{ id: number }>(
        // No outcome: no result came to deliver (txn status then says the request failed, and a replay keeps it so).
        `update dci_transactions t set state = 'failed', last_error = u.error, outcome = null, updated_at = now()
         from unnest($1::bigint[], $2::text[]) as u(id, error)
         where t.id = u.id and t.state = 'pending' and not ${UPSTREAM_ANSWER_RELAYED_OR_NONE}
         returning t.id`,
        [ids, failing.map((f) => f.error.slice(0, 2000))],
      );
      const failedIds = new Set(failed.map((r) => Number(r.id)));
      await insertDeliveries(tx, failing.filter((f) => failedIds.has(f.transactionId) && f.delivery).map((f) => f.delivery!), { horizonSeconds });
      return failedIds.size;
    });
  }

  /** A partner's own transactions in one domain, found the ways txn status names them (DIGEST 3.7). */
  findForStatus(whose: StatusScope, by: { transactionId?: string; correlationId?: string; referenceIds?: string[] }): Promise<TransactionRow[]> {
    const where = ['sender_id = $1', 'domain = $2', 'action = any($3::text[])'];
    const params: unknown[] = [whose.senderId, whose.domain, whose.actions];
    if (by.transactionId !== undefined) where.push(`transaction_id = $${params.push(by.transactionId)}`);
    if (by.correlationId !== undefined) where.push(`correlation_id = $${params.push(by.correlationId)}`);
    if (by.referenceIds !== undefined) where.push(`reference_ids && $${params.push(by.referenceIds)}::text[]`);
    return this.db.query<TransactionRow>(`select ${TRANSACTION_COLUMNS} from dci_transactions where ${where.join(' and ')} order by id desc limit 100`, params);
  }

  /** Operators: newest first, filtered. */
  list(filter: { senderId?: string; state?: string; domain?: string; beforeId?: number; limit: number }): Promise<TransactionRow[]> {
    const { text, params } = newestFirstPage('dci_transactions', TRANSACTION_COLUMNS, { sender_id: filter.senderId, state: filter.state, domain: filter.domain }, filter);
    return this.db.query<TransactionRow>(text, params);
  }

  async get(id: number): Promise<TransactionRow | undefined> {
    return (await this.db.query<TransactionRow>(`select ${TRANSACTION_COLUMNS} from dci_transactions where id = $1`, [id]))[0];
  }

  /** Requests waiting for a worker: the backlog operators and the benchmark watch. */
  async countByState(): Promise<Record<string, number>> {
    const rows = await this.db.query<{ state: string; n: number }>('select state, count(*)::int as n from dci_transactions group by state');
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }
}

/**
 * Queues callbacks (one multi-row insert). Those marked `leased` are leased to `owner` as its first attempt and
 * returned, ready to deliver.
 */
export async function insertDeliveries(
  db: Pick<Database, 'query'>,
  deliveries: NewDelivery[],
  opts: { horizonSeconds: number; owner?: number; leaseMs?: number },
): Promise<ClaimedDelivery[]> {
  if (deliveries.length === 0) return [];
  const rows = await db.query<{ id: number; message_id: string; give_up_at: unknown }>(
    `insert into callback_deliveries (transaction_id, partner_id, action, message_id, page, target_url, body, digest, give_up_at,
       lease_owner, lease_until, attempts, subscription_id)
     select u.transaction_id, u.partner_id, u.action, u.message_id,
       coalesce(u.page, (select coalesce(max(c.page), 0) + 1 from callback_deliveries c where c.transaction_id = u.transaction_id)),
       u.target_url, u.body, u.digest, now() + $9 * interval '1 second',
       case when u.leased = 't' then $10::bigint end, case when u.leased = 't' then now() + $11 * interval '1 millisecond' end,
       case when u.leased = 't' then 1 else 0 end, u.subscription_id
     from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[], $12::text[], $13::bigint[])
       as u(transaction_id, partner_id, action, message_id, page, target_url, body, digest, leased, subscription_id)
     returning id, message_id, give_up_at, lease_owner is not null as leased`,
    [
      deliveries.map((d) => d.transactionId),
      deliveries.map((d) => d.partnerId),
      deliveries.map((d) => d.action),
      deliveries.map((d) => d.messageId),
      deliveries.map((d) => d.page ?? null),
      deliveries.map((d) => d.targetUrl),
      deliveries.map((d) => d.body),
      deliveries.map((d) => d.digest),
      opts.horizonSeconds,
      opts.owner ?? null,
      opts.leaseMs ?? 0,
      // as text: postgres.js 3.4.9 cannot serialise a bool[] parameter
      deliveries.map((d) => (d.leased && opts.owner !== undefined ? 't' : 'f')),
      deliveries.map((d) => d.subscriptionId ?? null),
    ],
  );
  const byMessage = new Map(deliveries.map((d) => [d.messageId, d]));
  return rows
    .filter((r) => (r as unknown as { leased: boolean }).leased)
    .map((r) => {
      const d = byMessage.get(r.message_id)!;
      return {
        id: Number(r.id),
        transaction_id: d.transactionId,
        partner_id: d.partnerId,
        action: d.action,
        message_id: d.messageId,
        target_url: d.targetUrl,
        body: d.body,
        digest: d.digest,
        attempts: 1,
        give_up_at: isoTimestamp(r.give_up_at),
      };
    });
}
