import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { startTestServer, type TestServer } from './support/server.js';
import { clearValue, idColumns } from './support/data-keys.js';

/**
 * A partner with a field allow-list receives only those fields, sync and async: a programme that may know a
 * household's identifiers, poverty score and its members' sex never receives a name or a birth date.
 */

const FIELDS = ['group_identifier', 'poverty_score', 'member_list.demographic_info.sex'];
const PURPOSE = { '@type': 'Consent', ts: new Date().toISOString(), purpose: { text: 'eligibility', code: 'eligibility-check' } };

let server: TestServer;
let receiver: CallbackReceiver;
let token: string;
let household: { uin: string; names: string[]; birthDates: string[] };

beforeAll(async () => {
  receiver = await CallbackReceiver.start();
  server = await startTestServer(
    { WORKER_POLL_MS: '50' },
    {
      partners: [
        {
          id: 'narrow',
          secret: 'narrow-secret-1',
          scopes: ['social:registry.search'],
          fields: FIELDS,
          purposes: ['eligibility-check', 'targeting'],
          callbacks: { origins: [receiver.url], allowPrivateNetwork: true },
        },
      ],
    },
  );
  token = await server.token({ clientId: 'narrow', secret: 'narrow-secret-1' });
  const [found] = await server.db.query<{ group_id: number }>(`
    select ${idColumns()}, m.group_id from memberships m join identifiers x on x.individual_id = m.individual_id and x.id_type = 'UIN'
    join groups g on g.id = m.group_id where m.end_date is null and g.group_size >= 3 order by m.id limit 1`);
  const people = await server.db.query<{ given_name: string; surname: string; birth_date: string }>(
    `select i.given_name, i.surname, i.birth_date from memberships m join individuals i on i.id = m.individual_id where m.group_id = $1 and m.end_date is null`,
    [found.group_id],
  );
  household = { uin: clearValue(found), names: people.flatMap((p) => [p.given_name, p.surname]), birthDates: people.map((p) => p.birth_date) };
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

function expectProjected(group: any, text: string) {
  expect(Object.keys(group).filter((k) => !k.startsWith('@')).sort()).toEqual(['group_identifier', 'member_list', 'poverty_score']);
  expect(group.member_list.length).toBeGreaterThanOrEqual(3);
  for (const member of group.member_list) {
    expect(Object.keys(member).filter((k) => !k.startsWith('@'))).toEqual(['demographic_info']);
    expect(Object.keys(member.demographic_info).filter((k) => !k.startsWith('@'))).toEqual(['sex']);
  }
  for (const secret of [...household.names, ...household.birthDates]) expect(text).not.toContain(`"${secret}"`);
}

describe('field projection', () => {
  it('cuts sync search records down to the partner fields', async () => {
    const res = await postJson(
      `${server.url}/social/registry/sync/search`,
      token,
      searchEnvelope([searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: household.uin }, consent: PURPOSE })], { sender_id: 'narrow' }),
    );
    expect(res.status).toBe(200);
    expectProjected(res.json.message.search_response[0].data.reg_records[0], res.text);
  });

  it('cuts async callbacks the same way', async () => {
    const res = await postJson(
      `${server.url}/social/registry/search`,
      token,
      searchEnvelope([searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: household.uin }, consent: PURPOSE })], {
        sender_id: 'narrow',
        sender_uri: `${receiver.url}/on-search`,
      }),
    );
    expect(res.status).toBe(202);
    const correlationId = res.json.message.correlation_id;
    const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId));
    expectProjected(callback.body.message.search_response[0].data.reg_records[0], callback.text);
  });

  it('refuses, item by item, a search under no purpose or a purpose the partner may not use', async () => {
    const query = { query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: household.uin } };
    const res = await postJson(
      `${server.url}/social/registry/sync/search`,
      token,
      searchEnvelope(
        [
          searchItem(query, 'no-purpose'),
          searchItem({ ...query, consent: { purpose: { code: 'marketing' } } }, 'wrong-purpose'),
          searchItem({ ...query, authorize: { purpose: { code: 'targeting' } } }, 'allowed'),
        ],
        { sender_id: 'narrow' },
      ),
    );
    expect(res.status).toBe(200);
    const [none, wrong, allowed] = res.json.message.search_response;
    expect(none).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(none.status_reason_message).toMatch(/must state its purpose/);
    expect(wrong).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(wrong.status_reason_message).toMatch(/purpose marketing is not one/);
    expect(allowed).toMatchObject({ status: 'succ' });
    expect(none.data).toBeUndefined();
  });

  it('gives partners without a list whole records', async () => {
    const demo = await server.token();
    const res = await postJson(
      `${server.url}/social/registry/sync/search`,
      demo,
      searchEnvelope([searchItem({ query_type: 'idtype-value', response_entity: 'Group', query: { type: 'UIN', value: household.uin } })]),
    );
    const group = res.json.message.search_response[0].data.reg_records[0];
    expect(group.group_head_info.demographic_info.name.given_name).toBeTruthy();
  });
});
