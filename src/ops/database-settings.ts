import type { Database } from '../db/client.js';

/**
 * PostgreSQL settings the registry depends on, checked at start: what is wrong is logged for the operators, the server
 * still starts. Autovacuum matters most: CRVS events, replay records, callbacks and subscriptions are updated or
 * deleted all day, and without it their tables and indexes bloat (measured here: CRVS deaths applied per second fell
 * from 384 to 210 within minutes of load on a server with autovacuum off).
 */
export async function databaseSettingWarnings(db: Pick<Database, 'kind' | 'query'>): Promise<string[]> {
  if (db.kind !== 'postgres') return [];
  const rows = await db.query<{ name: string; setting: string }>(`select name, setting from pg_settings where name in ('autovacuum', 'track_counts')`);
  const setting = new Map(rows.map((r) => [r.name, r.setting]));
  const warnings: string[] = [];
  if (setting.get('autovacuum') === 'off') {
    warnings.push('PostgreSQL autovacuum is off: the tables updated all day (CRVS events, callbacks, replay records, subscriptions) will bloat and slow down; turn it on or vacuum them on a schedule');
  }
  if (setting.get('track_counts') === 'off') {
    warnings.push('PostgreSQL track_counts is off: autovacuum cannot tell which tables need vacuuming');
  }
  return warnings;
}
