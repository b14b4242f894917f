import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AuditLog } from '../../audit/audit-log.js';
import { requireScope } from '../../auth/bearer.js';
import type { AccessTokens } from '../../auth/tokens.js';
import { ackBody, type EnvelopeBuilder, headerRejectionBody, newCorrelationId, type RequestHeader } from '../../dci/envelope/builder.js';
import { type DciRequestReader, messageHash } from '../../dci/envelope/read-request.js';
import { checkRequestHeader } from '../../dci/envelope/request-header.js';
import { inputValidator } from '../../dci/envelope/schemas.js';
import { adminBodyProblems, adminParamProblems, adminProblems, IdParam, PageQuery, problem } from '../../http/admin-api.js';
import type { AppEnv } from '../../http/context.js';
import { DciError, HeaderRejection } from '../../http/errors.js';
import { documentDciEndpoint } from '../../ops/openapi.js';
import { registerSyncSearch, type SyncSearchDeps } from '../../dci/search/sync-route.js';
import { MessageIdReused, type NotifiedEvent, type VitalEventInbox, type VitalEventRow } from './vital-event-inbox.js';

const validateNotify = inputValidator('notify-envelope.schema.json');

/** The CRVS registry side: sync search over CRVS_Person records (async search, subscribe and txn status come with every domain). */
export function registerCrvsSearch(app: OpenAPIHono<AppEnv>, deps: SyncSearchDeps): void {
  registerSyncSearch(app, deps);
  documentDciEndpoint(app, {
    path: '/crvs/registry/sync/search',
    tag: 'Civil Registration',
    summary: 'Search people as CRVS_Person records (sync)',
    description:
      'DCI CRVS sync search over the people this registry holds: identifiers (UIN, BRN, DRN...), name, sex, birth and death with places, ' +
      'marital status and parent identifiers (from recorded births). Queries: idtype-value, expression, predicate over the person attributes ' +
      'of the Social Registry. reg_record_type Person or CRVS_Person. Scope: crvs:registry.search.',
    request: 'sync-search-request.schema.json',
    responses: { 200: { description: 'Search results', schema: 'sync-search-response.schema.json' } },
  });
}

export interface CrvsRouteDeps {
  tokens: AccessTokens;
  reader: DciRequestReader;
  envelopes: EnvelopeBuilder;
  inbox: VitalEventInbox;
  maxBatchItems: number;
  messageTsWindowSeconds: number;
}

/**
 * POST /crvs/registry/notify: a CRVS partner (scope crvs:registry.notify) pushes births, deaths, marriages and
 * divorces. Every event is stored and applied (or set aside for review) before the ACK, so an acknowledged event is
 * never lost; a resent event is recognised by its identity and not applied twice.
 */
export function registerCrvsNotify(app: OpenAPIHono<AppEnv>, deps: CrvsRouteDeps): void {
  documentDciEndpoint(app, {
    path: '/crvs/registry/notify',
    tag: 'CRVS: vital events in',
    summary: 'Receive vital events (notify) from a CRVS',
    description:
      'A NotifyEventRequest of CRVS_Person records: LiveBirth adds the child to a parent\'s household, Death marks the person deceased, ' +
      'ends their membership and chooses a new head if needed, Marriage and Divorce set marital status. Applied before the ACK; ' +
      'events that cannot be applied wait in the review queue (GET /admin/crvs/events). Scope: crvs:registry.notify.',
    request: 'notify-envelope.schema.json',
    responses: {
      200: { description: 'Stored and applied (or queued for review): the ACK; the same message sent again gets its first ACK', schema: 'ack.schema.json' },
      409: { description: 'The message_id was used before for a different message (header status rjct, rjct.message_id.duplicate)', schema: 'error-body.schema.json' },
    },
  });
  app.post('/crvs/registry/notify', requireScope(deps.tokens, 'crvs', 'notify'), async (c) => {
    const body = await deps.reader.read(c, { validate: validateNotify, batchMember: 'notify_event' });
    const header = body.header as RequestHeader;
    const events = (body.message as { notify_event: NotifiedEvent[] }).notify_event;
    try {
      // A notify is a callback-style message: total_count may be left out (DIGEST 2.3); when given it must be right.
      checkRequestHeader({ ...header, total_count: header.total_count ?? events.length }, {
        action: 'notify',
        itemCount: events.length,
        maxBatchItems: deps.maxBatchItems,
        messageTsWindowSeconds: deps.messageTsWindowSeconds,
      });
    } catch (e) {
      if (!(e instanceof HeaderRejection)) throw e;
      const rejection = deps.envelopes.callbackHeader({ action: 'notify', status: 'rjct', reasonCode: e.reasonCode, reasonMessage: e.message, receiverId: header.sender_id, totalCount: events.length, completedCount: 0 });
      return c.json(headerRejectionBody(rejection, newCorrelationId()), 400);
    }
    const references = new Set<string>();
    for (const event of events) {
      if (references.has(event.reference_id)) throw new DciError(400, 'err.request.bad', `reference_id ${event.reference_id.slice(0, 99)} appears twice in the message`);
      references.add(event.reference_id);
    }
    let correlationId: string;
    try {
      correlationId = await deps.inbox.receive({
        senderId: c.get('auth').partnerId,
        messageId: header.message_id,
        bodyHash: messageHash(header, body.message),
        correlationId: newCorrelationId(),
        events,
      });
    } catch (e) {
      if (!(e instanceof MessageIdReused)) throw e;
      const rejection = deps.envelopes.callbackHeader({ action: 'notify', status: 'rjct', reasonCode: 'rjct.message_id.duplicate', reasonMessage: e.message, receiverId: header.sender_id, totalCount: events.length, completedCount: 0 });
      return c.json(headerRejectionBody(rejection, newCorrelationId()), 409);
    }
    // The same message sent again (a retry after a lost ACK) gets the first ACK, its events not applied twice.
    return c.json(ackBody(correlationId), 200);
  });
}

