import type { Database } from './client.js';

/** A table whose settled rows are deleted once older than the retention (ASYNC_RETENTION_DAYS). */
export interface SettledRows {
  table: string;
  /** The row's age: a timestamp column in insert order, with a BRIN index (`brinIndex`) over it. */
  ageColumn: string;
  brinIndex: string;
  /** SQL condition on the row: nothing will change it any more (pending work is never deleted). */
  settled: string;
}

/** Rows per statement, and statements per run: a minute of 2,000 requests/s fits in one run. */
const SLICE_ROWS = 5_000;
const MAX_SLICES = 40;

/**
 * Deletes `rows.table`'s settled rows older than `days`, a slice at a time (one short statement each, rows that
 * reference them going by their foreign keys' cascade); returns how many were deleted.
 */
export async function deleteSettledRows(db: Pick<Database, 'query'>, rows: SettledRows, days: number): Promise<number> {
  // Summarises the pages added since the last run, so that the BRIN index skips them (autovacuum also does, when on).
  await db.query(`select brin_summarize_new_values('${rows.brinIndex}'::regclass)`);
  let deleted = 0;
  for (let slice = 0; slice < MAX_SLICES; slice++) {
    const [row] = await db.query<{ n: number }>(
      `with gone as (
         delete from ${rows.table} where id = any(array(
           select id from ${rows.table} where ${rows.ageColumn} < now() - $1 * interval '1 day' and ${rows.settled} limit $2))
         returning 1)
       select count(*)::int as n from gone`,
      [days, SLICE_ROWS],
    );
    deleted += Number(row.n);
    if (Number(row.n) < SLICE_ROWS) break;
  }
  return deleted;
}
