import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

type Row = Record<string, unknown>;

/** PostgreSQL deadlock_detected or serialization_failure: the transaction lost a race with another and may run again. */
export function isTransactionConflict(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/**
 * The one database handle above the driver. `drizzle` is for ordinary CRUD; `query` runs SQL text (ours, or a
 * drizzle `sql` fragment) as a server-side prepared statement on PostgreSQL: hot paths build their text once, or
 * through the query compiler, and skip the query builder's per-call cost.
 */
export interface TransactionOptions {
  /**
   * Run the transaction's statements on their generic cached plans (plan_cache_mode = force_generic_plan). For short
   * write transactions whose statements take arrays (unnest of parameters, data-modifying CTEs): their custom plans,
   * which know the arrays' lengths, always look cheaper to PostgreSQL than the generic one, so it plans them afresh at
   * every execution. Planning the death's lookup-and-lock statement cost 2.9 ms here, executing it 0.6 ms. (PGlite
   * keeps no plans between statements: nothing to do there.)
   */
  genericPlans?: boolean;
}

export interface QueryOptions {
  /**
   * Plan the statement afresh at each execution (PostgreSQL's unnamed statement: a custom plan for these parameters
   * and the tables' current size) instead of reusing a cached plan. For the async queue's statements, run once a
   * round over tables that grow from empty: PostgreSQL switched their prepared statements to a generic plan while the
   * tables were empty, and without a new ANALYZE (autovacuum off) kept its sequential scans as they grew (25-570 ms a
   * claim under a 40,000-request backlog, against 8-15 ms planned afresh). (PGlite keeps no plans: nothing to do there.)
   */
  replan?: boolean;
}

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly drizzle: ReturnType<typeof drizzlePglite> | ReturnType<typeof drizzlePostgres>;
  query<T extends object = Row>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<T[]>;
  run<T extends object = Row>(fragment: SQL, options?: QueryOptions): Promise<T[]>;
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs `fn` while holding a PostgreSQL session advisory lock on a connection of its own (PGlite: just runs it). */
  withSessionLock<T>(key: number, fn: () => Promise<T>): Promise<T>;
  /**
   * Takes the advisory lock (classId, objId) for as long as this handle lives, on a connection of its own; undefined
   * when another session holds it. The release function gives it back.
   */
  tryHoldAdvisoryLock(classId: number, objId: number): Promise<(() => Promise<void>) | undefined>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** PGlite only: the whole database as a tarball, to start copies from (test templates). */
  dumpDataDir?(): Promise<Blob>;
}

/** What runs inside `Database.transaction`: statements and COPYs on the transaction's connection. */
export interface Transaction extends Pick<Database, 'query' | 'run'> {
  /** Bulk load with COPY ... FROM STDIN (text format). `rows` are already-escaped COPY lines, each ending in \n. */
  copyIn(table: string, columns: readonly string[], rows: Iterable<string>): Promise<void>;
}

const dialect = new PgDialect();
export function renderSql(fragment: SQL): { text: string; params: unknown[] } {
  const q = dialect.sqlToQuery(fragment);
  return { text: q.sql, params: q.params };
}

type TextQuery = <T extends object>(text: string, params?: readonly unknown[], options?: QueryOptions) => Promise<T[]>;

/** `run` over a driver's text query: the drizzle fragment rendered to text and parameters. */
const runVia =
  (query: TextQuery) =>
  <T extends object>(fragment: SQL, options?: QueryOptions): Promise<T[]> => {
    const { text, params } = renderSql(fragment);
    return query<T>(text, params, options);
  };

const copyStatement = (table: string, columns: readonly string[], source: string) =>
  `COPY "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) FROM ${source}`;

/**
 * Statements on the pool or on a transaction's reserved connection: prepared (plans cached) unless `replan`. `simple:
 * false` because postgres.js sends a statement without parameters as a simple query, which PostgreSQL plans at every
 * execution: the notify fan-out's cursor and due-batch statements, run twice a second, were planned 808 times in 808
 * calls in the test suite.
 */
const textQuery =
  (sql: postgres.Sql): TextQuery =>
  async <T extends object>(text: string, params: readonly unknown[] = [], options?: QueryOptions) =>
    (await sql.unsafe(text, params as any[], options?.replan ? REPLANNED : PREPARED)) as unknown as T[];

// `simple` is a postgres.js 3.4.9 option of unsafe() that its type declarations leave out.
const PREPARED = { prepare: true, simple: false } as postgres.UnsafeQueryOptions;
const REPLANNED = { prepare: false, simple: false } as postgres.UnsafeQueryOptions;

