import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileQuery, expressionCollection } from './compile.js';
import { MAX_CONDITIONS, MAX_DEPTH } from './limits.js';
import { catalog, createTestDb, expectRejection, INJECTION, naiveCatalog, render, selectIds } from './test-support.js';
import { QueryRejection } from './types.js';

let pg: PGlite;
beforeAll(async () => {
  pg = await createTestDb();
});
afterAll(async () => {
  await pg.close();
});

const ids = (queryType: string, query: unknown) => selectIds(pg, compileQuery(queryType, query, catalog).where);
const nosql = (query: unknown, collection?: string) => ({
  type: 'ns:org:QueryType:NoSql',
  value: { expression: collection === undefined ? { query } : { collection, query } },
});
const expr = (query: unknown) => ids('expression', nosql(query));
const CRITERIA = 'rjct.search_criteria.invalid';
const rejects = (queryType: string, query: unknown, message: RegExp) => expectRejection(() => compileQuery(queryType, query, catalog), CRITERIA, message);

describe('idtype-value', () => {
  it('matches an identifier by type and value', async () => {
    expect(await ids('idtype-value', { type: 'UIN', value: 'U2' })).toEqual([2]);
    expect(await ids('idtype-value', { type: 'uin', value: 'U3' })).toEqual([3]);
    expect(await ids('idtype-value', { type: 'UIN', value: 'nobody' })).toEqual([]);
  });

  it('accepts a number or a numeric string for a numeric identifier', async () => {
    expect(await ids('idtype-value', { type: 'HHID', value: 2 })).toEqual([2]);
    expect(await ids('idtype-value', { type: 'HHID', value: '3' })).toEqual([3]);
  });

  it('treats a query with attribute_name as one predicate, and an array as a predicate list', async () => {
    expect(await ids('idtype-value', { attribute_name: 'uin', operator: 'eq', attribute_value: 'U1' })).toEqual([1]);
    expect(await ids('idtype-value', [{ expression1: { attribute_name: 'uin', operator: 'eq', attribute_value: 'U1' } }])).toEqual([1]);
  });

  it('rejects unknown identifier types and values that are not strings or numbers', () => {
    rejects('idtype-value', { type: 'PASSPORT', value: '1' }, /identifier type "PASSPORT"/);
    rejects('idtype-value', { type: 'UIN', value: { $ne: 'x' } }, /value must be a string or a number/);
    rejects('idtype-value', { type: 'UIN' }, /value must be a string or a number/);
    rejects('idtype-value', { value: 'U1' }, /type must be an identifier type/);
    rejects('idtype-value', 'U1', /must be an object/);
  });
});

