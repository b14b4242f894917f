import { isObject, present } from '../envelope/normalize.js';
import { normalizeOperator } from './operators.js';
import { QueryRejection } from './types.js';

/** One `attribute eq value` or `attribute in [values]` of a check's criteria. */
export interface SubjectCondition {
  attribute: string;
  values: string[];
}

const MAX_CONDITIONS = 10;
const MAX_VALUES = 100;

const reject = (message: string): never => {
  throw new QueryRejection('rjct.search_criteria.invalid', message);
};

/**
 * The conditions of the IBR `enrolled_criteria` and DR `disabled_criteria` (DIGEST 3.8, 4.4): checks about one person
 * or household, so a conjunction of equalities. Accepted shapes: idtype-value `{type, value}`; the flat operator map
 * `{"person_identifier": {"eq": "X"}, ...}` (operators with or without `$`, a bare value meaning eq, `$and` lists); the
 * NoSql wrapper `{type, value: {expression: {query}}}`; one ExpPredicate `{attribute_name, operator, attribute_value}`
 * (the IBR sample) or a predicate list joined by `and`. Anything else (or, not, ranges) is refused per item: these
 * endpoints answer yes/no for a subject; the search endpoints take full queries.
 */
export function subjectConditions(criteria: Record<string, unknown>): SubjectCondition[] {
  const out: SubjectCondition[] = [];
  const queryType = typeof criteria.query_type === 'string' ? criteria.query_type.trim().toLowerCase().replace(/_/g, '-') : '';
  if (present(criteria.query_type) && !['idtype-value', 'expression', 'predicate'].includes(queryType)) {
    reject(`query_type ${String(criteria.query_type).slice(0, 40)} is not supported (idtype-value, expression, predicate)`);
  }
  readQuery(criteria.query, out);
  if (out.length === 0) reject('the query names no condition');
  if (out.length > MAX_CONDITIONS) reject(`at most ${MAX_CONDITIONS} conditions`);
  return out;
}

function readQuery(query: unknown, out: SubjectCondition[]): void {
  if (Array.isArray(query)) {
    for (const p of query) readPredicate(p, out);
    return;
  }
  if (!isObject(query)) return reject('query must be an object');
  if ('attribute_name' in query || 'expression1' in query) return readPredicate(query, out);
  const type = query.type;
  const value = query.value;
  if (typeof type === 'string' && (typeof value === 'string' || typeof value === 'number')) {
    return add(out, type, value);
  }
  if (typeof type === 'string' && isObject(value)) {
    if (!/nosql/i.test(type)) reject(`query language ${type.slice(0, 60)} is not supported here (NoSql operator maps)`);
    const expression = isObject(value.expression) ? value.expression : undefined;
    if (!expression || !isObject(expression.query)) return reject('expression query: value.expression.query must be an object');
    return readOperatorMap(expression.query, out);
  }
  if (isObject(query.expression) && isObject(query.expression.query)) return readOperatorMap(query.expression.query, out);
  readOperatorMap(query, out);
}

function readOperatorMap(map: Record<string, unknown>, out: SubjectCondition[]): void {
  for (const [key, condition] of Object.entries(map)) {
    if (key.toLowerCase() === '$and' || key.toLowerCase() === 'and') {
      if (!Array.isArray(condition)) reject('$and must be a list');
      for (const part of condition as unknown[]) {
        if (!isObject(part)) reject('$and items must be objects');
        readOperatorMap(part as Record<string, unknown>, out);
      }
      continue;
    }
    if (key.startsWith('$')) reject(`${key.slice(0, 20)} is not supported here: a check names one subject with equalities`);
    if (!isObject(condition)) {
      add(out, key, condition);
      continue;
    }
    const ops = Object.entries(condition);
    if (ops.length !== 1) reject(`${key.slice(0, 100)}: give exactly one operator (eq or in)`);
    addWithOperator(out, key, ops[0][0], ops[0][1]);
  }
}

function readPredicate(p: unknown, out: SubjectCondition[]): void {
  if (!isObject(p)) return reject('predicate items must be objects');
  if ('expression1' in p) {
    const condition = present(p.condition) ? String(p.condition).toLowerCase() : undefined;
    if (condition !== undefined && condition !== 'and') reject(`condition ${String(p.condition).slice(0, 20)} is not supported here (and)`);
    readPredicate(p.expression1, out);
    if (present(p.expression2)) readPredicate(p.expression2, out);
    return;
  }
  if (typeof p.attribute_name !== 'string') return reject('predicate: attribute_name must be a string');
  addWithOperator(out, p.attribute_name, typeof p.operator === 'string' ? p.operator : 'eq', p.attribute_value);
}

function addWithOperator(out: SubjectCondition[], attribute: string, operator: string, value: unknown): void {
  const op = normalizeOperator(operator);
  if (op === 'eq') return add(out, attribute, value);
  if (op === 'in') {
    const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',').map((v) => v.trim()) : reject(`${attribute.slice(0, 100)}: in takes a list`);
    if (list.length === 0 || list.length > MAX_VALUES) reject(`${attribute.slice(0, 100)}: in takes 1 to ${MAX_VALUES} values`);
    out.push({ attribute: attribute.trim(), values: list.map((v) => scalar(attribute, v)) });
    return;
  }
  reject(`${attribute.slice(0, 100)}: operator ${operator.slice(0, 20)} is not supported here (eq, in)`);
}

function add(out: SubjectCondition[], attribute: string, value: unknown): void {
  out.push({ attribute: attribute.trim(), values: [scalar(attribute, value)] });
}

function scalar(attribute: string, value: unknown): string {
  if ((typeof value === 'string' && value.trim() !== '' && value.length <= 256) || (typeof value === 'number' && Number.isFinite(value))) {
    return String(value).trim();
  }
  return reject(`${attribute.slice(0, 100)}: the value must be a non-empty string or a number`);
}
