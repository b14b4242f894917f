import type { Database, Transaction } from '../../db/client.js';
import type { DataKeys } from '../data-keys.js';
import { IdentifierVault } from '../identifiers.js';
import { IDENTIFIER_TYPES } from '../vocabularies.js';
import { DEMO_PARTNER_ID } from '../../auth/partners.js';
import { AREA_ROWS } from './areas.js';
import { seedDisabilityRecords, seedProgrammes } from './programmes.js';
import {
  BatchGenerator,
  countPeople,
  DEFAULT_REFERENCE_DATE,
  GROUP_COLUMNS,
  IDENTIFIER_COLUMNS,
  idRange,
  INDIVIDUAL_COLUMNS,
  MEMBERSHIP_COLUMNS,
  type GeneratedBatch,
} from './generate.js';

export interface SeedOptions {
  households: number;
  seed: number;
  /** The keys restricted identifiers are sealed and indexed with: the serving instance's DATA_KEY. */
  dataKeys: DataKeys;
  /** Households generated and copied per round (default 5,000). */
  batchHouseholds?: number;
  /** Rounds loading at once, each on its own connection (default 2 on PostgreSQL, 1 on PGlite). */
  parallel?: number;
  /** Day ages and dates are relative to (`YYYY-MM-DD`, default `DEFAULT_REFERENCE_DATE`). */
  referenceDate?: string;
  /** The partner whose SP-MIS runs the demo programmes (default: the demo partner). */
  programmeOwner?: string;
}

export interface SeedResult {
  households: number;
  /** Individuals inserted (active members and deceased former members). */
  people: number;
  /** Rows inserted into all tables. */
  rows: number;
  /** Time to generate and COPY the households, people, memberships and identifiers. */
  ms: number;
  /** Demo enrolments and disability records derived from them afterwards (SQL), and the time that took. */
  enrolments: number;
  disabilityRecords: number;
  derivedMs: number;
}

/** The subset of a pino logger the loader uses. */
export interface SeedLogger {
  info(obj: object, msg?: string): void;
}

/**
 * Loads `households` generated households into the registry with COPY. Safe next to other writers and repeatable
 * into the same database: every row id is taken from its table's own sequence (`IdReserver`), so a concurrent insert
 * can never get one of them, and identifier values are derived from those ids. Areas and identifier types are added
 * when missing. Into an empty database the same (households, seed, batchHouseholds) always gives the same rows, ids and
 * identifiers, apart from the random `external_id` uuids: ids are taken round by round in order, whatever the
 * parallel loading does.
 *
 * Rounds are generated one after the other and loaded `parallel` at a time, each round's four COPYs in sequence on one
 * connection (groups, individuals, memberships, identifiers; a round's rows reference only its own, so concurrent
 * rounds never lock the same parent rows), in one transaction. A failed round leaves nothing; finished rounds stay.
 */
/** What the seeding writes through: the database, or an open transaction (`inTransaction`). */
export type SeedDatabase = Pick<Database, 'kind' | 'query' | 'transaction'>;

