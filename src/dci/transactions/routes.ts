import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ValidateFunction } from 'ajv';
import { requireScope } from '../../auth/bearer.js';
import type { Partner } from '../../auth/partners.js';
import type { AccessTokens } from '../../auth/tokens.js';
import type { AppEnv } from '../../http/context.js';
import { DciError, HeaderRejection } from '../../http/errors.js';
import { jsonText } from '../../http/json-body.js';
import { ackBody, type EnvelopeBuilder, headerRejectionBody, newCorrelationId, type RequestHeader } from '../envelope/builder.js';
import { type DciRequestReader, messageHash } from '../envelope/read-request.js';
import { checkRequestHeader } from '../envelope/request-header.js';
import { inputValidator } from '../envelope/schemas.js';
import { documentDciEndpoint } from '../../ops/openapi.js';
import { CallbackTargetRejection, checkCallbackUrl } from './callback-target.js';
import type { ReplayGuard } from './replay-guard.js';
import type { TransactionStore } from './transaction-store.js';
import { canonicalTxnType, txnOnStatusHeader, type TxnStatusRequestMessage, type TxnStatusService } from './txn-status.js';

const validateSearchEnvelope = inputValidator('sync-search-request.schema.json');
const validateTxnStatusEnvelope = inputValidator('txn-status-request-envelope.schema.json');
const validateSubscribeEnvelope = inputValidator('subscribe-request-envelope.schema.json');
const validateUnsubscribeEnvelope = inputValidator('unsubscribe-request-envelope.schema.json');

export interface AsyncRouteDeps {
  domain: string;
  /** Does this domain answer searches (async search is registered only then). */
  searchable: boolean;
  tokens: AccessTokens;
  envelopes: EnvelopeBuilder;
  store: TransactionStore;
  txnStatus: TxnStatusService;
  /** Tells the local workers there is work (other processes find it at their next poll). */
  onAccepted: () => void;
  limits: { maxBatchItems: number };
  reader: DciRequestReader;
  replay: ReplayGuard;
}

interface IntakeSpec {
  action: 'search' | 'txn-status' | 'subscribe' | 'unsubscribe';
  validate: ValidateFunction;
  batchMember?: string;
  /** The standard callback path appended to a partner's registered base when the request names no sender_uri. */
  callbackPath: string;
  requests(message: Record<string, unknown>, header: RequestHeader): { referenceIds: string[]; itemCount: number };
}

/** The callback URL of a request (DIGEST 1.3): sender_uri when given, else the partner's base + the standard path. */
function callbackUrlOf(partner: Partner, header: RequestHeader, callbackPath: string): string {
  const settings = partner.callbacks;
  if (!settings) throw new DciError(400, 'err.sender_uri.invalid', 'no callback address is registered for this partner: use sync/search');
  const raw = header.sender_uri ?? (settings.baseUrl ? settings.baseUrl.replace(/\/+$/, '') + callbackPath : undefined);
  if (!raw) throw new DciError(400, 'err.sender_uri.invalid', 'header.sender_uri is required: no callback base is registered for this partner');
  try {
    return checkCallbackUrl(raw, settings).toString();
  } catch (e) {
    if (e instanceof CallbackTargetRejection) throw new DciError(400, 'err.sender_uri.invalid', `header.sender_uri refused: ${(e as Error).message}`);
    throw e;
  }
}

/**
 * Accepts an async request: validated, stored durably with its callback target, then acknowledged (DIGEST 1.3, 7.6).
 * A retry of a stored message gets the first ACK again; the same message_id with another body is refused.
 */
async function intake(c: Context<AppEnv>, deps: AsyncRouteDeps, spec: IntakeSpec): Promise<Response> {
  const body = await deps.reader.read(c, { validate: spec.validate, batchMember: spec.batchMember });
  const header = body.header as RequestHeader;
  const message = body.message as Record<string, unknown>;
  const partnerId = c.get('auth').partnerId;
  const { referenceIds, itemCount } = spec.requests(message, header);
  const refuse = (e: HeaderRejection, httpStatus: 400 | 409) => {
    const rejection = deps.envelopes.callbackHeader({
      action: CALLBACK_ACTION[spec.action],
      status: 'rjct',
      reasonCode: e.reasonCode,
      reasonMessage: e.message,
      receiverId: header.sender_id,
      totalCount: itemCount,
      completedCount: 0,
    });
    return c.json(headerRejectionBody(rejection, newCorrelationId()), httpStatus);
  };
  try {
    checkRequestHeader(header, { action: spec.action, itemCount, maxBatchItems: deps.limits.maxBatchItems, messageTsWindowSeconds: deps.replay.windowSeconds });
  } catch (e) {
    if (e instanceof HeaderRejection) return refuse(e, 400);
    throw e;
  }
  const callbackUrl = callbackUrlOf(c.get('partner'), header, spec.callbackPath);
  const accepted = await deps.store.accept({
    domain: deps.domain,
    action: spec.action,
    senderId: partnerId,
    messageId: header.message_id,
    bodyHash: messageHash(header, message),
    correlationId: newCorrelationId(),
    transactionId: String(message.transaction_id ?? ''),
    referenceIds,
    callbackUrl,
    request: { header, message },
    totalCount: itemCount,
  });
  if (accepted.stored === 'conflict') {
    return refuse(new HeaderRejection('rjct.message_id.duplicate', `message_id ${header.message_id.slice(0, 100)} was already used for a different message`), 409);
  }
  if (accepted.stored === 'new') deps.onAccepted();
  c.header('cache-control', 'no-store');
  return c.json(ackBody(accepted.correlationId, accepted.ackedAt), 202);
}

