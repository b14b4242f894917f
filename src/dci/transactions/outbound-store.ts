import type { Database } from '../../db/client.js';
import type { SettledRows } from '../../db/retention.js';

export type OutboundState = 'sent' | 'acknowledged' | 'answered' | 'refused' | 'unanswered';

export interface OutboundRequestRow {
  id: number;
  domain: string;
  peer_id: string;
  action: string;
  message_id: string;
  transaction_id: string;
  correlation_id: string | null;
  state: OutboundState;
  ack: unknown;
  relay_transaction_id: number | null;
  created_at: string;
  updated_at: string;
}

export interface ReceivedCallbackRow {
  id: number;
  sender_id: string;
  message_id: string;
  action: string;
  status: string;
  envelope: { header: Record<string, unknown>; message: Record<string, unknown> };
  received_at: string;
}

/** Requests we sent that were answered, refused or given up on, with the callbacks received for them (cascade), by their creation. */
export const SETTLED_OUTBOUND: SettledRows = {
  table: 'outbound_requests',
  ageColumn: 'created_at',
  brinIndex: 'outbound_requests_created_brin',
  settled: "state in ('answered', 'refused', 'unanswered')",
};

/**
 * Gateway mode, a condition on `t` (dci_transactions): no search was forwarded upstream for it, or the upstream's final
 * answer to one was relayed to its caller. A scalar subquery, probed per row: an EXISTS here PostgreSQL may run as a
 * hashed subplan, reading every relayed answer at each statement.
 */
export const UPSTREAM_ANSWER_RELAYED_OR_NONE = `coalesce((select bool_or(rc.relayed_at is not null and rc.status in ('succ', 'rjct'))
  from outbound_requests o left join received_callbacks rc on rc.outbound_request_id = o.id where o.relay_transaction_id = t.id), true)`;

const OUTBOUND_COLUMNS = 'id, domain, peer_id, action, message_id, transaction_id, correlation_id, state, ack, relay_transaction_id, created_at, updated_at';

/** Requests we sent to peer registries and the callbacks they sent back (the client side of the async protocol). */
export class OutboundStore {
  constructor(private readonly db: Database) {}

  /** Stored before it is sent: a callback may arrive before the peer's ACK does. */
  async record(r: { domain: string; peerId: string; action: string; messageId: string; transactionId: string; request: unknown; relayTransactionId?: number }): Promise<number> {
    const [row] = await this.db.query<{ id: number }>(
      `insert into outbound_requests (domain, peer_id, action, message_id, transaction_id, request, state, relay_transaction_id)
       values ($1, $2, $3, $4, $5, $6::jsonb, 'sent', $7) returning id`,
      [r.domain, r.peerId, r.action, r.messageId, r.transactionId, JSON.stringify(r.request), r.relayTransactionId ?? null],
    );
    return Number(row.id);
  }

  async acknowledged(id: number, ack: unknown, correlationId: string): Promise<void> {
    // A fast peer's final callback may already have marked it answered (and named the correlation). An empty
    // correlation_id (DIGEST 11.4: samples leave ids empty) names none: its callbacks are matched as not yet correlated.
    await this.db.query(
      `update outbound_requests set correlation_id = coalesce(nullif($2, ''), correlation_id), ack = $3::jsonb, state = case when state = 'sent' then 'acknowledged' else state end, updated_at = now() where id = $1`,
      [id, correlationId, JSON.stringify(ack)],
    );
  }

  async refused(id: number, answer: unknown): Promise<void> {
    await this.db.query(`update outbound_requests set ack = $2::jsonb, state = 'refused', updated_at = now() where id = $1`, [id, JSON.stringify(answer)]);
  }

  /**
   * The request a callback answers: sent by us to this peer under this transaction_id, with the peer's correlation id,
   * else (its ACK not yet stored, or lost) one not yet correlated; a callback with an empty correlation_id (DIGEST 11.4:
   * samples leave it empty) is matched by the transaction_id alone, ours. Undefined rather than a guess when those
   * candidates answer different requests of ours: the answer could reach the wrong caller.
   */
  async match(peerId: string, action: string, transactionId: string, correlationId: string): Promise<OutboundRequestRow | undefined> {
    const rows = await this.db.query<OutboundRequestRow>(
      `select ${OUTBOUND_COLUMNS} from outbound_requests
       where peer_id = $1 and action = $2 and transaction_id = $3 and ($4 = '' or correlation_id = $4 or correlation_id is null)
       order by (correlation_id = $4) desc nulls last, id desc`,
      [peerId, action, transactionId, correlationId],
    );
    const correlated = rows.filter((r) => r.correlation_id === correlationId);
    const candidates = correlated.length > 0 ? correlated : rows;
    return oneRequestOf(candidates) ? candidates[0] : undefined;
  }

  /**
   * Stores a callback once per sender and message id; a redelivery is recognised and not applied again. A final
   * status (succ, rjct) marks the request answered; any other shows a request refused for want of an ACK (a timeout)
   * was taken after all. `relayed`: a relay of it to our caller was queued (gateway mode).
   */
  async storeCallback(
    request: OutboundRequestRow,
    c: { senderId: string; messageId: string; action: string; status: string; envelope: unknown },
  ): Promise<{ stored: 'new' | 'duplicate'; id: number; relayed: boolean }> {
    return this.db.transaction(async (tx) => {
      const [inserted] = await tx.query<{ id: number }>(
        `insert into received_callbacks (outbound_request_id, sender_id, message_id, action, status, envelope)
         values ($1, $2, $3, $4, $5, $6::jsonb) on conflict (sender_id, message_id) do nothing returning id`,
        [request.id, c.senderId, c.messageId, c.action, c.status, JSON.stringify(c.envelope)],
      );
      if (!inserted) {
        const [earlier] = await tx.query<{ id: number; relayed: boolean }>(
          'select id, relayed_at is not null as relayed from received_callbacks where sender_id = $1 and message_id = $2',
          [c.senderId, c.messageId],
        );
        return { stored: 'duplicate', id: Number(earlier.id), relayed: earlier.relayed };
      }
      const correlationId = (c.envelope as { message: { correlation_id: string } }).message.correlation_id;
      await tx.query(
        `update outbound_requests set correlation_id = coalesce(correlation_id, nullif($2, '')),
           state = case when $3 in ('succ', 'rjct') then 'answered' when state = 'refused' then 'acknowledged' else state end, updated_at = now()
         where id = $1`,
        [request.id, correlationId, c.status],
      );
      return { stored: 'new', id: Number(inserted.id), relayed: false };
    });
  }

  async get(id: number): Promise<OutboundRequestRow | undefined> {
    return (await this.db.query<OutboundRequestRow>(`select ${OUTBOUND_COLUMNS} from outbound_requests where id = $1`, [id]))[0];
  }

  callbacksOf(outboundRequestId: number): Promise<ReceivedCallbackRow[]> {
    return this.db.query<ReceivedCallbackRow>(
      'select id, sender_id, message_id, action, status, envelope, received_at from received_callbacks where outbound_request_id = $1 order by id',
      [outboundRequestId],
    );
  }
}

/**
 * Whether the candidates are sends of one request of ours: a single row, or resends of one caller's forwarded search
 * (a retry after a timeout), any of which CallbackRelay relays to the same caller.
 */
function oneRequestOf(candidates: OutboundRequestRow[]): boolean {
  if (candidates.length <= 1) return candidates.length === 1;
  const relayFor = candidates[0].relay_transaction_id;
  return relayFor !== null && candidates.every((c) => c.relay_transaction_id !== null && Number(c.relay_transaction_id) === Number(relayFor));
}
