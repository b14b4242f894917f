export { compileQuery, expressionCollection } from './compile.js';
export { compileOperatorMap } from './expression.js';
export { columnPredicate, defaultOperators, normalizeOperator } from './operators.js';
export { compilePredicate, compilePredicateList } from './predicate.js';
export { compileSort, orderByOf } from './sort.js';
export { coerceValue } from './values.js';
export { MAX_CONDITIONS, MAX_DEPTH, MAX_LIST_ITEMS, MAX_QUERY_VALUES, MAX_SORT_KEYS, MAX_STRING_LENGTH } from './limits.js';
export {
  type AttributeCatalog,
  type AttributeDef,
  type AttributeType,
  type CompiledQuery,
  type Operator,
  type QueryReasonCode,
  QueryRejection,
} from './types.js';
