import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/client.js';
import { postJson } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { copyTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * A subscription covers the events recorded after it was made, including those recorded while its subscribe was
 * still being written. PostgreSQL only (TEST_DATABASE_URL): a second session slows the subscribe's transaction down,
 * which PGlite's one connection cannot.
 */
const url = inject('postgresUrl');
let db: Database;
let side: postgres.Sql;
let server: TestServer;
let receiver: CallbackReceiver;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  if (!url) return;
  const dbUrl = await copyTestDatabase(url);
  db = await openDatabase({ databaseUrl: dbUrl, poolSize: 8 });
  side = postgres(dbUrl, { max: 1, onnotice: () => {} });
  receiver = await CallbackReceiver.start();
  const callbacks = { origins: [receiver.url], baseUrl: receiver.url, allowPrivateNetwork: true };
  server = await startTestServer({ WORKER_POLL_MS: '50', CALLBACK_RETRY_BASE_MS: '50' }, {
    db,
    partners: [
      { id: 'programme', secret: 'programme-secret', scopes: ['social:registry.subscribe'], callbacks },
      { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.notify'], signature: 'off' },
    ],
  });
  tokens.programme = await server.token({ clientId: 'programme', secret: 'programme-secret' });
  tokens.crvs = await server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await side?.end();
  await db?.close();
});

const header = (action: string, senderId: string) => ({ version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action, sender_id: senderId, total_count: 1 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function someone() {
  const [row] = await db.query(
    `select ${idColumns()}, i.id from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
     join memberships m on m.individual_id = i.id and m.end_date is null where i.death_date is null and not m.is_head order by i.id offset 40 limit 1`,
  );
  return { id: Number(row.id), uin: clearValue(row) };
}

describe.skipIf(!url)('the window of a new subscription (PostgreSQL)', () => {
  it('notifies a death recorded while the subscribe was being written, once its on-subscribe said succ', async () => {
    const person = await someone();
    // Something holds the subscriptions table for a moment (an operator's maintenance, a long report): the subscribe's
    // transaction has begun and waits to write its row.
    let release!: () => void;
    let locked = false;
    const holder = side.begin(async (sql) => {
      await sql`lock table subscriptions in share mode`;
      locked = true;
      await new Promise<void>((r) => (release = r));
    });
    await waitFor(() => locked);
    const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.programme, {
      header: header('subscribe', 'programme'),
      message: { transaction_id: 't-w', subscribe_request: [{ reference_id: 's-0', timestamp: new Date().toISOString(), subscribe_criteria: { reg_event_type: 'Death', notify_record_type: 'Person' } }] },
    });
    expect(res.status, res.text).toBe(202);
    await waitFor(
      async () => (await db.query(`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query ilike 'insert into subscriptions%' and datname = current_database()`)).length > 0,
      5_000,
      'the subscribe waiting to write',
    );
    // Meanwhile the CRVS reports a death, and the fan-out has its turns (every 50 ms).
    const death = await postJson(`${server.url}/crvs/registry/notify`, tokens.crvs, {
      header: { ...header('notify', 'national-crvs'), status: 'succ' },
      message: { transaction_id: 'n-w', notify_event: [{ reference_id: 'evt-w', timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: person.uin }], death_date: '2026-11-25' } } }] },
    });
    expect(death.status, death.text).toBe(200);
    await sleep(500);
    release();
    await holder;
    const cid = res.json.message.correlation_id;
    const [answer] = await waitFor(() => receiver.forCorrelation(cid).length > 0 && receiver.forCorrelation(cid));
    const [item] = answer.body.message.subscribe_response;
    expect(item.status).toBe('succ');
    const code = item.subscriptions[0].code as string;
    const [event] = await db.query<{ event_id: string }>(`select event_id from registry_events where individual_id = $1 and event_type = 'death'`, [person.id]);
    const [notify] = await waitFor(
      () => {
        const found = receiver.requests.filter((r) => r.body?.header?.action === 'notify' && r.body.header.meta?.subscription_code === code);
        return found.length > 0 && found;
      },
      5_000,
      'the notify of the death',
    );
    expect(notify.body.message.notify_event.map((e: any) => e.reference_id)).toEqual([event.event_id]);
    expect(notify.body.message.notify_event[0].data.reg_records.identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: person.uin });
  });
});
