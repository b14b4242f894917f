import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { expectSchema, postJson } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, type ReceivedRequest, waitFor } from './support/receiver.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * Subscribe / notify / unsubscribe (DIGEST 3.4-3.6): a programme subscribes to registry events, a CRVS reports
 * deaths, and the programme is notified of each matching one, projected to its fields, at least once, with a stable
 * reference_id; refusals carry their reason codes.
 */

let db: Database;
let server: TestServer;
let receiver: CallbackReceiver;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  db = await openTestDatabase();
  receiver = await CallbackReceiver.start();
  const callbacks = { origins: [receiver.url], baseUrl: receiver.url, allowPrivateNetwork: true };
  server = await startTestServer({ WORKER_POLL_MS: '50', CALLBACK_RETRY_BASE_MS: '50' }, {
    db,
    partners: [
      { id: 'programme', secret: 'programme-secret', scopes: ['social:registry.subscribe', 'social:registry.txn-status'], callbacks },
      { id: 'narrow', secret: 'narrow-secret-1', scopes: ['social:registry.subscribe'], callbacks: { ...callbacks, baseUrl: `${receiver.url}/narrow` }, fields: ['demographic_info.sex'] },
      { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.notify'], signature: 'off' },
      { id: 'purposeful', secret: 'purposeful-secret-1', scopes: ['social:registry.subscribe'], callbacks: { ...callbacks, baseUrl: `${receiver.url}/purposeful` }, purposes: ['eligibility-check'] },
    ],
  });
  tokens.purposeful = await server.token({ clientId: 'purposeful', secret: 'purposeful-secret-1' });
  tokens.programme = await server.token({ clientId: 'programme', secret: 'programme-secret' });
  tokens.narrow = await server.token({ clientId: 'narrow', secret: 'narrow-secret-1' });
  tokens.crvs = await server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await db?.close();
});
beforeEach(() => receiver.respondWith(CallbackReceiver.ack));

const header = (action: string, senderId: string, total = 1) => ({ version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action, sender_id: senderId, total_count: total });

async function subscribe(criteria: Record<string, unknown>[], senderId = 'programme') {
  const body = {
    header: header('subscribe', senderId, criteria.length),
    message: { transaction_id: `t-${randomUUID().slice(0, 8)}`, subscribe_request: criteria.map((c, k) => ({ reference_id: `s-${k}`, timestamp: new Date().toISOString(), subscribe_criteria: c })) },
  };
  const res = await postJson(`${server.url}/social/registry/subscribe`, tokens[senderId], body);
  expect(res.status, res.text).toBe(202);
  const correlationId = res.json.message.correlation_id;
  const [answer] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId));
  expect(answer.path).toBe(senderId === 'narrow' ? '/narrow/registry/on-subscribe' : '/registry/on-subscribe');
  expect(answer.body.header.action).toBe('on-subscribe');
  return { answer, transactionId: body.message.transaction_id, items: answer.body.message.subscribe_response as any[] };
}

async function unsubscribe(codes: string[]) {
  const res = await postJson(`${server.url}/social/registry/unsubscribe`, tokens.programme, { header: header('unsubscribe', 'programme'), message: { transaction_id: 't-u', timestamp: new Date().toISOString(), subscription_codes: codes } });
  expect(res.status).toBe(202);
  const correlationId = res.json.message.correlation_id;
  const [answer] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId));
  return answer.body as any;
}

/** A living adult with a UIN and a household, not used by another test yet. */
let nextPerson = 0;
async function someone(sex?: 'male' | 'female') {
  const row = await (
    await db.query(
      `select ${idColumns()}, i.id, i.sex from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
       join memberships m on m.individual_id = i.id and m.end_date is null
       where i.death_date is null and not m.is_head ${sex ? `and i.sex = '${sex}'` : ''} order by i.id offset $1 limit 1`,
      [nextPerson++ * 7],
    )
  )[0];
  return { id: Number(row.id), uin: clearValue(row), sex: row.sex as string };
}

async function reportDeath(uin: string) {
  const res = await postJson(`${server.url}/crvs/registry/notify`, tokens.crvs, {
    header: { ...header('notify', 'national-crvs'), status: 'succ' },
    message: {
      transaction_id: 'n-1',
      notify_event: [{ reference_id: `evt-${randomUUID().slice(0, 8)}`, timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_record_type: 'Person', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: uin }], death_date: '2026-11-25' } } }],
    },
  });
  expect(res.status, res.text).toBe(200);
}

const notifiesFor = (code: string) => receiver.requests.filter((r) => r.body?.header?.action === 'notify' && r.body.header.meta?.subscription_code === code);
const deathsCriteria = (extra: Record<string, unknown> = {}) => ({ reg_type: 'ns:org:RegistryType:Social', reg_event_type: 'spdci-common:RegistryEventType:Death', notify_record_type: 'spdci-extensions-dci:Member', ...extra });