export async function seedRegistry(db: SeedDatabase, opts: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const { households, seed } = opts;
  const batchSize = opts.batchHouseholds ?? 5_000;
  const parallel = opts.parallel ?? (db.kind === 'postgres' ? 2 : 1);
  if (!Number.isInteger(households) || households < 0) throw new Error(`households must be a whole number >= 0, got ${households}`);
  if (!Number.isSafeInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchHouseholds must be a whole number >= 1, got ${batchSize}`);
  if (!Number.isInteger(parallel) || parallel < 1) throw new Error(`parallel must be a whole number >= 1, got ${parallel}`);

  const { areaIds, inserted: areaRows } = await ensureAreas(db);
  let rows = areaRows + (await ensureIdentifierTypes(db));
  const vault = await IdentifierVault.load(db, opts.dataKeys);
  let people = 0;
  const sequences = {
    groups: await serialSequence(db, 'groups'),
    individuals: await serialSequence(db, 'individuals'),
    memberships: await serialSequence(db, 'memberships'),
    identifiers: await serialSequence(db, 'identifiers'),
  };

  const reserver = new IdReserver(db);
  const triggers = new TriggerSkipping();
  const loading = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  try {
    for (let start = 0, count = 0; start < households && !failure; start += count) {
      count = roundSize(households - start, start === 0, batchSize);
      const size = countPeople(seed, start, count);
      const [groupIds, personIds, membershipIds] = await reserver.take([
        [sequences.groups, count],
        [sequences.individuals, size],
        [sequences.memberships, size],
      ]);
      const generator = new BatchGenerator({ seed, start, count, groupIds, personIds, membershipIds, areaIds, referenceDate: opts.referenceDate });
      // A few hundred households at a time, so the rounds already loading are not kept waiting on this thread.
      while (generator.step(200)) await new Promise((resolve) => setImmediate(resolve));
      const batch = generator.finish();
      const [identifierIds] = await reserver.take([[sequences.identifiers, batch.identifiers.count]]);
      const identifiers = batch.identifiers.copyChunks(identifierIds, vault);
      people += batch.people;
      rows += batch.groups.rows + batch.individuals.rows + batch.memberships.rows + identifiers.rows;

      while (loading.size >= parallel) await Promise.race(loading);
      const round = copyRound(db, batch, identifiers.chunks, triggers).catch((error: unknown) => {
        failure ??= { error };
      });
      loading.add(round);
      void round.finally(() => loading.delete(round));
    }
  } finally {
    // Also when generating or reserving failed: never return while rounds are still loading.
    await Promise.all(loading);
  }
  if (failure) throw failure.error;
  const ms = performance.now() - started;
  const referenceDate = opts.referenceDate ?? DEFAULT_REFERENCE_DATE;
  const enrolments = await seedProgrammes(db, { owner: opts.programmeOwner ?? DEMO_PARTNER_ID, referenceDate });
  const disabilityRecords = await seedDisabilityRecords(db, { referenceDate });
  return { households, people, rows: rows + enrolments + disabilityRecords, ms, enrolments, disabilityRecords, derivedMs: performance.now() - started - ms };
}

export interface DemoDataOptions {
  households: number;
  seed: number;
  dataKeys: DataKeys;
  log?: SeedLogger;
  referenceDate?: string;
}

/**
 * Seeds the demo registry when the `groups` table is empty; returns whether it did. The whole load is one transaction
 * (its rounds savepoints in it): a start that fails or is killed while loading leaves an empty registry, which the next
 * start loads again. Rounds committed one by one left part of it behind, which every later start took for a registry
 * and left as it was (without the programmes, seeded last). On PostgreSQL, concurrent callers (several servers starting
 * on one database) are serialised with a transaction-scoped advisory lock.
 */
export async function loadDemoDataIfEmpty(db: Database, opts: DemoDataOptions): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.query('select pg_advisory_xact_lock($1)', [DEMO_LOCK_KEY]);
    const [{ empty }] = await tx.query<{ empty: boolean }>('select not exists (select 1 from groups) as empty');
    if (!empty) return false;
    opts.log?.info({ households: opts.households, seed: opts.seed }, 'loading demo data');
    const result = await seedRegistry(inTransaction(db.kind, tx), {
      households: opts.households,
      seed: opts.seed,
      dataKeys: opts.dataKeys,
      referenceDate: opts.referenceDate,
      parallel: 1,
    });
    opts.log?.info({ ...result, ms: Math.round(result.ms) }, 'demo data seeded');
    return true;
  });
}

/**
 * The open transaction `tx` as the database seedRegistry writes to: each transaction of its own becomes a savepoint of
 * `tx`, one after the other (the next round's ids are reserved while a round loads, and a transaction's statements
 * must not interleave with another's).
 */
function inTransaction(kind: Database['kind'], tx: Transaction): SeedDatabase {
  let savepoints = 0;
  let previous: Promise<unknown> = Promise.resolve();
  return {
    kind,
    query: tx.query,
    transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
      const run = previous.then(async () => {
        const name = `seed_${++savepoints}`;
        await tx.query(`savepoint ${name}`);
        try {
          const result = await fn(tx);
          await tx.query(`release savepoint ${name}`);
          return result;
        } catch (e) {
          await tx.query(`rollback to savepoint ${name}`).catch(() => {});
          throw e;
        }
      });
      previous = run.catch(() => {});
      return run;
    },
  };
}

const DEMO_LOCK_KEY = 727_275;

/**
 * Households in the next round: `batchSize`, but a small first round (the server idles until it is generated) and
 * shrinking last rounds, so parallel rounds finish close together instead of one connection working alone at the
 * end. Depends on nothing else, so runs with the same (households, batchHouseholds) split the same way.
 */
function roundSize(remaining: number, first: boolean, batchSize: number): number {
  return Math.min(remaining, batchSize, first ? 500 : Math.max(1000, Math.ceil(remaining / 4)));
}

/** A round's four COPYs in one transaction: a failed round leaves no half household behind. */
async function copyRound(db: SeedDatabase, batch: GeneratedBatch, identifierChunks: string[], triggers: TriggerSkipping): Promise<void> {
  await db.transaction(async (tx) => {
    const skipping = await triggers.skipIn(tx);
    await tx.copyIn('groups', GROUP_COLUMNS, batch.groups.chunks);
    await tx.copyIn('individuals', INDIVIDUAL_COLUMNS, batch.individuals.chunks);
    await tx.copyIn('memberships', MEMBERSHIP_COLUMNS, batch.memberships.chunks);
    await tx.copyIn('identifiers', IDENTIFIER_COLUMNS, identifierChunks);
    // A round of the demo load is a savepoint, after which SET LOCAL would hold until the whole load commits.
    if (skipping) await tx.query('set local session_replication_role = origin');
  });
}

/**
 * Skips the foreign-key checks of a round's COPYs where the database user may (`session_replication_role = replica`,
 * as pg_restore --disable-triggers does), for checks that cannot fail: a round's rows reference only each other (their
 * ids reserved above) and the areas ensured before the first round, which nothing in this server deletes. The one
 * registry trigger it also skips keeps `individuals.household_area_id` (migration 0022), which the generated rows carry
 * already. Seeding 80,000 households, three runs each: 20,400-21,000 people/s
 * with the checks, 21,600-30,800 without. Only superusers, or users granted SET on the parameter, may change it: for
 * others the first round finds out (in a savepoint) and the rounds run with the checks.
 */
class TriggerSkipping {
  private allowed = true;

  /** Whether the checks are off in `tx` from now on. */
  async skipIn(tx: Transaction): Promise<boolean> {
    if (!this.allowed) return false;
    await tx.query('savepoint skip_triggers');
    try {
      await tx.query('set local session_replication_role = replica');
      await tx.query('release savepoint skip_triggers');
      return true;
    } catch {
      this.allowed = false;
      await tx.query('rollback to savepoint skip_triggers');
      return false;
    }
  }
}

async function serialSequence(db: SeedDatabase, table: string): Promise<string> {
  const [row] = await db.query<{ seq: string | null }>(`select pg_get_serial_sequence($1, 'id') as seq`, [table]);
  if (!row?.seq) throw new Error(`table ${table} has no serial id`);
  return row.seq;
}

/**
 * Takes ids from the tables' sequences for one round: for each (sequence, n), n ids that no other session can ever be
 * handed, whatever runs concurrently.
 *
 * Fast way: in one transaction, a no-op `ALTER SEQUENCE` (which holds a lock that makes every other nextval on that
 * sequence wait until commit), then nextval and setval: a block of n consecutive ids in one step. It needs to own the
 * sequences and an increment of 1; otherwise (or if it fails) the ids are drawn one by one with nextval, which is
 * always safe but costs the server about a microsecond per id.
 */
class IdReserver {
  private fast = true;

  constructor(private readonly db: SeedDatabase) {}

  async take(wanted: [sequence: string, n: number][]): Promise<Float64Array[]> {
    if (this.fast) {
      try {
        return await this.takeBlocks(wanted);
      } catch {
        this.fast = false;
      }
    }
    return this.takeEach(wanted);
  }

  private async takeBlocks(wanted: [sequence: string, n: number][]): Promise<Float64Array[]> {
    const firsts = await this.db.transaction(async (tx) => {
      const out: number[] = [];
      for (const [sequence, n] of wanted) {
        if (n === 0) {
          out.push(0);
          continue;
        }
        const [seq] = await tx.query<{ increment: number }>('select seqincrement::int as increment from pg_sequence where seqrelid = $1::regclass', [sequence]);
        if (seq?.increment !== 1) throw new Error(`sequence ${sequence} does not count in ones`);
        await tx.query(`alter sequence ${sequence} increment by 1`);
        const [row] = await tx.query<{ first: number }>('select nextval($1::regclass)::int8 as first', [sequence]);
        const first = Number(row.first);
        await tx.query('select setval($1::regclass, $2::int8)', [sequence, first + n - 1]);
        out.push(first);
      }
      return out;
    });
    return wanted.map(([, n], k) => idRange(firsts[k], n));
  }

  private async takeEach(wanted: [sequence: string, n: number][]): Promise<Float64Array[]> {
    const take = (k: number) =>
      `(select string_agg(id::text, ',' order by id) from (select nextval($${2 * k + 1}::regclass) as id from generate_series(1, $${2 * k + 2}::int)) s) as ids${k}`;
    const [row] = await this.db.query<Record<string, string | null>>(`select ${wanted.map((_, k) => take(k)).join(', ')}`, wanted.flat());
    return wanted.map(([sequence, n], k) => {
      const text = row[`ids${k}`];
      const ids = text ? Float64Array.from(text.split(','), Number) : new Float64Array(0);
      if (ids.length !== n) throw new Error(`took ${ids.length} ids from ${sequence}, wanted ${n}`);
      return ids;
    });
  }
}

/** Inserts missing regions, then missing districts; returns the area id of every demo area code. */
async function ensureAreas(db: SeedDatabase): Promise<{ areaIds: Map<string, number>; inserted: number }> {
  let inserted = 0;
  for (const level of ['region', 'district'] as const) {
    const rows = AREA_ROWS.filter((a) => a.level === level).map((a) => ({ code: a.code, name: a.name, level: a.level, parent_code: a.parentCode, path: a.path }));
    const added = await db.query(
      `insert into areas (code, name, level, parent_id, path)
       select v.code, v.name, v.level, p.id, v.path
       from json_to_recordset($1::json) as v(code text, name text, level text, parent_code text, path text)
       left join areas p on p.code = v.parent_code
       order by v.code
       on conflict (code) do nothing
       returning id`,
      [JSON.stringify(rows)],
    );
    inserted += added.length;
  }
  const found = await db.query<{ id: number; code: string }>(`select id, code from areas where code = any(string_to_array($1, ','))`, [
    AREA_ROWS.map((a) => a.code).join(','),
  ]);
  return { areaIds: new Map(found.map((r) => [r.code, Number(r.id)])), inserted };
}

async function ensureIdentifierTypes(db: SeedDatabase): Promise<number> {
  const added = await db.query(
    `insert into identifier_types (code, description, applies_to, classification)
     select v.code, v.description, v.applies_to, v.classification
     from json_to_recordset($1::json) as v(code text, description text, applies_to text, classification text)
     on conflict (code) do nothing
     returning code`,
    [JSON.stringify(IDENTIFIER_TYPES.map((t) => ({ code: t.code, description: t.description, applies_to: t.appliesTo, classification: t.classification })))],
  );
  return added.length;
}
