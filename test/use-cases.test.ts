import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * The workshop's event-driven use cases, end to end over HTTP: a CRVS reports a vital event, and the programme officer
 * finds the person the programme is for with an ordinary DCI search.
 */

let db: Database;
let server: TestServer;
let crvs: string;
let officer: string;

beforeAll(async () => {
  db = await openTestDatabase();
  server = await startTestServer({}, { db, partners: [{ id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.notify'], signature: 'off' }] });
  crvs = await server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' });
  officer = await server.token();
});
afterAll(async () => {
  await server?.close();
  await db?.close();
});

async function crvsReports(eventType: string, record: Record<string, unknown>) {
  const res = await postJson(`${server.url}/crvs/registry/notify`, crvs, {
    header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'notify', status: 'succ', sender_id: 'national-crvs', total_count: 1 },
    message: { transaction_id: 'story', notify_event: [{ reference_id: randomUUID(), timestamp: new Date().toISOString(), data: { reg_event_type: eventType, reg_record_type: 'Person', reg_records: record } }] },
  });
  expect(res.status).toBe(200);
}

/** The programme officer's search: Member records matching every predicate, by the UIN given. */
async function officerFinds(predicates: [string, string, unknown][], uin: string): Promise<any[]> {
  const query = [...predicates, ['UIN', 'eq', uin] as [string, string, unknown]].map(([attribute_name, operator, attribute_value], k) => ({ seq_num: k + 1, expression1: { attribute_name, operator, attribute_value } }));
  const res = await postJson(`${server.url}/social/registry/sync/search`, officer, searchEnvelope([searchItem({ query_type: 'predicate', query })]));
  expect(res.status).toBe(200);
  expect(res.json.message.search_response[0].status).toBe('succ');
  return res.json.message.search_response[0].data.reg_records;
}

describe('use case: financial assistance to a poor widow', () => {
  it("finds the wife of a poor household as a widow once the CRVS reports her husband's death", async () => {
    // A poor household headed by a married man whose wife lives with him.
    const [family] = await db.query(`
      select ${idColumns('hx', 'husband')}, ${idColumns('wx', 'wife')}, g.poverty_score::float as poverty
      from groups g
      join memberships hm on hm.group_id = g.id and hm.is_head and hm.end_date is null
      join individuals h on h.id = hm.individual_id and h.sex = 'male' and h.marital_status = 'M' and h.death_date is null
      join memberships wm on wm.group_id = g.id and wm.relationship_to_head = 'SPS' and wm.end_date is null
      join individuals w on w.id = wm.individual_id and w.sex = 'female' and w.marital_status = 'M' and w.death_date is null
      join identifiers hx on hx.individual_id = h.id and hx.id_type = 'UIN' join identifiers wx on wx.individual_id = w.id and wx.id_type = 'UIN'
      where g.poverty_score < 40 order by g.id limit 1`);
    const husband = clearValue(family, 'husband');
    const wife = clearValue(family, 'wife');
    const poorWidow: [string, string, unknown][] = [['marital_status', 'eq', 'W'], ['sex', 'eq', 'female'], ['poverty_score', 'lt', 40]];

    // Before: she is a married woman, not a widow.
    expect(await officerFinds(poorWidow, wife)).toEqual([]);

    await crvsReports('spdci-common:RegistryEventType:Death', { identifier: [{ identifier_type: 'UIN', identifier_value: husband }], death_date: '2026-11-24' });

    // After: she is a widow in a poor household, now its head.
    const [found] = await officerFinds(poorWidow, wife);
    expect(found.marital_status).toBe('W');
    expect(found.additional_attributes).toContainEqual({ attribute_name: 'relationship_to_head', attribute_value: 'SELF' });
  });
});

describe('use case: conditional cash transfer for lactating mothers', () => {
  it('finds the mother as the mother of an infant once the CRVS reports the birth', async () => {
    const [mother] = await db.query(`
      select ${idColumns()} from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
      join memberships m on m.individual_id = i.id and m.end_date is null
      where i.sex = 'female' and i.death_date is null and i.birth_date between current_date - interval '40 years' and current_date - interval '18 years'
      order by i.id limit 1`);
    const uin = clearValue(mother);
    const motherOfInfant: [string, string, unknown][] = [['sex', 'eq', 'female'], ['youngest_child_age', 'lt', 1]];

    expect(await officerFinds(motherOfInfant, uin)).toEqual([]);

    await crvsReports('LiveBirth', {
      identifier: [{ identifier_type: 'BRN', identifier_value: 'B-2026-777001' }],
      name: { given_name: 'Esi', surname: 'Boateng' },
      sex: 'female',
      birth_date: new Date().toISOString().slice(0, 10),
      parent1_identifier: { identifier_type: 'UIN', identifier_value: uin },
    });

    const [found] = await officerFinds(motherOfInfant, uin);
    expect(found.demographic_info.identifier).toContainEqual({ identifier_type: 'UIN', identifier_value: uin });
    // And the baby is in her household.
    const res = await postJson(`${server.url}/social/registry/sync/search`, officer, searchEnvelope([searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: uin } })]));
    const baby = res.json.message.search_response[0].data.reg_records[0].member_list.find((m: any) => m.demographic_info.name?.given_name === 'Esi');
    expect(baby.demographic_info.identifier).toContainEqual({ identifier_type: 'BRN', identifier_value: 'B-2026-777001' });
  });
});
