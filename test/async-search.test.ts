import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSchema, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { CallbackReceiver, freePort, waitFor } from './support/receiver.js';
import { startTestServer, type TestServer } from './support/server.js';
import { parseDciSignature, verifyDciSignatureWithPython } from './support/signatures.js';
import { clearValue, idColumns } from './support/data-keys.js';

/**
 * The async protocol over real HTTP: a partner posts /social/registry/search, gets an ACK, and a real local
 * receiver gets the on-search callbacks. Retry timings are shortened (50 ms first retry, 4 s horizon).
 */


const CALLBACK_TOKEN = 'token-the-partner-gave-us';

let server: TestServer;
let receiver: CallbackReceiver;
let tokenReceiver: CallbackReceiver;
let demoToken: string;
let adminToken: string;

beforeAll(async () => {
  receiver = await CallbackReceiver.start();
  tokenReceiver = await CallbackReceiver.start();
  server = await startTestServer(
    {
      WORKER_POLL_MS: '50',
      CALLBACK_RETRY_BASE_MS: '50',
      CALLBACK_RETRY_CAP_SECONDS: '1',
      CALLBACK_TIMEOUT_MS: '600',
      CALLBACK_HORIZON_SECONDS: '4',
      CALLBACK_MAX_MESSAGE_BYTES: '4096',
    },
    {
      partners: [
        {
          id: 'spmis-async',
          secret: 'spmis-async-secret',
          scopes: ['social:registry.search', 'social:registry.txn-status'],
          callbacks: { origins: [tokenReceiver.url], baseUrl: `${tokenReceiver.url}/dci/social`, allowPrivateNetwork: true, auth: { bearerToken: CALLBACK_TOKEN } },
        },
        { id: 'spmis-public', secret: 'spmis-public-secret', scopes: ['social:registry.search'], callbacks: { origins: ['*'], allowPrivateNetwork: false } },
        { id: 'spmis-nocallback', secret: 'spmis-nocallback-secret', scopes: ['social:registry.search'] },
        // Its search scope was withdrawn (it keeps txn status) while a search it sent still waited to be executed.
        { id: 'spmis-withdrawn', secret: 'spmis-withdrawn-secret', scopes: ['social:registry.txn-status'], callbacks: { origins: [receiver.url], allowPrivateNetwork: true } },
        { id: 'ops', secret: 'ops-secret', scopes: ['admin'] },
      ],
    },
  );
  demoToken = await server.token();
  adminToken = await server.token({ clientId: 'ops', secret: 'ops-secret' });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await tokenReceiver?.close();
});

const sqlOne = async <T = any>(text: string, params: unknown[] = []) => (await server.db.query(text, params))[0] as T;

