import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Database } from '../src/db/client.js';
import { TransactionStore } from '../src/dci/transactions/transaction-store.js';
import { postJson } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, type ReceivedRequest, waitFor } from './support/receiver.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * A subscription's life around its notifies: its time window is judged by when each event was recorded, however late
 * the fan-out reads it; an ended or expired subscription, or a partner that lost the subscribe scope, gets nothing more;
 * a subscribe or unsubscribe executed again is answered as it was applied.
 */

let db: Database;
let server: TestServer;
let receiver: CallbackReceiver;
const tokens: Record<string, string> = {};
const CRVS = { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.notify'], signature: 'off' as const };
let callbacks: { origins: string[]; baseUrl: string; allowPrivateNetwork: boolean };
const PROGRAMME = () => ({ id: 'programme', secret: 'programme-secret', scopes: ['social:registry.subscribe'], callbacks });
const ENV = { WORKER_POLL_MS: '50', CALLBACK_RETRY_BASE_MS: '50' };

beforeAll(async () => {
  db = await openTestDatabase();
  receiver = await CallbackReceiver.start();
  callbacks = { origins: [receiver.url], baseUrl: receiver.url, allowPrivateNetwork: true };
  server = await startTestServer(ENV, { db, partners: [PROGRAMME(), CRVS, { id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] }] });
  tokens.programme = await server.token({ clientId: 'programme', secret: 'programme-secret' });
  tokens.crvs = await server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' });
  tokens.ops = await server.token({ clientId: 'ops', secret: 'ops-secret-123' });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await db?.close();
});
beforeEach(() => receiver.respondWith(CallbackReceiver.ack));

const header = (action: string, senderId: string, total = 1) => ({ version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action, sender_id: senderId, total_count: total });

async function subscribe(criteria: Record<string, unknown>, senderId = 'programme', token = tokens.programme) {
  const body = { header: header('subscribe', senderId), message: { transaction_id: `t-${randomUUID().slice(0, 8)}`, subscribe_request: [{ reference_id: 's-0', timestamp: new Date().toISOString(), subscribe_criteria: criteria }] } };
  const res = await postJson(`${server.url}/social/registry/subscribe`, token, body);
  expect(res.status, res.text).toBe(202);
  const cid = res.json.message.correlation_id;
  const [answer] = await waitFor(() => receiver.forCorrelation(cid).length > 0 && receiver.forCorrelation(cid));
  const item = answer.body.message.subscribe_response[0];
  expect(item.status, JSON.stringify(item)).toBe('succ');
  return item.subscriptions[0].code as string;
}

async function unsubscribe(codes: string[]) {
  const res = await postJson(`${server.url}/social/registry/unsubscribe`, tokens.programme, { header: header('unsubscribe', 'programme'), message: { transaction_id: 't-u', timestamp: new Date().toISOString(), subscription_codes: codes } });
  expect(res.status).toBe(202);
  const cid = res.json.message.correlation_id;
  const [answer] = await waitFor(() => receiver.forCorrelation(cid).length > 0 && receiver.forCorrelation(cid));
  return answer;
}

let nextPerson = 0;
async function someone() {
  const row = (
    await db.query(
      `select ${idColumns()}, i.id from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
       join memberships m on m.individual_id = i.id and m.end_date is null
       where i.death_date is null and not m.is_head order by i.id offset $1 limit 1`,
      [nextPerson++ * 7],
    )
  )[0];
  return { id: Number(row.id), uin: clearValue(row) };
}

async function reportDeath(url: string, uin: string) {
  const res = await postJson(`${url}/crvs/registry/notify`, tokens.crvs, {
    header: { ...header('notify', 'national-crvs'), status: 'succ' },
    message: { transaction_id: 'n-1', notify_event: [{ reference_id: `evt-${randomUUID().slice(0, 8)}`, timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: uin }], death_date: '2026-11-25' } } }] },
  });
  expect(res.status, res.text).toBe(200);
}

