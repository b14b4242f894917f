import type { OpenAPIHono } from '@hono/zod-openapi';
import { requireScope } from '../../auth/bearer.js';
import type { AccessTokens } from '../../auth/tokens.js';
import type { AppEnv } from '../../http/context.js';
import { DciError, HeaderRejection } from '../../http/errors.js';
import { readJsonObject } from '../../http/json-body.js';
import { type EnvelopeBuilder, newCorrelationId, type RequestHeader } from '../envelope/builder.js';
import { normalizeRequestEnvelope } from '../envelope/normalize.js';
import { assertValid, inputValidator } from '../envelope/schemas.js';
import { answerSearchBatch, type SearchDomain, type SearchLimits } from './items.js';

const validateSearchEnvelope = inputValidator('sync-search-request.schema.json');

export type SyncSearchLimits = SearchLimits & { maxBatchItems: number; maxBodyBytes: number };

export interface SyncSearchDeps {
  domain: string;
  search: SearchDomain;
  tokens: AccessTokens;
  envelopes: EnvelopeBuilder;
  limits: SyncSearchLimits;
}

/**
 * Checks the request header (DIGEST 2.2, 7.6, 8). Refusals of the message as a whole that the spec gives a header
 * reason code for are answered in the envelope (HeaderRejection); malformed messages are HTTP errors (DciError).
 */
export function checkRequestHeader(header: RequestHeader, opts: { partnerId: string; action: string; itemCount: number; maxBatchItems: number }): void {
  if (header.version !== undefined && !/^1(\.\d+){0,2}$/.test(header.version)) {
    throw new DciError(400, 'err.version.not_supported', `header.version ${header.version.slice(0, 20)} is not supported; use 1.0.0`);
  }
  if (header.sender_id !== opts.partnerId) {
    throw new DciError(403, 'err.sender_id.invalid', 'header.sender_id does not match the access token');
  }
  if (header.action.toLowerCase() !== opts.action) {
    throw new HeaderRejection('rjct.action.invalid', `header.action must be ${opts.action} on this endpoint`);
  }
  if (Number.isNaN(Date.parse(header.message_ts)) || !/^\d{4}-\d{2}-\d{2}T/.test(header.message_ts)) {
    throw new HeaderRejection('rjct.message_ts.invalid', 'header.message_ts must be an RFC 3339 date-time');
  }
  if (opts.itemCount > opts.maxBatchItems) {
    throw new HeaderRejection('rjct.total_count.limit_exceeded', `a message may carry at most ${opts.maxBatchItems} requests`);
  }
  if (header.total_count !== opts.itemCount) {
    throw new HeaderRejection('rjct.total_count.invalid', `header.total_count is ${header.total_count} but the message carries ${opts.itemCount} requests`);
  }
}

/** POST /{domain}/registry/sync/search: the search answered in the HTTP response (DIGEST 1.2, 3.1, 3.2). */
export function registerSyncSearch(app: OpenAPIHono<AppEnv>, deps: SyncSearchDeps): void {
  const path = `/${deps.domain}/registry/sync/search`;
  app.post(path, requireScope(deps.tokens, deps.domain, 'search'), async (c) => {
    const body = await readJsonObject(c, deps.limits.maxBodyBytes);
    normalizeRequestEnvelope(body, 'search_request');
    assertValid(validateSearchEnvelope, body);
    const header = body.header as RequestHeader;
    const message = body.message as { transaction_id: string; search_request: Record<string, unknown>[] };
    const correlationId = newCorrelationId();
    const items = message.search_request;
    c.header('cache-control', 'no-store');
    try {
      checkRequestHeader(header, { partnerId: c.get('auth').partnerId, action: 'search', itemCount: items.length, maxBatchItems: deps.limits.maxBatchItems });
    } catch (e) {
      if (!(e instanceof HeaderRejection)) throw e;
      const rejected = deps.envelopes.callbackHeader({
        action: 'on-search',
        status: 'rjct',
        reasonCode: e.reasonCode,
        reasonMessage: e.message,
        receiverId: header.sender_id,
        totalCount: items.length,
        completedCount: 0,
      });
      return c.json(deps.envelopes.envelope(rejected, { transaction_id: message.transaction_id, correlation_id: correlationId, search_response: [] }));
    }
    const results = await answerSearchBatch(deps.search, items, deps.limits);
    const responseHeader = deps.envelopes.callbackHeader({
      action: 'on-search',
      status: 'succ',
      receiverId: header.sender_id,
      totalCount: items.length,
      completedCount: results.length,
    });
    return c.json(deps.envelopes.envelope(responseHeader, { transaction_id: message.transaction_id, correlation_id: correlationId, search_response: results }));
  });
}
