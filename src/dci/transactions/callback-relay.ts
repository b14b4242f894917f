import type { PartnerDirectory } from '../../auth/partners.js';
import { scopesAllow } from '../../auth/scopes.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { DisclosureRecorder } from '../../audit/disclosures.js';
import type { Database } from '../../db/client.js';
import type { EnvelopeBuilder } from '../envelope/builder.js';
import { requestStatusOf } from '../envelope/codes.js';
import { isObject } from '../envelope/normalize.js';
import type { OutboundRequestRow } from './outbound-store.js';
import { type RecordHandling, rejected, type SearchDomain, type SearchResponseItem } from '../search/items.js';
import { forwardRefusal } from '../../gateway/forward-guard.js';
import { handleRelayedRecords, headerReasonOf, relayedItem } from '../../gateway/relayed-items.js';
import { insertDeliveries, type ItemOutcome, type TransactionStore } from './transaction-store.js';

/**
 * Gateway mode, async: an upstream's on-search for a search we forwarded is relayed to the partner who asked us, as
 * our own on-search (our header, transaction and correlation ids, signature), its records projected to the partner's
 * fields and audited, queued as a callback the dispatcher delivers at least once.
 */
export class CallbackRelay {
  constructor(
    private readonly db: Database,
    private readonly transactions: TransactionStore,
    private readonly partners: PartnerDirectory,
    private readonly audit: AuditLog,
    private readonly envelopes: EnvelopeBuilder,
    /** Our own registry's search of each domain: its record types name what the upstream answers (relayedItem). */
    private readonly searchDomains: ReadonlyMap<string, SearchDomain>,
    private readonly opts: { horizonSeconds: number },
    private readonly dispatcher: { wake(): void },
  ) {}

  /**
   * Relays `callbackId`, an answer of the upstream stored for `request`, and marks it relayed; it is dropped (and
   * left unmarked, so a redelivery is judged the same way) when its caller's request failed, a final answer was
   * relayed already, or another send of the same search is the one being relayed.
   */
  async relay(request: OutboundRequestRow, callbackId: number, envelope: { header: Record<string, unknown>; message: Record<string, unknown> }): Promise<void> {
    if (request.relay_transaction_id === null) return;
    const t = await this.transactions.get(Number(request.relay_transaction_id));
    const partner = t && this.partners.get(t.sender_id);
    // A caller removed, or whose search scope was withdrawn, since it asked: nothing of the answer is for it (the
    // unanswered sweep fails the request later, UPSTREAM_ANSWER_TIMEOUT_SECONDS).
    if (!t || !partner || !scopesAllow(partner.scopes, t.domain, 'search')) return;
    // The items the partner asked, for the purposes they stated (the audit entry's purpose).
    const [asked] = await this.db.query<{ items: Record<string, unknown>[] | null }>(`select request->'message'->'search_request' as items from dci_transactions where id = $1`, [t.id]);
    const askedItems = (asked?.items ?? []).filter(isObject);
    const disclosures = new DisclosureRecorder(this.audit, {
      partnerId: partner.id,
      domain: t.domain,
      action: 'search',
      transactionId: t.transaction_id,
      messageId: t.message_id,
      fields: partner.fields,
    });
    const handling = disclosures.handling(partner);
    // Checked when it was received (receiver-routes): `success`, `SUCC` and the like read as what they mean.
    const status = requestStatusOf(envelope.header.status) ?? 'succ';
    const relayed = this.relayedItems(envelope.message.search_response, askedItems, t.domain).map(({ item, asked }) => handleRelayedRecords(item, handling, asked));
    const refused = status === 'succ' || status === 'rjct' ? await this.refusedItems(Number(request.id), askedItems, t.domain, handling) : [];
    const items = [...relayed, ...refused];
    const reason = status === 'rjct' ? headerReasonOf(envelope.header, request.peer_id) : undefined;
    const header = this.envelopes.callbackHeader({
      action: 'on-search',
      status,
      reasonCode: reason?.code,
      reasonMessage: reason?.message,
      receiverId: t.sender_id,
      totalCount: t.total_count,
      completedCount: (typeof envelope.header.completed_count === 'number' ? envelope.header.completed_count : relayed.length) + refused.length,
    });
    const outcome = [...refused.flatMap(outcomeOf), ...(reason ? rejectedAll(askedItems, reason) : relayed.flatMap(outcomeOf))];
    const stored = await this.envelopes.storedCallback(partner, header, { transaction_id: t.transaction_id, correlation_id: t.correlation_id, search_response: items });
    // One relay of a caller's request at a time (its row locked): pages arriving together are numbered one after
    // another, and the first send relayed stays the only one.
    const queued = await this.db.transaction(async (tx) => {
      const [locked] = await tx.query<{ state: string }>('select state from dci_transactions where id = $1 for no key update', [t.id]);
      // Failed: e.g. the upstream answered too late (TransactionExecutor.failUnansweredRelays) and its caller was told so.
      if (!locked || locked.state === 'failed') return false;
      const earlier = await tx.query<{ outbound_request_id: number; status: string }>(
        `select rc.outbound_request_id, rc.status from received_callbacks rc join outbound_requests o on o.id = rc.outbound_request_id
         where o.relay_transaction_id = $1 and rc.relayed_at is not null order by rc.id`,
        [t.id],
      );
      // A search sent again after a timeout (or after a crash before its send was recorded) may be answered for both
      // sends (TransactionExecutor.forward): the caller follows the answers of the send relayed first, and none after
      // a final one.
      if (earlier.length > 0 && Number(earlier[0].outbound_request_id) !== Number(request.id)) return false;
      if (earlier.some((e) => e.status === 'succ' || e.status === 'rjct')) return false;
      await this.audit.disclosedWithin(tx, disclosures.entries());
      await tx.query(`update dci_transactions set outcome = coalesce(outcome, '[]'::jsonb) || $2::jsonb where id = $1`, [t.id, JSON.stringify(outcome)]);
      await insertDeliveries(
        tx,
        [{ transactionId: t.id, partnerId: partner.id, action: 'on-search', messageId: header.message_id, targetUrl: t.callback_url, ...stored }],
        { horizonSeconds: this.opts.horizonSeconds },
      );
      await tx.query('update received_callbacks set relayed_at = now() where id = $1', [callbackId]);
      return true;
    });
    if (queued) this.dispatcher.wake();
  }

