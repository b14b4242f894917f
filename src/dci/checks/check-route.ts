import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ValidateFunction } from 'ajv';
import type { AuditLog } from '../../audit/audit-log.js';
import { purposeOf, purposeRefusal } from '../../audit/disclosures.js';
import { requireScope } from '../../auth/bearer.js';
import { refuseWhenForwarded } from '../../gateway/local-only.js';
import type { UpstreamSearch } from '../../gateway/upstream.js';
import type { Partner } from '../../auth/partners.js';
import type { AccessTokens } from '../../auth/tokens.js';
import type { AppEnv } from '../../http/context.js';
import { HeaderRejection } from '../../http/errors.js';
import { jsonText } from '../../http/json-body.js';
import { type EnvelopeBuilder, newCorrelationId, nowTimestamp, type RequestHeader } from '../envelope/builder.js';
import { isObject, present } from '../envelope/normalize.js';
import type { DciRequestReader } from '../envelope/read-request.js';
import { checkRequestHeader } from '../envelope/request-header.js';
import type { ReplayGuard } from '../transactions/replay-guard.js';
import { isTimestamp } from '../query/values.js';
import type { Database } from '../../db/client.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import { resolveSubjects, type SubjectRef } from '../../registry/subjects.js';
import { QueryRejection } from '../query/types.js';

/** One question of a check message: about one person or household. */
export interface CheckItem {
  reference_id: string;
  criteria: Record<string, unknown>;
  /** Set when the item is refused before it is looked at (bad timestamp, duplicate reference, purpose). */
  refused?: Refusal;
  /** The purpose the item states (consent or authorize purpose.code), audited with what it discloses. */
  purpose?: string;
}

/** A check's answer: the message members to send (e.g. `enrolled_response`), and whose data it disclosed. */
export interface CheckAnswer {
  members: Record<string, unknown[]>;
  /** The REGISTRY_IDs (external ids) of the people and households the answer is about, with the item (index) asking. */
  disclosed: { item: number; recordId: string }[];
}

export interface CheckEndpoint {
  path: string;
  domain: string;
  validate: ValidateFunction;
  /** The criteria member (`enrolled_criteria`) and the batch form (`enrolled_request`). */
  member: string;
  batchMember: string;
  /** Message members of an empty answer (header rejection). */
  emptyMembers: string[];
  answer(items: CheckItem[], partner: Partner): Promise<CheckAnswer>;
  /** Gateway mode: the upstream the domain's searches go to (the check is then refused: refuseWhenForwarded). */
  forward?: UpstreamSearch;
}

export interface CheckDeps {
  tokens: AccessTokens;
  reader: DciRequestReader;
  envelopes: EnvelopeBuilder;
  replay: ReplayGuard;
  audit: AuditLog;
  maxBatchItems: number;
}

/**
 * The items of a check message. The spec's request carries one criteria object (IBR EnrolledRequest, DR
 * DisabledRequest, DIGEST 3.8) while its response is a list with a reference_id per item: we also take a list of
 * criteria, and the batch form `[{reference_id, timestamp, <criteria member>}]` mirroring search_request (DIGEST 11.4:
 * wrap a lone object where a list is meant). Items without a reference_id are numbered from 1 in message order.
 */
function itemsOf(message: Record<string, unknown>, endpoint: CheckEndpoint, purposes: readonly string[] | undefined): CheckItem[] {
  const batch = message[endpoint.batchMember];
  const raw: Record<string, unknown>[] = Array.isArray(batch)
    ? batch
    : (Array.isArray(message[endpoint.member]) ? (message[endpoint.member] as Record<string, unknown>[]) : [message[endpoint.member] as Record<string, unknown>]).map((criteria) => ({
        reference_id: criteria.reference_id,
        [endpoint.member]: criteria,
      }));
  const seen = new Set<string>();
  return raw.map((entry, i) => {
    const reference_id = present(entry.reference_id) ? String(entry.reference_id) : String(i + 1);
    const criteria = isObject(entry[endpoint.member]) ? (entry[endpoint.member] as Record<string, unknown>) : {};
    const item: CheckItem = { reference_id, criteria, purpose: purposeOf(entry, endpoint.member) };
    if (seen.has(reference_id)) item.refused = { code: 'rjct.reference_id.duplicate', message: `reference_id ${reference_id.slice(0, 99)} appears twice in the message` };
    else if (present(entry.timestamp) && !isTimestamp(entry.timestamp)) item.refused = { code: 'rjct.timestamp.invalid', message: 'timestamp must be an RFC 3339 date-time' };
    else if (purposes) {
      const refusal = purposeRefusal(purposes, item.purpose);
      if (refusal) item.refused = { code: 'rjct.search_criteria.invalid', message: refusal };
    }
    seen.add(reference_id);
    return item;
  });
}

type Refusal = { code: string; message: string };

