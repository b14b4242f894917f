/** DCI vocabularies for statuses and reason codes (DIGEST 2.3, 2.4, 2.6). */

/** RequestStatus: header and item `status`. */
export type RequestStatus = 'rcvd' | 'pdng' | 'succ' | 'rjct';

/** Error.code of the ACK/error body: communication-layer errors. */
export type DciErrorCode =
  | 'err.request.bad'
  | 'err.request.unauthorized'
  | 'err.request.forbidden'
  | 'err.request.not_found'
  | 'err.request.timeout'
  | 'err.version.not_supported'
  | 'err.request.too_many_requests'
  | 'err.sender_id.invalid'
  | 'err.sender_uri.invalid'
  | 'err.receiver_id.invalid'
  | 'err.signature.missing'
  | 'err.signature.invalid'
  | 'err.encryption.invalid'
  | 'err.service.unavailable';

/** MsgHeaderStatusReasonCode: header-level rejections. */
export type HeaderReasonCode =
  | 'rjct.version.invalid'
  | 'rjct.message_id.duplicate'
  | 'rjct.message_ts.invalid'
  | 'rjct.action.invalid'
  | 'rjct.action.not_supported'
  | 'rjct.total_count.invalid'
  | 'rjct.total_count.limit_exceeded'
  | 'rjct.errors.too_many';

/** SearchStatusReasonCode: item-level rejections of a search. */
export type SearchReasonCode =
  | 'rjct.reference_id.invalid'
  | 'rjct.reference_id.duplicate'
  | 'rjct.timestamp.invalid'
  | 'rjct.search_criteria.invalid'
  | 'rjct.filter.invalid'
  | 'rjct.sort.invalid'
  | 'rjct.pagination.invalid'
  | 'rjct.search.too_many_records_found';

export const PROTOCOL_VERSION = '1.0.0';

export const SEARCH_REASON_CODES: ReadonlySet<string> = new Set<SearchReasonCode>([
  'rjct.reference_id.invalid',
  'rjct.reference_id.duplicate',
  'rjct.timestamp.invalid',
  'rjct.search_criteria.invalid',
  'rjct.filter.invalid',
  'rjct.sort.invalid',
  'rjct.pagination.invalid',
  'rjct.search.too_many_records_found',
]);

/** RequestStatus as samples spell it (DIGEST 2.3): case-insensitive, `success` -> succ, `ack`/`acknowledged` -> rcvd. */
const REQUEST_STATUS: Record<string, RequestStatus> = { rcvd: 'rcvd', pdng: 'pdng', succ: 'succ', rjct: 'rjct', success: 'succ', ack: 'rcvd', acknowledged: 'rcvd' };

/** The RequestStatus a peer's `status` means, or undefined when it is none of them. */
export function requestStatusOf(v: unknown): RequestStatus | undefined {
  return typeof v === 'string' ? REQUEST_STATUS[v.toLowerCase()] : undefined;
}

export const HEADER_REASON_CODES: ReadonlySet<string> = new Set<HeaderReasonCode>([
  'rjct.version.invalid',
  'rjct.message_id.duplicate',
  'rjct.message_ts.invalid',
  'rjct.action.invalid',
  'rjct.action.not_supported',
  'rjct.total_count.invalid',
  'rjct.total_count.limit_exceeded',
  'rjct.errors.too_many',
]);
