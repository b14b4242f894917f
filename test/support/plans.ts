import type { Database } from '../../src/db/client.js';

/**
 * How PostgreSQL planned the prepared statements of this session whose text contains `fragment`: custom plans are
 * made for each execution's parameters, the generic one is cached. Empty on PGlite, which keeps no plans.
 */
export async function sessionPlans(db: Database, fragment: string): Promise<{ generic: number; custom: number }[]> {
  if (db.kind !== 'postgres') return [];
  const rows = await db.query<{ generic: number; custom: number }>(
    `select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements where strpos(statement, $1) > 0 order by statement`,
    [fragment],
  );
  return rows;
}
