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
 * The frames of the server's background work: the workers' polling loops, the callback dispatcher, the pruning and
 * the partner-list reload. They poll on their own clock (every 50 ms in some test files), so their statements can land
 * inside any measured request.
 */
const BACKGROUND_FRAMES = /\b(PollingLoop\.run|CallbackDispatcher\.run|AsyncProtocol\.prune|PartnerDirectory\.refresh)\b/;

/**
 * How many statements `work` sends through `db` (its pool: query and run, transactions' own statements not counted),
 * leaving out those of the server's background work. The test's server must use this same `db`.
 */
export async function statementsOf(db: Database, work: () => Promise<unknown>): Promise<number> {
  const { query, run } = db;
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 100;
  let n = 0;
  const count = () => {
    if (!BACKGROUND_FRAMES.test(new Error().stack ?? '')) n++;
  };
  db.query = ((...args: Parameters<Database['query']>) => (count(), query.apply(db, args))) as Database['query'];
  db.run = ((...args: Parameters<Database['run']>) => (count(), run.apply(db, args))) as Database['run'];
  try {
    await work();
    return n;
  } finally {
    db.query = query;
    db.run = run;
    Error.stackTraceLimit = stackTraceLimit;
  }
}
