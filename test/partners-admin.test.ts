import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../src/auth/partners.js';
import type { Database } from '../src/db/client.js';
import { generateSigningKey, type SigningKey } from '../src/dci/signing/keys.js';
import { EnvelopeSigner } from '../src/dci/signing/signer.js';
import { expectErrorBody, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/** Partners live in the database and are managed through the admin API; every change is audited. */

let db: Database;
let server: TestServer;
let admin: string;
/** The servers' signing key: a second server process over the same database takes the first one's tokens. */
let signingKey: SigningKey;
const dir = mkdtempSync(join(tmpdir(), 'dci-partners-'));

beforeAll(async () => {
  db = await openTestDatabase();
  signingKey = await generateSigningKey();
  server = await startTestServer({}, { db, signingKey, partners: [{ id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] }] });
  admin = await server.token({ clientId: 'ops', secret: 'ops-secret-123' });
});
afterAll(async () => {
  await server?.close();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, token = admin) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), text, json: text ? JSON.parse(text) : undefined };
}

async function tokenFor(clientId: string, secret: string, scope?: string) {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, ...(scope ? { scope } : {}) });
  const res = await fetch(`${server.url}/oauth2/client/token`, { method: 'POST', body: form });
  return { status: res.status, json: (await res.json()) as any };
}

/** Households by poverty score: a field programme-x may receive, so a field it may search by. */
const searchByHousehold = (token: string, senderId: string) =>
  postJson(
    `${server.url}/social/registry/sync/search`,
    token,
    searchEnvelope([searchItem({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { poverty_score: { $gte: 0 } } } } } })], { sender_id: senderId }),
  );

/** A key pair as JWK tools export it, the private `d` beside the public `x`. */
const privateJwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });

const NEW_PARTNER = {
  secret: 'programme-secret-1',
  scopes: ['social:registry.search'],
  signature: 'off',
  callback_origins: ['https://programme.example.org'],
  callback_auth: { token_url: 'https://programme.example.org/oauth2/token', client_id: 'gateway', client_secret: 'do-not-show-me' },
  fields: ['group_identifier', 'poverty_score'],
};

