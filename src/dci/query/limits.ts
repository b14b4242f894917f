import { reject } from './input.js';

/** Guards that keep one hostile query from costing the server much (deep recursion, huge OR trees, giant IN lists). */
export const MAX_DEPTH = 16;
export const MAX_CONDITIONS = 200;
export const MAX_LIST_ITEMS = 1000;
/**
 * Values in one query, all its lists together: each becomes one or more bind parameters (an age two, a region two),
 * and PostgreSQL takes at most 65,535 in a statement (an IBR condition is bound twice); beyond, the search failed with
 * HTTP 500.
 */
export const MAX_QUERY_VALUES = 5000;
export const MAX_STRING_LENGTH = 1000;
export const MAX_SORT_KEYS = 5;

/** Counts the comparisons of one query while it compiles and checks its nesting depth. */
export class Budget {
  private conditions = 0;
  private valueCount = 0;

  /** Called for every comparison (leaf) the query produces. */
  condition(): void {
    if (++this.conditions > MAX_CONDITIONS) reject(`query has more than ${MAX_CONDITIONS} conditions`);
  }

  /** Called with the number of values each comparison binds (a list's distinct values, or 1). */
  values(n: number): void {
    if ((this.valueCount += n) > MAX_QUERY_VALUES) reject(`query has more than ${MAX_QUERY_VALUES} values in all`);
  }

  /** Called on entering a nested level. */
  depth(level: number): void {
    if (level > MAX_DEPTH) reject(`query is nested deeper than ${MAX_DEPTH} levels`);
  }
}
