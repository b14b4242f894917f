import type { Database, Transaction } from '../../db/client.js';
import { STALE_LEASE } from './worker-identity.js';
import { UPSTREAM_ANSWER_RELAYED_OR_NONE } from './outbound-store.js';
import { newestFirstPage } from '../../db/pages.js';
import type { SettledRows } from '../../db/retention.js';

export type DeliveryState = 'pending' | 'delivered' | 'dead' | 'gone';

export interface ClaimedDelivery {
  id: number;
  transaction_id: number | null;
  partner_id: string;
  action: string;
  message_id: string;
  target_url: string;
  body: string;
  digest: string;
  attempts: number;
  give_up_at: string;
}

/** What one attempt came to; `state` pending means "try again at nextAttemptAt". */
export interface AttemptResult {
  id: number;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  httpStatus: number | null;
  error: string | null;
  state: DeliveryState;
  nextAttemptAt: Date | null;
}

export interface DeliveryRow {
  id: number;
  transaction_id: number | null;
  partner_id: string;
  action: string;
  message_id: string;
  page: number;
  target_url: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: string;
  give_up_at: string;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

export interface AttemptRow {
  attempt: number;
  started_at: string;
  duration_ms: number;
  http_status: number | null;
  error: string | null;
}

const DELIVERY_COLUMNS =
  'id, transaction_id, partner_id, action, message_id, page, target_url, state, attempts, next_attempt_at, give_up_at, last_status, last_error, created_at, delivered_at';

/**
 * Notify deliveries (those of no async request) delivered, dead or gone, by their creation; callbacks of requests go
 * with their request (SETTLED_TRANSACTIONS).
 */
export const SETTLED_NOTIFIES: SettledRows = {
  table: 'callback_deliveries',
  ageColumn: 'created_at',
  brinIndex: 'callback_deliveries_created_brin',
  settled: "transaction_id is null and state <> 'pending'",
};

/** The callback outbox: due deliveries claimed by workers, attempts recorded, dead letters replayed. */
export class DeliveryStore {
  constructor(private readonly db: Database) {}

  /**
   * Claims due deliveries for this worker: at most `perPartner` per partner (`partnerLimits` for partners with a cap
   * of their own) and none for partners in `busyPartners` (those at their concurrency cap), so one slow receiver
   * cannot take every slot. A request's pages go in order: a page waits while one before it is still pending (being
   * delivered, or waiting for its retry), so that a partner never gets the final `succ` before a `pdng` page.
   *
   * Every step reads the partner-due index in its order and stops early, whatever the backlog and whatever the
   * planner's statistics say: the partners with pending callbacks one index probe each, then each partner's first
   * due ones, locked as they are read (a row another worker took meanwhile is skipped or, once its lease is seen,
   * filtered out). Ranking all due callbacks per partner with a window function sorted the whole backlog at every
   * claim (20 ms at 19,000 due), and with statistics taken while the queue was empty a separate lock step became a
   * nested loop over the backlog (150 ms).
   */
  claimDue(
    owner: number,
    opts: { limit: number; perPartner: number; partnerLimits: ReadonlyMap<string, number>; busyPartners: string[]; leaseMs: number },
  ): Promise<ClaimedDelivery[]> {
    return this.db.query<ClaimedDelivery>(
      `with recursive partners as (
         (select x.partner_id from callback_deliveries x where x.state = 'pending' order by x.partner_id limit 1)
         union all
         select (select x.partner_id from callback_deliveries x where x.state = 'pending' and x.partner_id > p.partner_id
                 order by x.partner_id limit 1)
         from partners p where p.partner_id is not null
       ), candidates as (
         select c.id from partners p
         cross join lateral (
           select x.id, x.next_attempt_at from callback_deliveries x
           where x.partner_id = p.partner_id and x.state = 'pending' and x.next_attempt_at <= now() and ${STALE_LEASE('x')}
             and (x.page = 1 or not exists (select 1 from callback_deliveries e where e.transaction_id = x.transaction_id and e.page < x.page and e.state = 'pending'))
           order by x.next_attempt_at, x.id
           limit coalesce((select l.n from unnest($6::text[], $7::int[]) as l(partner_id, n) where l.partner_id = p.partner_id), $4)
           for update skip locked
         ) c
         where p.partner_id is not null and p.partner_id <> all($3::text[])
         order by c.next_attempt_at limit $2
       )
       update callback_deliveries d set lease_owner = $1, lease_until = now() + $5 * interval '1 millisecond', attempts = d.attempts + 1
       where d.id = any(array(select id from candidates))
       returning d.id, d.transaction_id, d.partner_id, d.action, d.message_id, d.target_url, d.body, d.digest, d.attempts, d.give_up_at`,
      [owner, opts.limit, opts.busyPartners, opts.perPartner, opts.leaseMs, [...opts.partnerLimits.keys()], [...opts.partnerLimits.values()]],
      { replan: true },
    );
  }

