/**
 * npm run audit:verify: checks the audit log's hash chain on the configured database (DATABASE_URL, or the embedded
 * one under DATA_DIR) and reports the first broken link. Exit code 0 intact, 1 broken.
 */
import { verifyAuditChain } from '../src/audit/audit-log.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';

const config = loadConfig();
const db = await openDatabase(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL, poolSize: 2 } : { dataDir: config.DATA_DIR });
try {
  const result = await verifyAuditChain(db);
  if (result.broken) {
    process.stdout.write(`audit log BROKEN at entry ${result.broken.id}: ${result.broken.reason} (${result.checked} entries before it verified)\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`audit log intact: ${result.checked} entries verified\n`);
  }
} finally {
  await db.close();
}
