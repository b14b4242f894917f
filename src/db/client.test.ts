import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../test/support/server.js';
import { sessionPlans } from '../../test/support/plans.js';
import { type Database, openDatabase } from './client.js';

/** `replan` on PostgreSQL (TEST_DATABASE_URL set) and on the embedded PGlite, where it changes nothing. */
describe('Database.query with replan', () => {
  let db: Database;
  beforeAll(async () => {
    const url = process.env.TEST_DATABASE_URL;
    // One connection: the statements below and the look at its prepared statements share a session.
    db = url ? await openDatabase({ databaseUrl: url, poolSize: 1 }) : await openDatabase({ memory: true });
  });
  afterAll(() => db.close());

  const statement = (tag: string) => `select n * $1::int as doubled, '${tag}' as tag from generate_series(1, 3) as g(n) order by n`;
  const prepared = async (tag: string) => (await sessionPlans(db, `'${tag}' as tag`)).length;

  it('answers as a prepared statement does, and leaves no prepared statement behind on PostgreSQL', async () => {
    const tag = `t${Date.now()}`;
    const again = await db.query<{ doubled: number }>(statement(`${tag}r`), [2], { replan: true });
    const cached = await db.query<{ doubled: number }>(statement(`${tag}p`), [2]);
    expect(again.map((r) => r.doubled)).toEqual([2, 4, 6]);
    expect(cached.map((r) => r.doubled)).toEqual([2, 4, 6]);
    if (db.kind === 'postgres') {
      expect(await prepared(`${tag}r`)).toBe(0);
      expect(await prepared(`${tag}p`)).toBe(1);
    }
  });

  it('prepares a statement without parameters too, where postgres.js would send it as a simple query', async () => {
    const tag = `s${Date.now()}`;
    for (let k = 0; k < 3; k++) expect(await db.query<{ tag: string }>(`select '${tag}' as tag`)).toEqual([{ tag }]);
    if (db.kind === 'postgres') {
      const [plans] = await sessionPlans(db, `select '${tag}' as tag`);
      // One plan, made once and used for all three executions; a simple query leaves no prepared statement.
      expect(plans).toEqual({ generic: 3, custom: 0 });
    }
  });

  it('plans afresh inside a transaction too', async () => {
    const tag = `x${Date.now()}`;
    const rows = await db.transaction((tx) => tx.query<{ doubled: number }>(statement(tag), [5], { replan: true }));
    expect(rows.map((r) => r.doubled)).toEqual([5, 10, 15]);
    if (db.kind === 'postgres') expect(await prepared(tag)).toBe(0);
  });
});

describe('Database.tryHoldAdvisoryLock', () => {
  it('takes the lock again when its connection is lost, and gives it back on release (PostgreSQL)', async () => {
    const db = await openTestDatabase(2);
    try {
      const release = await db.tryHoldAdvisoryLock(0x7e57, 42);
      expect(release).toBeTypeOf('function');
      const holder = async () =>
        (await db.query<{ pid: number }>(`select pid from pg_locks where locktype = 'advisory' and classid = 32343 and objid = 42 and objsubid = 2 and granted`))[0]?.pid;
      if (db.kind === 'postgres') {
        // A PostgreSQL restart or an administrator's pg_terminate_backend: the session goes, and its lock with it.
        const first = await holder();
        expect(first).toBeTypeOf('number');
        await db.query('select pg_terminate_backend($1)', [first]);
        let again: number | undefined;
        for (let k = 0; k < 100 && !again; k++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          again = await holder();
        }
        expect(again).toBeTypeOf('number');
        expect(again).not.toBe(first);
      }
      await release!();
      if (db.kind === 'postgres') expect(await holder()).toBeUndefined();
    } finally {
      await db.close();
    }
  });
});

describe('the async queue tables', () => {
  it("leave half of each page free for their rows' next versions (migrations 0019, 0020)", async () => {
    const migrated = await openTestDatabase();
    try {
      const rows = await migrated.query<{ relname: string; reloptions: string[] | null }>(
        `select relname, reloptions from pg_class where relname in ('dci_transactions', 'callback_deliveries', 'dci_execution_queue') and relkind = 'r' order by relname`,
      );
      expect(rows.map((r) => [r.relname, r.reloptions])).toEqual([
        ['callback_deliveries', ['fillfactor=50']],
        ['dci_execution_queue', ['fillfactor=50']],
        ['dci_transactions', ['fillfactor=50']],
      ]);
    } finally {
      await migrated.close();
    }
  });
});

describe('the embedded database on disk', () => {
  it('is opened by one process at a time: another gets an error naming the holder, and a killed holder\'s lock is taken over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dci-lock-'));
    const lock = join(dir, 'pglite.lock');
    try {
      // A server or seeder still running on it (here: the test runner's parent process, alive).
      writeFileSync(lock, String(process.ppid));
      await expect(openDatabase({ dataDir: dir })).rejects.toThrow(`is open in process ${process.ppid}`);

      // One killed without closing it: its lock names a process that is gone.
      writeFileSync(lock, String(spawnSync(process.execPath, ['-e', '']).pid));
      const db = await openDatabase({ dataDir: dir });
      try {
        expect(readFileSync(lock, 'utf8')).toBe(String(process.pid));
        await expect(openDatabase({ dataDir: dir })).rejects.toThrow('is open in process this');
        await db.query('create table kept (n int)');
      } finally {
        await db.close();
      }
      expect(existsSync(lock)).toBe(false);
      const again = await openDatabase({ dataDir: dir });
      await again.query('select * from kept');
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
