import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { startTestServer, type TestServer } from './support/server.js';
import { clearValue, idColumns } from './support/data-keys.js';

/**
 * A partner with a field allow-list receives only those fields, sync and async: a programme that may know a
 * household's identifiers, poverty score and its members' sex never receives a name or a birth date.
 */

const FIELDS = ['group_identifier', 'poverty_score', 'member_list.demographic_info.sex'];
const PURPOSE = { '@type': 'Consent', ts: new Date().toISOString(), purpose: { text: 'eligibility', code: 'eligibility-check' } };

let server: TestServer;
let receiver: CallbackReceiver;
let token: string;
let household: { uin: string; names: string[]; birthDates: string[] };

beforeAll(async () => {
  receiver = await CallbackReceiver.start();
  server = await startTestServer(
    { WORKER_POLL_MS: '50' },
    {
      partners: [
        {
          id: 'narrow',
          secret: 'narrow-secret-1',
          scopes: ['social:registry.search'],
          fields: FIELDS,
          purposes: ['eligibility-check', 'targeting'],
          callbacks: { origins: [receiver.url], allowPrivateNetwork: true },
        },
      ],
    },
  );
  token = await server.token({ clientId: 'narrow', secret: 'narrow-secret-1' });
  const [found] = await server.db.query<{ group_id: number }>(`
    select ${idColumns()}, m.group_id from memberships m join identifiers x on x.individual_id = m.individual_id and x.id_type = 'UIN'
    join groups g on g.id = m.group_id where m.end_date is null and g.group_size >= 3 order by m.id limit 1`);
  const people = await server.db.query<{ given_name: string; surname: string; birth_date: string }>(
    `select i.given_name, i.surname, i.birth_date from memberships m join individuals i on i.id = m.individual_id where m.group_id = $1 and m.end_date is null`,
    [found.group_id],
  );
  household = { uin: clearValue(found), names: people.flatMap((p) => [p.given_name, p.surname]), birthDates: people.map((p) => p.birth_date) };
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

function expectProjected(group: any, text: string) {
  expect(Object.keys(group).filter((k) => !k.startsWith('@')).sort()).toEqual(['group_identifier', 'member_list', 'poverty_score']);
  expect(group.member_list.length).toBeGreaterThanOrEqual(3);
  for (const member of group.member_list) {
    expect(Object.keys(member).filter((k) => !k.startsWith('@'))).toEqual(['demographic_info']);
    expect(Object.keys(member.demographic_info).filter((k) => !k.startsWith('@'))).toEqual(['sex']);
  }
  for (const secret of [...household.names, ...household.birthDates]) expect(text).not.toContain(`"${secret}"`);
}

describe('field projection', () => {
  it('cuts sync search records down to the partner fields', async () => {
    const res = await postJson(
      `${server.url}/social/registry/sync/search`,
      token,
      searchEnvelope([searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: household.uin }, consent: PURPOSE })], { sender_id: 'narrow' }),
    );
    expect(res.status).toBe(200);
    expectProjected(res.json.message.search_response[0].data.reg_records[0], res.text);
  });

  it('cuts async callbacks the same way', async () => {
    const res = await postJson(
      `${server.url}/social/registry/search`,
      token,
      searchEnvelope([searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: household.uin }, consent: PURPOSE })], {
        sender_id: 'narrow',
        sender_uri: `${receiver.url}/on-search`,
      }),
    );
    expect(res.status).toBe(202);
    const correlationId = res.json.message.correlation_id;
    const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId));
    expectProjected(callback.body.message.search_response[0].data.reg_records[0], callback.text);
  });

  it('refuses, item by item, a search under no purpose or a purpose the partner may not use', async () => {
    const query = { query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: household.uin } };
    const res = await postJson(
      `${server.url}/social/registry/sync/search`,
      token,
      searchEnvelope(
        [
          searchItem(query, 'no-purpose'),
          searchItem({ ...query, consent: { purpose: { code: 'marketing' } } }, 'wrong-purpose'),
          searchItem({ ...query, authorize: { purpose: { code: 'targeting' } } }, 'allowed'),
        ],
        { sender_id: 'narrow' },
      ),
    );
    expect(res.status).toBe(200);
    const [none, wrong, allowed] = res.json.message.search_response;
    expect(none).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(none.status_reason_message).toMatch(/must state its purpose/);
    expect(wrong).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(wrong.status_reason_message).toMatch(/purpose marketing is not one/);
    expect(allowed).toMatchObject({ status: 'succ' });
    expect(none.data).toBeUndefined();
  });

  it('gives partners without a list whole records', async () => {
    const demo = await server.token();
    const res = await postJson(
      `${server.url}/social/registry/sync/search`,
      demo,
      searchEnvelope([searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: household.uin } })]),
    );
    const group = res.json.message.search_response[0].data.reg_records[0];
    expect(group.group_head_info.demographic_info.name.given_name).toBeTruthy();
  });
});

