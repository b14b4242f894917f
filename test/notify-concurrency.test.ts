import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/client.js';
import { postJson } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { copyTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * The notify fan-out against writers whose transactions overlap it (CRVS messages, subscribes, unsubscribes). PostgreSQL only (TEST_DATABASE_URL): a second
 * session holds a transaction open, which PGlite's one connection cannot.
 */
const url = inject('postgresUrl');
let dbUrl: string;
let db: Database;
let side: postgres.Sql;
let server: TestServer;
let receiver: CallbackReceiver;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  if (!url) return;
  dbUrl = await copyTestDatabase(url);
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
let distinct = 0;
const deaths = () => ({ reg_event_type: 'Death', notify_record_type: 'Person', filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { age: { $lte: 150 - distinct++ } } } } } });

async function subscribe(criteria: Record<string, unknown>) {
  const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.programme, { header: header('subscribe', 'programme'), message: { transaction_id: 't-s', subscribe_request: [{ reference_id: 's-0', timestamp: new Date().toISOString(), subscribe_criteria: criteria }] } });
  expect(res.status, res.text).toBe(202);
  const cid = res.json.message.correlation_id;
  const [answer] = await waitFor(() => receiver.forCorrelation(cid).length > 0 && receiver.forCorrelation(cid));
  expect(answer.body.message.subscribe_response[0].status).toBe('succ');
  return answer.body.message.subscribe_response[0].subscriptions[0].code as string;
}

let nextPerson = 0;
async function someone() {
  const [row] = await db.query(
    `select ${idColumns()}, i.id from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
     join memberships m on m.individual_id = i.id and m.end_date is null where i.death_date is null and not m.is_head order by i.id offset $1 limit 1`,
    [nextPerson++ * 7],
  );
  return { id: Number(row.id), uin: clearValue(row) };
}

async function reportDeath(uin: string) {
  const res = await postJson(`${server.url}/crvs/registry/notify`, tokens.crvs, {
    header: { ...header('notify', 'national-crvs'), status: 'succ' },
    message: { transaction_id: 'n-1', notify_event: [{ reference_id: `evt-${randomUUID().slice(0, 8)}`, timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: uin }], death_date: '2026-11-25' } } }] },
  });
  expect(res.status, res.text).toBe(200);
}

const notifiesFor = (code: string) => receiver.requests.filter((r) => r.body?.header?.action === 'notify' && r.body.header.meta?.subscription_code === code);
const notifiedEventIds = (code: string) => notifiesFor(code).flatMap((n) => n.body.message.notify_event.map((e: any) => e.reference_id));

describe.skipIf(!url)('notify fan-out over concurrent writers (PostgreSQL)', () => {
  it('notifies every death of a CRVS message that commits after a later message was fanned out', async () => {
    const code = await subscribe(deaths());
    const [slow, busy, fast] = [await someone(), await someone(), await someone()];
    // Someone else is changing `busy` for a moment (an operator's edit, another message about the same household).
    let release!: () => void;
    let locked = false;
    const holder = side.begin(async (sql) => {
      await sql`select id from individuals where id = ${busy.id} for update`;
      locked = true;
      await new Promise<void>((r) => (release = r));
    });
    await waitFor(() => locked);
    // Message 1 reports two deaths: `slow`'s is applied and its registry events take their ids, then `busy`'s waits.
    const first = postJson(`${server.url}/crvs/registry/notify`, tokens.crvs, {
      header: { ...header('notify', 'national-crvs'), total_count: 2, status: 'succ' },
      message: {
        transaction_id: 'n-2',
        notify_event: [slow, busy].map((p, k) => ({ reference_id: `evt-m1-${k}`, timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: p.uin }], death_date: '2026-11-25' } } })),
      },
    });
    await waitFor(async () => (await db.query(`select 1 from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`)).length > 0, 5_000, 'message 1 waiting');
    // Message 2 (another batch of the inbox) commits first and is fanned out.
    await reportDeath(fast.uin);
    await waitFor(() => notifiesFor(code).length > 0, 5_000, 'the death of message 2');
    release();
    await holder;
    expect((await first).status).toBe(200);
    await sleep(2_000);
    const events = await db.query<{ individual_id: number; event_id: string }>(`select individual_id, event_id from registry_events where event_type = 'death' and individual_id = any($1::bigint[]) order by id`, [[slow.id, busy.id, fast.id]]);
    const notified = notifiedEventIds(code);
    expect(events.map((e) => [Number(e.individual_id), notified.includes(e.event_id)])).toEqual([[slow.id, true], [fast.id, true], [busy.id, true]]);
  });

  it('queues no notify for a subscription once its unsubscribe has been answered succ', async () => {
    const code = await subscribe(deaths());
    let release!: () => void;
    let locked = false;
    // Something else appending to the audit chain for a moment (a big search's disclosures) ...
    const holder = side.begin(async (sql) => {
      await sql`select id from audit_head where id = 1 for update`;
      locked = true;
      await new Promise<void>((r) => (release = r));
    });
    await waitFor(() => locked);
    // ... while a death is fanned out: the round has read the active subscriptions and waits to audit the disclosure.
    await reportDeath((await someone()).uin);
    await sleep(500);
    const res = await postJson(`${server.url}/social/registry/unsubscribe`, tokens.programme, { header: header('unsubscribe', 'programme'), message: { transaction_id: 't-u', timestamp: new Date().toISOString(), subscription_codes: [code] } });
    expect(res.status).toBe(202);
    await sleep(500);
    release();
    await holder;
    const cid = res.json.message.correlation_id;
    const [done] = await waitFor(() => receiver.forCorrelation(cid).length > 0 && receiver.forCorrelation(cid));
    expect(done.body.message).toMatchObject({ status: 'succ', subscription_status: [{ code, status: 'unsubscribe' }] });
    await sleep(2_000);
    expect(notifiesFor(code).filter((n) => n.at > done.at), 'notifies after on-unsubscribe succ').toHaveLength(0);
  });

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
