import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { generateSigningKey } from '../src/dci/signing/keys.js';
import { startServer } from '../src/server.js';
import { openDatabase, type Database } from '../src/db/client.js';
import { dataKeysFrom } from '../src/registry/data-keys.js';
import { brnFor, drnFor, householdIdFor, uinFor } from '../src/registry/seed/generate.js';
import { clearValue, idColumns, testVault } from './support/data-keys.js';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { copyTestDatabase, startTestServer, testEncryptionKey, type TestServer } from './support/server.js';

/**
 * Restricted fields (national identifiers) are stored sealed and found through a keyed blind index: a dump of the
 * database holds none of them in clear, while partners still search by them and receive them.
 */

let db: Database;
/** The dump of this file's database: pg_dump output on PostgreSQL, the raw data directory (pages and WAL) on PGlite. */
let dump: () => Promise<string>;
let server: TestServer;
let token: string;

beforeAll(async () => {
  const url = inject('postgresUrl');
  if (url) {
    const copy = await copyTestDatabase(url);
    db = await openDatabase({ databaseUrl: copy, poolSize: 8 });
    dump = async () => execFileSync('pg_dump', ['--no-owner', copy], { maxBuffer: 512 * 1024 * 1024 }).toString('latin1');
  } else {
    db = await openDatabase({ memory: true, loadDataDir: new Blob([readFileSync(inject('pgliteTemplate'))]) });
    dump = async () => Buffer.from(await (await db.dumpDataDir!()).arrayBuffer()).toString('latin1');
  }
  server = await startTestServer({}, { db });
  token = await server.token();
});
afterAll(async () => {
  await server?.close();
  await db?.close();
});

async function search(criteria: Record<string, unknown>) {
  const res = await postJson(`${server.url}/social/registry/sync/search`, token, searchEnvelope([searchItem(criteria)]));
  expect(res.status).toBe(200);
  return res.json.message.search_response[0];
}

