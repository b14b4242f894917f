import { type SQL, sql } from 'drizzle-orm';
import { isAttributeDef } from './comparison.js';
import { present, isObject, own, show } from './input.js';
import { MAX_SORT_KEYS } from './limits.js';
import { type AttributeCatalog, QueryRejection } from './types.js';

function rejectSort(message: string): never {
  throw new QueryRejection('rjct.sort.invalid', message);
}

/** One sort key asked for: its SQL expression and direction (NULLs last either way). */
export interface SortKey {
  expression: SQL;
  order: 'asc' | 'desc';
}

/** The keys asked for, and `onSealed` when a key was a sealed attribute (see AttributeDef.sealed). */
export interface CompiledSort {
  keys: SortKey[];
  onSealed: boolean;
}

/** Compiles `search_criteria.sort` (`[{attribute_name, sort_order}]`, a lone object = one key) into sort keys. */
export function compileSort(sort: unknown, catalog: AttributeCatalog): CompiledSort {
  if (present(sort) && !Array.isArray(sort) && !isObject(sort)) {
    rejectSort(`sort must be an array of {attribute_name, sort_order}, got ${show(sort)}`);
  }
  const items: unknown[] = !present(sort) ? [] : Array.isArray(sort) ? sort : [sort];
  if (items.length > MAX_SORT_KEYS) rejectSort(`sort takes at most ${MAX_SORT_KEYS} keys`);
  let onSealed = false;
  const keys = items.flatMap((item, index): SortKey[] => {
    if (!isObject(item)) return rejectSort(`sort item ${index + 1} must be an object, got ${show(item)}`);
    const name = own(item, 'attribute_name');
    if (typeof name !== 'string' || name.trim() === '') return rejectSort(`sort item ${index + 1}: attribute_name is required`);
    const def = catalog.resolve(name);
    if (!isAttributeDef(def)) return rejectSort(`cannot sort by unknown attribute ${show(name)}`);
    if (def.withheld) return rejectSort(`cannot sort by attribute ${show(name)}: ${def.withheld}`);
    const order = direction(own(item, 'sort_order'), name);
    if (def.sealed) {
      onSealed = true;
      return [];
    }
    if (!def.sortKey) return rejectSort(`cannot sort by attribute ${show(name)}`);
    return [{ expression: def.sortKey, order }];
  });
  return { keys, onSealed };
}

/**
 * An ORDER BY list (without the keyword): the keys, NULLs last either way, then `tieBreak` (the record's id,
 * ascending), which makes the order total so that pages are deterministic (DIGEST 3.3).
 */
export function orderByOf(keys: readonly SortKey[], tieBreak: SQL): SQL {
  return sql.join([...keys.map((k) => sql`${k.expression} ${sql.raw(k.order)} nulls last`), sql`${tieBreak} asc`], sql`, `);
}

function direction(raw: unknown, name: string): 'asc' | 'desc' {
  if (!present(raw)) return 'asc';
  const order = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
  if (order === 'asc' || order === 'desc') return order;
  return rejectSort(`attribute ${show(name)}: sort_order must be asc or desc, got ${show(raw)}`);
}
