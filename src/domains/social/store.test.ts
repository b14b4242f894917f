import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { IdentifierVault } from '../../registry/identifiers.js';
import { openTestDatabase } from '../../../test/support/server.js';
import { clearValue, idColumns, TEST_DATA_KEYS } from '../../../test/support/data-keys.js';
import { sessionPlans } from '../../../test/support/plans.js';
import { sql } from 'drizzle-orm';
import { renderSql } from '../../db/client.js';
import { socialCatalogs } from './attributes.js';
import { compileSort } from '../../dci/query/index.js';
import { countGroups, countMembers, findGroupsByIdentifiers, findGroupsPage, findMembersByIdentifiers, findMembersPage, type IdentifierKey } from './store.js';

/**
 * The by-identifier lookups of the test registry. On PostgreSQL over one connection, so that the look at its
 * prepared statements sees the session the lookups ran in.
 */
let db: Database;
let vault: IdentifierVault;
/** Living household members with a UIN: their person id, UIN and household id. */
let holders: { externalId: string; uin: string; householdId: string }[];

beforeAll(async () => {
  db = await openTestDatabase(1);
  vault = await IdentifierVault.load(db, TEST_DATA_KEYS);
  const rows = await db.query<Record<string, unknown>>(
    `select i.external_id, ${idColumns()}, g.external_id as household_id
     from identifiers x join individuals i on i.id = x.individual_id
     join memberships m on m.individual_id = i.id and m.end_date is null join groups g on g.id = m.group_id
     where x.id_type = 'UIN' and i.death_date is null order by i.id limit 12`,
  );
  holders = rows.map((r) => ({ externalId: r.external_id as string, uin: clearValue(r), householdId: r.household_id as string }));
});

afterAll(() => db?.close());

const uinKey = (uin: string): IdentifierKey => ({ type: 'UIN', lookup: vault.lookupKey('UIN', uin) });

describe('lookups by identifier', () => {
  it('answer each key at its own position, an unknown one with nothing', async () => {
    const [a, b] = holders;
    const keys = [uinKey(b.uin), uinKey('0000000000'), uinKey(a.uin)];
    const members = await findMembersByIdentifiers(db, vault, keys);
    expect(members.map((m) => m?.person.external_id)).toEqual([b.externalId, undefined, a.externalId]);
    expect(members[0]?.person.identifiers).toContainEqual({ type: 'UIN', value: b.uin });
    const groups = await findGroupsByIdentifiers(db, vault, keys);
    expect(groups.map((g) => g?.external_id)).toEqual([b.householdId, undefined, a.householdId]);
    expect(groups[2]?.members.map((p) => p.external_id)).toContain(a.externalId);
  });

  it('keep one cached plan on PostgreSQL instead of planning every lookup (migration 0021)', async () => {
    // One key at a time, as a lone search sends them: with its keys estimated at 10 rows, PostgreSQL had priced its
    // cached plan above each one-key plan and planned every execution afresh.
    for (const h of holders) {
      const [member] = await findMembersByIdentifiers(db, vault, [uinKey(h.uin)]);
      expect(member?.person.external_id).toBe(h.externalId);
      const [group] = await findGroupsByIdentifiers(db, vault, [uinKey(h.uin)]);
      expect(group?.external_id).toBe(h.householdId);
    }
    if (db.kind !== 'postgres') return;
    const plans = await sessionPlans(db, 'identifier_keys(');
    // The member lookup and the household lookup: five custom plans each to price them, the generic one after that.
    expect(plans).toHaveLength(2);
    for (const p of plans) {
      expect(p.custom).toBeLessThanOrEqual(5);
      expect(p.generic).toBeGreaterThanOrEqual(holders.length - 5);
    }
  });
});

