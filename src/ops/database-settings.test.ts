import { describe, expect, it } from 'vitest';
import { databaseSettingWarnings } from './database-settings.js';

const postgresWith = (settings: Record<string, string>) => ({
  kind: 'postgres' as const,
  query: async <T extends object>() => Object.entries(settings).map(([name, setting]) => ({ name, setting })) as unknown as T[],
});

describe('databaseSettingWarnings', () => {
  it('warns when PostgreSQL runs without autovacuum or without the counts it needs', async () => {
    const warnings = await databaseSettingWarnings(postgresWith({ autovacuum: 'off', track_counts: 'off' }));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/autovacuum is off/);
    expect(warnings[1]).toMatch(/track_counts is off/);
  });

  it('says nothing when both are on, and does not ask the embedded database', async () => {
    expect(await databaseSettingWarnings(postgresWith({ autovacuum: 'on', track_counts: 'on' }))).toEqual([]);
    const pglite = { kind: 'pglite' as const, query: async () => { throw new Error('not asked'); } };
    expect(await databaseSettingWarnings(pglite)).toEqual([]);
  });
});
