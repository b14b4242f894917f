import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { expectErrorBody, expectSchema, expectValidSearchResponse, postJson } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { statementsOf } from './support/plans.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * The Disability Registry over HTTP: an assessment board records assessments (POST /dr/assessments), programmes ask
 * whether a person is disabled and for their disability details and support (the DR sync extras), search
 * DisabledPerson records, follow the asynchronous search through txn status, and subscribe to new assessments.
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
      { id: 'board', secret: 'board-secret-1', scopes: ['dr:registry.assess'] },
      { id: 'programme', secret: 'programme-secret', scopes: ['dr:registry.search', 'dr:registry.subscribe', 'dr:registry.txn-status'], callbacks },
      { id: 'narrow', secret: 'narrow-secret-1', scopes: ['dr:registry.search'], fields: ['disability_status', 'disability_details.impairment_type'] },
      { id: 'support-desk', secret: 'support-desk-secret', scopes: ['dr:registry.search'], fields: ['disability_support'] },
    ],
  });
  for (const [id, secret] of [['board', 'board-secret-1'], ['programme', 'programme-secret'], ['narrow', 'narrow-secret-1'], ['support-desk', 'support-desk-secret']]) tokens[id] = await server.token({ clientId: id, secret });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await db?.close();
});

const header = (action: string, senderId: string, total: number) => ({ version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action, sender_id: senderId, total_count: total });

async function check(path: 'disabled' | 'get-disability-details' | 'get-disability-support', criteria: unknown, senderId = 'programme') {
  const count = Array.isArray(criteria) ? criteria.length : 1;
  const res = await postJson(`${server.url}/dr/registry/sync/${path}`, tokens[senderId], { header: header('search', senderId, count), message: { transaction_id: `t-${randomUUID().slice(0, 8)}`, disabled_criteria: criteria } });
  expect(res.status, res.text).toBe(200);
  expectSchema(path === 'disabled' ? 'disabled-response.schema.json' : path === 'get-disability-details' ? 'disability-details-response.schema.json' : 'disability-support-response.schema.json', res.json);
  return res.json.message;
}

/** A record's status today: Approved past its valid_until is Expired. */
const CURRENT_STATUS = `(case when d.status = 0 and d.valid_until < current_date then 2 else d.status end)`;

const byUin = (uin: string) => ({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } });

/** A person whose disability record has this status (0 Approved, 1 Pending, 2 Expired), with their UIN. */
async function personWithRecord(status: number, offset = 0) {
  const [row] = await db.query(
    `select ${idColumns()}, d.individual_id as id from disability_records d join identifiers x on x.individual_id = d.individual_id and x.id_type = 'UIN'
     where ${CURRENT_STATUS} = $1 order by d.id offset $2 limit 1`,
    [status, offset],
  );
  return { id: Number(row.id), uin: clearValue(row) };
}

let nextPlain = 0;
/** A living adult with a UIN and no disability record. */
async function personWithoutRecord() {
  const [row] = await db.query(
    `select ${idColumns()}, i.id from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
     join memberships m on m.individual_id = i.id and m.end_date is null
     where i.death_date is null and not exists (select 1 from disability_records d where d.individual_id = i.id) order by i.id offset $1 limit 1`,
    [nextPlain++ * 3],
  );
  return { id: Number(row.id), uin: clearValue(row) };
}

const assess = (body: Record<string, unknown>, token = tokens.board) => postJson(`${server.url}/dr/assessments`, token, body);

