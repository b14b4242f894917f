import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { renderSql } from '../../db/client.js';
import { IdentifierVault } from '../../registry/identifiers.js';
import { openTestDatabase } from '../../../test/support/server.js';
import { TEST_DATA_KEYS } from '../../../test/support/data-keys.js';
import { compileQuery } from '../../dci/query/index.js';
import { QueryRejection } from '../../dci/query/types.js';
import { socialCatalogs, type SocialCatalogs } from './attributes.js';

/**
 * `youngest_child_age`: whole years of a person's youngest living child, through the relationships CRVS births
 * record. Its conditions are checked here against the attribute's definition written as plain SQL (the minimum over
 * the living children, NULL without any), for every operator, over parents made for the test.
 */
let db: Database;
let catalogs: SocialCatalogs;
/** The parents made for the test, by name. */
const parents: Record<string, number> = {};

beforeAll(async () => {
  db = await openTestDatabase(2);
  catalogs = socialCatalogs(await IdentifierVault.load(db, TEST_DATA_KEYS));
  const person = async (birth: string | null, dead = false) =>
    Number(
      (await db.query<{ id: string }>(
        `insert into individuals (sex, birth_date, death_date) values ('female', ${birth === null ? 'null' : `current_date - ${birth}`}, ${dead ? 'current_date' : 'null'}) returning id`,
      ))[0].id,
    );
  const childOf = async (parent: number, birth: string, relationship: string, dead = false) =>
    db.query(`insert into relationships (individual_id, related_individual_id, relationship, source) values ($1, $2, $3, 'test')`, [await person(birth, dead), parent, relationship]);
  // Children born a day before or after a birthday, so that whole years are what count.
  const family: [string, [birth: string, relationship: string, dead?: boolean][]][] = [
    ['infant and a 3-year-old', [["interval '2 months'", 'MTH'], ["interval '3 years 1 day'", 'MTH']]],
    ['dead infant, living 1-year-old', [["interval '1 month'", 'MTH', true], ["interval '1 year 1 day'", 'MTH']]],
    ['a child turning 5 tomorrow', [["(interval '5 years' - interval '1 day')", 'FTH']]],
    ['a 10-year-old and a 17-year-old', [["interval '10 years 3 days'", 'PRN'], ["interval '17 years'", 'FTH']]],
    ['only a dead child', [["interval '4 years'", 'MTH', true]]],
    ['a spouse, not a child', [["interval '30 years'", 'SPS']]],
  ];
  for (const [name, children] of family) {
    parents[name] = await person("interval '35 years'");
    for (const [birth, relationship, dead] of children) await childOf(parents[name], birth, relationship, dead);
  }
  parents['no children'] = await person("interval '35 years'");
});
afterAll(() => db?.close());

const mine = () => sql.raw(Object.values(parents).join(', '));

/** The test's parents a compiled Member condition selects. */
async function matching(where: ReturnType<typeof sql>): Promise<number[]> {
  const rows = await db.run<{ id: string }>(sql`select i.id from individuals i where i.id in (${mine()}) and ${where} order by i.id`);
  return rows.map((r) => Number(r.id));
}

/** The same, by the attribute's definition: the youngest living child's whole years, NULL for nobody. */
async function byDefinition(condition: string, params: unknown[]): Promise<number[]> {
  const rows = await db.query<{ id: string }>(
    `select id from (
       select i.id, (select min(extract(year from age(c.birth_date)))::int from relationships r join individuals c on c.id = r.individual_id
                     where r.related_individual_id = i.id and r.relationship in ('MTH', 'FTH', 'PRN') and c.death_date is null) as y
       from individuals i where i.id in (${Object.values(parents).join(', ')})) p
     where ${condition} order by id`,
    params,
  );
  return rows.map((r) => Number(r.id));
}

const DEFINITIONS: Record<string, (v: unknown) => [string, unknown[]]> = {
  eq: (v) => ['y = $1', [v]],
  ne: (v) => ['(y is null or y <> $1)', [v]],
  lt: (v) => ['y < $1', [v]],
  lte: (v) => ['y <= $1', [v]],
  gt: (v) => ['y > $1', [v]],
  gte: (v) => ['y >= $1', [v]],
  in: (v) => ['y = any($1::int[])', [v]],
  nin: (v) => ['(y is null or not (y = any($1::int[])))', [v]],
};
const OPERATOR_NAMES: Record<string, string> = { eq: 'eq', ne: 'ne', lt: 'lt', lte: 'le', gt: 'gt', gte: 'ge', in: 'in', nin: 'nin' };