async function someUins(n: number): Promise<string[]> {
  const rows = await server.db.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id limit $1`, [n]);
  return rows.map((r) => clearValue(r));
}

function asyncEnvelope(items: Record<string, unknown>[], header: Record<string, unknown> = {}, senderId = 'demo-spmis') {
  return searchEnvelope(items, { sender_id: senderId, sender_uri: `${receiver.url}/dci/social/registry/on-search`, ...header });
}

async function postSearch(body: unknown, token = demoToken) {
  return postJson(`${server.url}/social/registry/search`, token, body);
}

async function accepted(body: Record<string, unknown>, token = demoToken): Promise<string> {
  const res = await postSearch(body, token);
  expect(res.status).toBe(202);
  expectSchema('ack.schema.json', res.json);
  expect(res.json.message.ack_status).toBe('ACK');
  return res.json.message.correlation_id as string;
}

const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, ...(init.headers ?? {}) } });

/** The operators' view of a transaction's first callback delivery; undefined until the request has been executed. */
async function deliveryOf(correlationId: string): Promise<any> {
  const row = await sqlOne<{ id: number } | undefined>(
    'select d.id from callback_deliveries d join dci_transactions t on t.id = d.transaction_id where t.correlation_id = $1 order by d.page limit 1',
    [correlationId],
  );
  if (!row) return undefined;
  const res = await admin(`/admin/deliveries/${row.id}`);
  expect(res.status).toBe(200);
  return res.json();
}

const transactionState = async (correlationId: string) =>
  (await sqlOne<{ state: string }>('select state from dci_transactions where correlation_id = $1', [correlationId]))?.state;

describe('async search: happy path', () => {
  it('ACKs at once and calls back with the signed on-search result', async () => {
    const [uin] = await someUins(1);
    const envelope = asyncEnvelope([searchItem({ query_type: 'idtype-value', response_entity: 'Member', query: { type: 'UIN', value: uin } }, 'ref-1')]);
    const correlationId = await accepted(envelope);

    const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'on-search');
    expect(callback.path).toBe('/dci/social/registry/on-search');
    expect(callback.headers['content-type']).toBe('application/json');
    expect(callback.headers.authorization).toBeUndefined();
    expectSchema('sync-search-response.schema.json', callback.body);
    const { header, message } = callback.body;
    expect(header).toMatchObject({ action: 'on-search', status: 'succ', total_count: 1, completed_count: 1, sender_id: 'dci-gateway', receiver_id: 'demo-spmis' });
    expect(header.message_id).not.toBe((envelope.header as any).message_id);
    expect(message.transaction_id).toBe((envelope.message as any).transaction_id);
    expect(message.correlation_id).toBe(correlationId);
    const [item] = message.search_response;
    expect(item).toMatchObject({ reference_id: 'ref-1', status: 'succ', pagination: { total_count: 1 } });
    const identifiers = item.data.reg_records[0].demographic_info.identifier;
    expect(identifiers).toContainEqual(expect.objectContaining({ identifier_type: 'UIN', identifier_value: uin }));

    // Signed with the key the server publishes, verifiable by an independent (Python) canonicalisation.
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: any[] };
    const { valid, params } = verifyDciSignatureWithPython(callback.text, jwks.keys[0]);
    expect(valid).toBe(true);
    expect(params.kidId).toBe(`dci-gateway|${jwks.keys[0].kid}|ed25519`);
    expect(Number(params.expires) - Number(params.created)).toBe(300);

    await waitFor(async () => (await transactionState(correlationId)) === 'delivered', 5000, 'transaction delivered');
  });

  it('holds a partner\'s twelve callbacks in flight at once, as its cap allows, without a listener-leak warning', async () => {
    // A server of its own with a long callback timeout, and a receiver that never answers: however the fourteen
    // requests are executed (in one round or several), twelve callbacks end up held at once and two wait for a slot.
    const busyReceiver = await CallbackReceiver.start();
    const busy = await startTestServer(
      { WORKER_POLL_MS: '50', CALLBACK_TIMEOUT_MS: '10000' },
      { partners: [{ id: 'spmis-busy', secret: 'spmis-busy-secret', scopes: ['social:registry.search'], callbacks: { origins: [busyReceiver.url], allowPrivateNetwork: true, maxConcurrent: 12 } }] },
    );
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    let inFlight = 0;
    let most = 0;
    let release!: () => void;
    const twelveHeld = new Promise<void>((resolve) => (release = resolve));
    busyReceiver.respondWith(() => {
      most = Math.max(most, ++inFlight);
      if (inFlight === 12) release();
      return 'hang';
    });
    try {
      const uins = await someUins(14);
      const busyToken = await busy.token({ clientId: 'spmis-busy', secret: 'spmis-busy-secret' });
      const ids: string[] = [];
      for (const uin of uins) {
        const envelope = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_id: 'spmis-busy', sender_uri: `${busyReceiver.url}/on-search` });
        const res = await postJson(`${busy.url}/social/registry/search`, busyToken, envelope);
        expect(res.status).toBe(202);
        ids.push(res.json.message.correlation_id);
      }
      await Promise.race([twelveHeld, new Promise((r) => setTimeout(r, 8000))]);
      // Twelve held, and the other two not sent while they are: the cap.
      await new Promise((r) => setTimeout(r, 300));
      expect(most).toBe(12);
      expect(ids.filter((id) => busyReceiver.forCorrelation(id).length > 0)).toHaveLength(12);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      // Closing the receiver drops the twelve held requests, so the server's shutdown need not wait for them.
      await busyReceiver.close();
      await busy.close();
    }
  });

  it('takes no more of a slow partner\'s callbacks than their lease covers: at most 2 x 16 x its own cap of one', async () => {
    // A receiver that never answers within the 200 ms timeout, and a partner capped at one callback at a time: its
    // queue drains one timeout per callback, so a worker that claimed the default partner's share (8 x 16) would hold
    // callbacks past their lease. Failed attempts wait a minute before their retry, so only new callbacks are due.
    const slowReceiver = await CallbackReceiver.start();
    const slow = await startTestServer(
      { WORKER_POLL_MS: '50', CALLBACK_TIMEOUT_MS: '200', CALLBACK_RETRY_BASE_MS: '60000' },
      { partners: [{ id: 'spmis-slow', secret: 'spmis-slow-secret', scopes: ['social:registry.search'], callbacks: { origins: [slowReceiver.url], allowPrivateNetwork: true, maxConcurrent: 1 } }] },
    );
    slowReceiver.respondWith(() => 'hang');
    try {
      const slowToken = await slow.token({ clientId: 'spmis-slow', secret: 'spmis-slow-secret' });
      const uins = await someUins(150);
      for (let k = 0; k < uins.length; k += 10) {
        await Promise.all(
          uins.slice(k, k + 10).map(async (uin) => {
            const envelope = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_id: 'spmis-slow', sender_uri: `${slowReceiver.url}/on-search` });
            expect((await postJson(`${slow.url}/social/registry/search`, slowToken, envelope)).status).toBe(202);
          }),
        );
      }
      const leased = async () =>
        Number((await slow.db.query<{ n: number }>(`select count(*)::int as n from callback_deliveries where partner_id = 'spmis-slow' and state = 'pending' and lease_owner is not null`))[0].n);
      let most = 0;
      let attempted = 0;
      const until = Date.now() + 6000;
      while (Date.now() < until) {
        most = Math.max(most, await leased());
        await new Promise((r) => setTimeout(r, 50));
      }
      attempted = Number((await slow.db.query<{ n: number }>(`select count(*)::int as n from callback_deliveries where partner_id = 'spmis-slow' and attempts > 0`))[0].n);
      // The first 16 went to the dispatcher straight from execution; more were claimed once those had timed out.
      expect(attempted).toBeGreaterThan(16);
      expect(most).toBeGreaterThanOrEqual(16);
      expect(most).toBeLessThanOrEqual(32);
    } finally {
      await slowReceiver.close();
      await slow.close();
    }
  });

  it('sends a partner its callback bearer token, to its registered base when sender_uri is absent', async () => {
    const token = await server.token({ clientId: 'spmis-async', secret: 'spmis-async-secret' });
    const [uin] = await someUins(1);
    const envelope = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_id: 'spmis-async' });
    const correlationId = await accepted(envelope, token);
    const [callback] = await waitFor(() => tokenReceiver.forCorrelation(correlationId).length > 0 && tokenReceiver.forCorrelation(correlationId));
    expect(callback.path).toBe('/dci/social/registry/on-search');
    expect(callback.headers.authorization).toBe(`Bearer ${CALLBACK_TOKEN}`);
  });

  it('pages a large answer into several on-search messages: pdng until the last, which is succ', async () => {
    const uins = await someUins(6);
    const items = uins.map((uin, i) => searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: uin } }, `page-ref-${i}`));
    const correlationId = await accepted(asyncEnvelope(items));
    await waitFor(async () => (await transactionState(correlationId)) === 'delivered', 10_000, 'all pages delivered');

    const pages = receiver.forCorrelation(correlationId).map((r) => r.body);
    expect(pages.length).toBeGreaterThan(1);
    const byCompleted = [...pages].sort((a, b) => a.header.completed_count - b.header.completed_count);
    byCompleted.forEach((p, i) => {
      expect(p.header.total_count).toBe(6);
      expect(p.header.status).toBe(i === byCompleted.length - 1 ? 'succ' : 'pdng');
    });
    expect(byCompleted.at(-1).header.completed_count).toBe(6);
    const refs = pages.flatMap((p) => p.message.search_response.map((r: any) => r.reference_id)).sort();
    expect(refs).toEqual(items.map((i) => i.reference_id).sort());
    expect(new Set(pages.map((p) => p.header.message_id)).size).toBe(pages.length);
  });
});

describe('async search: delivery failures', () => {
  it('keeps every on-search message within CALLBACK_MAX_MESSAGE_BYTES as sent, header and signature included', async () => {
    const uins = await someUins(12);
    const items = uins.map((uin, i) => searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, `size-ref-${i}`));
    const correlationId = await accepted(asyncEnvelope(items));
    await waitFor(async () => (await transactionState(correlationId)) === 'delivered', 10_000, 'all pages delivered');

    const messages = receiver.forCorrelation(correlationId);
    expect(messages.length).toBeGreaterThan(1);
    // A receiver with this body limit (ours: MAX_BODY_BYTES, 413 above it) takes every one of them.
    for (const m of messages) expect(Buffer.byteLength(m.text)).toBeLessThanOrEqual(4096);
    const refs = messages.flatMap((m) => m.body.message.search_response.map((r: any) => r.reference_id)).sort();
    expect(refs).toEqual(items.map((i) => i.reference_id).sort());
    expect(messages.flatMap((m) => m.body.message.search_response).every((r: any) => r.status === 'succ' && r.data.reg_records.length === 1)).toBe(true);
  });

  it("delivers a paged answer's pages in order, each once the one before was taken, even when the first is refused", async () => {
    const uins = await someUins(6);
    const items = uins.map((uin, i) => searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: uin } }, `order-ref-${i}`));
    const taken: number[] = [];
    let refusedFirst = false;
    receiver.respondWith((req) => {
      if (req.body?.header?.status === 'pdng' && !refusedFirst) {
        refusedFirst = true;
        return { status: 503, body: { message: { ack_status: 'ERR', timestamp: new Date().toISOString(), error: { code: 'err.service.unavailable', message: 'busy' } } } };
      }
      taken.push(req.body?.header?.completed_count);
      return { status: 200, body: { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: req.body?.message?.correlation_id } } };
    });
    try {
      const correlationId = await accepted(asyncEnvelope(items));
      await waitFor(async () => (await transactionState(correlationId)) === 'delivered', 10_000, 'all pages delivered');
      const sent = receiver.forCorrelation(correlationId).map((r) => r.body.header);
      expect(sent.length).toBeGreaterThan(2);
      // The first page twice (refused, then taken); no later page sent before the one before it was taken.
      expect(sent[0].completed_count).toBe(sent[1].completed_count);
      expect(sent.slice(1).map((h) => h.completed_count)).toEqual(taken);
      expect(taken).toEqual([...taken].sort((a, b) => a - b));
      expect(new Set(taken).size).toBe(taken.length);
      expect(sent.at(-1)).toMatchObject({ status: 'succ', completed_count: 6 });
      expect(sent.slice(0, -1).every((h) => h.status === 'pdng')).toBe(true);
    } finally {
      receiver.acknowledgeAll();
    }
  });

  it('retries after the receiver answers 500, with the same message, until it is accepted', async () => {
    let failures = 0;
    receiver.respondWith((req) => (req.path.includes('retry-500') && failures++ < 2 ? { status: 500, body: { error: 'boom' } } : CallbackReceiver.ack(req)));
    try {
      const [uin] = await someUins(1);
      const correlationId = await accepted(
        searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_uri: `${receiver.url}/retry-500/on-search` }),
      );
      await waitFor(async () => (await transactionState(correlationId)) === 'delivered', 10_000, 'delivered after retries');
      const received = receiver.forCorrelation(correlationId);
      expect(received).toHaveLength(3);
      expect(new Set(received.map((r) => r.body.header.message_id)).size).toBe(1);
      const delivery = await deliveryOf(correlationId);
      expect(delivery.state).toBe('delivered');
      expect(delivery.attempts).toBe(3);
      expect(delivery.attempt_log.map((a: any) => a.http_status)).toEqual([500, 500, 200]);
      expect(delivery.attempt_log[0].error).toBe('receiver answered HTTP 500');
    } finally {
      receiver.acknowledgeAll();
    }
  });

  it('retries while the receiver is unreachable and delivers once it listens', async () => {
    const port = await freePort();
    const [uin] = await someUins(1);
    const correlationId = await accepted(
      searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_uri: `http://127.0.0.1:${port}/late/on-search` }),
    );
    await waitFor(async () => ((await deliveryOf(correlationId))?.attempts >= 2 ? true : undefined), 5000, 'two failed attempts');
    const failed = await deliveryOf(correlationId);
    expect(failed.state).toBe('pending');
    expect(failed.last_error).toMatch(/ECONNREFUSED/);
    const late = await CallbackReceiver.start(port);
    try {
      await waitFor(() => late.forCorrelation(correlationId).length > 0, 5000, 'delivery to the late receiver');
      await waitFor(async () => (await transactionState(correlationId)) === 'delivered');
    } finally {
      await late.close();
    }
  });

  it('gives a hanging receiver up after the timeout without holding up other partners', async () => {
    const hanging = await CallbackReceiver.start();
    hanging.respondWith(() => 'hang');
    try {
      const [uin, other] = await someUins(2);
      const stuck = await accepted(
        searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_uri: `${hanging.url}/on-search` }),
      );
      await waitFor(() => hanging.forCorrelation(stuck).length > 0, 5000, 'the hanging receiver was called');
      const token = await server.token({ clientId: 'spmis-async', secret: 'spmis-async-secret' });
      const t0 = Date.now();
      const prompt = await accepted(searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: other } })], { sender_id: 'spmis-async' }), token);
      await waitFor(() => tokenReceiver.forCorrelation(prompt).length > 0, 5000, 'the other partner callback');
      expect(Date.now() - t0).toBeLessThan(600);

      await waitFor(async () => ((await deliveryOf(stuck))?.attempts >= 2 ? true : undefined), 5000, 'a second attempt after the timeout');
      const delivery = await deliveryOf(stuck);
      expect(delivery.attempt_log[0].error).toBe('no answer within 600 ms');
      // undici's timers are coarse: the cut comes near the 600 ms, not exactly at it.
      expect(delivery.attempt_log[0].duration_ms).toBeGreaterThanOrEqual(400);
      expect(delivery.attempt_log[0].duration_ms).toBeLessThan(5000);
    } finally {
      await hanging.close();
    }
  });

  it('dead-letters a callback after the horizon; an operator lists and replays it', async () => {
    receiver.respondWith((req) => (req.path.includes('always-503') ? { status: 503 } : CallbackReceiver.ack(req)));
    try {
      const [uin] = await someUins(1);
      const correlationId = await accepted(
        searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'dead-ref')], { sender_uri: `${receiver.url}/always-503/on-search` }),
      );
      await waitFor(async () => (await transactionState(correlationId)) === 'failed', 10_000, 'dead letter');
      const dead = await deliveryOf(correlationId);
      expect(dead.state).toBe('dead');
      expect(dead.attempts).toBeGreaterThanOrEqual(3);
      expect(dead.last_status).toBe(503);

      const list = (await (await admin('/admin/deliveries?state=dead')).json()) as { items: any[] };
      expect(list.items.map((d) => d.id)).toContain(dead.id);
      expect(list.items.every((d) => d.state === 'dead')).toBe(true);

      const status = await syncTxnStatus({ attribute_type: 'correlation_id', attribute_value: correlationId });
      expect(status.message.txnstatus_response.txn_status.search_response[0]).toMatchObject({ reference_id: 'dead-ref', status: 'rjct' });
      expect(status.message.txnstatus_response.txn_status.search_response[0].status_reason_message).toMatch(/could not be delivered: receiver answered HTTP 503/);

      receiver.acknowledgeAll();
      const replay = await admin(`/admin/deliveries/${dead.id}/replay`, { method: 'POST' });
      expect(replay.status).toBe(200);
      expect(((await replay.json()) as any).state).toBe('pending');
      const audit = (await (await admin('/admin/audit?partner_id=ops')).json()) as { items: any[] };
      expect(audit.items[0], 'the replay in the audit log').toMatchObject({ event: 'change', partner_id: 'ops', domain: 'admin', action: 'delivery.replay', record_ids: [String(dead.id)] });
      await waitFor(async () => (await transactionState(correlationId)) === 'delivered', 5000, 'delivered after replay');
      expect((await deliveryOf(correlationId)).state).toBe('delivered');

      const again = await admin(`/admin/deliveries/${dead.id}/replay`, { method: 'POST' });
      expect(again.status).toBe(409);
      expect(again.headers.get('content-type')).toBe('application/problem+json');
    } finally {
      receiver.acknowledgeAll();
    }
  });

  it('stops at once when the receiver answers 410 Gone', async () => {
    receiver.respondWith((req) => (req.path.includes('gone') ? { status: 410 } : CallbackReceiver.ack(req)));
    try {
      const [uin] = await someUins(1);
      const correlationId = await accepted(
        searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_uri: `${receiver.url}/gone/on-search` }),
      );
      await waitFor(async () => (await transactionState(correlationId)) === 'failed', 5000, 'gone');
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.forCorrelation(correlationId)).toHaveLength(1);
      const delivery = await deliveryOf(correlationId);
      expect(delivery).toMatchObject({ state: 'gone', attempts: 1, last_status: 410 });
    } finally {
      receiver.acknowledgeAll();
    }
  });

  it('counts an ACK body saying ERR as a failed attempt', async () => {
    let answered = 0;
    receiver.respondWith((req) =>
      req.path.includes('err-ack') && answered++ === 0
        ? { status: 200, body: { message: { ack_status: 'ERR', timestamp: new Date().toISOString(), correlation_id: 'x', error: { code: 'err.request.bad', message: 'nope' } } } }
        : CallbackReceiver.ack(req),
    );
    try {
      const [uin] = await someUins(1);
      const correlationId = await accepted(
        searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_uri: `${receiver.url}/err-ack/on-search` }),
      );
      await waitFor(async () => (await transactionState(correlationId)) === 'delivered', 5000);
      const delivery = await deliveryOf(correlationId);
      expect(delivery.attempts).toBe(2);
      expect(delivery.attempt_log[0].error).toBe('receiver answered ERR err.request.bad nope');
    } finally {
      receiver.acknowledgeAll();
    }
  });

  it('counts an ERR inside a full envelope, the ACK nested as message.message as the IBR sample writes it (DIGEST 11.4), as a failed attempt', async () => {
    let answered = 0;
    const nestedErr = { header: { action: 'on-search', status: 'rjct' }, message: { transaction_id: '', message: { ack_status: 'ERR', timestamp: new Date().toISOString(), correlation_id: 'x', error: { code: 'err.signature.invalid', message: 'bad' } } } };
    receiver.respondWith((req) => (req.path.includes('nested-err') && answered++ === 0 ? { status: 200, body: nestedErr } : CallbackReceiver.ack(req)));
    try {
      const [uin] = await someUins(1);
      const correlationId = await accepted(
        searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_uri: `${receiver.url}/nested-err/on-search` }),
      );
      await waitFor(async () => (await transactionState(correlationId)) === 'delivered', 5000);
      const delivery = await deliveryOf(correlationId);
      expect(delivery.attempts).toBe(2);
      expect(delivery.attempt_log[0].error).toBe('receiver answered ERR err.signature.invalid bad');
    } finally {
      receiver.acknowledgeAll();
    }
  });
});

