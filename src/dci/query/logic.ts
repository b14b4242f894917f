import { type SQL, sql } from 'drizzle-orm';

export function allOf(parts: readonly SQL[]): SQL {
  return parts.length === 1 ? parts[0] : sql`(${sql.join([...parts], sql` and `)})`;
}

export function anyOf(parts: readonly SQL[]): SQL {
  return parts.length === 1 ? parts[0] : sql`(${sql.join([...parts], sql` or `)})`;
}

/**
 * `IS NOT TRUE` rather than `NOT`: a NULL comparison (absent value) counts as "does not match", so `$not` behaves like
 * Mongo's (it matches documents without the field) and agrees with ne/nin, which also match NULL.
 */
export function negate(condition: SQL): SQL {
  return sql`((${condition}) is not true)`;
}
