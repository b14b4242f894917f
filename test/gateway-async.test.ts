import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { generateSigningKey, type SigningKey } from '../src/dci/signing/keys.js';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, freePort, waitFor } from './support/receiver.js';
import { parseDciSignature } from './support/signatures.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * Gateway mode, async: an async CRVS search is acknowledged by the gateway, forwarded to the national CRVS (a second
 * instance of this server), and the CRVS's on-search is relayed to the caller as the gateway's own on-search.
 */

const dir = mkdtempSync(join(tmpdir(), 'dci-upstream-async-'));
let crvsDb: Database;
let gatewayDb: Database;
let crvs: TestServer;
let gateway: TestServer;
let receiver: CallbackReceiver;
let gatewayKey: SigningKey;
let uin: string;

beforeAll(async () => {
  crvsDb = await openTestDatabase();
  gatewayDb = await openTestDatabase();
  receiver = await CallbackReceiver.start();
  gatewayKey = await generateSigningKey();
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  crvs = await startTestServer({ DCI_SENDER_ID: 'national-crvs', WORKER_POLL_MS: '50' }, {
    db: crvsDb,
    partners: [
      {
        id: 'gateway-a',
        secret: 'gateway-a-secret',
        scopes: ['crvs:registry.search'],
        signature: 'required',
        jwks: { keys: [gatewayKey.publicJwk] },
        callbacks: { origins: [gatewayUrl], allowPrivateNetwork: true, auth: { tokenUrl: `${gatewayUrl}/oauth2/client/token`, clientId: 'national-crvs', clientSecret: 'national-crvs-secret' } },
      },
    ],
  });
  const upstreams = join(dir, 'upstreams.json');
  writeFileSync(
    upstreams,
    JSON.stringify([
      {
        domain: 'crvs',
        id: 'national-crvs',
        sender_id: 'gateway-a',
        base_url: `${crvs.url}/crvs`,
        auth: { token_url: `${crvs.url}/oauth2/client/token`, client_id: 'gateway-a', client_secret: 'gateway-a-secret' },
        jwks_uri: `${crvs.url}/.well-known/jwks.json`,
      },
    ]),
  );
  gateway = await startTestServer({ UPSTREAMS_FILE: upstreams, PORT: String(gatewayPort), PUBLIC_URL: gatewayUrl, WORKER_POLL_MS: '50' }, {
    db: gatewayDb,
    signingKey: gatewayKey,
    partners: [
      { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.on-search'], signature: 'required', jwksUri: `${crvs.url}/.well-known/jwks.json` },
      { id: 'caller', secret: 'caller-secret-1', scopes: ['crvs:registry.search', 'crvs:registry.txn-status'], callbacks: { origins: [receiver.url], allowPrivateNetwork: true }, fields: ['name', 'birth_date'] },
    ],
  });
  const [row] = await crvsDb.query(`select ${idColumns()}, x.individual_id from identifiers x where x.id_type = 'UIN' order by x.id limit 1`);
  uin = clearValue(row);
  await crvsDb.query(`update individuals set given_name = 'Upstream-Only' where id = $1`, [row.individual_id]);
});
afterAll(async () => {
  await gateway?.close();
  await crvs?.close();
  await receiver?.close();
  await crvsDb?.close();
  await gatewayDb?.close();
  rmSync(dir, { recursive: true, force: true });
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
});
