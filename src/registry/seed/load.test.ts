import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase, openDatabase, type Database } from '../../db/client.js';
import { AREA_ROWS, DISTRICTS, REGIONS } from './areas.js';
import { brnFor, countPeople, DEFAULT_REFERENCE_DATE, householdIdFor, uinFor } from './generate.js';
import { loadDemoDataIfEmpty, seedRegistry } from './load.js';
import { TEST_DATA_KEYS, testVault } from '../../../test/support/data-keys.js';

/**
 * Loads into a fresh in-memory PGlite database, or, when TEST_DATABASE_URL is set, into a new PostgreSQL database
 * created next to it and dropped afterwards.
 */
let db: Database;
let dropDatabase: (() => Promise<void>) | undefined;
let databaseName = '';

beforeAll(async () => {
  const base = process.env.TEST_DATABASE_URL;
  if (base) {
    const name = `seedtest_${randomBytes(6).toString('hex')}`;
    const admin = postgres(base, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const url = new URL(base);
    url.pathname = `/${name}`;
    databaseName = `/${name}`;
    db = await openDatabase({ databaseUrl: url.toString(), poolSize: 6 });
    dropDatabase = async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    };
  } else {
    db = await openDatabase({ memory: true });
  }
  await migrateDatabase(db);
});

afterAll(async () => {
  await db?.close();
  await dropDatabase?.();
});

/**
 * The database as `role` sees it: on PostgreSQL a pool logged in as the role, on PGlite (one session) the same handle
 * after SET ROLE, until close.
 */
async function asRole(role: string): Promise<{ db: Database; close: () => Promise<void> }> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) {
    // PGlite's COPY reads its rows from a virtual file, which needs this role.
    await db.query(`grant pg_read_server_files to ${role}`);
    await db.query(`set role ${role}`);
    return { db, close: async () => void (await db.query('reset role')) };
  }
  const url = new URL(base);
  url.username = role;
  url.pathname = databaseName;
  const limited = await openDatabase({ databaseUrl: url.toString(), poolSize: 4 });
  return { db: limited, close: () => limited.close() };
}

const one = async <T>(text: string, params: unknown[] = []) => (await db.query(text, params))[0] as T;
const count = async (text: string, params: unknown[] = []) => Number((await one<{ n: number }>(text, params)).n);

/** Registry invariants that must hold after any number of seeding runs. */
async function expectInvariants() {
  // Exactly one active head per group, and heads are SELF (non-heads are not).
  expect(await count(`select count(*) as n from groups g where (select count(*) from memberships m where m.group_id = g.id and m.end_date is null and m.is_head) <> 1`)).toBe(0);
  expect(await count(`select count(*) as n from memberships where is_head <> (relationship_to_head = 'SELF')`)).toBe(0);
  // group_size = active members.
  expect(await count(`select count(*) as n from groups g where g.group_size <> (select count(*) from memberships m where m.group_id = g.id and m.end_date is null)`)).toBe(0);
  // UIN for everyone 18+ (at the reference date), BRN for everyone under 18, HOUSEHOLD_ID for every group.
  const adult = `age(date '${DEFAULT_REFERENCE_DATE}', i.birth_date) >= interval '18 years'`;
  expect(await count(`select count(*) as n from individuals i where ${adult} and not exists (select 1 from identifiers x where x.individual_id = i.id and x.id_type = 'UIN')`)).toBe(0);
  expect(await count(`select count(*) as n from individuals i where not ${adult} and not exists (select 1 from identifiers x where x.individual_id = i.id and x.id_type = 'BRN')`)).toBe(0);
  expect(await count(`select count(*) as n from individuals i where not ${adult} and exists (select 1 from identifiers x where x.individual_id = i.id and x.id_type = 'UIN')`)).toBe(0);
  expect(await count(`select count(*) as n from groups g where (select count(*) from identifiers x where x.group_id = g.id and x.id_type = 'HOUSEHOLD_ID') <> 1`)).toBe(0);
  // Every person has exactly one membership; the deceased ones ended on the death date.
  expect(await count(`select count(*) as n from individuals i where (select count(*) from memberships m where m.individual_id = i.id) <> 1`)).toBe(0);
  expect(await count(`select count(*) as n from individuals i join memberships m on m.individual_id = i.id where m.end_date is distinct from i.death_date`)).toBe(0);
  // Every household is in a district; every region has districts.
  expect(await count(`select count(*) as n from groups g join areas a on a.id = g.area_id where a.level <> 'district'`)).toBe(0);
  expect(await count(`select count(*) as n from groups where area_id is null`)).toBe(0);
  expect(await count(`select count(*) as n from areas r where r.level = 'region' and not exists (select 1 from areas d where d.parent_id = r.id)`)).toBe(0);
  expect(await count(`select count(*) as n from groups where poverty_score is null or poverty_score < 0 or poverty_score > 100`)).toBe(0);
  // Each person carries their household's area (none for the deceased, whose memberships ended); living people have one.
  expect(await count(`select count(*) as n from individuals i left join memberships m on m.individual_id = i.id and m.end_date is null
    left join groups g on g.id = m.group_id where i.household_area_id is distinct from g.area_id`)).toBe(0);
  expect(await count(`select count(*) as n from individuals where death_date is null and household_area_id is null`)).toBe(0);
}

