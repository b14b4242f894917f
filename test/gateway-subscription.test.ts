import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { generateSigningKey } from '../src/dci/signing/keys.js';
import { postJson } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { freePort, waitFor } from './support/receiver.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * The gateway subscribes itself to the national CRVS (a second instance of this server) and applies the deaths the
 * CRVS notifies, as it applies those a CRVS pushes directly: the registry stays current without anyone polling.
 */

const dir = mkdtempSync(join(tmpdir(), 'dci-upstream-sub-'));
let crvsDb: Database;
let gatewayDb: Database;
let crvs: TestServer;
let gateway: TestServer;

beforeAll(async () => {
  crvsDb = await openTestDatabase();
  gatewayDb = await openTestDatabase();
  const gatewayKey = await generateSigningKey();
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  crvs = await startTestServer({ DCI_SENDER_ID: 'national-crvs', WORKER_POLL_MS: '50' }, {
    db: crvsDb,
    partners: [
      {
        id: 'gateway-a',
        secret: 'gateway-a-secret',
        scopes: ['crvs:registry.subscribe', 'crvs:registry.search'],
        signature: 'required',
        jwks: { keys: [gatewayKey.publicJwk] },
        // Where the CRVS calls the gateway back, with a token from the gateway's own token endpoint.
        callbacks: { origins: [gatewayUrl], baseUrl: `${gatewayUrl}/crvs`, allowPrivateNetwork: true, auth: { tokenUrl: `${gatewayUrl}/oauth2/client/token`, clientId: 'national-crvs', clientSecret: 'national-crvs-secret' } },
      },
      { id: 'hospital', secret: 'hospital-secret-1', scopes: ['crvs:registry.notify'], signature: 'off' },
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
      { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.notify', 'crvs:registry.on-subscribe'], signature: 'required', jwksUri: `${crvs.url}/.well-known/jwks.json` },
      { id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] },
    ],
  });
});
afterAll(async () => {
  await gateway?.close();
  await crvs?.close();
  await crvsDb?.close();
  await gatewayDb?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway subscribed to an upstream CRVS', () => {
  it('subscribes through the admin API, gets on-subscribe, and applies the deaths the CRVS then notifies', async () => {
    const admin = await gateway.token({ clientId: 'ops', secret: 'ops-secret-123' });
    const res = await fetch(`${gateway.url}/admin/upstreams/crvs/subscribe`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reg_event_type: 'spdci-common:RegistryEventType:Death', notify_record_type: 'Person' }),
    });
    expect(res.status).toBe(202);
    // The CRVS holds the subscription and the gateway has its on-subscribe.
    const [sub] = await waitFor(async () => {
      const rows = await crvsDb.query<{ partner_id: string; domain: string; status: string }>(`select partner_id, domain, status from subscriptions`);
      return rows.length > 0 && rows;
    });
    expect(sub).toEqual({ partner_id: 'gateway-a', domain: 'crvs', status: 'subscribe' });
    await waitFor(async () => (await gatewayDb.query(`select 1 from received_callbacks where action = 'on-subscribe' and status = 'succ'`)).length > 0, 10_000, 'on-subscribe');

    // A hospital reports a death to the national CRVS.
    const [row] = await gatewayDb.query(`select ${idColumns()}, x.individual_id from identifiers x join individuals i on i.id = x.individual_id
      where x.id_type = 'UIN' and i.death_date is null order by x.id limit 1`);
    const uin = clearValue(row);
    const hospital = await crvs.token({ clientId: 'hospital', secret: 'hospital-secret-1' });
    const reported = await postJson(`${crvs.url}/crvs/registry/notify`, hospital, {
      header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'notify', status: 'succ', sender_id: 'hospital', total_count: 1 },
      message: { transaction_id: 'h-1', notify_event: [{ reference_id: 'h-evt-1', timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: uin }], death_date: '2026-11-27' } } }] },
    });
    expect(reported.status).toBe(200);

    // The CRVS notifies the gateway, which applies the death to its own registry.
    const [dead] = await waitFor(async () => {
      const rows = await gatewayDb.query<{ d: string | null }>('select death_date::text as d from individuals where id = $1', [row.individual_id]);
      return rows[0].d !== null && rows;
    });
    expect(dead.d).toBe('2026-11-27');
    const [event] = await gatewayDb.query(`select sender_id, event_type, state from crvs_events order by id desc limit 1`);
    expect(event).toEqual({ sender_id: 'national-crvs', event_type: 'death', state: 'applied' });
  });

  it('answers 404 for a domain with no upstream and refuses criteria it does not know', async () => {
    const admin = await gateway.token({ clientId: 'ops', secret: 'ops-secret-123' });
    const call = (path: string, body: unknown) => fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await call('/admin/upstreams/ibr/subscribe', { reg_event_type: 'Death' })).status).toBe(404);
    expect((await call('/admin/upstreams/crvs/subscribe', { reg_event_type: 'Death', shoe_size: 42 })).status).toBe(400);
  });
});