describe('restricted identifiers at rest', () => {
  it('leaves no UIN, BRN or DRN in clear in a dump of the database, while household ids (internal) are there', async () => {
    const owners = await db.query<{ id: number; id_type: string; owner: number }>(
      `select id, id_type, coalesce(individual_id, group_id) as owner from identifiers order by id`,
    );
    const clearOf = { UIN: uinFor, BRN: brnFor, DRN: drnFor, HOUSEHOLD_ID: householdIdFor } as Record<string, (id: number) => string>;
    const restricted = owners.filter((o) => o.id_type !== 'HOUSEHOLD_ID').map((o) => clearOf[o.id_type](Number(o.owner)));
    const households = owners.filter((o) => o.id_type === 'HOUSEHOLD_ID').map((o) => clearOf.HOUSEHOLD_ID(Number(o.owner)));
    expect(restricted.length).toBeGreaterThan(1000);
    expect(owners.some((o) => o.id_type === 'DRN')).toBe(true);

    const text = await dump();
    // Every 10-digit window of the dump, with the letter before it (BRN and DRN are a letter and 10 digits), but not
    // the digits of household ids (HH- and 10 digits from the same generator, so some equal a UIN's).
    const seen = new Set<string>();
    for (const run of text.matchAll(/(?<![A-Z]-|\d)[A-Z]?\d{10,}/g)) {
      for (let k = 0; k + 10 <= run[0].length; k++) seen.add(run[0].slice(k, k + 10));
      if (/^[A-Z]/.test(run[0])) seen.add(run[0].slice(0, 11));
    }
    // The dump is searchable: the household ids, stored in clear, are all found.
    for (const hh of households) expect(text.includes(hh), hh).toBe(true);
    const leaked = restricted.filter((v) => seen.has(v)).map((v) => `${v} in ${JSON.stringify(text.slice(text.indexOf(v) - 80, text.indexOf(v) + 40))}`);
    expect(leaked).toEqual([]);
  });

  it('stores each national identifier as sealed bytes and a blind index that only the data key reproduces', async () => {
    const [row] = await db.query(`select ${idColumns()}, x.id_lookup from identifiers x where x.id_type = 'UIN' order by x.id limit 1`);
    const uin = clearValue(row);
    expect(uin).toMatch(/^\d{10}$/);
    expect(row.x_value).toBeNull();
    expect(row.id_lookup).toBe(testVault().lookupKey('UIN', uin));
    expect(row.id_lookup).not.toBe(testVault(dataKeysFrom(Buffer.alloc(32, 8))).lookupKey('UIN', uin));
    expect(row.id_lookup).not.toContain(uin);
  });

  it('still finds a person by UIN and returns the UIN in clear to the partner', async () => {
    const [row] = await db.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id desc limit 1`);
    const uin = clearValue(row);
    const item = await search({ query_type: 'idtype-value', response_entity: 'Person', query: { type: 'UIN', value: uin } });
    expect(item.status).toBe('succ');
    expect(item.data.reg_records).toHaveLength(1);
    expect(item.data.reg_records[0].identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: uin });
    const none = await search({ query_type: 'idtype-value', response_entity: 'Person', query: { type: 'UIN', value: '0000000001' } });
    expect([none.status, none.data.reg_records]).toEqual(['succ', []]);
  });

  it('refuses to sort several records on a sealed identifier (rjct.sort.invalid), and accepts it for one record', async () => {
    const many = await search({
      query_type: 'expression',
      query: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { sex: { $eq: 'female' } } } } },
      sort: [{ attribute_name: 'UIN', sort_order: 'asc' }],
    });
    expect(many.status).toBe('rjct');
    expect(many.status_reason_code).toBe('rjct.sort.invalid');
    expect(many.status_reason_message).toMatch(/restricted identifier/);
    const [row] = await db.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id limit 1`);
    const one = await search({ query_type: 'idtype-value', query: { type: 'UIN', value: clearValue(row) }, sort: [{ attribute_name: 'UIN', sort_order: 'desc' }] });
    expect([one.status, one.data.reg_records.length]).toEqual(['succ', 1]);
  });

  it('refuses to start with another data key than the one the registry was sealed with', async () => {
    const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', DEMO_DATA: 'false', LOG_LEVEL: 'silent' });
    const other = dataKeysFrom(Buffer.alloc(32, 9));
    await expect(startServer(config, { db, logger: pino({ level: 'silent' }), signingKey: await generateSigningKey(), encryptionKey: await testEncryptionKey(), dataKeys: other })).rejects.toThrow(
      /DATA_KEY is not the key this registry was sealed with/,
    );
  });

  it('seals, on start, a national identifier an older version wrote in clear', async () => {
    const [child] = await db.query<{ id: number }>(
      `select i.id from individuals i where not exists (select 1 from identifiers x where x.individual_id = i.id and x.id_type = 'UIN') order by i.id limit 1`,
    );
    await db.query(`insert into identifiers (id_type, id_value, id_lookup, individual_id) values ('UIN', '5550001112', '5550001112', $1)`, [child.id]);
    // As an older version leaves the registry: it never recorded which types it sealed.
    await db.query('update data_key_check set sealed_types = null');
    const restarted = await startTestServer({}, { db });
    try {
      const [row] = await db.query(`select ${idColumns()}, x.id_lookup from identifiers x where x.individual_id = $1 and x.id_type = 'UIN'`, [child.id]);
      expect(row.x_value).toBeNull();
      expect(clearValue(row)).toBe('5550001112');
      expect(row.id_lookup).toBe(testVault().lookupKey('UIN', '5550001112'));
      const res = await postJson(
        `${restarted.url}/social/registry/sync/search`,
        await restarted.token(),
        searchEnvelope([searchItem({ query_type: 'idtype-value', response_entity: 'Person', query: { type: 'UIN', value: '5550001112' } })]),
      );
      expect(res.json.message.search_response[0].data.reg_records[0].identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: '5550001112' });
    } finally {
      await restarted.close();
    }
  });
});
