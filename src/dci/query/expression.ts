import type { SQL } from 'drizzle-orm';
import { compileComparison, resolveAttribute, resolveOperator } from './comparison.js';
import { isObject, reject, show } from './input.js';
import { Budget, MAX_CONDITIONS } from './limits.js';
import { allOf, anyOf, negate } from './logic.js';
import type { AttributeCatalog, AttributeDef } from './types.js';

/**
 * Compiles a NoSql (Mongo-like) operator map, e.g. `{"$and": [{"poverty_score": {"$lt": 5}}, {"sex": "female"}]}`.
 * Also the flat operator map of IBR/DR (`{"<path>": {"eq": value}}`, DIGEST 4.4): operator names with or without `$`.
 * Several keys at one level are ANDed; a field's scalar value is an implicit `$eq`; dotted paths go to the catalog as
 * written.
 */
export function compileOperatorMap(map: unknown, catalog: AttributeCatalog, budget: Budget = new Budget(), depth = 1): SQL {
  budget.depth(depth);
  if (!isObject(map)) return reject(`expected an expression object, got ${show(map)}`);
  const entries = Object.entries(map);
  if (entries.length === 0) reject('empty expression: at least one condition is required');
  return allOf(
    entries.map(([key, value]) =>
      key.startsWith('$') ? compileLogical(key, value, catalog, budget, depth) : compileField(key, value, catalog, budget, depth),
    ),
  );
}

function compileLogical(key: string, value: unknown, catalog: AttributeCatalog, budget: Budget, depth: number): SQL {
  const name = key.toLowerCase();
  if (name === '$not') return negate(compileOperatorMap(value, catalog, budget, depth + 1));
  if (name !== '$and' && name !== '$or') return reject(`unsupported operator ${show(key)}`);
  // A lone object where an array is expected is a one-item array (DIGEST 11.4).
  const items = Array.isArray(value) ? value : isObject(value) ? [value] : reject(`${key} needs an array of expressions, got ${show(value)}`);
  if (items.length === 0) reject(`${key} needs at least one expression`);
  if (items.length > MAX_CONDITIONS) reject(`${key} has more than ${MAX_CONDITIONS} expressions`);
  const parts = items.map((item) => compileOperatorMap(item, catalog, budget, depth + 1));
  return name === '$and' ? allOf(parts) : anyOf(parts);
}

function compileField(path: string, value: unknown, catalog: AttributeCatalog, budget: Budget, depth: number): SQL {
  return compileFieldValue(resolveAttribute(catalog, path), path, value, budget, depth);
}

/** A scalar (implicit $eq) or an operator object whose operators are ANDed: `{"$gte": 1, "$lt": 5}`. */
function compileFieldValue(def: AttributeDef, path: string, value: unknown, budget: Budget, depth: number): SQL {
  if (!isObject(value)) return compileComparison(def, path, 'eq', value, budget);
  const entries = Object.entries(value);
  if (entries.length === 0) reject(`attribute ${show(path)}: empty operator object`);
  return allOf(
    entries.map(([name, operand]) => {
      const bare = name.trim().toLowerCase();
      if (bare === '$not' || bare === 'not') {
        budget.depth(depth + 1);
        return negate(compileFieldValue(def, path, operand, budget, depth + 1));
      }
      return compileComparison(def, path, resolveOperator(name, path), operand, budget);
    }),
  );
}
