import type { SearchResponseItem } from '../search/items.js';
import type { ItemOutcome, StatusScope, TransactionRow, TransactionStore } from './transaction-store.js';

export interface TxnStatusRequestMessage {
  transaction_id: string;
  txnstatus_request: { reference_id: string; txn_type: string; attribute_type: string; attribute_value: string | string[]; locale?: string };
}

type ItemStatus = Omit<SearchResponseItem, 'data' | 'pagination' | 'status_reason_code'> & { status_reason_code?: string };

interface Ids {
  transaction_id: string;
  correlation_id: string;
}

/** TxnStatusResponse.txn_status (DIGEST 3.7): oneOf SearchResponse, SubscribeResponse, UnSubscribeResponse. */
type TxnStatus =
  | (Ids & { search_response: ItemStatus[] })
  | (Ids & { subscribe_response: ItemStatus[] })
  | (Ids & Omit<ItemStatus, 'reference_id'>);

export interface TxnStatusResponseMessage {
  transaction_id: string;
  correlation_id: string;
  txnstatus_response: { txn_type: string; txn_status: TxnStatus };
}

/**
 * `txn_type` as each domain file spells it (DIGEST 3.7, 11.2 #20): core answers with `on-*`, SR/IBR std write
 * `subscibe`. All name the same stored action.
 */
const ACTION_OF_TXN_TYPE: Record<string, string> = {
  search: 'search',
  'on-search': 'search',
  subscribe: 'subscribe',
  subscibe: 'subscribe',
  'on-subscribe': 'subscribe',
  unsubscribe: 'unsubscribe',
  'on-unsubscribe': 'unsubscribe',
  receipt: 'receipt',
};

/**
 * `txn_type` as we emit it: the stored action's name (DIGEST 11.1 #4: emit `subscribe`, accept `subscibe`; 3.7: the
 * request's value), whatever the spelling or case the partner wrote; a type we do not know answers as a search.
 */
export function canonicalTxnType(txnType: unknown): string {
  return (typeof txnType === 'string' && ACTION_OF_TXN_TYPE[txnType.toLowerCase()]) || 'search';
}

const asList = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);
const asOne = (v: string | string[]): string | undefined => (Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v);

/** What txn status reports for one request of a stored transaction (DIGEST 3.7): rcvd, pdng, succ or rjct. */
function itemStatus(row: TransactionRow, referenceId: string): ItemStatus {
  const timestamp = new Date(row.updated_at).toISOString();
  if (row.state === 'received') return { reference_id: referenceId, timestamp, status: 'rcvd', status_reason_message: 'received, not yet processed' };
  const outcome: ItemOutcome | undefined = row.outcome?.find((o) => o.reference_id === referenceId);
  if (row.state === 'failed') {
    // Never executed (no outcome): it failed before it had a result to deliver.
    const why = row.outcome ? `the result could not be delivered: ${row.last_error ?? 'callback failed'}` : `the request failed: ${row.last_error ?? 'it could not be executed'}`;
    return { reference_id: referenceId, timestamp, status: 'rjct', status_reason_message: why.slice(0, 999) };
  }
  if (row.state === 'pending') return { reference_id: referenceId, timestamp, status: 'pdng', status_reason_message: 'processed; the callback is being delivered' };
  if (outcome?.status === 'rjct') {
    return { reference_id: referenceId, timestamp, status: 'rjct', status_reason_code: outcome.status_reason_code, status_reason_message: outcome.status_reason_message };
  }
  return { reference_id: referenceId, timestamp, status: 'succ', status_reason_message: 'result delivered' };
}

/**
 * The response of the transaction's kind (DIGEST 3.7): a subscribe's is a SubscribeResponse, an unsubscribe's an
 * UnSubscribeResponse, whose one status is the message's (DIGEST 3.6). An unknown unsubscribe, with no status to give,
 * gets the empty SearchResponse DIGEST 3.7 names for an unknown transaction.
 */
function txnStatusOf(action: string | undefined, ids: Ids, items: ItemStatus[]): TxnStatus {
  if (action === 'subscribe') return { ...ids, subscribe_response: items };
  if (action === 'unsubscribe' && items.length > 0) {
    const { reference_id: _, ...status } = items[0];
    return { ...ids, ...status };
  }
  return { ...ids, search_response: items };
}

/** The header options of a txn-on-status answer, sync or async: `rjct` when no transaction matched. */
export function txnOnStatusHeader(found: boolean, receiverId: string) {
  return {
    action: 'txn-on-status',
    status: found ? 'succ' : 'rjct',
    reasonMessage: found ? undefined : 'unknown transaction',
    receiverId,
    totalCount: 1,
    completedCount: 1,
  } as const;
}

/**
 * Answers txn status, sync or async: a partner sees only its own transactions (keyed by sender_id), and only those of
 * the registry whose txn status endpoint it asked (each domain's API has its own, DIGEST 3.7): a transaction id the
 * partner also used with another registry must not answer for that registry's request.
 */
export class TxnStatusService {
  constructor(private readonly store: TransactionStore) {}

  async answer(domain: string, senderId: string, message: TxnStatusRequestMessage, correlationId: string): Promise<{ found: boolean; message: TxnStatusResponseMessage }> {
    const req = message.txnstatus_request;
    const action = ACTION_OF_TXN_TYPE[req.txn_type.toLowerCase()];
    const rows = action ? await this.lookup({ domain, senderId, actions: [action] }, req.attribute_type, req.attribute_value) : [];
    const wantedRefs = req.attribute_type === 'reference_id_list' ? new Set(asList(req.attribute_value)) : undefined;
    const items = rows.flatMap((row) => row.reference_ids.filter((ref) => !wantedRefs || wantedRefs.has(ref)).map((ref) => itemStatus(row, ref)));
    const first = rows[0];
    const ids: Ids = {
      // TransactionId is at most 99 characters (DIGEST 2.5); an attribute_value naming no transaction may be longer.
      transaction_id: first?.transaction_id ?? (req.attribute_type === 'transaction_id' ? String(asOne(req.attribute_value) ?? '').slice(0, 99) : message.transaction_id),
      correlation_id: first?.correlation_id ?? correlationId,
    };
    return {
      found: rows.length > 0,
      message: { transaction_id: message.transaction_id, correlation_id: correlationId, txnstatus_response: { txn_type: canonicalTxnType(req.txn_type), txn_status: txnStatusOf(action, ids, items) } },
    };
  }

  private async lookup(whose: StatusScope, attributeType: string, value: string | string[]): Promise<TransactionRow[]> {
    switch (attributeType) {
      case 'transaction_id': {
        const id = asOne(value);
        // A partner may reuse a transaction id; the latest request under it is the one asked about.
        return id === undefined ? [] : (await this.store.findForStatus(whose, { transactionId: id })).slice(0, 1);
      }
      case 'correlation_id': {
        const id = asOne(value);
        return id === undefined ? [] : this.store.findForStatus(whose, { correlationId: id });
      }
      case 'reference_id_list':
        return this.store.findForStatus(whose, { referenceIds: asList(value) });
      default:
        // subscription_code_list names subscriptions, which are not transactions of these actions.
        return [];
    }
  }
}
