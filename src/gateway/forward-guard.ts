import type { SearchReasonCode } from '../dci/envelope/codes.js';
import { isObject, present } from '../dci/envelope/normalize.js';
import { compileQuery, compileSort, QueryRejection } from '../dci/query/index.js';
import type { AttributeCatalog } from '../dci/query/types.js';
import { normalizeLocale, rejected, type RecordHandling, type SearchDomain, type SearchPlan, type SearchResponseItem } from '../dci/search/items.js';

/**
 * Gateway mode: the answer of a search item we refuse to forward for the caller, or undefined when it may go. It is
 * refused as our own registry would refuse it: a purpose the caller may not ask under (handling.refuse), or a query or
 * sort by an attribute the caller's field list withholds, found by compiling them (not running them) against our
 * registry's plan of the domain. Answered, such a query tells the values the projection withholds. For a caller with
 * a field list, criteria our registry cannot compile (an attribute or record type only the upstream knows) are refused
 * too, since we cannot tell which field they would tell; for a caller without one they are the upstream's to judge. A
 * lookup by identifier (idtype-value) goes either way: the caller names someone by an identifier it already holds.
 */
export function forwardRefusal(domain: SearchDomain | undefined, item: Record<string, unknown>, handling: RecordHandling): SearchResponseItem | undefined {
  const refusal = handling.refuse?.(item);
  if (refusal) return refused(item, 'rjct.search_criteria.invalid', refusal);
  const criteria = item.search_criteria;
  if (!handling.catalog || !isObject(criteria)) return undefined;
  const byIdentifier = String(criteria.query_type).toLowerCase() === 'idtype-value' && !present(criteria.sort);
  const unjudged = (why: string) =>
    byIdentifier ? undefined : refused(item, 'rjct.search_criteria.invalid', `this gateway cannot check these criteria against the partner's field list (${why}), so it does not forward them`);
  if (!domain) return unjudged('it holds no registry of this domain');
  let plan: SearchPlan;
  try {
    plan = domain.plan(criteria);
  } catch (e) {
    return unjudged(e instanceof Error ? e.message : 'unknown record type');
  }
  const rejection = compileRejection(criteria, handling.catalog(plan));
  if (!rejection) return undefined;
  const unknown = compileRejection(criteria, plan.catalog);
  if (unknown) return unjudged(unknown.message);
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
