import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { postJson } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, type ReceivedRequest, waitFor } from './support/receiver.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * A subscriber whose notify cannot be built: it asks for encrypted messages and publishes no encryption key we can use
 * (a key withdrawn, its JWKS endpoint down). The other subscribers are notified as before; its own notifies are held
 * and sent, in order, once it has a key again.
 */

let db: Database;
let server: TestServer;
let receiver: CallbackReceiver;
const tokens: Record<string, string> = {};
/** What the sealed partner's JWKS endpoint serves: nothing (404) until the test publishes a key. */
let sealedJwks: unknown;
/** The slow partner's JWKS endpoint: a key, served after SLOW_JWKS_MS; when it was asked for. */
const SLOW_JWKS_MS = 2_000;
let slowJwksAskedAt: number | undefined;
/** The lagging partner's JWKS endpoint, as slow; when it was last asked for. */
let laggingJwksAskedAt: number | undefined;
const encryptionJwks = (kid: string) => ({ keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }), kid, use: 'enc' }] });

beforeAll(async () => {
  db = await openTestDatabase();
  receiver = await CallbackReceiver.start();
  const slowJwks = encryptionJwks('slow-enc-1');
  const laggingJwks = encryptionJwks('lagging-enc-1');
  receiver.respondWith((req: ReceivedRequest) => {
    if (req.path === '/lagging/jwks.json') {
      laggingJwksAskedAt = Date.now();
      return { status: 200, body: laggingJwks, delayMs: SLOW_JWKS_MS };
    }
    if (req.path === '/slow/jwks.json') {
      slowJwksAskedAt = Date.now();
      return { status: 200, body: slowJwks, delayMs: SLOW_JWKS_MS };
    }
    return req.path === '/sealed/jwks.json' ? (sealedJwks ? { status: 200, body: sealedJwks } : { status: 404 }) : CallbackReceiver.ack(req);
  });
  const callbacks = { origins: [receiver.url], baseUrl: receiver.url, allowPrivateNetwork: true };
  server = await startTestServer({ WORKER_POLL_MS: '50', CALLBACK_RETRY_BASE_MS: '50', PARTNER_JWKS_REFETCH_MIN_SECONDS: '0' }, {
    db,
    partners: [
      { id: 'programme', secret: 'programme-secret', scopes: ['social:registry.subscribe'], callbacks },
      {
        id: 'sealed',
        secret: 'sealed-secret-1',
        scopes: ['social:registry.subscribe'],
        callbacks: { ...callbacks, baseUrl: `${receiver.url}/sealed` },
        encryptResponses: true,
        jwksUri: `${receiver.url}/sealed/jwks.json`,
      },
      { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.notify'], signature: 'off' },
      {
        id: 'slow',
        secret: 'slow-secret-1',
        scopes: ['social:registry.subscribe'],
        callbacks: { ...callbacks, baseUrl: `${receiver.url}/slow` },
        encryptResponses: true,
        jwksUri: `${receiver.url}/slow/jwks.json`,
      },
      {
        id: 'lagging',
        secret: 'lagging-secret-1',
        scopes: ['social:registry.subscribe'],
        callbacks: { ...callbacks, baseUrl: `${receiver.url}/lagging` },
        encryptResponses: true,
        jwksUri: `${receiver.url}/lagging/jwks.json`,
      },
    ],
  });
  tokens.programme = await server.token({ clientId: 'programme', secret: 'programme-secret' });
  tokens.crvs = await server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' });
  tokens.slow = await server.token({ clientId: 'slow', secret: 'slow-secret-1' });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await db?.close();
});

const header = (action: string, senderId: string) => ({ version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action, sender_id: senderId, total_count: 1 });
const deaths = { reg_type: 'ns:org:RegistryType:Social', reg_event_type: 'spdci-common:RegistryEventType:Death', notify_record_type: 'spdci-extensions-dci:Member' };
const notifiesFor = (code: string) => receiver.requests.filter((r) => r.body?.header?.action === 'notify' && r.body.header.meta?.subscription_code === code);

let nextPerson = 0;
async function reportDeath(): Promise<void> {
  const [row] = await db.query(
    `select ${idColumns()} from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
     join memberships m on m.individual_id = i.id and m.end_date is null where i.death_date is null and not m.is_head order by i.id offset $1 limit 1`,
    [nextPerson++ * 7],
  );
  const res = await postJson(`${server.url}/crvs/registry/notify`, tokens.crvs, {
    header: { ...header('notify', 'national-crvs'), status: 'succ' },
    message: {
      transaction_id: 'n-1',
      notify_event: [{ reference_id: `evt-${randomUUID().slice(0, 8)}`, timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_record_type: 'Person', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: clearValue(row) }], death_date: '2026-11-25' } } }],
    },
  });
  expect(res.status, res.text).toBe(200);
}

