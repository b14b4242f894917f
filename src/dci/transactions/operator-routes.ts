import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { AuditLog } from '../../audit/audit-log.js';
import type { AppEnv } from '../../http/context.js';
import { adminParamProblems, adminProblems, IdParam, PageQuery, problem } from '../../http/admin-api.js';
import { DciError } from '../../http/errors.js';
import type { DeliveryRow, DeliveryStore } from './delivery-store.js';
import type { TransactionRow, TransactionStore } from './transaction-store.js';

const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());

const Transaction = z
  .object({
    id: z.number().int(),
    domain: z.string(),
    action: z.string(),
    sender_id: z.string(),
    message_id: z.string(),
    transaction_id: z.string(),
    correlation_id: z.string(),
    reference_ids: z.array(z.string()),
    callback_url: z.string(),
    state: z.enum(['received', 'pending', 'delivered', 'failed']),
    total_count: z.number().int(),
    completed_count: z.number().int(),
    acked_at: z.string(),
    updated_at: z.string(),
    last_error: z.string().nullable(),
  })
  .openapi('OperatorTransaction');

const Delivery = z
  .object({
    id: z.number().int(),
    transaction_id: z.number().int().nullable(),
    partner_id: z.string(),
    action: z.string(),
    message_id: z.string(),
    page: z.number().int(),
    target_url: z.string(),
    state: z.enum(['pending', 'delivered', 'dead', 'gone']),
    attempts: z.number().int(),
    next_attempt_at: z.string().nullable(),
    give_up_at: z.string(),
    last_status: z.number().int().nullable(),
    last_error: z.string().nullable(),
    created_at: z.string(),
    delivered_at: z.string().nullable(),
  })
  .openapi('OperatorDelivery');

const Attempt = z
  .object({ attempt: z.number().int(), started_at: z.string(), duration_ms: z.number().int(), http_status: z.number().int().nullable(), error: z.string().nullable() })
  .openapi('OperatorDeliveryAttempt');



function transactionView(r: TransactionRow) {
  return {
    id: Number(r.id),
    domain: r.domain,
    action: r.action,
    sender_id: r.sender_id,
    message_id: r.message_id,
    transaction_id: r.transaction_id,
    correlation_id: r.correlation_id,
    reference_ids: r.reference_ids,
    callback_url: r.callback_url,
    state: r.state,
    total_count: r.total_count,
    completed_count: r.completed_count,
    acked_at: iso(r.acked_at)!,
    updated_at: iso(r.updated_at)!,
    last_error: r.last_error,
  };
}

function deliveryView(r: DeliveryRow) {
  return {
    id: Number(r.id),
    transaction_id: r.transaction_id === null ? null : Number(r.transaction_id),
    partner_id: r.partner_id,
    action: r.action,
    message_id: r.message_id,
    page: r.page,
    target_url: r.target_url,
    state: r.state,
    attempts: r.attempts,
    next_attempt_at: r.state === 'pending' ? iso(r.next_attempt_at) : null,
    give_up_at: iso(r.give_up_at)!,
    last_status: r.last_status,
    last_error: r.last_error,
    created_at: iso(r.created_at)!,
    delivered_at: iso(r.delivered_at),
  };
}

/**
 * The operators' view of the async protocol (REST, not DCI): transactions, callback deliveries with their attempts,
 * and replay of dead letters (audited). Every route needs the `admin` scope (the app checks it for all of /admin/*).
 */
