import { type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { AttributeDef, AttributeType, Operator } from './types.js';

const OPERATOR_NAMES: ReadonlyMap<string, Operator> = new Map([
  ['eq', 'eq'],
  ['ne', 'ne'],
  ['lt', 'lt'],
  ['lte', 'lte'],
  ['le', 'lte'],
  ['gt', 'gt'],
  ['gte', 'gte'],
  ['ge', 'gte'],
  ['in', 'in'],
  ['nin', 'nin'],
]);

/**
 * Maps an operator as partners spell it onto the canonical set: `$`-forms (NoSql), bare names (predicate lists and the
 * flat IBR/DR operator map, DIGEST 4.3/4.4) and `ge`/`le`; case-insensitive. Undefined when not an operator.
 */
export function normalizeOperator(name: string): Operator | undefined {
  const bare = name.trim().toLowerCase();
  return OPERATOR_NAMES.get(bare.startsWith('$') ? bare.slice(1) : bare);
}

const ALL_OPERATORS: readonly Operator[] = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin'];
const EQUALITY_OPERATORS: readonly Operator[] = ['eq', 'ne', 'in', 'nin'];

export function defaultOperators(type: AttributeType): readonly Operator[] {
  return type === 'number' || type === 'integer' || type === 'date' ? ALL_OPERATORS : EQUALITY_OPERATORS;
}

export function allowedOperators(def: AttributeDef): readonly Operator[] {
  return def.operators ?? defaultOperators(def.type);
}

/**
 * The standard `AttributeDef.predicate` for a plain column or SQL expression: every value is a bound parameter, in/nin
 * lists expand to one parameter per item (each passed through `wrap`, e.g. to lower-case it in SQL), and ne/nin also
 * match NULL (an absent value differs from every value).
 */
export function columnPredicate(column: SQL | SQLWrapper, wrap?: (param: SQL) => SQL): (op: Operator, value: unknown) => SQL {
  const param = wrap ? (v: unknown) => wrap(sql`${sql.param(v)}`) : (v: unknown) => sql.param(v);
  return (op, value) => {
    switch (op) {
      case 'eq':
        return sql`${column} = ${param(value)}`;
      case 'ne':
        return sql`(${column} is null or ${column} <> ${param(value)})`;
      case 'lt':
        return sql`${column} < ${param(value)}`;
      case 'lte':
        return sql`${column} <= ${param(value)}`;
      case 'gt':
        return sql`${column} > ${param(value)}`;
      case 'gte':
        return sql`${column} >= ${param(value)}`;
      case 'in':
        return sql`${column} in (${paramList(value, param)})`;
      case 'nin':
        return sql`(${column} is null or ${column} not in (${paramList(value, param)}))`;
    }
  };
}

function paramList(value: unknown, param: (v: unknown) => SQL | ReturnType<typeof sql.param>): SQL {
  const items = Array.isArray(value) ? value : [value];
  return sql.join(
    items.map((item) => param(item)),
    sql`, `,
  );
}
