import type { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileQuery } from './compile.js';
import { MAX_LIST_ITEMS, MAX_STRING_LENGTH } from './limits.js';
import { catalog, createTestDb, expectRejection, selectIds } from './test-support.js';
import { coerceValue, toTimestamp } from './values.js';

let pg: PGlite;
beforeAll(async () => {
  pg = await createTestDb();
});
afterAll(async () => {
  await pg.close();
});

const where = (field: string, operator: string, value: unknown) =>
  compileQuery('predicate', [{ expression1: { attribute_name: field, operator, attribute_value: value } }], catalog).where;
const ids = (field: string, operator: string, value: unknown) => selectIds(pg, where(field, operator, value));
const rejects = (field: string, operator: string, value: unknown, message: RegExp) =>
  expectRejection(() => where(field, operator, value), 'rjct.search_criteria.invalid', message);

describe('numbers', () => {
  it('accepts numbers and numeric strings', async () => {
    expect(await ids('poverty_score', 'lt', '2.5')).toEqual([1]);
    expect(await ids('poverty_score', 'le', ' 2.5 ')).toEqual([1, 5]);
    expect(await ids('poverty_score', 'eq', 7)).toEqual([3]);
    expect(await ids('poverty_score', 'gt', '4.85e0')).toEqual([2, 3]);
    expect(await ids('poverty_score', 'in', ['1.5', 7])).toEqual([1, 3]);
  });

  it('requires integers to be integral', async () => {
    expect(await ids('household_size', 'eq', '5')).toEqual([2, 5]);
    expect(await ids('household_size', 'eq', '5.0')).toEqual([2, 5]);
    rejects('household_size', 'eq', '2.5', /"household_size": expected an integer, got "2.5"/);
    rejects('household_size', 'eq', 2.5, /"household_size": expected an integer/);
    rejects('household_size', 'eq', 2 ** 60, /expected an integer/);
    // Integer columns hold 4 bytes: a larger value would fail in PostgreSQL, as an HTTP 500.
    expect(await ids('household_size', 'lt', 2 ** 31 - 1)).toEqual([1, 2, 3, 5]); // 4 has no size
    expect(await ids('household_size', 'gt', -(2 ** 31))).toEqual([1, 2, 3, 5]);
    rejects('household_size', 'lt', 2 ** 31, /"household_size": expected an integer from -2147483648 to 2147483647, got 2147483648/);
    rejects('household_size', 'gt', String(-(2 ** 31) - 1), /expected an integer from -2147483648 to 2147483647/);
    rejects('household_size', 'in', [3, 2 ** 40], /expected an integer from/);
  });

  it('rejects non-numbers', () => {
    rejects('poverty_score', 'lt', 'abc', /"poverty_score": expected a number, got "abc"/);
    rejects('poverty_score', 'lt', '', /expected a number/);
    rejects('poverty_score', 'lt', '0x10', /expected a number/);
    rejects('poverty_score', 'lt', '1e999', /expected a number/);
    rejects('poverty_score', 'lt', true, /expected a number/);
    rejects('poverty_score', 'lt', NaN, /expected a number/);
    rejects('poverty_score', 'lt', null, /"poverty_score": expected a value/);
    rejects('poverty_score', 'lt', { $gt: 1 }, /"poverty_score": expected a single value/);
    rejects('poverty_score', 'lt', [1], /"poverty_score": expected a single value/);
  });
});

describe('dates', () => {
  it('accepts YYYY-MM-DD, RFC 3339 date-times (date part as written) and DD.MM.YYYY', async () => {
    expect(await ids('birth_date', 'eq', '1990-01-15')).toEqual([1]);
    // DR processflow3: birth_date $gt 1950-08-18T00:00:00Z
    expect(await ids('birth_date', 'gt', '1950-08-18T00:00:00Z')).toEqual([1, 2, 5]);
    expect(await ids('birth_date', 'eq', '1950-08-18T23:30:00-04:00')).toEqual([3]);
    expect(await ids('birth_date', 'eq', '2001-06-30T00:00')).toEqual([2]);
    expect(await ids('birth_date', 'eq', '2001-06-30 12:00:00.123+02:00')).toEqual([2]);
    expect(await ids('birth_date', 'eq', '15.01.1990')).toEqual([1]);
    expect(await ids('birth_date', 'eq', '2020-02-29')).toEqual([5]);
    expect(await ids('birth_date', 'in', '1990-01-15, 30.06.2001')).toEqual([1, 2]);
    expect(await ids('birthdate', 'ge', '2001-01-01')).toEqual([2, 5]);
  });

  it('rejects invalid dates, naming the attribute', () => {
    rejects('birth_date', 'eq', '2023-02-30', /"birth_date": expected a date \(YYYY-MM-DD\), got "2023-02-30"/);
    rejects('birth_date', 'eq', '2021-02-29', /expected a date/);
    rejects('birth_date', 'eq', '2023-13-01', /expected a date/);
    rejects('birth_date', 'eq', '0000-01-01', /expected a date/);
    rejects('birth_date', 'eq', '2023-01-01T25:00:00Z', /expected a date/);
    rejects('birth_date', 'eq', '31.04.2020', /expected a date/);
    rejects('birth_date', 'eq', '2023/01/01', /expected a date/);
    rejects('birth_date', 'eq', 'yesterday', /expected a date/);
    rejects('birth_date', 'eq', 20230101, /expected a date/);
  });
});

