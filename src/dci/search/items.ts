import type { Database } from '../../db/client.js';
import type { SQL } from 'drizzle-orm';
import type { RequestStatus, SearchReasonCode } from '../envelope/codes.js';
import { nowTimestamp } from '../envelope/builder.js';
import { isObject, present } from '../envelope/normalize.js';
import { compileQuery, compileSort, QueryRejection } from '../query/index.js';
import { isTimestamp } from '../query/values.js';
import type { SortKey } from '../query/sort.js';
import type { AttributeCatalog } from '../query/types.js';
import type { RecordParts } from './field-guard.js';
import { DciError } from '../../http/errors.js';

/** A page of a search as a domain's store fetches it. */
export interface PageQuery {
  where: SQL;
  /** The sort keys asked for; the store orders by them, then by the record's id (orderByOf). */
  sortKeys: SortKey[];
  limit: number;
  offset: number;
  /** How many records match `where`, counted just before; the store may pick how to fetch the page by it. */
  total?: number;
}

/** What a domain supplies to answer one search item: the record type asked for and how to fetch a page of it. */
export interface SearchPlan {
  readonly regType: string;
  readonly recordType: string;
  /** What a record is about: a person (the catalog's alias `i`) or a household (`g`). */
  readonly subject: 'individual' | 'group';
  readonly catalog: AttributeCatalog;
  /** Where its records hold a Person, a Member and a Group, for partners' field allow-lists (field-guard.ts). */
  readonly parts: RecordParts;
  fetch(page: PageQuery): Promise<object[]>;
  count(where: SQL): Promise<number>;
  /**
   * The record an identifier names, found directly (a domain may batch such lookups): used for the first page of an
   * idtype-value query when the identifier can name at most one record of this type; undefined when it cannot.
   */
  findByIdentifier?(identifier: { type: string; value: string }): Promise<object[]> | undefined;
}

export interface SearchDomain {
  /** Picks the record type and catalog for an item's criteria; throws QueryRejection for an unknown entity. */
  /** The plan of a search; its queries run on `db` when given (a caller's open transaction), else on the domain's pool. */
  plan(criteria: Record<string, unknown>, db?: Pick<Database, 'run'>): SearchPlan;
}

export interface SearchLimits {
  defaultPageSize: number;
  maxPageSize: number;
  maxResultWindow: number;
}

export interface SearchResponseItem {
  reference_id: string;
  timestamp: string;
  /** succ or rjct in a search answer; txn status also reports rcvd and pdng. */
  status: RequestStatus;
  status_reason_code?: SearchReasonCode;
  status_reason_message?: string;
  data?: { version: '1.0.0'; reg_type: string; reg_record_type: string; reg_records: object[] };
  pagination?: { page_size: number; page_number: number; total_count: number };
  locale?: string;
}

/** A search item refused: its reason code (when one of the list fits) and message; the one shape of a refusal. */
export function rejected(reference_id: string, code: SearchReasonCode | undefined, message: string, locale?: string): SearchResponseItem {
  return { reference_id, timestamp: nowTimestamp(), status: 'rjct', ...(code ? { status_reason_code: code } : {}), status_reason_message: message.slice(0, 999), ...(locale ? { locale } : {}) };
}

class ItemRejection extends Error {
  constructor(readonly reasonCode: SearchReasonCode, message: string) {
    super(message);
  }
}

/** `locale` arrives as `en`, `EN/GB`, `eng` or `""` (DIGEST 3.3); we emit ISO 639-3. */
const LOCALE_639_3: Record<string, string> = { en: 'eng', fr: 'fra', es: 'spa', pt: 'por', ar: 'ara', sw: 'swa', am: 'amh', ha: 'hau', yo: 'yor', ig: 'ibo', th: 'tha', hi: 'hin' };
export function normalizeLocale(v: unknown): string {
  if (typeof v !== 'string' || v === '') return 'eng';
  const primary = v.toLowerCase().split(/[-_/]/)[0];
  if (/^[a-z]{3}$/.test(primary)) return primary;
  return Object.hasOwn(LOCALE_639_3, primary) ? LOCALE_639_3[primary] : 'eng';
}

/** A whole number of at least `min`, from a number or a numeric string (DIGEST 11.4: samples send strings), else undefined. */
export function wholeNumber(v: unknown, min = 1): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= min ? n : undefined;
}

function pageOf(pagination: unknown, limits: SearchLimits): { size: number; number: number } {
  if (!present(pagination)) return { size: limits.defaultPageSize, number: 1 };
  if (!isObject(pagination)) throw new ItemRejection('rjct.pagination.invalid', 'pagination must be an object');
  const size = present(pagination.page_size) ? wholeNumber(pagination.page_size) : limits.defaultPageSize;
  const number = present(pagination.page_number) ? wholeNumber(pagination.page_number) : 1;
  if (size === undefined) throw new ItemRejection('rjct.pagination.invalid', 'pagination.page_size must be an integer >= 1');
  if (number === undefined) throw new ItemRejection('rjct.pagination.invalid', 'pagination.page_number must be an integer >= 1 (pages count from 1)');
  if (size > limits.maxPageSize) throw new ItemRejection('rjct.pagination.invalid', `pagination.page_size must be at most ${limits.maxPageSize}`);
  if (size * number > limits.maxResultWindow) {
    throw new ItemRejection('rjct.pagination.invalid', `pages may reach row ${limits.maxResultWindow} at most; narrow the search`);
  }
  return { size, number };
}

