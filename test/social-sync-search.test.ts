import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValidSearchResponse, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { startTestServer, type TestServer } from './support/server.js';
import { clearValue, idColumns } from './support/data-keys.js';

/**
 * SR sync search over real HTTP against the seeded test registry. Expected results are computed from the database
 * with independent SQL, never hard-coded.
 */

let server: TestServer;
let token: string;
let url: string;

beforeAll(async () => {
  server = await startTestServer();
  token = await server.token();
  url = `${server.url}/social/registry/sync/search`;
});
afterAll(() => server?.close());

async function search(items: Record<string, unknown>[], header: Record<string, unknown> = {}) {
  const res = await postJson(url, token, searchEnvelope(items, header));
  expect(res.status).toBe(200);
  expectValidSearchResponse(res.json);
  return res.json as { header: any; message: { transaction_id: string; correlation_id: string; search_response: any[] } };
}

async function one(criteria: Record<string, unknown>) {
  const body = await search([searchItem(criteria)]);
  expect(body.message.search_response).toHaveLength(1);
  return body.message.search_response[0];
}

const sqlOne = async <T = any>(text: string, params: unknown[] = []) => (await server.db.query(text, params))[0] as T;
const sqlAll = async <T = any>(text: string, params: unknown[] = []) => (await server.db.query(text, params)) as T[];

const idsOf = (record: any, type: string) =>
  (record.demographic_info?.identifier ?? record.identifier ?? []).filter((x: any) => x.identifier_type === type).map((x: any) => x.identifier_value);
const householdIdOf = (group: any) => group.group_identifier.find((x: any) => x.identifier_type === 'HOUSEHOLD_ID')?.identifier_value;

describe('use case: an SP-MIS gets a household by a member UIN', () => {
  it('returns the household with head info and every active member', async () => {
    // A non-head adult member, so the household is found through someone other than the head.
    const memberRow = await sqlOne<{ hh: string; size: number }>(`
      select ${idColumns('x', 'uin')}, hx.id_value as hh, g.group_size as size
      from memberships m join identifiers x on x.individual_id = m.individual_id and x.id_type = 'UIN'
      join groups g on g.id = m.group_id join identifiers hx on hx.group_id = g.id and hx.id_type = 'HOUSEHOLD_ID'
      where m.end_date is null and not m.is_head and g.group_size >= 3 order by m.id limit 1`);
    const member = { ...memberRow, uin: clearValue(memberRow, 'uin') };
    const headRow = await sqlOne<{ given_name: string; surname: string }>(`
      select ${idColumns('x', 'uin')}, i.given_name, i.surname from identifiers hx
      join memberships m on m.group_id = hx.group_id and m.is_head and m.end_date is null
      join individuals i on i.id = m.individual_id
      join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
      where hx.id_type = 'HOUSEHOLD_ID' and hx.id_value = $1`, [member.hh]);
    const head = { ...headRow, uin: clearValue(headRow, 'uin') };

    const item = await one({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: member.uin } });
    expect(item.status).toBe('succ');
    expect(item.data.reg_record_type).toBe('spdci-extensions-dci:Group');
    expect(item.pagination).toEqual({ page_size: 10, page_number: 1, total_count: 1 });
    const [group] = item.data.reg_records;
    expect(householdIdOf(group)).toBe(member.hh);
    expect(group.group_size).toBe(member.size);
    expect(group.member_list).toHaveLength(member.size);
    expect(idsOf(group.group_head_info, 'UIN')).toEqual([head.uin]);
    expect(group.group_head_info.demographic_info.name).toMatchObject({ given_name: head.given_name, surname: head.surname });
    expect(group.member_list.some((m: any) => idsOf(m, 'UIN').includes(member.uin))).toBe(true);
    // No database row ids leak: identifiers are UIN/BRN/HOUSEHOLD_ID and the opaque REGISTRY_ID uuid.
    const registryIds = JSON.stringify(group).match(/"REGISTRY_ID","identifier_value":"[^"]+"/g) ?? [];
    expect(registryIds.length).toBeGreaterThan(0);
    for (const r of registryIds) expect(r).toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it('answers an unknown UIN with succ and no records (DCI has no not-found code)', async () => {
    const item = await one({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: '0000000001' } });
    expect(item.status).toBe('succ');
    expect(item.data.reg_records).toEqual([]);
    expect(item.pagination.total_count).toBe(0);
  });

  it('finds the person by UIN as a Member record with demographic info', async () => {
    const row = await sqlOne(`select ${idColumns('x', 'uin')}, i.given_name, i.sex, i.birth_date, i.marital_status from identifiers x
      join individuals i on i.id = x.individual_id where x.id_type = 'UIN' order by x.id limit 1`);
    const p = { ...row, uin: clearValue(row, 'uin') };
    const item = await one({ query_type: 'idtype-value', query: { type: 'uin', value: p.uin } });
    expect(item.status).toBe('succ');
    expect(item.data.reg_record_type).toBe('spdci-extensions-dci:Member');
    const [m] = item.data.reg_records;
    expect(m['@type']).toBe('Member');
    expect(m.demographic_info).toMatchObject({ sex: p.sex, birth_date: p.birth_date, name: expect.objectContaining({ given_name: p.given_name }) });
    expect(idsOf(m, 'UIN')).toEqual([p.uin]);
  });

  it('returns a Person record when response_entity is Person', async () => {
    const p = { brn: clearValue(await sqlOne(`select ${idColumns()} from identifiers x where x.id_type = 'BRN' order by x.id limit 1`)) };
    const item = await one({ query_type: 'idtype-value', response_entity: 'Person', query: { type: 'BRN', value: p.brn } });
    expect(item.data.reg_record_type).toBe('spdci-extensions-dci:Person');
    expect(item.data.reg_records).toHaveLength(1);
    expect(item.data.reg_records[0]['@type']).toBe('Person');
    expect(item.data.reg_records[0].identifier).toContainEqual({ identifier_type: 'BRN', identifier_value: p.brn });
  });
});

