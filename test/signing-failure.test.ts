import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/client.js';
import { generateSigningKey, type SigningKey } from '../src/dci/signing/keys.js';
import { startServer } from '../src/server.js';
import { expectErrorBody, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { TEST_DATA_KEYS } from './support/data-keys.js';
import { openTestDatabase, startTestServer, testEncryptionKey } from './support/server.js';

/** Nothing leaves unsigned: a server that cannot sign answers 503, and one without a usable key does not start. */

let db: Database;
const dir = mkdtempSync(join(tmpdir(), 'dci-signing-'));
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('when signing fails', () => {
  it('answers 503 err.service.unavailable, with no record in the body, sync and txn status alike', async () => {
    const good = await generateSigningKey();
    const issuer = await startTestServer({}, { db, signingKey: good });
    const token = await issuer.token();
    await issuer.close();
    // The same key, but its private half gone (an HSM that stopped answering): tokens still verify, nothing signs.
    const broken: SigningKey = { ...good, privateKey: good.publicKey };
    const server = await startTestServer({}, { db, signingKey: broken, previousSigningKeys: [good] });
    try {
      const search = await postJson(
        `${server.url}/social/registry/sync/search`,
        token,
        searchEnvelope([searchItem({ query_type: 'expression', response_entity: 'Group', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { group_size: { $gte: 1 } } } } } })]),
      );
      expect(search.status).toBe(503);
      expectErrorBody(search.json, 'err.service.unavailable');
      expect(search.json.message?.search_response).toBeUndefined();
      expect(search.text).not.toContain('group_identifier');

      const status = await postJson(`${server.url}/social/registry/sync/txn/status`, token, {
        header: { version: '1.0.0', message_id: 'm-status', message_ts: new Date().toISOString(), action: 'txn-status', sender_id: 'demo-spmis', total_count: 1 },
        message: { transaction_id: 't-1', txnstatus_request: { reference_id: 'r-1', txn_type: 'search', attribute_type: 'transaction_id', attribute_value: 't-unknown' } },
      });
      expect(status.status).toBe(503);
      expectErrorBody(status.json, 'err.service.unavailable');
    } finally {
      await server.close();
    }
  });

  it('does not start with an unreadable SIGNING_KEY, nor in production without one', async () => {
    const garbage = join(dir, 'not-a-key.pem');
    writeFileSync(garbage, '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
    for (const path of [garbage, join(dir, 'missing.pem')]) {
      const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', DEMO_DATA: 'false', LOG_LEVEL: 'silent', SIGNING_KEY: path, DATA_DIR: dir });
      await expect(startServer(config, { db, logger: pino({ level: 'silent' }), dataKeys: TEST_DATA_KEYS, encryptionKey: await testEncryptionKey() })).rejects.toThrow();
    }
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_KEY: join(dir, 'k') })).toThrow(/SIGNING_KEY is required in production/);
    expect(() => loadConfig({ NODE_ENV: 'production', SIGNING_KEY: join(dir, 'k') })).toThrow(/DATA_KEY is required in production/);
  });
});