describe('a subscriber whose notify cannot be built', () => {
  it('notifies the other subscribers, and sends its own notifies once it publishes a key', async () => {
    const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.programme, {
      header: header('subscribe', 'programme'),
      message: { transaction_id: 't-ok', subscribe_request: [{ reference_id: 's-0', timestamp: new Date().toISOString(), subscribe_criteria: deaths }] },
    });
    expect(res.status).toBe(202);
    const correlationId = res.json.message.correlation_id;
    const [answer] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'on-subscribe');
    const code = answer.body.message.subscribe_response[0].subscriptions[0].code as string;
    // The sealed partner subscribed while it published a key; it publishes none now.
    const [sealed] = await db.query<{ code: string }>(
      `insert into subscriptions (code, domain, partner_id, reference_id, event_types, reg_event_type, record_type, filter, notify_url, fingerprint, status, criteria)
       select 'SUB-0000000000000SEALED', domain, 'sealed', reference_id, event_types, reg_event_type, record_type, filter, $2, fingerprint, status, criteria
       from subscriptions where code = $1 returning code`,
      [code, `${receiver.url}/sealed/registry/notify`],
    );

    await reportDeath();
    await waitFor(() => notifiesFor(code).length > 0, 10_000, "the programme's notify");
    await reportDeath();
    await waitFor(() => notifiesFor(code).length > 1, 10_000, "the programme's second notify");
    expect(notifiesFor(sealed.code)).toHaveLength(0);

    // It publishes a key: its held notify goes out (its retry, a minute away, is brought forward), both deaths together.
    sealedJwks = encryptionJwks('sealed-enc-1');
    await db.query(`update subscriptions set next_batch_at = now() where code = $1`, [sealed.code]);
    const [notify] = await waitFor(() => notifiesFor(sealed.code).length > 0 && notifiesFor(sealed.code), 10_000, "the sealed partner's notify");
    expect(notify.body.header).toMatchObject({ action: 'notify', is_msg_encrypted: true, total_count: 2 });
    // Sent: it is notified as events happen again.
    expect(await db.query('select next_batch_at from subscriptions where code = $1', [sealed.code])).toEqual([{ next_batch_at: null }]);
  });
});

describe('a subscriber whose key is slow to fetch', () => {
  it('fetches its key before the subscribe takes its locks: the registry goes on answering meanwhile', async () => {
    const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.slow, {
      header: header('subscribe', 'slow'),
      message: { transaction_id: 't-slow', subscribe_request: [{ reference_id: 's-0', timestamp: new Date().toISOString(), subscribe_criteria: deaths }] },
    });
    expect(res.status).toBe(202);
    const askedAt = await waitFor(() => slowJwksAskedAt, 5_000, 'the JWKS request');
    // A CRVS reports a death while the key is on its way. Fetched inside the subscribe's transaction, the key had kept
    // it open: on the embedded database every other statement waited for it.
    await reportDeath();
    expect(Date.now() - askedAt).toBeLessThan(SLOW_JWKS_MS);
    // Its message is encrypted to it, correlation id and all: found by where it went.
    const onSubscribe = () => receiver.requests.filter((r) => r.path === '/slow/registry/on-subscribe');
    const [answer] = await waitFor(() => onSubscribe().length > 0 && onSubscribe(), 10_000, 'on-subscribe');
    expect(answer.body.header).toMatchObject({ action: 'on-subscribe', is_msg_encrypted: true });
  });
});

describe('a subscriber whose key is slow to fetch when it is notified', () => {
  it('fetches its key before the fan-out takes its locks: a subscribe meanwhile is answered at once', async () => {
    const subscribe = async (criteria: Record<string, unknown>, transactionId: string) => {
      const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.programme, {
        header: header('subscribe', 'programme'),
        message: { transaction_id: transactionId, subscribe_request: [{ reference_id: 's-0', timestamp: new Date().toISOString(), subscribe_criteria: criteria }] },
      });
      expect(res.status).toBe(202);
      const correlationId = res.json.message.correlation_id;
      const [answer] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'on-subscribe');
      return answer.body.message.subscribe_response[0].subscriptions[0].code as string;
    };
    const code = await subscribe({ ...deaths, notify_record_type: 'Person' }, 't-lag-0');
    // The lagging partner subscribed through another server process: this one has not fetched its key yet.
    const [lagging] = await db.query<{ code: string }>(
      `insert into subscriptions (code, domain, partner_id, reference_id, event_types, reg_event_type, record_type, filter, notify_url, fingerprint, status, criteria)
       select 'SUB-000000000000LAGGING', domain, 'lagging', reference_id, event_types, reg_event_type, record_type, filter, $2, fingerprint, status, criteria
       from subscriptions where code = $1 returning code`,
      [code, `${receiver.url}/lagging/registry/notify`],
    );
    laggingJwksAskedAt = undefined;
    await reportDeath();
    const askedAt = await waitFor(() => laggingJwksAskedAt, 10_000, "the lagging partner's JWKS request");
    // Fetched inside the fan-out's transaction, the key kept its locks held: a subscribe waited for it (and on the
    // embedded database every other statement too).
    await subscribe({ ...deaths, reg_event_type: 'Divorce', notify_record_type: 'Person' }, 't-lag-1');
    expect(Date.now() - askedAt).toBeLessThan(SLOW_JWKS_MS);
    const [notify] = await waitFor(() => notifiesFor(lagging.code).length > 0 && notifiesFor(lagging.code), 10_000, "the lagging partner's notify");
    expect(notify.body.header).toMatchObject({ action: 'notify', is_msg_encrypted: true });
  });
});