describe('use case: households by poverty score, size and region, paginated', () => {
  it('pages through every match in a stable order with the right total', async () => {
    const region = await sqlOne<{ code: string; name: string }>(`select code, name from areas where level = 'region' order by code limit 1`);
    const expected = await sqlAll<{ hh: string }>(`
      select hx.id_value as hh from groups g join identifiers hx on hx.group_id = g.id and hx.id_type = 'HOUSEHOLD_ID'
      join areas a on a.id = g.area_id
      where g.poverty_score < 60 and g.group_size between 2 and 6 and (a.path = $1 or a.path like $1 || '.%')
      order by g.poverty_score asc, g.id asc`, [region.code]);
    expect(expected.length).toBeGreaterThan(12);
    const criteria = (page: number) => ({
      query_type: 'expression',
      response_entity: 'Group',
      query: {
        type: 'ns:org:QueryType:NoSql',
        value: { expression: { collection: 'Group', query: { $and: [{ poverty_score: { $lt: 60 } }, { group_size: { $gte: 2, $lte: 6 } }, { region: { $eq: region.name } }] } } },
      },
      sort: [{ attribute_name: 'poverty_score', sort_order: 'asc' }],
      pagination: { page_size: 5, page_number: page },
    });
    const got: string[] = [];
    const pages = Math.ceil(expected.length / 5);
    for (let page = 1; page <= pages; page++) {
      const item = await one(criteria(page));
      expect(item.status).toBe('succ');
      expect(item.pagination).toEqual({ page_size: 5, page_number: page, total_count: expected.length });
      got.push(...item.data.reg_records.map(householdIdOf));
    }
    expect(got).toEqual(expected.map((r) => r.hh));
    const past = await one(criteria(pages + 1));
    expect(past.data.reg_records).toEqual([]);
    expect(past.pagination.total_count).toBe(expected.length);
  });

  it('accepts the region by code as well as by name, and district codes', async () => {
    const district = await sqlOne<{ code: string; region: string; n: number }>(`
      select d.code, split_part(d.path, '.', 1) as region, (select count(*)::int from groups g where g.area_id = d.id) as n
      from areas d where d.level = 'district' order by d.code limit 1`);
    const byDistrict = await one({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { district: district.code } } } } });
    expect(byDistrict.pagination.total_count).toBe(district.n);
    const inRegion = await sqlOne<{ n: number }>(`select count(*)::int as n from groups g join areas a on a.id = g.area_id where a.path like $1 || '.%' or a.path = $1`, [district.region]);
    const byRegion = await one({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { region: { $in: [district.region] } } } } } });
    expect(byRegion.pagination.total_count).toBe(inRegion.n);
  });
});