describe('async search: duplicates and refusals', () => {
  it('answers a retried message with the first ACK and calls back once', async () => {
    const [uin] = await someUins(1);
    const envelope = asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })]);
    const first = await postSearch(envelope);
    const second = await postSearch(envelope);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.json).toEqual(first.json);
    const correlationId = first.json.message.correlation_id;
    await waitFor(async () => (await transactionState(correlationId)) === 'delivered');
    const third = await postSearch(envelope);
    expect(third.json).toEqual(first.json);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.forCorrelation(correlationId)).toHaveLength(1);
    expect((await sqlOne<{ n: number }>('select count(*)::int as n from dci_transactions where message_id = $1', [(envelope.header as any).message_id])).n).toBe(1);
  });

  it('refuses the same message_id with another body: 409, rjct.message_id.duplicate', async () => {
    const [uin, other] = await someUins(2);
    const envelope = asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })]);
    await accepted(envelope);
    const altered = structuredClone(envelope) as any;
    altered.message.search_request[0].search_criteria.query.value = other;
    const res = await postSearch(altered);
    expect(res.status).toBe(409);
    expectSchema('error-body.schema.json', res.json);
    expect(res.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.message_id.duplicate' });
    expect(res.json.message.ack_status).toBe('ERR');
    expect((await sqlOne<{ n: number }>('select count(*)::int as n from dci_transactions where message_id = $1', [altered.header.message_id])).n).toBe(1);
  });

  it('refuses a header the spec has a reason code for, and stores nothing', async () => {
    const [uin] = await someUins(1);
    const envelope = asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { total_count: 3 });
    const res = await postSearch(envelope);
    expect(res.status).toBe(400);
    expect(res.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.total_count.invalid' });
    expect((await sqlOne<{ n: number }>('select count(*)::int as n from dci_transactions where message_id = $1', [(envelope.header as any).message_id])).n).toBe(0);
  });

  it('refuses a request without a token (401) or without the search scope (403)', async () => {
    const envelope = asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })]);
    const anonymous = await postJson(`${server.url}/social/registry/search`, undefined, envelope);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(anonymous.json.message.error.code).toBe('err.request.unauthorized');
    const crvsOnly = await server.token({ clientId: 'crvs-only', secret: 'crvs-only-secret' });
    const forbidden = await postSearch(asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })], {}, 'crvs-only'), crvsOnly);
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.message.error.code).toBe('err.request.forbidden');
  });

  it('refuses a sender_id that is not the token partner (403) and a malformed envelope (400)', async () => {
    const forged = await postSearch(asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })], {}, 'someone-else'));
    expect(forged.status).toBe(403);
    expect(forged.json.message.error.code).toBe('err.sender_id.invalid');
    const malformed = await postSearch({ header: { action: 'search' }, message: {} });
    expect(malformed.status).toBe(400);
    expect(malformed.json.message.error.code).toBe('err.request.bad');
    const notJson = await postSearch('{"header":');
    expect(notJson.status).toBe(400);
  });

  it('refuses a request it could not call back: no address registered, or an address outside the partner origins', async () => {
    const token = await server.token({ clientId: 'spmis-nocallback', secret: 'spmis-nocallback-secret' });
    const none = await postSearch(searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })], { sender_id: 'spmis-nocallback', sender_uri: `${receiver.url}/x` }), token);
    expect(none.status).toBe(400);
    expect(none.json.message.error.code).toBe('err.sender_uri.invalid');

    const asyncToken = await server.token({ clientId: 'spmis-async', secret: 'spmis-async-secret' });
    const foreign = await postSearch(
      searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })], { sender_id: 'spmis-async', sender_uri: 'https://elsewhere.example.org/on-search' }),
      asyncToken,
    );
    expect(foreign.status).toBe(400);
    expect(foreign.json.message.error.code).toBe('err.sender_uri.invalid');
  });

  it('answers bad items in the callback with their own reason codes', async () => {
    const correlationId = await accepted(
      asyncEnvelope([
        searchItem({ query_type: 'idtype-value', query: { type: 'NOPE', value: '1' } }, 'bad-type'),
        searchItem({ query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'Group', query: { poverty_score: { $lt: 10 } } } } }, pagination: { page_size: 0 } }, 'bad-page'),
      ]),
    );
    const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId));
    const byRef = Object.fromEntries(callback.body.message.search_response.map((r: any) => [r.reference_id, r]));
    expect(byRef['bad-type']).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(byRef['bad-page']).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.pagination.invalid' });
    expect(callback.body.header).toMatchObject({ status: 'succ', completed_count: 2, total_count: 2 });
  });
});