const searchIntake: IntakeSpec = {
  action: 'search',
  validate: validateSearchEnvelope,
  batchMember: 'search_request',
  callbackPath: '/registry/on-search',
  requests(message) {
    const items = message.search_request as { reference_id?: unknown }[];
    return { referenceIds: items.map((i) => String(i.reference_id ?? '')), itemCount: items.length };
  },
};

const txnStatusIntake: IntakeSpec = {
  action: 'txn-status',
  validate: validateTxnStatusEnvelope,
  callbackPath: '/registry/txn/on-status',
  requests(message) {
    return { referenceIds: [(message as unknown as TxnStatusRequestMessage).txnstatus_request.reference_id], itemCount: 1 };
  },
};

const subscribeIntake: IntakeSpec = {
  action: 'subscribe',
  validate: validateSubscribeEnvelope,
  batchMember: 'subscribe_request',
  callbackPath: '/registry/on-subscribe',
  requests(message) {
    const items = message.subscribe_request as { reference_id?: unknown }[];
    return { referenceIds: items.map((i) => String(i.reference_id ?? '')), itemCount: items.length };
  },
};

const unsubscribeIntake: IntakeSpec = {
  action: 'unsubscribe',
  validate: validateUnsubscribeEnvelope,
  callbackPath: '/registry/on-unsubscribe',
  // One request per message: the codes are answered together (DIGEST 3.6). A header.total_count counting the codes
  // reads "requests (items) in the message" (DIGEST 2.2) as well, and is taken as right too.
  requests(message, header) {
    const codes = (message.subscription_codes ?? message.sunscription_codes) as unknown[];
    return { referenceIds: [String(message.transaction_id ?? '')], itemCount: header.total_count === codes.length ? codes.length : 1 };
  },
};

const CALLBACK_ACTION: Record<IntakeSpec['action'], string> = { search: 'on-search', 'txn-status': 'txn-on-status', subscribe: 'on-subscribe', unsubscribe: 'on-unsubscribe' };

const TAGS: Record<string, string> = { social: 'Social Registry', crvs: 'Civil Registration', ibr: 'Integrated Beneficiary Registry', dr: 'Disability Registry' };

