import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { startTestServer, type TestServer } from './support/server.js';
import { projectionOf } from '../src/dci/search/projection.js';

/**
 * What SR search conditions mean, where a first reading of them went wrong: vocabulary labels, negations over a
 * household's members, codes in any case, sort keys, projection paths, the REGISTRY_ID of Person records. Expected
 * values come from independent SQL over the test registry.
 */

const NARROW_FIELDS = ['group_identifier', 'poverty_score', 'member_list.demographic_info.sex'];

let server: TestServer;
let token: string;
let narrowToken: string;
let url: string;
beforeAll(async () => {
  server = await startTestServer({}, {
    partners: [{ id: 'narrow', secret: 'narrow-secret-1', scopes: ['social:registry.search'], fields: NARROW_FIELDS, purposes: ['eligibility-check'] }],
  });
  token = await server.token();
  narrowToken = await server.token({ clientId: 'narrow', secret: 'narrow-secret-1' });
  url = `${server.url}/social/registry/sync/search`;
});
afterAll(() => server?.close());

async function one(criteria: Record<string, unknown>, as: 'demo' | 'narrow' = 'demo') {
  const res = await postJson(url, as === 'demo' ? token : narrowToken, searchEnvelope([searchItem(criteria)], as === 'demo' ? {} : { sender_id: 'narrow' }));
  expect(res.status).toBe(200);
  return res.json.message.search_response[0];
}
const nosql = (query: unknown, extra: Record<string, unknown> = {}, as: 'demo' | 'narrow' = 'demo') =>
  one({ query_type: 'expression', ...extra, query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query } } } }, as);
const sqlOne = async <T = any>(text: string, params: unknown[] = []) => (await server.db.query(text, params))[0] as T;

describe('relationship_to_head takes labels and RoleCode synonyms', () => {
  it('"spouse", "PRIMSPOUS" and "head" find the same people as SPS and SELF', async () => {
    const sps = await sqlOne<{ n: number }>(`select count(*)::int as n from memberships where end_date is null and relationship_to_head = 'SPS'`);
    const self = await sqlOne<{ n: number }>(`select count(*)::int as n from memberships where end_date is null and relationship_to_head = 'SELF'`);
    expect(sps.n).toBeGreaterThan(0);
    expect((await nosql({ relationship_to_head: 'SPS' })).pagination.total_count).toBe(sps.n);
    for (const label of ['spouse', 'PRIMSPOUS']) {
      const item = await nosql({ relationship_to_head: label });
      expect(item.status).toBe('succ');
      expect(item.pagination.total_count, label).toBe(sps.n);
    }
    expect((await nosql({ relationship_to_head: 'head' })).pagination.total_count).toBe(self.n);
  });
});

describe('member_list.* and group_head_info.* with ne / nin', () => {
  it('member_list.X $ne v means "no member has v", as $not does (Mongo array semantics)', async () => {
    const noWoman = await sqlOne<{ n: number }>(`select count(*)::int as n from groups g where not exists (
      select 1 from memberships m join individuals i on i.id = m.individual_id where m.group_id = g.id and m.end_date is null and i.sex = 'female')`);
    const noDisabled = await sqlOne<{ n: number }>(`select count(*)::int as n from groups g where not exists (
      select 1 from memberships m join individuals i on i.id = m.individual_id where m.group_id = g.id and m.end_date is null and i.is_disabled)`);
    const G = { response_entity: 'Group' };
    expect((await nosql({ $not: { 'member_list.sex': 'female' } }, G)).pagination.total_count).toBe(noWoman.n);
    expect((await nosql({ 'member_list.sex': { $ne: 'female' } }, G)).pagination.total_count).toBe(noWoman.n);
    expect((await nosql({ 'member_list.sex': { $nin: ['female'] } }, G)).pagination.total_count).toBe(noWoman.n);
    expect((await nosql({ 'member_list.is_disabled': { $ne: true } }, G)).pagination.total_count).toBe(noDisabled.n);
  });

  it('group_head_info.X $ne v matches a household left without a head (its head died alone)', async () => {
    // As CRVS apply.ts records the death of a head who lived alone: death date set, membership ended, size 0.
    const g = await sqlOne<{ group_id: number; individual_id: number; hh: string }>(`
      select m.group_id, m.individual_id, x.id_value as hh from memberships m join groups g on g.id = m.group_id
      join identifiers x on x.group_id = g.id and x.id_type = 'HOUSEHOLD_ID'
      where m.end_date is null and m.is_head and g.group_size = 1 order by m.id limit 1`);
    await server.db.query(`update individuals set death_date = current_date where id = $1`, [g.individual_id]);
    await server.db.query(`update memberships set end_date = current_date where individual_id = $1 and end_date is null`, [g.individual_id]);
    await server.db.query(`update groups set group_size = 0 where id = $1`, [g.group_id]);
    const G = { response_entity: 'Group' };
    const viaNot = await nosql({ HOUSEHOLD_ID: g.hh, $not: { 'group_head_info.sex': 'male' } }, G);
    expect(viaNot.pagination.total_count).toBe(1);
    const viaNe = await nosql({ HOUSEHOLD_ID: g.hh, 'group_head_info.sex': { $ne: 'male' } }, G);
    expect(viaNe.pagination.total_count).toBe(1);
  });
});