async function syncTxnStatus(request: { attribute_type: string; attribute_value: unknown; txn_type?: string }, token = demoToken, senderId = 'demo-spmis', domain = 'social') {
  const body = {
    signature: '',
    header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'txn-status', sender_id: senderId, total_count: 1 },
    message: { transaction_id: `status-${randomUUID()}`, txnstatus_request: { reference_id: 'status-ref', txn_type: 'search', ...request } },
  };
  const res = await postJson(`${server.url}/${domain}/registry/sync/txn/status`, token, body);
  expect(res.status).toBe(200);
  expectSchema('txn-status-response-envelope.schema.json', res.json);
  return res.json;
}

describe('a request whose execution keeps failing', () => {
  /** Messages of each action that the executor cannot take (a bug's stand-in). */
  const POISON: Record<string, Record<string, unknown>> = {
    search: { search_request: 'not a list' },
    subscribe: { subscribe_request: null },
    unsubscribe: { subscription_codes: 'not a list' },
    'txn-status': { txnstatus_request: 'not an object' },
  };

  /** Stored as the ACK stores a request, with a message the executor cannot take, claimed `attempts` times. */
  async function storedPoison(name: string, attempts: number, action = 'search'): Promise<string> {
    const correlationId = randomUUID();
    const request = { header: { message_id: name, sender_id: 'demo-spmis' }, message: { transaction_id: `t-${name}`, ...POISON[action] } };
    const [row] = await server.db.query<{ id: number }>(
      `insert into dci_transactions (domain, action, sender_id, message_id, body_hash, correlation_id, transaction_id, reference_ids, callback_url, request, total_count, acked_at)
       values ('social', $7, 'demo-spmis', $1, 'x', $2, $3, array[$4], $5, $6::jsonb, 1, now()) returning id`,
      [name, correlationId, `t-${name}`, `ref-${name}`, `${receiver.url}/dci/social/registry/on-${action}`, JSON.stringify(request), action],
    );
    await server.db.query('insert into dci_execution_queue (transaction_id, attempts) values ($1, $2)', [row.id, attempts]);
    return correlationId;
  }

  it('is retried at first, then failed for good on its fifth claim, and txn status says why', async () => {
    const first = await storedPoison('poison-first', 0);
    const fifth = await storedPoison('poison-fifth', 4);
    await waitFor(async () => (await transactionState(fifth)) === 'failed', 10_000, 'the fifth claim to fail the request');
    // Why is for the operators' log: the partner is not shown our internals.
    expect(await sqlOne('select last_error from dci_transactions where correlation_id = $1', [fifth])).toEqual({ last_error: 'it could not be executed (5 attempts; the server log has the reason)' });
    const status = await syncTxnStatus({ attribute_type: 'correlation_id', attribute_value: fifth });
    expect(status.message.txnstatus_response.txn_status.search_response).toEqual([
      expect.objectContaining({ reference_id: 'ref-poison-fifth', status: 'rjct', status_reason_message: 'the request failed: it could not be executed (5 attempts; the server log has the reason)' }),
    ]);
    // The first failure leaves it claimed, to be tried again when the lease runs out: still received.
    const retried = await sqlOne('select t.state, q.attempts from dci_transactions t join dci_execution_queue q on q.transaction_id = t.id where t.correlation_id = $1', [first]);
    expect(retried).toEqual({ state: 'received', attempts: 1 });
    expect(receiver.forCorrelation(first)).toEqual([]);
  });

  it('tells the partner with a signed on-search refused as a whole, and stays failed once that is delivered or replayed', async () => {
    const correlationId = await storedPoison('poison-callback', 4);
    const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'the rejection on-search');
    expect(callback.body.header).toMatchObject({
      action: 'on-search',
      status: 'rjct',
      status_reason_message: 'the request failed: it could not be executed (5 attempts; the server log has the reason)',
      total_count: 1,
      completed_count: 0,
      receiver_id: 'demo-spmis',
    });
    expect(callback.body.header.status_reason_code).toBeUndefined();
    expect(callback.body.message).toEqual({ transaction_id: 't-poison-callback', correlation_id: correlationId, search_response: [] });
    expect(parseDciSignature(callback.body.signature).kidId).toMatch(/^dci-gateway\|/);

    const delivery = await waitFor(async () => ((await deliveryOf(correlationId))?.state === 'delivered' ? deliveryOf(correlationId) : undefined), 5000, 'delivered');
    expect(delivery).toMatchObject({ action: 'on-search', attempts: 1 });
    expect(await transactionState(correlationId)).toBe('failed');

    // An operator replaying it (after it went dead, say) does not turn the request into a delivered one.
    await server.db.query(`update callback_deliveries set state = 'dead' where id = $1`, [delivery.id]);
    const replay = await admin(`/admin/deliveries/${delivery.id}/replay`, { method: 'POST' });
    expect(replay.status).toBe(200);
    await waitFor(() => receiver.forCorrelation(correlationId).length === 2, 5000, 'the replayed on-search');
    await waitFor(async () => ((await deliveryOf(correlationId))?.state === 'delivered' ? true : undefined), 5000, 'replay delivered');
    expect(await transactionState(correlationId)).toBe('failed');
    const status = await syncTxnStatus({ attribute_type: 'correlation_id', attribute_value: correlationId });
    expect(status.message.txnstatus_response.txn_status.search_response).toEqual([expect.objectContaining({ reference_id: 'ref-poison-callback', status: 'rjct' })]);
  });

  it('answers a failed subscribe, unsubscribe and txn status with their own callbacks, refused as a whole', async () => {
    const reason = 'the request failed: it could not be executed (5 attempts; the server log has the reason)';
    for (const [action, callbackAction, empty] of [
      ['subscribe', 'on-subscribe', { subscribe_response: [] }],
      ['unsubscribe', 'on-unsubscribe', { status: 'rjct', status_reason_message: reason, subscription_status: [] }],
      ['txn-status', 'txn-on-status', { txnstatus_response: { txn_type: 'search', txn_status: { search_response: [] } } }],
    ] as const) {
      const correlationId = await storedPoison(`poison-${action}`, 4, action);
      const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, callbackAction);
      expect(callback.body.header, action).toMatchObject({ action: callbackAction, status: 'rjct', status_reason_message: reason, completed_count: 0 });
      expect(callback.body.message, action).toMatchObject({ transaction_id: `t-poison-${action}`, correlation_id: correlationId, ...empty });
      expect(await transactionState(correlationId), action).toBe('failed');
    }
  });

  it('fails a search of a partner whose search scope was withdrawn after its ACK, and discloses no record', async () => {
    const [uin] = await someUins(1);
    const correlationId = randomUUID();
    const message = { transaction_id: 't-withdrawn', search_request: [searchItem({ query_type: 'idtype-value', response_entity: 'Member', query: { type: 'UIN', value: uin } }, 'ref-withdrawn')] };
    const [row] = await server.db.query<{ id: number }>(
      `insert into dci_transactions (domain, action, sender_id, message_id, body_hash, correlation_id, transaction_id, reference_ids, callback_url, request, total_count, acked_at)
       values ('social', 'search', 'spmis-withdrawn', 'withdrawn-1', 'x', $1, 't-withdrawn', array['ref-withdrawn'], $2, $3::jsonb, 1, now()) returning id`,
      [correlationId, `${receiver.url}/dci/social/registry/on-search`, JSON.stringify({ header: { message_id: 'withdrawn-1', sender_id: 'spmis-withdrawn' }, message })],
    );
    await server.db.query('insert into dci_execution_queue (transaction_id) values ($1)', [row.id]);
    const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'the on-search');
    expect(callback.body.header).toMatchObject({ action: 'on-search', status: 'rjct', completed_count: 0 });
    expect(callback.body.message.search_response).toEqual([]);
    expect(await transactionState(correlationId)).toBe('failed');
    expect(await sqlOne('select last_error from dci_transactions where id = $1', [row.id])).toEqual({ last_error: 'partner spmis-withdrawn no longer holds the scope social:registry.search' });
    expect(await sqlOne(`select count(*)::int as n from audit_log where partner_id = 'spmis-withdrawn'`)).toEqual({ n: 0 });
  });

  it('fails a request of a partner no longer registered without a callback', async () => {
    const correlationId = randomUUID();
    const [row] = await server.db.query<{ id: number }>(
      `insert into dci_transactions (domain, action, sender_id, message_id, body_hash, correlation_id, transaction_id, reference_ids, callback_url, request, total_count, acked_at)
       values ('social', 'subscribe', 'gone-partner', 'gone-1', 'x', $1, 't-gone', array['ref-gone'], $2, $3::jsonb, 1, now()) returning id`,
      [correlationId, `${receiver.url}/dci/social/registry/on-subscribe`, JSON.stringify({ header: {}, message: { transaction_id: 't-gone', subscribe_request: [] } })],
    );
    await server.db.query('insert into dci_execution_queue (transaction_id) values ($1)', [row.id]);
    await waitFor(async () => (await transactionState(correlationId)) === 'failed', 10_000, 'failed');
    expect(await sqlOne('select last_error from dci_transactions where id = $1', [row.id])).toEqual({ last_error: 'partner gone-partner is no longer registered' });
    expect(await sqlOne('select count(*)::int as n from callback_deliveries where transaction_id = $1', [row.id])).toEqual({ n: 0 });
  });
});

