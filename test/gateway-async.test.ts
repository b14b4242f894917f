import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import type { SigningKey } from '../src/dci/signing/keys.js';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { parseDciSignature } from './support/signatures.js';
import { type GatewayPair, startGatewayPair } from './support/gateway.js';
import { startTestServer, type TestServer } from './support/server.js';

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
    const upstream = await CallbackReceiver.start();
    upstream.respondWith(() => ({
      status: 403,
      body: { message: { ack_status: 'ERR', timestamp: new Date().toISOString(), correlation_id: 'up-1', error: { code: 'err.request.forbidden', message: 'no searches today' } } },
    }));
    // A gateway of its own (its own database), so that the pair's gateway, which forwards to the real CRVS, does not take the request.
    const file = pair.upstreamsFile('refusing.json', { base_url: `${upstream.url}/crvs`, signature: 'off', auth: undefined, jwks_uri: undefined });
    const refusing = await startTestServer(
      { WORKER_POLL_MS: '50', UPSTREAMS_FILE: file },
      { signingKey: gatewayKey, partners: [{ id: 'caller', secret: 'caller-secret-1', scopes: ['crvs:registry.search', 'crvs:registry.txn-status'], callbacks: { origins: [receiver.url], allowPrivateNetwork: true } }] },
    );
    try {
      const token = await refusing.token({ clientId: 'caller', secret: 'caller-secret-1' });
      const envelope = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-refused')], { sender_id: 'caller', sender_uri: `${receiver.url}/on-search` });
      const res = await postJson(`${refusing.url}/crvs/registry/search`, token, envelope);
      expect(res.status).toBe(202);
      const correlationId = res.json.message.correlation_id;
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
      expect(callback.body.message).toEqual({ transaction_id: (envelope.message as { transaction_id: string }).transaction_id, correlation_id: correlationId, search_response: [] });
      expect(parseDciSignature(callback.body.signature).kidId).toBe(`dci-gateway|${gatewayKey.kid}|ed25519`);
      const status = await postJson(`${refusing.url}/crvs/registry/sync/txn/status`, token, {
        header: { version: '1.0.0', message_id: `s-${correlationId}`, message_ts: new Date().toISOString(), action: 'txn-status', sender_id: 'caller', total_count: 1 },
        message: { transaction_id: 'status-1', txnstatus_request: { reference_id: 's-1', txn_type: 'search', attribute_type: 'correlation_id', attribute_value: correlationId } },
      });
      expect(status.json.message.txnstatus_response.txn_status.search_response).toEqual([
        expect.objectContaining({ reference_id: 'r-refused', status: 'rjct', status_reason_message: callback.body.header.status_reason_message }),
      ]);
    } finally {
      await refusing.close();
      await upstream.close();
    }
  });
});