  /**
   * Records attempts (one transaction for a batch): the attempt log, each delivery's new state, and the state of
   * the transactions whose callbacks are now all settled. True when a page that waited for one of these may now go.
   */
  async record(owner: number, results: AttemptResult[]): Promise<boolean> {
    if (results.length === 0) return false;
    return this.db.transaction(async (tx) => {
      // Losing the last few records in a database crash only repeats those deliveries (at least once; the receiver
      // drops a repeated message_id), so these commits need not wait for the disk.
      await tx.query('set local synchronous_commit = off');
      // A first attempt that succeeded is told by the delivery row itself (attempts 1, last_status, delivered_at);
      // the attempt log keeps every attempt of a delivery that needed more than one.
      const logged = results.filter((r) => !(r.attempt === 1 && r.state === 'delivered'));
      if (logged.length > 0) {
        await tx.query(
          `insert into callback_attempts (delivery_id, attempt, started_at, duration_ms, http_status, error)
           select u.id, u.attempt, u.started_at::timestamptz, u.duration_ms, u.http_status, u.error
           from unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::int[], $6::text[]) as u(id, attempt, started_at, duration_ms, http_status, error)`,
          [
            logged.map((r) => r.id),
            logged.map((r) => r.attempt),
            logged.map((r) => r.startedAt.toISOString()),
            logged.map((r) => r.durationMs),
            logged.map((r) => r.httpStatus),
            logged.map((r) => r.error),
          ],
        );
      }
      const settled = await tx.query<{ transaction_id: number | null; next_page_due: boolean }>(
        `update callback_deliveries d set state = u.state, last_status = u.http_status, last_error = u.error,
           next_attempt_at = coalesce(u.next_at::timestamptz, d.next_attempt_at),
           delivered_at = case when u.state = 'delivered' then now() else d.delivered_at end,
           lease_owner = null, lease_until = null
         -- timestamps travel as text: postgres.js 3.4.9 cannot serialise a timestamptz[] parameter
         from (select * from unnest($2::bigint[], $3::text[], $4::int[], $5::text[], $6::text[]) as u(id, state, http_status, error, next_at)) u
         where d.id = u.id and d.lease_owner = $1
         returning d.transaction_id, u.state <> 'pending' and d.transaction_id is not null
           -- a scalar subquery, probed per row: as an EXISTS PostgreSQL hashed every delivery at each statement
           and (select n.state = 'pending' from callback_deliveries n where n.transaction_id = d.transaction_id and n.page > d.page
                order by n.page limit 1) as next_page_due`,
        [
          owner,
          results.map((r) => r.id),
          results.map((r) => r.state),
          results.map((r) => r.httpStatus),
          results.map((r) => r.error),
          results.map((r) => r.nextAttemptAt?.toISOString() ?? null),
        ],
      );
      const transactionIds = [...new Set(settled.map((r) => r.transaction_id).filter((id): id is number => id !== null))];
      if (transactionIds.length > 0) await settleTransactions(tx, transactionIds);
      return settled.some((r) => r.next_page_due);
    });
  }

  list(filter: { state?: string; partnerId?: string; transactionId?: number; beforeId?: number; limit: number }): Promise<DeliveryRow[]> {
    const { text, params } = newestFirstPage('callback_deliveries', DELIVERY_COLUMNS, { state: filter.state, partner_id: filter.partnerId, transaction_id: filter.transactionId }, filter);
    return this.db.query<DeliveryRow>(text, params);
  }