describe('txn status', () => {
  it('reports a delivered search as succ by transaction id, correlation id and reference ids', async () => {
    const [uin] = await someUins(1);
    const envelope = asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'status-a')]);
    const correlationId = await accepted(envelope);
    await waitFor(async () => (await transactionState(correlationId)) === 'delivered');
    const transactionId = (envelope.message as any).transaction_id;
    for (const [attribute_type, attribute_value] of [
      ['transaction_id', transactionId],
      ['correlation_id', correlationId],
      ['reference_id_list', ['status-a']],
    ] as const) {
      const res = await syncTxnStatus({ attribute_type, attribute_value });
      expect(res.header).toMatchObject({ action: 'txn-on-status', status: 'succ' });
      expect(res.message.txnstatus_response.txn_type).toBe('search');
      expect(res.message.txnstatus_response.txn_status).toMatchObject({ transaction_id: transactionId, correlation_id: correlationId });
      expect(res.message.txnstatus_response.txn_status.search_response).toEqual([expect.objectContaining({ reference_id: 'status-a', status: 'succ' })]);
    }
  });

  it('reports a search whose callback is still being delivered as pdng', async () => {
    const hanging = await CallbackReceiver.start();
    hanging.respondWith(() => 'hang');
    try {
      const [uin] = await someUins(1);
      const correlationId = await accepted(
        searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'status-p')], { sender_uri: `${hanging.url}/on-search` }),
      );
      await waitFor(() => hanging.forCorrelation(correlationId).length > 0);
      const res = await syncTxnStatus({ attribute_type: 'correlation_id', attribute_value: correlationId });
      expect(res.message.txnstatus_response.txn_status.search_response).toEqual([expect.objectContaining({ reference_id: 'status-p', status: 'pdng' })]);
    } finally {
      await hanging.close();
    }
  });

  it('answers an unknown transaction, or another partner\'s, with header rjct and no items', async () => {
    const res = await syncTxnStatus({ attribute_type: 'transaction_id', attribute_value: 'never-sent' });
    expect(res.header).toMatchObject({ status: 'rjct', status_reason_message: 'unknown transaction' });
    expect(res.message.txnstatus_response.txn_status.search_response).toEqual([]);

    const [uin] = await someUins(1);
    const correlationId = await accepted(asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })]));
    const token = await server.token({ clientId: 'spmis-async', secret: 'spmis-async-secret' });
    const foreign = await syncTxnStatus({ attribute_type: 'correlation_id', attribute_value: correlationId }, token, 'spmis-async');
    expect(foreign.header.status).toBe('rjct');
    expect(foreign.message.txnstatus_response.txn_status.search_response).toEqual([]);
  });

  it('emits txn_type in its canonical spelling, however the partner wrote it (SEARCH, subscibe)', async () => {
    const search = await syncTxnStatus({ txn_type: 'SEARCH', attribute_type: 'transaction_id', attribute_value: 'never-sent' });
    expect(search.message.txnstatus_response.txn_type).toBe('search');
    // DIGEST 11.1 #4: SR/IBR std write subscibe; accepted, subscribe emitted.
    const subscribe = await syncTxnStatus({ txn_type: 'subscibe', attribute_type: 'transaction_id', attribute_value: 'never-sent' });
    expect(subscribe.message.txnstatus_response.txn_type).toBe('subscribe');
  });

  it('names no transaction_id longer than TransactionId allows (99) in txn_status when asked about a longer one', async () => {
    const res = await syncTxnStatus({ attribute_type: 'transaction_id', attribute_value: 'x'.repeat(150) });
    expect(res.message.txnstatus_response.txn_status.transaction_id.length).toBeLessThanOrEqual(99);
  });

  it('answers for the registry asked: another domain\'s txn status does not know a social search', async () => {
    const [uin] = await someUins(1);
    const envelope = asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'status-domain')]);
    const correlationId = await accepted(envelope);
    await waitFor(async () => (await transactionState(correlationId)) === 'delivered');
    const transactionId = (envelope.message as any).transaction_id;
    for (const domain of ['crvs', 'ibr', 'dr']) {
      for (const [attribute_type, attribute_value] of [
        ['transaction_id', transactionId],
        ['correlation_id', correlationId],
        ['reference_id_list', ['status-domain']],
      ] as const) {
        const res = await syncTxnStatus({ attribute_type, attribute_value }, demoToken, 'demo-spmis', domain);
        expect(res.header, `${domain} ${attribute_type}`).toMatchObject({ status: 'rjct', status_reason_message: 'unknown transaction' });
        expect(res.message.txnstatus_response.txn_status.search_response, `${domain} ${attribute_type}`).toEqual([]);
      }
    }
    const social = await syncTxnStatus({ attribute_type: 'transaction_id', attribute_value: transactionId });
    expect(social.message.txnstatus_response.txn_status.search_response).toEqual([expect.objectContaining({ reference_id: 'status-domain', status: 'succ' })]);
  });

  it('answers async txn/status with a txn-on-status callback', async () => {
    const [uin] = await someUins(1);
    const correlationId = await accepted(asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'status-async')]));
    await waitFor(async () => (await transactionState(correlationId)) === 'delivered');
    const body = {
      header: { message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'txn-status', sender_id: 'demo-spmis', sender_uri: `${receiver.url}/dci/social/registry/txn/on-status`, total_count: 1 },
      message: { transaction_id: 'ask-1', txnstatus_request: { reference_id: 'ask-ref', txn_type: 'search', attribute_type: 'correlation_id', attribute_value: correlationId } },
    };
    const res = await postJson(`${server.url}/social/registry/txn/status`, demoToken, body);
    expect(res.status).toBe(202);
    const statusCorrelation = res.json.message.correlation_id;
    const [callback] = await waitFor(() => receiver.forCorrelation(statusCorrelation).length > 0 && receiver.forCorrelation(statusCorrelation));
    expect(callback.path).toBe('/dci/social/registry/txn/on-status');
    expectSchema('txn-status-response-envelope.schema.json', callback.body);
    expect(callback.body.header).toMatchObject({ action: 'txn-on-status', status: 'succ' });
    expect(callback.body.message.transaction_id).toBe('ask-1');
    expect(callback.body.message.txnstatus_response.txn_status.search_response).toEqual([expect.objectContaining({ reference_id: 'status-async', status: 'succ' })]);
  });

  it('needs the txn-status scope', async () => {
    const token = await server.token({ clientId: 'spmis-search-only', secret: 'search-only-secret' });
    const res = await postJson(`${server.url}/social/registry/sync/txn/status`, token, {
      header: { message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'txn-status', sender_id: 'spmis-search-only', total_count: 1 },
      message: { transaction_id: 't', txnstatus_request: { reference_id: 'r', txn_type: 'search', attribute_type: 'transaction_id', attribute_value: 't' } },
    });
    expect(res.status).toBe(403);
    expect(res.json.message.error.code).toBe('err.request.forbidden');
  });
});

