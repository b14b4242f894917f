import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';

/**
 * Every lookup by identifier value goes through this module. Today values are stored in clear; when restricted
 * types are encrypted (trust issue), only these functions change: they will match on a keyed blind index instead.
 */

export type IdentifierOwner = 'individual' | 'group';

/** Canonical spelling of an identifier type: types are case-insensitive (DIGEST 5). */
export function canonicalIdType(idType: string): string {
  return idType.trim().toUpperCase();
}

/**
 * SQL condition "the owner `ownerId` has an identifier of `idType` whose value is one of `values`". `ownerId` is the
 * owner row's id expression (e.g. `i.id`, `g.id`); the subquery uses the (id_type, id_value) unique index.
 */
export function hasIdentifier(owner: IdentifierOwner, ownerId: SQL, idType: string, values: readonly string[], negate = false): SQL {
  const column = owner === 'individual' ? sql.raw('individual_id') : sql.raw('group_id');
  const list = sql.join(values.map((v) => sql`${v}`), sql`, `);
  return sql`${ownerId} ${negate ? sql`not in` : sql`in`} (select x.${column} from identifiers x where x.id_type = ${canonicalIdType(idType)} and x.id_value in (${list}) and x.${column} is not null)`;
}

/** Groups whose active member holds one of these identifiers (a household by a member's UIN). */
export function hasMemberWithIdentifier(groupId: SQL, idType: string, values: readonly string[], negate = false): SQL {
  const list = sql.join(values.map((v) => sql`${v}`), sql`, `);
  return sql`${groupId} ${negate ? sql`not in` : sql`in`} (select m.group_id from identifiers x join memberships m on m.individual_id = x.individual_id and m.end_date is null where x.id_type = ${canonicalIdType(idType)} and x.id_value in (${list}))`;
}

/** The identifier types this registry knows, keyed by canonical code, with the owner kind they apply to. */
export async function loadIdentifierTypes(db: Database): Promise<Map<string, IdentifierOwner>> {
  const rows = await db.query<{ code: string; applies_to: string }>('select code, applies_to from identifier_types');
  return new Map(rows.map((r) => [canonicalIdType(r.code), r.applies_to === 'group' ? 'group' : 'individual']));
}