  /**
   * The items of the caller's request that its send `outboundId` left out, answered as refused (TransactionExecutor.forward
   * refused them for the caller). The send holds the others in order, as they were stored.
   */
  private async refusedItems(outboundId: number, asked: Record<string, unknown>[], domain: string, handling: RecordHandling): Promise<SearchResponseItem[]> {
    const [sent] = await this.db.query<{ items: unknown[] | null }>(`select request->'message'->'search_request' as items from outbound_requests where id = $1`, [outboundId]);
    const forwarded = (sent?.items ?? []).map((i) => JSON.stringify(i));
    if (forwarded.length >= asked.length) return [];
    let next = 0;
    const left = asked.filter((item) => {
      if (next < forwarded.length && JSON.stringify(item) === forwarded[next]) {
        next++;
        return false;
      }
      return true;
    });
    return left.map(
      (item) =>
        forwardRefusal(this.searchDomains.get(domain), item, handling) ?? rejected(typeof item.reference_id === 'string' ? item.reference_id : '', undefined, 'the gateway did not forward this item'),
    );
  }

  /** The upstream's answer items as ours (relayedItem); a lone item object is a one-item list (DIGEST 11.4). */
  /** The upstream's answers as items of ours, each with the item the caller asked (its purpose goes to the audit). */
  private relayedItems(answered: unknown, askedItems: Record<string, unknown>[], domain: string): { item: SearchResponseItem; asked?: Record<string, unknown> }[] {
    const raw = isObject(answered) ? [answered] : Array.isArray(answered) ? answered : [];
    const byReference = new Map(askedItems.map((i) => [String(i.reference_id ?? ''), i]));
    return raw.map((r) => {
      const referenceId = isObject(r) && typeof r.reference_id === 'string' ? r.reference_id : '';
      const asked = byReference.get(referenceId);
      return { item: relayedItem(r, { referenceId, item: asked }, this.searchDomains.get(domain)), asked };
    });
  }
}

/** Every item the caller asked, rejected with the upstream's reason for rejecting the message. */
function rejectedAll(asked: Record<string, unknown>[], reason: { code?: string; message: string }): ItemOutcome[] {
  return asked.map((i) => ({ reference_id: String(i.reference_id ?? ''), status: 'rjct', status_reason_code: reason.code, status_reason_message: reason.message }));
}

/** An item's outcome for txn status, once it has one (succ or rjct). */
function outcomeOf(item: SearchResponseItem): ItemOutcome[] {
  if (item.status !== 'succ' && item.status !== 'rjct') return [];
  return [{ reference_id: item.reference_id, status: item.status, status_reason_code: item.status_reason_code, status_reason_message: item.status_reason_message }];
}
