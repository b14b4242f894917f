import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Database, migrateDatabase, openDatabase } from '../src/db/client.js';
import { householdIdFor } from '../src/registry/seed/generate.js';
import { generateSigningKey } from '../src/dci/signing/keys.js';
import { startServer } from '../src/server.js';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { TEST_DATA_KEYS } from './support/data-keys.js';
import { copyTestDatabase, testEncryptionKey } from './support/server.js';

/**
 * An empty database of the run's kind. On PostgreSQL the server opens its own pool from DATABASE_URL, at the smallest
 * DATABASE_POOL_SIZE allowed: one connection holds the demo load's lock while the seeding needs another, and the
 * worker's lifelong lock must not take that one (it did, and the first start hung). `db` is the test's own handle.
 */
async function emptyDatabase(): Promise<{ env: Record<string, string>; db: Database; serverDb?: Database }> {
  const template = inject('postgresUrl');
  if (!template) {
    const db = await openDatabase({ memory: true });
    return { env: {}, db, serverDb: db };
  }
  const url = await copyTestDatabase(template, { empty: true });
  return { env: { DATABASE_URL: url, DATABASE_POOL_SIZE: '2' }, db: await openDatabase({ databaseUrl: url, poolSize: 2 }) };
}

/** First start on an empty database: migrate, listen, load the demo registry, and only then report ready. */
describe('first start', () => {
  it('loads the demo registry into an empty database and is ready only afterwards', async () => {
    const { env, db, serverDb } = await emptyDatabase();
    const config = loadConfig({ NODE_ENV: 'development', PORT: '0', HOST: '127.0.0.1', DEMO_HOUSEHOLDS: '60', DEMO_SEED: '3', LOG_LEVEL: 'silent', ...env });
    const server = await startServer(config, { db: serverDb, logger: pino({ level: 'silent' }), signingKey: await generateSigningKey(), encryptionKey: await testEncryptionKey(), dataKeys: TEST_DATA_KEYS });
    try {
      const early = await fetch(`${server.url}/readyz`);
      expect([200, 503]).toContain(early.status);
      await server.ready;
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      const [{ n }] = await db.query<{ n: number }>('select count(*)::int as n from groups');
      expect(n).toBe(60);

      // The demo partner of the run contract works against the demo data.
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' });
      const { access_token } = (await (await fetch(`${server.url}/oauth2/client/token`, { method: 'POST', body: form })).json()) as { access_token: string };
      const res = await postJson(`${server.url}/social/registry/sync/search`, access_token, searchEnvelope([
        searchItem({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { group_size: { $gte: 1 } } } } }, pagination: { page_size: 100 } }),
      ]));
      expect(res.status).toBe(200);
      expect(res.json.message.search_response[0].pagination.total_count).toBe(60);
    } finally {
      await server.close();
    }

    // A second start on the same database does not load the demo data again.
    const restarted = await startServer(config, { db: serverDb, logger: pino({ level: 'silent' }), signingKey: await generateSigningKey(), encryptionKey: await testEncryptionKey(), dataKeys: TEST_DATA_KEYS });
    try {
      await restarted.ready;
      const [{ n }] = await db.query<{ n: number }>('select count(*)::int as n from groups');
      expect(n).toBe(60);
    } finally {
      await restarted.close();
      await db.close();
    }
  });

  it('leaves no part of the demo registry when its load fails, and loads it whole at the next start', async () => {
    const { env, db, serverDb } = await emptyDatabase();
    const config = loadConfig({ NODE_ENV: 'development', PORT: '0', HOST: '127.0.0.1', DEMO_HOUSEHOLDS: '600', DEMO_SEED: '3', LOG_LEVEL: 'silent', ...env });
    const start = async () =>
      startServer(config, { db: serverDb, logger: pino({ level: 'silent' }), signingKey: await generateSigningKey(), encryptionKey: await testEncryptionKey(), dataKeys: TEST_DATA_KEYS });
    const count = async (table: string) => (await db.query<{ n: number }>(`select count(*)::int as n from ${table}`))[0].n;
    // The load's first round is 500 households (group ids 1-500); a person already holds the household id group 501
    // gets, so the second round fails, as a start killed mid-load would stop.
    await migrateDatabase(db);
    const [blocker] = await db.query<{ id: number }>(`insert into individuals (given_name, surname, sex) values ('Test', 'Blocker', 'female') returning id`);
    await db.query(`insert into identifiers (id_type, id_value, id_lookup, individual_id) values ('HOUSEHOLD_ID', $1, $1, $2)`, [householdIdFor(501), blocker.id]);

    const failed = await start();
    try {
      await expect(failed.ready).rejects.toThrow(/duplicate key|unique/i);
      expect((await fetch(`${failed.url}/readyz`)).status).toBe(503);
    } finally {
      await failed.close();
    }
    expect([await count('groups'), await count('memberships'), await count('enrolments')]).toEqual([0, 0, 0]);

    await db.query('delete from identifiers where individual_id = $1', [blocker.id]);
    const restarted = await start();
    try {
      await restarted.ready;
      expect(await count('groups')).toBe(600);
      expect(await count('enrolments')).toBeGreaterThan(0);
    } finally {
      await restarted.close();
      await db.close();
    }
  });

  it('answers /healthz (and /readyz 503, every other route 503) while it starts, before the database is ready', async () => {
    const { env, db, serverDb } = await emptyDatabase();
    const handle = serverDb ?? (await openDatabase({ databaseUrl: env.DATABASE_URL, poolSize: 2 }));
    // The start stops at its first transaction (the partners) until the test lets it go on: a long migration.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    const slow: Database = { ...handle, transaction: async (fn, options) => (held ? handle.transaction(fn, options) : ((held = true), await gate, handle.transaction(fn, options))) };
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    const config = loadConfig({ NODE_ENV: 'development', PORT: String(port), HOST: '127.0.0.1', DEMO_DATA: 'false', LOG_LEVEL: 'silent' });
    const starting = startServer(config, { db: slow, logger: pino({ level: 'silent' }), signingKey: await generateSigningKey(), encryptionKey: await testEncryptionKey(), dataKeys: TEST_DATA_KEYS });
    const base = `http://127.0.0.1:${port}`;
    try {
      await expect.poll(() => held, { timeout: 30_000 }).toBe(true);
      const health = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5_000) });
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) });
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'starting' });
      const search = await fetch(`${base}/social/registry/sync/search`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5_000) });
      expect(search.status).toBe(503);
      expect(search.headers.get('retry-after')).toBe('5');
      expect((await search.json()).message.error.code).toBe('err.service.unavailable');
    } finally {
      release();
    }
    const server = await starting;
    try {
      await server.ready;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/social/registry/sync/search`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
    } finally {
      await server.close();
      if (handle !== serverDb) await handle.close();
      await db.close();
    }
  });

  it('refuses production on the embedded database, gateway mode in production without PUBLIC_URL, a default page above the largest', () => {
    const production = { NODE_ENV: 'production', SIGNING_KEY: '/run/secrets/signing.pem', DATA_KEY: '/run/secrets/data-key' };
    expect(() => loadConfig(production)).toThrow(/DATABASE_URL is required in production/);
    expect(() => loadConfig({ ...production, DATABASE_URL: '' })).toThrow(/DATABASE_URL is required in production/);
    const withDatabase = { ...production, DATABASE_URL: 'postgres://db/registry' };
    expect(loadConfig(withDatabase).NODE_ENV).toBe('production');
    expect(() => loadConfig({ ...withDatabase, UPSTREAMS_FILE: '/etc/dci/upstreams.json' })).toThrow(/PUBLIC_URL is required/);
    expect(loadConfig({ ...withDatabase, UPSTREAMS_FILE: '/etc/dci/upstreams.json', PUBLIC_URL: 'https://gw.example.gov' }).publicUrl).toBe('https://gw.example.gov');
    expect(() => loadConfig({ DEFAULT_PAGE_SIZE: '50', MAX_PAGE_SIZE: '20' })).toThrow(/DEFAULT_PAGE_SIZE 50 is above MAX_PAGE_SIZE 20/);
  });

  it('takes a variable set to nothing as unset', () => {
    const config = loadConfig({ PORT: '', DATA_DIR: '', DEMO_DATA: '', MAX_PAGE_SIZE: '' });
    expect([config.PORT, config.DATA_DIR, config.demoData, config.MAX_PAGE_SIZE]).toEqual([8080, './data', true, 1000]);
  });

  it('refuses to start in production without a signing key', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/SIGNING_KEY/);
  });

  it('refuses invalid settings with a message naming them', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ DATABASE_URL: 'not a url' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ CALLBACK_PARTNER_CONCURRENCY: '0' })).toThrow(/CALLBACK_PARTNER_CONCURRENCY/);
    expect(() => loadConfig({ SERVER_PROCESSES: '0' })).toThrow(/SERVER_PROCESSES/);
  });

  it('runs several server processes only on PostgreSQL: the embedded database is one process\'s own', () => {
    expect(() => loadConfig({ SERVER_PROCESSES: '2' })).toThrow('SERVER_PROCESSES above 1 needs DATABASE_URL');
    expect(loadConfig({ SERVER_PROCESSES: '2', DATABASE_URL: 'postgres://db.example.org/registry' }).SERVER_PROCESSES).toBe(2);
    expect(loadConfig({}).SERVER_PROCESSES).toBe(1);
  });

  it('sends at most 16 callbacks at once to one partner and 64 in all unless configured otherwise', () => {
    expect(loadConfig({})).toMatchObject({ CALLBACK_PARTNER_CONCURRENCY: 16, CALLBACK_CONCURRENCY: 64 });
    expect(loadConfig({ CALLBACK_PARTNER_CONCURRENCY: '40' }).CALLBACK_PARTNER_CONCURRENCY).toBe(40);
  });

  it('stops with a line naming a bad setting, a missing key file or a busy port, not a stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dci-start-'));
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = String((busy.address() as { port: number }).port);
    /** `npm start`'s command with these variables: its exit code and all it printed. */
    const start = (env: Record<string, string>) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn('node_modules/.bin/tsx', ['src/main.ts'], {
          env: { ...process.env, NODE_ENV: 'development', HOST: '127.0.0.1', PORT: '0', DATA_DIR: dir, DEMO_DATA: 'false', DATABASE_URL: '', LOG_LEVEL: 'info', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout!.on('data', (d) => (out += d.toString()));
        child.stderr!.on('data', (d) => (out += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
    try {
      for (const [env, cause] of [
        [{ PORT: 'eighty' }, /invalid configuration: PORT/],
        [{ DATA_KEY: join(dir, 'no-such-key'), LOG_LEVEL: 'silent' }, /no-such-key/],
        [{ PORT: busyPort }, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busyPort}: .*EADDRINUSE`)],
      ] as const) {
        const { code, out } = await start(env);
        expect(out, JSON.stringify(env)).toMatch(cause);
        expect(out, JSON.stringify(env)).not.toMatch(/^\s+at /m);
        expect(code, out).toBe(1);
      }
    } finally {
      busy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