describe('people by their household area', () => {
  // Expected from the households' own areas, joined through active memberships (not from the people's copy of it).
  const peopleIn = (condition: string, params: unknown[]) => sqlAll<{ id: string }>(`
    select i.external_id::text as id from individuals i
    left join memberships m on m.individual_id = i.id and m.end_date is null left join groups g on g.id = m.group_id
    left join areas a on a.id = g.area_id
    where ${condition} order by i.birth_date asc, i.id asc`, params);
  const memberSearch = (query: Record<string, unknown>, page = 1) =>
    one({
      query_type: 'expression',
      response_entity: 'Member',
      query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'Member', query } } },
      sort: [{ attribute_name: 'birth_date', sort_order: 'asc' }],
      pagination: { page_size: 10, page_number: page },
    });
  const idsOfPage = (item: any) => item.data.reg_records.map((m: any) => m.member_identifier[0].identifier_value);

  it('people of a region aged 60 or over, by region name: the count and the pages', async () => {
    const region = await sqlOne<{ code: string; name: string }>(`select code, name from areas where level = 'region' order by code limit 1 offset 1`);
    const expected = await peopleIn(`(a.path = $1 or a.path like $1 || '.%') and i.birth_date <= (current_date - interval '60 years')::date`, [region.code]);
    expect(expected.length).toBeGreaterThan(10);
    const first = await memberSearch({ $and: [{ region: region.name }, { age: { $gte: 60 } }] });
    expect(first.status).toBe('succ');
    expect(first.pagination.total_count).toBe(expected.length);
    expect(idsOfPage(first)).toEqual(expected.slice(0, 10).map((r) => r.id));
    const second = await memberSearch({ $and: [{ region: region.name }, { age: { $gte: 60 } }] }, 2);
    expect(idsOfPage(second)).toEqual(expected.slice(10, 20).map((r) => r.id));
  });

  it('people of a district by code, and everyone outside a region, the deceased (no household) included', async () => {
    const district = await sqlOne<{ code: string; region: string }>(`select code, split_part(path, '.', 1) as region from areas where level = 'district' order by code desc limit 1`);
    const inDistrict = await peopleIn(`a.code = $1`, [district.code]);
    const byDistrict = await memberSearch({ district: { $eq: district.code } });
    expect(byDistrict.pagination.total_count).toBe(inDistrict.length);
    expect(idsOfPage(byDistrict)).toEqual(inDistrict.slice(0, 10).map((r) => r.id));

    const outside = await peopleIn(`a.id is null or not (a.path = $1 or a.path like $1 || '.%')`, [district.region]);
    const withoutHousehold = await sqlOne<{ n: number }>(`select count(*)::int as n from individuals i
      where not exists (select 1 from memberships m where m.individual_id = i.id and m.end_date is null)`);
    expect(withoutHousehold.n).toBeGreaterThan(0);
    const byNotRegion = await memberSearch({ region: { $ne: district.region } });
    expect(byNotRegion.pagination.total_count).toBe(outside.length);
    expect(idsOfPage(byNotRegion)).toEqual(outside.slice(0, 10).map((r) => r.id));
  });
});

describe('small and empty areas', () => {
  // A district of one household of two, and one of nobody: pages of a few matches are collected, none fetched for none.
  let hamlet: { code: string; people: string[]; household: string };
  let vale: string;
  beforeAll(async () => {
    const region = await sqlOne<{ id: string; code: string; path: string }>(`select id, code, path from areas where level = 'region' order by code limit 1`);
    const area = async (suffix: string) =>
      (await sqlOne<{ id: string; code: string }>(`insert into areas (code, name, level, parent_id, path) values ($1, $2, 'district', $3, $4) returning id, code`,
        [`${region.code}-T${suffix}`, `Test ${suffix}`, region.id, `${region.path}.${region.code}-T${suffix}`]));
    const [tiny, empty] = [await area('1'), await area('2')];
    const group = await sqlOne<{ id: string; external_id: string }>(`insert into groups (area_id, group_size, poverty_score) values ($1, 2, 40) returning id, external_id::text`, [tiny.id]);
    const people = await sqlAll<{ id: string; external_id: string }>(`insert into individuals (sex, birth_date) values ('female', '1950-03-01'), ('male', '1948-07-12') returning id, external_id::text`);
    await server.db.query(`insert into memberships (group_id, individual_id, is_head, relationship_to_head) values ($1, $2, true, 'SELF'), ($1, $3, false, 'SPOUSE')`, [group.id, people[0].id, people[1].id]);
    hamlet = { code: tiny.code, people: [people[1].external_id, people[0].external_id], household: group.external_id };
    vale = empty.code;
  });
  const inDistrict = (entity: string, code: string) =>
    one({ query_type: 'expression', response_entity: entity, query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { district: code } } } }, sort: [{ attribute_name: 'birth_date', sort_order: 'asc' }].filter(() => entity !== 'Group') });

  it('a district of two people: both, oldest first, and their household', async () => {
    const members = await inDistrict('Member', hamlet.code);
    expect(members.pagination.total_count).toBe(2);
    expect(members.data.reg_records.map((m: any) => m.member_identifier[0].identifier_value)).toEqual(hamlet.people);
    const groups = await inDistrict('Group', hamlet.code);
    expect(groups.pagination.total_count).toBe(1);
    expect(groups.data.reg_records.map((g: any) => g.group_identifier.find((x: any) => x.identifier_type === 'REGISTRY_ID')?.identifier_value)).toEqual([hamlet.household]);
  });

  it('a district of nobody: succ, no records, a total of 0', async () => {
    for (const entity of ['Member', 'Group']) {
      const item = await inDistrict(entity, vale);
      expect(item.status).toBe('succ');
      expect(item.pagination.total_count).toBe(0);
      expect(item.data.reg_records).toEqual([]);
    }
  });
});

