import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { postJson } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { waitFor } from './support/receiver.js';
import { type GatewayPair, startGatewayPair } from './support/gateway.js';
import type { TestServer } from './support/server.js';

/**
 * The gateway subscribes itself to the national CRVS (a second instance of this server) and applies the deaths the
 * CRVS notifies, as it applies those a CRVS pushes directly: the registry stays current without anyone polling.
 */

let pair: GatewayPair;
let crvsDb: Database;
let gatewayDb: Database;
let crvs: TestServer;
let gateway: TestServer;

beforeAll(async () => {
  pair = await startGatewayPair({
    env: { WORKER_POLL_MS: '50' },
    crvsPartners: (gw) => [
      {
        id: 'gateway-a',
        secret: 'gateway-a-secret',
        scopes: ['crvs:registry.subscribe', 'crvs:registry.search'],
        signature: 'required',
        jwks: { keys: [gw.key.publicJwk] },
        // Where the CRVS calls the gateway back, with a token from the gateway's own token endpoint.
        callbacks: { origins: [gw.url], baseUrl: `${gw.url}/crvs`, allowPrivateNetwork: true, auth: { tokenUrl: `${gw.url}/oauth2/client/token`, clientId: 'national-crvs', clientSecret: 'national-crvs-secret' } },
      },
      { id: 'hospital', secret: 'hospital-secret-1', scopes: ['crvs:registry.notify'], signature: 'off' },
    ],
    gatewayPartners: (crvsUrl) => [
      { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.notify', 'crvs:registry.on-subscribe'], signature: 'required', jwksUri: `${crvsUrl}/.well-known/jwks.json` },
      { id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] },
    ],
  });
  ({ crvsDb, gatewayDb, crvs, gateway } = pair);
});
afterAll(async () => {
  await pair?.close();
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