const compiled = (operator: string, value: unknown, entity: 'members' | 'groups' = 'members') =>
  compileQuery('predicate', [{ seq_num: 1, expression1: { attribute_name: entity === 'members' ? 'youngest_child_age' : 'member_list.youngest_child_age', operator, attribute_value: value } }], catalogs[entity]).where;

describe('youngest_child_age', () => {
  it('selects exactly the people its definition does, for every operator, dead children and other relations left out', async () => {
    let compared = 0;
    for (const [op, definition] of Object.entries(DEFINITIONS)) {
      const years = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k);
      const values: unknown[] =
        op === 'in' || op === 'nin' ? [[0], [1, 4], [3, 10, 17], [2], years(0, 4), [...years(2, 9), 0, 1], years(0, 150), [0, 2, 4, 10, 11, 12]] : [0, 1, 3, 4, 5, 10, 17, 18];
      for (const value of values) {
        const expected = await byDefinition(...definition(value));
        expect(await matching(compiled(OPERATOR_NAMES[op], value)), `${op} ${JSON.stringify(value)}`).toEqual(expected);
        compared += expected.length;
      }
    }
    // The comparisons were not all empty: each parent was selected by some and left out by others.
    expect(compared).toBeGreaterThan(50);
    expect(await matching(compiled('lt', 1))).toEqual([parents['infant and a 3-year-old']]);
    expect(await matching(compiled('eq', 1))).toEqual([parents['dead infant, living 1-year-old']]);
    expect(await matching(compiled('eq', 4))).toEqual([parents['a child turning 5 tomorrow']]);
    expect(await matching(compiled('ge', 10))).toEqual([parents['a 10-year-old and a 17-year-old']]);
  });

  it('negated, matches people without living children too (IS NOT TRUE, as every $not)', async () => {
    const notUnder5 = await matching(sql`((${compiled('lt', 5)}) is not true)`);
    expect(notUnder5).toEqual(
      [parents['a 10-year-old and a 17-year-old'], parents['only a dead child'], parents['a spouse, not a child'], parents['no children']].sort((a, b) => a - b),
    );
  });

  it('over a household\'s members: households with a member whose youngest child is under 1', async () => {
    const where = compiled('lt', 1, 'groups');
    const [household] = await db.query<{ id: string }>(
      `select g.id from groups g where exists (select 1 from memberships m where m.group_id = g.id and m.end_date is null) order by g.id limit 1`,
    );
    expect(await db.run<{ n: number }>(sql`select count(*)::int as n from groups g where ${where}`)).toEqual([{ n: 0 }]);
    await db.query(`insert into memberships (group_id, individual_id, is_head, relationship_to_head, start_date) values ($1, $2, false, 'OTHER', current_date)`, [
      household.id,
      parents['infant and a 3-year-old'],
    ]);
    expect(await db.run<{ id: string }>(sql`select g.id from groups g where ${where}`)).toEqual([{ id: household.id }]);
  });

  it('is answered by joins, not by working the minimum out for every person', () => {
    // The minimum per person had been a subquery run once for each of the registry's people: 1.3 s to count
    // 442,220 people with no relationships recorded at all.
    const text = renderSql(compiled('lt', 1)).text;
    expect(text).not.toMatch(/\bmin\(/);
    expect(text).toMatch(/exists \(/);
  });

  it('a list of years costs PostgreSQL a few subplans, however many years it names', () => {
    // One pair of EXISTS per year had made `in [0..40]` 82 subplans, run for each person: 27 s to count 1,800 people.
    const existsIn = (value: number[]) => renderSql(compiled('in', value)).text.match(/exists \(/g)?.length ?? 0;
    expect(existsIn(Array.from({ length: 151 }, (_, k) => k))).toBe(2);
    expect(existsIn([0, 1, 2, 3, 4, 10, 11, 12])).toBe(4);
    expect(existsIn(Array.from({ length: 76 }, (_, k) => 2 * k))).toBe(0);
  });

  it('refuses years outside 0-150, which PostgreSQL would wrap round or fail on', () => {
    for (const value of [151, 2 ** 31 - 1, -1]) {
      expect(() => compiled('lt', value)).toThrow(QueryRejection);
      expect(() => compiled('lt', value)).toThrow(/"youngest_child_age": expected whole years from 0 to 150/);
    }
  });
});
