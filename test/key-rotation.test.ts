import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { envelopeDigest } from '../src/dci/signing/canonical.js';
import { generateSigningKey, type SigningKey } from '../src/dci/signing/keys.js';
import { EnvelopeSigner } from '../src/dci/signing/signer.js';
import { expectErrorBody, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';
import { parseDciSignature } from './support/signatures.js';

/**
 * Keys change without downtime. Ours: a retired signing key stays published and its tokens stay valid until they
 * expire. A partner's: a signature under a kid we do not know makes us fetch its JWKS again, at most so often.
 */

let db: Database;
const query = { query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { group_size: { $gte: 1 } } } } } };

/** A partner's JWKS endpoint whose keys the test changes, counting how often it is fetched. */
let jwksServer: Server;
let published: SigningKey[] = [];
let fetches = 0;
let jwksUri = '';

beforeAll(async () => {
  db = await openTestDatabase();
  jwksServer = createServer((_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  await db?.close();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

const search = (server: TestServer, token: string, body: unknown = searchEnvelope([searchItem(query)])) => postJson(`${server.url}/social/registry/sync/search`, token, body);

describe("rotating this server's signing key", () => {
  let oldKey: SigningKey;
  let newKey: SigningKey;
  let oldServer: TestServer;
  let oldToken: string;

  beforeAll(async () => {
    oldKey = await generateSigningKey();
    newKey = await generateSigningKey();
    oldServer = await startTestServer({}, { db, signingKey: oldKey });
    oldToken = await oldServer.token();
  });
  afterAll(() => oldServer?.close());

  it('publishes the new key first and the retired one after it, and accepts tokens the retired key signed', async () => {
    const rotated = await startTestServer({}, { db, signingKey: newKey, previousSigningKeys: [oldKey] });
    try {
      const jwks = ((await (await fetch(`${rotated.url}/.well-known/jwks.json`)).json()) as { keys: any[] }).keys;
      expect(jwks.filter((k) => k.use === 'sig').map((k) => k.kid)).toEqual([newKey.kid, oldKey.kid]);
      const res = await search(rotated, oldToken);
      expect(res.status).toBe(200);
      // What it says now, it signs with the new key.
      const params = parseDciSignature(res.json.signature);
      expect(params.kidId).toBe(`dci-gateway|${newKey.kid}|ed25519`);
      const signingString = `(created): ${params.created}\n(expires): ${params.expires}\ndigest: ${envelopeDigest(res.json.header, res.json.message)}`;
      expect(verify(null, Buffer.from(signingString), createPublicKey({ key: jwks[0], format: 'jwk' }), Buffer.from(params.signature, 'base64'))).toBe(true);
      const newToken = await rotated.token();
      expect(JSON.parse(Buffer.from(newToken.split('.')[0], 'base64url').toString()).kid).toBe(newKey.kid);
    } finally {
      await rotated.close();
    }
  });

  it('refuses the old tokens once the retired key is no longer configured', async () => {
    const replaced = await startTestServer({}, { db, signingKey: newKey });
    try {
      const res = await search(replaced, oldToken);
      expect(res.status).toBe(401);
      expectErrorBody(res.json, 'err.request.unauthorized');
    } finally {
      await replaced.close();
    }
  });
});

describe('a partner rotating its key (jwks_uri)', () => {
  const partner = (id: string) => ({ id, secret: `${id}-secret`, scopes: ['social:registry.search'], signature: 'required' as const, jwksUri });
  const signed = (key: SigningKey, senderId: string) => {
    const { header, message } = searchEnvelope([searchItem(query)], { sender_id: senderId });
    return new EnvelopeSigner(key, senderId).signedEnvelopeText('dci', header, message);
  };

  it('fetches the JWKS again for an unknown kid: the new key is accepted, the withdrawn one refused', async () => {
    const server = await startTestServer({ PARTNER_JWKS_REFETCH_MIN_SECONDS: '0' }, { db, partners: [partner('rotating')] });
    try {
      const token = await server.token({ clientId: 'rotating', secret: 'rotating-secret' });
      const first = await generateSigningKey();
      const second = await generateSigningKey();
      published = [first];
      expect((await search(server, token, signed(first, 'rotating'))).status).toBe(200);

      published = [second];
      const before = fetches;
      expect((await search(server, token, signed(second, 'rotating'))).status).toBe(200);
      expect(fetches).toBe(before + 1);

      const withdrawn = await search(server, token, signed(first, 'rotating'));
      expect(withdrawn.status).toBe(401);
      expectErrorBody(withdrawn.json, 'err.signature.invalid');
    } finally {
      await server.close();
    }
  });

  it('waits for a slow JWKS endpoint as long as CALLBACK_TIMEOUT_MS allows (README: peer registries, token endpoints, JWKS)', async () => {
    const key = await generateSigningKey();
    const slow = createServer((_req, res) => {
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [key.publicJwk] }));
      }, 6_000);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowUri = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/jwks.json`;
    const server = await startTestServer({ CALLBACK_TIMEOUT_MS: '10000' }, { db, partners: [{ ...partner('far-away'), jwksUri: slowUri }] });
    try {
      const token = await server.token({ clientId: 'far-away', secret: 'far-away-secret' });
      const res = await search(server, token, signed(key, 'far-away'));
      expect(res.status, res.text).toBe(200);
    } finally {
      await server.close();
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });

  it('answers 503, not a signature refusal, when the partner\'s JWKS cannot be fetched to check a key', async () => {
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const goneUri = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/jwks.json`;
    await new Promise((resolve) => gone.close(resolve));
    const server = await startTestServer({}, { db, partners: [{ ...partner('unreachable'), jwksUri: goneUri }] });
    try {
      const token = await server.token({ clientId: 'unreachable', secret: 'unreachable-secret' });
      const res = await search(server, token, signed(await generateSigningKey(), 'unreachable'));
      expect(res.status).toBe(503);
      expectErrorBody(res.json, 'err.service.unavailable');
    } finally {
      await server.close();
    }
  });

  it('fetches at most once per PARTNER_JWKS_REFETCH_MIN_SECONDS, however many unknown kids arrive', async () => {
    const server = await startTestServer({}, { db, partners: [partner('sprayed')] });
    try {
      const token = await server.token({ clientId: 'sprayed', secret: 'sprayed-secret' });
      const known = await generateSigningKey();
      published = [known];
      expect((await search(server, token, signed(known, 'sprayed'))).status).toBe(200);
      const before = fetches;
      for (let i = 0; i < 5; i++) {
        const res = await search(server, token, signed(await generateSigningKey(), 'sprayed'));
        expect(res.status).toBe(401);
        expectErrorBody(res.json, 'err.signature.invalid');
      }
      expect(fetches).toBe(before);
    } finally {
      await server.close();
    }
  });
});