const notifiesFor = (code: string) => receiver.requests.filter((r) => r.body?.header?.action === 'notify' && r.body.header.meta?.subscription_code === code);
let distinct = 0;
/** Deaths of people aged 0 or more: each call's filter differs (age <= 150 - n), so no two are the same subscription. */
const deaths = (extra: Record<string, unknown> = {}) => ({
  reg_type: 'ns:org:RegistryType:Social', reg_event_type: 'Death', notify_record_type: 'Person',
  filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { age: { $lte: 150 - distinct++ } } } } },
  ...extra,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops the workers, lets a server without workers take a CRVS death, waits `pauseMs`, then brings the workers back. */
async function deathWhileWorkersDown(uin: string, pauseMs: number) {
  await server.close();
  const intake = await startTestServer({ WORKERS: 'false' }, { db, partners: [CRVS] });
  try {
    tokens.crvs = await intake.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' });
    await reportDeath(intake.url, uin);
  } finally {
    await intake.close();
  }
  await sleep(pauseMs);
  server = await startTestServer(ENV, { db, partners: [PROGRAMME(), CRVS, { id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] }] });
  tokens.programme = await server.token({ clientId: 'programme', secret: 'programme-secret' });
  tokens.crvs = await server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' });
  tokens.ops = await server.token({ clientId: 'ops', secret: 'ops-secret-123' });
}

describe('subscription time window', () => {
  it('does not notify a death recorded before the subscription\'s start_time', async () => {
    const start = new Date(Date.now() + 3_000).toISOString();
    const code = await subscribe(deaths({ frequency: { start_time: start, frequency: 'realtime' } }));
    const person = await someone();
    await deathWhileWorkersDown(person.uin, 3_500); // recorded before start_time, fanned out after it
    const [event] = await db.query<{ recorded_at: string }>(`select recorded_at from registry_events where individual_id = $1 and event_type = 'death'`, [person.id]);
    expect(new Date(event.recorded_at).toISOString() < start).toBe(true);
    await sleep(1_500);
    expect(notifiesFor(code)).toHaveLength(0);
  });

  it('notifies a death recorded before the subscription\'s end_time even when fanned out after it', async () => {
    const end = new Date(Date.now() + 3_000).toISOString();
    const code = await subscribe(deaths({ reg_event_type: 'DEATH_REGISTERED', frequency: { end_time: end, frequency: 'realtime' } }));
    const person = await someone();
    await deathWhileWorkersDown(person.uin, 3_500); // recorded inside the window, fanned out after it
    const [event] = await db.query<{ recorded_at: string }>(`select recorded_at from registry_events where individual_id = $1 and event_type = 'death'`, [person.id]);
    expect(new Date(event.recorded_at).toISOString() < end).toBe(true);
    await waitFor(() => notifiesFor(code).length > 0, 5_000, 'the notify of a death recorded inside the window');
  });
});

describe('expired subscriptions', () => {
  it('refuses a subscription whose end_time has already passed', async () => {
    const body = { header: header('subscribe', 'programme'), message: { transaction_id: 't-past', subscribe_request: [{ reference_id: 's-past', timestamp: new Date().toISOString(), subscribe_criteria: deaths({ frequency: { end_time: '2020-01-01T00:00:00Z', frequency: 'realtime' } }) }] } };
    const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.programme, body);
    const cid = res.json.message.correlation_id;
    const [answer] = await waitFor(() => receiver.forCorrelation(cid).length > 0 && receiver.forCorrelation(cid));
    expect(answer.body.message.subscribe_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.notify_details.invalid', status_reason_message: expect.stringMatching(/end_time has passed/) });
  });

  it('lets a partner subscribe again to the same events once its earlier subscription has expired', async () => {
    const criteria = { reg_type: 'ns:org:RegistryType:Social', reg_event_type: 'Marriage', notify_record_type: 'Person' };
    const end = new Date(Date.now() + 1_500).toISOString();
    await subscribe({ ...criteria, frequency: { end_time: end, frequency: 'realtime' } });
    await sleep(2_000); // the first subscription is over: it notifies nothing any more
    const body = { header: header('subscribe', 'programme'), message: { transaction_id: 't-again', subscribe_request: [{ reference_id: 's-again', timestamp: new Date().toISOString(), subscribe_criteria: criteria }] } };
    const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.programme, body);
    const cid = res.json.message.correlation_id;
    const [answer] = await waitFor(() => receiver.forCorrelation(cid).length > 0 && receiver.forCorrelation(cid));
    expect(answer.body.message.subscribe_response[0], JSON.stringify(answer.body.message.subscribe_response[0])).toMatchObject({ status: 'succ' });
  });
});

