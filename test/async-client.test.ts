import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerTokens } from '../src/auth/peer-tokens.js';
import { EnvelopeBuilder } from '../src/dci/envelope/builder.js';
import { envelopeDigest } from '../src/dci/signing/canonical.js';
import { generateSigningKey, type SigningKey } from '../src/dci/signing/keys.js';
import { EnvelopeSigner } from '../src/dci/signing/signer.js';
import { OutboundStore } from '../src/dci/transactions/outbound-store.js';
import { type Peer, PeerClient } from '../src/gateway/peer-client.js';
import { postJson, searchItem } from './support/dci.js';
import { CallbackReceiver, freePort, startEndlessServer, waitFor } from './support/receiver.js';
import { startTestServer, type TestServer } from './support/server.js';
import { clearValue, idColumns } from './support/data-keys.js';

/**
 * The client side of the async protocol: gateway B sends an async search to registry A, A calls B back at
 * /social/registry/on-search with a token it obtained from B's token endpoint, and B matches, stores and ACKs it.
 */

let gateway: TestServer;
let registry: TestServer;
let client: PeerClient;
let peer: Peer;
let outbound: OutboundStore;
let registryKey: SigningKey;

beforeAll(async () => {
  // Each side verifies the other's signatures: B fetches A's published JWKS, A holds B's key inline.
  const registryPort = await freePort();
  const gatewayKey = await generateSigningKey();
  registryKey = await generateSigningKey();
  gateway = await startTestServer(
    { DCI_SENDER_ID: 'gateway-b' },
    {
      partners: [
        {
          id: 'registry-a',
          secret: 'registry-a-secret',
          scopes: ['social:registry.on-search', 'social:registry.txn-on-status'],
          signature: 'required',
          jwksUri: `http://127.0.0.1:${registryPort}/.well-known/jwks.json`,
        },
      ],
    },
  );
  registry = await startTestServer(
    { DCI_SENDER_ID: 'registry-a', WORKER_POLL_MS: '50', CALLBACK_RETRY_BASE_MS: '50', PORT: String(registryPort) },
    {
      partners: [
        {
          id: 'gateway-b',
          secret: 'gateway-b-secret',
          scopes: ['social:registry.search', 'social:registry.txn-status'],
          signature: 'required',
          jwks: { keys: [gatewayKey.publicJwk as never] },
          callbacks: {
            origins: [gateway.url],
            allowPrivateNetwork: true,
            auth: { tokenUrl: `${gateway.url}/oauth2/client/token`, clientId: 'registry-a', clientSecret: 'registry-a-secret' },
          },
        },
      ],
      signingKey: registryKey,
    },
  );
  outbound = new OutboundStore(gateway.db);
  client = new PeerClient(outbound, new EnvelopeBuilder('gateway-b'), new EnvelopeSigner(gatewayKey, 'gateway-b'), new PeerTokens({ timeoutMs: 5000 }), gateway.url, {
    timeoutMs: 5000,
  });
  peer = { id: 'registry-a', baseUrl: `${registry.url}/social`, auth: { tokenUrl: `${registry.url}/oauth2/client/token`, clientId: 'gateway-b', clientSecret: 'gateway-b-secret' } };
});
afterAll(async () => {
  await registry?.close();
  await gateway?.close();
});


