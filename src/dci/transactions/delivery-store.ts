import type { Database } from '../../db/client.js';
import { STALE_LEASE } from './worker-identity.js';
import { newestFirstPage } from '../../db/pages.js';

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

/** The callback outbox: due deliveries claimed by workers, attempts recorded, dead letters replayed. */
export class DeliveryStore {
  constructor(private readonly db: Database) {}

  /**
   * Claims due deliveries for this worker: at most `perPartner` per partner and none for partners in `busyPartners`
   * (those at their concurrency cap), so one slow receiver cannot take every slot.
   */
  claimDue(owner: number, opts: { limit: number; perPartner: number; busyPartners: string[]; leaseMs: number }): Promise<ClaimedDelivery[]> {
    return this.db.query<ClaimedDelivery>(
      `with candidates as (
         select id from (
           select x.id, x.next_attempt_at, row_number() over (partition by x.partner_id order by x.next_attempt_at, x.id) as rn
           from callback_deliveries x
           where x.state = 'pending' and x.next_attempt_at <= now() and x.partner_id <> all($3::text[]) and ${STALE_LEASE('x')}
         ) ranked
         where rn <= $4 order by next_attempt_at limit $2
       ), locked as (
         select c.id from callback_deliveries c
         where c.id in (select id from candidates) and c.state = 'pending' and ${STALE_LEASE('c')}
         for update skip locked
       )
       update callback_deliveries d set lease_owner = $1, lease_until = now() + $5 * interval '1 millisecond', attempts = d.attempts + 1
       from locked where d.id = locked.id
       returning d.id, d.transaction_id, d.partner_id, d.action, d.message_id, d.target_url, d.body, d.digest, d.attempts, d.give_up_at`,
      [owner, opts.limit, opts.busyPartners, opts.perPartner, opts.leaseMs],
    );
  }

  /**
   * Records attempts (one transaction for a batch): the attempt log, each delivery's new state, and the state of
   * the transactions whose callbacks are now all settled.
   */
  async record(owner: number, results: AttemptResult[]): Promise<void> {
    if (results.length === 0) return;
    await this.db.transaction(async (tx) => {
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
      const settled = await tx.query<{ transaction_id: number | null }>(
        `update callback_deliveries d set state = u.state, last_status = u.http_status, last_error = u.error,
           next_attempt_at = coalesce(u.next_at::timestamptz, d.next_attempt_at),
           delivered_at = case when u.state = 'delivered' then now() else d.delivered_at end,
           lease_owner = null, lease_until = null
         -- timestamps travel as text: postgres.js 3.4.9 cannot serialise a timestamptz[] parameter
         from (select * from unnest($2::bigint[], $3::text[], $4::int[], $5::text[], $6::text[]) as u(id, state, http_status, error, next_at)) u
         where d.id = u.id and d.lease_owner = $1
         returning d.transaction_id`,
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
   * pending again until it is delivered. Undefined when there is no such delivery in a final failed state.
   */
  async replay(id: number, horizonSeconds: number): Promise<DeliveryRow | undefined> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<DeliveryRow>(
        `update callback_deliveries set state = 'pending', next_attempt_at = now(), give_up_at = now() + $2 * interval '1 second',
           lease_owner = null, lease_until = null
         where id = $1 and state in ('dead', 'gone')
         returning ${DELIVERY_COLUMNS}`,
        [id, horizonSeconds],
      );
      if (row?.transaction_id) {
        await tx.query(`update dci_transactions set state = 'pending', updated_at = now() where id = $1 and state in ('failed', 'delivered')`, [row.transaction_id]);
      }
      return row;
    });
  }

  async countByState(): Promise<Record<string, number>> {
    const rows = await this.db.query<{ state: string; n: number }>('select state, count(*)::int as n from callback_deliveries group by state');
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }
}

/** A transaction is delivered once all its callbacks are, failed once none is pending and one gave up. */
async function settleTransactions(tx: Pick<Database, 'query'>, ids: number[]): Promise<void> {
  await tx.query(
    `update dci_transactions t
     set state = case when exists (select 1 from callback_deliveries d where d.transaction_id = t.id and d.state in ('dead', 'gone'))
                      then 'failed' else 'delivered' end,
         last_error = (select d.last_error from callback_deliveries d where d.transaction_id = t.id and d.state in ('dead', 'gone') limit 1),
         updated_at = now()
     where t.id = any($1::bigint[]) and t.state = 'pending'
       and not exists (select 1 from callback_deliveries d where d.transaction_id = t.id and d.state = 'pending')`,
    [ids],
  );
}
