import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import type { SigningKey } from '../src/dci/signing/keys.js';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { parseDciSignature } from './support/signatures.js';
import { type GatewayPair, startGatewayPair } from './support/gateway.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * Gateway mode, async: an async CRVS search is acknowledged by the gateway, forwarded to the national CRVS (a second
 * instance of this server), and the CRVS's on-search is relayed to the caller as the gateway's own on-search.
 */

let pair: GatewayPair;
let crvsDb: Database;
let gatewayDb: Database;
let gateway: TestServer;
let receiver: CallbackReceiver;
let gatewayKey: SigningKey;
let uin: string;

beforeAll(async () => {
  receiver = await CallbackReceiver.start();
  pair = await startGatewayPair({
    env: { WORKER_POLL_MS: '50' },
    crvsPartners: (gw) => [
      {
        id: 'gateway-a',
        secret: 'gateway-a-secret',
        scopes: ['crvs:registry.search'],
        signature: 'required',
        jwks: { keys: [gw.key.publicJwk] },
        callbacks: { origins: [gw.url], allowPrivateNetwork: true, auth: { tokenUrl: `${gw.url}/oauth2/client/token`, clientId: 'national-crvs', clientSecret: 'national-crvs-secret' } },
      },
    ],
    gatewayPartners: (crvsUrl) => [
      { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.on-search'], signature: 'required', jwksUri: `${crvsUrl}/.well-known/jwks.json` },
      { id: 'caller', secret: 'caller-secret-1', scopes: ['crvs:registry.search', 'crvs:registry.txn-status'], callbacks: { origins: [receiver.url], allowPrivateNetwork: true }, fields: ['name', 'birth_date'] },
    ],
  });
  ({ crvsDb, gatewayDb, gateway, gatewayKey } = pair);
  const [row] = await crvsDb.query(`select ${idColumns()}, x.individual_id from identifiers x where x.id_type = 'UIN' order by x.id limit 1`);
  uin = clearValue(row);
  await crvsDb.query(`update individuals set given_name = 'Upstream-Only' where id = $1`, [row.individual_id]);
});
afterAll(async () => {
  await pair?.close();
  await receiver?.close();
});

describe('gateway mode: async search forwarded upstream', () => {
  it("relays the upstream CRVS's on-search to the caller as the gateway's own, projected and signed", async () => {
    const token = await gateway.token({ clientId: 'caller', secret: 'caller-secret-1' });
    const res = await postJson(
      `${gateway.url}/crvs/registry/search`,
      token,
      searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-1')], { sender_id: 'caller', sender_uri: `${receiver.url}/on-search` }),
    );
    expect(res.status).toBe(202);
    const correlationId = res.json.message.correlation_id;
    const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 15_000, 'relayed on-search');
    expect(callback.body.header).toMatchObject({ action: 'on-search', status: 'succ', sender_id: 'dci-gateway', receiver_id: 'caller' });
    expect(parseDciSignature(callback.body.signature).kidId).toBe(`dci-gateway|${gatewayKey.kid}|ed25519`);
    const [item] = callback.body.message.search_response;
    expect(item.reference_id).toBe('r-1');
    const [record] = item.data.reg_records;
    expect(Object.keys(record).filter((k) => !k.startsWith('@')).sort()).toEqual(['birth_date', 'name']);
    expect(record.name.given_name).toBe('Upstream-Only');
    expect(callback.text).not.toContain(uin);
    // The upstream saw a request from the gateway, and each side audited its disclosure.
    expect((await crvsDb.query(`select partner_id from audit_log order by id desc limit 1`))[0]).toEqual({ partner_id: 'gateway-a' });
    expect((await gatewayDb.query(`select partner_id, action from audit_log order by id desc limit 1`))[0]).toEqual({ partner_id: 'caller', action: 'search' });
  });

  it('tells the caller with a signed on-search refused as a whole when the upstream refuses the search, and txn status says why', async () => {
    await withFakeUpstream({ status: 403, body: errAck('err.request.forbidden', 'no searches today') }, async ({ upstream, search, txnStatus }) => {
      const { correlationId, transactionId } = await search('r-refused');
      const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 15_000, 'the rejection on-search');
      expect(upstream.requests).toHaveLength(1);
      expect(callback.body.header).toMatchObject({
        action: 'on-search',
        status: 'rjct',
        status_reason_message: 'the request failed: the upstream national-crvs refused it: err.request.forbidden: no searches today',
        completed_count: 0,
        total_count: 1,
        receiver_id: 'caller',
      });
      expect(callback.body.message).toEqual({ transaction_id: transactionId, correlation_id: correlationId, search_response: [] });
      expect(parseDciSignature(callback.body.signature).kidId).toBe(`dci-gateway|${gatewayKey.kid}|ed25519`);
      expect(await txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-refused', status: 'rjct', status_reason_message: callback.body.header.status_reason_message })]);
    });
  });

  it('sends the search again while the upstream answers 503, and tells the caller once the attempts are used up', async () => {
    await withFakeUpstream({ status: 503, body: errAck('err.service.unavailable', 'down for maintenance') }, async ({ upstream, server, search, txnStatus, untilOutbound }) => {
      const { correlationId } = await search('r-down');
      await waitFor(() => upstream.requests.length === 1 || undefined, 10_000, 'the first send');
      // Not failed: still received, claimed once, to be sent again when its lease runs out.
      await untilOutbound('refused');
      const queued = async () => (await server.db.query(`select t.state, q.attempts from dci_transactions t left join dci_execution_queue q on q.transaction_id = t.id where t.correlation_id = $1`, [correlationId]))[0];
      expect(await queued()).toEqual({ state: 'received', attempts: 1 });
      expect(await txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-down', status: 'rcvd' })]);
      expect(receiver.forCorrelation(correlationId)).toEqual([]);

      // Its lease run out as after the fifth five-minute wait: the fifth send is the last.
      await server.db.query(`update dci_execution_queue set attempts = 4, lease_until = now() - interval '1 second'`);
      const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 15_000, 'the rejection on-search');
      expect(upstream.requests).toHaveLength(2);
      expect(callback.body.header).toMatchObject({
        action: 'on-search',
        status: 'rjct',
        status_reason_message: 'the request failed: the upstream national-crvs did not take it: err.service.unavailable: down for maintenance (5 attempts)',
      });
      expect(await queued()).toEqual({ state: 'failed', attempts: null });
    });
  });

  it('fails a forwarded search whose upstream ACKed but never answered within UPSTREAM_ANSWER_TIMEOUT_SECONDS, tells the caller, and relays no late answer', async () => {
    const ack = { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: 'up-silent' } };
    await withFakeUpstream({ status: 200, body: ack }, async (ctx) => {
      const { correlationId, transactionId } = await ctx.search('r-silent');
      const outbound = async () => (await ctx.server.db.query(`select state from outbound_requests`)).map((r) => r.state);
      await ctx.untilOutbound('acknowledged');
      expect(await ctx.txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-silent', status: 'pdng' })]);

      // Within the timeout nothing happens; past it, the sweep (run at each start, then every minute) fails it.
      await ctx.restart({ UPSTREAM_ANSWER_TIMEOUT_SECONDS: '3600' });
      expect(await outbound()).toEqual(['acknowledged']);
      expect(receiver.forCorrelation(correlationId)).toEqual([]);
      await ctx.server.db.query(`update outbound_requests set created_at = now() - interval '2 hours'`);
      await ctx.restart({ UPSTREAM_ANSWER_TIMEOUT_SECONDS: '3600' });
      const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'the rejection on-search');
      expect(callback.body.header).toMatchObject({ action: 'on-search', status: 'rjct', status_reason_message: 'the request failed: the upstream national-crvs sent no answer within 3600 s', completed_count: 0 });
      expect(callback.body.message).toEqual({ transaction_id: transactionId, correlation_id: correlationId, search_response: [] });
      expect(await outbound()).toEqual(['unanswered']);
      expect(await ctx.txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-silent', status: 'rjct', status_reason_message: callback.body.header.status_reason_message })]);

      // The upstream's answer arriving after that is taken (ACK) but not relayed: the caller was told it failed.
      const late = await postJson(`${ctx.server.url}/crvs/registry/on-search`, await ctx.server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' }), {
        header: { version: '1.0.0', message_id: 'late-1', message_ts: new Date().toISOString(), action: 'on-search', status: 'succ', sender_id: 'national-crvs', total_count: 1, completed_count: 1 },
        message: { transaction_id: await ctx.forwardedTransactionId(), correlation_id: 'up-silent', search_response: [{ reference_id: 'r-silent', timestamp: new Date().toISOString(), status: 'succ', data: { reg_records: [] } }] },
      });
      expect(late.status).toBe(200);
      expect(late.json.message.ack_status).toBe('ACK');
      const deliveries = await ctx.server.db.query(`select d.action from callback_deliveries d join dci_transactions t on t.id = d.transaction_id where t.correlation_id = $1`, [correlationId]);
      expect(deliveries).toEqual([{ action: 'on-search' }]);
      expect(receiver.forCorrelation(correlationId)).toHaveLength(1);
    });
  });

  it('keeps the search pending while the upstream sends pdng pages, settles it on the final page, and relays a redelivered page it had stored but not relayed', async () => {
    const ack = { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: 'up-pages' } };
    await withFakeUpstream({ status: 200, body: ack }, async (ctx) => {
      const { correlationId } = await ctx.search('r-pages');
      await ctx.untilOutbound('acknowledged');
      const transactionId = await ctx.forwardedTransactionId();
      const page = (messageId: string, status: string) => upstreamCallback(ctx.server, { messageId, status, transactionId, correlationId: 'up-pages', referenceId: 'r-pages' });
      const state = () => ctx.requestState(correlationId);

      expect((await page('page-1', 'pdng')).status).toBe(200);
      await waitFor(async () => ((await deliveriesOf(ctx.server, correlationId)).every((d) => d.state === 'delivered') || undefined), 10_000, 'page 1 delivered');
      expect(receiver.forCorrelation(correlationId).map((r) => r.body.header.status)).toEqual(['pdng']);
      // Delivered, but not the answer's end: still pending, and txn status says so.
      expect(await state()).toBe('pending');
      expect(await ctx.txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-pages', status: 'pdng' })]);

      // The final page, stored as if the gateway had died before relaying it: the upstream sends it again.
      const [outbound] = await ctx.server.db.query(`select id from outbound_requests`);
      await ctx.server.db.query(
        `insert into received_callbacks (outbound_request_id, sender_id, message_id, action, status, envelope) values ($1, 'national-crvs', 'page-2', 'on-search', 'succ', '{}')`,
        [outbound.id],
      );
      await ctx.server.db.query(`update outbound_requests set state = 'answered'`);
      expect((await page('page-2', 'succ')).status).toBe(200);
      await waitFor(async () => ((await state()) === 'delivered' ? true : undefined), 10_000, 'the final page delivered');
      expect(receiver.forCorrelation(correlationId).map((r) => r.body.header.status)).toEqual(['pdng', 'succ']);
      // Sent a third time, it is relayed no more.
      expect((await page('page-2', 'succ')).status).toBe(200);
      expect(await deliveriesOf(ctx.server, correlationId)).toHaveLength(2);
    });
  });

  it('tells a caller who had pages relayed when the upstream sends no final one in time', async () => {
    const ack = { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: 'up-stalled' } };
    await withFakeUpstream({ status: 200, body: ack }, async (ctx) => {
      const { correlationId } = await ctx.search('r-stalled');
      await ctx.untilOutbound('acknowledged');
      const transactionId = await ctx.forwardedTransactionId();
      expect((await upstreamCallback(ctx.server, { messageId: 'stalled-1', status: 'pdng', transactionId, correlationId: 'up-stalled', referenceId: 'r-stalled' })).status).toBe(200);
      await waitFor(() => receiver.forCorrelation(correlationId).length === 1 || undefined, 10_000, 'page 1');
      await ctx.server.db.query(`update outbound_requests set created_at = now() - interval '2 hours'`);
      await ctx.restart({ UPSTREAM_ANSWER_TIMEOUT_SECONDS: '3600' });
      await waitFor(() => receiver.forCorrelation(correlationId).length === 2 || undefined, 10_000, 'the rejection');
      const [, last] = receiver.forCorrelation(correlationId);
      expect(last.body.header).toMatchObject({ status: 'rjct', status_reason_message: 'the request failed: the upstream national-crvs sent no final answer (1 page relayed) within 3600 s' });
      expect((await deliveriesOf(ctx.server, correlationId)).map((d) => d.page)).toEqual([1, 2]);
    });
  });

  it('relays only the answers of the send answered first when a search sent twice (a retry after a timeout) is answered for both', async () => {
    const ack = { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: 'up-second' } };
    await withFakeUpstream({ status: 200, body: ack }, async (ctx) => {
      const { correlationId } = await ctx.search('r-twice');
      await ctx.untilOutbound('acknowledged');
      const transactionId = await ctx.forwardedTransactionId();
      // As a retry after a timeout leaves it: the first send got no ACK in time (refused, no correlation id) and the
      // second was acknowledged; the upstream took both and answers each under its own correlation id.
      await ctx.addSend('first-send', { correlationId: null, state: 'refused', earlier: true });
      const answer = (messageId: string, status: string, upstreamCorrelation: string) =>
        upstreamCallback(ctx.server, { messageId, status, transactionId, correlationId: upstreamCorrelation, referenceId: 'r-twice' });
      const outboundStates = async () => (await ctx.server.db.query(`select message_id, state from outbound_requests order by created_at`)).map((r) => `${r.message_id}:${r.state}`);

      expect((await answer('first-page-1', 'pdng', 'up-first')).status).toBe(200);
      await waitFor(() => receiver.forCorrelation(correlationId).length === 1 || undefined, 10_000, 'the first page');
      // An answer shows the upstream took the send after all.
      expect((await outboundStates())[0]).toBe('first-send:acknowledged');

      // The second send's pages and final answer are taken (ACK, stored) but not relayed: the caller is following the first's.
      for (const [messageId, status] of [['second-page-1', 'pdng'], ['second-final', 'succ']]) {
        const res = await answer(messageId, status, 'up-second');
        expect(res.status).toBe(200);
        expect(res.json.message.ack_status).toBe('ACK');
      }
      expect((await ctx.server.db.query(`select count(*)::int as n from received_callbacks`))[0].n).toBe(3);
      expect((await deliveriesOf(ctx.server, correlationId)).map((d) => d.page)).toEqual([1]);
      expect(await ctx.txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-twice', status: 'pdng' })]);

      expect((await answer('first-final', 'succ', 'up-first')).status).toBe(200);
      await waitFor(async () => ((await ctx.requestState(correlationId)) === 'delivered' || undefined), 10_000, 'the final answer delivered');
      expect(receiver.forCorrelation(correlationId).map((r) => r.body.header.status)).toEqual(['pdng', 'succ']);
      expect((await deliveriesOf(ctx.server, correlationId)).map((d) => d.page)).toEqual([1, 2]);
      expect(await ctx.txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-twice', status: 'succ' })]);
    });
  });

  it('settles a search sent twice once one send has been answered, however long the other goes unanswered', async () => {
    const ack = { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: 'up-answering' } };
    await withFakeUpstream({ status: 200, body: ack }, async (ctx) => {
      const { correlationId } = await ctx.search('r-one-of-two');
      await ctx.untilOutbound('acknowledged');
      const transactionId = await ctx.forwardedTransactionId();
      // A second send the upstream acknowledged and will never answer (it answers the transaction once).
      await ctx.addSend('silent-send', { correlationId: 'up-silent-send', state: 'acknowledged' });
      const state = () => ctx.requestState(correlationId);
      expect((await upstreamCallback(ctx.server, { messageId: 'only-answer', status: 'succ', transactionId, correlationId: 'up-answering', referenceId: 'r-one-of-two' })).status).toBe(200);
      await waitFor(async () => ((await state()) === 'delivered' || undefined), 10_000, 'the answer delivered and the request settled');
      expect(await ctx.txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-one-of-two', status: 'succ' })]);

      // Past the timeout the sweep gives up on the silent send, and the caller, already answered, is told nothing more.
      await ctx.server.db.query(`update outbound_requests set created_at = now() - interval '2 hours'`);
      await ctx.restart({ UPSTREAM_ANSWER_TIMEOUT_SECONDS: '3600' });
      await waitFor(async () => ((await ctx.server.db.query(`select state from outbound_requests where message_id = 'silent-send'`))[0].state === 'unanswered' || undefined), 10_000, 'the sweep');
      expect(await state()).toBe('delivered');
      expect(receiver.forCorrelation(correlationId).map((r) => r.body.header.status)).toEqual(['succ']);
      expect(await deliveriesOf(ctx.server, correlationId)).toHaveLength(1);
    });
  });

  it('settles a search whose upstream answered, and had its answer delivered, before its ACK came back', async () => {
    const ack = { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: 'up-quick' } };
    await withFakeUpstream({ status: 200, body: ack }, async (ctx) => {
      // The upstream sends its final on-search at once and its ACK only after that has been relayed and delivered.
      ctx.upstream.respondWith((req) => {
        void upstreamCallback(ctx.server, { messageId: 'quick-answer', status: 'succ', transactionId: req.body.message.transaction_id, correlationId: 'up-quick', referenceId: 'r-quick' });
        return { status: 200, body: ack, delayMs: 1500 };
      });
      const { correlationId } = await ctx.search('r-quick');
      await waitFor(() => receiver.forCorrelation(correlationId).length === 1 || undefined, 10_000, 'the answer relayed before the ACK');
      await ctx.untilOutbound('answered');
      await waitFor(async () => ((await ctx.requestState(correlationId)) === 'delivered' || undefined), 10_000, 'the request settled');
      expect(await ctx.txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-quick', status: 'succ' })]);
      expect(receiver.forCorrelation(correlationId).map((r) => r.body.header.status)).toEqual(['succ']);
    });
  });

  it('says in txn status that an item the upstream rejected before its ACK came back was rejected, as the relayed on-search did', async () => {
    const ack = { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: 'up-quick-rjct' } };
    await withFakeUpstream({ status: 200, body: ack }, async (ctx) => {
      const rejected = { status: 'rjct', status_reason_code: 'rjct.search.too_many_records_found', status_reason_message: 'narrow it', data: undefined };
      ctx.upstream.respondWith((req) => {
        void upstreamCallback(ctx.server, { messageId: 'quick-rjct', status: 'succ', transactionId: req.body.message.transaction_id, correlationId: 'up-quick-rjct', referenceId: 'r-quick-rjct', item: rejected });
        return { status: 200, body: ack, delayMs: 1500 };
      });
      const { correlationId } = await ctx.search('r-quick-rjct');
      const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length === 1 && receiver.forCorrelation(correlationId), 10_000, 'the answer relayed before the ACK');
      expect(callback.body.message.search_response[0]).toMatchObject({ reference_id: 'r-quick-rjct', status: 'rjct', status_reason_code: 'rjct.search.too_many_records_found' });
      await ctx.untilOutbound('answered');
      await waitFor(async () => ((await ctx.requestState(correlationId)) === 'delivered' || undefined), 10_000, 'the request settled');
      expect(await ctx.txnStatus(correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-quick-rjct', status: 'rjct', status_reason_code: 'rjct.search.too_many_records_found' })]);
    });
  });

  it('numbers pages that arrive together one after another', async () => {
    const ack = { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: 'up-burst' } };
    await withFakeUpstream({ status: 200, body: ack }, async (ctx) => {
      const { correlationId } = await ctx.search('r-burst');
      await ctx.untilOutbound('acknowledged');
      const transactionId = await ctx.forwardedTransactionId();
      const sent = await Promise.all(
        [1, 2, 3, 4, 5, 6].map((n) => upstreamCallback(ctx.server, { messageId: `burst-${n}`, status: 'pdng', transactionId, correlationId: 'up-burst', referenceId: 'r-burst' })),
      );
      expect(sent.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect((await deliveriesOf(ctx.server, correlationId)).map((d) => d.page).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    });
  });
});