describe('operator API', () => {
  it('needs a token with the admin scope', async () => {
    expect((await fetch(`${server.url}/admin/transactions`)).status).toBe(401);
    const res = await fetch(`${server.url}/admin/transactions`, { headers: { authorization: `Bearer ${demoToken.slice(0, -4)}abcd` } });
    expect(res.status).toBe(401);
    const searchOnly = await server.token({ clientId: 'spmis-search-only', secret: 'search-only-secret' });
    const forbidden = await fetch(`${server.url}/admin/deliveries`, { headers: { authorization: `Bearer ${searchOnly}` } });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('content-type')).toBe('application/problem+json');
    expect(((await forbidden.json()) as any).code).toBe('err.request.forbidden');
  });

  it('lists transactions filtered by state and sender, newest first, with their deliveries', async () => {
    const [uin] = await someUins(1);
    const correlationId = await accepted(asyncEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })]));
    await waitFor(async () => (await transactionState(correlationId)) === 'delivered');
    const list = (await (await admin('/admin/transactions?state=delivered&sender_id=demo-spmis&limit=5')).json()) as { items: any[] };
    expect(list.items.length).toBeGreaterThan(0);
    expect(list.items.length).toBeLessThanOrEqual(5);
    expect(list.items.every((t) => t.state === 'delivered' && t.sender_id === 'demo-spmis')).toBe(true);
    const ids = list.items.map((t) => t.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const mine = list.items.find((t) => t.correlation_id === correlationId);
    expect(mine).toBeDefined();
    const detail = (await (await admin(`/admin/transactions/${mine.id}`)).json()) as any;
    expect(detail.deliveries).toEqual([expect.objectContaining({ state: 'delivered', attempts: 1, action: 'on-search' })]);

    const queues = (await (await admin('/admin/queues')).json()) as any;
    expect(queues.transactions.delivered).toBeGreaterThan(0);
  });

  it('answers bad operator input with problem documents', async () => {
    const bad = await admin('/admin/transactions?state=exploded');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    expect((await admin('/admin/deliveries/999999999')).status).toBe(404);
    expect((await admin('/admin/transactions/abc')).status).toBe(400);
  });
});

