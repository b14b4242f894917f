import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/client.js';
import { IdentifierVault } from './identifiers.js';
import { resolveSubjects, type SubjectRef } from './subjects.js';
import { openTestDatabase } from '../../test/support/server.js';
import { clearValue, idColumns, TEST_DATA_KEYS } from '../../test/support/data-keys.js';
import { sessionPlans } from '../../test/support/plans.js';

/** Subjects of IBR and DR calls found in the test registry; on PostgreSQL over one connection (see sessionPlans). */
let db: Database;
let vault: IdentifierVault;
let people: { id: number; externalId: string; uin: string }[];
let household: { id: number; externalId: string; householdId: string };

beforeAll(async () => {
  db = await openTestDatabase(1);
  vault = await IdentifierVault.load(db, TEST_DATA_KEYS);
  const rows = await db.query<Record<string, unknown>>(
    `select i.id, i.external_id, ${idColumns()} from identifiers x join individuals i on i.id = x.individual_id where x.id_type = 'UIN' order by i.id limit 10`,
  );
  people = rows.map((r) => ({ id: Number(r.id), externalId: r.external_id as string, uin: clearValue(r) }));
  const [g] = await db.query<Record<string, unknown>>(
    `select g.id, g.external_id, ${idColumns()} from identifiers x join groups g on g.id = x.group_id where x.id_type = 'HOUSEHOLD_ID' order by g.id limit 1`,
  );
  household = { id: Number(g.id), externalId: g.external_id as string, householdId: clearValue(g) };
});

afterAll(() => db?.close());

const byUin = (value: string): SubjectRef => ({ owner: 'individual', idTypes: ['UIN'], value });

describe('resolveSubjects', () => {
  it('finds each subject at its own position: typed, untyped (any type of its owner), a household, an unknown', async () => {
    const [a, b] = people;
    const untyped: SubjectRef = { owner: 'individual', idTypes: vault.typesOf('individual'), value: b.uin };
    expect(untyped.idTypes.length).toBeGreaterThan(1);
    const found = await resolveSubjects(db, vault, [
      byUin(a.uin),
      untyped,
      { owner: 'group', idTypes: ['HOUSEHOLD_ID'], value: household.householdId },
      byUin('0000000000'),
    ]);
    expect(found).toEqual([
      { individualId: a.id, externalId: a.externalId },
      { individualId: b.id, externalId: b.externalId },
      { groupId: household.id, externalId: household.externalId },
      { unknown: 'no person in this registry has that UIN' },
    ]);
  });

  it('keeps one cached plan on PostgreSQL instead of planning every lookup (migration 0021)', async () => {
    for (const p of people) expect(await resolveSubjects(db, vault, [byUin(p.uin)])).toEqual([{ individualId: p.id, externalId: p.externalId }]);
    if (db.kind !== 'postgres') return;
    const [plans, ...others] = await sessionPlans(db, 'identifier_keys(');
    expect(others).toEqual([]);
    expect(plans.custom).toBeLessThanOrEqual(5);
    expect(plans.generic).toBeGreaterThanOrEqual(people.length - 5);
  });
});