/** COPY ... FROM STDIN on a transaction's reserved connection. */
async function copyInto(sql: postgres.Sql, table: string, columns: readonly string[], rows: Iterable<string>): Promise<void> {
  const query = sql.unsafe(copyStatement(table, columns, 'STDIN')) as unknown as { reject: (e: Error) => void; writable(): Promise<Writable> };
  // postgres.js 3.4.9 drops an error the server sends after the last row (porsager/postgres#1173): the stream then
  // never finishes. Catch the error where the driver reports it, so a rejected COPY rejects instead of hanging.
  const failure = new Promise<never>((_, reject) => {
    const driverReject = query.reject.bind(query);
    query.reject = (e) => {
      reject(e);
      driverReject(e);
    };
  });
  failure.catch(() => {});
  const stream = await query.writable();
  const finished = new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('finish', resolve);
    let buf = '';
    const write = async () => {
      for (const line of rows) {
        buf += line;
        if (buf.length > 1 << 20) {
          if (!stream.write(buf)) await Promise.race([new Promise((r) => stream.once('drain', r)), failure]);
          buf = '';
        }
      }
      stream.end(buf);
    };
    write().catch(reject);
  });
  await Promise.race([finished, failure]);
}

export interface OpenOptions {
  databaseUrl?: string;
  dataDir?: string;
  poolSize?: number;
  /** PostgreSQL: longest a statement may run before the server cancels it (0 = no limit). */
  statementTimeoutMs?: number;
  /** Create the embedded database in memory (tests); ignored for PostgreSQL. */
  memory?: boolean;
  /** Start the embedded database from a tarball made by `dumpDataDir` (tests start from a migrated template). */
  loadDataDir?: Blob;
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts.poolSize ?? 10, opts.statementTimeoutMs ?? 0) : openPglite(opts);
}

function openPostgres(url: string, max: number, statementTimeoutMs: number): Database {
  const sql = postgres(url, {
    max,
    onnotice: () => {},
    connection: statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {},
    types: {
      // Dates stay strings (yyyy-mm-dd): no timezone shifts for birth dates.
      date: { to: 1082, from: [1082], serialize: (v: string) => v, parse: (v: string) => v },
      // Row ids and counts fit in a double; PGlite returns numbers too, so both drivers agree.
      bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
    },
  });
  const db = drizzlePostgres(sql);
  const query = textQuery(sql);
  return {
    kind: 'postgres',
    drizzle: db,
    query,
    run: runVia(query),
    async transaction(fn, options) {
      // BEGIN is not waited for: postgres.js pipelines what is queued on a connection, so it leaves in the same write
      // as the transaction's first statement: every transaction saves a round trip (a wake-up of both processes).
      const conn = await sql.reserve();
      try {
        const begun = (options?.genericPlans ? conn.unsafe('begin; set local plan_cache_mode = force_generic_plan') : conn.unsafe('begin')).execute() as unknown as Promise<unknown>;
        begun.catch(() => {});
        const q = textQuery(conn);
        const result = await fn({ query: q, run: runVia(q), copyIn: (table, columns, rows) => copyInto(conn, table, columns, rows) });
        await begun;
        await conn.unsafe('commit');
        return result;
      } catch (e) {
        await conn.unsafe('rollback').catch(() => {});
        throw e;
      } finally {
        conn.release();
      }
    },
    async withSessionLock(key, fn) {
      // Lock and unlock must run on one connection: a pooled query could unlock on another and leave it held.
      const conn = await sql.reserve();
      try {
        await conn`select pg_advisory_lock(${key})`;
        try {
          return await fn();
        } finally {
          await conn`select pg_advisory_unlock(${key})`;
        }
      } finally {
        conn.release();
      }
    },
    async tryHoldAdvisoryLock(classId, objId) {
      // A client of its own, not a pool connection: the lock is held for the process's life, and a pool of 2 (the
      // smallest allowed) had one connection left for everything else, and none at all for the demo data's seeding
      // next to its lock's transaction: the first start hung. No lifetime limit, which would close it and drop the lock.
      // A session lost anyway (a PostgreSQL restart, pg_terminate_backend) loses the lock with it: it is taken again on
      // a new session, since without it every lease of this process's workers would look stale to every claim.
      let holding = false;
      let retaking = false;
      const take = async () => (await own<{ locked: boolean }[]>`select pg_try_advisory_lock(${classId}::int, ${objId}::int) as locked`)[0].locked;
      const retake = async () => {
        // One loop at a time: each failed connection attempt closes too.
        if (retaking) return;
        retaking = true;
        try {
          for (let attempt = 0; holding; attempt++) {
            try {
              if (await take()) return;
            } catch {
              // PostgreSQL not back yet: try again.
            }
            // Unreferenced: a process shutting down during an outage does not wait out the pause.
            await sleep(Math.min(100 * 2 ** attempt, 5_000), undefined, { ref: false });
          }
        } finally {
          retaking = false;
        }
      };
      const own = postgres(url, {
        max: 1,
        onnotice: () => {},
        idle_timeout: undefined,
        max_lifetime: null,
        fetch_types: false,
        onclose: () => {
          if (holding) void retake();
        },
      });
      try {
        holding = await take();
      } finally {
        if (!holding) await own.end({ timeout: 5 });
      }
      if (!holding) return undefined;
      return async () => {
        holding = false;
        await own`select pg_advisory_unlock(${classId}::int, ${objId}::int)`.catch(() => {});
        await own.end({ timeout: 5 });
      };
    },
    async ping() {
      await sql`select 1`;
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}

/** The lock files of the embedded databases this process has open, removed when it exits. */
const heldDataDirLocks = new Set<string>();
process.once('exit', () => {
  for (const file of heldDataDirLocks) rmSync(file, { force: true });
});

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Locks an embedded database's directory for this process; returns the release. PGlite is one process's database: a
 * second one on the same files (`npm run seed` while `npm start` serves, or a second `npm start`) saw a mix of old and
 * new pages and left files neither could open again. The lock file names its process; one whose process is gone
 * (killed) is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const file = resolve(`${dataDir}.lock`);
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(readFileSync(file, 'utf8').trim());
      // Our own pid: this process, or an earlier one with the same pid (a restarted container) that left it behind.
      if (heldDataDirLocks.has(file) || (holder !== process.pid && isRunning(holder))) {
        throw new Error(
          `the embedded database ${dataDir} is open in process ${holder === process.pid ? 'this' : holder} (a server, or npm run seed): stop it first or use another DATA_DIR (if no such process runs, delete ${file})`,
        );
      }
      rmSync(file, { force: true });
    }
  }
  heldDataDirLocks.add(file);
  return () => {
    heldDataDirLocks.delete(file);
    rmSync(file, { force: true });
  };
}