describe('seedRegistry / loadDemoDataIfEmpty', () => {
  const first = { households: 300, seed: 11 };
  let firstPeople = 0;

  it('loads demo data into an empty registry, with the areas and identifier types', async () => {
    const messages: string[] = [];
    const log = { info: (_: object, msg?: string) => void messages.push(msg ?? '') };
    expect(await loadDemoDataIfEmpty(db, { ...first, dataKeys: TEST_DATA_KEYS, log })).toBe(true);
    expect(messages).toEqual(['loading demo data', 'demo data seeded']);
    firstPeople = countPeople(first.seed, 0, first.households);
    expect(await count('select count(*) as n from groups')).toBe(300);
    expect(await count('select count(*) as n from individuals')).toBe(firstPeople);
    expect(await count('select count(*) as n from memberships')).toBe(firstPeople);
    expect(await count(`select count(*) as n from areas where level = 'region'`)).toBe(REGIONS.length);
    expect(await count(`select count(*) as n from areas where level = 'district'`)).toBe(DISTRICTS.length);
    expect(await count(`select count(*) as n from identifier_types where code in ('UIN', 'BRN', 'DRN', 'MRN', 'HOUSEHOLD_ID')`)).toBe(5);
    await expectInvariants();
  });

  it('is deterministic on an empty database: ids from 1, identifiers from ids, areas in code order', async () => {
    const areas = await db.query<{ id: number; code: string; path: string }>('select id, code, path from areas order by id');
    expect(areas.map((a) => a.code)).toEqual(AREA_ROWS.map((a) => a.code));
    expect(areas.map((a) => a.path)).toEqual(AREA_ROWS.map((a) => a.path));
    const range = await one<{ lo: number; hi: number }>('select min(id) as lo, max(id) as hi from individuals');
    expect([Number(range.lo), Number(range.hi)]).toEqual([1, firstPeople]);
    const sample = await db.query<{ id: number; id_type: string; id_value: string | null; sealed: string | null }>(
      `select coalesce(individual_id, group_id) as id, id_type, id_value, encode(id_sealed, 'base64') as sealed
       from identifiers where coalesce(individual_id, group_id) <= 20 order by 1, 2`,
    );
    const vault = testVault();
    for (const x of sample) {
      const id = Number(x.id);
      const [{ value }] = vault.openAll([{ type: x.id_type, value: x.id_value, sealed: x.sealed }]);
      if (x.id_type === 'UIN') expect(value).toBe(uinFor(id));
      if (x.id_type === 'BRN') expect(value).toBe(brnFor(id));
      if (x.id_type === 'HOUSEHOLD_ID') expect(value).toBe(householdIdFor(id));
    }
  });

  it('has widows, disabled people, deceased people and plausible shares', async () => {
    const stats = await one<Record<string, number>>(`
      select count(*) as people,
             count(*) filter (where marital_status = 'W') as widowed,
             count(*) filter (where is_disabled) as disabled,
             count(*) filter (where is_disabled and jsonb_array_length(disability_info) > 0) as disabled_with_info,
             count(*) filter (where death_date is not null) as deceased
      from individuals`);
    const n = Number(stats.people);
    expect(Number(stats.widowed)).toBeGreaterThan(0);
    expect(Number(stats.deceased)).toBeGreaterThan(0);
    expect(Number(stats.disabled_with_info)).toBe(Number(stats.disabled));
    expect(Number(stats.disabled) / n).toBeGreaterThan(0.02);
    expect(Number(stats.disabled) / n).toBeLessThan(0.1);
    const sizes = await db.query<{ size: number }>('select distinct group_size as size from groups order by 1');
    expect(sizes.length).toBeGreaterThanOrEqual(8);
  });

  it('does nothing when the registry is not empty', async () => {
    expect(await loadDemoDataIfEmpty(db, { households: 50, seed: 99, dataKeys: TEST_DATA_KEYS })).toBe(false);
    expect(await count('select count(*) as n from groups')).toBe(300);
  });

  it('adds another run with another seed without identifier collisions', async () => {
    const result = await seedRegistry(db, { households: 300, seed: 12, dataKeys: TEST_DATA_KEYS });
    expect(result.households).toBe(300);
    expect(result.people).toBe(countPeople(12, 0, 300));
    expect(result.rows).toBeGreaterThan(300 + 2 * result.people);
    expect(await count('select count(*) as n from groups')).toBe(600);
    expect(await count('select count(*) as n from individuals')).toBe(firstPeople + result.people);
    // Areas and identifier types were not duplicated.
    expect(await count('select count(*) as n from areas')).toBe(AREA_ROWS.length);
    await expectInvariants();
  });

  it('runs again with the same seed (same people, new ids and identifiers) next to concurrent inserts', async () => {
    const before = await count('select count(*) as n from individuals');
    let inserted = 0;
    let seeding = true;
    const writer = (async () => {
      while (seeding) {
        await db.query(`insert into individuals (given_name, surname, sex) values ('Concurrent', 'Writer', 'unknown')`);
        inserted++;
      }
    })();
    const result = await seedRegistry(db, { households: 300, seed: 11, batchHouseholds: 40, parallel: 3, dataKeys: TEST_DATA_KEYS });
    seeding = false;
    await writer;
    expect(result.people).toBe(firstPeople);
    expect(inserted).toBeGreaterThan(0);
    expect(await count('select count(*) as n from individuals')).toBe(before + result.people + inserted);
    expect(await count(`select count(*) as n from individuals where given_name = 'Concurrent'`)).toBe(inserted);
    await db.query(`delete from individuals where given_name = 'Concurrent'`);
    await expectInvariants();
    // Same people as the first run, under other ids.
    const names = await db.query<{ n: number }>(`
      select count(*) as n from individuals a join individuals b
        on a.id <= ${firstPeople} and b.id > ${firstPeople}
       and (a.given_name, a.surname, a.birth_date) = (b.given_name, b.surname, b.birth_date)`);
    expect(Number(names[0].n)).toBeGreaterThanOrEqual(firstPeople);
  });

  it('loads as a database user that may not skip the foreign-key checks (not a superuser)', async () => {
    const role = `seed_limited_${randomBytes(4).toString('hex')}`;
    await db.query(`create role ${role} login nosuperuser`);
    await db.query(`grant usage, create on schema public to ${role}`);
    await db.query(`grant select, insert, update, delete on all tables in schema public to ${role}`);
    await db.query(`grant usage, select, update on all sequences in schema public to ${role}`);
    const limited = await asRole(role);
    try {
      expect((await limited.db.query<{ su: string }>(`select current_setting('is_superuser') as su`))[0].su).toBe('off');
      const before = await count('select count(*) as n from individuals');
      const result = await seedRegistry(limited.db, { households: 60, seed: 21, batchHouseholds: 20, dataKeys: TEST_DATA_KEYS });
      expect(result.people).toBe(countPeople(21, 0, 60));
      expect(await count('select count(*) as n from individuals')).toBe(before + result.people);
    } finally {
      await limited.close();
      await db.query(`drop owned by ${role}`);
      await db.query(`drop role ${role}`);
    }
    await expectInvariants();
  });

  it('takes a failed round out again', async () => {
    const tables = ['groups', 'individuals', 'memberships', 'identifiers'];
    const counts = async () => Promise.all(tables.map((t) => count(`select count(*) as n from ${t}`)));
    // Someone already holds the HOUSEHOLD_ID the next seeded group will get: that round's identifiers COPY fails.
    const { last } = await one<{ last: number }>(`select last_value as last from groups_id_seq`);
    const holder = await one<{ id: number }>('select min(id) as id from groups');
    await db.query(`insert into identifiers (id_type, id_value, id_lookup, group_id) values ('HOUSEHOLD_ID', $1, $1, $2)`, [householdIdFor(Number(last) + 1), holder.id]);
    const before = await counts();
    await expect(seedRegistry(db, { households: 50, seed: 5, dataKeys: TEST_DATA_KEYS })).rejects.toThrow(/duplicate key|unique/i);
    expect(await counts()).toEqual(before);
    await db.query(`delete from identifiers where id_type = 'HOUSEHOLD_ID' and id_value = $1`, [householdIdFor(Number(last) + 1)]);
    await expectInvariants();
  });

  it('rejects bad options', async () => {
    await expect(seedRegistry(db, { households: -1, seed: 1, dataKeys: TEST_DATA_KEYS })).rejects.toThrow(/households/);
    await expect(seedRegistry(db, { households: 1.5, seed: 1, dataKeys: TEST_DATA_KEYS })).rejects.toThrow(/households/);
    await expect(seedRegistry(db, { households: 1, seed: 1, batchHouseholds: 0, dataKeys: TEST_DATA_KEYS })).rejects.toThrow(/batchHouseholds/);
  });
});
