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

/**
 * How many statements `work` sends through `db` (its pool: query and run, transactions' own statements not counted).
 * The test's server must use this same `db`.
 */
export async function statementsOf(db: Database, work: () => Promise<unknown>): Promise<number> {
  const { query, run } = db;
  let n = 0;
  db.query = ((...args: Parameters<Database['query']>) => (n++, query.apply(db, args))) as Database['query'];
  db.run = ((...args: Parameters<Database['run']>) => (n++, run.apply(db, args))) as Database['run'];
  try {
    await work();
    return n;
  } finally {
    db.query = query;
    db.run = run;
  }
}
