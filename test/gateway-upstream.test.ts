import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { generateSigningKey, type SigningKey } from '../src/dci/signing/keys.js';
import { expectErrorBody, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, freePort, startEndlessServer } from './support/receiver.js';
import { parseDciSignature } from './support/signatures.js';
import { type GatewayPair, startGatewayPair } from './support/gateway.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * Gateway mode: the CRVS domain of this gateway is served by a national CRVS (a second instance of this server). The
 * gateway signs and authenticates itself there, checks the CRVS's signature, and answers its own caller with the
 * CRVS's records, projected to the caller's fields, re-signed and audited on both sides.
 */

let pair: GatewayPair;
let crvsDb: Database;
let gatewayDb: Database;
let gateway: TestServer;
let gatewayKey: SigningKey;
let uin: string;
const narrowPartner = { id: 'narrow-crvs', secret: 'narrow-crvs-secret', scopes: ['crvs:registry.search'], fields: ['sex', 'birth_date'] };

beforeAll(async () => {
  pair = await startGatewayPair({
    crvsPartners: (gw) => [{ id: 'gateway-a', secret: 'gateway-a-secret', scopes: ['crvs:registry.search'], signature: 'required', jwks: { keys: [gw.key.publicJwk] } }],
    gatewayPartners: () => [narrowPartner],
    upstream: { signature: 'required' },
    upstreamScope: 'crvs:registry.search',
  });
  ({ crvsDb, gatewayDb, gateway, gatewayKey } = pair);
  const [row] = await crvsDb.query(`select ${idColumns()}, x.individual_id from identifiers x where x.id_type = 'UIN' order by x.id limit 1`);
  uin = clearValue(row);
  // The national CRVS knows this person under another name than the gateway's own copy does.
  await crvsDb.query(`update individuals set given_name = 'Upstream-Only' where id = $1`, [row.individual_id]);
});
afterAll(async () => {
  await pair?.close();
});

const byUin = () => searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-1')]);

type UpstreamSearch = () => ReturnType<typeof postJson>;

/** A gateway whose CRVS upstream is a fake at `upstreamUrl` (no token asked, no signature checked), for `run`. */
async function withUpstreamAt(upstreamUrl: string, env: Record<string, string>, run: (search: UpstreamSearch, gateway: TestServer) => Promise<void>, overrides: Record<string, unknown> = {}): Promise<void> {
  const file = pair.upstreamsFile(`fake-${Object.keys(env).join('-') || 'plain'}.json`, { base_url: `${upstreamUrl}/crvs`, signature: 'off', auth: undefined, jwks_uri: undefined, ...overrides });
  const gateway = await startTestServer({ ...env, UPSTREAMS_FILE: file }, { db: gatewayDb, signingKey: gatewayKey, partners: [narrowPartner] });
  try {
    await run(async () => postJson(`${gateway.url}/crvs/registry/sync/search`, await gateway.token(), byUin()), gateway);
  } finally {
    await gateway.close();
  }
}

async function expectUnavailable(search: UpstreamSearch, why: RegExp, name = String(why)): Promise<void> {
  const res = await search();
  expect(res.status, name).toBe(502);
  expectErrorBody(res.json, 'err.service.unavailable');
  expect(res.json.message.error.message, name).toMatch(why);
}

