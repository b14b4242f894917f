import type { SQL } from 'drizzle-orm';
import { checkComparison, comparisonSql, isAttributeDef } from './comparison.js';
import { compileOperatorMap } from './expression.js';
import { present, isObject, own, reject, show } from './input.js';
import { Budget } from './limits.js';
import { compilePredicateList } from './predicate.js';
import type { AttributeCatalog, CompiledQuery } from './types.js';

/**
 * Compiles `search_criteria.query_type` + `query` into a parameterised boolean condition over the catalog. Dispatches
 * on query_type, then on the shape of `query` (the spec's oneOf shapes overlap, DIGEST 4 and 11.1 #1). Any problem
 * with the input throws QueryRejection.
 */
export function compileQuery(queryType: string, query: unknown, catalog: AttributeCatalog): CompiledQuery {
  const type = typeof queryType === 'string' ? queryType.trim().toLowerCase().replace(/_/g, '-') : undefined;
  switch (type) {
    case 'idtype-value':
      return compileIdTypeValue(query, catalog);
    case 'expression':
      return compileExpressionQuery(query, catalog);
    case 'predicate':
      return { where: compilePredicateList(query, catalog) };
    default:
      return reject(`query_type ${show(queryType)} is not supported (idtype-value, expression, predicate)`);
  }
}

function compileIdTypeValue(query: unknown, catalog: AttributeCatalog): CompiledQuery {
  // Samples label other shapes with this query_type (DIGEST 4): a lone predicate or a predicate list.
  if (isPredicateShaped(query)) return { where: compilePredicateList(query, catalog) };
  if (!isObject(query)) return reject(`idtype-value query must be an object {type, value}, got ${show(query)}`);
  const idType = own(query, 'type');
  if (typeof idType !== 'string' || idType.trim() === '') {
    return reject(`idtype-value query: type must be an identifier type, got ${show(idType)}`);
  }
  const def = catalog.resolveIdentifierType(idType);
  if (!isAttributeDef(def)) return reject(`unknown identifier type ${show(idType)}`);
  const value = own(query, 'value');
  if (typeof value !== 'string' && typeof value !== 'number') {
    return reject(`identifier ${show(idType)}: value must be a string or a number, got ${show(value)}`);
  }
  const coerced = checkComparison(def, idType, 'eq', value, new Budget());
  // Checked now; the SQL (with the value's blind index) is built only when no direct lookup answers the query.
  let where: SQL | undefined;
  return {
    identifier: { type: def.name, value: String(coerced) },
    get where() {
      return (where ??= comparisonSql(def, 'eq', coerced));
    },
  };
}

const NOSQL = /nosql/i;
const QUERY_LANGUAGE = /querytype|graphql|sql/i;

function compileExpressionQuery(query: unknown, catalog: AttributeCatalog): CompiledQuery {
  // Predicate lists labelled `expression` (SR processflow2/3a/4, CRVS samples; DIGEST 4).
  if (isPredicateShaped(query)) return { where: compilePredicateList(query, catalog) };
  if (!isObject(query)) return reject(`expression query must be an object, got ${show(query)}`);
  if (!Object.hasOwn(query, 'type') && !Object.hasOwn(query, 'value')) {
    // The flat operator map of IBR/DR criteria (DIGEST 4.4).
    return { where: compileOperatorMap(query, catalog) };
  }
  const language = own(query, 'type');
  const value = own(query, 'value');
  // `{type: "UIN", value: "123"}` under query_type expression: the IdentifierTypeValue shape (DIGEST 11.1 #1).
  if (typeof language === 'string' && !QUERY_LANGUAGE.test(language) && (typeof value === 'string' || typeof value === 'number')) {
    return compileIdTypeValue(query, catalog);
  }
  if (present(language) && !(typeof language === 'string' && NOSQL.test(language))) {
    return reject(`query language ${show(language)} is not supported (only NoSql)`);
  }
  if (!isObject(value)) return reject(`expression query: value must be an object {expression: {...}}, got ${show(value)}`);
  const expression = Object.hasOwn(value, 'expression') ? own(value, 'expression') : value;
  if (typeof expression === 'string') return reject('query language not supported: expression text (GraphQL, SQL); only NoSql objects');
  if (!isObject(expression)) return reject(`expression query: value.expression must be an object, got ${show(expression)}`);
  collectionOf(own(expression, 'collection'));
  return { where: compileExpressionBody(expression, catalog) };
}

/**
 * The `collection` a NoSql expression names (`value.expression.collection`, or `value.collection` without the
 * `expression` wrapper), read before compiling: a domain may pick its record type, and so its catalog, from it.
 * Undefined for other query shapes; a non-string collection is rejected.
 */
export function expressionCollection(query: unknown): string | undefined {
  if (!isObject(query) || !isObject(query.value)) return undefined;
  const value = query.value;
  const expression = Object.hasOwn(value, 'expression') ? own(value, 'expression') : value;
  return isObject(expression) ? collectionOf(own(expression, 'collection')) : undefined;
}

/** `{collection, query}`; liberal: without `query` the expression itself (minus `collection`) is the operator map. */
function compileExpressionBody(expression: Record<string, unknown>, catalog: AttributeCatalog): SQL {
  if (!Object.hasOwn(expression, 'query')) {
    const { collection: _collection, ...map } = expression;
    return compileOperatorMap(map, catalog);
  }
  const body = own(expression, 'query');
  return isPredicateShaped(body) ? compilePredicateList(body, catalog) : compileOperatorMap(body, catalog);
}

/** A predicate list, one of its items, or a lone ExpPredicate. */
function isPredicateShaped(value: unknown): boolean {
  return Array.isArray(value) || (isObject(value) && (Object.hasOwn(value, 'expression1') || Object.hasOwn(value, 'attribute_name')));
}

function collectionOf(raw: unknown): string | undefined {
  if (!present(raw)) return undefined;
  return typeof raw === 'string' ? raw : reject(`expression collection must be a string, got ${show(raw)}`);
}
