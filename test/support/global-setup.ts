import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { migrateDatabase, openDatabase } from '../../src/db/client.js';
import { seedRegistry } from '../../src/registry/seed/load.js';
import { TEST_DATA_KEYS } from './data-keys.js';

/** Households in the shared test registry: enough for paging, sorting and every kind of household. */
export const TEST_HOUSEHOLDS = 400;
export const TEST_SEED = 7;

declare module 'vitest' {
  export interface ProvidedContext {
    /** PGlite: path of a tarball of the migrated and seeded template database. */
    pgliteTemplate: string;
    /** PostgreSQL (TEST_DATABASE_URL set): URL of the migrated and seeded template database each test file copies. */
    postgresUrl: string;
  }
}

/**
 * Builds the test registry once per run: on PGlite a template that each test file copies (opening a copy takes
 * ~0.4 s, creating and migrating a database ~6 s); on PostgreSQL a template database that each test file copies with
 * CREATE DATABASE ... TEMPLATE, so that files running side by side (and their background workers) never share state.
 * Every database of the run is dropped at the end.
 */
export default async function setup(project: TestProject) {
  const base = process.env.TEST_DATABASE_URL;
  if (base) {
    const name = `dci_test_${process.pid}_${Date.now()}`;
    const admin = postgres(base, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const url = new URL(base);
    url.pathname = `/${name}`;
    const db = await openDatabase({ databaseUrl: url.toString(), poolSize: 4 });
    await migrateDatabase(db);
    await seedRegistry(db, { households: TEST_HOUSEHOLDS, seed: TEST_SEED, dataKeys: TEST_DATA_KEYS });
    await db.close();
    project.provide('postgresUrl', url.toString());
    project.provide('pgliteTemplate', '');
    return async () => {
      const copies = await admin.unsafe<{ datname: string }[]>(`select datname from pg_database where datname like '${name}%'`);
      for (const { datname } of copies) await admin.unsafe(`drop database if exists "${datname}" with (force)`);
      await admin.end();
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'dci-test-'));
  const db = await openDatabase({ memory: true });
  await migrateDatabase(db);
  await seedRegistry(db, { households: TEST_HOUSEHOLDS, seed: TEST_SEED, dataKeys: TEST_DATA_KEYS });
  const file = join(dir, 'template.tar');
  writeFileSync(file, Buffer.from(await (await db.dumpDataDir!()).arrayBuffer()));
  await db.close();
  project.provide('pgliteTemplate', file);
  project.provide('postgresUrl', '');
  return () => rmSync(dir, { recursive: true, force: true });
}