describe('sync/disabled, get-disability-details, get-disability-support', () => {
  it('says yes for an approved record and no for a pending or expired one, a person without one, and an unknown person', async () => {
    const approved = await personWithRecord(0);
    const pending = await personWithRecord(1);
    const expired = await personWithRecord(2);
    const plain = await personWithoutRecord();
    const message = await check('disabled', [
      // The DR sample's operator map (DIGEST 3.8).
      { query_type: 'expression', query: { 'personal_details.member_identifier': { eq: approved.uin } } },
      byUin(pending.uin),
      byUin(expired.uin),
      byUin(plain.uin),
      byUin('0000000000'),
    ]);
    expect(message.disabled_response.map((r: any) => [r.status, r.disabled_status])).toEqual([
      ['succ', 'yes'],
      ['succ', 'no'],
      ['succ', 'no'],
      ['succ', 'no'],
      ['succ', 'no'],
    ]);
    expect(message.disabled_response[3].status_reason_message).toBe('this person has no disability record');
    expect(message.disabled_response[4].status_reason_message).toMatch(/no person in this registry has that UIN/);
    const [audit] = await db.query(`select partner_id, action, record_count from audit_log where action = 'sync/disabled' order by id desc limit 1`);
    expect(audit).toEqual({ partner_id: 'programme', action: 'sync/disabled', record_count: 4 });
  });

  it('refuses criteria that do not name a person, per item', async () => {
    const message = await check('disabled', [{ query_type: 'expression', query: { disability_status: { eq: 'Approved' } } }, { query_type: 'graphql', query: { a: 1 } }, { query: { group_identifier: { eq: 'HH-1' } } }]);
    for (const item of message.disabled_response) expect(item).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid', disabled_status: 'no' });
    expect(message.disabled_response[2].status_reason_message).toMatch(/answers for people/);
  });

  it('gives the details and the support of a person, and nothing for a person without a record', async () => {
    const approved = await personWithRecord(0);
    const plain = await personWithoutRecord();
    const [stored] = await db.query<any>(`select impairments, support, level, assessed_on::text as assessed_on from disability_records where individual_id = $1`, [approved.id]);
    const details = await check('get-disability-details', [byUin(approved.uin), byUin(plain.uin)]);
    const [info] = details.search_response[0].data.reg_records;
    expect(info).toMatchObject({ disability_status: '0', disability_status_level: stored.level, disability_details: stored.impairments, assessment_date: stored.assessed_on, assessor: 'District disability assessment board' });
    expect(info.functional_limitations.length).toBeGreaterThan(0);
    expect(details.search_response[1].data.reg_records).toEqual([]);

    const support = await check('get-disability-support', [byUin(approved.uin)]);
    const [[entry]] = support.search_response[0].data.reg_records;
    expect(Object.keys(entry).sort()).toEqual(['animal_assistance', 'assistive_technology', 'housing_support', 'human_assistance', 'last_updated', 'medical_care', 'registration_date']);
    for (const kind of ['human_assistance', 'assistive_technology', 'housing_support', 'medical_care', 'animal_assistance']) expect(entry[kind]).toEqual(stored.support[kind] ?? []);
  });

  it('projects support to the partner\'s fields: a partner granted no support list gets none', async () => {
    const [row] = await db.query(
      `select ${idColumns()} from disability_records d join identifiers x on x.individual_id = d.individual_id and x.id_type = 'UIN'
       where ${CURRENT_STATUS} = 0 and d.support <> '{}'::jsonb order by d.id limit 1`,
    );
    const uin = clearValue(row);
    const full = await check('get-disability-support', byUin(uin));
    expect(Object.values(full.search_response[0].data.reg_records[0][0]).some((v) => Array.isArray(v) && v.length > 0)).toBe(true);
    const narrow = await check('get-disability-support', byUin(uin), 'narrow');
    expect(narrow.search_response[0]).toMatchObject({ status: 'succ', data: { reg_records: [[]] } });
  });

  it('does not tell a partner whose fields leave out disability_status whether a person is disabled', async () => {
    const approved = await personWithRecord(0, 2);
    const answer = await check('disabled', [byUin(approved.uin), byUin('0000000000')], 'support-desk');
    for (const item of answer.disabled_response) {
      expect(item).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid', disabled_status: 'no' });
      expect(item.status_reason_message).toMatch(/this partner may not receive disability_status/);
    }
    // What it may receive, it gets.
    const support = await check('get-disability-support', byUin(approved.uin), 'support-desk');
    expect(support.search_response[0].status).toBe('succ');
    // The narrow partner may receive the status: it gets the answer.
    expect((await check('disabled', byUin(approved.uin), 'narrow')).disabled_response[0]).toMatchObject({ status: 'succ', disabled_status: 'yes' });
  });

  it('projects the details to the partner\'s fields', async () => {
    const approved = await personWithRecord(0, 1);
    const details = await check('get-disability-details', byUin(approved.uin), 'narrow');
    const [info] = details.search_response[0].data.reg_records;
    expect(Object.keys(info).sort()).toEqual(['disability_details', 'disability_status']);
    expect(Object.keys(info.disability_details[0])).toEqual(['impairment_type']);
  });
});

