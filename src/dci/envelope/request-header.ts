import { DciError, HeaderRejection } from '../../http/errors.js';
import type { RequestHeader } from './builder.js';
import { toTimestamp } from '../query/values.js';

/**
 * Checks the request header (DIGEST 2.2, 7.6, 8). Refusals of the message as a whole that the spec gives a header
 * reason code for are answered in the envelope (HeaderRejection); malformed messages are HTTP errors (DciError).
 * The sender is checked earlier, by the request reader, before its signature is.
 */
export function checkRequestHeader(
  header: RequestHeader,
  opts: { action: string; itemCount: number; maxBatchItems: number; messageTsWindowSeconds: number },
): void {
  if (header.version !== undefined && !/^1(\.\d+){0,2}$/.test(header.version)) {
    throw new DciError(400, 'err.version.not_supported', `header.version ${header.version.slice(0, 20)} is not supported; use 1.0.0`);
  }
  if (actionOnPath(header.action) !== opts.action) {
    throw new HeaderRejection('rjct.action.invalid', `header.action must be ${opts.action} on this endpoint`);
  }
  // Read as every DCI timestamp is (toTimestamp): RFC 3339's lower-case t and z, or a space for the T, are the same instant.
  const timestamp = toTimestamp(header.message_ts);
  if (timestamp === undefined) throw new HeaderRejection('rjct.message_ts.invalid', 'header.message_ts must be an RFC 3339 date-time');
  const sentAt = Date.parse(timestamp);
  // The replay window (DIGEST 7.6): store-and-forward hops delay messages, so it is configurable.
  if (Math.abs(Date.now() - sentAt) / 1000 > opts.messageTsWindowSeconds) {
    throw new HeaderRejection('rjct.message_ts.invalid', `header.message_ts is more than ${opts.messageTsWindowSeconds} s away from the server's clock`);
  }
  if (opts.itemCount > opts.maxBatchItems) {
    throw new HeaderRejection('rjct.total_count.limit_exceeded', `a message may carry at most ${opts.maxBatchItems} requests`);
  }
  if (header.total_count !== opts.itemCount) {
    throw new HeaderRejection('rjct.total_count.invalid', `header.total_count is ${header.total_count} but the message carries ${opts.itemCount} requests`);
  }
}

/**
 * Actions the DCI samples invent (DIGEST 11.4: DR and FR searches send `verify`, the DR details request
 * `get_disability_info`), read as the action of the path they are sent to, which is unambiguous: each of these paths
 * takes one action. An action of the protocol's own sent to another action's path stays refused.
 */
const SAMPLE_ACTIONS: Record<string, string> = { verify: 'search', get_disability_info: 'search', check_disability_status: 'search' };

function actionOnPath(action: string): string {
  const sent = action.toLowerCase();
  return Object.hasOwn(SAMPLE_ACTIONS, sent) ? SAMPLE_ACTIONS[sent] : sent;
}