describe('subscribe and notify', () => {
  let code: string;

  it('issues a subscription code in on-subscribe', async () => {
    const { items } = await subscribe([deathsCriteria()]);
    expect(items[0]).toMatchObject({ reference_id: 's-0', status: 'succ' });
    expect(items[0].subscriptions[0]).toMatchObject({ status: 'subscribe', reg_event_type: 'spdci-common:RegistryEventType:Death', notify_record_type: 'spdci-extensions-dci:Member' });
    code = items[0].subscriptions[0].code;
    expect(code).toMatch(/^SUB-[0-9A-F]{20}$/);
  });

  it('notifies each death as it is recorded, the deceased as a Member record, with the event id as reference_id', async () => {
    const person = await someone();
    await reportDeath(person.uin);
    const [notify] = await waitFor(() => notifiesFor(code).length > 0 && notifiesFor(code));
    expect(notify.path).toBe('/registry/notify');
    expect(notify.body.header).toMatchObject({ action: 'notify', status: 'succ', receiver_id: 'programme', total_count: 1 });
    expect(typeof notify.body.signature).toBe('string');
    const [item] = notify.body.message.notify_event;
    const [event] = await db.query<{ event_id: string }>(`select event_id from registry_events where individual_id = $1 and event_type = 'death'`, [person.id]);
    expect(item.reference_id).toBe(event.event_id);
    expect(item.data).toMatchObject({ reg_event_type: 'spdci-common:RegistryEventType:Death', reg_record_type: 'spdci-extensions-dci:Member' });
    expect(item.data.reg_records.demographic_info.identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: person.uin });
    expect(item.data.reg_records.demographic_info.death_date).toBe('2026-11-25');
    // The disclosure is audited.
    const [audit] = await db.query(`select partner_id, action, purpose from audit_log where action = 'notify' order by id desc limit 1`);
    expect(audit).toEqual({ partner_id: 'programme', action: 'notify', purpose: `subscription:${code}` });
  });

  it('retries a notify the subscriber failed to take, keeping its reference_id', async () => {
    let failures = 0;
    receiver.respondWith((req: ReceivedRequest) => (req.body?.header?.action === 'notify' && failures++ < 2 ? { status: 500 } : CallbackReceiver.ack(req)));
    const before = notifiesFor(code).length;
    await reportDeath((await someone()).uin);
    const attempts = await waitFor(() => notifiesFor(code).length >= before + 3 && notifiesFor(code).slice(before));
    expect(new Set(attempts.map((a) => a.body.message.notify_event[0].reference_id)).size).toBe(1);
    expect(new Set(attempts.map((a) => a.body.header.message_id)).size).toBe(1);
  });

  it('applies the filter and the partner field list', async () => {
    const { items } = await subscribe(
      [deathsCriteria({ filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { sex: { $eq: 'female' } } } } } })],
      'narrow',
    );
    const narrowCode = items[0].subscriptions[0].code;
    const man = await someone('male');
    const woman = await someone('female');
    await reportDeath(man.uin);
    await reportDeath(woman.uin);
    const [notify] = await waitFor(() => notifiesFor(narrowCode).length > 0 && notifiesFor(narrowCode));
    await new Promise((r) => setTimeout(r, 300));
    expect(notifiesFor(narrowCode)).toHaveLength(1);
    expect(notify.path).toBe('/narrow/registry/notify');
    const record = notify.body.message.notify_event[0].data.reg_records;
    expect(record).toEqual({ '@type': 'Member', demographic_info: { '@type': 'Person', sex: 'female' } });
    expect(notify.text).not.toContain(woman.uin);
  });

  it('refuses a filter on a field the partner may not receive: which notifies come would tell the value', async () => {
    const filtered = (query: Record<string, unknown>) => deathsCriteria({ filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query } } } });
    const { items } = await subscribe(
      [filtered({ birth_date: { $lt: '1960-01-01' } }), filtered({ $and: [{ sex: 'female' }, { marital_status: 'widowed' }] }), filtered({ sex: 'male' })],
      'narrow',
    );
    expect(items.map((i) => [i.status, i.status_reason_code])).toEqual([
      ['rjct', 'rjct.notify_details.invalid'],
      ['rjct', 'rjct.notify_details.invalid'],
      ['succ', undefined],
    ]);
    expect(items[0].status_reason_message).toMatch(/attribute "birth_date": this partner may not receive demographic_info\.birth_date/);
    expect(items[1].status_reason_message).toMatch(/attribute "marital_status": this partner may not receive marital_status/);
    const [n] = await db.query<{ n: number }>(`select count(*)::int as n from subscriptions where partner_id = 'narrow' and filter::text like '%birth_date%'`);
    expect(n.n).toBe(0);
  });

  it('collects events for a batched subscription and sends them together when the batch is due', async () => {
    const { items } = await subscribe([{ ...deathsCriteria({ notify_record_type: 'Person' }), frequency: { start_time: new Date().toISOString(), frequency: 'daily' } }]);
    const batchedCode = items[0].subscriptions[0].code;
    await reportDeath((await someone()).uin);
    await reportDeath((await someone()).uin);
    await waitFor(async () => Number((await db.query<{ n: number }>('select count(*)::int as n from pending_notifications p join subscriptions s on s.id = p.subscription_id where s.code = $1', [batchedCode]))[0].n) === 2);
    expect(notifiesFor(batchedCode)).toHaveLength(0);
    // A day later (moved forward here rather than waited for):
    await db.query(`update subscriptions set next_batch_at = now() - interval '1 second' where code = $1`, [batchedCode]);
    const [batch] = await waitFor(() => notifiesFor(batchedCode).length > 0 && notifiesFor(batchedCode));
    expect(batch.body.message.notify_event).toHaveLength(2);
    expect(batch.body.header.total_count).toBe(2);
    expect(batch.body.message.notify_event[0].data.reg_record_type).toBe('spdci-extensions-dci:Person');
  });

  it('notifies an event recorded after the subscription was made in the same millisecond', async () => {
    const { items } = await subscribe([deathsCriteria({ reg_event_type: 'DATA_MODIFICATION', notify_record_type: 'Member' })]);
    const sameMs = items[0].subscriptions[0].code;
    // Made at .000200, the event recorded at .000400 (PostgreSQL keeps microseconds).
    await db.query(`update subscriptions set created_at = '2026-12-01T10:00:00.000200Z' where code = $1`, [sameMs]);
    const person = await someone();
    await db.query(`insert into registry_events (event_type, individual_id, source, recorded_at) values ('marriage', $1, 'test', '2026-12-01T10:00:00.000400Z')`, [person.id]);
    const [notify] = await waitFor(() => notifiesFor(sameMs).length > 0 && notifiesFor(sameMs), 5_000, 'the notify of the marriage');
    expect(notify.body.message.notify_event[0].data.reg_event_type).toBe('spdci-common:RegistryEventType:Marriage');
  });

  it('notifies once of a change whose events fall on both sides of a round\'s page of 200 events', async () => {
    const { items } = await subscribe([deathsCriteria({ reg_event_type: 'REGISTER', notify_record_type: 'Person' })]);
    const registering = items[0].subscriptions[0].code;
    const child = await someone();
    // A backlog: 199 events of another change nobody subscribes to, then a birth's two events about the child.
    await db.query(
      `insert into registry_events (event_type, individual_id, source, recorded_at)
       select u.t, u.i, u.s, now() from unnest($1::text[], $2::bigint[], $3::text[]) with ordinality as u(t, i, s, n) order by u.n`,
      [[...Array(199).fill('nobody_subscribes'), 'live_birth', 'member_added'], [...Array(199).fill(null), child.id, child.id], [...Array(199).fill('elsewhere'), 'crvs:test', 'crvs:test']],
    );
    await waitFor(async () => Number((await db.query<{ n: number }>('select count(*)::int as n from notify_queue'))[0].n) === 0);
    await waitFor(() => notifiesFor(registering).length > 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(notifiesFor(registering).flatMap((n) => n.body.message.notify_event)).toHaveLength(1);
  });

  it('sends a batch of more events than a message may carry as several notifies, none above MAX_BATCH_ITEMS', async () => {
    const { items } = await subscribe([
      {
        ...deathsCriteria({ notify_record_type: 'Person', filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { age: { $gte: 2 } } } } } }),
        frequency: { start_time: new Date().toISOString(), frequency: 'weekly' },
      },
    ]);
    const batchedCode = items[0].subscriptions[0].code;
    // 101 adults no other test uses (they take people from the start of the registry).
    const people = await db.query(
      `select ${idColumns()} from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
       join memberships m on m.individual_id = i.id and m.end_date is null
       where i.death_date is null and not m.is_head and i.birth_date < now() - interval '20 years' order by i.id desc limit 101`,
    );
    expect(people).toHaveLength(101);
    const uins = people.map((row) => clearValue(row));
    for (const some of [uins.slice(0, 60), uins.slice(60)]) {
      const res = await postJson(`${server.url}/crvs/registry/notify`, tokens.crvs, {
        header: { ...header('notify', 'national-crvs', some.length), status: 'succ' },
        message: {
          transaction_id: 'n-many',
          notify_event: some.map((uin) => ({ reference_id: `evt-${randomUUID().slice(0, 8)}`, timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_record_type: 'Person', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: uin }], death_date: '2026-11-25' } } })),
        },
      });
      expect(res.status, res.text).toBe(200);
    }
    await waitFor(async () => Number((await db.query<{ n: number }>('select count(*)::int as n from pending_notifications p join subscriptions s on s.id = p.subscription_id where s.code = $1', [batchedCode]))[0].n) === 101, 20_000);
    await db.query(`update subscriptions set next_batch_at = now() - interval '1 second' where code = $1`, [batchedCode]);
    // A DCI receiver refuses a notify of more than MAX_BATCH_ITEMS (100) events (rjct.total_count.limit_exceeded), as
    // this server does: one notify of all 101 was refused at every retry, and the batch never arrived.
    const batches = await waitFor(() => {
      const got = notifiesFor(batchedCode);
      return got.reduce((n, r) => n + r.body.message.notify_event.length, 0) >= 101 && got;
    }, 20_000);
    for (const b of batches) {
      expect(b.body.message.notify_event.length).toBeLessThanOrEqual(100);
      expect(b.body.header.total_count).toBe(b.body.message.notify_event.length);
    }
    const references = batches.flatMap((b) => b.body.message.notify_event.map((e: any) => e.reference_id));
    expect(new Set(references).size).toBe(101);
    // Each message is audited on its own.
    const audited = await db.query<{ message_id: string }>(`select message_id from audit_log where action = 'notify' and purpose = $1`, [`subscription:${batchedCode}`]);
    expect(audited.map((a) => a.message_id).sort()).toEqual(batches.map((b) => b.body.header.message_id).sort());
  }, 60_000);

  it('batches by the spec\'s Quartz cron frequency: the 5th and 15th of each month at midnight UTC', async () => {
    const { items } = await subscribe([
      {
        ...deathsCriteria({ filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { age: { $gte: 0 } } } } } }),
        frequency: { start_time: new Date().toISOString(), frequency: '0 0 0 5,15 * ? *' },
      },
    ]);
    expect(items[0].status).toBe('succ');
    const cronCode = items[0].subscriptions[0].code;
    expect(items[0].subscriptions[0].frequency).toMatchObject({ frequency: '0 0 0 5,15 * ? *' });
    const fireTimes = (from: Date) => {
      const d = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate() + 1));
      while (![5, 15].includes(d.getUTCDate())) d.setUTCDate(d.getUTCDate() + 1);
      return d.toISOString();
    };
    const [stored] = await db.query<{ next_batch_at: string }>('select next_batch_at from subscriptions where code = $1', [cronCode]);
    expect(new Date(stored.next_batch_at).toISOString()).toBe(fireTimes(new Date()));
    await reportDeath((await someone()).uin);
    await waitFor(async () => Number((await db.query<{ n: number }>('select count(*)::int as n from pending_notifications p join subscriptions s on s.id = p.subscription_id where s.code = $1', [cronCode]))[0].n) === 1);
    await db.query(`update subscriptions set next_batch_at = now() - interval '1 second' where code = $1`, [cronCode]);
    await waitFor(() => notifiesFor(cronCode).length > 0);
    // The next batch is the expression's next time after now, not an interval later.
    const [after] = await waitFor(async () => {
      const rows = await db.query<{ next_batch_at: string }>('select next_batch_at from subscriptions where code = $1 and next_batch_at > now()', [cronCode]);
      return rows.length > 0 && rows;
    });
    expect(new Date(after.next_batch_at).toISOString()).toBe(fireTimes(new Date()));
  });

  it('shows a subscribe transaction in txn status', async () => {
    const { transactionId } = await subscribe([deathsCriteria({ reg_event_type: 'LiveBirth' })]);
    const res = await postJson(`${server.url}/social/registry/sync/txn/status`, tokens.programme, {
      header: header('txn-status', 'programme'),
      message: { transaction_id: 't-s', txnstatus_request: { reference_id: 'r', txn_type: 'subscribe', attribute_type: 'transaction_id', attribute_value: transactionId } },
    });
    expect(res.status).toBe(200);
    // DIGEST 3.7: txn_status of a subscribe is a SubscribeResponse.
    expectSchema('txn-status-response-envelope.schema.json', res.json);
    const status = res.json.message.txnstatus_response.txn_status.subscribe_response[0];
    expect(status.reference_id).toBe('s-0');
    expect(['pdng', 'succ']).toContain(status.status);
  });

  it('shows an unsubscribe transaction in txn status as an UnSubscribeResponse, refused codes with their reason code', async () => {
    const res = await postJson(`${server.url}/social/registry/unsubscribe`, tokens.programme, {
      header: header('unsubscribe', 'programme'),
      message: { transaction_id: 't-u-unknown', timestamp: new Date().toISOString(), subscription_codes: ['SUB-NOPE'] },
    });
    expect(res.status).toBe(202);
    const correlationId = res.json.message.correlation_id;
    await waitFor(() => receiver.forCorrelation(correlationId).length > 0);
    const status = await postJson(`${server.url}/social/registry/sync/txn/status`, tokens.programme, {
      header: header('txn-status', 'programme'),
      message: { transaction_id: 't-s', txnstatus_request: { reference_id: 'r', txn_type: 'unsubscribe', attribute_type: 'transaction_id', attribute_value: 't-u-unknown' } },
    });
    expect(status.status).toBe(200);
    expectSchema('txn-status-response-envelope.schema.json', status.json);
    expect(status.json.message.txnstatus_response.txn_status).toMatchObject({ transaction_id: 't-u-unknown', correlation_id: correlationId, status: 'rjct', status_reason_code: 'rjct.subscription_code.invalid' });
  });

  it('ends a subscription: no more notifies; a second unsubscribe or an unknown code is refused', async () => {
    const done = await unsubscribe([code]);
    expect(done.header.action).toBe('on-unsubscribe');
    expect(done.message).toMatchObject({ status: 'succ', subscription_status: [{ code, status: 'unsubscribe' }] });
    const before = notifiesFor(code).length;
    await reportDeath((await someone()).uin);
    await new Promise((r) => setTimeout(r, 500));
    expect(notifiesFor(code)).toHaveLength(before);

    expect((await unsubscribe([code])).message).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.event.already_unsubscribed' });
    // A code named twice is answered once.
    const twice = (await unsubscribe([code, code, 'SUB-NOPE', 'SUB-NOPE'])).message;
    expect(twice).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.subscription_code.invalid' });
    expect(twice.subscription_status).toEqual([{ code, status: 'unsubscribe' }]);
    expect(twice.status_reason_message).toBe('no subscription of this partner has the code SUB-NOPE');
    expect((await unsubscribe(['SUB-NOPE'])).message).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.subscription_code.invalid', subscription_status: [] });
  });
});