describe('use case: poverty scores for a list of UINs in one batch', () => {
  it('answers each UIN in its own item, in order, with its household poverty score', async () => {
    const found = await sqlAll<{ score: string }>(`
      select ${idColumns()}, g.poverty_score::text as score from identifiers x
      join memberships m on m.individual_id = x.individual_id and m.end_date is null join groups g on g.id = m.group_id
      where x.id_type = 'UIN' order by x.id desc limit 25`);
    const rows = found.map((r) => ({ ...r, uin: clearValue(r) }));
    const items = rows.map((r, k) => searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: r.uin } }, `ref-${k}`));
    items.push(searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: '9999999999' } }, 'ref-unknown'));
    const body = await search(items);
    expect(body.header).toMatchObject({ action: 'on-search', status: 'succ', total_count: 26, completed_count: 26, receiver_id: 'demo-spmis' });
    expect(body.message.search_response.map((r) => r.reference_id)).toEqual(items.map((i) => i.reference_id));
    rows.forEach((r, k) => {
      const res = body.message.search_response[k];
      expect(res.status).toBe('succ');
      expect(res.data.reg_records).toHaveLength(1);
      expect(res.data.reg_records[0].poverty_score).toBe(Number(r.score));
    });
    expect(body.message.search_response[25]).toMatchObject({ status: 'succ', pagination: { total_count: 0 } });
  });
});

