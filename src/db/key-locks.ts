import type { Database } from './client.js';

/**
 * Takes a transaction-scoped advisory lock on each key, in one order (sorted) for every transaction, so that
 * transactions naming the same keys in other orders wait for each other instead of deadlocking. Released at commit
 * or rollback.
 */
export async function lockKeys(tx: Pick<Database, 'query'>, keys: Iterable<string>): Promise<void> {
  const sorted = [...new Set(keys)].sort();
  if (sorted.length === 0) return;
  await tx.query('select count(pg_advisory_xact_lock(hashtextextended(k, 0))) from (select k from unnest($1::text[]) as u(k) order by k) ordered', [sorted]);
}