describe('pages', () => {
  it('follow one another in order without overlap, and leave no prepared statement per page or count on PostgreSQL', async () => {
    const members = await Promise.all([0, 7, 14].map((offset) => findMembersPage(db, vault, { where: sql`i.death_date is null`, sortKeys: [{ expression: sql`i.birth_date`, order: 'asc' }], limit: 7, offset })));
    const people = members.flat().map((m) => m.person);
    expect(people).toHaveLength(21);
    expect(new Set(people.map((p) => p.external_id)).size).toBe(21);
    const births = people.map((p) => p.birth_date ?? '');
    expect(births).toEqual([...births].sort());
    const groups = await Promise.all([0, 3].map((offset) => findGroupsPage(db, vault, { where: sql`g.group_size >= 2`, sortKeys: [{ expression: sql`g.poverty_score`, order: 'asc' }], limit: 3, offset })));
    expect(groups.map((page) => page.length)).toEqual([3, 3]);
    expect(new Set(groups.flat().map((g) => g.external_id)).size).toBe(6);
    expect(groups.flat().every((g) => g.group_size >= 2 && g.members.length === g.group_size)).toBe(true);
    const [{ living, pairs }] = await db.query<{ living: number; pairs: number }>(
      `select (select count(*) from individuals where death_date is null)::int as living, (select count(*) from groups where group_size >= 2)::int as pairs`,
    );
    expect(await countMembers(db, sql`i.death_date is null`)).toBe(living);
    expect(await countGroups(db, sql`g.group_size >= 2`)).toBe(pairs);
    // Each page's text differs by its LIMIT and OFFSET: prepared, every page of a long export stayed in the session.
    expect(await sessionPlans(db, 'limit 7 offset')).toEqual([]);
    expect(await sessionPlans(db, 'limit 3 offset')).toEqual([]);
    expect(await sessionPlans(db, 'select count(*)::int as n from')).toEqual([]);
  });
});

describe('pages collected first', () => {
  const catalogs = () => socialCatalogs(vault);
  // Sorts with ties, NULLs (death_date, poverty_score of no household) and keys of the household, both directions.
  const memberSorts = [undefined, [{ attribute_name: 'birth_date', sort_order: 'desc' }], [{ attribute_name: 'poverty_score' }, { attribute_name: 'sex', sort_order: 'desc' }], [{ attribute_name: 'death_date' }]];
  const groupSorts = [undefined, [{ attribute_name: 'group_size', sort_order: 'desc' }, { attribute_name: 'poverty_score' }]];

  // A page with no total is walked; one whose total is 100 or fewer is collected first (the total only picks the way).
  it('are the pages the index walk gives, for every sort and page, members and households', async () => {
    const where = sql`(i.is_disabled or i.death_date is not null)`;
    const total = await countMembers(db, where);
    expect(total).toBeGreaterThan(20);
    for (const sort of memberSorts) {
      const { keys } = compileSort(sort, catalogs().members);
      for (const offset of [0, 9, total - 4]) {
        const page = { where, sortKeys: keys, limit: 9, offset };
        const walked = await findMembersPage(db, vault, page);
        const collected = await findMembersPage(db, vault, { ...page, total: 1 });
        expect(walked.length).toBe(Math.min(9, total - offset));
        expect(collected).toEqual(walked);
      }
    }
    const groupWhere = sql`g.group_size >= 6`;
    const groupTotal = await countGroups(db, groupWhere);
    expect(groupTotal).toBeGreaterThan(10);
    for (const sort of groupSorts) {
      const { keys } = compileSort(sort, catalogs().groups);
      const page = { where: groupWhere, sortKeys: keys, limit: 5, offset: 3 };
      const walked = await findGroupsPage(db, vault, page);
      expect(walked).toHaveLength(5);
      expect(await findGroupsPage(db, vault, { ...page, total: 1 })).toEqual(walked);
    }
  });
});

describe('people by their household area', () => {
  it('are counted from the people alone, without joining memberships and households (migration 0022)', async () => {
    const region = socialCatalogs(vault).members.resolve('region')!;
    const [{ code }] = await db.query<{ code: string }>(`select code from areas where level = 'region' order by code limit 1`);
    const where = sql`${region.predicate('eq', code)} and i.birth_date <= (current_date - interval '60 years')::date`;
    const statements: string[] = [];
    const watched = { run: ((query, options) => (statements.push(renderSql(query).text), db.run(query, options))) as Database['run'] };
    const counted = await countMembers(watched, where);
    expect(statements).toHaveLength(1);
    expect(statements[0]).not.toMatch(/memberships|groups/);
    const [{ n }] = await db.query<{ n: number }>(
      `select count(*)::int as n from individuals i join memberships m on m.individual_id = i.id and m.end_date is null
       join groups g on g.id = m.group_id join areas a on a.id = g.area_id
       where (a.path = $1 or a.path like $1 || '.%') and i.birth_date <= (current_date - interval '60 years')::date`,
      [code],
    );
    expect(n).toBeGreaterThan(0);
    expect(counted).toBe(n);
  });
});