describe('gateway mode: the CRVS domain forwarded upstream', () => {
  it("answers with the upstream CRVS's record, signed by the gateway, and both sides audit the disclosure", async () => {
    const res = await postJson(`${gateway.url}/crvs/registry/sync/search`, await gateway.token(), byUin());
    expect(res.status).toBe(200);
    expect(res.json.header).toMatchObject({ action: 'on-search', status: 'succ', sender_id: 'dci-gateway', receiver_id: 'demo-spmis' });
    const [record] = res.json.message.search_response[0].data.reg_records;
    expect(record).toMatchObject({ '@type': 'CRVS_Person', name: { given_name: 'Upstream-Only' } });
    expect(record.identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: uin });
    expect(parseDciSignature(res.json.signature).kidId).toBe(`dci-gateway|${gatewayKey.kid}|ed25519`);

    const [upstreamAudit] = await crvsDb.query(`select partner_id, domain, action from audit_log order by id desc limit 1`);
    expect(upstreamAudit).toEqual({ partner_id: 'gateway-a', domain: 'crvs', action: 'sync/search' });
    const [gatewayAudit] = await gatewayDb.query(`select partner_id, domain, action, record_count from audit_log order by id desc limit 1`);
    expect(gatewayAudit).toEqual({ partner_id: 'demo-spmis', domain: 'crvs', action: 'sync/search', record_count: 1 });
  });

  it("projects the upstream's records to the caller's fields", async () => {
    const token = await gateway.token({ clientId: 'narrow-crvs', secret: 'narrow-crvs-secret' });
    const res = await postJson(`${gateway.url}/crvs/registry/sync/search`, token, searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } })], { sender_id: 'narrow-crvs' }));
    expect(res.status).toBe(200);
    const [record] = res.json.message.search_response[0].data.reg_records;
    expect(Object.keys(record).filter((k) => !k.startsWith('@')).sort()).toEqual(['birth_date', 'sex']);
    expect(res.text).not.toContain('Upstream-Only');
    expect(res.text).not.toContain(uin);
  });

  it('answers 502 err.service.unavailable, with no record, when the upstream is down or its signature does not verify', async () => {
    const stranger = await generateSigningKey();
    for (const [name, overrides] of [
      ['down', { base_url: `http://127.0.0.1:${await freePort()}/crvs` }],
      ['foreign keys', { jwks_uri: undefined, jwks: { keys: [stranger.publicJwk] } }],
    ] as const) {
      const broken = await startTestServer({ UPSTREAMS_FILE: pair.upstreamsFile(`${name}.json`, overrides) }, { db: gatewayDb, signingKey: gatewayKey, partners: [narrowPartner] });
      try {
        const res = await postJson(`${broken.url}/crvs/registry/sync/search`, await broken.token(), byUin());
        expect(res.status, name).toBe(502);
        expectErrorBody(res.json, 'err.service.unavailable');
        expect(res.text, name).not.toContain(uin);
      } finally {
        await broken.close();
      }
    }
  });

  it('answers 502 when the upstream answers with text that is not Unicode or nests too deep, and audits nothing of it', async () => {
    const upstream = await CallbackReceiver.start();
    const answerWith = (registryId: unknown) => (req: { body: any }) => ({
      status: 200,
      body: {
        header: { version: '1.0.0', message_id: 'm-1', message_ts: new Date().toISOString(), action: 'on-search', status: 'succ', sender_id: 'national-crvs' },
        message: {
          transaction_id: req.body.message.transaction_id,
          search_response: [
            {
              reference_id: req.body.message.search_request[0].reference_id,
              timestamp: new Date().toISOString(),
              status: 'succ',
              data: { reg_records: [{ '@type': 'CRVS_Person', identifier: [{ identifier_type: 'REGISTRY_ID', identifier_value: registryId }] }] },
            },
          ],
        },
      },
    });
    let deep: unknown = 'x';
    for (let i = 0; i < 1_000; i++) deep = [deep];
    const audited = async () => Number((await gatewayDb.query(`select count(*)::int as n from audit_log`))[0].n);
    try {
      await withUpstreamAt(upstream.url, {}, async (search) => {
        // The same fake answering well-formed text: the record comes through, and its disclosure is audited.
        upstream.respondWith(answerWith('CRVS-REG-1'));
        const before = await audited();
        const good = await search();
        expect(good.status).toBe(200);
        expect(good.json.message.search_response[0].data.reg_records[0].identifier).toEqual([{ identifier_type: 'REGISTRY_ID', identifier_value: 'CRVS-REG-1' }]);
        expect(await audited()).toBe(before + 1);

        for (const [name, value, why] of [
          ['a lone high surrogate', 'CRVS-\ud800-1', /unpaired surrogate/],
          ['a lone low surrogate', '\udfff', /unpaired surrogate/],
          ['U+0000', 'CRVS\u0000', /U\+0000/],
          ['1,000 levels of arrays', deep, /deeper than/],
        ] as const) {
          upstream.respondWith(answerWith(value));
          const count = await audited();
          await expectUnavailable(search, why, name);
          expect(await audited(), name).toBe(count);
        }
      });
    } finally {
      await upstream.close();
    }
  });

  it('answers 502 soon, having read only UPSTREAM_MAX_ANSWER_BYTES, when the upstream answers without end', async () => {
    const endless = await startEndlessServer();
    try {
      await withUpstreamAt(endless.url, { UPSTREAM_MAX_ANSWER_BYTES: '65536' }, async (search, gateway) => {
        const started = Date.now();
        await expectUnavailable(search, /answered with more than 65536 bytes/);
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(endless.requests()).toBe(1);
        expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
      });
    } finally {
      await endless.close();
    }
  });

  it('answers 502 once CALLBACK_TIMEOUT_MS has passed on the body of an upstream that trickles its answer', async () => {
    const trickling = await startEndlessServer({ trickle: true });
    try {
      await withUpstreamAt(trickling.url, { CALLBACK_TIMEOUT_MS: '1000' }, async (search) => {
        const started = Date.now();
        await expectUnavailable(search, /the answer took longer than 1000 ms to arrive/);
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
        expect(Date.now() - started).toBeLessThan(4_000);
      });
    } finally {
      await trickling.close();
    }
  });

  it('answers 502 soon when the upstream refuses the token with a 401 whose body it trickles', async () => {
    const trickling = await startEndlessServer({ trickle: true, status: 401 });
    const tokens = await CallbackReceiver.start();
    tokens.respondWith(() => ({ status: 200, body: { access_token: `token-${tokens.requests.length}`, token_type: 'Bearer', expires_in: 3600 } }));
    try {
      const auth = { token_url: `${tokens.url}/oauth2/client/token`, client_id: 'gateway-a', client_secret: 's' };
      await withUpstreamAt(trickling.url, { CALLBACK_TIMEOUT_MS: '1000' }, async (search) => {
        const started = Date.now();
        const res = await search();
        expect(res.status).toBe(502);
        expectErrorBody(res.json, 'err.service.unavailable');
        expect(Date.now() - started).toBeLessThan(4_000);
        // Sent again with a fresh token, as any 401 is.
        expect(trickling.requests()).toBe(2);
      }, { auth });
    } finally {
      await trickling.close();
      await tokens.close();
    }
  });

  it('refuses an invalid UPSTREAMS_FILE at start', async () => {
    const file = pair.upstreamsFile('bad.json', { base_url: 'not a url', id: 'x' });
    await expect(startTestServer({ UPSTREAMS_FILE: file }, { db: gatewayDb })).rejects.toThrow(/UPSTREAMS_FILE .*base_url/);
  });
});