export function registerOperatorRoutes(app: OpenAPIHono<AppEnv>, deps: { transactions: TransactionStore; deliveries: DeliveryStore; audit: AuditLog; horizonSeconds: number }): void {
  const tags = ['Operations: async transactions'];
  const security = [{ bearerAuth: [] }];

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/transactions',
      tags,
      security,
      summary: 'List async requests, newest first',
      request: {
        query: z
          .object({
            state: z.enum(['received', 'pending', 'delivered', 'failed']).optional(),
            sender_id: z.string().optional(),
            domain: z.string().optional(),
            ...PageQuery,
          })
          .strict(),
      },
      responses: { 200: { description: 'A page of transactions; pass `before` = the last id for the next page', content: { 'application/json': { schema: z.object({ items: z.array(Transaction) }) } } }, ...adminParamProblems, ...adminProblems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await deps.transactions.list({ state: q.state, senderId: q.sender_id, domain: q.domain, beforeId: q.before, limit: q.limit });
      return c.json({ items: rows.map(transactionView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/transactions/{id}',
      tags,
      security,
      summary: 'One async request with its callback deliveries',
      request: { params: IdParam },
      responses: {
        200: { description: 'The transaction', content: { 'application/json': { schema: Transaction.extend({ deliveries: z.array(Delivery) }) } } },
        ...adminParamProblems,
        404: problem('No such transaction'),
        ...adminProblems,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const row = await deps.transactions.get(id);
      if (!row) throw new DciError(404, 'err.request.not_found', `no transaction ${id}`);
      const deliveries = await deps.deliveries.list({ transactionId: id, limit: 500 });
      return c.json({ ...transactionView(row), deliveries: deliveries.map(deliveryView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/deliveries',
      tags,
      security,
      summary: 'List callback deliveries, newest first (state=dead lists the dead letters)',
      request: { query: z.object({ state: z.enum(['pending', 'delivered', 'dead', 'gone']).optional(), partner_id: z.string().optional(), ...PageQuery }).strict() },
      responses: { 200: { description: 'A page of deliveries', content: { 'application/json': { schema: z.object({ items: z.array(Delivery) }) } } }, ...adminParamProblems, ...adminProblems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await deps.deliveries.list({ state: q.state, partnerId: q.partner_id, beforeId: q.before, limit: q.limit });
      return c.json({ items: rows.map(deliveryView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/deliveries/{id}',
      tags,
      security,
      summary: 'One callback delivery with every attempt and what the receiver answered',
      request: { params: IdParam },
      responses: {
        200: { description: 'The delivery', content: { 'application/json': { schema: Delivery.extend({ attempt_log: z.array(Attempt) }) } } },
        ...adminParamProblems,
        404: problem('No such delivery'),
        ...adminProblems,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const row = await deps.deliveries.get(id);
      if (!row) throw new DciError(404, 'err.request.not_found', `no delivery ${id}`);
      const attempts = await deps.deliveries.attempts(id);
      return c.json({ ...deliveryView(row), attempt_log: attempts.map((a) => ({ ...a, started_at: iso(a.started_at)! })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/deliveries/{id}/replay',
      tags,
      security,
      summary: 'Replay a dead-lettered (or gone) callback: due now, with a fresh retry horizon',
      request: { params: IdParam },
      responses: {
        200: { description: 'The delivery, pending again', content: { 'application/json': { schema: Delivery } } },
        ...adminParamProblems,
        404: problem('No such delivery'),
        409: problem('The delivery is not dead or gone, or is a notify of a subscription that has ended'),
        ...adminProblems,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const actorId = c.get('auth').partnerId;
      const result = await deps.deliveries.replay(id, deps.horizonSeconds, (tx) =>
        deps.audit.changedWithin(tx, { actorId, domain: 'admin', action: 'delivery.replay', recordIds: [String(id)] }),
      );
      if ('replayed' in result) {
        c.get('log').info({ delivery: id, operator: actorId }, 'dead-lettered callback replayed');
        return c.json(deliveryView(result.replayed), 200);
      }
      if (result.refused === 'missing') throw new DciError(404, 'err.request.not_found', `no delivery ${id}`);
      if (result.refused === 'subscription-ended') throw new DciError(409, 'err.request.bad', `delivery ${id} is a notify and its subscription has ended; it is not sent again`);
      throw new DciError(409, 'err.request.bad', `delivery ${id} is ${result.state}; only dead or gone deliveries are replayed`);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/queues',
      tags,
      security,
      summary: 'How many requests and callbacks are in each state (the backlog)',
      responses: {
        200: {
          description: 'Counts by state',
          content: { 'application/json': { schema: z.object({ transactions: z.record(z.string(), z.number()), deliveries: z.record(z.string(), z.number()) }) } },
        },
        ...adminProblems,
      },
    }),
    async (c) => c.json({ transactions: await deps.transactions.countByState(), deliveries: await deps.deliveries.countByState() }, 200),
  );
}