describe('unsubscribe', () => {
  it('sends no notify after on-unsubscribe said succ', async () => {
    const code = await subscribe(deaths({ reg_event_type: 'DeathRegistered' }));
    let failing = true;
    receiver.respondWith((req: ReceivedRequest) => (req.body?.header?.action === 'notify' && failing ? { status: 503 } : CallbackReceiver.ack(req)));
    await reportDeath(server.url, (await someone()).uin);
    await waitFor(() => notifiesFor(code).length > 0); // the subscriber is briefly down
    const done = await unsubscribe([code]);
    expect(done.body.message).toMatchObject({ status: 'succ', subscription_status: [{ code, status: 'unsubscribe' }] });
    const unsubscribedAt = Date.now();
    failing = false; // the subscriber is back
    await sleep(2_000);
    const after = notifiesFor(code).filter((r) => r.at > unsubscribedAt);
    expect(after, 'notifies received after on-unsubscribe').toHaveLength(0);
    const withdrawn = await db.query<{ state: string; last_error: string }>(
      `select d.state, d.last_error from callback_deliveries d join subscriptions s on s.id = d.subscription_id where s.code = $1`,
      [code],
    );
    expect(withdrawn).toEqual([{ state: 'gone', last_error: 'the subscription ended' }]);
  });

  it('does not let an operator replay a notify withdrawn by unsubscribe (409): the partner hears nothing after on-unsubscribe', async () => {
    const code = await subscribe(deaths({ reg_event_type: 'DEATH' }));
    let failing = true;
    receiver.respondWith((req: ReceivedRequest) => (req.body?.header?.action === 'notify' && failing ? { status: 503 } : CallbackReceiver.ack(req)));
    await reportDeath(server.url, (await someone()).uin);
    await waitFor(() => notifiesFor(code).length > 0); // the subscriber is briefly down
    expect((await unsubscribe([code])).body.message).toMatchObject({ status: 'succ' });
    const unsubscribedAt = Date.now();
    failing = false;
    const [withdrawn] = await db.query<{ id: number }>(`select d.id from callback_deliveries d join subscriptions s on s.id = d.subscription_id where s.code = $1`, [code]);

    // An operator going through the "gone" list replays it.
    const replay = await fetch(`${server.url}/admin/deliveries/${withdrawn.id}/replay`, { method: 'POST', headers: { authorization: `Bearer ${tokens.ops}` } });
    expect(replay.status).toBe(409);
    expect(((await replay.json()) as { detail: string }).detail).toMatch(/its subscription has ended/);
    const delivery = (await (await fetch(`${server.url}/admin/deliveries/${withdrawn.id}`, { headers: { authorization: `Bearer ${tokens.ops}` } })).json()) as { state: string };
    expect(delivery.state).toBe('gone');
    await sleep(1_000);
    expect(notifiesFor(code).filter((r) => r.at > unsubscribedAt), 'notifies received after on-unsubscribe').toHaveLength(0);
  });
});