describe('assessments', () => {
  it('takes an Approved record past its valid_until as Expired: the checks say not disabled, the search status 2', async () => {
    const person = await personWithoutRecord();
    const res = await assess({
      person: { identifier_type: 'UIN', identifier_value: ` ${person.uin} ` },
      disability_status: 'Approved',
      disability_level: 'Severe',
      assessment_date: '2020-01-10',
      valid_until: '2021-01-10',
      assessor: 'Dr. Old',
      functional_limitations: [{ disability_limitation_type: 'mobility', functional_severity: 'cannot do at all' }],
    });
    expect(res.status, res.text).toBe(201);
    expect((await check('disabled', byUin(person.uin))).disabled_response[0].disabled_status).toBe('no');
    const details = await check('get-disability-details', byUin(person.uin));
    expect(details.search_response[0].data.reg_records[0]).toMatchObject({ disability_status: '2', valid_until: '2021-01-10' });
    const search = async (status: string) => {
      const r = await postJson(`${server.url}/dr/registry/sync/search`, tokens.programme, {
        header: header('search', 'programme', 1),
        message: { transaction_id: 't-exp', search_request: [{ reference_id: 'r', timestamp: new Date().toISOString(), search_criteria: { query_type: 'expression', query: { $and: [{ UIN: { $eq: person.uin } }, { disability_status: { $eq: status } }] } } }] },
      });
      expect(r.status).toBe(200);
      return r.json.message.search_response[0].pagination.total_count;
    };
    expect([await search('Approved'), await search('Expired')]).toEqual([0, 1]);
  });

  it('records a first assessment (labels accepted), which makes the person disabled in the DR and the Social Registry', async () => {
    const person = await personWithoutRecord();
    const res = await assess({
      person: { identifier_type: 'UIN', identifier_value: person.uin },
      disability_status: 'Approved',
      disability_level: 'Severe',
      assessment_date: '2026-10-01',
      assessor: 'Dr. Amina Yusuf',
      functional_limitations: [{ disability_limitation_type: 'mobility', functional_severity: 'cannot do at all' }],
      disability_details: [{ impairment_type: 'Physical and movement related functions', impairment_level: 'Severe impairment or difficulty', impairment_cause: 'Work Accident', age_on_set: 'Working age' }],
      disability_support: { assistive_technology: [{ type: 'wheelchair', support_status: 'Required', since: '2026-10-15' }] },
      transport_requirement: 'adapted vehicle',
    });
    expect(res.status, res.text).toBe(201);
    expect(res.json.created).toBe(true);
    const [record] = await db.query(`select status, level, impairments, support, assessor from disability_records where individual_id = $1`, [person.id]);
    expect(record).toEqual({
      status: 0,
      level: 'severe',
      impairments: [{ impairment_type: 'physical', impairment_level: 'severe', impairment_cause: 'work_accident', age_on_set: 'working_age' }],
      support: { assistive_technology: [{ type: 'wheelchair', support_status: 'needed', since: '2026-10-15' }] },
      assessor: 'Dr. Amina Yusuf',
    });
    const [individual] = await db.query(`select is_disabled, disability_info from individuals where id = $1`, [person.id]);
    expect(individual).toEqual({ is_disabled: true, disability_info: [{ disability_limitation_type: 'walking', functional_severity: 'cannot_do_at_all' }] });
    const [event] = await db.query(`select event_type, source from registry_events where individual_id = $1`, [person.id]);
    expect(event).toEqual({ event_type: 'disability_assessed', source: 'dr:board' });
    expect((await check('disabled', byUin(person.uin))).disabled_response[0].disabled_status).toBe('yes');

    // A later assessment replaces it (200); an earlier one is refused (409).
    const replaced = await assess({ person: { identifier_type: 'UIN', identifier_value: person.uin }, disability_status: 2, assessment_date: '2026-11-01', assessor: 'Dr. B' });
    expect(replaced.status).toBe(200);
    expect((await check('disabled', byUin(person.uin))).disabled_response[0].disabled_status).toBe('no');
    const stale = await assess({ person: { identifier_type: 'UIN', identifier_value: person.uin }, disability_status: 0, assessment_date: '2026-09-01', assessor: 'Dr. C' });
    expect(stale.status).toBe(409);
    expect(stale.json.message.error.message).toMatch(/2026-11-01 is recorded/);
  });

  it('takes the same assessment sent again (a retry after a timeout) as recorded: no second event, no second notify', async () => {
    const person = await personWithoutRecord();
    const body = {
      person: { identifier_type: 'UIN', identifier_value: person.uin },
      disability_status: 'Approved',
      disability_level: 'moderate',
      assessment_date: '2026-10-05',
      assessor: 'Dr. Retry',
      functional_limitations: [{ disability_limitation_type: 'seeing', functional_severity: 'a lot of difficulty' }],
      disability_details: [{ impairment_type: 'visual', impairment_level: 'moderate' }],
      disability_support: { assistive_technology: [{ type: 'white cane', support_status: 'received' }] },
    };
    expect((await assess(body)).status).toBe(201);
    const [before] = await db.query<{ last_updated: string }>('select last_updated::text from disability_records where individual_id = $1', [person.id]);
    const again = await assess(body);
    expect(again.status, again.text).toBe(200);
    expect(again.json.created).toBe(false);
    const events = await db.query(`select event_type from registry_events where individual_id = $1`, [person.id]);
    expect(events).toEqual([{ event_type: 'disability_assessed' }]);
    const [after] = await db.query<{ last_updated: string }>('select last_updated::text from disability_records where individual_id = $1', [person.id]);
    expect(after.last_updated).toBe(before.last_updated);
    // A correction of the same day is a change.
    expect((await assess({ ...body, disability_level: 'severe' })).status).toBe(200);
    expect(await db.query(`select event_type from registry_events where individual_id = $1`, [person.id])).toHaveLength(2);
  });

  it('refuses values outside the vocabularies, an unknown person and a partner without the scope', async () => {
    const person = await personWithoutRecord();
    const base = { person: { identifier_type: 'UIN', identifier_value: person.uin }, disability_status: 'Approved', assessment_date: '2026-10-01', assessor: 'Dr. A' };
    const badStatus = await assess({ ...base, disability_status: 'Approvd' });
    expect(badStatus.status).toBe(400);
    expectErrorBody(badStatus.json, 'err.request.bad');
    expect(badStatus.json.message.error.message).toMatch(/disability_status: must be one of 0 Approved, 1 Pending, 2 Expired/);
    const badImpairment = await assess({ ...base, disability_details: [{ impairment_type: 'purple' }] });
    expect(badImpairment.status).toBe(400);
    expect(badImpairment.json.message.error.message).toMatch(/impairment_type: must be one of physical/);
    const badDate = await assess({ ...base, assessment_date: '01.10.2026' });
    expect(badDate.status).toBe(400);
    const backwards = await assess({ ...base, valid_until: '2025-01-01' });
    expect(backwards.status).toBe(400);
    // Year 0 exists in ISO 8601, not in PostgreSQL (it had been a 500); a future date would outrank later assessments.
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    for (const [field, value, why] of [
      ['assessment_date', '0000-01-01', /assessment_date: year 0000 is not a date/],
      ['valid_until', '0000-01-01', /valid_until: year 0000 is not a date/],
      ['assessment_date', day(2), /assessment_date: assessment_date is in the future/],
      ['assessment_date', '9999-12-31', /assessment_date: assessment_date is in the future/],
    ] as const) {
      const res = await assess({ ...base, [field]: value });
      expect(res.status, `${field} ${value}`).toBe(400);
      expectErrorBody(res.json, 'err.request.bad');
      expect(res.json.message.error.message, `${field} ${value}`).toMatch(why);
    }
    const support = await assess({ ...base, disability_support: { assistive_technology: [{ type: 'wheelchair', support_status: 'Required', since: '0000-12-31' }] } });
    expect(support.status).toBe(400);
    expect(support.json.message.error.message).toMatch(/since: year 0000 is not a date/);
    const unknown = await assess({ ...base, person: { identifier_type: 'UIN', identifier_value: '0000000000' } });
    expect(unknown.status).toBe(404);
    const household = await assess({ ...base, person: { identifier_type: 'HOUSEHOLD_ID', identifier_value: 'HH-1' } });
    expect(household.status).toBe(404);
    const notBoard = await assess(base, tokens.programme);
    expect(notBoard.status).toBe(403);
    const [n] = await db.query<{ n: number }>(`select count(*)::int as n from disability_records where individual_id = $1`, [person.id]);
    expect(n.n).toBe(0);
    // Tomorrow in UTC is already today east of it: accepted.
    const other = await personWithoutRecord();
    const tomorrow = await assess({ ...base, person: { identifier_type: 'UIN', identifier_value: other.uin }, assessment_date: day(1) });
    expect(tomorrow.status, tomorrow.text).toBe(201);
  });

  it('refuses bodies no other route takes either: over MAX_BODY_BYTES (413), a U+0000, a lone surrogate, nested thousands deep (400)', async () => {
    const person = await personWithoutRecord();
    const base = { person: { identifier_type: 'UIN', identifier_value: person.uin }, disability_status: 'Approved', assessment_date: '2026-10-01', assessor: 'Dr. A' };
    const deep = JSON.stringify({ ...base, notes: '__DEEP__' }).replace('"__DEEP__"', '['.repeat(50_000) + ']'.repeat(50_000));
    for (const [name, body, status, why] of [
      ['over MAX_BODY_BYTES', JSON.stringify({ ...base, notes: 'x'.repeat(4_000_000) }), 413, /exceeds 1048576 bytes/],
      ['a U+0000', JSON.stringify({ ...base, assessor: 'Dr.\u0000A' }), 400, /U\+0000/],
      ['a lone surrogate', JSON.stringify(base).replace('Dr. A', 'Dr. \\ud800A'), 400, /unpaired surrogate/],
      ['nested 50,000 deep', deep, 400, /deeper than 64 levels/],
    ] as const) {
      const res = await postJson(`${server.url}/dr/assessments`, tokens.board, body);
      expect(res.status, name).toBe(status);
      expectErrorBody(res.json, 'err.request.bad');
      expect(res.json.message.error.message, name).toMatch(why);
    }
    const [n] = await db.query<{ n: number }>(`select count(*)::int as n from disability_records where individual_id = $1`, [person.id]);
    expect(n.n).toBe(0);
  });
});