describe('HOUSEHOLD_ID with ne / nin on people', () => {
  it('matches people without a household (the deceased), as $not does', async () => {
    const hh = await sqlOne<{ value: string }>(`select x.id_value as value from identifiers x where x.id_type = 'HOUSEHOLD_ID'
      and exists (select 1 from memberships m where m.group_id = x.group_id and m.end_date is null) order by x.id limit 1`);
    const others = await sqlOne<{ n: number; homeless: number }>(`select count(*)::int as n,
      count(*) filter (where not exists (select 1 from memberships m where m.individual_id = i.id and m.end_date is null))::int as homeless
      from individuals i where not exists (select 1 from memberships m join identifiers x on x.group_id = m.group_id
        where m.individual_id = i.id and m.end_date is null and x.id_type = 'HOUSEHOLD_ID' and x.id_value = $1)`, [hh.value]);
    expect(others.homeless).toBeGreaterThan(0);
    expect((await nosql({ $not: { HOUSEHOLD_ID: hh.value } })).pagination.total_count).toBe(others.n);
    expect((await nosql({ HOUSEHOLD_ID: { $ne: hh.value } })).pagination.total_count).toBe(others.n);
    expect((await nosql({ HOUSEHOLD_ID: { $nin: [hh.value] } })).pagination.total_count).toBe(others.n);
  });
});

describe('region and district codes', () => {
  it('match a code in any case, as names do', async () => {
    const region = await sqlOne<{ code: string; name: string; n: number }>(`select a.code, a.name,
      (select count(*)::int from groups g join areas b on b.id = g.area_id where b.path = a.path or b.path like a.path || '.%') as n
      from areas a where a.level = 'region' order by a.code limit 1`);
    const G = { response_entity: 'Group' };
    expect((await nosql({ region: region.name.toUpperCase() }, G)).pagination.total_count).toBe(region.n);
    expect((await nosql({ region: region.code }, G)).pagination.total_count).toBe(region.n);
    expect((await nosql({ region: region.code.toLowerCase() }, G)).pagination.total_count).toBe(region.n);
  });
});

describe('education_level is matched case-insensitively like other coded text', () => {
  it('"Primary" finds the people stored as primary', async () => {
    const n = await sqlOne<{ n: number }>(`select count(*)::int as n from individuals where education_level = 'primary'`);
    expect(n.n).toBeGreaterThan(0);
    expect((await nosql({ education_level: 'Primary' })).pagination.total_count).toBe(n.n);
  });
});

describe('names in any case', () => {
  it('find a name with letters JavaScript lowers otherwise than PostgreSQL (final sigma, dotted capital I)', async () => {
    await server.db.query(`insert into individuals (sex, birth_date, given_name, surname) values ('male', '1980-05-01', 'İbrahim', 'ΟΔΟΣ')`);
    const born = { birth_date: '1980-05-01' };
    for (const query of [{ surname: 'ΟΔΟΣ' }, { surname: 'οδοσ' }, { given_name: 'İbrahim', ...born }, { given_name: { $in: ['İBRAHIM', 'x'] }, ...born }]) {
      const item = await nosql(query);
      expect(item.pagination.total_count, JSON.stringify(query)).toBe(1);
      expect(item.data.reg_records[0].demographic_info.name).toMatchObject({ given_name: 'İbrahim', surname: 'ΟΔΟΣ' });
    }
    expect((await nosql({ surname: { $ne: 'ΟΔΟΣ' }, given_name: 'İbrahim', ...born })).pagination.total_count).toBe(0);
  });
});

describe('a partner with a field allow-list', () => {
  it('a redundant path under an allowed container does not open the same path at the root', () => {
    const project = projectionOf({ id: 'p', scopes: [], secretHash: '', signature: 'off', signatureFormat: 'dci', fields: ['member_list', 'member_list.demographic_info.birth_date'] })!;
    const member = { '@type': 'Member', demographic_info: { birth_date: '1990-01-01', name: { given_name: 'Ann' } }, member_identifier: [] };
    expect(project(member)).toEqual({ '@type': 'Member' });
  });
});

describe('sort by age, then by another key', () => {
  it('orders people of the same age (whole years) by the next key', async () => {
    const region = await sqlOne<{ name: string }>(`select name from areas where level = 'region' order by code limit 1`);
    const expected = (await server.db.query<{ id: string }>(`
      select i.external_id::text as id from individuals i left join memberships m on m.individual_id = i.id and m.end_date is null
      left join groups g on g.id = m.group_id left join areas a on a.id = g.area_id
      where (a.path = (select code from areas where name = $1) or a.path like (select code from areas where name = $1) || '.%') and i.birth_date <= (current_date - interval '60 years')::date
      order by extract(year from age(i.birth_date)) asc nulls last, lower(i.surname) asc nulls last, i.id asc limit 10`, [region.name])).map((r) => r.id);
    const item = await nosql({ region: region.name, age: { $gte: 60 } }, {
      response_entity: 'Member',
      sort: [{ attribute_name: 'age', sort_order: 'asc' }, { attribute_name: 'surname', sort_order: 'asc' }],
    });
    expect(item.data.reg_records.map((m: any) => m.member_identifier[0].identifier_value)).toEqual(expected);
  });
});

describe('Person records', () => {
  it('carry the REGISTRY_ID, so that the disclosure audit names the people disclosed', async () => {
    const res = await postJson(url, token, searchEnvelope([searchItem({ query_type: 'expression', response_entity: 'Person', query: { sex: 'female' }, pagination: { page_size: 3 } }, 'ref-person-audit')]));
    const records = res.json.message.search_response[0].data.reg_records;
    expect(records).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 500));
    const [audit] = await server.db.query<{ record_count: number; record_ids: string[] }>(`select record_count, record_ids from audit_log where reference_id = 'ref-person-audit'`);
    expect(audit.record_ids).toHaveLength(audit.record_count);
    for (const r of records) expect(r.identifier.map((x: any) => x.identifier_type)).toContain('REGISTRY_ID');
  });
});
