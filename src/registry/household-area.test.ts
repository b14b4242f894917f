import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/client.js';
import { openTestDatabase } from '../../test/support/server.js';

/**
 * `individuals.household_area_id` (migration 0022) follows every write to memberships and households, whatever makes
 * it: checked here with plain SQL, as any future write path would make it.
 */
let db: Database;
let areaA: number;
let areaB: number;

beforeAll(async () => {
  db = await openTestDatabase();
  [areaA, areaB] = (await db.query<{ id: string }>(`select id from areas where level = 'district' order by code limit 2`)).map((r) => Number(r.id));
});
afterAll(() => db?.close());

const newHousehold = async (areaId: number | null) =>
  Number((await db.query<{ id: string }>(`insert into groups (area_id) values ($1) returning id`, [areaId]))[0].id);
const newPerson = async () => Number((await db.query<{ id: string }>(`insert into individuals (sex) values ('female') returning id`))[0].id);
const areaOf = async (personId: number) => {
  const [row] = await db.query<{ a: string | null }>(`select household_area_id as a from individuals where id = $1`, [personId]);
  return row.a === null ? null : Number(row.a);
};

describe('a person carries their household area', () => {
  it('from joining a household, through its moves, to leaving it', async () => {
    const home = await newHousehold(areaA);
    const other = await newHousehold(areaB);
    const person = await newPerson();
    expect(await areaOf(person)).toBeNull();

    await db.query(`insert into memberships (group_id, individual_id, relationship_to_head) values ($1, $2, 'SELF')`, [home, person]);
    expect(await areaOf(person)).toBe(areaA);

    await db.query(`update groups set area_id = $2 where id = $1`, [home, areaB]);
    expect(await areaOf(person)).toBe(areaB);
    await db.query(`update groups set area_id = null where id = $1`, [home]);
    expect(await areaOf(person)).toBeNull();
    await db.query(`update groups set area_id = $2 where id = $1`, [home, areaA]);
    expect(await areaOf(person)).toBe(areaA);

    await db.query(`update memberships set group_id = $2 where individual_id = $1`, [person, other]);
    expect(await areaOf(person)).toBe(areaB);

    // Leaving: the membership ends (as a death does), then a new one starts elsewhere, then that one is deleted.
    await db.query(`update memberships set end_date = current_date where individual_id = $1`, [person]);
    expect(await areaOf(person)).toBeNull();
    await db.query(`insert into memberships (group_id, individual_id, relationship_to_head) values ($1, $2, 'SELF')`, [home, person]);
    expect(await areaOf(person)).toBe(areaA);
    await db.query(`delete from memberships where individual_id = $1 and end_date is null`, [person]);
    expect(await areaOf(person)).toBeNull();
  });

  it('for every person of a many-row write, and only for the households whose area changed', async () => {
    const [h1, h2] = [await newHousehold(areaA), await newHousehold(areaA)];
    const people = [await newPerson(), await newPerson(), await newPerson(), await newPerson()];
    await db.query(
      `insert into memberships (group_id, individual_id, relationship_to_head) select * from unnest($1::bigint[], $2::bigint[], $3::text[])`,
      [[h1, h1, h2, h2], people, ['SELF', 'SPOUSE', 'SELF', 'CHILD']],
    );
    expect(await Promise.all(people.map(areaOf))).toEqual([areaA, areaA, areaA, areaA]);

    // One statement over both households, moving only h2 (h1 keeps its area).
    await db.query(`update groups set area_id = case when id = $2 then $3::bigint else area_id end, last_updated = now() where id in ($1, $2)`, [h1, h2, areaB]);
    expect(await Promise.all(people.map(areaOf))).toEqual([areaA, areaA, areaB, areaB]);
  });

  it('a household without members moving touches no one, and other people keep theirs', async () => {
    const before = await db.query<{ n: string }>(`select count(*) as n from individuals where household_area_id = $1`, [areaB]);
    const empty = await newHousehold(areaA);
    await db.query(`update groups set area_id = $2 where id = $1`, [empty, areaB]);
    const after = await db.query<{ n: string }>(`select count(*) as n from individuals where household_area_id = $1`, [areaB]);
    expect(after[0].n).toBe(before[0].n);
    // The registry as a whole still agrees with its households.
    const [drift] = await db.query<{ n: string }>(`select count(*) as n from individuals i left join memberships m on m.individual_id = i.id and m.end_date is null
      left join groups g on g.id = m.group_id where i.household_area_id is distinct from g.area_id`);
    expect(Number(drift.n)).toBe(0);
  });
});

/**
 * A household moving while one of its memberships changes in another transaction: the membership's trigger takes the
 * household's row lock (FOR SHARE) before it reads the area, so the move waits for it, or it for the move, and the
 * person ends with the area of the household they are in. (On PGlite, one connection, the move simply runs after.)
 */
describe('a household moving while a membership changes in another transaction', () => {
  /** `first` in a transaction held open, `second` started meanwhile on another connection, then `first` commits. */
  const concurrently = async (first: (tx: Pick<Database, 'query'>) => Promise<unknown>, second: () => Promise<unknown>) => {
    let done!: () => void;
    const didFirst = new Promise<void>((resolve) => (done = resolve));
    let commit!: () => void;
    const mayCommit = new Promise<void>((resolve) => (commit = resolve));
    const holding = db.transaction(async (tx) => {
      await first(tx);
      done();
      await mayCommit;
    });
    await didFirst;
    const running = second();
    // Long enough for the second to run to its end when nothing holds it back.
    await new Promise((resolve) => setTimeout(resolve, 300));
    commit();
    await Promise.all([holding, running]);
  };

  it('joining: the person takes the area the household moved to', async () => {
    const [home, person] = [await newHousehold(areaA), await newPerson()];
    await concurrently(
      (tx) => tx.query(`insert into memberships (group_id, individual_id, relationship_to_head) values ($1, $2, 'SELF')`, [home, person]),
      () => db.query(`update groups set area_id = $2 where id = $1`, [home, areaB]),
    );
    expect(await areaOf(person)).toBe(areaB);
  });

  it('joining while the household moves: the person takes the area it moved to', async () => {
    const [home, person] = [await newHousehold(areaA), await newPerson()];
    await concurrently(
      (tx) => tx.query(`update groups set area_id = $2 where id = $1`, [home, areaB]),
      () => db.query(`insert into memberships (group_id, individual_id, relationship_to_head) values ($1, $2, 'SELF')`, [home, person]),
    );
    expect(await areaOf(person)).toBe(areaB);
  });

  it('leaving: the person keeps no area', async () => {
    const [home, person] = [await newHousehold(areaA), await newPerson()];
    await db.query(`insert into memberships (group_id, individual_id, relationship_to_head) values ($1, $2, 'SELF')`, [home, person]);
    await concurrently(
      (tx) => tx.query(`update memberships set end_date = current_date where individual_id = $1 and end_date is null`, [person]),
      () => db.query(`update groups set area_id = $2 where id = $1`, [home, areaB]),
    );
    expect(await areaOf(person)).toBeNull();
  });
});

