/**
 * npm run seed -- --households N --seed S [--batch B] [--parallel P] [--reference-date YYYY-MM-DD]
 *
 * Loads N generated households (default 2000, seed 42) into DATABASE_URL, or into the embedded PGlite database under
 * DATA_DIR (default ./data) when DATABASE_URL is unset. Migrates first. Adds to whatever is there already.
 */
import { parseArgs } from 'node:util';
import { migrateDatabase, openDatabase } from '../src/db/client.js';
import { FileDataKeySource } from '../src/registry/data-keys.js';
import { seedRegistry } from '../src/registry/seed/load.js';

const USAGE = 'usage: npm run seed -- [--households N] [--seed S] [--batch HOUSEHOLDS] [--parallel ROUNDS] [--reference-date YYYY-MM-DD]\n';

function args() {
  try {
    return parseArgs({
      options: {
        households: { type: 'string', default: '2000' },
        seed: { type: 'string', default: '42' },
        batch: { type: 'string' },
        parallel: { type: 'string' },
        'reference-date': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const values = args();
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

function integer(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
    process.stderr.write(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}

const households = integer('households', values.households, 0);
const seed = integer('seed', values.seed, Number.MIN_SAFE_INTEGER);
const batchHouseholds = values.batch === undefined ? undefined : integer('batch', values.batch, 1);
const parallel = values.parallel === undefined ? undefined : integer('parallel', values.parallel, 1);

const databaseUrl = process.env.DATABASE_URL || undefined;
// The embedded database of a server running on DATA_DIR is refused (it is one process's own): stop the server first.
const db = await openDatabase(databaseUrl ? { databaseUrl, poolSize: (parallel ?? 2) + 2 } : { dataDir: process.env.DATA_DIR || './data' }).catch((err: Error) => {
  process.stderr.write(`seed failed: ${err.message}\n`);
  process.exit(1);
});
try {
  await migrateDatabase(db);
  const target = databaseUrl ? `PostgreSQL ${new URL(databaseUrl).host}${new URL(databaseUrl).pathname}` : `PGlite under ${process.env.DATA_DIR || './data'}`;
  process.stdout.write(`Seeding ${households} households (seed ${seed}) into ${target}\n`);
  // The key the server will open these identifiers with: DATA_KEY, or the development key under DATA_DIR.
  const dataKeys = await new FileDataKeySource({ path: process.env.DATA_KEY || undefined, dataDir: process.env.DATA_DIR || './data' }).load();
  const r = await seedRegistry(db, { households, seed, batchHouseholds, parallel, dataKeys, referenceDate: values['reference-date'] });
  const seconds = r.ms / 1000;
  process.stdout.write(
    `Seeded ${r.households} households, ${r.people} people, ${r.rows} rows in ${seconds.toFixed(2)} s: ${Math.round(r.people / Math.max(seconds, 1e-9))} people/s\n`,
  );
} catch (err) {
  process.stderr.write(`seed failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await db.close();
}
