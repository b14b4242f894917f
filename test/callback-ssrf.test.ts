import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * SSRF: a partner names its callback URL in header.sender_uri. For a partner that may call back to any public origin
 * but not to private networks, no hostile target may reach a canary listening on loopback: each is refused when the
 * request arrives (400 err.sender_uri.invalid) or when the callback connects (its delivery fails).
 */

let server: TestServer;
let canary: CallbackReceiver;
let redirector: CallbackReceiver;
let token: string;

beforeAll(async () => {
  canary = await CallbackReceiver.start();
  redirector = await CallbackReceiver.start();
  server = await startTestServer(
    { WORKER_POLL_MS: '50', CALLBACK_RETRY_BASE_MS: '50', CALLBACK_TIMEOUT_MS: '1000', CALLBACK_HORIZON_SECONDS: '2' },
    {
      partners: [
        { id: 'public-only', secret: 'public-only-secret', scopes: ['social:registry.search'], callbacks: { origins: ['*'], allowPrivateNetwork: false } },
        { id: 'loopback-ok', secret: 'loopback-ok-secret', scopes: ['social:registry.search'], callbacks: { origins: [redirector.url], allowPrivateNetwork: true } },
      ],
    },
  );
  token = await server.token({ clientId: 'public-only', secret: 'public-only-secret' });
});
afterAll(async () => {
  await server?.close();
  await canary?.close();
  await redirector?.close();
});

function hostileTargets(port: number): string[] {
  const p = port;
  return [
    // loopback, every spelling WHATWG URL parsing accepts
    `http://127.0.0.1:${p}/`,
    `http://127.1:${p}/`,
    `http://127.0.1:${p}/`,
    `http://127.255.255.254:${p}/`,
    `http://2130706433:${p}/`,
    `http://0x7f000001:${p}/`,
    `http://0x7f.0x0.0x0.0x1:${p}/`,
    `http://0x7f.1:${p}/`,
    `http://0177.0.0.1:${p}/`,
    `http://0177.0.0.01:${p}/`,
    `http://017700000001:${p}/`,
    `http://0177.1:${p}/`,
    `http://127.000.000.001:${p}/`,
    `http://[::1]:${p}/`,
    `http://[0:0:0:0:0:0:0:1]:${p}/`,
    `http://[::ffff:127.0.0.1]:${p}/`,
    `http://[::ffff:7f00:1]:${p}/`,
    `http://[0:0:0:0:0:ffff:7f00:1]:${p}/`,
    `http://[::127.0.0.1]:${p}/`,
    `http://[64:ff9b::127.0.0.1]:${p}/`,
    `http://0.0.0.0:${p}/`,
    `http://0:${p}/`,
    `http://[::]:${p}/`,
    // names for loopback
    `http://localhost:${p}/`,
    `http://LOCALHOST:${p}/`,
    `http://localhost.:${p}/`,
    `http://callback.localhost:${p}/`,
    `http://ip6-localhost:${p}/`,
    `http://${hostname()}:${p}/`,
    `http://127.0.0.1.nip.io:${p}/`,
    `http://localtest.me:${p}/`,
    // private, shared, link-local and reserved ranges (cloud metadata among them)
    `http://10.0.0.1:${p}/`,
    `http://172.16.0.1:${p}/`,
    `http://172.31.255.254:${p}/`,
    `http://192.168.1.1:${p}/`,
    `http://100.64.0.1:${p}/`,
    `http://169.254.169.254/latest/meta-data/`,
    `http://2852039166/latest/meta-data/`,
    `http://0xa9fea9fe/latest/meta-data/`,
    `http://0251.0376.0251.0376/latest/meta-data/`,
    `http://[::ffff:169.254.169.254]/`,
    `http://[::ffff:a9fe:a9fe]/`,
    `http://[fe80::1]:${p}/`,
    `http://[fc00::1]:${p}/`,
    `http://[fd12:3456::1]:${p}/`,
    `http://[::ffff:10.0.0.1]:${p}/`,
    `http://192.0.0.8:${p}/`,
    `http://198.18.0.1:${p}/`,
    `http://224.0.0.1:${p}/`,
    `http://255.255.255.255:${p}/`,
    // schemes other than http(s)
    'file:///etc/passwd',
    `gopher://127.0.0.1:${p}/_POST%20/`,
    `ftp://127.0.0.1:${p}/`,
    `dict://127.0.0.1:${p}/`,
    `ldap://127.0.0.1:${p}/`,
    'data:text/plain,hello',
    'javascript:alert(1)',
    // credentials in the URL
    `http://user:pass@127.0.0.1:${p}/`,
    'https://user:pass@registry.example.org/on-search',
    'https://token@registry.example.org/on-search',
    // not a URL
    'not a url',
    '//127.0.0.1/',
  ];
}

describe('callback targets a partner may not reach', () => {
  it('refuses every hostile target, and the loopback canary is never called', async () => {
    const port = Number(new URL(canary.url).port);
    const targets = hostileTargets(port);
    expect(targets.length).toBeGreaterThanOrEqual(50);
    const acceptedCorrelations: string[] = [];
    for (const target of targets) {
      const res = await postJson(
        `${server.url}/social/registry/search`,
        token,
        searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })], { sender_id: 'public-only', sender_uri: target }),
      );
      if (res.status === 202) acceptedCorrelations.push(res.json.message.correlation_id);
      else {
        expect(res.status, target).toBe(400);
        expect(res.json.message.error.code, target).toBe('err.sender_uri.invalid');
      }
    }
    // Names that only resolve to a forbidden address pass the first check; their connection is refused instead.
    for (const correlationId of acceptedCorrelations) {
      await waitFor(
        async () => {
          const [row] = await server.db.query<{ attempts: number; last_error: string | null }>(
            'select d.attempts, d.last_error from callback_deliveries d join dci_transactions t on t.id = d.transaction_id where t.correlation_id = $1',
            [correlationId],
          );
          return row && row.attempts >= 1 && row.last_error !== null;
        },
        10_000,
        `a failed attempt for ${correlationId}`,
      );
    }
    expect(canary.requests).toHaveLength(0);
  });

  it('does not follow a redirect, even for a partner allowed on loopback', async () => {
    redirector.respondWith(() => ({ status: 302, headers: { location: `${canary.url}/stolen` } }));
    const loopbackToken = await server.token({ clientId: 'loopback-ok', secret: 'loopback-ok-secret' });
    const res = await postJson(
      `${server.url}/social/registry/search`,
      loopbackToken,
      searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })], { sender_id: 'loopback-ok', sender_uri: `${redirector.url}/on-search` }),
    );
    expect(res.status).toBe(202);
    const correlationId = res.json.message.correlation_id;
    await waitFor(() => redirector.forCorrelation(correlationId).length >= 2, 10_000, 'two attempts at the redirector');
    const [row] = await server.db.query<{ last_status: number; state: string }>(
      'select d.last_status, d.state from callback_deliveries d join dci_transactions t on t.id = d.transaction_id where t.correlation_id = $1',
      [correlationId],
    );
    expect(row.last_status).toBe(302);
    expect(row.state).not.toBe('delivered');
    expect(canary.requests).toHaveLength(0);
  });
});
