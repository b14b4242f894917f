import type { SearchReasonCode } from '../dci/envelope/codes.js';
import { isObject } from '../dci/envelope/normalize.js';
import { compileQuery, compileSort, QueryRejection } from '../dci/query/index.js';
import type { AttributeCatalog } from '../dci/query/types.js';
import { normalizeLocale, rejected, type RecordHandling, type SearchDomain, type SearchPlan, type SearchResponseItem } from '../dci/search/items.js';

/**
 * Gateway mode: the answer of a search item we refuse to forward for the caller, or undefined when it may go. It is
 * refused as our own registry would refuse it: a purpose the caller may not ask under (handling.refuse), or a query or
 * sort by an attribute the caller's field list withholds, found by compiling them (not running them) against our
 * registry's plan of the domain. Answered, such a query tells the values the projection withholds. Criteria our
 * registry cannot compile even for a caller who may receive every field are the upstream's to judge.
 */
export function forwardRefusal(domain: SearchDomain | undefined, item: Record<string, unknown>, handling: RecordHandling): SearchResponseItem | undefined {
  const refusal = handling.refuse?.(item);
  if (refusal) return refused(item, 'rjct.search_criteria.invalid', refusal);
  const criteria = item.search_criteria;
  if (!domain || !handling.catalog || !isObject(criteria)) return undefined;
  let plan: SearchPlan;
  try {
    plan = domain.plan(criteria);
  } catch {
    return undefined;
  }
  const rejection = compileRejection(criteria, handling.catalog(plan));
  if (!rejection || compileRejection(criteria, plan.catalog)) return undefined;
  return refused(item, rejection.reasonCode, rejection.message);
}

function compileRejection(criteria: Record<string, unknown>, catalog: AttributeCatalog): QueryRejection | undefined {
  try {
    compileQuery(String(criteria.query_type), criteria.query, catalog);
    compileSort(criteria.sort, catalog);
    return undefined;
  } catch (e) {
    if (e instanceof QueryRejection) return e;
    throw e;
  }
}

function refused(item: Record<string, unknown>, code: SearchReasonCode, message: string): SearchResponseItem {
  return rejected(typeof item.reference_id === 'string' ? item.reference_id : '', code, message, normalizeLocale(item.locale));
}
