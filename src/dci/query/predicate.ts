import type { SQL } from 'drizzle-orm';
import { compileComparison, resolveAttribute, resolveOperator } from './comparison.js';
import { present, isObject, own, reject, show } from './input.js';
import { Budget, MAX_CONDITIONS } from './limits.js';
import { allOf, anyOf, negate } from './logic.js';
import type { AttributeCatalog } from './types.js';

const ITEM_MEMBERS = new Set(['seq_num', 'expression1', 'condition', 'expression2']);
const PREDICATE_MEMBERS = new Set(['attribute_name', 'operator', 'attribute_value']);

/**
 * Compiles an ExpPredicateWithConditionList (a lone item is a one-item list). The spec leaves the semantics open
 * (DIGEST 4.3, 11.2 #17); ours: items ANDed in `seq_num` order; inside an item `e1 and e2`, `e1 or e2`, and `not` =
 * `e1 AND NOT e2` (`NOT e1` without expression2). An item that is a bare ExpPredicate (ExpPredicateList) is accepted.
 */
export function compilePredicateList(list: unknown, catalog: AttributeCatalog, budget: Budget = new Budget()): SQL {
  const items = Array.isArray(list) ? list : [list];
  if (items.length === 0) reject('predicate list is empty');
  if (items.length > MAX_CONDITIONS) reject(`predicate list has more than ${MAX_CONDITIONS} items`);
  const ordered = items
    .map((item, index) => {
      if (!isObject(item)) return reject(`predicate item ${index + 1} must be an object, got ${show(item)}`);
      return { item, index, seq: seqNum(item, index) };
    })
    // Items without seq_num keep their input order, after the numbered ones (Array.prototype.sort is stable).
    .sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity) || 0);
  return allOf(ordered.map(({ item, index }) => compileItem(item, index, catalog, budget)));
}

function seqNum(item: Record<string, unknown>, index: number): number | undefined {
  const raw = own(item, 'seq_num');
  if (!present(raw)) return undefined;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  return Number.isFinite(n) ? n : reject(`predicate item ${index + 1}: seq_num must be a number, got ${show(raw)}`);
}

function compileItem(item: Record<string, unknown>, index: number, catalog: AttributeCatalog, budget: Budget): SQL {
  const where = `predicate item ${index + 1}`;
  if (!Object.hasOwn(item, 'expression1') && Object.hasOwn(item, 'attribute_name')) return compilePredicate(item, catalog, budget);
  for (const key of Object.keys(item)) {
    // Ignoring e.g. the samples' invented `expression3` would silently widen the result (DIGEST 4.3).
    if (!ITEM_MEMBERS.has(key)) reject(`${where}: unsupported member ${show(key)}`);
  }
  const e1 = own(item, 'expression1');
  if (!present(e1)) reject(`${where}: expression1 is required`);
  const e2 = own(item, 'expression2');
  const condition = conditionOf(own(item, 'condition'), where);
  const hasE2 = present(e2);
  if (condition === undefined) {
    if (hasE2) reject(`${where}: expression2 needs a condition (and, or, not)`);
    return compilePredicate(e1, catalog, budget);
  }
  if (!hasE2) {
    if (condition === 'not') return negate(compilePredicate(e1, catalog, budget));
    return reject(`${where}: condition ${condition} needs expression2`);
  }
  const left = compilePredicate(e1, catalog, budget);
  const right = compilePredicate(e2, catalog, budget);
  if (condition === 'and') return allOf([left, right]);
  if (condition === 'or') return anyOf([left, right]);
  return allOf([left, negate(right)]);
}

function conditionOf(raw: unknown, where: string): 'and' | 'or' | 'not' | undefined {
  if (!present(raw)) return undefined;
  const name = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
  if (name === '') return undefined;
  if (name === 'and' || name === 'or' || name === 'not') return name;
  return reject(`${where}: unsupported condition ${show(raw)} (and, or, not)`);
}

/** One ExpPredicate `{attribute_name, operator, attribute_value}`. */
export function compilePredicate(expr: unknown, catalog: AttributeCatalog, budget: Budget = new Budget()): SQL {
  if (!isObject(expr)) return reject(`expected an expression {attribute_name, operator, attribute_value}, got ${show(expr)}`);
  for (const key of Object.keys(expr)) {
    if (!PREDICATE_MEMBERS.has(key)) reject(`expression: unsupported member ${show(key)}`);
  }
  const name = own(expr, 'attribute_name');
  const def = resolveAttribute(catalog, name);
  const attribute = name as string;
  if (!Object.hasOwn(expr, 'operator')) reject(`attribute ${show(attribute)}: operator is required`);
  const op = resolveOperator(own(expr, 'operator'), attribute);
  if (!Object.hasOwn(expr, 'attribute_value')) reject(`attribute ${show(attribute)}: attribute_value is required`);
  return compileComparison(def, attribute, op, own(expr, 'attribute_value'), budget);
}
