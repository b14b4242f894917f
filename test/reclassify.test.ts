/** Changing an identifier type's classification while several processes serve: every value ends up stored as the type now says. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { IdentifierVault, reconcileSealedIdentifiers } from '../src/registry/identifiers.js';
import { TEST_DATA_KEYS } from './support/data-keys.js';
import { openTestDatabase } from './support/server.js';

/** README: "Rows written in clear (by an older version, or before a type was restricted) are sealed at the next start." */
let db: Database;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(() => db?.close());

const insert = async (vault: IdentifierVault, value: string, individualId: number) => {
  const s = vault.stored('PASSPORT', value);
  await db.query('insert into identifiers (id_type, id_value, id_sealed, id_lookup, individual_id) values ($1, $2, $3, $4, $5)', ['PASSPORT', s.value, s.sealed, s.lookup, individualId]);
};

describe('a type restricted while several processes serve', () => {
  it('seals at the next start the values a process still running with the old classification wrote', async () => {
    await db.query(`insert into identifier_types (code, description, applies_to) values ('PASSPORT', 'Passport', 'person')`);
    const people = (await db.query<{ id: number }>('select id from individuals order by id limit 2')).map((r) => Number(r.id));
    // Process A started while PASSPORT was internal.
    const a = await IdentifierVault.load(db, TEST_DATA_KEYS);
    await reconcileSealedIdentifiers(db, a);
    // The operator restricts the type; process B (a replaced or newly started one) seals what is there.
    await db.query(`update identifier_types set classification = 'restricted' where code = 'PASSPORT'`);
    await insert(a, 'P1000001', people[0]);
    const b = await IdentifierVault.load(db, TEST_DATA_KEYS);
    expect(await reconcileSealedIdentifiers(db, b)).toBe(1);
    // A, still running, writes another passport number: in clear.
    await insert(a, 'P1000002', people[1]);
    // Every process restarts ("at the next start").
    const c = await IdentifierVault.load(db, TEST_DATA_KEYS);
    await reconcileSealedIdentifiers(db, c);
    const clear = await db.query<{ id_value: string }>(`select id_value from identifiers where id_type = 'PASSPORT' and id_value is not null`);
    expect(clear.map((r) => r.id_value)).toEqual([]);
    // And a search by it finds the person.
    const [found] = await db.query<{ n: number }>(`select count(*)::int as n from identifiers where id_type = 'PASSPORT' and id_lookup = $1`, [c.lookupKey('PASSPORT', 'P1000002')]);
    expect(found.n).toBe(1);
  });
});