/** The fake upstream's on-search for the gateway's forwarded search, sent as the upstream would (its own token). */
async function upstreamCallback(server: TestServer, c: { messageId: string; status: string; transactionId: string; correlationId: string; referenceId: string; item?: Record<string, unknown> }) {
  return postJson(`${server.url}/crvs/registry/on-search`, await server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' }), {
    header: { version: '1.0.0', message_id: c.messageId, message_ts: new Date().toISOString(), action: 'on-search', status: c.status, sender_id: 'national-crvs', total_count: 1, completed_count: c.status === 'pdng' ? 0 : 1 },
    message: {
      transaction_id: c.transactionId,
      correlation_id: c.correlationId,
      search_response: [{ reference_id: c.referenceId, timestamp: new Date().toISOString(), status: 'succ', data: { reg_records: [] }, ...c.item }],
    },
  });
}

async function deliveriesOf(server: TestServer, correlationId: string): Promise<{ state: string; page: number }[]> {
  return server.db.query(`select d.state, d.page from callback_deliveries d join dci_transactions t on t.id = d.transaction_id where t.correlation_id = $1 order by d.id`, [correlationId]);
}

function errAck(code: string, message: string) {
  return { message: { ack_status: 'ERR', timestamp: new Date().toISOString(), correlation_id: 'up-1', error: { code, message } } };
}

