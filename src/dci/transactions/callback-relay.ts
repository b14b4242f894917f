import type { PartnerDirectory } from '../../auth/partners.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { DisclosureRecorder } from '../../audit/disclosures.js';
import type { Database } from '../../db/client.js';
import type { EnvelopeBuilder } from '../envelope/builder.js';
import { isObject } from '../envelope/normalize.js';
import { projectionOf } from '../search/projection.js';
import type { OutboundRequestRow } from './outbound-store.js';
import { insertDeliveries, type TransactionStore } from './transaction-store.js';

const STATUSES = new Set(['rcvd', 'pdng', 'succ', 'rjct']);

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
    private readonly opts: { horizonSeconds: number },
    private readonly dispatcher: { wake(): void },
  ) {}

  async relay(request: OutboundRequestRow, envelope: { header: Record<string, unknown>; message: Record<string, unknown> }): Promise<void> {
    if (request.relay_transaction_id === null) return;
    const t = await this.transactions.get(Number(request.relay_transaction_id));
    const partner = t && this.partners.get(t.sender_id);
    // Failed: the upstream answered too late (TransactionExecutor.failUnansweredRelays) and its caller was told so.
    if (!t || !partner || t.state === 'failed') return;
    // A search sent again after a timeout may be answered for both sends (TransactionExecutor.forward): once one send
    // has had its final answer, the other's answers are not relayed. (Pages of both that came before are.)
    const [answered] = await this.db.query(
      `select 1 from outbound_requests where relay_transaction_id = $1 and id <> $2 and state = 'answered' limit 1`,
      [t.id, request.id],
    );
    if (answered) return;
    const items = Array.isArray(envelope.message.search_response) ? (envelope.message.search_response as Record<string, unknown>[]) : [];
    // The items the partner asked, for the purposes they stated (the audit entry's purpose).
    const [asked] = await this.db.query<{ items: Record<string, unknown>[] | null }>(`select request->'message'->'search_request' as items from dci_transactions where id = $1`, [t.id]);
    const disclosures = new DisclosureRecorder(this.audit, {
      partnerId: partner.id,
      domain: t.domain,
      action: 'search',
      transactionId: t.transaction_id,
      messageId: t.message_id,
      fields: partner.fields,
    });
    const handling = disclosures.handling(projectionOf(partner), partner.purposes);
    for (const item of items) {
      const data = isObject(item.data) ? item.data : undefined;
      if (!data || !Array.isArray(data.reg_records) || item.status !== 'succ') continue;
      handling.observe?.(String(item.reference_id ?? ''), data.reg_records as object[]);
      if (handling.project) data.reg_records = (data.reg_records as object[]).map(handling.project);
    }
    await disclosures.commit((asked?.items ?? []).filter(isObject));
    const status = String(envelope.header.status ?? '').toLowerCase();
    const header = this.envelopes.callbackHeader({
      action: 'on-search',
      status: (STATUSES.has(status) ? status : 'succ') as 'succ',
      receiverId: t.sender_id,
      totalCount: t.total_count,
      completedCount: typeof envelope.header.completed_count === 'number' ? envelope.header.completed_count : items.length,
    });
    const stored = await this.envelopes.storedCallback(partner, header, { transaction_id: t.transaction_id, correlation_id: t.correlation_id, search_response: items });
    const [{ n }] = await this.db.query<{ n: number }>('select count(*)::int as n from callback_deliveries where transaction_id = $1', [t.id]);
    await insertDeliveries(
      this.db,
      [{ transactionId: t.id, partnerId: partner.id, action: 'on-search', messageId: header.message_id, page: Number(n) + 1, targetUrl: t.callback_url, ...stored }],
      { horizonSeconds: this.opts.horizonSeconds },
    );
    this.dispatcher.wake();
  }
}