async function registryUin(): Promise<string> {
  const [row] = await registry.db.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id desc limit 1`);
  return clearValue(row);
}

async function answered(outboundId: number) {
  await waitFor(async () => (await outbound.get(outboundId))?.state === 'answered', 10_000, 'the peer answer');
  return outbound.callbacksOf(outboundId);
}

describe('the gateway as a DCI client', () => {
  it('sends an async search to a peer registry and stores the on-search it gets back', async () => {
    const uin = await registryUin();
    const transactionId = `fwd-${randomUUID()}`;
    const sent = await client.search(peer, 'social', { transaction_id: transactionId, search_request: [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'fwd-ref')] });
    expect(sent.state).toBe('acknowledged');
    if (sent.state !== 'acknowledged') return;

    const [callback] = await answered(sent.outboundId);
    expect(callback).toMatchObject({ sender_id: 'registry-a', action: 'on-search', status: 'succ' });
    expect(callback.envelope.message).toMatchObject({ transaction_id: transactionId, correlation_id: sent.correlationId });
    const item = (callback.envelope.message as any).search_response[0];
    expect(item).toMatchObject({ reference_id: 'fwd-ref', status: 'succ' });
    expect(item.data.reg_records[0].demographic_info.identifier).toContainEqual(expect.objectContaining({ identifier_type: 'UIN', identifier_value: uin }));
    const request = await outbound.get(sent.outboundId);
    expect(request).toMatchObject({ peer_id: 'registry-a', action: 'search', transaction_id: transactionId, correlation_id: sent.correlationId });
  });

  it('asks a peer for a transaction status and stores the txn/on-status answer', async () => {
    const uin = await registryUin();
    const search = await client.search(peer, 'social', { transaction_id: `fwd-${randomUUID()}`, search_request: [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'asked-ref')] });
    if (search.state !== 'acknowledged') throw new Error('search refused');
    await answered(search.outboundId);
    const status = await client.txnStatus(peer, 'social', {
      transaction_id: `status-${randomUUID()}`,
      txnstatus_request: { reference_id: 'q1', txn_type: 'search', attribute_type: 'correlation_id', attribute_value: search.correlationId },
    });
    expect(status.state).toBe('acknowledged');
    if (status.state !== 'acknowledged') return;
    const [callback] = await answered(status.outboundId);
    expect(callback.action).toBe('txn-on-status');
    expect((callback.envelope.message as any).txnstatus_response.txn_status.search_response).toEqual([expect.objectContaining({ reference_id: 'asked-ref', status: 'succ' })]);
  });

  it('records a refusal by the peer instead of waiting for a callback that will not come', async () => {
    const refused = await client.search({ ...peer, auth: { bearerToken: 'not-a-token' } }, 'social', {
      transaction_id: 'fwd-refused',
      search_request: [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })],
    });
    expect(refused).toMatchObject({ state: 'refused', httpStatus: 401, error: expect.stringContaining('err.request.unauthorized') });
    expect((await outbound.get(refused.outboundId))?.state).toBe('refused');
  });

  it("records an answer it cannot store as a refusal that says why, the peer's text kept where it can be", async () => {
    const fake = await CallbackReceiver.start();
    const fakePeer: Peer = { id: 'registry-a', baseUrl: fake.url };
    const ackWith = (correlationId: unknown) => ({ status: 200, body: { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: correlationId } } });
    const send = (transactionId: string) =>
      client.search(fakePeer, 'social', { transaction_id: transactionId, search_request: [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })] });
    try {
      // The same fake, answering well: acknowledged, and its ACK stored.
      fake.respondWith(() => ackWith('corr-ok'));
      const good = await send('fwd-fake-ok');
      expect(good).toMatchObject({ state: 'acknowledged', correlationId: 'corr-ok' });
      expect(await outbound.get(good.outboundId)).toMatchObject({ state: 'acknowledged', correlation_id: 'corr-ok', ack: { message: { ack_status: 'ACK' } } });

      for (const [name, correlationId, why] of [
        ['a lone surrogate', 'corr-\ud800', /unpaired surrogate/],
        ['U+0000', 'corr-\u0000', /U\+0000/],
      ] as const) {
        fake.respondWith(() => ackWith(correlationId));
        const sent = await send(`fwd-fake-${name}`);
        expect(sent, name).toMatchObject({ state: 'refused', httpStatus: 200, error: expect.stringMatching(why) });
        expect(await outbound.get(sent.outboundId), name).toMatchObject({ state: 'refused', correlation_id: null, ack: { error: expect.stringMatching(why) } });
      }

      // Not JSON, with a NUL, cut at 2,000 characters between the halves of an emoji: stored as text jsonb can hold.
      fake.respondWith(() => ({ status: 502, text: `ab\u0000${'x'.repeat(1996)}\u{1F600} and more` }));
      const notJson = await send('fwd-fake-html');
      expect(notJson).toMatchObject({ state: 'refused', httpStatus: 502 });
      expect((await outbound.get(notJson.outboundId))?.ack).toEqual({ text: `ab\uFFFD${'x'.repeat(1996)}` });
    } finally {
      await fake.close();
    }
  });
});

describe('peers that answer without end', () => {
  it('reads at most 64 KB of an ACK or a token answer, and records the request as refused', async () => {
    const endless = await startEndlessServer();
    const search = (p: Peer, transactionId: string) =>
      client.search(p, 'social', { transaction_id: transactionId, search_request: [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })] });
    try {
      const ack = await search({ id: 'registry-a', baseUrl: endless.url }, 'fwd-endless-ack');
      expect(ack).toMatchObject({ state: 'refused', httpStatus: 200, error: 'answered with more than 65536 bytes (HTTP 200)' });
      expect(await outbound.get(ack.outboundId)).toMatchObject({ state: 'refused', ack: { error: 'answered with more than 65536 bytes (HTTP 200)' } });

      const token = await search({ ...peer, auth: { tokenUrl: `${endless.url}/token`, clientId: 'gateway-b', clientSecret: 'x' } }, 'fwd-endless-token');
      expect(token).toMatchObject({ state: 'refused', httpStatus: null, error: `token endpoint ${endless.url}/token answered with more than 65536 bytes` });
      expect(endless.requests()).toBe(2);
    } finally {
      await endless.close();
    }
  });
});

describe('callback receivers', () => {
  let registryToken: string;
  let request: { outboundId: number; correlationId: string; transactionId: string };

  beforeAll(async () => {
    registryToken = await gateway.token({ clientId: 'registry-a', secret: 'registry-a-secret' });
    const uin = await registryUin();
    const transactionId = `recv-${randomUUID()}`;
    const sent = await client.search(peer, 'social', { transaction_id: transactionId, search_request: [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })] });
    if (sent.state !== 'acknowledged') throw new Error('search refused');
    await answered(sent.outboundId);
    request = { outboundId: sent.outboundId, correlationId: sent.correlationId, transactionId };
  });

  /** A callback as registry A would send it, signed with A's key (B requires A's signature). */
  const onSearch = (header: Record<string, unknown> = {}, message: Record<string, unknown> = {}) => {
    const h = { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'on-search', status: 'succ', sender_id: 'registry-a', total_count: 1, completed_count: 1, ...header };
    const m = { transaction_id: request.transactionId, correlation_id: request.correlationId, search_response: [], ...message };
    return { signature: new EnvelopeSigner(registryKey, 'registry-a').signDigest(envelopeDigest(h, m)), header: h, message: m };
  };
  const post = (body: unknown, token = registryToken) => postJson(`${gateway.url}/social/registry/on-search`, token, body);

  it('stores a redelivered callback once and ACKs it each time', async () => {
    const body = onSearch({ status: 'Success' });
    const first = await post(body);
    const second = await post(body);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(first.json.message).toMatchObject({ ack_status: 'ACK', correlation_id: request.correlationId });
    const stored = (await outbound.callbacksOf(request.outboundId)).filter((c) => c.message_id === body.header.message_id);
    expect(stored).toHaveLength(1);
    expect(stored[0].status).toBe('succ');
  });

  it("stores a callback whose header writes the counts as the samples do: completed_count empty, total_count a numeric string (DIGEST 11.4)", async () => {
    const body = onSearch({ total_count: '1', completed_count: '' });
    const res = await post(body);
    expect(res.status, res.text).toBe(200);
    expect((await outbound.callbacksOf(request.outboundId)).filter((c) => c.message_id === body.header.message_id)).toHaveLength(1);
  });

  it('refuses a callback that answers nothing it sent (404), from a forged sender (403), or malformed (400)', async () => {
    const unknown = await post(onSearch({}, { transaction_id: 'never-sent' }));
    expect(unknown.status).toBe(404);
    expect(unknown.json.message.error.code).toBe('err.request.not_found');
    const forged = await post(onSearch({ sender_id: 'someone-else' }));
    expect(forged.status).toBe(403);
    expect(forged.json.message.error.code).toBe('err.sender_id.invalid');
    const wrongAction = await post(onSearch({ action: 'notify' }));
    expect(wrongAction.status).toBe(400);
    const badStatus = await post(onSearch({ status: 'maybe' }));
    expect(badStatus.status).toBe(400);
    const noCorrelation = await post({ header: onSearch().header, message: { transaction_id: request.transactionId } });
    expect(noCorrelation.status).toBe(400);
    expect(noCorrelation.json.message.error.code).toBe('err.request.bad');
  });

  it('refuses an unsigned, tampered or foreign-signed callback from a partner that must sign', async () => {
    const unsigned = await post({ ...onSearch(), signature: '' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.json.message.error.code).toBe('err.signature.missing');
    const tampered = onSearch();
    tampered.message.transaction_id = `${request.transactionId}`;
    (tampered.header as Record<string, unknown>).status = 'rjct';
    const res = await post(tampered);
    expect(res.status).toBe(401);
    expect(res.json.message.error.code).toBe('err.signature.invalid');
    const h = onSearch().header;
    const m = onSearch().message;
    const foreign = { signature: new EnvelopeSigner(await generateSigningKey(), 'registry-a').signDigest(envelopeDigest(h, m)), header: h, message: m };
    const wrongKey = await post(foreign);
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.json.message.error.code).toBe('err.signature.invalid');
  });

  it('needs a token with the on-search scope', async () => {
    const anonymous = await post(onSearch(), '');
    expect(anonymous.status).toBe(401);
    const searchOnly = await gateway.token({ clientId: 'spmis-search-only', secret: 'search-only-secret' });
    const forbidden = await post(onSearch({ sender_id: 'spmis-search-only' }), searchOnly);
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.message.error.code).toBe('err.request.forbidden');
  });
});