  async get(id: number): Promise<DeliveryRow | undefined> {
    return (await this.db.query<DeliveryRow>(`select ${DELIVERY_COLUMNS} from callback_deliveries where id = $1`, [id]))[0];
  }

  attempts(deliveryId: number): Promise<AttemptRow[]> {
    return this.db.query<AttemptRow>(
      'select attempt, started_at, duration_ms, http_status, error from callback_attempts where delivery_id = $1 order by attempt',
      [deliveryId],
    );
  }

  /**
   * Puts a dead-lettered (or gone) delivery back in the queue, due now, with a fresh horizon; its transaction is
   * pending again until it is delivered, unless it was never executed (no outcome): the replayed callback is then the
   * one telling its partner so, and the request stays failed. A notify of a subscription that has ended is not put
   * back: its partner was told on unsubscribe that nothing more would come. `audit` records the replay in its
   * transaction.
   */
  async replay(
    id: number,
    horizonSeconds: number,
    audit: (tx: Transaction) => Promise<void>,
  ): Promise<{ replayed: DeliveryRow } | { refused: 'missing' | 'not-failed' | 'subscription-ended'; state?: DeliveryState }> {
    return this.db.transaction(async (tx) => {
      const [found] = await tx.query<{ state: DeliveryState; subscription_id: number | null }>('select state, subscription_id from callback_deliveries where id = $1', [id]);
      if (!found) return { refused: 'missing' as const };
      if (found.state !== 'dead' && found.state !== 'gone') return { refused: 'not-failed' as const, state: found.state };
      if (found.subscription_id !== null) {
        // Shared: an unsubscribe (which locks the row for update) waits for this replay and withdraws the notify again.
        const [subscription] = await tx.query<{ status: string }>('select status from subscriptions where id = $1 for share', [found.subscription_id]);
        if (subscription?.status !== 'subscribe') return { refused: 'subscription-ended' as const, state: found.state };
      }
      const [row] = await tx.query<DeliveryRow>(
        `update callback_deliveries set state = 'pending', next_attempt_at = now(), give_up_at = now() + $2 * interval '1 second',
           lease_owner = null, lease_until = null
         where id = $1 and state in ('dead', 'gone')
         returning ${DELIVERY_COLUMNS}`,
        [id, horizonSeconds],
      );
      if (!row) return { refused: 'not-failed' as const, state: found.state };
      if (row.transaction_id) {
        await tx.query(`update dci_transactions set state = 'pending', updated_at = now() where id = $1 and state in ('failed', 'delivered') and outcome is not null`, [row.transaction_id]);
      }
      await audit(tx);
      return { replayed: row };
    });
  }

  async countByState(): Promise<Record<string, number>> {
    const rows = await this.db.query<{ state: string; n: number }>('select state, count(*)::int as n from callback_deliveries group by state');
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }
}

/**
 * A transaction is delivered once all its callbacks are, failed once none is pending and one gave up; a search
 * forwarded upstream (gateway mode) not before the upstream's final answer has been relayed (of the send relayed: a
 * second send of the search may never be answered). Its deliveries
 * are read through their transaction index alone and judged together: asked per transaction with the state in the
 * condition ("not exists ... state = 'pending'"), PostgreSQL scanned the whole pending-due index for every
 * transaction whenever its statistics were taken with the queue empty (13 ms a batch under a 10,000-callback backlog).
 */
export async function settleTransactions(tx: Pick<Database, 'query'>, ids: number[]): Promise<void> {
  await tx.query(
    `update dci_transactions t
     set state = case when s.failed then 'failed' else 'delivered' end, last_error = s.failed_error, updated_at = now()
     from (select d.transaction_id, bool_or(d.state in ('dead', 'gone')) as failed,
                  min(d.last_error) filter (where d.state in ('dead', 'gone')) as failed_error
           from callback_deliveries d
           where d.transaction_id = any($1::bigint[])
           group by d.transaction_id
           having not bool_or(d.state = 'pending')) s
     where t.id = s.transaction_id and t.state = 'pending'
       and ${UPSTREAM_ANSWER_RELAYED_OR_NONE}`,
    [ids],
  );
}