describe('scope', () => {
  it('stops notifying a partner whose subscribe scope was withdrawn', async () => {
    const partner = { secret: 'withdrawn-secret-1', scopes: ['social:registry.subscribe'], signature: 'off', callback_origins: [receiver.url], callback_base_url: `${receiver.url}/withdrawn`, callback_private_network: true };
    const put = await fetch(`${server.url}/admin/partners/withdrawn`, { method: 'PUT', headers: { authorization: `Bearer ${tokens.ops}`, 'content-type': 'application/json' }, body: JSON.stringify(partner) });
    expect(put.status).toBe(201);
    const token = await server.token({ clientId: 'withdrawn', secret: 'withdrawn-secret-1' });
    const code = await subscribe(deaths({ reg_event_type: 'Death' }), 'withdrawn', token);
    // The partner's agreement ends: it keeps only a search scope (no subscribe, no search of people either).
    const again = await fetch(`${server.url}/admin/partners/withdrawn`, { method: 'PUT', headers: { authorization: `Bearer ${tokens.ops}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...partner, scopes: ['ibr:registry.search'] }) });
    expect(again.status).toBe(200);
    const person = await someone();
    await reportDeath(server.url, person.uin);
    await sleep(1_500);
    expect(notifiesFor(code).map((n) => n.text.includes(person.uin))).toEqual([]);
  });
});

describe('several server processes', () => {
  it('notifies a partner added and subscribed through another process, though this one had not read it yet', async () => {
    // Another process: it takes the partner in (its admin API) and ran its subscribe; this one's fan-out has not read
    // the partners since (it reads them every 5 s).
    const other = await startTestServer({ WORKERS: 'false' }, { db, partners: [PROGRAMME(), CRVS, { id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] }] });
    try {
      const opsToken = await other.token({ clientId: 'ops', secret: 'ops-secret-123' });
      const partner = { secret: 'newcomer-secret-1', scopes: ['social:registry.subscribe'], signature: 'off', callback_origins: [receiver.url], callback_private_network: true };
      const put = await fetch(`${other.url}/admin/partners/newcomer`, { method: 'PUT', headers: { authorization: `Bearer ${opsToken}`, 'content-type': 'application/json' }, body: JSON.stringify(partner) });
      expect(put.status).toBe(201);
      const template = await subscribe(deaths({ reg_event_type: 'Death' }));
      const code = `newcomer-${randomUUID()}`;
      await db.query(
        `insert into subscriptions (code, domain, partner_id, reference_id, event_types, reg_event_type, record_type, filter, frequency, start_time, end_time, notify_url, fingerprint, status, criteria)
         select $2, domain, 'newcomer', reference_id, event_types, reg_event_type, record_type, filter, frequency, start_time, end_time, notify_url, $2, status, criteria
         from subscriptions where code = $1`,
        [template, code],
      );
      const person = await someone();
      await reportDeath(server.url, person.uin);
      const [notify] = await waitFor(() => notifiesFor(code).length > 0 && notifiesFor(code), 4_000, 'the newcomer\'s notify');
      expect(notify.body.header.receiver_id).toBe('newcomer');
      expect(notify.text).toContain(person.uin);
    } finally {
      await other.close();
    }
  });
});

describe('one change, one notify per record', () => {
  it('notifies a REGISTER subscriber once of a child registered by a birth (live_birth and member_added)', async () => {
    const code = await subscribe({ reg_type: 'ns:org:RegistryType:Social', reg_event_type: 'REGISTER', notify_record_type: 'Member' });
    const parent = await someone();
    const res = await postJson(`${server.url}/crvs/registry/notify`, tokens.crvs, {
      header: { ...header('notify', 'national-crvs'), status: 'succ' },
      message: { transaction_id: 'n-b', notify_event: [{ reference_id: 'evt-birth-1', timestamp: new Date().toISOString(), data: { reg_event_type: 'LiveBirth', reg_records: { identifier: [{ identifier_type: 'BRN', identifier_value: 'B-2026-LIFECYCLE-1' }], name: { given_name: 'Ama' }, sex: 'female', birth_date: '2026-11-20', parent1_identifier: { identifier_type: 'UIN', identifier_value: parent.uin } } } }] },
    });
    expect(res.status, res.text).toBe(200);
    await waitFor(() => notifiesFor(code).length > 0);
    await sleep(1_000);
    const items = notifiesFor(code).flatMap((n) => n.body.message.notify_event);
    const aboutChild = items.filter((i: any) => JSON.stringify(i.data.reg_records).includes('B-2026-LIFECYCLE-1'));
    // Named by the event reported (the birth, the change's first event), not by the subscriber's REGISTER.
    expect(aboutChild.map((i: any) => i.data.reg_event_type)).toEqual(['spdci-common:RegistryEventType:LiveBirth']);
  });

  it('notifies a household subscriber of DATA_MODIFICATION once of a death that changed the household three ways', async () => {
    const code = await subscribe({ reg_type: 'ns:org:RegistryType:Social', reg_event_type: 'DATA_MODIFICATION', notify_record_type: 'Group' });
    // A head with a spouse and another adult: the death removes a member, widows the spouse and passes the headship.
    const [head] = await db.query(
      `select ${idColumns()}, m.group_id from memberships m join individuals i on i.id = m.individual_id
       join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
       where m.is_head and m.end_date is null and i.death_date is null
         and exists (select 1 from memberships s join individuals si on si.id = s.individual_id where s.group_id = m.group_id and s.end_date is null and s.relationship_to_head = 'SPS' and si.death_date is null)
       order by m.group_id offset 3 limit 1`,
    );
    await reportDeath(server.url, clearValue(head));
    const types = (await db.query<{ event_type: string }>(`select event_type from registry_events where group_id = $1 order by id`, [head.group_id])).map((r) => r.event_type);
    expect(types).toEqual(expect.arrayContaining(['member_removed', 'marital_status_changed', 'head_changed']));
    await waitFor(() => notifiesFor(code).length > 0);
    await sleep(1_000);
    const items = notifiesFor(code).flatMap((n) => n.body.message.notify_event);
    expect(items).toHaveLength(1);
    expect(items[0].data.reg_records['@type']).toBe('Group');
  });
});

/**
 * Stands in for a commit of a request's answer that failed (a dropped connection) or a worker that died before it: the
 * next commit of an executed request fails once; the lease of five minutes that then passes before the request is
 * claimed again is skipped.
 */
async function failFirstCommitThenReclaim(post: () => Promise<string>): Promise<string> {
  const original = TransactionStore.prototype.completeExecution;
  let failed = false;
  vi.spyOn(TransactionStore.prototype, 'completeExecution').mockImplementation(async function (this: TransactionStore, ...args) {
    if (!failed && args[1].length > 0) {
      failed = true;
      throw new Error('Connection terminated unexpectedly');
    }
    return original.apply(this, args);
  });
  const correlationId = await post();
  await waitFor(() => failed, 10_000, 'the first execution to fail at its commit');
  await db.query(
    `update dci_execution_queue set lease_until = now() - interval '1 second' where transaction_id = (select id from dci_transactions where correlation_id = $1)`,
    [correlationId],
  );
  return correlationId;
}

describe('executed again', () => {
  afterEach(() => vi.restoreAllMocks());
  const births = { reg_type: 'ns:org:RegistryType:Social', reg_event_type: 'LiveBirth', notify_record_type: 'spdci-extensions-dci:Member' };

  it('answers a subscribe executed twice with the subscription it created, not rjct.event.already_subscribed', async () => {
    const correlationId = await failFirstCommitThenReclaim(async () => {
      const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.programme, {
        header: header('subscribe', 'programme'),
        message: { transaction_id: `t-${randomUUID().slice(0, 8)}`, subscribe_request: [{ reference_id: 's-0', timestamp: new Date().toISOString(), subscribe_criteria: births }] },
      });
      expect(res.status, res.text).toBe(202);
      return res.json.message.correlation_id;
    });
    const [answer] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'on-subscribe');
    expect(answer.body.message.subscribe_response[0]).toMatchObject({ reference_id: 's-0', status: 'succ' });
    const code = answer.body.message.subscribe_response[0].subscriptions[0].code;
    // The one subscription of these criteria is the one the partner was told of.
    expect(await db.query(`select code from subscriptions where partner_id = 'programme' and status = 'subscribe' and reg_event_type = 'LiveBirth'`)).toEqual([{ code }]);
  });

  it('answers an unsubscribe executed twice as succ, not rjct.event.already_unsubscribed', async () => {
    const code = await subscribe({ ...births, reg_event_type: 'Divorce' });
    const correlationId = await failFirstCommitThenReclaim(async () => {
      const res = await postJson(`${server.url}/social/registry/unsubscribe`, tokens.programme, {
        header: header('unsubscribe', 'programme'),
        message: { transaction_id: `t-u-${randomUUID().slice(0, 8)}`, timestamp: new Date().toISOString(), subscription_codes: [code] },
      });
      expect(res.status, res.text).toBe(202);
      return res.json.message.correlation_id;
    });
    const [answer] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'on-unsubscribe');
    expect(answer.body.message).toMatchObject({ status: 'succ', subscription_status: [{ code, status: 'unsubscribe' }] });
    expect(answer.body.message.status_reason_code).toBeUndefined();
  });
});
