import type { SQL } from 'drizzle-orm';

/** The per-item reason codes a query, a sort or a page can be refused with (DIGEST 2.4). */
export type QueryReasonCode =
  | 'rjct.search_criteria.invalid'
  | 'rjct.sort.invalid'
  | 'rjct.pagination.invalid'
  | 'rjct.filter.invalid';

/** A problem with one search item: it becomes that item's `status: "rjct"` + reason code, never an HTTP error. */
export class QueryRejection extends Error {
  constructor(
    readonly reasonCode: QueryReasonCode,
    message: string,
  ) {
    super(message);
    this.name = 'QueryRejection';
  }
}

export type AttributeType = 'string' | 'number' | 'integer' | 'date' | 'boolean';

/** Canonical operators; `$`-forms and the predicate names `ge`/`le` are mapped onto these. */
export type Operator = 'eq' | 'ne' | 'lt' | 'lte' | 'gt' | 'gte' | 'in' | 'nin';

/**
 * One searchable attribute of a domain's allow-list. Every query type compiles through these: an attribute that is
 * not in the catalog cannot be queried or sorted on.
 */
export interface AttributeDef {
  /** Canonical name, as documented. */
  readonly name: string;
  readonly type: AttributeType;
  /** Operators allowed on this attribute (default: all of them for number/integer/date, eq/ne/in/nin otherwise). */
  readonly operators?: readonly Operator[];
  /**
   * Maps an already type-coerced scalar to the stored form (e.g. sex "F" -> "female"); throws QueryRejection when the
   * value is outside the vocabulary.
   */
  readonly normalize?: (value: unknown) => unknown;
  /** The SQL condition for `op` with the coerced value (an array for in/nin). Values must be bound, never inlined. */
  readonly predicate: (op: Operator, value: unknown) => SQL;
  /** The SQL expression to sort by; absent = not sortable. */
  readonly sortKey?: SQL;
  /**
   * Stored sealed (a restricted identifier), so without an order: a sort on it is accepted only when the answer has
   * at most one record, where every order is the same (DCI samples sort an identifier lookup by UIN).
   */
  readonly sealed?: boolean;
  /**
   * The record fields that show the attribute's value, for partners with a field allow-list (issue 4: `fields`):
   * comparing or sorting on an attribute tells its value as surely as receiving it does. Any one of them allowed will
   * do. Each names its field by what holds it: `person:` a Person's (`person:birth_date`), `member:` a Member's
   * (`member:marital_status`), `group:` a Group's (`group:poverty_score`), `record:` the searched record's own.
   * Empty: the attribute tells nothing the partner did not send (an identifier it names someone by). Absent: no
   * partner with an allow-list may use it.
   */
  readonly shownIn?: readonly string[];
  /** Set by a partner's catalog (search/field-guard.ts): why this partner may not compare or sort on the attribute. */
  readonly withheld?: string;
}

export interface AttributeCatalog {
  /** Looks an attribute up by name or dotted path, as a partner spelled it; undefined when not allowed. */
  resolve(name: string): AttributeDef | undefined;
  /** The attribute an `idtype-value` query with this identifier type searches; undefined for unknown types. */
  resolveIdentifierType(idType: string): AttributeDef | undefined;
}

export interface CompiledQuery {
  /** Boolean SQL condition over the catalog's base relation (for an identifier query, built on first use). */
  readonly where: SQL;
  /** Set when the query is one identifier value (idtype-value): a domain may answer it by a direct lookup. */
  readonly identifier?: { readonly type: string; readonly value: string };
}