describe('expression (NoSql)', () => {
  it('compiles the SR sample and returns the collection', async () => {
    const query = nosql({ $and: [{ poverty_score: { $lt: 5 } }] }, 'Group');
    const compiled = compileQuery('expression', query, catalog);
    expect(expressionCollection(query)).toBe('Group');
    expect(await selectIds(pg, compiled.where)).toEqual([1, 2, 5]);
    expect(expressionCollection(nosql({ id: 1 }))).toBeUndefined();
  });

  it('supports every comparison operator', async () => {
    expect(await expr({ household_size: { $eq: 5 } })).toEqual([2, 5]);
    expect(await expr({ household_size: 5 })).toEqual([2, 5]);
    expect(await expr({ household_size: { $ne: 5 } })).toEqual([1, 3, 4]);
    expect(await expr({ household_size: { $lt: 3 } })).toEqual([3]);
    expect(await expr({ household_size: { $lte: 3 } })).toEqual([1, 3]);
    expect(await expr({ household_size: { $gt: 3 } })).toEqual([2, 5]);
    expect(await expr({ household_size: { $gte: 3 } })).toEqual([1, 2, 5]);
    expect(await expr({ household_size: { $in: [1, 3] } })).toEqual([1, 3]);
    expect(await expr({ household_size: { $nin: [1, 3] } })).toEqual([2, 4, 5]);
  });

  it('ANDs several operators on one field and several keys at one level', async () => {
    expect(await expr({ poverty_score: { $gte: 1.5, $lt: 4.9 } })).toEqual([1, 5]);
    expect(await expr({ sex: 'female', household_size: { $gt: 1 } })).toEqual([1]);
  });

  it('supports $or, nested logic and both forms of $not', async () => {
    expect(await expr({ $or: [{ sex: 'male' }, { poverty_score: { $gt: 5 } }] })).toEqual([2, 3]);
    expect(await expr({ $and: [{ $or: [{ sex: 'female' }, { sex: 'other' }] }, { $not: { household_size: 1 } }] })).toEqual([1, 5]);
    // NOT counts an absent value as "not matching", like Mongo's $not and like $ne.
    expect(await expr({ $not: { poverty_score: { $gt: 2 } } })).toEqual([1, 4]);
    expect(await expr({ poverty_score: { $not: { $gt: 2 } } })).toEqual([1, 4]);
    expect(await expr({ poverty_score: { $not: { $gt: 2, $lt: 5 } } })).toEqual([1, 3, 4]);
    expect(await expr({ household_size: { $not: 5 } })).toEqual([1, 3, 4]);
    expect(await expr({ $not: { $not: { sex: 'm' } } })).toEqual([2]);
  });

  it('accepts operator names without $, ge/le, any case, and a lone object for $and', async () => {
    expect(await expr({ poverty_score: { lt: 5 } })).toEqual([1, 2, 5]);
    expect(await expr({ household_size: { ge: 5 } })).toEqual([2, 5]);
    expect(await expr({ household_size: { le: 1 } })).toEqual([3]);
    expect(await expr({ household_size: { $GTE: 5, not: { eq: 2 } } })).toEqual([2, 5]);
    expect(await expr({ $AND: { sex: 'male' } })).toEqual([2]);
  });

  it('passes dotted paths to the catalog as written', async () => {
    expect(await expr({ $and: [{ 'demographic_info.person.sex': { $eq: 'female' } }] })).toEqual([1, 3]);
  });

  it('is liberal about where the operator map sits', async () => {
    // Predicate list labelled expression (samples), in query or in value.expression.query.
    expect(await ids('expression', [{ seq_num: '', expression1: { attribute_name: 'uin', operator: 'eq', attribute_value: 'U2' }, condition: '', expression2: '' }])).toEqual([2]);
    expect(await expr([{ expression1: { attribute_name: 'sex', operator: 'eq', attribute_value: 'F' } }])).toEqual([1, 3]);
    expect(await expr({ attribute_name: 'sex', operator: 'eq', attribute_value: 'male' })).toEqual([2]);
    // value.expression without `query`: the expression is the operator map.
    const noQueryInput = { type: 'NoSql', value: { expression: { collection: 'Group', household_size: 1 } } };
    const noQuery = compileQuery('expression', noQueryInput, catalog);
    expect(expressionCollection(noQueryInput)).toBe('Group');
    expect(await selectIds(pg, noQuery.where)).toEqual([3]);
    // No `expression` wrapper, no `type`.
    expect(await ids('expression', { value: { query: { household_size: 1 } } })).toEqual([3]);
    // Flat IBR/DR operator map, a lone ExpPredicate, an idtype-value shape.
    expect(await ids('expression', { uin: { eq: 'U1' } })).toEqual([1]);
    expect(await ids('expression', { attribute_name: 'uin', operator: 'eq', attribute_value: 'U1' })).toEqual([1]);
    expect(await ids('expression', { type: 'UIN', value: 'U3' })).toEqual([3]);
  });

  it('rejects other query languages', () => {
    rejects('expression', { type: 'ns:org:QueryType:GraphQl', value: { expression: 'person(UIN: "1") { BRN }' } }, /GraphQl.*not supported/);
    rejects('expression', { type: 'ns:org:QueryType:Sql', value: { expression: { query: { id: 1 } } } }, /Sql.*not supported/);
    rejects('expression', { type: 'ns:org:QueryType:NoSql', value: { expression: 'select 1' } }, /not supported/);
  });

  it('rejects unknown operators, empty and malformed logic', () => {
    rejects('expression', nosql({ $where: 'sleep(1)' }), /unsupported operator "\$where"/);
    rejects('expression', nosql({ $nor: [{ id: 1 }] }), /unsupported operator "\$nor"/);
    rejects('expression', nosql({ sex: { $regex: '^f' } }), /"sex".*unknown operator "\$regex"/);
    rejects('expression', nosql({ sex: { like: 'f%' } }), /"sex".*unknown operator "like"/);
    rejects('expression', nosql({ $and: [] }), /\$and needs at least one expression/);
    rejects('expression', nosql({ $or: 'x' }), /\$or needs an array/);
    rejects('expression', nosql({ $and: [[{ id: 1 }]] }), /expected an expression object/);
    rejects('expression', nosql({}), /empty expression/);
    rejects('expression', nosql({ id: {} }), /"id": empty operator object/);
    rejects('expression', nosql({ $not: 5 }), /expected an expression object/);
    rejects('expression', nosql(null), /expected an expression object/);
  });

  it('limits nesting depth and condition count', async () => {
    let deep: unknown = { id: 1 };
    for (let i = 0; i < MAX_DEPTH + 1; i++) deep = { $not: deep };
    rejects('expression', nosql(deep), /nested deeper/);
    let fieldDeep: unknown = { $eq: 1 };
    for (let i = 0; i < MAX_DEPTH + 1; i++) fieldDeep = { $not: fieldDeep };
    rejects('expression', nosql({ id: fieldDeep }), /nested deeper/);
    let ok: unknown = { id: 1 };
    for (let i = 0; i < 8; i++) ok = { $not: ok };
    expect(await expr(ok)).toEqual([1]);
    const many = Array.from({ length: MAX_CONDITIONS + 1 }, (_, i) => ({ id: i }));
    rejects('expression', nosql({ $or: many }), /\$or has more than 200 expressions/);
    rejects('expression', nosql({ $or: [{ $or: many.slice(0, 150) }, { $or: many.slice(0, 150) }] }), /more than 200 conditions/);
    expect(await expr({ $or: many.slice(0, MAX_CONDITIONS) })).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('predicate', () => {
  const p = (attribute_name: string, operator: string, attribute_value: unknown) => ({ attribute_name, operator, attribute_value });

  it('compiles the spec operators gt lt eq ge le in and the tolerated ne lte gte nin $-forms', async () => {
    const one = (e: unknown) => ids('predicate', [{ seq_num: 1, expression1: e }]);
    expect(await one(p('household_size', 'gt', '3'))).toEqual([2, 5]);
    expect(await one(p('household_size', 'lt', '3'))).toEqual([3]);
    expect(await one(p('household_size', 'eq', '5'))).toEqual([2, 5]);
    expect(await one(p('household_size', 'ge', '3'))).toEqual([1, 2, 5]);
    expect(await one(p('household_size', 'le', '3'))).toEqual([1, 3]);
    expect(await one(p('household_size', 'in', '1, 3'))).toEqual([1, 3]);
    expect(await one(p('household_size', 'in', [5]))).toEqual([2, 5]);
    expect(await one(p('household_size', 'ne', 5))).toEqual([1, 3, 4]);
    expect(await one(p('household_size', 'lte', 1))).toEqual([3]);
    expect(await one(p('household_size', 'gte', 5))).toEqual([2, 5]);
    expect(await one(p('household_size', 'nin', '5'))).toEqual([1, 3, 4]);
    expect(await one(p('household_size', '$gt', 3))).toEqual([2, 5]);
    expect(await one(p('household_size', 'GE', 3))).toEqual([1, 2, 5]);
  });

  it('combines inside an item with and / or / not', async () => {
    const e1 = p('sex', 'eq', 'female');
    const e2 = p('poverty_score', 'lt', '2.5');
    expect(await ids('predicate', [{ seq_num: 1, expression1: e1, condition: 'and', expression2: e2 }])).toEqual([1]);
    expect(await ids('predicate', [{ seq_num: 1, expression1: e1, condition: 'OR', expression2: e2 }])).toEqual([1, 3]);
    expect(await ids('predicate', [{ seq_num: 1, expression1: e1, condition: 'not', expression2: e2 }])).toEqual([3]);
    expect(await ids('predicate', [{ seq_num: 1, expression1: e1, condition: 'not' }])).toEqual([2, 4, 5]);
    expect(await ids('predicate', [{ seq_num: 1, expression1: e1, condition: 'not', expression2: '' }])).toEqual([2, 4, 5]);
  });

  it('ANDs items in seq_num order; "" means absent; a lone item is a list', async () => {
    const items = [
      { seq_num: '2', expression1: p('household_size', 'eq', 5) },
      { seq_num: '', expression1: p('sex', 'eq', 'other') },
      { seq_num: 1, expression1: p('poverty_score', 'gt', 1) },
    ];
    const { where } = compileQuery('predicate', items, catalog);
    expect(render(where).params).toEqual([1, 5, 'other']);
    expect(await selectIds(pg, where)).toEqual([5]);
    expect(await ids('predicate', { seq_num: '', expression1: p('uin', 'eq', 'U3'), condition: '', expression2: '' })).toEqual([3]);
    expect(await ids('predicate', p('uin', 'eq', 'U3'))).toEqual([3]);
    // ExpPredicateList: bare ExpPredicate items.
    expect(await ids('predicate', [p('sex', 'eq', 'f'), p('household_size', 'eq', 3)])).toEqual([1]);
  });

  it('rejects what would be silently ignored or is incomplete', () => {
    // SR processflow3a: an invented expression3.
    rejects('expression', [{ seq_num: 1, expression1: p('household_size', 'lt', '25'), condition: 'and', expression2: p('poverty_score', 'lt', '2.5'), expression3: p('sex', 'eq', 'm') }], /unsupported member "expression3"/);
    rejects('predicate', [{ seq_num: 1, expression1: p('id', 'eq', 1), condition: 'and' }], /condition and needs expression2/);
    rejects('predicate', [{ seq_num: 1, expression1: p('id', 'eq', 1), condition: 'or', expression2: '' }], /condition or needs expression2/);
    rejects('predicate', [{ seq_num: 1, expression1: p('id', 'eq', 1), expression2: p('id', 'eq', 2) }], /expression2 needs a condition/);
    rejects('predicate', [{ seq_num: 1, expression1: p('id', 'eq', 1), condition: 'xor', expression2: p('id', 'eq', 2) }], /unsupported condition "xor"/);
    rejects('predicate', [{ seq_num: 1, condition: '' }], /expression1 is required/);
    rejects('predicate', [{ seq_num: 'first', expression1: p('id', 'eq', 1) }], /seq_num must be a number/);
    rejects('predicate', [{ expression1: { ...p('id', 'eq', 1), attribute_type: 'x' } }], /unsupported member "attribute_type"/);
    rejects('predicate', [{ expression1: { attribute_name: 'id', attribute_value: 1 } }], /"id": operator is required/);
    rejects('predicate', [{ expression1: { attribute_name: 'id', operator: 'eq' } }], /"id": attribute_value is required/);
    rejects('predicate', [{ expression1: p('id', 'between', 1) }], /"id": unknown operator "between"/);
    rejects('predicate', [{ expression1: p('', 'eq', 1) }], /attribute_name must be a non-empty string/);
    rejects('predicate', [], /predicate list is empty/);
    rejects('predicate', [5], /predicate item 1 must be an object/);
    rejects('predicate', Array.from({ length: MAX_CONDITIONS + 1 }, () => ({ expression1: p('id', 'eq', 1) })), /more than 200 items/);
  });
});

describe('attributes and operators', () => {
  it('rejects unknown attributes, naming them', () => {
    rejects('expression', nosql({ income: { $gt: 1 } }), /unknown attribute "income"/);
    rejects('predicate', [{ expression1: { attribute_name: 'age', operator: 'lt', attribute_value: '25' } }], /unknown attribute "age"/);
  });

  it('rejects operators the attribute does not allow', () => {
    // SR processflow4: gender lt "m".
    rejects('predicate', [{ expression1: { attribute_name: 'gender', operator: 'lt', attribute_value: 'm' } }], /"gender": operator lt is not allowed/);
    rejects('expression', nosql({ code: { $ne: '007' } }), /"code": operator ne is not allowed/);
    rejects('expression', nosql({ is_active: { $gt: false } }), /"is_active": operator gt is not allowed/);
  });

  it('never resolves prototype members, even through a careless catalog', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const query = JSON.parse(`{"${name}": {"$eq": 1}}`);
      expectRejection(() => compileQuery('expression', nosql(query), naiveCatalog), CRITERIA, new RegExp(`unknown attribute "${name}"`));
      expectRejection(() => compileQuery('expression', nosql(query), catalog), CRITERIA, /unknown attribute/);
    }
    expectRejection(() => compileQuery('idtype-value', { type: 'constructor', value: '1' }, naiveCatalog), CRITERIA, /unknown identifier type/);
  });

  it('binds a SQL-injection-looking value as data', async () => {
    const { where } = compileQuery('idtype-value', { type: 'UIN', value: INJECTION }, catalog);
    const q = render(where);
    expect(q.sql).not.toContain('drop');
    expect(q.params).toEqual([INJECTION]);
    expect(await selectIds(pg, where)).toEqual([5]);
    expect(await expr({ uin: { $in: [INJECTION, "' or 1=1 --"] } })).toEqual([5]);
    expect(await expr({ uin: { $ne: INJECTION } })).toEqual([1, 2, 3, 4]);
    expect((await pg.query('select count(*)::int as n from t')).rows).toEqual([{ n: 5 }]);
  });
});

describe('query_type dispatch and hostile input', () => {
  it('rejects unknown query types', () => {
    for (const type of ['graphql', 'sql', '', 'IDTYPE', 'nosql']) rejects(type, { type: 'UIN', value: '1' }, /query_type .* is not supported/);
    expectRejection(() => compileQuery(undefined as unknown as string, {}, catalog), CRITERIA, /query_type/);
  });

  it('accepts query_type in any case and with underscores', async () => {
    expect(await ids('IDTYPE_VALUE', { type: 'UIN', value: 'U1' })).toEqual([1]);
    expect(await ids('Predicate', [{ expression1: { attribute_name: 'id', operator: 'eq', attribute_value: 2 } }])).toEqual([2]);
  });

  it('throws only QueryRejection on weird JSON', () => {
    const weird: unknown[] = [
      null, undefined, 0, 42, 'text', '', true, [], [[[[[]]]]], {}, [null], [1, 2], [[{ seq_num: 1 }]],
      { type: null, value: null }, { type: 'NoSql', value: null }, { type: 'NoSql', value: [] }, { type: 'NoSql', value: { expression: null } },
      { type: 'NoSql', value: { expression: [] } }, { type: 'NoSql', value: { expression: { query: null } } },
      { type: 'NoSql', value: { expression: { query: 5 } } }, { type: 'NoSql', value: { expression: { query: [[1]] } } },
      { type: 'NoSql', value: { expression: { collection: 5, query: { id: 1 } } } }, { type: 5, value: { expression: {} } },
      JSON.parse('{"__proto__": {"$and": []}}'), JSON.parse('{"type": "NoSql", "value": {"__proto__": {"query": {"id": 1}}}}'),
      { expression1: null }, { expression1: [] }, { expression1: 'id = 1' }, { seq_num: {}, expression1: {} },
      [{ expression1: { attribute_name: 5, operator: 'eq', attribute_value: 1 } }],
      [{ expression1: { attribute_name: 'id', operator: 5, attribute_value: 1 } }],
      [{ expression1: { attribute_name: 'id', operator: 'eq', attribute_value: null } }],
      [{ expression1: { attribute_name: 'id', operator: 'in', attribute_value: [[1]] } }],
      [{ expression1: { attribute_name: 'id', operator: 'eq', attribute_value: 1 }, condition: 5, expression2: {} }],
      { $and: [null] }, { $or: [5] }, { id: { $in: {} } }, { id: { $in: null } }, { id: [1, 2] }, { id: null },
      { id: { $eq: NaN } }, { id: { $eq: Infinity } }, { birth_date: 19900115 }, { uin: { $eq: 10n } },
      { broken: 'x' },
    ];
    for (const query of weird) {
      for (const type of ['idtype-value', 'expression', 'predicate']) {
        for (const wrapped of [query, nosql(query)]) {
          try {
            compileQuery(type, wrapped, catalog);
          } catch (e) {
            expect(e, `${type} ${String(JSON.stringify(wrapped, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)))}`).toBeInstanceOf(QueryRejection);
          }
        }
      }
    }
  });

  it('still runs the where clause it returns inside a larger statement', async () => {
    const { where } = compileQuery('expression', nosql({ $or: [{ id: 1 }, { id: 2 }] }), catalog);
    const q = render(sql`select count(*)::int as n from t where ${where} and t.id <> 2`);
    expect((await pg.query(q.sql, q.params)).rows).toEqual([{ n: 1 }]);
  });
});