describe('searching by fields the partner may not receive', () => {
  const expression = (query: Record<string, unknown>) => ({ type: 'ns:org:QueryType:NoSql', value: { expression: { query } } });
  async function search(criteria: Record<string, unknown>, reference = 'r1', partnerToken = token, senderId = 'narrow') {
    const res = await postJson(
      `${server.url}/social/registry/sync/search`,
      partnerToken,
      searchEnvelope([searchItem({ consent: PURPOSE, pagination: { page_size: 5 }, ...criteria }, reference)], { sender_id: senderId }),
    );
    expect(res.status, res.text).toBe(200);
    return res.json.message.search_response[0];
  }

  it('refuses a query on a field it may not receive, in every query form, and tells which field', async () => {
    // Born before 1960: answered, it would tell the birth dates the projection withholds.
    for (const [what, criteria] of [
      ['expression on a member', { query_type: 'expression', response_entity: 'Group', query: expression({ 'member_list.birth_date': { $lt: '1960-01-01' } }) }],
      ['expression under $not', { query_type: 'expression', response_entity: 'Group', query: expression({ $and: [{ poverty_score: { $lte: 90 } }, { $not: { 'group_head_info.age': { $gte: 60 } } }] }) }],
      ['predicate', { query_type: 'predicate', response_entity: 'Group', query: [{ seq_num: 1, expression1: { attribute_name: 'member_list.given_name', operator: 'eq', attribute_value: household.names[0] } }] }],
      ['Member record', { query_type: 'expression', response_entity: 'Member', query: expression({ birth_date: { $lt: '1960-01-01' } }) }],
      ['household attribute', { query_type: 'expression', response_entity: 'Group', query: expression({ group_size: { $gte: 3 } }) }],
      ['area', { query_type: 'expression', response_entity: 'Group', query: expression({ region: 'R01' }) }],
    ] as const) {
      const item = await search(criteria);
      expect(item, what).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
      expect(item.data, what).toBeUndefined();
    }
    const birth = await search({ query_type: 'expression', response_entity: 'Group', query: expression({ 'member_list.birth_date': { $lt: '1960-01-01' } }) });
    expect(birth.status_reason_message).toMatch(/attribute "member_list.birth_date": this partner may not receive member_list\.demographic_info\.birth_date/);
    const head = await search({ query_type: 'expression', response_entity: 'Group', query: expression({ 'group_head_info.age': { $gte: 60 } }) });
    expect(head.status_reason_message).toMatch(/member_list\.demographic_info\.birth_date or group_head_info\.demographic_info\.birth_date/);
  });

  it('refuses a sort on a field it may not receive', async () => {
    const item = await search({ query_type: 'expression', response_entity: 'Group', query: expression({ poverty_score: { $lte: 40 } }), sort: [{ attribute_name: 'group_size', sort_order: 'desc' }] });
    expect(item).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.sort.invalid' });
    expect(item.status_reason_message).toMatch(/cannot sort by attribute "group_size": this partner may not receive group_size/);
  });

  it('answers queries and sorts on the fields it may receive, and by identifiers it holds', async () => {
    const item = await search({
      query_type: 'expression',
      response_entity: 'Group',
      query: expression({ $and: [{ poverty_score: { $lte: 40 } }, { 'member_list.sex': 'female' }] }),
      sort: [{ attribute_name: 'poverty_score', sort_order: 'desc' }],
    });
    expect(item.status, item.status_reason_message).toBe('succ');
    const scores = item.data.reg_records.map((g: any) => g.poverty_score);
    expect(scores.length).toBe(5);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(scores.every((s: number) => s <= 40)).toBe(true);
    expect(item.data.reg_records.every((g: any) => g.member_list.some((m: any) => m.demographic_info.sex === 'female'))).toBe(true);
    // Its members by the household's poverty score: a Group's field it may receive.
    const members = await search({ query_type: 'expression', response_entity: 'Member', query: expression({ $and: [{ poverty_score: { $lte: 40 } }, { UIN: household.uin }] }) });
    expect(members.status, members.status_reason_message).toBe('succ');
    const byUin = await search({ query_type: 'predicate', response_entity: 'Group', query: [{ seq_num: 1, expression1: { attribute_name: 'member_list.UIN', operator: 'eq', attribute_value: household.uin } }] });
    expect(byUin).toMatchObject({ status: 'succ', pagination: { total_count: 1 } });
  });

  it('leaves partners without a list free to search by any attribute', async () => {
    const item = await search({ query_type: 'expression', response_entity: 'Group', query: expression({ 'member_list.birth_date': { $lt: '1960-01-01' } }), sort: [{ attribute_name: 'group_size' }] }, 'r1', await server.token(), 'demo-spmis');
    expect(item.status, item.status_reason_message).toBe('succ');
    expect(item.pagination.total_count).toBeGreaterThan(0);
  });
});