async function openPglite(opts: OpenOptions): Promise<Database> {
  let dataDir: string | undefined;
  let unlock = () => {};
  if (!opts.memory) {
    dataDir = `${opts.dataDir ?? './data'}/pglite`;
    mkdirSync(dataDir, { recursive: true });
    unlock = lockDataDir(dataDir);
  }
  let pg: PGlite;
  try {
    pg = await PGlite.create(dataDir, { loadDataDir: opts.loadDataDir });
  } catch (e) {
    unlock();
    throw e;
  }
  // Parse DATE as string, as on PostgreSQL.
  const parsers = { 1082: (v: string) => v };
  const db = drizzlePglite(pg);
  const query = async <T extends object>(text: string, params: readonly unknown[] = []) =>
    (await pg.query<T>(text, params as any[], { parsers })).rows;
  return {
    kind: 'pglite',
    drizzle: db,
    query,
    run: runVia(query),
    async transaction(fn) {
      return pg.transaction(async (tx) => {
        const q = async <T extends object>(text: string, params: readonly unknown[] = []) =>
          (await tx.query<T>(text, params as any[], { parsers })).rows;
        // PGlite's COPY reads the rows from a virtual file.
        const copyIn = async (table: string, columns: readonly string[], rows: Iterable<string>) => {
          await tx.query(copyStatement(table, columns, `'/dev/blob'`), [], { blob: new Blob([...rows]) });
        };
        return fn({ query: q, run: runVia(q), copyIn });
      });
    },
    withSessionLock: (_key, fn) => fn(),
    async tryHoldAdvisoryLock(classId, objId) {
      const [{ locked }] = (await pg.query<{ locked: boolean }>('select pg_try_advisory_lock($1::int, $2::int) as locked', [classId, objId])).rows;
      if (!locked) return undefined;
      return async () => {
        await pg.query('select pg_advisory_unlock($1::int, $2::int)', [classId, objId]).catch(() => {});
      };
    },
    async ping() {
      await pg.query('select 1');
    },
    async dumpDataDir() {
      return (await pg.dumpDataDir('none')) as Blob;
    },
    async close() {
      try {
        await pg.close();
      } finally {
        unlock();
      }
    },
  };
}

/** Several processes may start at once against one database: their migrations run one after another. */
const MIGRATION_LOCK = 727274;

export async function migrateDatabase(db: Database): Promise<void> {
  if (db.kind === 'postgres') {
    await db.withSessionLock(MIGRATION_LOCK, () =>
      migratePostgres(db.drizzle as ReturnType<typeof drizzlePostgres>, { migrationsFolder: MIGRATIONS_DIR }),
    );
  } else {
    await migratePglite(db.drizzle as ReturnType<typeof drizzlePglite>, { migrationsFolder: MIGRATIONS_DIR });
  }
}
