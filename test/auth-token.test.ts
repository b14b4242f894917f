import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { SEARCH_ONLY_PARTNER, startTestServer, type TestServer } from './support/server.js';

/** POST /oauth2/client/token (DCI authz API, RFC 6749 client credentials) and the JWKS that verifies its tokens. */

let server: TestServer;
let tokenUrl: string;

/** A secret an operator chose, with the characters form encoding changes (`+`, `%`, space). */
const ODD_SECRET_PARTNER = { id: 'odd secret+partner', secret: 'a+b%c d%2B', scopes: ['social:registry.search'] };

beforeAll(async () => {
  server = await startTestServer({}, { partners: [ODD_SECRET_PARTNER] });
  tokenUrl = `${server.url}/oauth2/client/token`;
});
afterAll(() => server?.close());

const form = (params: Record<string, string>) => new URLSearchParams(params);
const post = async (body: BodyInit, headers: Record<string, string> = {}) => {
  const res = await fetch(tokenUrl, { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
};

describe('token endpoint', () => {
  it('issues a JWT for form-encoded client credentials, verifiable with the published JWKS', async () => {
    const res = await post(form({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: '*' });
    const jwks = await (await fetch(`${server.url}/.well-known/jwks.json`)).json();
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'sig', alg: 'EdDSA' });
    expect(jwks.keys[0].d).toBeUndefined();
    const { payload, protectedHeader } = await jwtVerify(res.json.access_token, createLocalJWKSet(jwks));
    expect(protectedHeader.kid).toBe(jwks.keys[0].kid);
    expect(payload).toMatchObject({ sub: 'demo-spmis', iss: 'dci-gateway', aud: 'dci-gateway', scope: '*' });
    expect(typeof payload.jti).toBe('string');
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  it('accepts HTTP Basic client authentication', async () => {
    const basic = Buffer.from(`${SEARCH_ONLY_PARTNER.id}:${SEARCH_ONLY_PARTNER.secret}`).toString('base64');
    const res = await post(form({ grant_type: 'client_credentials' }), { authorization: `Basic ${basic}` });
    expect(res.status).toBe(200);
    expect(res.json.scope).toBe('social:registry.search');
  });

  it('decodes form-urlencoded Basic credentials (RFC 6749 2.3.1), and refuses malformed ones with 401 invalid_client', async () => {
    const basic = (credentials: string) => ({ authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
    const encoded = await post(form({ grant_type: 'client_credentials' }), basic(`demo%2Dspmis:${encodeURIComponent('demo-spmis-secret')}`));
    expect(encoded.status).toBe(200);
    const malformed = await post(form({ grant_type: 'client_credentials' }), basic('demo-spmis'));
    expect(malformed.status).toBe(401);
    expect(malformed.json).toEqual({ error: 'invalid_client', error_description: 'malformed Basic credentials' });
    expect(malformed.headers.get('www-authenticate')).toBe('Basic realm="dci"');
    // Not form-decodable, so read as sent: no such client or secret.
    for (const credentials of ['demo%zzspmis:demo-spmis-secret', 'demo-spmis:secret%', 'demo-spmis:%E0%A4%A']) {
      const res = await post(form({ grant_type: 'client_credentials' }), basic(credentials));
      expect(res.status, credentials).toBe(401);
      expect(res.json, credentials).toEqual({ error: 'invalid_client', error_description: 'unknown client or wrong secret' });
      expect(res.headers.get('www-authenticate'), credentials).toBe('Basic realm="dci"');
    }
  });

  it('reads Basic credentials with + and % both form-encoded (a + is a space) and as sent (curl -u)', async () => {
    const basic = (credentials: string) => ({ authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
    const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
    const { id, secret } = ODD_SECRET_PARTNER;
    expect(formEncode(secret)).toBe('a%2Bb%25c+d%252B');
    for (const credentials of [`${formEncode(id)}:${formEncode(secret)}`, `${id}:${secret}`]) {
      const res = await post(form({ grant_type: 'client_credentials' }), basic(credentials));
      expect(res.status, credentials).toBe(200);
      expect(res.json.scope).toBe('social:registry.search');
    }
    const decodedOnce = await post(form({ grant_type: 'client_credentials' }), basic(`${id}:a b%c d+`));
    expect(decodedOnce.status).toBe(401);
    expect(decodedOnce.json.error).toBe('invalid_client');
  });

  it('refuses a parameter given twice (RFC 6749 3.2) with 400 invalid_request', async () => {
    const twice = [
      'grant_type=client_credentials&client_id=demo-spmis&client_secret=demo-spmis-secret&scope=social:registry.search&scope=crvs:registry.search',
      `grant_type=client_credentials&client_id=${SEARCH_ONLY_PARTNER.id}&client_id=demo-spmis&client_secret=demo-spmis-secret`,
      'grant_type=password&grant_type=client_credentials&client_id=demo-spmis&client_secret=demo-spmis-secret',
    ];
    for (const body of twice) {
      const res = await post(body, { 'content-type': 'application/x-www-form-urlencoded' });
      expect(res.status, body).toBe(400);
      expect(res.json, body).toEqual({ error: 'invalid_request', error_description: 'a parameter is given more than once (RFC 6749 3.2)' });
      expect(res.json.access_token).toBeUndefined();
    }
  });

  it('refuses a body client_secret that differs from the Basic one (one authentication method, RFC 6749 2.3)', async () => {
    const basic = { authorization: `Basic ${Buffer.from(`${SEARCH_ONLY_PARTNER.id}:${SEARCH_ONLY_PARTNER.secret}`).toString('base64')}` };
    const differing = await post(form({ grant_type: 'client_credentials', client_secret: 'demo-spmis-secret' }), basic);
    expect(differing.status).toBe(400);
    expect(differing.json).toEqual({ error: 'invalid_request', error_description: 'client_secret differs from the Basic credentials: use one of the two' });
    const repeated = await post(form({ grant_type: 'client_credentials', client_id: SEARCH_ONLY_PARTNER.id, client_secret: SEARCH_ONLY_PARTNER.secret }), basic);
    expect(repeated.status).toBe(200);
    expect(repeated.json.scope).toBe('social:registry.search');
  });

  it('accepts a JSON body', async () => {
    const res = await post(JSON.stringify({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' }), { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
  });

  it('narrows to the requested scopes, with / or . separators', async () => {
    const res = await post(form({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret', scope: 'social:registry/search crvs:registry.search' }));
    expect(res.status).toBe(200);
    expect(res.json.scope).toBe('social:registry.search crvs:registry.search');
  });

  it('refuses a scope the client does not hold -> 400 invalid_scope', async () => {
    const res = await post(form({ grant_type: 'client_credentials', client_id: SEARCH_ONLY_PARTNER.id, client_secret: SEARCH_ONLY_PARTNER.secret, scope: 'crvs:registry.search' }));
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_scope');
  });

  it('wrong secret and unknown client look the same -> 401 invalid_client', async () => {
    const wrong = await post(form({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'nope' }));
    const unknown = await post(form({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'nope' }));
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_client');
      expect(res.json.access_token).toBeUndefined();
    }
    expect(wrong.json.error_description).toBe(unknown.json.error_description);
  });

  it('answers a flood of guesses with 503 temporarily_unavailable beyond the waiting line, and serves again after it', async () => {
    const guesses = await Promise.all(
      Array.from({ length: 300 }, (_, k) => post(form({ grant_type: 'client_credentials', client_id: k % 2 ? 'demo-spmis' : `nobody-${k}`, client_secret: `guess-${k}` }))),
    );
    const busy = guesses.filter((g) => g.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    for (const g of busy) {
      expect(g.json).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
      expect(g.headers.get('retry-after')).toBe('1');
    }
    expect(guesses.filter((g) => g.status !== 503).every((g) => g.status === 401 && g.json.error === 'invalid_client')).toBe(true);
    expect((await post(form({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' }))).status).toBe(200);
  });

  it('refuses other grant types, missing parameters and other content types', async () => {
    const grant = await post(form({ grant_type: 'password', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' }));
    expect(grant.status).toBe(400);
    expect(grant.json.error).toBe('unsupported_grant_type');
    const missing = await post(form({ client_id: 'demo-spmis' }));
    expect(missing.status).toBe(400);
    expect(missing.json.error).toBe('invalid_request');
    const noSecret = await post(form({ grant_type: 'client_credentials', client_id: 'demo-spmis' }));
    expect(noSecret.status).toBe(401);
    const text = await post('grant_type=client_credentials', { 'content-type': 'text/plain' });
    expect(text.status).toBe(400);
    expect(text.json.error).toBe('invalid_request');
    const brokenJson = await post('{"grant_type":', { 'content-type': 'application/json' });
    expect(brokenJson.status).toBe(400);
  });

  it('a token scoped to SR search works on SR sync search', async () => {
    const token = await server.token({ clientId: SEARCH_ONLY_PARTNER.id, secret: SEARCH_ONLY_PARTNER.secret });
    const res = await fetch(`${server.url}/social/registry/sync/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        header: { message_id: 'm1', message_ts: new Date().toISOString(), action: 'search', sender_id: SEARCH_ONLY_PARTNER.id, total_count: 1 },
        message: { transaction_id: 't1', search_request: [{ reference_id: 'r1', timestamp: new Date().toISOString(), search_criteria: { query_type: 'idtype-value', query: { type: 'UIN', value: '1' } } }] },
      }),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).message.search_response[0].status).toBe('succ');
  });
});