describe('subscribe refusals', () => {
  it('answers each item with its reason code', async () => {
    const { items, answer } = await subscribe([
      deathsCriteria({ reg_event_type: 'Marriage' }),
      deathsCriteria({ reg_event_type: 'Marriage' }),
      deathsCriteria({ reg_event_type: 'Baptism' }),
      deathsCriteria({ filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { shoe_size: { $eq: 42 } } } } } }),
      { ...deathsCriteria(), frequency: { start_time: new Date().toISOString(), frequency: '0 0 0 L * ? *' } },
      deathsCriteria({ notify_record_type: 'Spaceship' }),
    ]);
    expect(answer.body.header.status).toBe('succ');
    expect(items.map((i) => [i.status, i.status_reason_code])).toEqual([
      ['succ', undefined],
      ['rjct', 'rjct.event.already_subscribed'],
      ['rjct', 'rjct.notify_types.invalid'],
      ['rjct', 'rjct.notify_details.invalid'],
      ['rjct', 'rjct.notify_details.invalid'],
      ['rjct', 'rjct.notify_details.invalid'],
    ]);
    expect(items[4].status_reason_message).toMatch(/L, W and # are not supported/);
  });

  it('refuses an item whose reference_id an earlier item of the message has (the subscriber could not tell which code answers which)', async () => {
    const body = {
      header: header('subscribe', 'programme', 2),
      message: {
        transaction_id: `t-${randomUUID().slice(0, 8)}`,
        subscribe_request: [
          { reference_id: 'same', timestamp: new Date().toISOString(), subscribe_criteria: deathsCriteria({ reg_event_type: 'Marriage', notify_record_type: 'Person' }) },
          { reference_id: 'same', timestamp: new Date().toISOString(), subscribe_criteria: deathsCriteria({ reg_event_type: 'Divorce', notify_record_type: 'Person' }) },
        ],
      },
    };
    const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.programme, body);
    expect(res.status).toBe(202);
    const [answer] = await waitFor(() => receiver.forCorrelation(res.json.message.correlation_id).length > 0 && receiver.forCorrelation(res.json.message.correlation_id));
    const items = answer.body.message.subscribe_response;
    expect(items.map((i: any) => [i.reference_id, i.status, i.status_reason_code])).toEqual([
      ['same', 'succ', undefined],
      ['same', 'rjct', 'rjct.reference_id.duplicate'],
    ]);
    // Nothing was subscribed for the refused item.
    const [n] = await db.query<{ n: number }>(`select count(*)::int as n from subscriptions where partner_id = 'programme' and reference_id = 'same'`);
    expect(n.n).toBe(1);
  });

  it('refuses, per item, start and end times that are no calendar instant or whose first batch would fall after year 9999', async () => {
    const withFrequency = (frequency: Record<string, unknown>) => deathsCriteria({ notify_record_type: 'Person', frequency });
    // The first and the last had been acknowledged, then refused by PostgreSQL at every retry: no on-subscribe ever came.
    const { items } = await subscribe([
      withFrequency({ frequency: 'daily', start_time: '0000-01-01T00:00:00Z' }),
      withFrequency({ frequency: 'daily', end_time: '0000-06-01T00:00:00Z' }),
      withFrequency({ frequency: 'daily', start_time: '2026-02-30T00:00:00Z' }),
      withFrequency({ frequency: 'daily', start_time: '2026-12-01T24:00:00Z' }),
      withFrequency({ frequency: 'daily', start_time: '9999-12-31T23:59:59Z' }),
    ]);
    expect(items.map((i) => [i.status, i.status_reason_code])).toEqual(Array(5).fill(['rjct', 'rjct.notify_details.invalid']));
    for (const k of [0, 1, 2, 3]) expect(items[k].status_reason_message).toMatch(/_time must be an RFC 3339 date-time of years 1 to 9999/);
    expect(items[4].status_reason_message).toMatch(/it never fires within the subscription's time window/);
  });

  it('refuses on the Social Registry the events of the IBR and the DR: a notify would tell of enrolments and disability assessments its scope does not cover', async () => {
    const { items } = await subscribe([
      deathsCriteria({ reg_event_type: 'enrollement', notify_record_type: 'Person' }),
      deathsCriteria({ reg_event_type: 'enrollement_status_change', notify_record_type: 'Person' }),
      deathsCriteria({ reg_event_type: 'spdci-common:RegistryEventType:DisabledPerson', notify_record_type: 'Person' }),
      deathsCriteria({ reg_event_type: 'NewDisabledNewborn', notify_record_type: 'Person' }),
    ]);
    expect(items.map((i) => [i.status, i.status_reason_code])).toEqual(Array(4).fill(['rjct', 'rjct.notify_types.invalid']));
    expect(items[0].status_reason_message).toMatch(/not an event the social registry notifies/);
    const [n] = await db.query<{ n: number }>(`select count(*)::int as n from subscriptions where partner_id = 'programme' and (event_types && array['enrolment', 'enrolment_status_changed', 'disability_assessed'])`);
    expect(n.n).toBe(0);
  });

  it('notifies a Social Registry subscription stored by an older version with enrolment events of none of them', async () => {
    const { items } = await subscribe([deathsCriteria({ reg_event_type: 'DATA_MODIFICATION', notify_record_type: 'Person' })]);
    const current = items[0].subscriptions[0].code;
    const [old] = await db.query<{ code: string }>(
      `insert into subscriptions (code, domain, partner_id, reference_id, event_types, reg_event_type, record_type, filter, notify_url, fingerprint, status, criteria)
       select 'SUB-000000000000OLDENROL', domain, partner_id, 's-old-enrol', array['enrolment', 'death'], 'enrollement', record_type, filter, notify_url, 'an older event type', status, criteria
       from subscriptions where code = $1 returning code`,
      [current],
    );
    // An IBR enrolment of someone, then a death.
    const enrolled = await someone();
    await db.query(`insert into registry_events (event_type, individual_id, source) values ('enrolment', $1, 'ibr:test')`, [enrolled.id]);
    await reportDeath((await someone()).uin);
    await waitFor(() => notifiesFor(old.code).length > 0 && notifiesFor(current).length > 0);
    await new Promise((r) => setTimeout(r, 300));
    const told = notifiesFor(old.code).flatMap((n) => n.body.message.notify_event.map((e: any) => e.data.reg_event_type));
    expect(told).toEqual(['spdci-common:RegistryEventType:Death']);
  });

  it('says succ in the on-subscribe header once the message was processed, though every item was refused', async () => {
    const { answer, items } = await subscribe([deathsCriteria({ reg_event_type: 'Baptism' })]);
    expect(items[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.notify_types.invalid' });
    // DIGEST 2.3: header rjct is for a message refused as a whole, with a header reason code.
    expect(answer.body.header.status).toBe('succ');
    expect(answer.body.header.status_reason_code).toBeUndefined();
  });

  it('says succ in the on-unsubscribe header once the message was processed, though its codes were refused', async () => {
    const answer = await unsubscribe(['SUB-UNKNOWN']);
    expect(answer.header.status).toBe('succ');
    expect(answer.message).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.subscription_code.invalid', subscription_status: [] });
  });

  it('gives no reason code with on-unsubscribe status succ when one code ended and another is unknown', async () => {
    const { items } = await subscribe([deathsCriteria({ reg_event_type: 'Divorce' })]);
    const code = items[0].subscriptions[0].code;
    const answer = await unsubscribe([code, 'SUB-UNKNOWN']);
    expect(answer.message).toMatchObject({ status: 'succ', subscription_status: [{ code, status: 'unsubscribe' }] });
    // DIGEST 2.4: an UnSubscribeStatusReasonCode goes with status rjct; the unknown code is still explained.
    expect(answer.message.status_reason_code).toBeUndefined();
    expect(answer.message.status_reason_message).toMatch(/SUB-UNKNOWN/);
  });

  it('refuses an item of a partner with allowed purposes that states none of them, as its search would be', async () => {
    const stating = (purpose?: string) => ({ ...deathsCriteria({ notify_record_type: 'Person' }), ...(purpose ? { authorize: { purpose: { code: purpose } } } : {}) });
    const res = await postJson(`${server.url}/social/registry/subscribe`, tokens.purposeful, {
      header: header('subscribe', 'purposeful', 3),
      message: {
        transaction_id: 't-purpose',
        subscribe_request: [stating(), stating('marketing'), stating('eligibility-check')].map((c, k) => ({ reference_id: `p-${k}`, timestamp: new Date().toISOString(), subscribe_criteria: c })),
      },
    });
    expect(res.status).toBe(202);
    const [answer] = await waitFor(() => receiver.forCorrelation(res.json.message.correlation_id).length > 0 && receiver.forCorrelation(res.json.message.correlation_id));
    const items = answer.body.message.subscribe_response;
    expect(items.map((i: any) => [i.status, i.status_reason_code])).toEqual([
      ['rjct', 'rjct.notify_details.invalid'],
      ['rjct', 'rjct.notify_details.invalid'],
      ['succ', undefined],
    ]);
    expect(items[0].status_reason_message).toMatch(/must state its purpose/);
    const [n] = await db.query<{ n: number }>(`select count(*)::int as n from subscriptions where partner_id = 'purposeful'`);
    expect(n.n).toBe(1);
  });

  it('takes an unsubscribe whose header.total_count counts its subscription codes, as one counting the message', async () => {
    const { items } = await subscribe([deathsCriteria({ reg_event_type: 'Marriage', notify_record_type: 'Group' }), deathsCriteria({ reg_event_type: 'Divorce', notify_record_type: 'Group' })]);
    const codes = items.map((i) => i.subscriptions[0].code);
    const res = await postJson(`${server.url}/social/registry/unsubscribe`, tokens.programme, {
      header: header('unsubscribe', 'programme', 2),
      message: { transaction_id: 't-u-two', timestamp: new Date().toISOString(), subscription_codes: codes },
    });
    expect(res.status, res.text).toBe(202);
    const [answer] = await waitFor(() => receiver.forCorrelation(res.json.message.correlation_id).length > 0 && receiver.forCorrelation(res.json.message.correlation_id));
    expect(answer.body.message).toMatchObject({ status: 'succ', subscription_status: codes.map((code) => ({ code, status: 'unsubscribe' })) });
    // Any other count is still refused.
    const wrong = await postJson(`${server.url}/social/registry/unsubscribe`, tokens.programme, {
      header: header('unsubscribe', 'programme', 3),
      message: { transaction_id: 't-u-three', timestamp: new Date().toISOString(), subscription_codes: codes },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.total_count.invalid' });
  });

  it('refuses a partner without the subscribe scope (403) and a malformed subscribe (400)', async () => {
    const crvsTry = await postJson(`${server.url}/social/registry/subscribe`, tokens.crvs, { header: header('subscribe', 'national-crvs'), message: { transaction_id: 't', subscribe_request: [] } });
    expect(crvsTry.status).toBe(403);
    const empty = await postJson(`${server.url}/social/registry/subscribe`, tokens.programme, { header: header('subscribe', 'programme'), message: { transaction_id: 't', subscribe_request: [] } });
    expect(empty.status).toBe(400);
    const noCodes = await postJson(`${server.url}/social/registry/unsubscribe`, tokens.programme, { header: header('unsubscribe', 'programme'), message: { transaction_id: 't' } });
    expect(noCodes.status).toBe(400);
  });
});

describe('a stored filter this version refuses', () => {
  it('leaves that subscription out, and notifies the others as before', async () => {
    const { items } = await subscribe([
      deathsCriteria({ notify_record_type: 'spdci-extensions-dci:Person', filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { age: { $gte: 16 } } } } } }),
    ]);
    expect(items[0].status, JSON.stringify(items[0])).toBe('succ');
    const healthy = items[0].subscriptions[0].code;
    // As an older version stored it: ages beyond 150 years have been refused since (they had failed as a 500).
    const filter = { filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { age: { $gte: 10000 } } } } } };
    const [old] = await db.query<{ code: string }>(
      `insert into subscriptions (code, domain, partner_id, reference_id, event_types, reg_event_type, record_type, filter, notify_url, fingerprint, status, criteria)
       select 'SUB-00000000000000000OLD', domain, partner_id, 's-old', event_types, reg_event_type, record_type, $1::jsonb, notify_url, 'an older filter', status, criteria
       from subscriptions where code = $2 returning code`,
      [JSON.stringify(filter), healthy],
    );
    const person = await someone();
    await reportDeath(person.uin);
    const [notify] = await waitFor(() => notifiesFor(healthy).length > 0 && notifiesFor(healthy), 10_000, 'the healthy subscription\'s notify');
    expect(notify.body.message.notify_event[0].data.reg_records.identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: person.uin });
    expect(notifiesFor(old.code)).toHaveLength(0);
  });

  it('sends the batches of other subscriptions when one stored frequency is refused now, and schedules none for it', async () => {
    const adults = { filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { age: { $gte: 1 } } } } } };
    const { items } = await subscribe([{ ...deathsCriteria(adults), frequency: { start_time: new Date().toISOString(), frequency: 'weekly' } }]);
    expect(items[0].status, JSON.stringify(items[0])).toBe('succ');
    const healthy = items[0].subscriptions[0].code;
    // As an older, more liberal version could have stored it (L is not supported here), due first.
    const [old] = await db.query<{ code: string }>(
      `insert into subscriptions (code, domain, partner_id, reference_id, event_types, reg_event_type, record_type, filter, frequency, notify_url, fingerprint, status, criteria, next_batch_at)
       select 'SUB-00000000000000OLDCRON', domain, partner_id, 's-old-cron', event_types, reg_event_type, record_type, filter, '0 0 0 L * ? *', notify_url, 'an older frequency', status, criteria, now() + interval '1 hour'
       from subscriptions where code = $1 returning code`,
      [healthy],
    );
    await reportDeath((await someone()).uin);
    await waitFor(async () => Number((await db.query<{ n: number }>('select count(*)::int as n from pending_notifications p join subscriptions s on s.id = p.subscription_id where s.code = $1', [old.code]))[0].n) === 1);
    // Both due now; the refused one first.
    await db.query(`update subscriptions set next_batch_at = now() - interval '2 seconds' where code = $1`, [old.code]);
    await db.query(`update subscriptions set next_batch_at = now() - interval '1 second' where code = $1`, [healthy]);
    const [batch] = await waitFor(() => notifiesFor(healthy).length > 0 && notifiesFor(healthy), 10_000, 'the healthy subscription\'s batch');
    expect(batch.body.message.notify_event).toHaveLength(1);
    // Its due batch was sent; then, like an expression that never fires again, no next one.
    await waitFor(() => notifiesFor(old.code).length > 0);
    expect(await db.query('select next_batch_at from subscriptions where code = $1', [old.code])).toEqual([{ next_batch_at: null }]);
    // Nothing more is collected for it: the next death waits for the healthy subscription's next batch only.
    const pending = async (code: string) => Number((await db.query<{ n: number }>('select count(*)::int as n from pending_notifications p join subscriptions s on s.id = p.subscription_id where s.code = $1', [code]))[0].n);
    await reportDeath((await someone()).uin);
    await waitFor(async () => (await pending(healthy)) === 1);
    expect(await pending(old.code)).toBe(0);
  });
});