const VitalEvent = z
  .object({
    id: z.number().int(),
    sender_id: z.string(),
    event_type: z.string(),
    reference_id: z.string(),
    message_id: z.string(),
    state: z.enum(['applied', 'pending', 'dismissed']),
    outcome: z.string(),
    attempts: z.number().int(),
    received_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('VitalEvent');

const view = (r: VitalEventRow) => ({ ...r, id: Number(r.id), received_at: new Date(r.received_at).toISOString(), updated_at: new Date(r.updated_at).toISOString() });

/** The review queue of vital events (admin scope): list, re-apply after a correction, or dismiss. No record contents. */
export function registerVitalEventReview(app: OpenAPIHono<AppEnv>, deps: { inbox: VitalEventInbox; audit: AuditLog }): void {
  const tags = ['Operations: CRVS events'];
  const security = [{ bearerAuth: [] }];
  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/crvs/events',
      tags,
      security,
      summary: 'Vital events received, newest first (state=pending lists the review queue)',
      request: {
        query: z
          .object({
            state: z.enum(['applied', 'pending', 'dismissed']).optional(),
            sender_id: z.string().optional(),
            ...PageQuery,
          })
          .strict(),
      },
      responses: { 200: { description: 'A page of events', content: { 'application/json': { schema: z.object({ items: z.array(VitalEvent) }) } } }, ...adminParamProblems, ...adminProblems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json({ items: (await deps.inbox.list({ state: q.state, senderId: q.sender_id, beforeId: q.before, limit: q.limit })).map(view) }, 200);
    },
  );

  const action = (path: 'reapply' | 'dismiss', summary: string) =>
    createRoute({
      method: 'post',
      path: `/admin/crvs/events/{id}/${path}`,
      tags,
      security,
      summary,
      request: {
        params: IdParam,
        ...(path === 'dismiss' ? { body: { required: true, content: { 'application/json': { schema: z.object({ reason: z.string().min(1).max(400) }) } } } } : {}),
      },
      responses: {
        200: { description: 'The event afterwards', content: { 'application/json': { schema: VitalEvent } } },
        ...(path === 'dismiss' ? adminBodyProblems : adminParamProblems),
        404: problem('No such event'),
        409: problem('The event is not pending'),
        ...adminProblems,
      },
    });
  const notPending = async (id: number): Promise<never> => {
    const row = await deps.inbox.get(id);
    if (!row) throw new DciError(404, 'err.request.not_found', `no vital event ${id}`);
    throw new DciError(409, 'err.request.bad', `vital event ${id} is ${row.state}; only pending events are re-applied or dismissed`);
  };

  app.openapi(action('reapply', 'Apply a pending event again (after the registry was corrected)'), async (c) => {
    const { id } = c.req.valid('param');
    const actorId = c.get('auth').partnerId;
    const row = (await deps.inbox.reapply(id, (tx) => deps.audit.changedWithin(tx, { actorId, domain: 'crvs', action: 'vital-event.reapply', recordIds: [String(id)] }))) ?? (await notPending(id));
    c.get('log').info({ vitalEvent: id, operator: c.get('auth').partnerId, state: row.state }, 'vital event re-applied');
    return c.json(view(row), 200);
  });
  app.openapi(action('dismiss', 'Dismiss a pending event: it will not be applied'), async (c) => {
    const { id } = c.req.valid('param');
    const { reason } = (await c.req.json()) as { reason: string };
    const actorId = c.get('auth').partnerId;
    const row = (await deps.inbox.dismiss(id, reason, (tx) => deps.audit.changedWithin(tx, { actorId, domain: 'crvs', action: 'vital-event.dismiss', recordIds: [String(id)] }))) ?? (await notPending(id));
    c.get('log').info({ vitalEvent: id, operator: actorId }, 'vital event dismissed');
    return c.json(view(row), 200);
  });
}
