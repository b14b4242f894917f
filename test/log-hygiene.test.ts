import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { generateSigningKey } from '../src/dci/signing/keys.js';
import { type RunningServer, startServer } from '../src/server.js';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { openTestDatabase, testEncryptionKey } from './support/server.js';
import { clearValue, idColumns, TEST_DATA_KEYS } from './support/data-keys.js';

/** The logs of a busy server, refusals and failures included, hold no name, identifier or birth date of anyone. */

let server: RunningServer;
let lines = '';
const db = await openTestDatabase();

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines += chunk.toString();
      done();
    },
  });
  const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', DEMO_DATA: 'false', LOG_LEVEL: 'trace', WORKER_POLL_MS: '50' });
  server = await startServer(config, { db, logger: pino({ level: 'trace' }, sink), signingKey: await generateSigningKey(), encryptionKey: await testEncryptionKey(), dataKeys: TEST_DATA_KEYS });
  await server.ready;
});
afterAll(async () => {
  await server?.close();
  await db.close();
});

describe('log hygiene', () => {
  it('logs requests without the personal data they carry', async () => {
    const people = (
      await db.query<{ given_name: string; surname: string; birth_date: string }>(`
        select ${idColumns()}, i.given_name, i.surname, i.birth_date from individuals i
        join identifiers x on x.individual_id = i.id and x.id_type = 'UIN' order by i.id limit 5`)
    ).map((p) => ({ ...p, uin: clearValue(p) }));
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' });
    const token = ((await (await fetch(`${server.url}/oauth2/client/token`, { method: 'POST', body: form })).json()) as { access_token: string }).access_token;
    for (const p of people) {
      const ok = await postJson(`${server.url}/social/registry/sync/search`, token, searchEnvelope([
        searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: p.uin } }),
        searchItem({ query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'given_name', operator: 'eq', attribute_value: p.given_name } }] }),
      ]));
      expect(ok.status).toBe(200);
      expect(ok.text).toContain(p.given_name);
      // Refusals that echo nothing of the person either.
      const bad = await postJson(`${server.url}/social/registry/sync/search`, token, `{"header": {"sender_id": "demo-spmis", "x": "${p.surname}"`);
      expect(bad.status).toBe(400);
      const async = await postJson(`${server.url}/social/registry/search`, token, searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: p.uin } })], { sender_uri: 'http://127.0.0.1:1/on-search' }));
      expect(async.status).toBe(202);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(lines).toContain('"msg":"request"');
    for (const p of people) {
      for (const secret of [p.uin, p.given_name, p.surname, p.birth_date]) expect(lines, secret).not.toContain(secret);
    }
  });

  it('logs a stored subscription filter this version refuses without the value it refused', async () => {
    // As an older version could have stored it: a calendar date that is none (refused since), here someone's "birth date".
    const filter = { filter_type: 'expression', filter: { type: 'ns:org:QueryType:NoSql', value: { expression: { query: { birth_date: { $eq: '1961-02-30' } } } } } };
    await db.query(
      `insert into subscriptions (code, domain, partner_id, reference_id, event_types, reg_event_type, record_type, filter, notify_url, fingerprint, status, criteria)
       values ('SUB-000000000000LOGGED', 'social', 'demo-spmis', 's-log', array['death'], 'Death', 'spdci-extensions-dci:Member', $1::jsonb, 'http://127.0.0.1:1/registry/notify', 'a stored filter', 'subscribe', '{}'::jsonb)`,
      [JSON.stringify(filter)],
    );
    const [person] = await db.query(
      `select ${idColumns()} from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN' where i.death_date is null order by i.id desc limit 1`,
    );
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' });
    const token = ((await (await fetch(`${server.url}/oauth2/client/token`, { method: 'POST', body: form })).json()) as { access_token: string }).access_token;
    const res = await postJson(`${server.url}/crvs/registry/notify`, token, {
      header: { version: '1.0.0', message_id: `log-${Date.now()}`, message_ts: new Date().toISOString(), action: 'notify', status: 'succ', sender_id: 'demo-spmis', total_count: 1 },
      message: { transaction_id: 'n-log', notify_event: [{ reference_id: 'evt-log-1', timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: clearValue(person) }], death_date: '2026-11-25' } } }] },
    });
    expect(res.status, res.text).toBe(200);
    for (let i = 0; i < 100 && !lines.includes('subscription filter no longer accepted'); i++) await new Promise((r) => setTimeout(r, 50));
    const line = lines.split('\n').find((l) => l.includes('subscription filter no longer accepted'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ subscription: 'SUB-000000000000LOGGED', reason: 'rjct.search_criteria.invalid' });
    expect(lines).not.toContain('1961-02-30');
  });
});