function document(app: OpenAPIHono<AppEnv>, deps: AsyncRouteDeps): void {
  const base = `/${deps.domain}/registry`;
  const tag = TAGS[deps.domain] ?? deps.domain;
  const ackResponses = {
    202: { description: 'Accepted and stored: the ACK with the correlation_id of the transaction', schema: 'ack.schema.json' },
    409: { description: 'The message_id was used before for a different message (header status rjct, rjct.message_id.duplicate)', schema: 'error-body.schema.json' },
  };
  const callbackNote =
    'The result is POSTed to `header.sender_uri` (which must match the partner\'s registered callback origins) or, when it is absent, ' +
    'to the partner\'s registered callback base + the standard path; signed, retried with backoff until delivered or dead-lettered.';
  if (deps.searchable) {
    documentDciEndpoint(app, {
      path: `${base}/search`,
      tag,
      summary: 'Search (async): ACK now, on-search callback later',
      description: `DCI async search. Same message as sync/search. ${callbackNote} Large answers arrive as several on-search messages (header status pdng, the last succ). Scope: ${deps.domain}:registry.search.`,
      request: 'sync-search-request.schema.json',
      responses: ackResponses,
    });
  }
  if (deps.searchable) {
    documentDciEndpoint(app, {
      path: `${base}/subscribe`,
      tag,
      summary: 'Subscribe to registry events (async): on-subscribe with the subscription codes, then a notify per matching event',
      description:
        `Each item subscribes to an event type (LiveBirth, Death, Marriage, Divorce, NewHouseHoldMember, DATA_MODIFICATION...) for a record type, ` +
        `optionally under a filter (the search query forms) and a frequency (hourly, daily, weekly, monthly; absent: as it happens) with start and end times. ` +
        `Refusals per item: rjct.notify_types.invalid, rjct.notify_details.invalid, rjct.event.already_subscribed, rjct.reference_id.duplicate. ${callbackNote} Scope: ${deps.domain}:registry.subscribe.`,
      request: 'subscribe-request-envelope.schema.json',
      responses: ackResponses,
    });
    documentDciEndpoint(app, {
      path: `${base}/unsubscribe`,
      tag,
      summary: 'End subscriptions (async): answered by on-unsubscribe',
      description: `By subscription code; a partner ends only its own (rjct.subscription_code.invalid, rjct.event.already_unsubscribed). ${callbackNote} Scope: ${deps.domain}:registry.subscribe.`,
      request: 'unsubscribe-request-envelope.schema.json',
      responses: ackResponses,
    });
  }
  documentDciEndpoint(app, {
    path: `${base}/txn/status`,
    tag,
    summary: 'Transaction status (async): answered by a txn/on-status callback',
    description: `By transaction_id, correlation_id or reference_id_list; a partner sees only its own transactions. ${callbackNote} Scope: ${deps.domain}:registry.txn-status.`,
    request: 'txn-status-request-envelope.schema.json',
    responses: ackResponses,
  });
  documentDciEndpoint(app, {
    path: `${base}/sync/txn/status`,
    tag,
    summary: 'Transaction status (sync)',
    description:
      'Each request of the transaction with its state: rcvd (received, not yet processed), pdng (processed, callback being delivered), succ (delivered), ' +
      `rjct (refused, or the callback could not be delivered). Unknown transaction: header status rjct, "unknown transaction". Scope: ${deps.domain}:registry.txn-status.`,
    request: 'txn-status-request-envelope.schema.json',
    responses: { 200: { description: 'The status envelope (txn-on-status)', schema: 'txn-status-response-envelope.schema.json' } },
  });
}

/** The registry side of the async protocol for one domain: search, txn/status and sync/txn/status. */
export function registerAsyncRoutes(app: OpenAPIHono<AppEnv>, deps: AsyncRouteDeps): void {
  const base = `/${deps.domain}/registry`;
  document(app, deps);
  if (deps.searchable) {
    app.post(`${base}/search`, requireScope(deps.tokens, deps.domain, 'search'), (c) => intake(c, deps, searchIntake));
  }
  if (deps.searchable) {
    app.post(`${base}/subscribe`, requireScope(deps.tokens, deps.domain, 'subscribe'), (c) => intake(c, deps, subscribeIntake));
    app.post(`${base}/unsubscribe`, requireScope(deps.tokens, deps.domain, 'subscribe'), (c) => intake(c, deps, unsubscribeIntake));
  }
  app.post(`${base}/txn/status`, requireScope(deps.tokens, deps.domain, 'txn-status'), (c) => intake(c, deps, txnStatusIntake));
  app.post(`${base}/sync/txn/status`, requireScope(deps.tokens, deps.domain, 'txn-status'), async (c) => {
    const body = await deps.reader.read(c, { validate: validateTxnStatusEnvelope });
    const header = body.header as RequestHeader;
    const message = body.message as unknown as TxnStatusRequestMessage;
    const correlationId = newCorrelationId();
    c.header('cache-control', 'no-store');
    try {
      checkRequestHeader(header, { action: 'txn-status', itemCount: 1, maxBatchItems: 1, messageTsWindowSeconds: deps.replay.windowSeconds });
      await deps.replay.checkFirstSeen(header.sender_id, header.message_id);
    } catch (e) {
      if (!(e instanceof HeaderRejection)) throw e;
      const reply = { action: 'txn-on-status', receiverId: header.sender_id, totalCount: 1 };
      const empty = { transaction_id: message.transaction_id, correlation_id: correlationId, txnstatus_response: { txn_type: canonicalTxnType(message.txnstatus_request.txn_type), txn_status: { transaction_id: message.transaction_id, correlation_id: correlationId, search_response: [] } } };
      return jsonText(c, await deps.envelopes.rejectionTextFor(c.get('partner'), e, reply, empty));
    }
    const { found, message: answer } = await deps.txnStatus.answer(deps.domain, c.get('auth').partnerId, message, correlationId);
    const responseHeader = deps.envelopes.callbackHeader(txnOnStatusHeader(found, header.sender_id));
    return jsonText(c, await deps.envelopes.envelopeTextFor(c.get('partner'), responseHeader, answer));
  });
}