describe('date-times (toTimestamp)', () => {
  it('gives the instant in UTC of an RFC 3339 date-time, with or without seconds or zone', () => {
    expect(toTimestamp('2026-12-01T10:00:00+05:30')).toBe('2026-12-01T04:30:00.000Z');
    expect(toTimestamp(' 2026-12-01t10:00:00.123456Z ')).toBe('2026-12-01T10:00:00.123Z');
    expect(toTimestamp('0001-01-01T00:00:00Z')).toBe('0001-01-01T00:00:00.000Z');
    expect(toTimestamp('9999-12-31T23:59:59Z')).toBe('9999-12-31T23:59:59.000Z');
    expect(toTimestamp('2024-04-12T00:00')).toMatch(/^2024-04-1[12]T/);
  });

  it('refuses what is no calendar instant, or lies outside years 1 to 9999', () => {
    for (const bad of ['2026-02-30T00:00:00Z', '0000-01-01T00:00:00Z', '2026-12-01T24:00:00Z', '2026-12-01T10:60:00Z', '2026-12-01T10:00:00+99:99', '0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-01:00', '2026-12-01', 'soon']) {
      expect(toTimestamp(bad), bad).toBeUndefined();
    }
  });
});

describe('booleans', () => {
  it('accepts true/false, "true"/"false", "1"/"0", 1/0 and "yes"/"no" in any case', async () => {
    for (const yes of [true, 'true', 'TRUE', '1', 1, 'yes', 'Yes']) expect(await ids('is_active', 'eq', yes)).toEqual([1, 5]);
    for (const no of [false, 'false', '0', 0, 'NO']) expect(await ids('is_active', 'eq', no)).toEqual([2]);
    expect(await ids('is_active', 'ne', true)).toEqual([2, 3, 4]);
    expect(await ids('is_active', 'in', 'true,false')).toEqual([1, 2, 5]);
  });

  it('rejects anything else', () => {
    rejects('is_active', 'eq', 'maybe', /"is_active": expected true or false, got "maybe"/);
    rejects('is_active', 'eq', 2, /expected true or false/);
  });
});

describe('strings', () => {
  it('accepts strings and stringifies numbers', async () => {
    expect(await ids('code', 'eq', 123)).toEqual([2]);
    expect(await ids('code', 'eq', '007')).toEqual([1]);
    expect(await ids('uin', 'ne', 'U1')).toEqual([2, 3, 4, 5]);
    expect(await ids('uin', 'nin', ['U1', 'U2'])).toEqual([3, 4, 5]);
  });

  it('applies the attribute normalizer to each value', async () => {
    expect(await ids('sex', 'eq', 'F')).toEqual([1, 3]);
    expect(await ids('gender', 'in', 'm, Other')).toEqual([2, 5]);
    rejects('sex', 'eq', 'X', /sex: unknown value "X"/);
    // A normalizer failing with anything but a QueryRejection still yields a rejection.
    rejects('broken', 'eq', 'x', /"broken": invalid value "x"/);
  });

  it('splits a comma-separated in-list; an array keeps commas inside values', async () => {
    expect(await ids('code', 'in', 'a,b')).toEqual([]);
    expect(await ids('code', 'in', ['a,b'])).toEqual([5]);
    expect(await ids('code', 'in', '007, abc,')).toEqual([1, 3]);
  });

  it('rejects booleans and overlong strings', () => {
    rejects('uin', 'eq', true, /"uin": expected a string/);
    rejects('uin', 'eq', 'x'.repeat(MAX_STRING_LENGTH + 1), /"uin": value longer than/);
  });
});

describe('in / nin lists', () => {
  it('needs a non-empty list of at most the limit', async () => {
    rejects('household_size', 'in', [], /"household_size": operator in needs at least one value/);
    rejects('household_size', 'nin', ' , ', /operator nin needs at least one value/);
    rejects('household_size', 'in', { a: 1 }, /operator in needs a list of values/);
    rejects('household_size', 'in', null, /operator in needs a list of values/);
    rejects('household_size', 'in', Array.from({ length: MAX_LIST_ITEMS + 1 }, (_, i) => i), /at most 1000 values/);
    rejects('household_size', 'in', [1, 'x'], /"household_size": expected an integer, got "x"/);
    expect(await ids('household_size', 'in', Array.from({ length: MAX_LIST_ITEMS }, (_, i) => i))).toEqual([1, 2, 3, 5]);
    expect(await ids('household_size', 'in', 3)).toEqual([1]);
  });

  it('hands predicates an array of coerced values', () => {
    const def = catalog.resolve('household_size')!;
    expect(coerceValue(def, 'in', '1, 2')).toEqual([1, 2]);
    expect(coerceValue(def, 'eq', '2')).toBe(2);
  });
});
