import { PGlite } from '@electric-sql/pglite';
import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { expect } from 'vitest';
import { columnPredicate } from './operators.js';
import { type AttributeCatalog, type AttributeDef, type Operator, QueryRejection } from './types.js';

/** Test-only: a small table and catalog the query compiler's tests run against (imported by *.test.ts only). */

export const INJECTION = "x'); drop table t; --";

const ROWS = `
  insert into t (id, score, size, sex, birth, flag, uin, code) values
    (1, 1.5,  3,    'female', '1990-01-15', true,  'U1', '007'),
    (2, 4.9,  5,    'male',   '2001-06-30', false, 'U2', '123'),
    (3, 7,    1,    'female', '1950-08-18', null,  'U3', 'abc'),
    (4, null, null, null,     null,         null,  null, null),
    (5, 2.5,  5,    'other',  '2020-02-29', true,  $1,   'a,b')`;

export async function createTestDb(): Promise<PGlite> {
  const pg = await PGlite.create();
  await pg.exec(`create table t (id bigint primary key, score numeric, size int, sex text, birth date, flag boolean, uin text, code text)`);
  await pg.query(ROWS, [INJECTION]);
  return pg;
}

const SEX: Record<string, string> = { f: 'female', female: 'female', m: 'male', male: 'male', other: 'other' };

const col = (name: string): SQL => sql`t.${sql.identifier(name)}`;

function attr(name: string, type: AttributeDef['type'], column: string, extra: Partial<AttributeDef> = {}): AttributeDef {
  return { name, type, predicate: columnPredicate(col(column)), sortKey: col(column), ...extra };
}

const ATTRIBUTES: AttributeDef[] = [
  attr('id', 'integer', 'id'),
  attr('poverty_score', 'number', 'score'),
  attr('household_size', 'integer', 'size'),
  attr('sex', 'string', 'sex', {
    normalize: (v) => {
      const out = Object.hasOwn(SEX, String(v).toLowerCase()) ? SEX[String(v).toLowerCase()] : undefined;
      if (!out) throw new QueryRejection('rjct.search_criteria.invalid', `sex: unknown value ${JSON.stringify(v)}`);
      return out;
    },
  }),
  attr('birth_date', 'date', 'birth'),
  attr('is_active', 'boolean', 'flag'),
  attr('uin', 'string', 'uin', { sortKey: undefined }),
  attr('code', 'string', 'code', { operators: ['eq', 'in'] as Operator[] }),
  { name: 'broken', type: 'string', predicate: columnPredicate(col('code')), normalize: () => { throw new TypeError('boom'); } },
];

const ALIASES: ReadonlyMap<string, string> = new Map([
  ['demographic_info.person.sex', 'sex'],
  ['gender', 'sex'],
  ['size', 'household_size'],
  ['score', 'poverty_score'],
  ['birthdate', 'birth_date'],
]);

export const catalog: AttributeCatalog = {
  resolve(name) {
    const key = name.toLowerCase();
    const canonical = ALIASES.get(key) ?? key;
    return ATTRIBUTES.find((a) => a.name === canonical);
  },
  resolveIdentifierType(idType) {
    const key = idType.toUpperCase();
    if (key === 'UIN') return ATTRIBUTES.find((a) => a.name === 'uin');
    if (key === 'HHID') return ATTRIBUTES.find((a) => a.name === 'id');
    return undefined;
  },
};

/** A careless catalog over a plain object: `constructor`, `__proto__` and `toString` resolve to prototype members. */
const byName = Object.fromEntries(ATTRIBUTES.map((a) => [a.name, a])) as Record<string, AttributeDef>;
export const naiveCatalog: AttributeCatalog = {
  resolve: (name) => byName[name],
  resolveIdentifierType: (idType) => byName[idType],
};

const dialect = new PgDialect();

export function render(fragment: SQL): { sql: string; params: unknown[] } {
  return dialect.sqlToQuery(fragment);
}

export async function selectIds(pg: PGlite, where: SQL, orderBy: SQL = sql`t.id`): Promise<number[]> {
  const q = render(sql`select t.id from t where ${where} order by ${orderBy}`);
  const res = await pg.query<{ id: number | bigint | string }>(q.sql, q.params);
  return res.rows.map((r) => Number(r.id));
}

/** Asserts `fn` throws a QueryRejection with `code` whose message matches `message`. */
export function expectRejection(fn: () => unknown, code: string, message: RegExp): QueryRejection {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a QueryRejection').toBeInstanceOf(QueryRejection);
  const rejection = caught as QueryRejection;
  expect(rejection.reasonCode).toBe(code);
  expect(rejection.message).toMatch(message);
  return rejection;
}