describe('partners admin API', () => {
  it('lists the configured partners with their source and never a secret', async () => {
    const res = await call('GET', '/admin/partners');
    expect(res.status).toBe(200);
    const byId = Object.fromEntries(res.json.items.map((p: any) => [p.id, p]));
    expect(byId['demo-spmis']).toMatchObject({ source: 'development', scopes: ['*'], signature: 'optional', signature_format: 'dci' });
    expect(byId.ops).toMatchObject({ source: 'config', scopes: ['admin'] });
    expect(res.text).not.toMatch(/scrypt\$|secret_hash|secretHash/);
  });

  it('adds a partner that can then get a token and search, seeing only its fields; the change is audited', async () => {
    const put = await call('PUT', '/admin/partners/programme-x', NEW_PARTNER);
    expect(put.status).toBe(201);
    expect(put.json).toMatchObject({ id: 'programme-x', source: 'api', scopes: ['social:registry.search'], signature: 'off', fields: NEW_PARTNER.fields });
    expect(put.json.callback_auth).toEqual({ kind: 'client_credentials', token_url: 'https://programme.example.org/oauth2/token', client_id: 'gateway' });
    expect(put.text).not.toContain('programme-secret-1');
    expect(put.text).not.toContain('do-not-show-me');

    const token = await tokenFor('programme-x', 'programme-secret-1');
    expect(token.status).toBe(200);
    expect(token.json.scope).toBe('social:registry.search');
    const res = await searchByHousehold(token.json.access_token, 'programme-x');
    expect(res.status).toBe(200);
    const [group] = res.json.message.search_response[0].data.reg_records;
    expect(Object.keys(group).filter((k) => !k.startsWith('@')).sort()).toEqual(['group_identifier', 'poverty_score']);

    const audit = await call('GET', '/admin/audit?partner_id=ops');
    expect(audit.json.items[0]).toMatchObject({ event: 'change', domain: 'admin', action: 'partner.create', record_ids: ['programme-x'], partner_id: 'ops' });
  });

  it('replaces a partner: the new secret and scopes apply to new tokens at once', async () => {
    const put = await call('PUT', '/admin/partners/programme-x', { ...NEW_PARTNER, secret: 'programme-secret-2', scopes: ['crvs:registry.search'] });
    expect(put.status).toBe(200);
    expect(put.json.scopes).toEqual(['crvs:registry.search']);
    expect((await tokenFor('programme-x', 'programme-secret-1')).status).toBe(401);
    const narrowed = await tokenFor('programme-x', 'programme-secret-2', 'social:registry.search');
    expect([narrowed.status, narrowed.json.error]).toEqual([400, 'invalid_scope']);
    expect((await tokenFor('programme-x', 'programme-secret-2', 'crvs:registry.search')).status).toBe(200);
    const audit = await call('GET', '/admin/audit?partner_id=ops');
    expect(audit.json.items[0]).toMatchObject({ event: 'change', action: 'partner.replace', record_ids: ['programme-x'] });
  });

  it('removes a partner: its live token is refused at once and it gets no new one', async () => {
    await call('PUT', '/admin/partners/short-lived', { ...NEW_PARTNER, secret: 'short-lived-secret' });
    const { json } = await tokenFor('short-lived', 'short-lived-secret');
    expect((await searchByHousehold(json.access_token, 'short-lived')).status).toBe(200);

    const del = await call('DELETE', '/admin/partners/short-lived');
    expect(del.status).toBe(204);
    // The token of a partner no longer registered is revoked: 401, as for any token no longer valid (RFC 6750).
    const refused = await searchByHousehold(json.access_token, 'short-lived');
    expect(refused.status).toBe(401);
    expectErrorBody(refused.json, 'err.request.unauthorized');
    expect((await tokenFor('short-lived', 'short-lived-secret')).status).toBe(401);
    expect((await call('GET', '/admin/partners/short-lived')).status).toBe(404);
    expect((await call('GET', '/admin/audit?partner_id=ops')).json.items[0]).toMatchObject({ action: 'partner.remove', record_ids: ['short-lived'] });
  });

  it('does not bring back the tokens of a partner removed and added again, nor those of its old secret', async () => {
    const entry = (secret: string) => ({ secret, scopes: ['admin'], signature: 'off' });
    expect((await call('PUT', '/admin/partners/leaky', entry('leaky-old-secret-1'))).status).toBe(201);
    const leaked = (await tokenFor('leaky', 'leaky-old-secret-1')).json.access_token;
    expect((await call('GET', '/admin/queues', undefined, leaked)).status).toBe(200);
    expect((await call('DELETE', '/admin/partners/leaky')).status).toBe(204);
    expect((await call('PUT', '/admin/partners/leaky', entry('leaky-new-secret-2'))).status).toBe(201);
    const refused = await call('GET', '/admin/queues', undefined, leaked);
    expect(refused.status, 'the token issued before the removal').toBe(401);
    expect(refused.json.detail).toMatch(/invalid or expired token/);

    // Replaced with a new secret, within the second the token was issued in (a token's iat counts whole seconds).
    const before = (await tokenFor('leaky', 'leaky-new-secret-2')).json.access_token;
    expect((await call('PUT', '/admin/partners/leaky', entry('leaky-third-secret-3'))).status).toBe(200);
    const after = (await tokenFor('leaky', 'leaky-third-secret-3')).json.access_token;
    expect((await call('GET', '/admin/queues', undefined, before)).status, 'the token of the old secret').toBe(401);
    expect((await call('GET', '/admin/queues', undefined, after)).status, 'the token of the new secret').toBe(200);

    // Replaced with the same secret (given again in clear, or as its hash): its tokens stay valid.
    expect((await call('PUT', '/admin/partners/leaky', { ...entry('leaky-third-secret-3'), scopes: ['admin', 'dr:registry.assess'] })).status).toBe(200);
    expect((await call('GET', '/admin/queues', undefined, after)).status).toBe(200);
    const [{ hash }] = await db.query<{ hash: string }>(`select settings->>'secretHash' as hash from partners where id = 'leaky'`);
    expect((await call('PUT', '/admin/partners/leaky', { secret_hash: hash, scopes: ['admin'], signature: 'off' })).status).toBe(200);
    expect((await call('GET', '/admin/queues', undefined, after)).status).toBe(200);
  });

  it('takes at once, in another server process, a token issued under a secret given since that process read the partners', async () => {
    const entry = (secret: string) => ({ secret, scopes: ['admin'], signature: 'off' });
    expect((await call('PUT', '/admin/partners/two-sites', entry('two-sites-secret-1'))).status).toBe(201);
    const other = await startTestServer({}, { db, signingKey, partners: [{ id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] }] });
    try {
      const queues = (token: string) => fetch(`${other.url}/admin/queues`, { headers: { authorization: `Bearer ${token}` } });
      const old = (await tokenFor('two-sites', 'two-sites-secret-1')).json.access_token;
      expect((await queues(old)).status).toBe(200);
      expect((await call('PUT', '/admin/partners/two-sites', entry('two-sites-secret-2'))).status).toBe(200);
      const fresh = (await tokenFor('two-sites', 'two-sites-secret-2')).json.access_token;
      expect((await queues(fresh)).status, 'the new token, within the 5 s the other process takes to reload').toBe(200);
      expect((await queues(old)).status, 'the old token').toBe(401);
    } finally {
      await other.close();
    }
  });

  it('takes at once, in another server process, the token of a partner added since that process read the partners', async () => {
    const other = await startTestServer({}, { db, signingKey, partners: [{ id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] }] });
    try {
      expect((await call('PUT', '/admin/partners/newcomer-site', { secret: 'newcomer-site-secret', scopes: ['admin'], signature: 'off' })).status).toBe(201);
      const token = (await tokenFor('newcomer-site', 'newcomer-site-secret')).json.access_token;
      const res = await fetch(`${other.url}/admin/queues`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status, 'within the 5 s the other process takes to reload').toBe(200);
    } finally {
      await other.close();
    }
  });

  it('removes an operator: its live token opens no admin route and no REST route at once', async () => {
    expect((await call('PUT', '/admin/partners/second-operator', { secret: 'second-operator-secret', scopes: ['admin', 'dr:registry.assess'], signature: 'off' })).status).toBe(201);
    const token = (await tokenFor('second-operator', 'second-operator-secret')).json.access_token;
    expect((await call('GET', '/admin/partners', undefined, token)).status).toBe(200);
    expect((await call('DELETE', '/admin/partners/second-operator')).status).toBe(204);
    const audit = await call('GET', '/admin/audit', undefined, token);
    const backdoor = await call('PUT', '/admin/partners/backdoor', { secret: 'backdoor-secret-1', scopes: ['*'], signature: 'off' }, token);
    // An empty assessment: 400 would mean the bearer check let the removed partner through to validation.
    const assessment = await call('POST', '/dr/assessments', {}, token);
    expect([audit.status, backdoor.status, assessment.status]).toEqual([401, 401, 401]);
    expect(backdoor.json.detail).toMatch(/invalid or expired token/);
    expect((await call('GET', '/admin/partners/backdoor')).status).toBe(404);
  });

  it('narrows a partner: its live token loses the scopes the partner no longer holds', async () => {
    await call('PUT', '/admin/partners/narrowed', { ...NEW_PARTNER, secret: 'narrowed-secret-1', scopes: ['social:registry.search', 'crvs:registry.search'] });
    const token = (await tokenFor('narrowed', 'narrowed-secret-1')).json.access_token;
    expect((await searchByHousehold(token, 'narrowed')).status).toBe(200);
    expect((await call('PUT', '/admin/partners/narrowed', { ...NEW_PARTNER, secret: 'narrowed-secret-1', scopes: ['crvs:registry.search'] })).status).toBe(200);
    const refused = await searchByHousehold(token, 'narrowed');
    expect(refused.status).toBe(403);
    expectErrorBody(refused.json, 'err.request.forbidden');
  });

  it('never grants admin or * to a partner holding every DCI scope (*:*)', async () => {
    expect((await call('PUT', '/admin/partners/all-dci', { secret: 'all-dci-secret-1', scopes: ['*:*'], signature: 'off' })).status).toBe(201);
    const plain = await tokenFor('all-dci', 'all-dci-secret-1');
    expect(plain.json.scope).toBe('*:*');
    expect((await searchByHousehold(plain.json.access_token, 'all-dci')).status).toBe(200);
    expect((await call('GET', '/admin/partners', undefined, plain.json.access_token)).status).toBe(403);
    for (const scope of ['admin', '*', 'social:registry.search admin']) {
      const asked = await tokenFor('all-dci', 'all-dci-secret-1', scope);
      expect([asked.status, asked.json.error], scope).toEqual([400, 'invalid_scope']);
    }
    expect((await tokenFor('all-dci', 'all-dci-secret-1', 'social:*')).status).toBe(200);
  });

  it('takes scopes written with / (the DCI authz form) as the same scopes', async () => {
    const put = await call('PUT', '/admin/partners/slash-scoped', { secret: 'slash-scoped-secret', scopes: ['social:registry/search'], signature: 'off' });
    expect([put.status, put.json.scopes]).toEqual([201, ['social:registry.search']]);
    const asked = await tokenFor('slash-scoped', 'slash-scoped-secret', 'social:registry/search');
    expect([asked.status, asked.json.scope]).toEqual([200, 'social:registry.search']);
    expect((await searchByHousehold(asked.json.access_token, 'slash-scoped')).status).toBe(200);
  });

  it('refuses a secret_hash that would take any secret, or one of a few', async () => {
    const salt = Buffer.alloc(16, 7).toString('base64');
    const hash = Buffer.alloc(32, 9).toString('base64');
    for (const [name, secretHash] of [
      ['a hash that decodes to nothing', `scrypt$${salt}$!!`],
      ['a hash of two bytes', `scrypt$${salt}$${Buffer.alloc(2).toString('base64')}`],
      ['a salt of four bytes', `scrypt$${Buffer.alloc(4).toString('base64')}$${hash}`],
      ['a hash with characters outside base64', `scrypt$${salt}$${hash.slice(0, -4)}*${hash.slice(-3)}`],
      ['a fourth part', `scrypt$${salt}$${hash}$x`],
    ]) {
      const put = await call('PUT', '/admin/partners/empty-hash', { secret_hash: secretHash, scopes: ['social:registry.search'], signature: 'off' });
      expect(put.status, name).toBe(400);
      expect(put.json.detail, name).toMatch(/secret_hash must be scrypt/);
    }
    expect((await tokenFor('empty-hash', 'any guess at all')).status).toBe(401);
    expect((await call('PUT', '/admin/partners/empty-hash', { secret_hash: `scrypt$${salt}$${hash}`, scopes: ['social:registry.search'], signature: 'off' })).status).toBe(201);
    expect((await tokenFor('empty-hash', 'any guess at all')).status).toBe(401);
  });

  it('checks a partner given a new jwks_uri against the new JWKS at once: a key only the old one held stops verifying', async () => {
    const leaked = await generateSigningKey();
    const fresh = await generateSigningKey();
    const oldJwks = await jwksEndpoint([leaked]);
    const newJwks = await jwksEndpoint([fresh]);
    try {
      const entry = { secret: 'rotating-secret-1', scopes: ['social:registry.search'], signature: 'required' };
      expect((await call('PUT', '/admin/partners/rotating', { ...entry, jwks_uri: oldJwks.url })).status).toBe(201);
      const token = (await tokenFor('rotating', 'rotating-secret-1')).json.access_token;
      const signedBy = (key: SigningKey) => {
        const { header, message } = searchEnvelope([searchItem({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { group_size: { $gte: 1 } } } } } })], { sender_id: 'rotating' });
        return new EnvelopeSigner(key, 'rotating').signedEnvelopeText('dci', header, message);
      };
      const search = (key: SigningKey) => postJson(`${server.url}/social/registry/sync/search`, token, signedBy(key));
      expect((await search(leaked)).status).toBe(200);
      expect((await call('PUT', '/admin/partners/rotating', { ...entry, jwks_uri: newJwks.url })).status).toBe(200);
      const refused = await search(leaked);
      expect(refused.status).toBe(401);
      expectErrorBody(refused.json, 'err.signature.invalid');
      expect((await search(fresh)).status).toBe(200);
    } finally {
      oldJwks.server.close();
      newJwks.server.close();
    }
  });

  it('refuses bad partners with a problem document and stores nothing', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['unknown field', { ...NEW_PARTNER, admin: true }, /unrecognized|admin/i],
      ['no secret', { ...NEW_PARTNER, secret: undefined }, /exactly one of secret and secret_hash/],
      ['short secret', { ...NEW_PARTNER, secret: 'short' }, /secret/],
      ['no scopes', { ...NEW_PARTNER, scopes: [] }, /scopes/],
      ['checked signatures without keys', { ...NEW_PARTNER, signature: 'required' }, /jwks/],
      ['bad signature format', { ...NEW_PARTNER, signature_format: 'xml-dsig' }, /signature_format/],
      ['another id in the body', { ...NEW_PARTNER, id: 'someone-else' }, /path id/],
      ['a private key in jwks', { ...NEW_PARTNER, signature: 'required', jwks: { keys: [{ ...privateJwk, kid: 'k1', use: 'sig' }] } }, /jwks\.keys\.0: .*public keys only/],
      ['not an object', ['a'], /.+/],
      ['callback settings without callback_origins', { ...NEW_PARTNER, callback_origins: undefined, callback_base_url: 'https://programme.example.org/dci' }, /callback_base_url, callback_auth need callback_origins/],
      ['a callback base off its callback origins', { ...NEW_PARTNER, callback_base_url: 'https://elsewhere.example.org/dci' }, /callback_base_url.*not a registered callback origin/],
      ['a private callback base the partner may not call', { ...NEW_PARTNER, callback_origins: ['http://10.0.0.5:8080'], callback_base_url: 'http://10.0.0.5:8080/dci' }, /callback_base_url.*not a public address/],
    ];
    for (const [name, body, detail] of cases) {
      const res = await call('PUT', '/admin/partners/bad-one', body);
      expect(res.status, name).toBe(400);
      expect(res.type, name).toContain('application/problem+json');
      expect(res.json.detail, name).toMatch(detail);
    }
    const broken = await call('PUT', '/admin/partners/bad-one', '{"scopes": [');
    expect(broken.status).toBe(400);
    // Bodies no DCI route would take either: nested thousands deep (a stack overflow in JSON.stringify before), a
    // NUL character, more than MAX_BODY_BYTES.
    const deep = JSON.stringify({ ...NEW_PARTNER, signature: 'required', jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', ext: '__DEEP__' }] } }).replace(
      '"__DEEP__"',
      '['.repeat(50_000) + ']'.repeat(50_000),
    );
    for (const [name, body, status, detail] of [
      ['nested 50,000 deep', deep, 400, /deeper than 64 levels/],
      ['a NUL character', { ...NEW_PARTNER, fields: ['group\u0000identifier'] }, 400, /U\+0000/],
      ['over MAX_BODY_BYTES', { ...NEW_PARTNER, fields: ['x'.repeat(1_100_000)] }, 413, /exceeds 1048576 bytes/],
    ] as const) {
      const res = await call('PUT', '/admin/partners/bad-one', body);
      expect(res.status, name).toBe(status);
      expect(res.type, name).toContain('application/problem+json');
      expect(res.json.detail, name).toMatch(detail);
    }
    expect((await call('GET', '/admin/partners/bad-one')).status).toBe(404);
  });

  it('never shows the private part of a key stored in a partner\'s inline jwks before such keys were refused', async () => {
    const settings = { scopes: ['social:registry.search'], secretHash: await hashSecret('keyed-secret-123'), signature: 'required', signatureFormat: 'dci', jwks: { keys: [{ ...privateJwk, kid: 'k1' }] } };
    await db.query(`insert into partners (id, source, settings) values ('keyed', 'api', $1::jsonb)`, [JSON.stringify(settings)]);
    const one = await call('GET', '/admin/partners/keyed');
    expect(one.json.jwks).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: privateJwk.x, kid: 'k1' }] });
    expect((await call('GET', '/admin/partners')).text).not.toContain(privateJwk.d);
  });

  it('leaves partners managed elsewhere alone (409), and answers 404, 401 and 403 as it should', async () => {
    const demo = await call('PUT', '/admin/partners/demo-spmis', NEW_PARTNER);
    expect([demo.status, demo.json.detail]).toEqual([409, expect.stringMatching(/managed by PARTNERS_FILE or the configuration/)]);
    expect((await call('DELETE', '/admin/partners/ops')).status).toBe(409);
    expect((await call('DELETE', '/admin/partners/nobody')).status).toBe(404);
    expect((await call('GET', '/admin/partners', undefined, '')).status).toBe(401);
    const searchOnly = await server.token({ clientId: 'spmis-search-only', secret: 'search-only-secret' });
    expect((await call('GET', '/admin/partners', undefined, searchOnly)).status).toBe(403);
    expect((await call('PUT', '/admin/partners/x', NEW_PARTNER, searchOnly)).status).toBe(403);
  });

  it('answers no async search of a partner removed before it ran, and one added by another process it runs', async () => {
    // One process takes requests in, another runs them, as in a deployment with several.
    const own = await openTestDatabase();
    const receiver = await CallbackReceiver.start();
    const ops = { id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] };
    const intake = await startTestServer({ WORKERS: 'false' }, { db: own, partners: [ops] });
    let runner: TestServer | undefined;
    try {
      const opsToken = await intake.token({ clientId: 'ops', secret: 'ops-secret-123' });
      const manage = (method: string, id: string, body?: unknown) =>
        fetch(`${intake.url}/admin/partners/${id}`, { method, headers: { authorization: `Bearer ${opsToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const partner = (id: string) => ({ secret: `${id}-secret-1`, scopes: ['social:registry.search'], signature: 'off', callback_origins: [receiver.url], callback_private_network: true, fields: ['group_identifier'] });
      const ask = async (id: string) => {
        const token = await intake.token({ clientId: id, secret: `${id}-secret-1` });
        const res = await postJson(
          `${intake.url}/social/registry/search`,
          token,
          searchEnvelope([searchItem({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { group_size: { $gte: 1 } } } } } })], {
            sender_id: id,
            sender_uri: `${receiver.url}/on-search`,
          }),
        );
        expect(res.status, res.text).toBe(202);
        return res.json.message.correlation_id as string;
      };
      const outcome = (correlationId: string) =>
        waitFor(async () => {
          const [t] = await own.query<{ state: string; last_error: string | null; deliveries: number }>(
            `select state, last_error, (select count(*)::int from callback_deliveries d where d.transaction_id = t.id) as deliveries from dci_transactions t where correlation_id = $1`,
            [correlationId],
          );
          return t && !['received', 'executing'].includes(t.state) && t;
        });

      expect((await manage('PUT', 'leaving', partner('leaving'))).status).toBe(201);
      const leavingRequest = await ask('leaving');
      expect((await manage('DELETE', 'leaving')).status).toBe(204);
      runner = await startTestServer({ WORKER_POLL_MS: '50' }, { db: own, partners: [ops] });
      // Before: run with no field list and no purpose check, its whole records were queued for a partner of that id.
      expect(await outcome(leavingRequest)).toMatchObject({ state: 'failed', last_error: 'partner leaving is no longer registered', deliveries: 0 });

      // Added through the intake a moment ago: the runner reads it from the table rather than failing it.
      expect((await manage('PUT', 'arriving', partner('arriving'))).status).toBe(201);
      const arrivingRequest = await ask('arriving');
      const [callback] = await waitFor(() => receiver.forCorrelation(arrivingRequest).length > 0 && receiver.forCorrelation(arrivingRequest));
      expect(callback.body.message.search_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
      expect(callback.body.message.search_response[0].status_reason_message).toMatch(/this partner may not receive group_size/);
      expect(receiver.forCorrelation(leavingRequest)).toHaveLength(0);
    } finally {
      await runner?.close();
      await intake.close();
      await receiver.close();
      await own.close();
    }
  });

  it('keeps API partners across restarts, and drops file partners taken out of the file', async () => {
    const file = join(dir, 'partners.json');
    writeFileSync(file, JSON.stringify([{ id: 'from-file', secret: 'from-file-secret', scopes: ['social:registry.search'], signature: 'off' }]));
    const withFile = await startTestServer({ PARTNERS_FILE: file }, { db, partners: [{ id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] }] });
    try {
      expect((await call('GET', '/admin/partners/from-file')).json).toMatchObject({ source: 'file' });
    } finally {
      await withFile.close();
    }
    writeFileSync(file, '[]');
    const restarted = await startTestServer({ PARTNERS_FILE: file }, { db, partners: [{ id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] }] });
    try {
      const ids = (await call('GET', '/admin/partners')).json.items.map((p: any) => p.id);
      expect(ids).toContain('programme-x');
      expect(ids).not.toContain('from-file');
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'programme-x', client_secret: 'programme-secret-2' });
      expect((await fetch(`${restarted.url}/oauth2/client/token`, { method: 'POST', body: form })).status).toBe(200);
    } finally {
      await restarted.close();
    }
  });
});

async function jwksEndpoint(keys: SigningKey[]): Promise<{ url: string; server: Server }> {
  const endpoint = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/jwks.json`, server: endpoint };
}