describe('POST /dr/assessments from a caller it does not allow', () => {
  it('answers 401 (no token) or 403 (no assess scope) before it reads the body: nothing is said about what was sent', async () => {
    for (const [name, body] of [
      ['a U+0000', JSON.stringify({ assessor: 'Dr.\u0000A' })],
      ['nested 100 deep', '['.repeat(100) + ']'.repeat(100)],
      ['over MAX_BODY_BYTES', JSON.stringify({ notes: 'x'.repeat(1_100_000) })],
    ]) {
      for (const [token, status] of [['', 401], ['not-a-token', 401], [tokens.programme, 403]] as const) {
        const res = await fetch(`${server.url}/dr/assessments`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
        expect(res.status, `${name} ${token.slice(0, 12) || 'no token'}`).toBe(status);
        expect(((await res.json()) as any).message.error.code).toBe(status === 401 ? 'err.request.unauthorized' : 'err.request.forbidden');
      }
    }
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('assessments at the same time (PostgreSQL)', () => {
  it('keeps the latest of a person\'s first assessments sent together, and calls only one of them the first', async () => {
    const person = await personWithoutRecord();
    const dates = ['2026-09-01', '2026-10-20', '2026-08-15', '2026-10-01', '2026-09-30', '2026-07-04'];
    const answers = await Promise.all(
      dates.map((assessment_date, k) => assess({ person: { identifier_type: 'UIN', identifier_value: person.uin }, disability_status: 'Pending', assessment_date, assessor: `Dr. ${k}` })),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    const [record] = await db.query(`select assessed_on::text as assessed_on, assessor from disability_records where individual_id = $1`, [person.id]);
    expect(record).toEqual({ assessed_on: '2026-10-20', assessor: 'Dr. 1' });
  });
});

describe('POST /dr/assessments in /openapi.json', () => {
  it('documents each refusal in the form it is sent: a DCI error body', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as any;
    const documented = doc.paths['/dr/assessments'].post.responses;
    const person = { identifier_type: 'UIN', identifier_value: '0000000000' };
    const refusals: [string, () => ReturnType<typeof postJson>][] = [
      ['400', () => assess({})],
      ['401', () => assess({}, 'not-a-token')],
      ['403', () => assess({}, tokens.programme)],
      ['404', () => assess({ person, disability_status: 'Approved', assessment_date: '2026-10-01', assessor: 'Dr. A' })],
      ['413', () => postJson(`${server.url}/dr/assessments`, tokens.board, JSON.stringify({ notes: 'x'.repeat(1_100_000) }))],
    ];
    for (const [status, send] of refusals) {
      const res = await send();
      expect(String(res.status)).toBe(status);
      expect(res.headers.get('content-type'), status).toMatch(/^application\/json/);
      expectErrorBody(res.json, res.json.message.error.code);
      expect(Object.keys(documented[status]?.content ?? {}), `${status} as documented`).toEqual(['application/json']);
      expect(documented[status].content['application/json'].schema.$ref, status).toBe('#/components/schemas/DciErrorBody');
    }
    expect(documented['409'].content['application/json'].schema.$ref).toBe('#/components/schemas/DciErrorBody');
  });
});

describe('DR search batches', () => {
  it('answers a batch of UIN items with a few statements, not a few per item', async () => {
    const rows = await db.query(`select ${idColumns()} from disability_records d join identifiers x on x.individual_id = d.individual_id and x.id_type = 'UIN' order by d.id limit 19`);
    const without = await personWithoutRecord();
    const batch = async (uins: string[]) => {
      const items = uins.map((uin, k) => ({ reference_id: `ref-${k}`, timestamp: new Date().toISOString(), search_criteria: { query_type: 'idtype-value', query: { type: 'UIN', value: uin } } }));
      const res = await postJson(`${server.url}/dr/registry/sync/search`, tokens.programme, { header: header('search', 'programme', items.length), message: { transaction_id: 't-batch', search_request: items } });
      expect(res.status, res.text).toBe(200);
      expectValidSearchResponse(res.json);
      return res.json.message.search_response;
    };
    // The workers poll every 50 ms here; their statements are not the request's.
    expect(await statementsOf(db, () => sleep(300))).toBe(0);
    let answers: any[] = [];
    const one = await statementsOf(db, async () => (answers = await batch([clearValue(rows[0])])));
    expect(answers[0].pagination.total_count).toBe(1);
    const twenty = await statementsOf(db, async () => (answers = await batch([...rows.map((r) => clearValue(r)), without.uin])));
    expect(answers.slice(0, 19).map((a, k) => [a.status, JSON.stringify(a.data.reg_records[0].personal_details.demographic_info.identifier).includes(`"${clearValue(rows[k])}"`)])).toEqual(rows.map(() => ['succ', true]));
    expect(answers[19]).toMatchObject({ status: 'succ', pagination: { total_count: 0 } });
    // Items run eight at a time, and each eight share a lookup and a read: fewer statements than items (three an
    // item before).
    expect(twenty).toBeLessThan(20);
    expect(twenty - one).toBeLessThanOrEqual(6);
  });
});

describe('DR search, async search and txn status', () => {
  const drSample = (referenceId: string) => ({
    reference_id: referenceId,
    timestamp: '',
    search_criteria: {
      version: '1.0.0',
      reg_type: 'ns:org:RegistryType:DR',
      reg_event_type: 'spdci-common:RegistryEventType:DisabledPerson',
      query_type: 'expression',
      query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { $and: [{ disability_status: { $eq: 'Approved' } }, { 'disability_details.impairment_type': { $eq: 'Mobility' } }] } } } },
      sort: [{ attribute_name: 'assessment_date', sort_order: 'desc' }],
      pagination: { page_size: 20 },
      consent: {},
      authorize: {},
    },
    locale: 'en',
  });

  it('answers the DR sample search (search_request as one object) with DisabledPerson records', async () => {
    const res = await postJson(`${server.url}/dr/registry/sync/search`, tokens.programme, { header: header('search', 'programme', 1), message: { transaction_id: 'txn-1234567890', search_request: drSample('r-1') } });
    expect(res.status, res.text).toBe(200);
    expectValidSearchResponse(res.json);
    const [item] = res.json.message.search_response;
    const [expected] = await db.query<{ n: number }>(`select count(*)::int as n from disability_records d where ${CURRENT_STATUS} = 0 and impairments @> '[{"impairment_type": "physical"}]'`);
    expect(item.pagination.total_count).toBe(expected.n);
    expect(item.data).toMatchObject({ reg_type: 'ns:org:RegistryType:DR', reg_record_type: 'spdci-extensions-dci:DisabledPerson' });
    const dates = item.data.reg_records.map((r: any) => r.additional_attributes.find((a: any) => a.attribute_name === 'assessment_date').attribute_value);
    expect(dates).toEqual([...dates].sort().reverse());
    for (const r of item.data.reg_records) {
      expect(r.disability_status).toBe('0');
      expect(r.disability_details.some((d: any) => d.impairment_type === 'physical')).toBe(true);
      expect(r.personal_details['@type']).toBe('Member');
      expect(r.disability_support).toHaveLength(1);
    }
  });

  it('takes the actions the DR samples write on these paths (verify on search, get_disability_info on the details): the path says what the message is', async () => {
    const search = await postJson(`${server.url}/dr/registry/sync/search`, tokens.programme, { header: header('verify', 'programme', 1), message: { transaction_id: 'txn-1234567890', search_request: drSample('r-1') } });
    expect(search.status, search.text).toBe(200);
    expectValidSearchResponse(search.json);
    expect(search.json.header).toMatchObject({ status: 'succ', action: 'on-search' });
    expect(search.json.message.search_response[0].status).toBe('succ');

    const approved = await personWithRecord(0);
    const details = await postJson(`${server.url}/dr/registry/sync/get-disability-details`, tokens.programme, {
      header: { ...header('get_disability_info', 'programme', 1), status: 'request', status_reason_code: '', completed_count: '' },
      message: { transaction_id: 'txn-abcdef1234', disabled_criteria: byUin(approved.uin) },
    });
    expect(details.status, details.text).toBe(200);
    expect(details.json.header.status).toBe('succ');
    expect(details.json.message.search_response[0].data.reg_records).toHaveLength(1);

    // An action of the protocol's own stays refused on another path's endpoint.
    const subscribe = await postJson(`${server.url}/dr/registry/sync/search`, tokens.programme, { header: header('subscribe', 'programme', 1), message: { transaction_id: 'txn-1', search_request: drSample('r-2') } });
    expect(subscribe.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.action.invalid' });
  });

  it('lets a partner with a field list query and sort only on the fields it may receive', async () => {
    // narrow may receive disability_status and disability_details.impairment_type, nothing of the person.
    const ask = async (query: Record<string, unknown>, sort?: unknown[]) => {
      const sample = drSample('r-narrow');
      const item = { ...sample, search_criteria: { ...sample.search_criteria, query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query } } }, sort } };
      const res = await postJson(`${server.url}/dr/registry/sync/search`, tokens.narrow, { header: header('search', 'narrow', 1), message: { transaction_id: 't-narrow', search_request: [item] } });
      expect(res.status, res.text).toBe(200);
      return res.json.message.search_response[0];
    };
    const allowed = await ask({ $and: [{ disability_status: 'Approved' }, { 'disability_details.impairment_type': 'Mobility' }] }, [{ attribute_name: 'disability_status' }]);
    expect(allowed.status, allowed.status_reason_message).toBe('succ');
    expect(allowed.pagination.total_count).toBeGreaterThan(0);
    for (const [query, field] of [
      [{ 'disability_details.impairment_level': 'Severe' }, 'disability_details.impairment_level'],
      [{ disability_status: 'Approved', age: { $gte: 60 } }, 'personal_details.demographic_info.birth_date'],
      [{ disability_limitation_type: 'Seeing' }, 'personal_details.disability_info.disability_limitation_type'],
      [{ has_assistive_technology: true }, 'disability_support.assistive_technology'],
    ] as const) {
      const refused = await ask(query);
      expect(refused, field).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
      expect(refused.status_reason_message).toContain(`this partner may not receive ${field}`);
    }
    const sorted = await ask({ disability_status: 'Approved' }, [{ attribute_name: 'assessment_date', sort_order: 'desc' }]);
    expect(sorted).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.sort.invalid' });
    expect(sorted.status_reason_message).toContain('this partner may not receive additional_attributes');
  });

  it('answers the DR sample 3 search: DRPerson entity, member.demographic_info paths, sort by birth date, empty consent', async () => {
    const res = await postJson(`${server.url}/dr/registry/sync/search`, tokens.programme, {
      header: header('search', 'programme', 1),
      message: {
        transaction_id: '',
        search_request: [{
          reference_id: 'r-3',
          timestamp: '2022-12-04T17:20:07-04:00',
          search_criteria: {
            version: '1.0.0',
            reg_event_type: 'SEARCH',
            query_type: 'expression',
            response_entity: 'DRPerson',
            query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'DRPerson', query: { $and: [{ 'member.demographic_info.birth_date': { $gt: '1950-08-18T00:00:00Z' } }, { disability_status: { $eq: 'Approved' } }] } } } },
            sort: [{ attribute_name: 'demographic_info.birth_date', sort_order: 'asc' }],
            pagination: { page_size: 10, page_number: 1 },
            consent: '',
            authorize: '',
          },
          locale: 'EN/GB',
        }],
      },
    });
    expect(res.status, res.text).toBe(200);
    expectValidSearchResponse(res.json);
    const [item] = res.json.message.search_response;
    expect(item).toMatchObject({ reference_id: 'r-3', status: 'succ', locale: 'eng' });
    const births = item.data.reg_records.map((r: any) => r.personal_details.demographic_info.birth_date);
    expect(births.length).toBe(10);
    expect(births).toEqual([...births].sort());
    expect(births.every((b: string) => b > '1950-08-18')).toBe(true);
  });

  it('serves the async search and its txn status for the DR too', async () => {
    const transactionId = `txn-${randomUUID().slice(0, 8)}`;
    const res = await postJson(`${server.url}/dr/registry/search`, tokens.programme, { header: header('search', 'programme', 1), message: { transaction_id: transactionId, search_request: [drSample('r-async')] } });
    expect(res.status, res.text).toBe(202);
    const [onSearch] = await waitFor(() => receiver.forCorrelation(res.json.message.correlation_id).length > 0 && receiver.forCorrelation(res.json.message.correlation_id));
    expect(onSearch.path).toBe('/registry/on-search');
    expect(onSearch.body.message.search_response[0].data.reg_record_type).toBe('spdci-extensions-dci:DisabledPerson');
    // The spec gives the DR no txn status (DIGEST 1.2, issue #49); it is served as for every other domain.
    const txnStatus = () =>
      postJson(`${server.url}/dr/registry/sync/txn/status`, tokens.programme, {
        header: header('txn-status', 'programme', 1),
        message: { transaction_id: 'st-1', txnstatus_request: { reference_id: 'q-1', txn_type: 'search', attribute_type: 'transaction_id', attribute_value: transactionId } },
      });
    const status = await waitFor(async () => {
      const r = await txnStatus();
      return r.json?.message?.txnstatus_response?.txn_status?.search_response?.[0]?.status === 'succ' && r;
    });
    expect(status.status).toBe(200);
    expectSchema('txn-status-response-envelope.schema.json', status.json);
    expect(status.json.message.txnstatus_response.txn_status).toMatchObject({ transaction_id: transactionId, correlation_id: res.json.message.correlation_id });
  });

  it('notifies a subscriber of newly assessed people with severe limitations', async () => {
    const subscribe = await postJson(`${server.url}/dr/registry/subscribe`, tokens.programme, {
      header: header('subscribe', 'programme', 1),
      message: {
        transaction_id: 't-sub',
        subscribe_request: [{
          reference_id: 's-1',
          timestamp: new Date().toISOString(),
          subscribe_criteria: {
            reg_type: 'ns:org:RegistryType:Disability',
            reg_event_type: 'spdci-common:RegistryEventType:DisabledPerson',
            filter_type: 'expression',
            filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'DRPerson', query: { $and: [{ disability_status: { $eq: 'Approved' } }, { disability_level: { $eq: 'severe' } }] } } } },
            notify_record_type: 'spdci-extensions-dci:DisabledPerson',
          },
        }],
      },
    });
    expect(subscribe.status, subscribe.text).toBe(202);
    const [answer] = await waitFor(() => receiver.forCorrelation(subscribe.json.message.correlation_id).length > 0 && receiver.forCorrelation(subscribe.json.message.correlation_id));
    expect(answer.body.message.subscribe_response[0].status).toBe('succ');
    const code = answer.body.message.subscribe_response[0].subscriptions[0].code;
    const mild = await personWithoutRecord();
    const severe = await personWithoutRecord();
    expect((await assess({ person: { identifier_type: 'UIN', identifier_value: mild.uin }, disability_status: 0, disability_level: 'mild', assessment_date: '2026-11-01', assessor: 'Dr. A' })).status).toBe(201);
    expect((await assess({ person: { identifier_type: 'UIN', identifier_value: severe.uin }, disability_status: 0, disability_level: 'severe', assessment_date: '2026-11-01', assessor: 'Dr. A' })).status).toBe(201);
    const notifies = () => receiver.requests.filter((r) => r.body?.header?.action === 'notify' && r.body.header.meta?.subscription_code === code);
    const [notify] = await waitFor(() => notifies().length > 0 && notifies());
    const [item] = notify.body.message.notify_event;
    expect(item.data.reg_record_type).toBe('spdci-extensions-dci:DisabledPerson');
    expect(item.data.reg_records.personal_details.demographic_info.identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: severe.uin });
    // The mild one was filtered out: the fan-out has passed both events, only one notify went.
    await waitFor(async () => (await db.query(`select 1 where not exists (select 1 from notify_queue)`)).length > 0);
    expect(notifies()).toHaveLength(1);
  });
});
