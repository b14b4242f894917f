import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { requireScope } from '../../auth/bearer.js';
import type { AccessTokens } from '../../auth/tokens.js';
import type { AppEnv } from '../../http/context.js';
import { DciError } from '../../http/errors.js';
import { documentDciEndpoint } from '../../ops/openapi.js';
import { ackBody } from '../envelope/builder.js';
import { requestStatusOf } from '../envelope/codes.js';
import type { DciRequestReader } from '../envelope/read-request.js';
import { inputValidator } from '../envelope/schemas.js';
import type { CallbackRelay } from './callback-relay.js';
import type { OutboundStore } from './outbound-store.js';

const validateCallbackEnvelope = inputValidator('callback-envelope.schema.json');

interface ReceiverSpec {
  /** The action of the request this callback answers. */
  requestAction: 'search' | 'txn-status' | 'subscribe';
  /** header.action values accepted (DIGEST 11.2 #15: samples echo the request's action). */
  actions: readonly string[];
}

async function receive(c: Context<AppEnv>, outbound: OutboundStore, reader: DciRequestReader, spec: ReceiverSpec, relay?: CallbackRelay): Promise<Response> {
  const body = await reader.read(c, { validate: validateCallbackEnvelope });
  const header = body.header as { message_id: string; action: string; status: string; sender_id?: string };
  const message = body.message as { transaction_id: string; correlation_id: string };
  const senderId = c.get('auth').partnerId;
  if (!spec.actions.includes(header.action.toLowerCase())) {
    throw new DciError(400, 'err.request.bad', `header.action must be ${spec.actions[0]} on this endpoint`);
  }
  const status = requestStatusOf(header.status);
  if (!status) throw new DciError(400, 'err.request.bad', 'header.status must be one of rcvd, pdng, succ, rjct');
  const request = await outbound.match(senderId, spec.requestAction, message.transaction_id, message.correlation_id);
  if (!request) {
    throw new DciError(404, 'err.request.not_found', `no ${spec.requestAction} request sent to ${senderId} matches transaction_id and correlation_id`);
  }
  const stored = await outbound.storeCallback(request, { senderId, messageId: header.message_id, action: header.action.toLowerCase(), status, envelope: { header, message } });
  // Gateway mode: the answer to a search we forwarded goes on to the partner who asked us, once per message, and
  // before the ACK: a message stored but not relayed (a crash in between) is relayed when the peer sends it again.
  if (!stored.relayed && request.relay_transaction_id !== null && relay) {
    await relay.relay(request, stored.id, { header: { ...header, status }, message: message as unknown as Record<string, unknown> });
  }
  // An empty correlation_id (matched by the transaction_id) is answered with the one the peer gave for it, else ours.
  return c.json(ackBody(message.correlation_id || (request.correlation_id ?? message.transaction_id)), 200);
}

/** The client side of the async protocol for one domain: where peer registries deliver on-search, txn/on-status and on-subscribe. */
export function registerCallbackReceivers(
  app: OpenAPIHono<AppEnv>,
  deps: { domain: string; tokens: AccessTokens; outbound: OutboundStore; reader: DciRequestReader; relay?: CallbackRelay },
): void {
  const base = `/${deps.domain}/registry`;
  for (const [path, action, scope] of [
    ['on-search', 'on-search', 'on-search'],
    ['txn/on-status', 'txn-on-status', 'txn-on-status'],
    ['on-subscribe', 'on-subscribe', 'on-subscribe'],
  ] as const) {
    documentDciEndpoint(app, {
      path: `${base}/${path}`,
      tag: 'Client side: callbacks from peer registries',
      summary: `Receive ${action} for a request this server sent`,
      description:
        `Where a peer registry delivers the answer to a request this gateway sent it. Matched by transaction_id and correlation_id; ` +
        `stored once per sender and message_id (a redelivery is acknowledged again, not applied twice). Scope: ${deps.domain}:registry.${scope}.`,
      request: 'callback-envelope.schema.json',
      responses: { 200: { description: 'Received: the ACK', schema: 'ack.schema.json' } },
    });
  }
  app.post(`${base}/on-search`, requireScope(deps.tokens, deps.domain, 'on-search'), (c) =>
    receive(c, deps.outbound, deps.reader, { requestAction: 'search', actions: ['on-search', 'search'] }, deps.relay),
  );
  app.post(`${base}/txn/on-status`, requireScope(deps.tokens, deps.domain, 'txn-on-status'), (c) =>
    receive(c, deps.outbound, deps.reader, { requestAction: 'txn-status', actions: ['txn-on-status', 'txn-status'] }),
  );
  app.post(`${base}/on-subscribe`, requireScope(deps.tokens, deps.domain, 'on-subscribe'), (c) =>
    receive(c, deps.outbound, deps.reader, { requestAction: 'subscribe', actions: ['on-subscribe', 'subscribe'] }),
  );
}