/** Answers one item of a search batch; every problem with the item becomes its own rjct status. */
/** What the caller does with each item's records: project them to the partner's fields, and see them first (audit). */
export interface RecordHandling {
  project?: (record: object) => object;
  /** Called with the records of each answered item before projection, and the request item when known. */
  observe?: (referenceId: string, records: object[], item?: Record<string, unknown>) => void;
  /** Refuses an item before it runs (e.g. a purpose the partner may not ask under): the reason, or undefined. */
  refuse?: (item: Record<string, unknown>) => string | undefined;
  /** The attributes a partner with a field list may compare and sort on in this plan's records (without one: the plan's catalog). */
  catalog?: (plan: SearchPlan) => AttributeCatalog;
}

async function answerItem(domain: SearchDomain, item: Record<string, unknown>, limits: SearchLimits, handling: RecordHandling): Promise<SearchResponseItem> {
  const reference_id = typeof item.reference_id === 'string' ? item.reference_id : '';
  const locale = normalizeLocale(item.locale);
  try {
    if (present(item.timestamp) && !isTimestamp(item.timestamp)) {
      throw new ItemRejection('rjct.timestamp.invalid', 'timestamp must be an RFC 3339 date-time');
    }
    const criteria = item.search_criteria;
    if (!isObject(criteria)) throw new ItemRejection('rjct.search_criteria.invalid', 'search_criteria must be an object');
    const refusal = handling.refuse?.(item);
    if (refusal) throw new ItemRejection('rjct.search_criteria.invalid', refusal);
    if (!present(criteria.query_type)) throw new ItemRejection('rjct.search_criteria.invalid', 'search_criteria.query_type is required');
    if (!present(criteria.query)) throw new ItemRejection('rjct.search_criteria.invalid', 'search_criteria.query is required');
    const page = pageOf(criteria.pagination, limits);
    const plan = domain.plan(criteria);
    const catalog = handling.catalog?.(plan) ?? plan.catalog;
    const query = compileQuery(String(criteria.query_type), criteria.query, catalog);
    const { keys: sortKeys, onSealed } = compileSort(criteria.sort, catalog);
    const offset = (page.number - 1) * page.size;
    const direct = query.identifier && offset === 0 ? plan.findByIdentifier?.(query.identifier) : undefined;
    let fetched: object[];
    let total: number;
    if (direct) {
      fetched = await direct;
      total = fetched.length;
    } else {
      // Counted first: no page to fetch when nothing (or nothing that far) matches, and the store fetches the page of
      // a few matches by collecting them, never by walking an index in sort order in search of them (store.ts).
      total = await plan.count(query.where);
      if (onSealed && total > 1) {
        throw new QueryRejection('rjct.sort.invalid', `${total} records match: a restricted identifier is stored sealed and cannot order more than one record`);
      }
      fetched = total > offset ? await plan.fetch({ where: query.where, sortKeys, limit: page.size, offset, total }) : [];
    }
    handling.observe?.(reference_id, fetched, item);
    const records = handling.project ? fetched.map(handling.project) : fetched;
    return {
      reference_id,
      timestamp: nowTimestamp(),
      status: 'succ',
      data: { version: '1.0.0', reg_type: plan.regType, reg_record_type: plan.recordType, reg_records: records },
      pagination: { page_size: page.size, page_number: page.number, total_count: total },
      locale,
    };
  } catch (e) {
    if (e instanceof ItemRejection || e instanceof QueryRejection) {
      return rejected(reference_id, e.reasonCode, e.message, locale);
    }
    throw e;
  }
}

/**
 * The rejection of an item whose reference_id an earlier item of its batch had (`seen`, which it joins otherwise).
 * Samples send "" for reference_id (DIGEST 11.4): accepted and echoed; only duplicates within the batch are refused.
 */
export function duplicateReference(item: Record<string, unknown>, seen: Set<string>): SearchResponseItem | undefined {
  const ref = item.reference_id;
  if (typeof ref !== 'string' || ref === '') return undefined;
  if (seen.has(ref)) return rejected(ref, 'rjct.reference_id.duplicate', `reference_id ${ref.slice(0, 100)} repeats an earlier item of this batch`, normalizeLocale(item.locale));
  seen.add(ref);
  return undefined;
}

const ITEM_CONCURRENCY = 8;

/**
 * Answers a search batch, each item on its own (DIGEST 3.1): a duplicate reference_id is refused for the later
 * items, and a bad item never fails the others. Up to eight items run at once, the next starting as soon as one is
 * answered, so that a slow item holds up no others. With a `budget` (sync searches: a caller is waiting), items still
 * to run when it is spent are not started (the first eight always run), and the batch fails with 504. An item that
 * fails (not a rejection: the database, say) fails the batch once the items already running have finished: none is
 * left running after the answer.
 */
export async function answerSearchBatch(
  domain: SearchDomain,
  items: Record<string, unknown>[],
  limits: SearchLimits,
  handling: RecordHandling = {},
  budget?: { deadlineAt: number; budgetMs: number },
): Promise<SearchResponseItem[]> {
  const seen = new Set<string>();
  const results: SearchResponseItem[] = new Array(items.length);
  const pending: number[] = [];
  items.forEach((item, i) => {
    const duplicate = duplicateReference(item, seen);
    if (duplicate) results[i] = duplicate;
    else pending.push(i);
  });
  let next = 0;
  let failure: { error: unknown } | undefined;
  const runner = async (): Promise<void> => {
    while (next < pending.length && !failure) {
      if (budget && next >= ITEM_CONCURRENCY && Date.now() > budget.deadlineAt) {
        const left = pending.length - next;
        failure = { error: new DciError(504, 'err.request.timeout', `the batch ran longer than the server allows (${budget.budgetMs} ms) with ${left} of ${items.length} items still to run; send fewer items, or narrower ones`) };
        return;
      }
      const i = pending[next++];
      try {
        results[i] = await answerItem(domain, items[i], limits, handling);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(ITEM_CONCURRENCY, pending.length) }, runner));
  if (failure) throw failure.error;
  return results;
}
