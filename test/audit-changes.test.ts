import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * A change and its audit entry commit together: when the entry cannot be written, the change is not made. Written
 * after the commit (as before), a crash or a failed write between the two left a change no one could trace.
 */

let server: TestServer;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  server = await startTestServer({}, {
    partners: [
      { id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] },
      { id: 'board', secret: 'board-secret-1', scopes: ['dr:registry.assess'] },
    ],
  });
  tokens.ops = await server.token({ clientId: 'ops', secret: 'ops-secret-123' });
  tokens.board = await server.token({ clientId: 'board', secret: 'board-secret-1' });
});
afterAll(async () => {
  await server?.close();
});

const one = async <T extends object>(text: string, params: unknown[] = []) => (await server.db.query<T>(text, params))[0];
const auditEntries = async (action: string) => (await one<{ n: number }>(`select count(*)::int as n from audit_log where action = $1`, [action])).n;

function manage(method: string, id: string, body?: unknown) {
  return fetch(`${server.url}/admin/partners/${id}`, {
    method,
    headers: { authorization: `Bearer ${tokens.ops}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const PARTNER = { secret: 'kept-secret-1', scopes: ['social:registry.search'], signature: 'off' };

/** Runs `work` while the audit log cannot be written to. */
async function withAuditLogBroken<T>(work: () => Promise<T>): Promise<T> {
  await server.db.query('alter table audit_log rename to audit_log_away');
  try {
    return await work();
  } finally {
    await server.db.query('alter table audit_log_away rename to audit_log');
  }
}

describe('changes and their audit entries', () => {
  it('adds, replaces and removes no partner whose audit entry cannot be written', async () => {
    expect((await manage('PUT', 'kept', PARTNER)).status).toBe(201);
    expect(await auditEntries('partner.create')).toBe(1);

    const [added, replaced, removed] = await withAuditLogBroken(async () => [
      await manage('PUT', 'never-added', PARTNER),
      await manage('PUT', 'kept', { ...PARTNER, scopes: ['crvs:registry.search'] }),
      await manage('DELETE', 'kept'),
    ]);
    for (const res of [added, replaced, removed]) {
      expect(res.status).toBe(500);
      expect(await res.json()).toMatchObject({ status: 500, code: 'err.service.unavailable' });
    }
    expect(await one(`select id from partners where id = 'never-added'`)).toBeUndefined();
    expect(await one(`select settings->'scopes' as scopes from partners where id = 'kept'`)).toEqual({ scopes: ['social:registry.search'] });
    // This process's view of the partners is unchanged too.
    const listed = await fetch(`${server.url}/admin/partners/kept`, { headers: { authorization: `Bearer ${tokens.ops}` } });
    expect(((await listed.json()) as any).scopes).toEqual(['social:registry.search']);
    const token = await fetch(`${server.url}/oauth2/client/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'never-added', client_secret: 'kept-secret-1' }) });
    expect(token.status).toBe(401);

    expect((await manage('DELETE', 'kept')).status).toBe(204);
    expect(await auditEntries('partner.replace')).toBe(0);
    expect(await auditEntries('partner.remove')).toBe(1);
  });

  it('records no disability assessment whose audit entry cannot be written', async () => {
    const person = await one<Record<string, unknown>>(
      `select ${idColumns()}, i.id as individual_id from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
       where i.death_date is null and not exists (select 1 from disability_records d where d.individual_id = i.id) order by i.id limit 1`,
    );
    const assessment = { person: { identifier_type: 'UIN', identifier_value: clearValue(person) }, disability_status: 'Approved', assessment_date: '2026-10-01', assessor: 'Dr. A' };
    const refused = await withAuditLogBroken(() => postJson(`${server.url}/dr/assessments`, tokens.board, assessment));
    expect(refused.status).toBe(500);
    expect(refused.json.message.error.code).toBe('err.service.unavailable');
    const records = `select count(*)::int as n from disability_records where individual_id = $1`;
    expect(await one(records, [person.individual_id])).toEqual({ n: 0 });
    expect(await auditEntries('assessment')).toBe(0);

    const recorded = await postJson(`${server.url}/dr/assessments`, tokens.board, assessment);
    expect(recorded.status, recorded.text).toBe(201);
    expect(await one(records, [person.individual_id])).toEqual({ n: 1 });
    expect(await one(`select partner_id, record_ids from audit_log where action = 'assessment'`)).toEqual({ partner_id: 'board', record_ids: [recorded.json.person] });
  });
});
