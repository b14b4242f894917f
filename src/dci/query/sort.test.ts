import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SORT_KEYS } from './limits.js';
import { compileSort, orderByOf } from './sort.js';
import { catalog, createTestDb, expectRejection, render, selectIds } from './test-support.js';

let pg: PGlite;
beforeAll(async () => {
  pg = await createTestDb();
});
afterAll(async () => {
  await pg.close();
});

const tieBreak = sql`t.id`;
const orderBy = (sort: unknown) => orderByOf(compileSort(sort, catalog).keys, tieBreak);
const order = (sort: unknown) => selectIds(pg, sql`true`, orderBy(sort));
const rejects = (sort: unknown, message: RegExp) => expectRejection(() => compileSort(sort, catalog), 'rjct.sort.invalid', message);

describe('compileSort', () => {
  it('is just the tie-break when sort is absent or empty', async () => {
    for (const sort of [undefined, null, '', []]) {
      expect(render(orderBy(sort)).sql).toBe('t.id asc');
      expect(await order(sort)).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it('sorts ascending (default) and descending, nulls last, then by the tie-break', async () => {
    expect(await order([{ attribute_name: 'poverty_score', sort_order: 'asc' }])).toEqual([1, 5, 2, 3, 4]);
    expect(await order([{ attribute_name: 'poverty_score' }])).toEqual([1, 5, 2, 3, 4]);
    expect(await order([{ attribute_name: 'poverty_score', sort_order: '' }])).toEqual([1, 5, 2, 3, 4]);
    expect(await order([{ attribute_name: 'poverty_score', sort_order: 'DESC' }])).toEqual([3, 2, 5, 1, 4]);
    // Equal sizes (2 and 5) fall back to the tie-break.
    expect(await order([{ attribute_name: 'household_size', sort_order: 'desc' }])).toEqual([2, 5, 1, 3, 4]);
    expect(render(orderBy([{ attribute_name: 'id', sort_order: 'Desc' }])).sql).toBe('t."id" desc nulls last, t.id asc');
  });

  it('sorts by several keys, resolving aliases, and accepts a lone object', async () => {
    expect(
      await order([
        { attribute_name: 'size', sort_order: 'desc' },
        { attribute_name: 'poverty_score', sort_order: 'asc' },
      ]),
    ).toEqual([5, 2, 1, 3, 4]);
    expect(await order([{ attribute_name: 'sex' }, { attribute_name: 'birth_date', sort_order: 'desc' }])).toEqual([1, 3, 2, 5, 4]);
    expect(await order({ attribute_name: 'birthdate', sort_order: 'asc' })).toEqual([3, 1, 2, 5, 4]);
  });

  it('rejects unknown and unsortable attributes, bad orders and too many keys', () => {
    rejects([{ attribute_name: 'income' }], /unknown attribute "income"/);
    rejects([{ attribute_name: 'uin' }], /cannot sort by attribute "uin"/);
    rejects([{ attribute_name: 'constructor' }], /unknown attribute "constructor"/);
    rejects([{ attribute_name: 'id', sort_order: 'up' }], /"id": sort_order must be asc or desc, got "up"/);
    rejects([{ attribute_name: 'id', sort_order: 1 }], /sort_order must be asc or desc/);
    rejects([{ sort_order: 'asc' }], /attribute_name is required/);
    rejects(Array.from({ length: MAX_SORT_KEYS + 1 }, () => ({ attribute_name: 'id' })), /at most 5 keys/);
    rejects('poverty_score', /sort must be an array/);
    rejects(5, /sort must be an array/);
    rejects([null], /sort item 1 must be an object/);
    rejects([[{ attribute_name: 'id' }]], /sort item 1 must be an object/);
  });
});