describe('durability', () => {
  it('notifies, after a restart, of the changes made while no worker was running', async () => {
    const { items } = await subscribe([
      deathsCriteria({ reg_event_type: 'DEATH_REGISTERED', notify_record_type: 'Person', filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { is_deceased: { $eq: true } } } } } }),
    ]);
    const code = items[0].subscriptions[0].code;
    const person = await someone();
    // The server stops its workers (a deployment); a server without workers takes the CRVS report meanwhile.
    await server.close();
    const intake = await startTestServer({ WORKERS: 'false' }, { db, partners: [{ id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.notify'], signature: 'off' }] });
    try {
      tokens.crvs = await intake.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' });
      const res = await postJson(`${intake.url}/crvs/registry/notify`, tokens.crvs, {
        header: { ...header('notify', 'national-crvs'), status: 'succ' },
        message: { transaction_id: 'n-r', notify_event: [{ reference_id: 'evt-restart', timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: person.uin }], death_date: '2026-11-26' } } }] },
      });
      expect(res.status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      expect(notifiesFor(code)).toHaveLength(0);
    } finally {
      await intake.close();
    }
    // The workers come back: the notify goes out.
    server = await startTestServer({ WORKER_POLL_MS: '50', CALLBACK_RETRY_BASE_MS: '50' }, {
      db,
      partners: [{ id: 'programme', secret: 'programme-secret', scopes: ['social:registry.subscribe', 'social:registry.txn-status'], callbacks: { origins: [receiver.url], baseUrl: receiver.url, allowPrivateNetwork: true } }],
    });
    const [notify] = await waitFor(() => notifiesFor(code).length > 0 && notifiesFor(code));
    expect(notify.body.message.notify_event[0].data.reg_records.identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: person.uin });
    // Subscribed as DEATH_REGISTERED: notified in the prefixed CamelCase form (DIGEST 5, 10.2).
    expect(notify.body.message.notify_event[0].data.reg_event_type).toBe('spdci-common:RegistryEventType:Death');
  });
});
