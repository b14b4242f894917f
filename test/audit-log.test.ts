import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, verifyAuditChain } from '../src/audit/audit-log.js';
import { migrateDatabase, openDatabase } from '../src/db/client.js';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { startTestServer, type TestServer } from './support/server.js';
import { clearValue, idColumns } from './support/data-keys.js';

/** Every disclosure of personal data is in the hash-chained audit log, and tampering with it is detected. */

let server: TestServer;
let receiver: CallbackReceiver;
let token: string;

beforeAll(async () => {
  receiver = await CallbackReceiver.start();
  server = await startTestServer({ WORKER_POLL_MS: '50' }, { partners: [{ id: 'auditor', secret: 'auditor-secret-1', scopes: ['admin'] }] });
  token = await server.token();
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

const auditPage = async (query = '') => {
  const adminToken = await server.token({ clientId: 'auditor', secret: 'auditor-secret-1' });
  const res = await fetch(`${server.url}/admin/audit?${query}`, { headers: { authorization: `Bearer ${adminToken}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: any[] }).items;
};

async function aUin(offset = 0): Promise<string> {
  const [row] = await server.db.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' order by x.id offset $1 limit 1`, [offset]);
  return clearValue(row);
}

describe('audit of disclosures', () => {
  it('records who received which records, under which purpose, before answering a sync search', async () => {
    const envelope = searchEnvelope([
      searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: await aUin(3) }, consent: { '@type': 'Consent', purpose: { code: 'eligibility-check' } } }, 'audited-ref'),
      searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '0000000000' } }, 'nothing-found'),
    ]);
    const res = await postJson(`${server.url}/social/registry/sync/search`, token, envelope);
    expect(res.status).toBe(200);
    const member = res.json.message.search_response[0].data.reg_records[0];
    const registryId = member.member_identifier.find((i: any) => i.identifier_type === 'REGISTRY_ID').identifier_value;

    const entries = (await auditPage('partner_id=demo-spmis')).filter((e) => e.message_id === (envelope.header as any).message_id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      partner_id: 'demo-spmis',
      event: 'disclose',
      domain: 'social',
      action: 'sync/search',
      purpose: 'eligibility-check',
      transaction_id: (envelope.message as any).transaction_id,
      reference_id: 'audited-ref',
      record_count: 1,
      record_ids: [registryId],
      fields: null,
    });
    // The log names records; it never holds their content.
    expect(JSON.stringify(entries[0])).not.toContain(member.demographic_info.name.given_name);
  });

  it('names every person of a Group answered (members and head), not only the household', async () => {
    const [row] = await server.db.query(`select ${idColumns()} from identifiers x where x.id_type = 'HOUSEHOLD_ID' order by x.id limit 1`);
    const envelope = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'HOUSEHOLD_ID', value: clearValue(row) }, response_entity: 'Group' }, 'group-ref')]);
    const res = await postJson(`${server.url}/social/registry/sync/search`, token, envelope);
    expect(res.status).toBe(200);
    const group = res.json.message.search_response[0].data.reg_records[0];
    const registryId = (ids: any[]) => ids.find((i) => i.identifier_type === 'REGISTRY_ID').identifier_value;
    const memberIds = group.member_list.map((m: any) => registryId(m.member_identifier));
    expect(memberIds.length).toBeGreaterThan(0);
    expect(memberIds).toContain(registryId(group.group_head_info.member_identifier));

    const [entry] = (await auditPage()).filter((e) => e.message_id === (envelope.header as any).message_id);
    expect(entry.record_ids).toEqual([registryId(group.group_identifier), ...memberIds]);
  });

  it("names the head whose identifiers a Member record carries (related_person), beside the member", async () => {
    const [row] = await server.db.query<any>(`
      select ${idColumns()}, i.external_id::text as member_id, hi.external_id::text as head_id
      from memberships m join individuals i on i.id = m.individual_id join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
      join memberships h on h.group_id = m.group_id and h.is_head and h.end_date is null join individuals hi on hi.id = h.individual_id
      where m.end_date is null and not m.is_head and m.relationship_to_head is not null order by m.id limit 1`);
    const envelope = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: clearValue(row) } }, 'member-ref')]);
    const res = await postJson(`${server.url}/social/registry/sync/search`, token, envelope);
    expect(res.status).toBe(200);
    const [member] = res.json.message.search_response[0].data.reg_records;
    expect(member.related_person[0].related_member.member_identifier).toContainEqual({ identifier_type: 'REGISTRY_ID', identifier_value: row.head_id });

    const [entry] = (await auditPage()).filter((e) => e.message_id === (envelope.header as any).message_id);
    expect(entry.record_ids).toEqual([row.member_id, row.head_id]);
  });

  it("records each item's own purpose when items share an empty reference_id (as the samples send)", async () => {
    const uins = [await aUin(5), await aUin(6)];
    const purposes = ['eligibility-check', 'fraud-review'];
    const envelope = searchEnvelope(
      uins.map((uin, n) => searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin }, consent: { '@type': 'Consent', purpose: { code: purposes[n] } } }, '')),
    );
    const res = await postJson(`${server.url}/social/registry/sync/search`, token, envelope);
    expect(res.status).toBe(200);
    const answered = res.json.message.search_response.map((item: any) => item.data.reg_records[0].member_identifier[0].identifier_value);

    const entries = (await auditPage()).filter((e) => e.message_id === (envelope.header as any).message_id);
    expect(entries.map((e) => [e.record_ids[0], e.purpose]).sort()).toEqual(answered.map((id: string, n: number) => [id, purposes[n]]).sort());
  });

  it('records async disclosures too', async () => {
    const envelope = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: await aUin(4) } })], { sender_uri: `${receiver.url}/on-search` });
    const res = await postJson(`${server.url}/social/registry/search`, token, envelope);
    expect(res.status).toBe(202);
    await waitFor(() => receiver.forCorrelation(res.json.message.correlation_id).length > 0);
    const entries = (await auditPage()).filter((e) => e.message_id === (envelope.header as any).message_id);
    expect(entries).toEqual([expect.objectContaining({ action: 'search', record_count: 1 })]);
  });

  it('keeps an intact chain, and finds the first changed, removed or inserted entry', async () => {
    for (let i = 0; i < 3; i++) {
      await postJson(`${server.url}/social/registry/sync/search`, token, searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: await aUin(i) } })]));
    }
    const intact = await verifyAuditChain(server.db);
    expect(intact.broken).toBeUndefined();
    expect(intact.checked).toBeGreaterThanOrEqual(5);

    const ids = (await server.db.query<{ id: number }>('select id from audit_log order by id')).map((r) => Number(r.id));
    const middle = ids[2];
    const [original] = await server.db.query<{ record_ids: string[] }>('select record_ids from audit_log where id = $1', [middle]);
    await server.db.query(`update audit_log set record_ids = '{someone-else}' where id = $1`, [middle]);
    expect((await verifyAuditChain(server.db)).broken).toMatchObject({ id: middle, reason: expect.stringContaining('content') });
    await server.db.query('update audit_log set record_ids = $2 where id = $1', [middle, original.record_ids]);
    expect((await verifyAuditChain(server.db)).broken).toBeUndefined();

    const rows = await server.db.query('select * from audit_log where id = $1', [middle]);
    await server.db.query('delete from audit_log where id = $1', [middle]);
    expect((await verifyAuditChain(server.db)).broken).toMatchObject({ id: ids[3], reason: expect.stringContaining('prev_hash') });
    const r = rows[0] as any;
    await server.db.query(
      `insert into audit_log (id, at, partner_id, event, domain, action, purpose, transaction_id, message_id, reference_id, record_count, record_ids, fields, prev_hash, hash)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [r.id, r.at, r.partner_id, r.event, r.domain, r.action, r.purpose, r.transaction_id, r.message_id, r.reference_id, r.record_count, r.record_ids, r.fields, r.prev_hash, r.hash],
    );
    expect((await verifyAuditChain(server.db)).broken).toBeUndefined();

    // The newest entries deleted: every remaining link holds, but the chain no longer reaches the head.
    const before = await verifyAuditChain(server.db);
    await server.db.query('delete from audit_log where id >= $1', [ids[ids.length - 2]]);
    const truncated = await verifyAuditChain(server.db);
    expect(truncated.checked).toBe(before.checked - 2);
    expect(truncated.broken).toMatchObject({ id: ids[ids.length - 3], reason: expect.stringContaining('removed from its end') });
  });
});

describe('npm run audit:verify', () => {
  it('reports an intact log, then the broken entry with exit code 1', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dci-audit-'));
    try {
      const db = await openDatabase({ dataDir });
      await migrateDatabase(db);
      const audit = new AuditLog(db);
      for (let i = 0; i < 3; i++) await audit.disclosed({ partnerId: 'p', domain: 'social', action: 'sync/search', recordIds: [`r${i}`], recordCount: 1 });
      await db.close();
      const run = () => spawnSync('npx', ['tsx', 'scripts/audit-verify.ts'], { env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '' }, encoding: 'utf8' });
      const ok = run();
      expect(ok.status).toBe(0);
      expect(ok.stdout).toContain('audit log intact: 3 entries verified');

      const again = await openDatabase({ dataDir });
      const [{ id }] = await again.query<{ id: number }>('select id from audit_log order by id offset 1 limit 1');
      await again.query(`update audit_log set partner_id = 'someone' where id = $1`, [id]);
      await again.close();
      const broken = run();
      expect(broken.status).toBe(1);
      expect(broken.stdout).toContain(`audit log BROKEN at entry ${id}`);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
