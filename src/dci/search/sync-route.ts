import type { OpenAPIHono } from '@hono/zod-openapi';
import { requireScope } from '../../auth/bearer.js';
import type { UpstreamSearch } from '../../gateway/upstream.js';
import type { AccessTokens } from '../../auth/tokens.js';
import type { AppEnv } from '../../http/context.js';
import { HeaderRejection } from '../../http/errors.js';
import { jsonText } from '../../http/json-body.js';
import { type EnvelopeBuilder, newCorrelationId, type RequestHeader } from '../envelope/builder.js';
import type { DciRequestReader } from '../envelope/read-request.js';
import type { ReplayGuard } from '../transactions/replay-guard.js';
import { checkRequestHeader } from '../envelope/request-header.js';
import { inputValidator } from '../envelope/schemas.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { DisclosureRecorder } from '../../audit/disclosures.js';
import { answerSearchBatch, type SearchDomain, type SearchLimits } from './items.js';

const validateSearchEnvelope = inputValidator('sync-search-request.schema.json');

export type SyncSearchLimits = SearchLimits & { maxBatchItems: number; maxBodyBytes: number; /** SYNC_SEARCH_BUDGET_MS */ budgetMs: number };

export interface SyncSearchDeps {
  domain: string;
  search: SearchDomain;
  /** Set when the domain is served by an upstream registry (gateway mode): items go there instead of to `search`. */
  forward?: UpstreamSearch;
  tokens: AccessTokens;
  envelopes: EnvelopeBuilder;
  limits: SyncSearchLimits;
  reader: DciRequestReader;
  replay: ReplayGuard;
  audit: AuditLog;
}

/** POST /{domain}/registry/sync/search: the search answered in the HTTP response (DIGEST 1.2, 3.1, 3.2). */
export function registerSyncSearch(app: OpenAPIHono<AppEnv>, deps: SyncSearchDeps): void {
  const path = `/${deps.domain}/registry/sync/search`;
  app.post(path, requireScope(deps.tokens, deps.domain, 'search'), async (c) => {
    const started = Date.now();
    const body = await deps.reader.read(c, { validate: validateSearchEnvelope, batchMember: 'search_request' });
    const header = body.header as RequestHeader;
    const message = body.message as { transaction_id: string; search_request: Record<string, unknown>[] };
    const correlationId = newCorrelationId();
    const items = message.search_request;
    c.header('cache-control', 'no-store');
    const partner = c.get('partner');
    const disclosures = new DisclosureRecorder(deps.audit, {
      partnerId: partner.id,
      domain: deps.domain,
      action: 'sync/search',
      transactionId: message.transaction_id,
      messageId: header.message_id,
      fields: partner.fields,
    });
    const handling = disclosures.handling(partner);
    let results: Awaited<ReturnType<typeof answerSearchBatch>>;
    try {
      checkRequestHeader(header, { action: 'search', itemCount: items.length, maxBatchItems: deps.limits.maxBatchItems, messageTsWindowSeconds: deps.replay.windowSeconds });
      // A forwarded search discloses to another registry: it leaves only once the message is known new.
      results = await deps.replay.answerOnce(
        header.sender_id,
        header.message_id,
        () => (deps.forward ? deps.forward.answer(correlationId, items, handling) : answerSearchBatch(deps.search, items, deps.limits, handling, { deadlineAt: started + deps.limits.budgetMs, budgetMs: deps.limits.budgetMs })),
        !deps.forward,
      );
    } catch (e) {
      if (!(e instanceof HeaderRejection)) throw e;
      const reply = { action: 'on-search', receiverId: header.sender_id, totalCount: items.length };
      return jsonText(c, await deps.envelopes.rejectionTextFor(partner, e, reply, { transaction_id: message.transaction_id, correlation_id: correlationId, search_response: [] }));
    }
    await disclosures.commit();
    const responseHeader = deps.envelopes.callbackHeader({
      action: 'on-search',
      status: 'succ',
      receiverId: header.sender_id,
      totalCount: items.length,
      completedCount: results.length,
    });
    return jsonText(c, await deps.envelopes.envelopeTextFor(partner, responseHeader, { transaction_id: message.transaction_id, correlation_id: correlationId, search_response: results }));
  });
}
