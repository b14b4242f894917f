import { type SQL, sql } from 'drizzle-orm';
import { reject, show } from './input.js';
import type { Budget } from './limits.js';
import { allowedOperators, normalizeOperator } from './operators.js';
import type { AttributeCatalog, AttributeDef, Operator } from './types.js';
import { coerceValue } from './values.js';

const ATTRIBUTE_TYPES = new Set(['string', 'number', 'integer', 'date', 'boolean']);

/**
 * A catalog result is trusted only if it looks like an AttributeDef: a catalog backed by a plain object would
 * otherwise hand back `Object.prototype` members for names such as `constructor` or `__proto__`.
 */
export function isAttributeDef(value: unknown): value is AttributeDef {
  if (typeof value !== 'object' || value === null) return false;
  const def = value as Partial<AttributeDef>;
  return typeof def.predicate === 'function' && typeof def.type === 'string' && ATTRIBUTE_TYPES.has(def.type);
}

export function resolveAttribute(catalog: AttributeCatalog, name: unknown): AttributeDef {
  if (typeof name !== 'string' || name.trim() === '') return reject(`attribute_name must be a non-empty string, got ${show(name)}`);
  const def = catalog.resolve(name);
  if (!isAttributeDef(def)) return reject(`unknown attribute ${show(name)}`);
  return def.withheld ? reject(`attribute ${show(name)}: ${def.withheld}`) : def;
}

/** Resolves an operator name as written; rejects names that are no operator. */
export function resolveOperator(name: unknown, attribute: string): Operator {
  const op = typeof name === 'string' ? normalizeOperator(name) : undefined;
  return op ?? reject(`attribute ${show(attribute)}: unknown operator ${show(name)}`);
}

/** One comparison: checks the operator is allowed on the attribute, coerces the value, asks the attribute for SQL. */
export function compileComparison(def: AttributeDef, attribute: string, op: Operator, value: unknown, budget: Budget): SQL {
  return comparisonSql(def, op, checkComparison(def, attribute, op, value, budget));
}

/** The checks of a comparison: the operator is allowed on the attribute; the value coerced (throws QueryRejection). */
export function checkComparison(def: AttributeDef, attribute: string, op: Operator, value: unknown, budget: Budget): unknown {
  budget.condition();
  if (!allowedOperators(def).includes(op)) reject(`attribute ${show(attribute)}: operator ${op} is not allowed`);
  const coerced = coerceValue(def, op, value, attribute);
  budget.values(Array.isArray(coerced) ? coerced.length : 1);
  return coerced;
}

/** The SQL of a checked comparison, parenthesised so a predicate such as `a or b` cannot bind to a neighbouring AND. */
export function comparisonSql(def: AttributeDef, op: Operator, coerced: unknown): SQL {
  return sql`(${def.predicate(op, coerced)})`;
}
