import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPartnersFile } from '../src/auth/partners-file.js';
import { hashSecret } from '../src/auth/partners.js';
import { generateSigningKey } from '../src/dci/signing/keys.js';
import { expectErrorBody, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { openTestDatabase, startTestServer } from './support/server.js';

const dir = mkdtempSync(join(tmpdir(), 'dci-partners-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(content: unknown): string {
  const path = join(dir, `partners-${n++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** A key pair as JWK tools export it, the private `d` beside the public `x`. */
const privateJwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
const base = { id: 'spmis-1', secret: 'a-long-enough-secret', scopes: ['social:registry.search'], signature: 'off' };

describe('PARTNERS_FILE', () => {
  it('reads partners with their policy, keys, callbacks, fields and purposes', async () => {
    const key = await generateSigningKey();
    const [{ partner: p }] = await loadPartnersFile(
      file([
        {
          ...base,
          signature: 'required',
          signature_format: 'jws-detached',
          jwks: { keys: [key.publicJwk] },
          callback_origins: ['https://spmis.example.org'],
          callback_base_url: 'https://spmis.example.org/dci/social',
          callback_auth: { token_url: 'https://spmis.example.org/oauth2/token', client_id: 'gw', client_secret: 'x' },
          fields: ['group_identifier', 'poverty_score'],
          purposes: ['eligibility'],
        },
      ]),
      { production: false },
    );
    expect(p).toMatchObject({
      id: 'spmis-1',
      scopes: ['social:registry.search'],
      signature: 'required',
      signatureFormat: 'jws-detached',
      callbacks: {
        origins: ['https://spmis.example.org'],
        baseUrl: 'https://spmis.example.org/dci/social',
        allowPrivateNetwork: false,
        auth: { tokenUrl: 'https://spmis.example.org/oauth2/token', clientId: 'gw', clientSecret: 'x' },
      },
      fields: ['group_identifier', 'poverty_score'],
      purposes: ['eligibility'],
    });
    expect(p.secretHash).toMatch(/^scrypt\$/);
    expect(p.secretHash).not.toContain('a-long-enough-secret');
  });

  it.each([
    ['not JSON', '{nope', /PARTNERS_FILE/],
    ['a duplicate id', [base, base], /appears twice/],
    ['both secret and secret_hash', [{ ...base, secret_hash: `scrypt$${'A'.repeat(24)}$${'B'.repeat(44)}` }], /exactly one of secret and secret_hash/],
    ['a secret_hash that would take any secret', [{ id: 'x', scopes: ['*'], signature: 'off', secret_hash: 'scrypt$c2FsdHNhbHRzYWx0$!!' }], /secret_hash must be scrypt/],
    ['neither secret nor hash', [{ id: 'x', scopes: ['*'], signature: 'off' }], /exactly one/],
    ['checked signatures without keys', [{ ...base, signature: 'required' }], /needs jwks or jwks_uri/],
    ['an unknown member', [{ ...base, scope: 'typo' }], /scope/],
    ['a bad signature policy', [{ ...base, signature: 'sometimes' }], /signature/],
    ['no scopes', [{ ...base, scopes: [] }], /scopes/],
    ['a private key in jwks', [{ ...base, signature: 'required', jwks: { keys: [{ ...privateJwk, kid: 'k1' }] } }], /jwks\.keys\.0: .*public keys only/],
    ['a symmetric key in jwks', [{ ...base, signature: 'required', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ', kid: 'k1' }] } }], /public keys only/],
  ])('refuses a file with %s', async (_name, content, message) => {
    await expect(loadPartnersFile(file(content), { production: false })).rejects.toThrow(message);
  });

  it('names where a file that is not JSON breaks, never the text around it (the file holds secrets, and the error is printed at start)', async () => {
    for (const [broken, where] of [
      ['[{"id": "x", "secret": tell-no-one-12345}]', /not valid JSON$/],
      ['[{"id": "x",\n "secret": "tell-no-one-12345",}]', /not valid JSON at line 2, column 32/],
    ] as const) {
      const refused = await loadPartnersFile(file(broken), { production: false }).then(
        () => undefined,
        (e: Error) => e.message,
      );
      expect(refused).toMatch(where);
      expect(refused).not.toMatch(/tell|no-one|12345/);
    }
  });

  it('refuses a secret in clear in production', async () => {
    await expect(loadPartnersFile(file([base]), { production: true })).rejects.toThrow(/secret_hash in production/);
    const hashed = { ...base, secret: undefined, secret_hash: await hashSecret('a-long-enough-secret') };
    await expect(loadPartnersFile(file([hashed]), { production: true })).resolves.toHaveLength(1);
  });

  it('serves the file partners over HTTP: token with their secret and scopes only', async () => {
    const server = await startTestServer({ PARTNERS_FILE: file([{ ...base, secret: undefined, secret_hash: await hashSecret('a-long-enough-secret') }]) });
    try {
      const token = await server.token({ clientId: 'spmis-1', secret: 'a-long-enough-secret' });
      const res = await postJson(`${server.url}/social/registry/sync/search`, token, searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })], { sender_id: 'spmis-1' }));
      expect(res.status).toBe(200);
      const wrong = await fetch(`${server.url}/oauth2/client/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'spmis-1', client_secret: 'wrong-secret-value' }),
      });
      expect(wrong.status).toBe(401);
      const escalate = await fetch(`${server.url}/oauth2/client/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'spmis-1', client_secret: 'a-long-enough-secret', scope: 'crvs:registry.search' }),
      });
      expect(escalate.status).toBe(400);
      expect(((await escalate.json()) as { error: string }).error).toBe('invalid_scope');
    } finally {
      await server.close();
    }
  });

  it('ends the tokens of the old secret when the file gives a partner a new one, and those of a partner taken out and put back', async () => {
    const db = await openTestDatabase();
    const signingKey = await generateSigningKey();
    const search = (url: string, token: string) =>
      postJson(`${url}/social/registry/sync/search`, token, searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })], { sender_id: 'spmis-1' }));
    const run = async (content: unknown[], check: (url: string, token: (secret: string) => Promise<string>) => Promise<void>) => {
      const server = await startTestServer({ PARTNERS_FILE: file(content) }, { db, signingKey });
      try {
        await check(server.url, (secret) => server.token({ clientId: 'spmis-1', secret }));
      } finally {
        await server.close();
      }
    };
    try {
      let leaked = '';
      await run([{ ...base, secret: undefined, secret_hash: await hashSecret('a-long-enough-secret') }], async (_url, token) => {
        leaked = await token('a-long-enough-secret');
      });
      // The secret leaked: the operators write a new one into the file and restart.
      let current = '';
      await run([{ ...base, secret: undefined, secret_hash: await hashSecret('the-new-secret-value') }], async (url, token) => {
        const refused = await search(url, leaked);
        expect(refused.status).toBe(401);
        expectErrorBody(refused.json, 'err.request.unauthorized');
        current = await token('the-new-secret-value');
        expect((await search(url, current)).status).toBe(200);
      });
      // The same secret in clear (hashed with a new salt at each start) is no new secret: its tokens stay good.
      await run([{ ...base, secret: 'the-new-secret-value' }], async (url) => {
        expect((await search(url, current)).status).toBe(200);
      });
      await run([], async (url) => {
        expect((await search(url, current)).status).toBe(401);
      });
      await run([{ ...base, secret: 'the-new-secret-value' }], async (url) => {
        expect((await search(url, current)).status).toBe(401);
      });
    } finally {
      await db.close();
    }
  });

  it('holds a partner to its rate limit: 429, Retry-After and err.request.too_many_requests beyond the burst', async () => {
    const server = await startTestServer({ PARTNERS_FILE: file([{ ...base, rate_limit: { per_second: 0.5, burst: 2 } }]) });
    try {
      const token = await server.token({ clientId: 'spmis-1', secret: 'a-long-enough-secret' });
      const search = () =>
        postJson(`${server.url}/social/registry/sync/search`, token, searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })], { sender_id: 'spmis-1' }));
      expect((await search()).status).toBe(200);
      expect((await search()).status).toBe(200);
      const limited = await search();
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('2');
      expect(limited.json.message.error.code).toBe('err.request.too_many_requests');
      // Other partners are not held back by this one's budget.
      const demo = await server.token();
      expect((await postJson(`${server.url}/social/registry/sync/search`, demo, searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })]))).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