interface FakeUpstreamGateway {
  upstream: CallbackReceiver;
  server: TestServer;
  /** Stops the gateway and starts it again on its database (its start runs the minute's sweep at once). */
  restart(env?: Record<string, string>): Promise<void>;
  search(referenceId: string): Promise<{ correlationId: string; transactionId: string }>;
  /** The transaction_id the gateway sent its first search upstream under (the upstream's answers name it). */
  forwardedTransactionId(): Promise<string>;
  /** Waits until the first request sent upstream is in this state. */
  untilOutbound(state: string): Promise<void>;
  /** Records a second send of the search, as a retry leaves it (`earlier`: made a minute before the first). */
  addSend(messageId: string, send: { correlationId: string | null; state: string; earlier?: boolean }): Promise<void>;
  /** The gateway's own request's state (dci_transactions). */
  requestState(correlationId: string): Promise<string>;
  txnStatus(correlationId: string): Promise<unknown[]>;
}

/**
 * A gateway of its own (its own database, so that the pair's gateway, which forwards to the real CRVS, takes none of
 * its requests) forwarding the CRVS domain to a fake upstream that answers every request with `answer`.
 */
async function withFakeUpstream(answer: { status: number; body: unknown }, run: (ctx: FakeUpstreamGateway) => Promise<void>): Promise<void> {
  const upstream = await CallbackReceiver.start();
  upstream.respondWith(() => answer);
  const file = pair.upstreamsFile(`fake-${answer.status}.json`, { base_url: `${upstream.url}/crvs`, signature: 'off', auth: undefined, jwks_uri: undefined });
  const db = await openTestDatabase();
  const start = (env: Record<string, string> = {}) =>
    startTestServer(
      { WORKER_POLL_MS: '50', UPSTREAMS_FILE: file, ...env },
      {
        db,
        signingKey: gatewayKey,
        partners: [
          { id: 'caller', secret: 'caller-secret-1', scopes: ['crvs:registry.search', 'crvs:registry.txn-status'], callbacks: { origins: [receiver.url], allowPrivateNetwork: true } },
          { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.on-search'] },
        ],
      },
    );
  const ctx: FakeUpstreamGateway = {
    upstream,
    server: await start(),
    async restart(env) {
      await ctx.server.close();
      ctx.server = await start(env);
    },
    async search(referenceId) {
      const envelope = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, referenceId)], { sender_id: 'caller', sender_uri: `${receiver.url}/on-search` });
      const res = await postJson(`${ctx.server.url}/crvs/registry/search`, await ctx.server.token({ clientId: 'caller', secret: 'caller-secret-1' }), envelope);
      expect(res.status).toBe(202);
      return { correlationId: res.json.message.correlation_id, transactionId: (envelope.message as { transaction_id: string }).transaction_id };
    },
    async forwardedTransactionId() {
      return (await waitFor(() => upstream.requests[0], 10_000, 'the forwarded search')).body.message.transaction_id;
    },
    async untilOutbound(state) {
      await waitFor(async () => ((await ctx.server.db.query(`select state from outbound_requests order by id limit 1`))[0]?.state === state ? true : undefined), 10_000, `the upstream request ${state}`);
    },
    async addSend(messageId, send) {
      await ctx.server.db.query(
        `insert into outbound_requests (domain, peer_id, action, message_id, transaction_id, correlation_id, request, state, relay_transaction_id, created_at)
         select domain, peer_id, action, $1, transaction_id, $2, request, $3, relay_transaction_id, created_at - $4 * interval '1 minute' from outbound_requests`,
        [messageId, send.correlationId, send.state, send.earlier ? 1 : 0],
      );
    },
    async requestState(correlationId) {
      return (await ctx.server.db.query<{ state: string }>(`select state from dci_transactions where correlation_id = $1`, [correlationId]))[0].state;
    },
    async txnStatus(correlationId) {
      const res = await postJson(`${ctx.server.url}/crvs/registry/sync/txn/status`, await ctx.server.token({ clientId: 'caller', secret: 'caller-secret-1' }), {
        header: { version: '1.0.0', message_id: `s-${randomUUID()}`, message_ts: new Date().toISOString(), action: 'txn-status', sender_id: 'caller', total_count: 1 },
        message: { transaction_id: 'status-1', txnstatus_request: { reference_id: 's-1', txn_type: 'search', attribute_type: 'correlation_id', attribute_value: correlationId } },
      });
      expect(res.status).toBe(200);
      return res.json.message.txnstatus_response.txn_status.search_response;
    },
  };
  try {
    await run(ctx);
  } finally {
    await ctx.server.close();
    await db.close();
    await upstream.close();
  }
}