describe('identifier lookups', () => {
  /** The general query path: the same identifier as a predicate, which is never answered by the direct lookup. */
  const asPredicate = (type: string, value: string) => [{ seq_num: 1, expression1: { attribute_name: type, operator: 'eq', attribute_value: value } }];

  it('answers the identifier searches of a batch together, each with its own record, exactly as the general query does', async () => {
    const HOUSED = `exists (select 1 from memberships m where m.individual_id = x.individual_id and m.end_date is null)`;
    const people = (
      await sqlAll(`
        (select ${idColumns()}, 'UIN' as type, ${HOUSED} as housed from identifiers x join memberships m on m.individual_id = x.individual_id and m.end_date is null
         where x.id_type = 'UIN' order by m.is_head, x.id limit 8)
        union all
        (select ${idColumns()}, 'BRN' as type, ${HOUSED} as housed from identifiers x where x.id_type = 'BRN' order by x.id desc limit 3)
        union all
        (select ${idColumns()}, 'UIN' as type, false as housed from identifiers x where x.id_type = 'UIN' and not ${HOUSED} limit 1)`)
    ).map((r) => ({ type: r.type as string, value: clearValue(r), housed: r.housed as boolean }));
    const households = (await sqlAll<{ hh: string }>(`select id_value as hh from identifiers where id_type = 'HOUSEHOLD_ID' order by id limit 2`)).map((r) => ({ type: 'HOUSEHOLD_ID', value: r.hh }));
    expect(people.length).toBe(12);
    const lookups = [
      ...people.flatMap((p) => ['Member', 'Person', 'Group'].map((entity) => ({ type: p.type, value: p.value, entity }))),
      ...households.map((h) => ({ ...h, entity: 'Group' })),
      { type: 'UIN', value: '0000000002', entity: 'Member' },
    ];
    // One batch: its items are looked up together, sharing statements (and so do concurrent requests').
    const batch = async (criteria: (l: (typeof lookups)[number]) => Record<string, unknown>) =>
      (await search(lookups.map((l, k) => searchItem({ response_entity: l.entity, ...criteria(l) }, `ref-${k}`)))).message.search_response;
    const [direct, general] = await Promise.all([
      batch((l) => ({ query_type: 'idtype-value', query: { type: l.type, value: l.value } })),
      batch((l) => ({ query_type: 'predicate', query: asPredicate(l.type, l.value) })),
    ]);
    lookups.forEach((l, k) => {
      expect(direct[k].status).toBe('succ');
      expect(direct[k].data).toEqual(general[k].data);
      expect(direct[k].pagination).toEqual(general[k].pagination);
      if (l.entity !== 'Group') {
        const records = direct[k].data.reg_records;
        expect(records.flatMap((r: any) => idsOf(r, l.type))).toEqual(l.value === '0000000002' ? [] : [l.value]);
      }
    });
    // A person outside any household has no Group; everyone else has exactly one.
    const groupsFound = lookups.map((l, k) => (l.entity === 'Group' ? direct[k].data.reg_records.length : undefined)).filter((n) => n !== undefined);
    expect(groupsFound).toEqual([...people.map((p) => (p.housed ? 1 : 0)), 1, 1]);
  });

  it('pages a household identifier on Member records like any other search, and a lookup past its first page', async () => {
    const { hh, size } = await sqlOne<{ hh: string; size: number }>(`
      select x.id_value as hh, g.group_size as size from identifiers x join groups g on g.id = x.group_id
      where x.id_type = 'HOUSEHOLD_ID' and g.group_size >= 4 order by x.id limit 1`);
    const item = await one({ query_type: 'idtype-value', query: { type: 'HOUSEHOLD_ID', value: hh }, pagination: { page_size: 2, page_number: 1 } });
    expect(item.status).toBe('succ');
    expect(item.data.reg_records).toHaveLength(2);
    expect(item.pagination).toEqual({ page_size: 2, page_number: 1, total_count: size });
    const uin = clearValue(await sqlOne(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id limit 1`));
    const page2 = await one({ query_type: 'idtype-value', query: { type: 'UIN', value: uin }, pagination: { page_size: 1, page_number: 2 } });
    expect(page2).toMatchObject({ status: 'succ', pagination: { page_size: 1, page_number: 2, total_count: 1 } });
    expect(page2.data.reg_records).toEqual([]);
  });
});

describe('query types', () => {
  it('predicate lists: and/or/not combine as documented', async () => {
    const expected = await sqlOne<{ n: number }>(`
      select count(*)::int as n from individuals i where i.sex = 'female' and i.marital_status = 'W'`);
    const item = await one({
      query_type: 'predicate',
      response_entity: 'Member',
      query: [{ seq_num: 1, expression1: { attribute_name: 'sex', operator: 'eq', attribute_value: 'F' }, condition: 'and', expression2: { attribute_name: 'marital_status', operator: 'eq', attribute_value: 'widowed' } }],
    });
    expect(item.status).toBe('succ');
    expect(item.pagination.total_count).toBe(expected.n);
    expect(expected.n).toBeGreaterThan(0);
    for (const m of item.data.reg_records) {
      expect(m.demographic_info.sex).toBe('female');
      expect(m.marital_status).toBe('W');
    }
    const notDisabled = await sqlOne<{ n: number }>(`select count(*)::int as n from individuals i where i.sex = 'male' and not i.is_disabled`);
    const not = await one({
      query_type: 'predicate',
      query: [{ seq_num: '1', expression1: { attribute_name: 'sex', operator: 'eq', attribute_value: 'male' }, condition: 'not', expression2: { attribute_name: 'is_disabled', operator: 'eq', attribute_value: 'true' } }],
    });
    expect(not.pagination.total_count).toBe(notDisabled.n);
    const either = await sqlOne<{ n: number }>(`select count(*)::int as n from individuals i where i.is_disabled or i.death_date is not null`);
    const or = await one({
      query_type: 'predicate',
      query: { seq_num: 1, expression1: { attribute_name: 'is_disabled', operator: 'eq', attribute_value: true }, condition: 'or', expression2: { attribute_name: 'is_deceased', operator: 'eq', attribute_value: true } },
    });
    expect(or.pagination.total_count).toBe(either.n);
  });

  it('predicate with age and a household attribute, sorted by age', async () => {
    const expected = await sqlAll<{ id: string }>(`
      select i.external_id::text as id from individuals i join memberships m on m.individual_id = i.id and m.end_date is null
      join groups g on g.id = m.group_id
      where i.birth_date <= (current_date - interval '60 years')::date and g.poverty_score < 50
      order by extract(year from age(i.birth_date)) desc nulls last, i.id limit 20`);
    const item = await one({
      query_type: 'predicate',
      query: [
        { seq_num: 2, expression1: { attribute_name: 'poverty_score', operator: 'lt', attribute_value: '50' } },
        { seq_num: 1, expression1: { attribute_name: 'age', operator: 'ge', attribute_value: 60 } },
      ],
      sort: [{ attribute_name: 'age', sort_order: 'desc' }],
      pagination: { page_size: 20, page_number: 1 },
    });
    expect(item.status).toBe('succ');
    expect(item.data.reg_records.map((m: any) => m.member_identifier[0].identifier_value)).toEqual(expected.map((r) => r.id));
  });

  it('the SR sample 1-3 shape: female widows with dotted paths, members sorted by household poverty score', async () => {
    const expected = await sqlAll<{ id: string }>(`
      select i.external_id::text as id from individuals i left join memberships m on m.individual_id = i.id and m.end_date is null
      left join groups g on g.id = m.group_id where i.sex = 'female' and i.marital_status = 'W'
      order by g.poverty_score asc nulls last, i.id limit 10`);
    const item = await one({
      reg_event_type: 'SEARCH',
      query_type: 'expression',
      response_entity: 'member',
      query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'Group', query: { $and: [{ 'demographic_info.person.sex': { $eq: 'female' } }, { marital_status: { $eq: 'W' } }] } } } },
      sort: [{ attribute_name: 'poverty_score', sort_order: 'asc' }],
      pagination: { page_size: 10, page_number: 1 },
    });
    expect(item.data.reg_records.map((m: any) => m.member_identifier[0].identifier_value)).toEqual(expected.map((r) => r.id));
  });

  it('group searches over members: households with a disabled member headed by a woman', async () => {
    const expected = await sqlOne<{ n: number }>(`
      select count(*)::int as n from groups g
      where exists (select 1 from memberships m join individuals i on i.id = m.individual_id where m.group_id = g.id and m.end_date is null and i.is_disabled)
        and exists (select 1 from memberships m join individuals i on i.id = m.individual_id where m.group_id = g.id and m.end_date is null and m.is_head and i.sex = 'female')`);
    const item = await one({
      query_type: 'expression',
      response_entity: 'Household',
      query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'Group', query: { 'member_list.is_disabled': true, 'group_head_info.sex': 'female' } } } },
    });
    expect(item.status).toBe('succ');
    expect(item.pagination.total_count).toBe(expected.n);
    expect(expected.n).toBeGreaterThan(0);
  });

  it('$or, $not, $in, $nin and $ne over members', async () => {
    const expected = await sqlOne<{ n: number }>(`
      select count(*)::int as n from individuals i where (i.marital_status in ('D', 'L') or i.is_disabled) and not (i.sex = 'male') and i.death_date is null`);
    const item = await one({
      query_type: 'expression',
      query: {
        type: 'ns:org:QueryType:NoSql',
        value: { expression: { collection: 'Member', query: { $or: [{ marital_status: { $in: ['D', 'separated'] } }, { is_disabled: { $eq: true } }], $not: { sex: 'male' }, is_deceased: { $ne: true } } } },
      },
    });
    expect(item.pagination.total_count).toBe(expected.n);
    const households = await sqlOne<{ n: number }>(`select count(*)::int as n from groups g where g.group_type = 1`);
    const byLabel = await one({ query_type: 'predicate', response_entity: 'Group', query: [{ seq_num: 1, expression1: { attribute_name: 'group_type', operator: 'eq', attribute_value: 'Household' } }] });
    const byCode = await one({ query_type: 'predicate', response_entity: 'Group', query: [{ seq_num: 1, expression1: { attribute_name: 'group_type', operator: 'eq', attribute_value: 1 } }] });
    expect(byLabel.pagination.total_count).toBe(households.n);
    expect(byCode.pagination.total_count).toBe(households.n);
    const retired = await sqlOne<{ n: number }>(`select count(*)::int as n from individuals where employment_status = 5`);
    const byStatus = await one({ query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { employment_status: { $in: ['Retired'] } } } } } });
    expect(byStatus.pagination.total_count).toBe(retired.n);
    expect(retired.n).toBeGreaterThan(0);
    const nin = await sqlOne<{ n: number }>(`select count(*)::int as n from groups g where g.group_size not in (1, 2, 3)`);
    const groups = await one({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { group_size: { $nin: [1, 2, 3] } } } } } });
    expect(groups.pagination.total_count).toBe(nin.n);
  });

  it('treats a predicate list sent as query_type expression as a predicate list (SR sample processflow2)', async () => {
    const p = { uin: clearValue(await sqlOne(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id desc limit 1`)) };
    const item = await one({
      reg_event_type: 'REGISTER',
      query_type: 'expression',
      query: [{ seq_num: '', expression1: { attribute_name: 'UIN', operator: 'eq', attribute_value: p.uin }, condition: '', expression2: '' }],
      sort: [{ attribute_name: 'UIN', sort_order: 'asc' }],
      pagination: { page_size: 10, page_number: 1 },
      consent: '',
      authorize: '',
    });
    expect(item.status).toBe('succ');
    expect(item.data.reg_records).toHaveLength(1);
    expect(idsOf(item.data.reg_records[0], 'UIN')).toEqual([p.uin]);
  });
});

