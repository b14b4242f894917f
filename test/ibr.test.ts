import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { expectErrorBody, expectSchema, expectValidSearchResponse, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { statementsOf } from './support/plans.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * The Integrated Beneficiary Registry over HTTP: SP-MIS push enrolments and status changes
 * (sync/enrollment/updates), programmes check for duplicate enrolment (sync/enrolled), officers search beneficiaries
 * (sync/search), and subscribers hear of enrolments (subscribe/notify).
 */

let db: Database;
let server: TestServer;
let receiver: CallbackReceiver;
const tokens: Record<string, string> = {};
const SPMIS_SCOPES = ['ibr:registry.enrollment-updates', 'ibr:registry.search'];

beforeAll(async () => {
  db = await openTestDatabase();
  receiver = await CallbackReceiver.start();
  const callbacks = { origins: [receiver.url], baseUrl: receiver.url, allowPrivateNetwork: true };
  server = await startTestServer({ WORKER_POLL_MS: '50', CALLBACK_RETRY_BASE_MS: '50' }, {
    db,
    partners: [
      { id: 'spmis-a', secret: 'spmis-a-secret', scopes: SPMIS_SCOPES },
      { id: 'spmis-b', secret: 'spmis-b-secret', scopes: SPMIS_SCOPES },
      { id: 'ibr-reader', secret: 'ibr-reader-secret', scopes: ['ibr:registry.search'] },
      { id: 'watcher', secret: 'watcher-secret', scopes: ['ibr:registry.subscribe'], callbacks },
      { id: 'ibr-narrow', secret: 'ibr-narrow-secret', scopes: ['ibr:registry.search'], fields: ['member.member_identifier', 'group.group_identifier', 'programme_identifier.programme.programme_identifier'] },
      { id: 'ibr-purposes', secret: 'ibr-purposes-secret', scopes: ['ibr:registry.search'], purposes: ['duplicate-check', 'graduation-review'] },
    ],
  });
  for (const id of ['spmis-a', 'spmis-b', 'ibr-reader', 'watcher', 'ibr-narrow', 'ibr-purposes']) tokens[id] = await server.token({ clientId: id, secret: `${id}-secret` });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await db?.close();
});

const header = (action: string, senderId: string, total: number, extra: Record<string, unknown> = {}) => ({
  version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action, sender_id: senderId, total_count: total, ...extra,
});

function enrolledBody(criteria: unknown, senderId = 'spmis-b', total?: number) {
  const count = Array.isArray(criteria) ? criteria.length : 1;
  return { header: header('search', senderId, total ?? count), message: { transaction_id: `t-${randomUUID().slice(0, 8)}`, enrolled_criteria: criteria } };
}

async function enrolled(criteria: unknown, senderId = 'spmis-b') {
  const res = await postJson(`${server.url}/ibr/registry/sync/enrolled`, tokens[senderId], enrolledBody(criteria, senderId));
  expect(res.status, res.text).toBe(200);
  expectSchema('enrolled-response.schema.json', res.json);
  return res.json.message;
}

function beneficiary(uin: string, programme: string, status: string, extra: Record<string, unknown> = {}) {
  return {
    '@type': 'Beneficiary',
    assistance_unit: '1',
    member: { member_identifier: [{ identifier_type: 'UIN', identifier_value: uin }] },
    programme_identifier: [{ programme: { programme_identifier: programme, programme_name: `Programme ${programme}` }, enrolment_date: '2026-03-01', enrolment_status: status }],
    ...extra,
  };
}

async function push(senderId: string, beneficiaries: unknown[], member: 'enrolled_updates' | 'receipt_information' = 'enrolled_updates', action = 'notify') {
  const body = {
    header: header(action, senderId, beneficiaries.length, { status: 'succ' }),
    message: { transaction_id: `u-${randomUUID().slice(0, 8)}`, [member]: { ...(member === 'receipt_information' ? { receipt_type: 'enrollment' } : {}), beneficiaries } },
  };
  const res = await postJson(`${server.url}/ibr/registry/sync/enrollment/updates`, tokens[senderId], body);
  expect(res.status, res.text).toBe(200);
  expectSchema('enrollment-updates-response.schema.json', res.json);
  return res.json;
}

/** A living person with a UIN and no enrolment at all (own or household's), not used by another test yet. */
let nextFree = 0;
async function unenrolledPerson() {
  const [row] = await db.query(
    `select ${idColumns()}, i.id from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
     join memberships m on m.individual_id = i.id and m.end_date is null
     where i.death_date is null and not exists (select 1 from enrolments e where e.individual_id = i.id or e.group_id = m.group_id)
     order by i.id offset $1 limit 1`,
    [nextFree++ * 5],
  );
  return { id: Number(row.id), uin: clearValue(row) };
}

describe('sync/enrolled: the duplicate check', () => {
  it('says yes for a person enrolled in two cash programmes, and lists them when a response_entity is given', async () => {
    const [row] = await db.query(
      `select ${idColumns()}, array_agg(p.code order by p.code) as codes from enrolments e join programmes p on p.id = e.programme_id
       join identifiers x on x.individual_id = e.individual_id and x.id_type = 'UIN'
       where e.status = 1 and p.benefit_type = 1 group by x.id_type, x.id_value, x.id_sealed having count(*) >= 2 limit 1`,
    );
    const uin = clearValue(row);
    // The IBR sample's shape (DIGEST 10.3): one predicate under query_type expression.
    const message = await enrolled({ query_type: 'expression', response_entity: 'Beneficiary', query: { attribute_name: 'person_identifier', operator: 'eq', attribute_value: uin } });
    expect(message.enrolled_response).toEqual([expect.objectContaining({ reference_id: '1', status: 'succ', enrolled_status: 'yes' })]);
    const records = message.search_response[0].data.reg_records;
    const own = records.filter((r: any) => r.assistance_unit === '1').map((r: any) => r.programme_identifier.programme.programme_identifier);
    expect(own).toEqual(expect.arrayContaining(row.codes as string[]));
    // The disclosure is audited against the person's REGISTRY_ID.
    const [audit] = await db.query(`select partner_id, action, record_count from audit_log where action = 'sync/enrolled' order by id desc limit 1`);
    expect(audit).toMatchObject({ partner_id: 'spmis-b', record_count: 1 });
  });

  it('counts a household enrolment for each member, and a member\'s for the household', async () => {
    const [row] = await db.query(
      `select ${idColumns()}, hx.id_value as household_id from enrolments e join programmes p on p.id = e.programme_id and p.code = 'SCT'
       join memberships m on m.group_id = e.group_id and m.end_date is null
       join identifiers x on x.individual_id = m.individual_id and x.id_type = 'UIN'
       join identifiers hx on hx.group_id = e.group_id and hx.id_type = 'HOUSEHOLD_ID'
       where e.status = 1 and not exists (select 1 from enrolments o where o.individual_id = m.individual_id) limit 1`,
    );
    const member = await enrolled({ query_type: 'idtype-value', response_entity: 'Beneficiary', query: { type: 'UIN', value: clearValue(row) } });
    expect(member.enrolled_response[0].enrolled_status).toBe('yes');
    expect(member.search_response[0].data.reg_records).toEqual([expect.objectContaining({ assistance_unit: '2' })]);
    const household = await enrolled({ query_type: 'expression', query: { group_identifier: { eq: row.household_id } } });
    expect(household.enrolled_response[0].enrolled_status).toBe('yes');
  });

  it('limits the check to the programmes named (the YAML example\'s operator map)', async () => {
    const [row] = await db.query(
      `select ${idColumns()} from enrolments e join programmes p on p.id = e.programme_id and p.code = 'OAP'
       join identifiers x on x.individual_id = e.individual_id and x.id_type = 'UIN' where e.status = 1 limit 1`,
    );
    const uin = clearValue(row);
    const inOap = await enrolled({ query: { person_identifier: { eq: uin }, 'programme_identifier.program.programme_identifier': { eq: 'OAP' } } });
    expect(inOap.enrolled_response[0].enrolled_status).toBe('yes');
    const inSchoolFeeding = await enrolled({ query: { person_identifier: { $eq: uin }, 'programme_identifier.programme.programme_identifier': { $in: ['SFP', 'PWP'] } } });
    expect(inSchoolFeeding.enrolled_response[0].enrolled_status).toBe('no');
  });

  it('does not count graduated or deceased enrolments as enrolled', async () => {
    const [row] = await db.query(
      `select ${idColumns()} from enrolments e join identifiers x on x.individual_id = e.individual_id and x.id_type = 'UIN'
       where e.status in (2, 3) and not exists (select 1 from enrolments o join memberships m on m.individual_id = e.individual_id and m.end_date is null
                                                where (o.individual_id = e.individual_id or o.group_id = m.group_id) and o.status in (1, 4)) limit 1`,
    );
    const message = await enrolled({ query_type: 'idtype-value', response_entity: 'Beneficiary', query: { type: 'UIN', value: clearValue(row) } });
    expect(message.enrolled_response[0].enrolled_status).toBe('no');
    expect(message.search_response[0].data.reg_records.length).toBeGreaterThan(0);
  });

  it('answers a batch item by item: unknown person no, bad criteria refused, duplicate reference refused', async () => {
    const known = await unenrolledPerson();
    const res = await postJson(`${server.url}/ibr/registry/sync/enrolled`, tokens['spmis-b'], {
      header: header('search', 'spmis-b', 5),
      message: {
        transaction_id: 't-batch',
        enrolled_request: [
          { reference_id: 'a', timestamp: new Date().toISOString(), enrolled_criteria: { query_type: 'idtype-value', query: { type: 'UIN', value: known.uin } } },
          { reference_id: 'b', enrolled_criteria: { query_type: 'idtype-value', query: { type: 'UIN', value: '0000000000' } } },
          { reference_id: 'c', enrolled_criteria: { query_type: 'expression', query: { poverty_score: { $lt: 10 } } } },
          { reference_id: 'd', enrolled_criteria: { query_type: 'expression', query: { $or: [{ UIN: { $eq: known.uin } }] } } },
          { reference_id: 'a', enrolled_criteria: { query_type: 'idtype-value', query: { type: 'UIN', value: known.uin } } },
        ],
      },
    });
    expect(res.status, res.text).toBe(200);
    expectSchema('enrolled-response.schema.json', res.json);
    const [a, b, c, d, a2] = res.json.message.enrolled_response;
    expect(a).toMatchObject({ reference_id: 'a', status: 'succ', enrolled_status: 'no' });
    expect(a.status_reason_message).toBeUndefined();
    expect(b).toMatchObject({ reference_id: 'b', status: 'succ', enrolled_status: 'no' });
    expect(b.status_reason_message).toMatch(/no person in this registry has that UIN/);
    expect(c).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid', enrolled_status: 'no' });
    expect(c.status_reason_message).toMatch(/poverty_score: operator \$lt is not supported here/);
    expect(d).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(a2).toMatchObject({ reference_id: 'a', status: 'rjct', status_reason_code: 'rjct.reference_id.duplicate' });
  });

  it('audits a batch under the purposes its items state, as it checks them against the partner\'s purposes', async () => {
    const rows = await db.query(`select ${idColumns()}, x.individual_id as id from identifiers x where x.id_type = 'UIN' order by x.id desc limit 3`);
    const [first, second, third] = rows.map((r) => ({ id: Number(r.id), uin: clearValue(r) }));
    const criteria = (uin: string, purpose?: string) => ({ query_type: 'idtype-value', query: { type: 'UIN', value: uin }, ...(purpose ? { consent: { '@type': 'Consent', purpose: { code: purpose } } } : {}) });
    const send = async (message: Record<string, unknown>, total: number) => {
      const res = await postJson(`${server.url}/ibr/registry/sync/enrolled`, tokens['ibr-purposes'], { header: header('search', 'ibr-purposes', total), message });
      expect(res.status, res.text).toBe(200);
      return res.json;
    };
    const audited = async (messageId: string) =>
      db.query<{ purpose: string | null; record_ids: string[] }>(`select purpose, record_ids from audit_log where message_id = $1 and event = 'disclose' order by purpose`, [messageId]);
    const externalId = async (id: number) => (await db.query<{ e: string }>('select external_id::text as e from individuals where id = $1', [id]))[0].e;

    // The batch form: each item states its purpose (one stating none is refused).
    const batch = await send(
      {
        transaction_id: 't-purposes',
        enrolled_request: [
          { reference_id: 'p1', enrolled_criteria: criteria(first.uin, 'duplicate-check') },
          { reference_id: 'p2', enrolled_criteria: criteria(second.uin, 'graduation-review') },
          { reference_id: 'p3', enrolled_criteria: criteria(third.uin) },
        ],
      },
      3,
    );
    expect(batch.message.enrolled_response.map((r: any) => r.status)).toEqual(['succ', 'succ', 'rjct']);
    const [m1] = await db.query<{ message_id: string }>(`select message_id from audit_log where transaction_id = 't-purposes' limit 1`);
    expect(await audited(m1.message_id)).toEqual([
      { purpose: 'duplicate-check', record_ids: [await externalId(first.id)] },
      { purpose: 'graduation-review', record_ids: [await externalId(second.id)] },
    ]);

    // A list of criteria, each with its purpose.
    await send({ transaction_id: 't-purposes-list', enrolled_criteria: [criteria(first.uin, 'duplicate-check'), criteria(third.uin, 'duplicate-check')] }, 2);
    const [m2] = await db.query<{ message_id: string }>(`select message_id from audit_log where transaction_id = 't-purposes-list' limit 1`);
    expect(await audited(m2.message_id)).toEqual([{ purpose: 'duplicate-check', record_ids: [await externalId(first.id), await externalId(third.id)] }]);
  });

  it('checks a hundred people in one message', async () => {
    const rows = await db.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id limit 100`);
    const message = await enrolled(rows.map((r) => ({ query_type: 'idtype-value', query: { type: 'UIN', value: clearValue(r) } })));
    expect(message.enrolled_response).toHaveLength(100);
    expect(message.enrolled_response.map((r: any) => r.reference_id)).toEqual(rows.map((_, k) => String(k + 1)));
    const [expected] = await db.query<{ n: number }>(
      `select count(*)::int as n from (select x.id from identifiers x join individuals i on i.id = x.individual_id
         left join memberships m on m.individual_id = i.id and m.end_date is null
         where x.id_type = 'UIN' and exists (select 1 from enrolments e where (e.individual_id = i.id or e.group_id = m.group_id) and e.status in (1, 4))
         and x.id in (select id from identifiers where id_type = 'UIN' order by id limit 100)) s`,
    );
    expect(message.enrolled_response.filter((r: any) => r.enrolled_status === 'yes')).toHaveLength(expected.n);
  });

  it('refuses a replayed message in the header, discloses nothing again and audits nothing again', async () => {
    const person = await unenrolledPerson();
    const body = enrolledBody({ query_type: 'idtype-value', query: { type: 'UIN', value: person.uin } });
    const first = await postJson(`${server.url}/ibr/registry/sync/enrolled`, tokens['spmis-b'], body);
    expect(first.json.message.enrolled_response).toHaveLength(1);
    const audited = async () => (await db.query<{ n: number }>(`select count(*)::int as n from audit_log where message_id = $1`, [body.header.message_id]))[0].n;
    expect(await audited()).toBe(1);
    const replay = await postJson(`${server.url}/ibr/registry/sync/enrolled`, tokens['spmis-b'], body);
    expect(replay.status).toBe(200);
    expectSchema('enrolled-response.schema.json', replay.json);
    expect(replay.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.message_id.duplicate' });
    expect(replay.json.message.enrolled_response).toEqual([]);
    expect(await audited()).toBe(1);
  });

  it('refuses the message in the header for a wrong total_count, and without a token or the scope', async () => {
    const wrongCount = await postJson(`${server.url}/ibr/registry/sync/enrolled`, tokens['spmis-b'], enrolledBody({ query: { UIN: { eq: '1' } } }, 'spmis-b', 3));
    expect(wrongCount.status).toBe(200);
    expect(wrongCount.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.total_count.invalid' });
    expect(wrongCount.json.message.enrolled_response).toEqual([]);
    const anonymous = await postJson(`${server.url}/ibr/registry/sync/enrolled`, undefined, enrolledBody({ query: { UIN: { eq: '1' } } }));
    expect(anonymous.status).toBe(401);
    const watcher = await postJson(`${server.url}/ibr/registry/sync/enrolled`, tokens.watcher, enrolledBody({ query: { UIN: { eq: '1' } } }, 'watcher'));
    expect(watcher.status).toBe(403);
    expectErrorBody(watcher.json, 'err.request.forbidden');
    const noCriteria = await postJson(`${server.url}/ibr/registry/sync/enrolled`, tokens['spmis-b'], { header: header('search', 'spmis-b', 1), message: { transaction_id: 't' } });
    expect(noCriteria.status).toBe(400);
    expectErrorBody(noCriteria.json, 'err.request.bad');
  });
});

describe('sync/enrollment/updates: SP-MIS push enrolments', () => {
  it('records an enrolment by one SP-MIS that another programme\'s duplicate check then sees', async () => {
    const person = await unenrolledPerson();
    const before = await enrolled({ query_type: 'idtype-value', query: { type: 'UIN', value: person.uin } });
    expect(before.enrolled_response[0].enrolled_status).toBe('no');

    const pushed = await push('spmis-a', [beneficiary(person.uin, 'A-CASH', 'Active', { reference_id: 'ben-1' })]);
    expect(pushed.header).toMatchObject({ action: 'notify', status: 'succ', total_count: 1 });
    expect(pushed.message.enrolled_response).toEqual([expect.objectContaining({ reference_id: 'ben-1', status: 'succ', status_reason_message: 'enrolled in A-CASH (Active)' })]);

    const after = await enrolled({ query_type: 'idtype-value', response_entity: 'Beneficiary', query: { type: 'UIN', value: person.uin } }, 'spmis-b');
    expect(after.enrolled_response[0].enrolled_status).toBe('yes');
    expect(after.search_response[0].data.reg_records).toEqual([
      { assistance_unit: '1', programme_identifier: { programme: { programme_identifier: 'A-CASH', programme_name: 'Programme A-CASH' }, enrolment_date: '2026-03-01', enrolment_status: '1' } },
    ]);
    const [programme] = await db.query(`select owner_id from programmes where code = 'A-CASH'`);
    expect(programme.owner_id).toBe('spmis-a');
    const events = await db.query(`select event_type, source, details from registry_events where individual_id = $1 order by id`, [person.id]);
    expect(events).toEqual([expect.objectContaining({ event_type: 'enrolment', source: 'ibr:spmis-a', details: { programme: 'A-CASH', status: 1 } })]);
  });

  it('is idempotent per beneficiary and programme, and keeps the status history', async () => {
    const person = await unenrolledPerson();
    await push('spmis-a', [beneficiary(person.uin, 'A-CASH', '1')]);
    const again = await push('spmis-a', [beneficiary(person.uin, 'A-CASH', 'active')]);
    expect(again.message.enrolled_response[0]).toMatchObject({ status: 'succ', status_reason_message: 'A-CASH: already recorded' });
    const suspended = await push('spmis-a', [
      beneficiary(person.uin, 'A-CASH', 'Suspended', { programme_identifier: [{ programme: { programme_identifier: 'A-CASH' }, enrolment_date: '2026-03-01', enrolment_status: '4', status_change_date: '2026-06-30' }] }),
    ]);
    expect(suspended.message.enrolled_response[0].status_reason_message).toBe('A-CASH: status changed to Suspended');
    const graduated = await push('spmis-a', [
      beneficiary(person.uin, 'A-CASH', 'Graduated', { programme_identifier: [{ programme: { programme_identifier: 'A-CASH' }, enrolment_date: '2026-03-01', enrolment_status: 'Graduated', status_change_date: '2026-09-15' }] }),
    ]);
    expect(graduated.message.enrolled_response[0].status_reason_message).toBe('A-CASH: status changed to Graduated');

    const history = await db.query(
      `select h.status, h.changed_on::text as changed_on from enrolment_status_changes h join enrolments e on e.id = h.enrolment_id where e.individual_id = $1 order by h.id`,
      [person.id],
    );
    expect(history).toEqual([
      { status: 1, changed_on: '2026-03-01' },
      { status: 4, changed_on: '2026-06-30' },
      { status: 3, changed_on: '2026-09-15' },
    ]);
    const events = await db.query(`select event_type, details from registry_events where individual_id = $1 order by id`, [person.id]);
    expect(events.map((e) => e.event_type)).toEqual(['enrolment', 'enrolment_status_changed', 'enrolment_status_changed']);
    // Graduated is not enrolled any more.
    const check = await enrolled({ query_type: 'idtype-value', response_entity: 'Beneficiary', query: { type: 'UIN', value: person.uin } });
    expect(check.enrolled_response[0].enrolled_status).toBe('no');
    expect(check.search_response[0].data.reg_records[0].programme_identifier).toMatchObject({ enrolment_status: '3', status_change_date: '2026-09-15' });
  });

  it('takes the same enrolment with its benefits pushed again as already recorded, writing nothing', async () => {
    const [row] = await db.query(`select ${idColumns()}, x.individual_id as id from identifiers x where x.id_type = 'UIN' order by x.id desc offset 6 limit 1`);
    const person = { id: Number(row.id), uin: clearValue(row) };
    const benefits = [{ benefit_type: 'Cash', benefit_date: '2026-03-05', benefit_value: 'USD 10', benefit_frequency: 'monthly' }];
    const pushed = () => push('spmis-a', [beneficiary(person.uin, 'A-BENEFITS', 'Active', { benefits })]);
    expect((await pushed()).message.enrolled_response[0].status_reason_message).toBe('enrolled in A-BENEFITS (Active)');
    const updatedAt = async () => (await db.query<{ t: string }>(`select e.updated_at::text as t from enrolments e join programmes p on p.id = e.programme_id where e.individual_id = $1 and p.code = 'A-BENEFITS'`, [person.id]))[0].t;
    const before = await updatedAt();
    expect((await pushed()).message.enrolled_response[0].status_reason_message).toBe('A-BENEFITS: already recorded');
    expect(await updatedAt()).toBe(before);
  });

  it('takes the sample\'s shape: receipt_information, action register, programme inside the member, labels and dotted dates', async () => {
    const person = await unenrolledPerson();
    const sample = {
      '@context': { '@vocab': 'https://schema.spdci.org/extensions/ibr/v1' },
      '@id': 'Beneficiary',
      '@type': 'Beneficiary',
      assistance_unit: '1',
      member: {
        member_identifier: [{ identifier_type: 'UIN', identifier_value: person.uin }],
        demographic_info: { person: { name: { first_name: 'Test' }, sex: 'F', birth_date: '1980-04-12T00:00' } },
        programme_identifier: {
          programme: { programme_identifier: 'A-SAMPLE', programme_name: 'Test Programme' },
          enrolment_date: '2024-04-12T00:00',
          enrolment_status: 'Active',
          status_change_date: '',
          benefits: { benefit_type: 'Cash', benefit_date: '02.05.2024', benefit_value: 'USD 50', benefit_frequency: 'Monthly' },
        },
      },
    };
    const res = await push('spmis-a', [sample], 'receipt_information', 'register');
    expect(res.message.enrolled_response[0]).toMatchObject({ status: 'succ', status_reason_message: 'enrolled in A-SAMPLE (Active)' });
    const [row] = await db.query(
      `select e.enrolment_date::text as enrolment_date, e.benefits, p.benefit_type, p.benefit_frequency from enrolments e join programmes p on p.id = e.programme_id where e.individual_id = $1`,
      [person.id],
    );
    expect(row).toEqual({ enrolment_date: '2024-04-12', benefits: [{ benefit_type: '1', benefit_date: '2024-05-02', benefit_value: 'USD 50', benefit_frequency: 'monthly' }], benefit_type: 1, benefit_frequency: 'monthly' });
  });

  it('refuses per beneficiary: unknown person, bad status, missing programme, another SP-MIS\'s programme', async () => {
    const person = await unenrolledPerson();
    const res = await push('spmis-b', [
      beneficiary('0000000000', 'B-CASH', 'Active'),
      beneficiary(person.uin, 'B-CASH', 'Enrolled-ish'),
      { member: { member_identifier: [{ identifier_type: 'UIN', identifier_value: person.uin }] } },
      beneficiary(person.uin, 'A-CASH', 'Active'),
      { member: { member_identifier: [{ identifier_type: 'PASSPORT', identifier_value: 'X1' }] }, programme_identifier: [] },
      // Cut to 100 characters it had been stored as a programme another long identifier could share.
      beneficiary(person.uin, `B-${'X'.repeat(99)}`, 'Active'),
      beneficiary(person.uin, 'B-CASH', 'Active'),
    ]);
    const items = res.message.enrolled_response;
    expect(items.map((r: any) => r.status)).toEqual(['rjct', 'rjct', 'rjct', 'rjct', 'rjct', 'rjct', 'succ']);
    expect(items[0].status_reason_message).toMatch(/no person in this registry has that UIN/);
    expect(items[1].status_reason_message).toMatch(/enrolment_status: Enrolled-ish is not one of 1 Active, 2 Deceased, 3 Graduated, 4 Suspended/);
    expect(items[2].status_reason_message).toMatch(/programme_identifier/);
    expect(items[3].status_reason_message).toMatch(/A-CASH is run by another system/);
    expect(items[4].status_reason_message).toMatch(/no identifier of a type this registry knows/);
    expect(items[5].status_reason_message).toBe('programme_identifier[0].programme.programme_identifier is longer than 100 characters');
    expect(items.slice(0, 6).every((r: any) => r.status_reason_code === 'rjct.beneficiary.invalid')).toBe(true);
    // Nothing of the refused ones was written; the last one was.
    const rows = await db.query(`select p.code from enrolments e join programmes p on p.id = e.programme_id where e.individual_id = $1`, [person.id]);
    expect(rows).toEqual([{ code: 'B-CASH' }]);
  });

  it('answers a refused beneficiary under its own reference_id (a number, or padded), and does not take it for another\'s', async () => {
    const [row] = await db.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id desc offset 5 limit 1`);
    const person = { uin: clearValue(row) };
    const res = await push('spmis-a', [
      beneficiary(person.uin, 'A-REF', 'Enrolled-ish', { reference_id: 2 }),
      beneficiary(person.uin, 'A-REF', 'Not-a-status', { reference_id: ' ben-pad ' }),
      beneficiary(person.uin, 'A-REF', 'Active', { reference_id: '1' }),
    ]);
    expect(res.message.enrolled_response.map((r: any) => [r.reference_id, r.status])).toEqual([
      ['2', 'rjct'],
      ['ben-pad', 'rjct'],
      ['1', 'succ'],
    ]);
    expect(res.message.enrolled_response[0].status_reason_message).toMatch(/Enrolled-ish is not one of/);
  });

  it('refuses a wrong action in the header, and a partner without the scope', async () => {
    const person = await unenrolledPerson();
    const body = { header: header('search', 'spmis-a', 1, { status: 'succ' }), message: { transaction_id: 't', enrolled_updates: { beneficiaries: [beneficiary(person.uin, 'A-CASH', 'Active')] } } };
    const wrongAction = await postJson(`${server.url}/ibr/registry/sync/enrollment/updates`, tokens['spmis-a'], body);
    expect(wrongAction.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.action.invalid' });
    const reader = await postJson(`${server.url}/ibr/registry/sync/enrollment/updates`, tokens['ibr-reader'], { ...body, header: header('notify', 'ibr-reader', 1) });
    expect(reader.status).toBe(403);
    const [n] = await db.query<{ n: number }>(`select count(*)::int as n from enrolments where individual_id = $1`, [person.id]);
    expect(n.n).toBe(0);
  });
});

describe('sync/enrollment/updates: dates and limits', () => {
  it('keeps a late, older status change in the history without overturning the newer status', async () => {
    const person = await unenrolledPerson();
    const entry = (status: string, changed?: string) => ({ programme_identifier: [{ programme: { programme_identifier: 'A-ORDER' }, enrolment_date: '2026-03-01', enrolment_status: status, ...(changed ? { status_change_date: changed } : {}) }] });
    await push('spmis-a', [beneficiary(person.uin, 'A-ORDER', 'Active', entry('Active'))]);
    await push('spmis-a', [beneficiary(person.uin, 'A-ORDER', 'Graduated', entry('Graduated', '2026-09-15'))]);
    // The SP-MIS's earlier message (a suspension on 2026-06-30) is retried and arrives last.
    const late = await push('spmis-a', [beneficiary(person.uin, 'A-ORDER', 'Suspended', entry('Suspended', '2026-06-30'))]);
    expect(late.message.enrolled_response[0].status_reason_message).toMatch(/older than the one in effect since 2026-09-15; kept in the history, status unchanged/);
    const check = await enrolled({ query_type: 'idtype-value', query: { type: 'UIN', value: person.uin } });
    expect(check.enrolled_response[0].enrolled_status).toBe('no');
    const history = await db.query<{ status: number; changed_on: string }>(
      `select h.status, h.changed_on::text from enrolment_status_changes h join enrolments e on e.id = h.enrolment_id
       join programmes p on p.id = e.programme_id where e.individual_id = $1 and p.code = 'A-ORDER' order by h.changed_on, h.id`,
      [person.id],
    );
    // 1 Active, 3 Graduated, 4 Suspended
    expect(history).toEqual([{ status: 1, changed_on: '2026-03-01' }, { status: 4, changed_on: '2026-06-30' }, { status: 3, changed_on: '2026-09-15' }]);
    const [current] = await db.query(`select e.status, e.status_changed_on::text from enrolments e join programmes p on p.id = e.programme_id where e.individual_id = $1 and p.code = 'A-ORDER'`, [person.id]);
    expect(current).toEqual({ status: 3, status_changed_on: '2026-09-15' });
  });

  it('finds a beneficiary by any of its identifiers this registry holds, and refuses identifiers naming two people', async () => {
    const [person, other] = [await unenrolledPerson(), await unenrolledPerson()];
    const named = (...ids: [string, string][]) => ({
      '@type': 'Beneficiary',
      assistance_unit: '1',
      member: { member_identifier: ids.map(([identifier_type, identifier_value]) => ({ identifier_type, identifier_value })) },
      programme_identifier: [{ programme: { programme_identifier: 'A-MULTI', programme_name: 'Multi' }, enrolment_date: '2026-03-01', enrolment_status: 'Active' }],
    });
    const res = await push('spmis-a', [
      { reference_id: 'brn-elsewhere', ...named(['BRN', 'BRN-FROM-ANOTHER-CRVS-1'], ['UIN', person.uin]) },
      { reference_id: 'two-people', ...named(['UIN', other.uin], ['UIN', person.uin]) },
      { reference_id: 'nobody', ...named(['BRN', 'BRN-NOWHERE-1'], ['UIN', '0000000000']) },
    ]);
    expect(res.message.enrolled_response.map((r: any) => [r.reference_id, r.status, r.status_reason_message])).toEqual([
      ['brn-elsewhere', 'succ', expect.stringMatching(/enrolled in A-MULTI/)],
      ['two-people', 'rjct', 'these identifiers name more than one person'],
      ['nobody', 'rjct', 'no person in this registry has any of these identifiers'],
    ]);
    const enrolledIn = async (id: number) => (await db.query(`select p.code from enrolments e join programmes p on p.id = e.programme_id where e.individual_id = $1`, [id])).map((r: any) => r.code);
    expect([await enrolledIn(person.id), await enrolledIn(other.id)]).toEqual([['A-MULTI'], []]);
  });

  it('refuses enrolment and status change dates in the future, and more than 20 programmes for one beneficiary', async () => {
    const person = await unenrolledPerson();
    await push('spmis-a', [beneficiary(person.uin, 'A-FUTURE', 'Active')]);
    const entry = (extra: Record<string, unknown>) => ({ programme_identifier: [{ programme: { programme_identifier: 'A-FUTURE' }, enrolment_date: '2026-03-01', enrolment_status: 'Graduated', ...extra }] });
    const future = await push('spmis-a', [
      beneficiary(person.uin, 'A-FUTURE', 'Graduated', { reference_id: 'changed', ...entry({ status_change_date: '2031-12-31' }) }),
      beneficiary(person.uin, 'A-FUTURE', 'Graduated', { reference_id: 'enrolled', ...entry({ enrolment_date: '2031-01-01' }) }),
    ]);
    expect(future.message.enrolled_response.map((r: any) => [r.status, r.status_reason_message])).toEqual([
      ['rjct', expect.stringMatching(/status_change_date 2031-12-31 is in the future/)],
      ['rjct', expect.stringMatching(/enrolment_date 2031-01-01 is in the future/)],
    ]);
    expect((await enrolled({ query_type: 'idtype-value', query: { type: 'UIN', value: person.uin } })).enrolled_response[0].enrolled_status).toBe('yes');

    const many = Array.from({ length: 21 }, (_, k) => ({ programme: { programme_identifier: `A-MANY-${k}` }, enrolment_date: '2026-03-01', enrolment_status: 'Active' }));
    const refused = await push('spmis-a', [{ ...beneficiary(person.uin, 'A-MANY', 'Active'), programme_identifier: many }]);
    expect(refused.message.enrolled_response[0]).toMatchObject({ status: 'rjct', status_reason_message: expect.stringMatching(/at most 20 programmes per beneficiary/) });
    const [{ n }] = await db.query<{ n: number }>(`select count(*)::int as n from programmes where code like 'A-MANY-%'`);
    expect(n).toBe(0);
  });
});

describe('sync/enrollment/updates: a message that failed', () => {
  it('is applied when sent again after a 503 (its message_id is not used up by the attempt that wrote nothing)', async () => {
    const person = await unenrolledPerson();
    // A deadlock with another SP-MIS's message, as PostgreSQL reports it, on this message's first attempts.
    await db.query(`create function ibr_test_deadlock() returns trigger language plpgsql as $$
      begin if new.code = 'A-RETRY' then raise exception 'deadlock detected' using errcode = '40P01'; end if; return new; end $$`);
    await db.query('create trigger ibr_test_deadlock before insert on programmes for each row execute function ibr_test_deadlock()');
    const body = {
      header: header('notify', 'spmis-a', 1, { status: 'succ' }),
      message: { transaction_id: `u-${randomUUID().slice(0, 8)}`, enrolled_updates: { beneficiaries: [beneficiary(person.uin, 'A-RETRY', 'Active')] } },
    };
    try {
      const failed = await postJson(`${server.url}/ibr/registry/sync/enrollment/updates`, tokens['spmis-a'], body);
      expect(failed.status, failed.text).toBe(503);
      expect(failed.json.message.error.message).toMatch(/send it again/);
    } finally {
      await db.query('drop trigger ibr_test_deadlock on programmes');
      await db.query('drop function ibr_test_deadlock()');
    }
    const again = await postJson(`${server.url}/ibr/registry/sync/enrollment/updates`, tokens['spmis-a'], body);
    expect(again.status, again.text).toBe(200);
    expect(again.json.header.status, again.text).toBe('succ');
    expect(again.json.message.enrolled_response[0]).toMatchObject({ status: 'succ', status_reason_message: 'enrolled in A-RETRY (Active)' });
    // Once applied, the same message_id is a replay.
    const replay = await postJson(`${server.url}/ibr/registry/sync/enrollment/updates`, tokens['spmis-a'], body);
    expect(replay.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.message_id.duplicate' });
    const [{ n }] = await db.query<{ n: number }>(`select count(*)::int as n from enrolments where individual_id = $1`, [person.id]);
    expect(n).toBe(1);
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('sync/enrollment/updates at the same time (PostgreSQL)', () => {
  it('applies messages naming the same programmes in opposite orders, none refused for the other', async () => {
    const people = await Promise.all(Array.from({ length: 12 }, () => unenrolledPerson()));
    const codes = ['A-PAR-1', 'A-PAR-2', 'A-PAR-3'];
    const entries = (order: string[]) => order.map((code) => ({ programme: { programme_identifier: code }, enrolment_date: '2026-03-01', enrolment_status: 'Active' }));
    const send = (uin: string, order: string[]) => {
      const body = { header: header('notify', 'spmis-a', 1, { status: 'succ' }), message: { transaction_id: `u-${randomUUID().slice(0, 8)}`, enrolled_updates: { beneficiaries: [beneficiary(uin, codes[0], 'Active', { programme_identifier: entries(order) })] } } };
      return postJson(`${server.url}/ibr/registry/sync/enrollment/updates`, tokens['spmis-a'], body);
    };
    const answers = await Promise.all(people.map((p, k) => send(p.uin, k % 2 === 0 ? codes : [...codes].reverse())));
    expect(answers.map((a) => [a.status, a.json?.message?.enrolled_response?.[0]?.status])).toEqual(people.map(() => [200, 'succ']));
    const [{ n }] = await db.query<{ n: number }>(`select count(*)::int as n from enrolments where individual_id = any($1::bigint[])`, [people.map((p) => p.id)]);
    expect(n).toBe(people.length * codes.length);
  });
});

describe('IBR search: programme counts', () => {
  it('counts programmes, not enrolments: one cash programme held in one\'s own name and through one\'s household is one', async () => {
    const person = await unenrolledPerson();
    const [hh] = await db.query(`select ${idColumns()} from memberships m join identifiers x on x.group_id = m.group_id and x.id_type = 'HOUSEHOLD_ID' where m.individual_id = $1 and m.end_date is null`, [person.id]);
    const cash = { programme: { programme_identifier: 'A-ONECASH', programme_name: 'One cash' }, enrolment_date: '2026-03-01', enrolment_status: 'Active', benefits: [{ benefit_type: 'Cash', benefit_value: 'USD 10' }] };
    const res = await push('spmis-a', [
      { reference_id: 'hh', assistance_unit: '2', group: { group_identifier: [{ identifier_type: 'HOUSEHOLD_ID', identifier_value: clearValue(hh) }] }, programme_identifier: [cash] },
      { reference_id: 'me', assistance_unit: '1', member: { member_identifier: [{ identifier_type: 'UIN', identifier_value: person.uin }] }, programme_identifier: [cash] },
    ]);
    expect(res.message.enrolled_response.map((r: any) => r.status)).toEqual(['succ', 'succ']);
    const searchOne = async (query: unknown) => {
      const r = await postJson(`${server.url}/ibr/registry/sync/search`, tokens['ibr-reader'], searchEnvelope([searchItem({ query_type: 'expression', query })], { sender_id: 'ibr-reader' }));
      expect(r.status, r.text).toBe(200);
      return r.json.message.search_response[0];
    };
    const count = async (name: string, op: string, value: number) => (await searchOne({ $and: [{ UIN: { $eq: person.uin } }, { [name]: { [op]: value } }] })).pagination.total_count;
    expect([await count('cash_programme_count', '$eq', 1), await count('cash_programme_count', '$gt', 1), await count('enrolled_programme_count', '$eq', 1)]).toEqual([1, 0, 1]);
    const found = await searchOne({ $and: [{ UIN: { $eq: person.uin } }, { programme_identifier: { $eq: 'A-ONECASH' } }] });
    expect(found.pagination.total_count).toBe(1);
    expect(found.data.reg_records[0].programme_identifier.map((p: any) => p.programme.programme_identifier)).toEqual(['A-ONECASH', 'A-ONECASH']);
  });
});

describe('IBR search', () => {
  const search = async (criteria: Record<string, unknown>) => {
    const res = await postJson(`${server.url}/ibr/registry/sync/search`, tokens['ibr-reader'], searchEnvelope([searchItem(criteria)], { sender_id: 'ibr-reader' }));
    expect(res.status, res.text).toBe(200);
    expectValidSearchResponse(res.json);
    return res.json.message.search_response[0];
  };

  it('answers a batch of UIN items with a few statements, not a few per item', async () => {
    const rows = await db.query(
      `select ${idColumns()}, i.external_id::text as id from enrolments e join identifiers x on x.individual_id = e.individual_id and x.id_type = 'UIN'
       join individuals i on i.id = e.individual_id where e.status = 1 order by e.id limit 20`,
    );
    const [unenrolled] = [await unenrolledPerson()];
    const batch = async (uins: string[]) => {
      const items = uins.map((uin, k) => searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, `ref-${k}`));
      const res = await postJson(`${server.url}/ibr/registry/sync/search`, tokens['ibr-reader'], searchEnvelope(items, { sender_id: 'ibr-reader' }));
      expect(res.status, res.text).toBe(200);
      return res.json.message.search_response;
    };
    // The workers poll every 50 ms here; their statements are not the request's.
    expect(await statementsOf(db, () => sleep(300))).toBe(0);
    let answers: any[] = [];
    const one = await statementsOf(db, async () => (answers = await batch([clearValue(rows[0])])));
    expect(answers[0].pagination.total_count).toBe(1);
    const twenty = await statementsOf(db, async () => (answers = await batch([...rows.slice(0, 19).map((r) => clearValue(r)), unenrolled.uin])));
    expect(answers.slice(0, 19).map((a) => [a.status, JSON.stringify(a.data.reg_records[0].member.demographic_info.identifier).includes(`"${clearValue(rows[answers.indexOf(a)])}"`)])).toEqual(rows.slice(0, 19).map(() => ['succ', true]));
    expect(answers.slice(0, 19).every((a) => a.data.reg_records[0].programme_identifier.length > 0)).toBe(true);
    expect(answers[19]).toMatchObject({ status: 'succ', pagination: { total_count: 0 } });
    // Items run eight at a time, and each eight share a lookup and a read: fewer statements than items (three an
    // item before).
    expect(twenty).toBeLessThan(20);
    expect(twenty - one).toBeLessThanOrEqual(6);
  });

  it('finds everyone enrolled in a programme in a district, as Beneficiary records with their enrolments', async () => {
    const [district] = await db.query(
      `select a.code, count(distinct e.individual_id)::int as n from enrolments e join programmes p on p.id = e.programme_id and p.code = 'OAP'
       join memberships m on m.individual_id = e.individual_id and m.end_date is null join groups g on g.id = m.group_id join areas a on a.id = g.area_id
       group by a.code order by count(*) desc limit 1`,
    );
    const item = await search({
      query_type: 'expression',
      query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { $and: [{ programme_identifier: { $eq: 'OAP' } }, { district: { $eq: district.code } }] } } } },
      pagination: { page_size: 100 },
    });
    expect(item.status).toBe('succ');
    expect(item.data.reg_record_type).toBe('spdci-extensions-dci:Beneficiary');
    expect(item.data.reg_type).toBe('ns:org:RegistryType:IBR');
    expect(item.pagination.total_count).toBe(district.n);
    for (const record of item.data.reg_records) {
      expect(record['@type']).toBe('Beneficiary');
      expect(record.member.member_identifier[0].identifier_type).toBe('REGISTRY_ID');
      expect(record.programme_identifier.map((p: any) => p.programme.programme_identifier)).toContain('OAP');
    }
  });

  it('finds people enrolled in more than one cash programme', async () => {
    const item = await search({ query_type: 'expression', query: { cash_programme_count: { $gt: 1 } }, sort: [{ attribute_name: 'cash_programme_count', sort_order: 'desc' }], pagination: { page_size: 50 } });
    expect(item.status).toBe('succ');
    expect(item.data.reg_records.length).toBeGreaterThan(0);
    for (const record of item.data.reg_records) {
      const cash = record.programme_identifier.filter((p: any) => ['SCT', 'OAP', 'DSG'].includes(p.programme.programme_identifier) && ['1', '4'].includes(p.enrolment_status));
      expect(cash.length).toBeGreaterThan(1);
    }
  });

  it('returns households enrolled as a unit for response_entity Group', async () => {
    const item = await search({ query_type: 'predicate', response_entity: 'Group', query: [{ seq_num: 1, expression1: { attribute_name: 'programme_identifier', operator: 'eq', attribute_value: 'SCT' } }], pagination: { page_size: 5 } });
    expect(item.status).toBe('succ');
    expect(item.data.reg_records.length).toBe(5);
    for (const record of item.data.reg_records) {
      expect(record).toMatchObject({ '@type': 'Beneficiary', assistance_unit: '2' });
      expect(record.group.group_identifier.some((x: any) => x.identifier_type === 'HOUSEHOLD_ID')).toBe(true);
      expect(record.programme_identifier[0].programme.programme_identifier).toBe('SCT');
    }
  });

  it('refuses an unknown attribute, an unknown status and an unknown record type per item', async () => {
    expect(await search({ query_type: 'expression', query: { favourite_colour: { $eq: 'blue' } } })).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    const badStatus = await search({ query_type: 'expression', query: { enrolment_status: { $eq: 'Enrolled-ish' } } });
    expect(badStatus).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(badStatus.status_reason_message).toMatch(/1 Active, 2 Deceased, 3 Graduated, 4 Suspended/);
    expect(await search({ query_type: 'expression', reg_record_type: 'Farmer', query: { programme_identifier: { $eq: 'OAP' } } })).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
  });
});

describe('IBR search by a partner with a field list', () => {
  const search = async (criteria: Record<string, unknown>) => {
    const res = await postJson(`${server.url}/ibr/registry/sync/search`, tokens['ibr-narrow'], searchEnvelope([searchItem({ pagination: { page_size: 5 }, ...criteria })], { sender_id: 'ibr-narrow' }));
    expect(res.status, res.text).toBe(200);
    return res.json.message.search_response[0];
  };

  it('answers by the programmes it may see, and refuses the statuses, people and households it may not', async () => {
    // It may receive which programmes a beneficiary is in, and the identifiers: programme and programme counts do.
    for (const query of [{ programme_identifier: 'SCT' }, { cash_programme_count: { $gte: 1 } }]) {
      const item = await search({ query_type: 'expression', query });
      expect(item.status, item.status_reason_message).toBe('succ');
      expect(item.pagination.total_count).toBeGreaterThan(0);
      expect(Object.keys(item.data.reg_records[0]).filter((k) => !k.startsWith('@')).sort()).toEqual(['member', 'programme_identifier']);
    }
    for (const [criteria, field] of [
      [{ query_type: 'expression', query: { enrolment_status: 'Active' } }, 'programme_identifier.enrolment_status'],
      [{ query_type: 'expression', query: { programme_identifier: 'SCT', sex: 'female' } }, 'member.demographic_info.sex'],
      [{ query_type: 'expression', response_entity: 'Group', query: { poverty_score: { $lte: 30 } } }, 'group.poverty_score'],
      [{ query_type: 'expression', response_entity: 'Group', query: { 'member_list.age': { $gte: 60 } } }, 'group.member_list.demographic_info.birth_date'],
    ] as const) {
      const item = await search(criteria);
      expect(item, field).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
      expect(item.status_reason_message).toContain(`this partner may not receive ${field}`);
    }
  });
});

describe('sync/enrolled by a partner with a field list', () => {
  it('does not tell the enrolment status, or the programmes, to a partner whose fields leave them out', async () => {
    const [row] = await db.query(
      `select ${idColumns()} from enrolments e join identifiers x on x.individual_id = e.individual_id and x.id_type = 'UIN' where e.status = 1 limit 1`,
    );
    const uin = clearValue(row);
    // It may receive which programmes a beneficiary is in, not the status of the enrolment (which "enrolled" tells).
    const res = await postJson(`${server.url}/ibr/registry/sync/enrolled`, tokens['ibr-narrow'], enrolledBody({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'ibr-narrow'));
    expect(res.status, res.text).toBe(200);
    expectSchema('enrolled-response.schema.json', res.json);
    expect(res.json.message.enrolled_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid', enrolled_status: 'no' });
    expect(res.json.message.enrolled_response[0].status_reason_message).toMatch(/this partner may not receive programme_identifier.enrolment_status/);
  });
});

describe('IBR subscribe and notify', () => {
  it('notifies a subscriber of a new enrolment with the Beneficiary record', async () => {
    const subscribe = await postJson(`${server.url}/ibr/registry/subscribe`, tokens.watcher, {
      header: header('subscribe', 'watcher', 1),
      message: {
        transaction_id: 't-sub',
        subscribe_request: [{ reference_id: 's-1', timestamp: new Date().toISOString(), subscribe_criteria: { reg_type: 'ns:org:RegistryType:IBR', reg_event_type: 'enrollement', notify_record_type: 'Beneficiary' } }],
      },
    });
    expect(subscribe.status, subscribe.text).toBe(202);
    const [answer] = await waitFor(() => receiver.forCorrelation(subscribe.json.message.correlation_id).length > 0 && receiver.forCorrelation(subscribe.json.message.correlation_id));
    const code = answer.body.message.subscribe_response[0].subscriptions[0].code;
    const person = await unenrolledPerson();
    await push('spmis-a', [beneficiary(person.uin, 'A-CASH', 'Active')]);
    const [notify] = await waitFor(() => {
      const found = receiver.requests.filter((r) => r.body?.header?.action === 'notify' && r.body.header.meta?.subscription_code === code);
      return found.length > 0 && found;
    });
    const [item] = notify.body.message.notify_event;
    expect(item.data).toMatchObject({ reg_type: 'ns:org:RegistryType:IBR', reg_record_type: 'spdci-extensions-dci:Beneficiary' });
    expect(item.data.reg_records.member.demographic_info.identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: person.uin });
    expect(item.data.reg_records.programme_identifier).toEqual([expect.objectContaining({ programme: { programme_identifier: 'A-CASH', programme_name: 'Programme A-CASH' } })]);
  });
});