/** What a check item is about: refused, or its subject (found, or unknown to this registry) and the domain's extras. */
export type CheckSubject<E> =
  | { refused: Refusal }
  | { found: { individualId: number; externalId: string } | { groupId: number; externalId: string }; extra: E }
  | { unknown: string; extra: E };

/**
 * Reads every item's subject with the domain's `read` (which throws QueryRejection for criteria it cannot take) and
 * resolves them all in one statement. An identifier value that belongs to two people is refused: the type is needed.
 */
export async function checkSubjects<E>(db: Pick<Database, 'query'>, vault: IdentifierVault, items: CheckItem[], read: (criteria: Record<string, unknown>) => { subject: SubjectRef; extra: E }): Promise<CheckSubject<E>[]> {
  const parsed = items.map((item): { refused: Refusal } | { subject: SubjectRef; extra: E } => {
    if (item.refused) return { refused: item.refused };
    try {
      return read(item.criteria);
    } catch (e) {
      if (e instanceof QueryRejection) return { refused: { code: e.reasonCode, message: e.message } };
      throw e;
    }
  });
  const found = await resolveSubjects(db, vault, parsed.flatMap((p) => ('subject' in p ? [p.subject] : [])));
  let k = 0;
  return parsed.map((p): CheckSubject<E> => {
    if (!('subject' in p)) return p;
    const r = found[k++];
    if ('ambiguous' in r) return { refused: { code: 'rjct.search_criteria.invalid', message: r.ambiguous } };
    if ('unknown' in r) return { unknown: r.unknown, extra: p.extra };
    return { found: r, extra: p.extra };
  });
}

/** A refused or failed item's common part. */
export function itemStatus(reference_id: string, refused?: Refusal) {
  return refused
    ? { reference_id, timestamp: nowTimestamp(), status: 'rjct' as const, status_reason_code: refused.code, status_reason_message: refused.message.slice(0, 999) }
    : { reference_id, timestamp: nowTimestamp(), status: 'succ' as const };
}

/**
 * A synchronous DCI check (IBR sync/enrolled, DR sync/disabled and sync/get-disability-*): the envelope read and
 * verified like every DCI request, the header checked (refusals in the response envelope, as for sync search), the
 * items answered by the domain, what they disclosed audited before the answer leaves, the answer signed.
 */
export function registerCheckEndpoint(app: OpenAPIHono<AppEnv>, endpoint: CheckEndpoint, deps: CheckDeps): void {
  app.post(endpoint.path, requireScope(deps.tokens, endpoint.domain, 'search'), refuseWhenForwarded(endpoint.forward, endpoint.path), async (c) => {
    const body = await deps.reader.read(c, { validate: endpoint.validate });
    const header = body.header as RequestHeader;
    const message = body.message as Record<string, unknown> & { transaction_id: string };
    const partner = c.get('partner');
    const items = itemsOf(message, endpoint, partner.purposes);
    const correlationId = newCorrelationId();
    c.header('cache-control', 'no-store');
    let answer: CheckAnswer;
    try {
      checkRequestHeader(header, { action: 'search', itemCount: items.length, maxBatchItems: deps.maxBatchItems, messageTsWindowSeconds: deps.replay.windowSeconds });
      answer = await deps.replay.answerOnce(header.sender_id, header.message_id, () => endpoint.answer(items, partner));
    } catch (e) {
      if (!(e instanceof HeaderRejection)) throw e;
      const reply = { action: 'on-search', receiverId: header.sender_id, totalCount: items.length };
      const empty = Object.fromEntries(endpoint.emptyMembers.map((m) => [m, []]));
      return jsonText(c, await deps.envelopes.rejectionTextFor(partner, e, reply, { transaction_id: message.transaction_id, correlation_id: correlationId, ...empty }));
    }
    // One entry per purpose the items state (each item's own: a batch's items may state different ones).
    const byPurpose = new Map<string | undefined, string[]>();
    for (const { item, recordId } of answer.disclosed) {
      const purpose = items[item].purpose;
      const ids = byPurpose.get(purpose);
      if (ids) ids.push(recordId);
      else byPurpose.set(purpose, [recordId]);
    }
    await Promise.all(
      [...byPurpose].map(([purpose, recordIds]) =>
        deps.audit.disclosed({
          partnerId: partner.id,
          domain: endpoint.domain,
          action: endpoint.path.replace(`/${endpoint.domain}/registry/`, ''),
          purpose,
          transactionId: message.transaction_id,
          messageId: header.message_id,
          recordIds,
          recordCount: recordIds.length,
          fields: partner.fields,
        }),
      ),
    );
    const responseHeader = deps.envelopes.callbackHeader({ action: 'on-search', status: 'succ', receiverId: header.sender_id, totalCount: items.length, completedCount: items.length });
    return jsonText(c, await deps.envelopes.envelopeTextFor(partner, responseHeader, { transaction_id: message.transaction_id, correlation_id: correlationId, ...answer.members }));
  });
}