describe('sort and pagination', () => {
  it('sorts on several keys with a stable tie-break', async () => {
    const expected = await sqlAll<{ hh: string }>(`
      select hx.id_value as hh from groups g join identifiers hx on hx.group_id = g.id and hx.id_type = 'HOUSEHOLD_ID'
      order by g.group_size desc, g.poverty_score asc, g.id asc limit 30`);
    const item = await one({
      query_type: 'expression', response_entity: 'Group',
      query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { group_size: { $gte: 1 } } } } },
      sort: [{ attribute_name: 'group_size', sort_order: 'DESC' }, { attribute_name: 'poverty_score' }],
      pagination: { page_size: 30, page_number: 1 },
    });
    expect(item.data.reg_records.map(householdIdOf)).toEqual(expected.map((r) => r.hh));
  });

  it('uses the default page size when pagination is absent', async () => {
    const item = await one({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { poverty_score: { $gte: 0 } } } } } });
    expect(item.pagination.page_size).toBe(10);
    expect(item.data.reg_records).toHaveLength(10);
  });
});

describe('per-item reason codes', () => {
  const valid = { query_type: 'idtype-value', query: { type: 'UIN', value: '1' } };
  const cases: [string, Record<string, unknown>, string][] = [
    ['unknown attribute', { query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { shoe_size: 42 } } } } }, 'rjct.search_criteria.invalid'],
    ['unknown operator', { query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { poverty_score: { $regex: '.*' } } } } } }, 'rjct.search_criteria.invalid'],
    ['unknown identifier type', { query_type: 'idtype-value', query: { type: 'PASSPORT_OF_MARS', value: 'x' } }, 'rjct.search_criteria.invalid'],
    ['unsupported query language', { query_type: 'expression', query: { type: 'ns:org:QueryType:GraphQl', value: { expression: '{ person(UIN: "1") { name } }' } } }, 'rjct.search_criteria.invalid'],
    ['unknown query type', { query_type: 'sql', query: { text: 'select 1' } }, 'rjct.search_criteria.invalid'],
    ['missing query', { query_type: 'expression' }, 'rjct.search_criteria.invalid'],
    ['value of the wrong type', { query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { poverty_score: { $lt: 'very poor' } } } } } }, 'rjct.search_criteria.invalid'],
    ['value outside the vocabulary', { query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'sex', operator: 'eq', attribute_value: 'banana' } }] }, 'rjct.search_criteria.invalid'],
    // Both had reached PostgreSQL and come back as HTTP 500 (integer out of range, timestamp out of range).
    ['a household size beyond a 4-byte integer', { query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { group_size: { $gt: 2 ** 40 } } } } } }, 'rjct.search_criteria.invalid'],
    ['an age of 10,000 years', { query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'age', operator: 'ge', attribute_value: 10000 } }] }, 'rjct.search_criteria.invalid'],
    ['a negative age', { query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'age', operator: 'gt', attribute_value: -1 } }] }, 'rjct.search_criteria.invalid'],
    ['unknown record type', { ...valid, response_entity: 'Spaceship' }, 'rjct.search_criteria.invalid'],
    ['predicate with an extra expression3', { query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'age', operator: 'lt', attribute_value: '25' }, condition: 'and', expression2: { attribute_name: 'poverty_score', operator: 'lt', attribute_value: '2.5' }, expression3: { attribute_name: 'sex', operator: 'eq', attribute_value: 'm' } }] }, 'rjct.search_criteria.invalid'],
    ['page_size 0', { ...valid, pagination: { page_size: 0, page_number: 1 } }, 'rjct.pagination.invalid'],
    ['page_number 0', { ...valid, pagination: { page_size: 10, page_number: 0 } }, 'rjct.pagination.invalid'],
    ['page_size above the cap', { ...valid, pagination: { page_size: 100000, page_number: 1 } }, 'rjct.pagination.invalid'],
    ['page beyond the result window', { ...valid, pagination: { page_size: 1000, page_number: 1000 } }, 'rjct.pagination.invalid'],
    ['fractional page size', { ...valid, pagination: { page_size: 2.5 } }, 'rjct.pagination.invalid'],
    // Names of Object.prototype members had reached the alias table as functions and failed the request with HTTP 500.
    ['an attribute named constructor', { query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { constructor: 'x' } } } } }, 'rjct.search_criteria.invalid'],
    ['an attribute named __proto__', { query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: JSON.parse('{"__proto__": "x"}') } } } }, 'rjct.search_criteria.invalid'],
    ['a member attribute named constructor', { query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { 'member_list.constructor': 'x' } } } } }, 'rjct.search_criteria.invalid'],
    ['a predicate on constructor', { query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'constructor', operator: 'eq', attribute_value: 'x' } }] }, 'rjct.search_criteria.invalid'],
    ['a record type named constructor', { ...valid, response_entity: 'constructor' }, 'rjct.search_criteria.invalid'],
    ['sort on constructor', { ...valid, sort: [{ attribute_name: 'constructor', sort_order: 'asc' }] }, 'rjct.sort.invalid'],
    ['sort on an unknown attribute', { ...valid, sort: [{ attribute_name: 'favourite_colour', sort_order: 'asc' }] }, 'rjct.sort.invalid'],
    ['sort on a non-sortable attribute', { ...valid, response_entity: 'Group', sort: [{ attribute_name: 'region', sort_order: 'asc' }] }, 'rjct.sort.invalid'],
    ['bad sort order', { ...valid, sort: [{ attribute_name: 'birth_date', sort_order: 'sideways' }] }, 'rjct.sort.invalid'],
  ];
  for (const [name, criteria, code] of cases) {
    it(`${name} -> ${code}`, async () => {
      const item = await one(criteria);
      expect(item.status).toBe('rjct');
      expect(item.status_reason_code).toBe(code);
      expect(item.status_reason_message.length).toBeGreaterThan(0);
      expect(item.data).toBeUndefined();
    });
  }

  it('a bad item does not fail the rest of the batch; a bad timestamp and duplicate reference ids are per item', async () => {
    const p = { uin: clearValue(await sqlOne(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' limit 1`)) };
    const good = searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: p.uin } }, 'a');
    const bad = searchItem({ query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { nope: 1 } } } } }, 'b');
    const badTime = { ...searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: p.uin } }, 'c'), timestamp: 'yesterday' };
    const dup = searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: p.uin } }, 'a');
    const body = await search([good, bad, badTime, dup]);
    expect(body.header.status).toBe('succ');
    expect(body.header.completed_count).toBe(4);
    const [r1, r2, r3, r4] = body.message.search_response;
    expect(r1).toMatchObject({ reference_id: 'a', status: 'succ' });
    expect(r1.data.reg_records).toHaveLength(1);
    expect(r2).toMatchObject({ reference_id: 'b', status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(r3).toMatchObject({ reference_id: 'c', status: 'rjct', status_reason_code: 'rjct.timestamp.invalid' });
    expect(r4).toMatchObject({ reference_id: 'a', status: 'rjct', status_reason_code: 'rjct.reference_id.duplicate' });
    // A timestamp is a calendar instant (one check, toTimestamp, for every DCI timestamp); the samples' forms pass.
    const times = ['2026-02-30T10:00:00Z', '2026-12-01T24:00:00Z', '2026-12-01 10:00', '2026-12-01T10:00:00.123456789012+05:30'];
    const timed = await search(times.map((timestamp, k) => ({ ...searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: p.uin } }, `t${k}`), timestamp })));
    expect(timed.message.search_response.map((r: any) => r.status_reason_code ?? r.status)).toEqual(['rjct.timestamp.invalid', 'rjct.timestamp.invalid', 'succ', 'succ']);
  });

  it('refuses a query of more values in all than PostgreSQL takes parameters, per item (was HTTP 500)', async () => {
    const names = Array.from({ length: 1000 }, (_, k) => `name-${k}`);
    const many = await one({ query_type: 'expression', query: { $or: Array.from({ length: 70 }, () => ({ given_name: { $in: names } })) } });
    expect(many).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(many.status_reason_message).toMatch(/values/);
    // Five full lists are within bounds, and a value repeated in a list counts once.
    const five = await one({ query_type: 'expression', query: { $or: Array.from({ length: 5 }, (_, k) => ({ given_name: { $in: names.map((n) => `${n}-${k}`) } })) } });
    expect(five.status).toBe('succ');
    const women = await sqlOne<{ n: number }>(`select count(*)::int as n from individuals where sex = 'female'`);
    const repeated = await one({ query_type: 'expression', query: { $and: Array.from({ length: 10 }, () => ({ sex: { $in: Array.from({ length: 1000 }, (_, k) => (k % 2 ? 'F' : 'female')) } })) } });
    expect(repeated.status).toBe('succ');
    expect(repeated.pagination.total_count).toBe(women.n);
  });

  it('answers a locale named like an Object.prototype member in the default locale', async () => {
    const body = await search([{ ...searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } }), locale: 'constructor' }]);
    expect(body.message.search_response[0].locale).toBe('eng');
  });

  it('binds values: an injection attempt is just a value that matches nothing', async () => {
    const item = await one({ query_type: 'idtype-value', query: { type: 'UIN', value: "1' or '1'='1" } });
    expect(item.status).toBe('succ');
    expect(item.data.reg_records).toEqual([]);
    const count = await sqlOne<{ n: number }>(`select count(*)::int as n from individuals`);
    expect(count.n).toBeGreaterThan(0);
  });
});

describe('the response envelope', () => {
  it('echoes the transaction, issues a correlation id and its own message id, and is not cached', async () => {
    const env = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } })]);
    const res = await postJson(url, token, env);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = res.json;
    expectValidSearchResponse(body);
    expect(body.message.transaction_id).toBe((env.message as any).transaction_id);
    expect(body.message.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.header.message_id).not.toBe((env.header as any).message_id);
    expect(body.header).toMatchObject({ version: '1.0.0', action: 'on-search', sender_id: 'dci-gateway', receiver_id: 'demo-spmis', is_msg_encrypted: false });
    expect(body.message.search_response[0].locale).toBe('eng');
  });
});
