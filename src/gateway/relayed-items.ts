import { nowTimestamp } from '../dci/envelope/builder.js';
import { HEADER_REASON_CODES, type HeaderReasonCode, type RequestStatus, type SearchReasonCode, requestStatusOf, SEARCH_REASON_CODES } from '../dci/envelope/codes.js';
import { isObject } from '../dci/envelope/normalize.js';
import { isTimestamp } from '../dci/query/values.js';
import { normalizeLocale, type RecordHandling, type SearchDomain, type SearchResponseItem, wholeNumber } from '../dci/search/items.js';

const REG_TYPE_PREFIX = 'ns:org:RegistryType:';
const RECORD_TYPE_PREFIX = 'spdci-extensions-dci:';

/** The search item an upstream answer item answers, as the caller asked it. */
export interface AskedItem {
  referenceId: string;
  item?: Record<string, unknown>;
}

/**
 * An upstream's search answer item as we emit our own (DIGEST 3.2): known statuses only (case-insensitive, `success`
 * -> succ: DIGEST 2.3), search reason codes only, reg_records an array (an object is one record: DIGEST 11.1 #6), with
 * version, reg_type and reg_record_type, integer pagination and an ISO 639-3 locale. Upstreams write the samples'
 * spellings (DIGEST 11.4): passed on as they are, our answer would carry them.
 */
export function relayedItem(raw: unknown, asked: AskedItem, domain: SearchDomain | undefined): SearchResponseItem {
  const r = isObject(raw) ? raw : {};
  const status = requestStatusOf(r.status);
  const base = {
    reference_id: asked.referenceId,
    timestamp: isTimestamp(r.timestamp) ? (r.timestamp as string) : nowTimestamp(),
    locale: normalizeLocale(r.locale ?? asked.item?.locale),
  };
  if (status === undefined) {
    return { ...base, status: 'rjct', status_reason_message: `the upstream registry answered this item with status ${String(r.status).slice(0, 50)}` };
  }
  if (status !== 'succ') return { ...base, status, ...reasonOf(r, status) };
  const data = isObject(r.data) ? r.data : {};
  const records = recordsOf(data.reg_records);
  const types = typesOf(data, asked, domain);
  const pagination = isObject(r.pagination) ? r.pagination : {};
  const criteria = isObject(asked.item?.search_criteria) ? asked.item.search_criteria : {};
  const askedPage = isObject(criteria.pagination) ? criteria.pagination : {};
  return {
    ...base,
    status,
    data: { version: '1.0.0', reg_type: types.regType, reg_record_type: types.recordType, reg_records: records },
    pagination: {
      page_size: wholeNumber(pagination.page_size) ?? wholeNumber(askedPage.page_size) ?? Math.max(records.length, 1),
      page_number: wholeNumber(pagination.page_number) ?? wholeNumber(askedPage.page_number) ?? 1,
      total_count: wholeNumber(pagination.total_count, 0) ?? records.length,
    },
  };
}

/** Projects an answered item's records for the caller and shows them to its audit first, as local answers are. */
export function handleRelayedRecords(item: SearchResponseItem, handling: RecordHandling, asked?: Record<string, unknown>): SearchResponseItem {
  if (!item.data) return item;
  handling.observe?.(item.reference_id, item.data.reg_records, asked);
  return handling.project ? { ...item, data: { ...item.data, reg_records: item.data.reg_records.map(handling.project) } } : item;
}

/**
 * Why the upstream `peerId` rejected a whole message, to pass on: its header reason code when it is one of the DCI list
 * (DIGEST 2.3), and its message, shortened and said to be the upstream's.
 */
export function headerReasonOf(header: Record<string, unknown>, peerId: string): { code?: HeaderReasonCode; message: string } {
  const code = typeof header.status_reason_code === 'string' && HEADER_REASON_CODES.has(header.status_reason_code) ? (header.status_reason_code as HeaderReasonCode) : undefined;
  const said = typeof header.status_reason_message === 'string' && header.status_reason_message !== '' ? `: ${header.status_reason_message.slice(0, 500)}` : '';
  return { code, message: `the upstream ${peerId} rejected the request${said}` };
}

function reasonOf(r: Record<string, unknown>, status: RequestStatus): { status_reason_code?: SearchReasonCode; status_reason_message?: string } {
  if (status !== 'rjct') return {};
  const code = typeof r.status_reason_code === 'string' && SEARCH_REASON_CODES.has(r.status_reason_code) ? (r.status_reason_code as SearchReasonCode) : undefined;
  const message = typeof r.status_reason_message === 'string' && r.status_reason_message !== '' ? r.status_reason_message.slice(0, 999) : undefined;
  return { ...(code ? { status_reason_code: code } : {}), ...(message ? { status_reason_message: message } : {}) };
}

function recordsOf(v: unknown): object[] {
  if (isObject(v)) return [v];
  return Array.isArray(v) ? v.filter(isObject) : [];
}

/** Our domain's types for what the caller asked (as a local answer gives them), else the upstream's, prefixed (DIGEST 5). */
function typesOf(data: Record<string, unknown>, asked: AskedItem, domain: SearchDomain | undefined): { regType: string; recordType: string } {
  const criteria = asked.item?.search_criteria;
  if (domain && isObject(criteria)) {
    try {
      const plan = domain.plan(criteria);
      return { regType: plan.regType, recordType: plan.recordType };
    } catch {
      // Criteria our local registry does not know: the upstream's own words.
    }
  }
  return { regType: prefixed(data.reg_type, REG_TYPE_PREFIX, 'unknown'), recordType: prefixed(data.reg_record_type, RECORD_TYPE_PREFIX, 'Person') };
}

function prefixed(v: unknown, prefix: string, fallback: string): string {
  const name = typeof v === 'string' && v !== '' ? v : fallback;
  return name.includes(':') ? name : `${prefix}${name}`;
}
