import { randomBytes, randomUUID } from 'node:crypto';
import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { expectErrorBody, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns, TEST_DATA_KEYS, testVault } from './support/data-keys.js';
import { IdentifierVault } from '../src/registry/identifiers.js';
import { VitalEventApplier } from '../src/domains/crvs/apply.js';
import { VitalEventInbox } from '../src/domains/crvs/vital-event-inbox.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * A CRVS pushes vital events (POST /crvs/registry/notify): each is applied to the registry before the ACK, exactly
 * once whatever the resends, in whatever order they arrive; what cannot be applied waits for review.
 */

let db: Database;
let server: TestServer;
let crvs: string;
let admin: string;

beforeAll(async () => {
  db = await openTestDatabase();
  server = await startTestServer({}, {
    db,
    partners: [
      { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.notify'], signature: 'off' },
      { id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] },
    ],
  });
  crvs = await server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' });
  admin = await server.token({ clientId: 'ops', secret: 'ops-secret-123' });
});
afterAll(async () => {
  await server?.close();
  await db?.close();
});

type Record_ = Record<string, unknown>;
const uinOf = (v: string) => ({ identifier_type: 'UIN', identifier_value: v });

function notify(events: { type: string; record: Record_; ref?: string }[], header: Record_ = {}) {
  return {
    header: {
      version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'notify', status: 'succ',
      sender_id: 'national-crvs', total_count: events.length, completed_count: events.length, is_msg_encrypted: false, ...header,
    },
    message: {
      transaction_id: `n-${randomUUID().slice(0, 8)}`,
      notify_event: events.map((e) => ({
        reference_id: e.ref ?? `evt-${randomUUID().slice(0, 8)}`,
        timestamp: new Date().toISOString(),
        data: { version: '1.0.0', reg_type: 'ns:org:RegistryType:Civil', reg_event_type: e.type, reg_record_type: 'spdci-extensions-dci:Person', reg_records: { '@type': 'CRVS_Person', ...e.record } },
      })),
    },
  };
}

const send = (body: unknown, token = crvs) => postJson(`${server.url}/crvs/registry/notify`, token, body);

async function sendOk(events: Parameters<typeof notify>[0]) {
  const res = await send(notify(events));
  expect(res.status, res.text).toBe(200);
  expect(res.json.message.ack_status).toBe('ACK');
  return res;
}

const one = async <T = any>(text: string, params: unknown[] = []) => (await db.query(text, params))[0] as T;
const eventsOf = (column: 'individual_id' | 'group_id', id: number) =>
  db.query<{ event_type: string; source: string }>(`select event_type, source from registry_events where ${column} = $1 order by id`, [id]);

/** A household whose married head has a married spouse (SPS) and children; UINs in clear. */
async function marriedHousehold(offset: number) {
  const h = await one(`
    select g.id as group_id, g.group_size, hm.individual_id as head_id, sm.individual_id as spouse_id, ${idColumns('hx', 'head')}, ${idColumns('sx', 'spouse')}
    from groups g
    join memberships hm on hm.group_id = g.id and hm.is_head and hm.end_date is null join individuals hi on hi.id = hm.individual_id and hi.marital_status = 'M'
    join memberships sm on sm.group_id = g.id and sm.relationship_to_head = 'SPS' and sm.end_date is null join individuals si on si.id = sm.individual_id and si.marital_status = 'M'
    join identifiers hx on hx.individual_id = hi.id and hx.id_type = 'UIN' join identifiers sx on sx.individual_id = si.id and sx.id_type = 'UIN'
    where g.group_size >= 3 and hi.death_date is null and si.death_date is null order by g.id offset $1 limit 1`, [offset]);
  return { groupId: Number(h.group_id), size: h.group_size as number, headId: Number(h.head_id), spouseId: Number(h.spouse_id), headUin: clearValue(h, 'head'), spouseUin: clearValue(h, 'spouse') };
}

async function srSearch(criteria: Record_) {
  const demo = await server.token();
  const res = await postJson(`${server.url}/social/registry/sync/search`, demo, searchEnvelope([searchItem(criteria)]));
  expect(res.status).toBe(200);
  return res.json.message.search_response[0];
}

describe('death', () => {
  it("marks a married head deceased, ends the membership, makes the spouse the widowed head, and says so in registry events", async () => {
    const hh = await marriedHousehold(0);
    await sendOk([{ type: 'spdci-common:RegistryEventType:Death', record: { identifier: [uinOf(hh.headUin), { identifier_type: 'DRN', identifier_value: 'D-2026-000001' }], death_date: '2026-11-20', death_place: { name: 'District hospital' } } }]);

    const head = await one('select death_date::text as d, death_place from individuals where id = $1', [hh.headId]);
    expect(head).toEqual({ d: '2026-11-20', death_place: 'District hospital' });
    expect(await one('select end_date::text as e from memberships where individual_id = $1 and group_id = $2', [hh.headId, hh.groupId])).toEqual({ e: '2026-11-20' });
    const spouse = await one('select m.is_head, m.relationship_to_head, i.marital_status from memberships m join individuals i on i.id = m.individual_id where m.individual_id = $1 and m.end_date is null', [hh.spouseId]);
    expect(spouse).toEqual({ is_head: true, relationship_to_head: 'SELF', marital_status: 'W' });
    expect((await one('select group_size from groups where id = $1', [hh.groupId])).group_size).toBe(hh.size - 1);
    expect((await eventsOf('group_id', hh.groupId)).map((e) => e.event_type)).toEqual(['member_removed', 'marital_status_changed', 'head_changed']);
    expect(await eventsOf('individual_id', hh.headId)).toEqual([
      { event_type: 'death', source: 'crvs:national-crvs' },
      { event_type: 'member_removed', source: 'crvs:national-crvs' },
    ]);

    // The widow is found as a widow, heading her household; the DRN finds the deceased.
    const widow = await srSearch({ query_type: 'idtype-value', query: { type: 'UIN', value: hh.spouseUin } });
    expect(widow.data.reg_records[0].marital_status).toBe('W');
    const deceased = await srSearch({ query_type: 'idtype-value', response_entity: 'Person', query: { type: 'DRN', value: 'D-2026-000001' } });
    expect(deceased.data.reg_records).toHaveLength(1);
    expect(deceased.data.reg_records[0].death_date).toBe('2026-11-20');
  });

  it('applies a resent death once, in a new message or the same one', async () => {
    const hh = await marriedHousehold(1);
    const event = { type: 'Death', record: { identifier: [uinOf(hh.headUin), { identifier_type: 'DRN', identifier_value: 'D-2026-000002' }], death_date: '2026-11-21' }, ref: 'evt-d2' };
    await sendOk([event]);
    const before = (await db.query('select id from registry_events')).length;
    const again = notify([event]);
    const [once, twice] = [await send(again), await send(again)];
    // The same message sent twice is one delivery (DIGEST 7.6): the same ACK, and the event counted once.
    expect(twice.json.message.correlation_id).toBe(once.json.message.correlation_id);
    await sendOk([{ ...event, ref: 'evt-d2-resent-under-another-reference' }]);
    expect((await db.query('select id from registry_events')).length).toBe(before);
    expect(await one(`select state, attempts from crvs_events where reference_id = 'evt-d2'`)).toEqual({ state: 'applied', attempts: 3 });
    expect((await one('select group_size from groups where id = $1', [hh.groupId])).group_size).toBe(hh.size - 1);
  });

  it('applies nothing of a resent event that was dismissed, even when it now names a living person', async () => {
    const drn = { identifier_type: 'DRN', identifier_value: 'D-2026-000777' };
    await sendOk([{ type: 'Death', record: { identifier: [uinOf('0000000777'), drn], death_date: '2026-11-22' }, ref: 'evt-d777' }]);
    const row = await one(`select id, state from crvs_events where reference_id = 'evt-d777'`);
    expect(row.state).toBe('pending');
    const dismissed = await fetch(`${server.url}/admin/crvs/events/${row.id}/dismiss`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'not a person of this registry' }),
    });
    expect(dismissed.status).toBe(200);
    // The same death (its DRN is its identity) resent naming someone who is alive here.
    const hh = await marriedHousehold(5);
    const eventsBefore = (await db.query('select id from registry_events')).length;
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(hh.headUin), drn], death_date: '2026-11-22' }, ref: 'evt-d777-again' }]);
    expect((await one('select death_date from individuals where id = $1', [hh.headId])).death_date).toBeNull();
    expect((await one(`select count(*)::int as n from identifiers where id_type = 'DRN' and individual_id = $1`, [hh.headId])).n).toBe(0);
    expect((await db.query('select id from registry_events')).length).toBe(eventsBefore);
    expect(await one(`select state, attempts from crvs_events where id = $1`, [row.id])).toEqual({ state: 'dismissed', attempts: 2 });
  });
});

describe('live birth', () => {
  it("adds the child to a parent's household as the head's child, findable by BRN", async () => {
    const hh = await marriedHousehold(2);
    await sendOk([{ type: 'spdci-common:RegistryEventType:LiveBirth', record: { identifier: [{ identifier_type: 'BRN', identifier_value: 'B-2026-000100' }], name: { given_name: 'Amara', surname: 'Mensah' }, sex: 'female', birth_date: '2026-11-22T04:20:15Z', birth_place: { name: 'Regional hospital' }, parent1_identifier: uinOf('0000000404'), parent2_identifier: uinOf(hh.spouseUin) } }]);
    const child = await srSearch({ query_type: 'idtype-value', response_entity: 'Person', query: { type: 'BRN', value: 'B-2026-000100' } });
    expect(child.data.reg_records).toHaveLength(1);
    expect(child.data.reg_records[0]).toMatchObject({ name: { given_name: 'Amara', surname: 'Mensah' }, sex: 'female', birth_date: '2026-11-22' });
    const member = await one(`select m.relationship_to_head, m.group_id from identifiers x join memberships m on m.individual_id = x.individual_id and m.end_date is null
      where x.id_type = 'BRN' and x.id_value is null and x.individual_id = (select max(id) from individuals)`);
    expect(member).toEqual({ relationship_to_head: 'CHILD', group_id: hh.groupId });
    expect((await one('select group_size from groups where id = $1', [hh.groupId])).group_size).toBe(hh.size + 1);
    expect((await eventsOf('group_id', hh.groupId)).map((e) => e.event_type)).toEqual(['live_birth', 'member_added']);
    // Resent: still one child.
    await sendOk([{ type: 'LiveBirth', record: { identifier: [{ identifier_type: 'BRN', identifier_value: 'B-2026-000100' }], parent2_identifier: uinOf(hh.spouseUin) } }]);
    expect((await one('select group_size from groups where id = $1', [hh.groupId])).group_size).toBe(hh.size + 1);
  });

  it('keeps a birth whose parents are unknown for review; an operator can re-apply or dismiss it', async () => {
    await sendOk([{ type: 'LiveBirth', record: { identifier: [{ identifier_type: 'BRN', identifier_value: 'B-2026-000200' }], name: { given_name: 'Kofi' }, birth_date: '2026-11-01', parent1_identifier: uinOf('0000000001') }, ref: 'evt-orphan' }]);
    const list = await fetch(`${server.url}/admin/crvs/events?state=pending`, { headers: { authorization: `Bearer ${admin}` } });
    const pendingEvent = ((await list.json()) as { items: any[] }).items.find((e) => e.reference_id === 'evt-orphan');
    expect(pendingEvent).toMatchObject({ event_type: 'live_birth', state: 'pending', outcome: 'no parent of the child is a member of a household in the registry' });
    expect(JSON.stringify(pendingEvent)).not.toContain('Kofi');

    const call = (path: string, body?: unknown) =>
      fetch(`${server.url}/admin/crvs/events/${pendingEvent.id}/${path}`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
    const reapplied = await call('reapply');
    expect(reapplied.status).toBe(200);
    expect(((await reapplied.json()) as any).state).toBe('pending');
    const dismissed = await call('dismiss', { reason: 'the CRVS corrected the parents in a later event' });
    expect(dismissed.status).toBe(200);
    expect(((await dismissed.json()) as any).state).toBe('dismissed');
    expect((await call('reapply')).status).toBe(409);
    expect((await fetch(`${server.url}/admin/crvs/events/999999/reapply`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } })).status).toBe(404);
  });
});

describe('out of order', () => {
  it('holds a death that arrives before the birth of the same person, and applies it when the birth arrives', async () => {
    const hh = await marriedHousehold(3);
    const brn = { identifier_type: 'BRN', identifier_value: 'B-2026-000300' };
    await sendOk([{ type: 'Death', record: { identifier: [brn, { identifier_type: 'DRN', identifier_value: 'D-2026-000300' }], death_date: '2026-11-23' }, ref: 'evt-early-death' }]);
    expect(await one(`select state, outcome from crvs_events where reference_id = 'evt-early-death'`)).toEqual({ state: 'pending', outcome: "no person in the registry has the deceased's identifiers" });

    await sendOk([{ type: 'LiveBirth', record: { identifier: [brn], name: { given_name: 'Yaw' }, birth_date: '2026-11-22', parent1_identifier: uinOf(hh.headUin) }, ref: 'evt-late-birth' }]);
    expect((await one(`select state from crvs_events where reference_id = 'evt-early-death'`)).state).toBe('applied');
    const child = await srSearch({ query_type: 'idtype-value', response_entity: 'Person', query: { type: 'BRN', value: 'B-2026-000300' } });
    expect(child.data.reg_records[0]).toMatchObject({ birth_date: '2026-11-22', death_date: '2026-11-23' });
    expect((await one('select group_size from groups where id = $1', [hh.groupId])).group_size).toBe(hh.size);
  });
});

describe('marriage and divorce', () => {
  it('sets both spouses married, then divorced', async () => {
    const [a, b] = await db.query(`
      select ${idColumns()}, i.id from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
      where i.marital_status = 'S' and i.death_date is null order by i.id limit 2`);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(clearValue(a))], spouse_identifier: uinOf(clearValue(b)), marriage_date: '2026-10-10' } }]);
    expect((await db.query('select marital_status from individuals where id = any($1::bigint[])', [[a.id, b.id]])).map((r) => r.marital_status)).toEqual(['M', 'M']);
    await sendOk([{ type: 'ns:org:VitalEventType:divorce', record: { identifier: [uinOf(clearValue(b))], divorce_date: '2026-11-11' } }]);
    expect((await one('select marital_status from individuals where id = $1', [b.id])).marital_status).toBe('D');
    expect((await eventsOf('individual_id', Number(b.id))).map((e) => e.event_type)).toEqual(['marriage', 'divorce']);
  });
});

describe('CRVS as a registry', () => {
  const crvsSearch = async (criteria: Record_) => {
    const res = await postJson(`${server.url}/crvs/registry/sync/search`, await server.token(), searchEnvelope([searchItem(criteria)]));
    expect(res.status).toBe(200);
    return res.json.message.search_response[0];
  };

  it('answers a search by BRN with the CRVS_Person of a recorded birth, parents and birth place included', async () => {
    const hh = await marriedHousehold(4);
    await sendOk([{ type: 'LiveBirth', record: { identifier: [{ identifier_type: 'BRN', identifier_value: 'B-2026-000500' }], name: { given_name: 'Abena' }, sex: 'female', birth_date: '2026-11-20', birth_place: { name: 'Clinic 7' }, parent1_identifier: uinOf(hh.spouseUin), parent2_identifier: uinOf(hh.headUin) } }]);
    const item = await crvsSearch({ query_type: 'idtype-value', query: { type: 'BRN', value: 'B-2026-000500' } });
    expect(item.status).toBe('succ');
    expect(item.data).toMatchObject({ reg_type: 'ns:org:RegistryType:Civil', reg_record_type: 'spdci-extensions-dci:Person' });
    const [person] = item.data.reg_records;
    const parents = new Set([person.parent1_identifier?.identifier_value, person.parent2_identifier?.identifier_value]);
    expect(person).toMatchObject({ '@type': 'CRVS_Person', sex: 'female', birth_date: '2026-11-20', birth_place: { name: 'Clinic 7' }, marital_status: 'S' });
    expect(parents).toEqual(new Set([hh.spouseUin, hh.headUin]));
  });

  it("looks up the parents of the people it answers with by their ids' index, not by reading every parent link recorded", async () => {
    const hh = await marriedHousehold(44);
    await sendOk([{ type: 'LiveBirth', record: { identifier: [{ identifier_type: 'BRN', identifier_value: 'B-PARENTS-1' }], birth_date: '2026-11-20', parent1_identifier: uinOf(hh.spouseUin) } }]);
    const parentQueries: SQL[] = [];
    const { run } = db;
    db.run = ((fragment: SQL, ...rest: unknown[]) => {
      if (new PgDialect().sqlToQuery(fragment).sql.includes('relationships r')) parentQueries.push(fragment);
      return (run as (...args: unknown[]) => unknown).call(db, fragment, ...rest);
    }) as Database['run'];
    try {
      expect((await crvsSearch({ query_type: 'idtype-value', query: { type: 'BRN', value: 'B-PARENTS-1' } })).data.reg_records).toHaveLength(1);
    } finally {
      db.run = run;
    }
    expect(parentQueries).toHaveLength(1);
    // The page's people are the way in (one index lookup each), not every parent link of every birth recorded.
    const plan = (await db.run<{ 'QUERY PLAN': string }>(sql`explain ${parentQueries[0]}`)).map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/Index Cond: \(external_id = /);
  });

  it('answers a search by DRN with the death, and refuses a record type a CRVS does not hold', async () => {
    const deceased = await crvsSearch({ query_type: 'idtype-value', query: { type: 'DRN', value: 'D-2026-000001' } });
    expect(deceased.data.reg_records[0]).toMatchObject({ death_date: '2026-11-20', death_place: { name: 'District hospital' } });
    const groups = await crvsSearch({ query_type: 'idtype-value', reg_record_type: 'Group', query: { type: 'DRN', value: 'D-2026-000001' } });
    expect([groups.status, groups.status_reason_code]).toEqual(['rjct', 'rjct.search_criteria.invalid']);
  });
});

describe('messages arriving together', () => {
  const event = (ref: string) => ({ type: 'Death', record: { identifier: [uinOf(`unknown-${ref}`)], death_date: '2026-11-02' }, ref });
  const storedOf = (refs: string[]) =>
    db.query<{ reference_id: string; state: string; xmin: string }>(
      'select reference_id, state, xmin::text from crvs_events where reference_id = any($1::text[]) order by reference_id',
      [refs],
    );

  /** A trigger that fails the insert of the event 'evt-poisoned' (a database failure of one message). */
  async function withPoison(run: () => Promise<void>) {
    await db.query(`create function crvs_events_test_hook() returns trigger language plpgsql as $$
      begin
        if new.reference_id = 'evt-poisoned' then raise exception 'refused by the test'; end if;
        return new;
      end $$`);
    await db.query('create trigger crvs_events_test_hook before insert on crvs_events for each row execute function crvs_events_test_hook()');
    try {
      await run();
    } finally {
      await db.query('drop trigger crvs_events_test_hook on crvs_events');
      await db.query('drop function crvs_events_test_hook()');
    }
  }

  it('share one transaction in the inbox; one that fails in the database fails alone and the others are stored', async () => {
    // The inbox itself, so that the messages arrive in one event-loop turn whatever the machine's load.
    const vault = await IdentifierVault.load(db, TEST_DATA_KEYS);
    const inbox = new VitalEventInbox(db, vault, new VitalEventApplier(vault));
    const receive = (refs: string[]) =>
      Promise.allSettled(
        refs.map((ref) => inbox.receive({ senderId: 'national-crvs', messageId: randomUUID(), bodyHash: ref, correlationId: randomUUID(), events: notify([event(ref)]).message.notify_event })),
      );

    const together = Array.from({ length: 8 }, (_, k) => `evt-together-${k}`);
    expect((await receive(together)).map((r) => r.status)).toEqual(together.map(() => 'fulfilled'));
    const stored = await storedOf(together);
    expect(stored.map((r) => [r.reference_id, r.state])).toEqual(together.map((r) => [r, 'pending']));
    expect(new Set(stored.map((r) => r.xmin)).size).toBe(1);

    await withPoison(async () => {
      const refs = Array.from({ length: 8 }, (_, k) => (k === 3 ? 'evt-poisoned' : `evt-alone-${k}`));
      const outcomes = await receive(refs);
      expect(outcomes.map((r) => r.status)).toEqual(refs.map((r) => (r === 'evt-poisoned' ? 'rejected' : 'fulfilled')));
      expect((await storedOf(refs)).map((r) => [r.reference_id, r.state])).toEqual(refs.filter((r) => r !== 'evt-poisoned').map((r) => [r, 'pending']));
    });
  });

  it('over HTTP: the notify that fails in the database gets a 500, the ones sent with it are acknowledged and stored', async () => {
    await withPoison(async () => {
      const refs = Array.from({ length: 16 }, (_, k) => (k === 7 ? 'evt-poisoned' : `evt-http-${String(k).padStart(2, '0')}`));
      const answers = await Promise.all(refs.map((ref) => send(notify([event(ref)]))));
      expect(answers.map((r) => r.status)).toEqual(refs.map((r) => (r === 'evt-poisoned' ? 500 : 200)));
      expectErrorBody(answers[7].json, 'err.service.unavailable');
      expect((await storedOf(refs)).map((r) => [r.reference_id, r.state])).toEqual(refs.filter((r) => r !== 'evt-poisoned').map((r) => [r, 'pending']));
    });
  });
});

describe('refusals', () => {
  it('refuses a partner without crvs:registry.notify (403) and malformed notifies (400), applying nothing', async () => {
    const before = (await db.query('select id from crvs_events')).length;
    const searchOnly = await server.token({ clientId: 'spmis-search-only', secret: 'search-only-secret' });
    const forbidden = await send(notify([{ type: 'Death', record: { identifier: [uinOf('1')] } }], { sender_id: 'spmis-search-only' }), searchOnly);
    expect(forbidden.status).toBe(403);

    const noEvents = await send({ ...notify([]), message: { transaction_id: 't' } });
    expect(noEvents.status).toBe(400);
    expectErrorBody(noEvents.json, 'err.request.bad');
    const wrongAction = await send(notify([{ type: 'Death', record: { identifier: [uinOf('1')] } }], { action: 'search' }));
    expect(wrongAction.status).toBe(400);
    expect(wrongAction.json.header.status_reason_code).toBe('rjct.action.invalid');
    const dup = notify([{ type: 'Death', record: {}, ref: 'same' }, { type: 'Death', record: {}, ref: 'same' }]);
    expect((await send(dup)).status).toBe(400);
    const spoofed = await send(notify([{ type: 'Death', record: { identifier: [uinOf('1')] } }], { sender_id: 'someone-else' }));
    expect(spoofed.status).toBe(403);
    expectErrorBody(spoofed.json, 'err.sender_id.invalid');
    // PostgreSQL text cannot hold U+0000: refused before anything is stored, not a 500.
    const nul = await send(notify([{ type: 'Death', record: { identifier: [uinOf('1')] } }, { type: 'Death', record: { identifier: [uinOf('2\u0000')] } }]));
    expect(nul.status).toBe(400);
    expectErrorBody(nul.json, 'err.request.bad');
    expect((await db.query('select id from crvs_events')).length).toBe(before);
  });

  it('acknowledges and keeps for review an event it cannot read or does not apply, never dropping it', async () => {
    await sendOk([
      { type: 'Death', record: {}, ref: 'evt-empty' },
      { type: 'Adoption', record: { identifier: [uinOf('123')] }, ref: 'evt-adoption' },
    ]);
    const rows = await db.query(`select reference_id, state, outcome from crvs_events where reference_id in ('evt-empty', 'evt-adoption') order by reference_id`);
    expect(rows).toEqual([
      { reference_id: 'evt-adoption', state: 'pending', outcome: 'event type Adoption is not applied automatically' },
      { reference_id: 'evt-empty', state: 'pending', outcome: 'the deceased has no identifier' },
    ]);
  });

  it('acknowledges and keeps for review, applying nothing, an event whose date is no calendar date or is in the future', async () => {
    const hh = await marriedHousehold(6);
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const death = (ref: string, deathDate: unknown) => ({ type: 'Death', record: { identifier: [uinOf(hh.headUin), { identifier_type: 'DRN', identifier_value: `D-${ref}` }], death_date: deathDate }, ref });
    // PostgreSQL refuses the first two dates: each had failed the notify with a 500, at every resend.
    await sendOk([
      death('evt-feb30', '2026-02-30'),
      death('evt-year0', '0000-01-01T10:00:00Z'),
      death('evt-five-digits', '99999-01-01'),
      death('evt-number', 20261120),
      death('evt-future', day(2)),
      { type: 'Birth', record: { identifier: [{ identifier_type: 'BRN', identifier_value: 'B-evt-future' }], birth_date: '2099-02-03', parent1_identifier: [uinOf(hh.spouseUin)] }, ref: 'evt-future-birth' },
      { type: 'Marriage', record: { identifier: [uinOf(hh.spouseUin), { identifier_type: 'MRN', identifier_value: 'M-evt-future' }], marriage_date: day(3) }, ref: 'evt-future-marriage' },
    ]);
    const refs = ['evt-feb30', 'evt-year0', 'evt-five-digits', 'evt-number', 'evt-future', 'evt-future-birth', 'evt-future-marriage'];
    const rows = await db.query(`select reference_id, state, outcome from crvs_events where reference_id = any($1::text[]) order by reference_id`, [refs]);
    expect(rows).toEqual([
      { reference_id: 'evt-feb30', state: 'pending', outcome: 'the record cannot be read: death_date "2026-02-30" is not a date' },
      { reference_id: 'evt-five-digits', state: 'pending', outcome: 'the record cannot be read: death_date "99999-01-01" is not a date' },
      { reference_id: 'evt-future', state: 'pending', outcome: `death_date ${day(2)} is in the future` },
      { reference_id: 'evt-future-birth', state: 'pending', outcome: 'birth_date 2099-02-03 is in the future' },
      { reference_id: 'evt-future-marriage', state: 'pending', outcome: `the marriage or divorce date ${day(3)} is in the future` },
      { reference_id: 'evt-number', state: 'pending', outcome: 'the record cannot be read: death_date 20261120 is not a date' },
      { reference_id: 'evt-year0', state: 'pending', outcome: 'the record cannot be read: death_date "0000-01-01T10:00:00Z" is not a date' },
    ]);
    expect(await one('select death_date, marital_status from individuals where id = $1', [hh.headId])).toEqual({ death_date: null, marital_status: 'M' });
    expect(await one(`select count(*)::int as n from identifiers where id_type = 'BRN' and id_lookup = $1`, [testVault().lookupKey('BRN', 'B-evt-future')])).toEqual({ n: 0 });
    // A death dated tomorrow (UTC) is today east of UTC: applied.
    await sendOk([death('evt-tomorrow', day(1))]);
    expect(await one('select death_date::text as d from individuals where id = $1', [hh.headId])).toEqual({ d: day(1) });
  });

  it('stores the CRVS records sealed: no name or identifier in clear', async () => {
    const raw = await db.query<{ t: string }>(`select encode(record_sealed, 'escape') as t from crvs_events`);
    const all = raw.map((r) => r.t).join('\n');
    for (const secret of ['Amara', 'Mensah', 'B-2026-000100', 'D-2026-000001', 'Kofi']) expect(all).not.toContain(secret);
  });
});

/* Vital events whose application needs care: events out of order, events naming the dead or the wrong person,
 * conflicting registrations, a record per spouse, names too long to store, notifies about one identifier at once. */

const id = (type: string, value: string) => ({ identifier_type: type, identifier_value: value });
const stateOf = (ref: string) => one<{ state: string; outcome: string }>('select state, outcome from crvs_events where reference_id = $1', [ref]);

/** Living single adults with a UIN, not in any household used above. */
async function singles(n: number, offset: number) {
  const rows = await db.query(`
    select ${idColumns()}, i.id from individuals i join identifiers x on x.individual_id = i.id and x.id_type = 'UIN'
    where i.marital_status = 'S' and i.death_date is null and i.birth_date < current_date - interval '20 years' order by i.id offset $1 limit $2`, [offset, n]);
  return rows.map((r) => ({ id: Number(r.id), uin: clearValue(r) }));
}

describe('marital events', () => {
  it('a marriage that arrives after a later divorce of the same couple does not undo the divorce', async () => {
    const [a, b] = await singles(2, 40);
    await sendOk([{ type: 'Divorce', record: { identifier: [uinOf(a.uin), id('MRN', 'M-OOO-1')], spouse_identifier: uinOf(b.uin), divorce_date: '2026-11-11' }, ref: 'ooo-divorce' }]);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(a.uin), id('MRN', 'M-OOO-1')], spouse_identifier: uinOf(b.uin), marriage_date: '2020-01-01' }, ref: 'ooo-marriage' }]);
    const statuses = (await db.query('select marital_status from individuals where id = any($1::bigint[])', [[a.id, b.id]])).map((r) => r.marital_status);
    expect(statuses).toEqual(['D', 'D']);
  });

  it('dates a divorce by its divorce date when its record also carries the marriage date, so the late marriage record does not undo it', async () => {
    const [a, b] = await singles(2, 110);
    const mrn = id('MRN', 'M-DATED-1');
    await sendOk([{ type: 'Divorce', record: { identifier: [uinOf(a.uin), mrn], spouse_identifier: uinOf(b.uin), marital_status: 'D', marriage_date: '2019-06-01', divorce_date: '2025-01-15' }, ref: 'dated-divorce' }]);
    expect(await db.query(`select occurred_on::text as on from registry_events where individual_id = $1 and event_type = 'divorce'`, [a.id])).toEqual([{ on: '2025-01-15' }]);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(a.uin), mrn], spouse_identifier: uinOf(b.uin), marriage_date: '2019-06-01' }, ref: 'dated-marriage' }]);
    const statuses = (await db.query('select marital_status from individuals where id = any($1::bigint[])', [[a.id, b.id]])).map((r) => r.marital_status);
    expect(statuses).toEqual(['D', 'D']);
  });

  it('a marriage naming a deceased person is not applied to the living spouse', async () => {
    const [a, b] = await singles(2, 50);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(a.uin), id('DRN', 'D-MAR-DEAD')], death_date: '2025-01-01' } }]);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(b.uin), id('MRN', 'M-DEAD-1')], spouse_identifier: uinOf(a.uin), marriage_date: '2026-06-01' }, ref: 'marry-dead' }]);
    expect((await one('select marital_status from individuals where id = $1', [b.id])).marital_status).toBe('S');
    expect((await stateOf('marry-dead')).state).toBe('pending');
  });
});

describe('birth of someone the registry already knows', () => {
  it('attaches the BRN to the person found by UIN, so a death by BRN applies', async () => {
    // A late registration of the birth of someone the registry holds by UIN (born that day).
    const [p] = await singles(1, 60);
    const { born } = await one<{ born: string }>('select birth_date::text as born from individuals where id = $1', [p.id]);
    await sendOk([{ type: 'LiveBirth', record: { identifier: [id('BRN', 'B-LATE-1'), uinOf(p.uin)], birth_date: born }, ref: 'late-birth' }]);
    expect(await stateOf('late-birth')).toEqual({ state: 'applied', outcome: 'already registered; the identifiers of this record added' });
    // Another birth date: not the same person, whatever the UIN says.
    await sendOk([{ type: 'LiveBirth', record: { identifier: [id('BRN', 'B-LATE-2'), uinOf(p.uin)], birth_date: '2001-02-03' }, ref: 'late-birth-2' }]);
    expect(await stateOf('late-birth-2')).toEqual({ state: 'pending', outcome: `the child's identifiers name a person born on ${born}, not 2001-02-03` });
    const brn = await one(`select count(*)::int as n from identifiers where id_type = 'BRN' and id_lookup = $1 and individual_id = $2`, [testVault().lookupKey('BRN', 'B-LATE-1'), p.id]);
    await sendOk([{ type: 'Death', record: { identifier: [id('BRN', 'B-LATE-1'), id('DRN', 'D-LATE-1')], death_date: '2026-01-05' }, ref: 'death-by-brn' }]);
    expect({ brnAttached: brn.n, death: (await stateOf('death-by-brn')).state }).toEqual({ brnAttached: 1, death: 'applied' });
  });

  it("does not drop a newborn whose record carries another person's identifier", async () => {
    const hh = await marriedHousehold(20);
    // The CRVS record of the newborn lists the mother's UIN among the child's identifiers (a data-entry error).
    await sendOk([{ type: 'LiveBirth', record: { identifier: [id('BRN', 'B-CLASH-1'), uinOf(hh.spouseUin)], name: { given_name: 'Esi' }, birth_date: '2026-10-01', parent1_identifier: uinOf(hh.spouseUin) }, ref: 'clash-birth' }]);
    const r = await stateOf('clash-birth');
    const size = (await one('select group_size from groups where id = $1', [hh.groupId])).group_size;
    // Either the child is registered, or the event waits for review: never "applied" with no child.
    expect(r.state === 'pending' || size === hh.size + 1, `${r.state}: ${r.outcome}; size ${size} (was ${hh.size})`).toBe(true);
  });
});

describe('implausible deaths', () => {
  it('keeps for review a death dated before the birth', async () => {
    const hh = await marriedHousehold(21);
    const born = (await one('select birth_date::text as b from individuals where id = $1', [hh.headId])).b as string;
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(hh.headUin), id('DRN', 'D-BEFORE-BIRTH')], death_date: '1900-01-01' }, ref: 'death-before-birth' }]);
    const row = await one('select birth_date::text as b, death_date::text as d from individuals where id = $1', [hh.headId]);
    expect({ ...row, state: (await stateOf('death-before-birth')).state }).toEqual({ b: born, d: null, state: 'pending' });
  });

  it('keeps for review a second death registration of the same person with another date', async () => {
    const hh = await marriedHousehold(22);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(hh.headUin), id('DRN', 'D-TWICE-1')], death_date: '2026-03-01' } }]);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(hh.headUin), id('DRN', 'D-TWICE-2')], death_date: '2026-07-15' }, ref: 'death-twice' }]);
    expect(await stateOf('death-twice')).toMatchObject({ state: 'pending' });
  });
});

describe('bad input', () => {
  it('does not fail a birth with a very long surname with a 500 at every resend', async () => {
    const hh = await marriedHousehold(23);
    const surname = randomBytes(6000).toString('base64');
    const res = await send(notify([{ type: 'LiveBirth', record: { identifier: [id('BRN', 'B-LONG-1')], name: { given_name: 'A', surname }, birth_date: '2026-10-01', parent1_identifier: uinOf(hh.headUin) }, ref: 'long-name' }]));
    expect(res.status, res.text).toBe(200);
    expect(await stateOf('long-name')).toEqual({ state: 'pending', outcome: 'the record cannot be read: surname is longer than 200 characters' });
  });
});

/** Makes the transaction that settles event `ref` slow to commit (it holds its locks 1 s longer), to widen a race. */
async function slowSettle(ref: string, run: () => Promise<void>) {
  await db.query(`create or replace function crvs_test_slow() returns trigger language plpgsql as $$
    begin if new.reference_id = '${ref}' and new.state <> 'received' then perform pg_sleep(1); end if; return new; end $$`);
  await db.query('create trigger crvs_test_slow before update on crvs_events for each row execute function crvs_test_slow()');
  try {
    await run();
  } finally {
    await db.query('drop trigger crvs_test_slow on crvs_events');
    await db.query('drop function crvs_test_slow()');
  }
}
/** Until a transaction is held in that trigger's sleep (it has done its work and holds its locks). */
async function inSlowSettle() {
  for (let i = 0; i < 200; i++) {
    if ((await one(`select count(*)::int as n from pg_stat_activity where wait_event = 'PgSleep'`)).n > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the slow transaction never reached its settle');
}

describe.runIf(process.env.TEST_DATABASE_URL)('concurrent notifies (PostgreSQL)', () => {
  it("re-applies a pending event while a notify resending it holds the event's identifiers", async () => {
    const uin = uinOf('0000000888');
    await sendOk([{ type: 'Death', record: { identifier: [uin, id('DRN', 'D-REAPPLY-RACE')], death_date: '2026-11-01' }, ref: 'reapply-race' }]);
    const [{ id: eventId }] = await db.query<{ id: number }>(`select id from crvs_events where reference_id = 'reapply-race'`);
    const reapplyWaiting = async () => {
      for (let i = 0; i < 300; i++) {
        if ((await one(`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`)).n > 0) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    // What a notify resending the event does: the lock of its identifiers, then the event's row.
    const resend = db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`UIN:${testVault().lookupKey('UIN', '0000000888')}`]);
      await reapplyWaiting();
      await tx.query('select id from crvs_events where id = $1 for update', [eventId]);
    });
    const reapply = fetch(`${server.url}/admin/crvs/events/${eventId}/reapply`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    const [resent, reapplied] = await Promise.allSettled([resend, reapply]);
    expect(resent.status).toBe('fulfilled');
    expect(reapplied.status === 'fulfilled' && reapplied.value.status).toBe(200);
  });

  it('a death held for its birth applies when the birth is committed by another notify at the same time', async () => {
    const hh = await marriedHousehold(30);
    const brn = id('BRN', 'B-RACE-1');
    await slowSettle('race-death', async () => {
      const death = sendOk([{ type: 'Death', record: { identifier: [brn, id('DRN', 'D-RACE-1')], death_date: '2026-11-23' }, ref: 'race-death' }]);
      await inSlowSettle();
      await sendOk([{ type: 'LiveBirth', record: { identifier: [brn], name: { given_name: 'Kwame' }, birth_date: '2026-11-22', parent1_identifier: uinOf(hh.headUin) }, ref: 'race-birth' }]);
      await death;
    });
    expect((await stateOf('race-birth')).state).toBe('applied');
    expect(await stateOf('race-death')).toMatchObject({ state: 'applied' });
  });

  it('a household keeps a head when its head and the successor die in notifies at the same time', async () => {
    // A household whose head has no spouse in it, and its oldest adult member (the successor by rule).
    const h = await one(`
      select g.id as group_id, hm.individual_id as head_id, ${idColumns('hx', 'head')}, s.individual_id as next_id, ${idColumns('nx', 'next')}
      from groups g join memberships hm on hm.group_id = g.id and hm.is_head and hm.end_date is null
      join identifiers hx on hx.individual_id = hm.individual_id and hx.id_type = 'UIN'
      cross join lateral (select m.individual_id from memberships m join individuals i on i.id = m.individual_id
                          where m.group_id = g.id and m.end_date is null and not m.is_head and i.death_date is null
                            and i.birth_date <= current_date - interval '18 years' order by i.birth_date, i.id limit 1) s
      join identifiers nx on nx.individual_id = s.individual_id and nx.id_type = 'UIN'
      where g.group_size >= 3 and not exists (select 1 from memberships sm where sm.group_id = g.id and sm.end_date is null and sm.relationship_to_head in ('SPS', 'HUSB', 'WIFE'))
        and (select count(*) from memberships m where m.group_id = g.id and m.end_date is null) >= 3
      order by g.id limit 1`);
    // The successor's death is being committed when the head's death arrives.
    await slowSettle('race-next', async () => {
      const next = sendOk([{ type: 'Death', record: { identifier: [uinOf(clearValue(h, 'next')), id('DRN', 'D-RACE-NEXT')], death_date: '2026-11-20' }, ref: 'race-next' }]);
      await inSlowSettle();
      await sendOk([{ type: 'Death', record: { identifier: [uinOf(clearValue(h, 'head')), id('DRN', 'D-RACE-HEAD')], death_date: '2026-11-20' }, ref: 'race-head' }]);
      await next;
    });
    const heads = await db.query(`select m.individual_id, i.death_date from memberships m join individuals i on i.id = m.individual_id
      where m.group_id = $1 and m.is_head and m.end_date is null`, [h.group_id]);
    const living = await one('select count(*)::int as n from memberships where group_id = $1 and end_date is null', [h.group_id]);
    expect(living.n).toBeGreaterThan(0);
    expect(heads).toHaveLength(1);
  });
});

describe('events waiting for the same identifier', () => {
  it('all apply when it arrives, even when the first one tried still cannot', async () => {
    const hh = await marriedHousehold(31);
    const [q] = await singles(1, 70);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(q.uin), id('DRN', 'D-Q-1')], death_date: '2026-01-01' } }]); // q: no household now
    const brnX = id('BRN', 'B-WAIT-X');
    // E1: a birth whose parent is named by X's BRN and q's UIN (it stays pending once X exists: two people).
    await sendOk([{ type: 'LiveBirth', record: { identifier: [id('BRN', 'B-WAIT-C')], birth_date: '2026-11-01', parent1_identifier: [brnX, uinOf(q.uin)] }, ref: 'wait-e1' }]);
    // E2: the death of X, before X's birth.
    await sendOk([{ type: 'Death', record: { identifier: [brnX, id('DRN', 'D-WAIT-X')], death_date: '2026-11-23' }, ref: 'wait-e2' }]);
    await sendOk([{ type: 'LiveBirth', record: { identifier: [brnX], birth_date: '2026-11-22', parent1_identifier: uinOf(hh.headUin) }, ref: 'wait-birth' }]);
    expect((await stateOf('wait-birth')).state).toBe('applied');
    expect((await stateOf('wait-e1')).state).toBe('pending');
    expect(await stateOf('wait-e2')).toMatchObject({ state: 'applied' });
  });
});

describe('one marriage, one record per spouse', () => {
  it('sets both spouses married when the CRVS sends each spouse its own CRVS_Person record with the MRN', async () => {
    const [a, b] = await singles(2, 80);
    const mrn = id('MRN', 'M-PAIR-1');
    await sendOk([
      { type: 'Marriage', record: { identifier: [uinOf(a.uin), mrn], marital_status: 'M', marriage_date: '2026-10-10' }, ref: 'pair-a' },
      { type: 'Marriage', record: { identifier: [uinOf(b.uin), mrn], marital_status: 'M', marriage_date: '2026-10-10' }, ref: 'pair-b' },
    ]);
    const statuses = (await db.query('select marital_status from individuals where id = any($1::bigint[]) order by id', [[a.id, b.id]])).map((r) => r.marital_status);
    expect(statuses).toEqual(['M', 'M']);
  });
});

describe('message ids (DIGEST 7.6)', () => {
  it('answers the same message sent again with its first ACK and applies nothing again; refuses its id for another message', async () => {
    const hh = await marriedHousehold(40);
    const body = notify([{ type: 'Death', record: { identifier: [uinOf(hh.headUin), id('DRN', 'D-MSG-1')], death_date: '2026-11-02' }, ref: 'msg-once' }]);
    const first = await send(body);
    expect(first.status, first.text).toBe(200);
    const again = await send(body);
    expect(again.status).toBe(200);
    expect(again.json.message).toMatchObject({ ack_status: 'ACK', correlation_id: first.json.message.correlation_id });
    expect(await one('select attempts from crvs_events where reference_id = $1', ['msg-once'])).toEqual({ attempts: 1 });

    const other = notify([{ type: 'Death', record: { identifier: [uinOf(hh.spouseUin), id('DRN', 'D-MSG-2')], death_date: '2026-11-03' }, ref: 'msg-other' }], { message_id: body.header.message_id });
    const reused = await send(other);
    expect(reused.status).toBe(409);
    expect(reused.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.message_id.duplicate' });
    expectErrorBody(reused.json, 'err.request.bad');
    expect(await one('select count(*)::int as n from crvs_events where reference_id = $1', ['msg-other'])).toEqual({ n: 0 });
    expect(await one('select death_date from individuals where id = $1', [hh.spouseId])).toEqual({ death_date: null });
  });
});

describe('a pending event resent with other content', () => {
  it('keeps the record as resent: a later re-apply applies that one, not the first', async () => {
    const [p] = await singles(1, 90);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf('0000000999'), id('DRN', 'D-RESENT-1')], death_date: '2026-01-05' }, ref: 'resent' }]);
    expect(await stateOf('resent')).toMatchObject({ state: 'pending', outcome: "no person in the registry has the deceased's identifiers" });
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(p.uin), id('DRN', 'D-RESENT-1')], death_date: '1900-01-01' }, ref: 'resent' }]);
    const resent = await stateOf('resent');
    expect(resent).toMatchObject({ state: 'pending', outcome: expect.stringMatching(/^the death date 1900-01-01 is before the birth date/) });
    const [{ id: eventId }] = await db.query<{ id: number }>(`select id from crvs_events where reference_id = 'resent'`);
    const res = await fetch(`${server.url}/admin/crvs/events/${eventId}/reapply`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    expect(await stateOf('resent')).toEqual(resent);
  });
});

describe('records shaped as the DCI CRVS samples', () => {
  // The samples' CRVS_Person lists its marriage dates and divorce dates: `marriage_date: ["2019-09-21T11:20:00"]`, `divorce_date: []`.
  it('applies a death whose record lists the marriage dates, and a marriage dated by its list', async () => {
    const hh = await marriedHousehold(41);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(hh.headUin), id('DRN', 'D-SAMPLE-1')], death_date: '2026-11-04', marital_status: 'M', marriage_date: ['2019-09-21T11:20:00'], divorce_date: [] }, ref: 'sample-death' }]);
    expect(await stateOf('sample-death')).toMatchObject({ state: 'applied' });
    expect((await one('select death_date::text as d from individuals where id = $1', [hh.headId])).d).toBe('2026-11-04');

    const [a, b] = await singles(2, 100);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(a.uin), id('MRN', 'M-SAMPLE-1')], spouse_identifier: uinOf(b.uin), marriage_date: ['2026-10-01T10:00:00'], divorce_date: [] }, ref: 'sample-marriage' }]);
    expect(await stateOf('sample-marriage')).toMatchObject({ state: 'applied' });
    expect(await db.query(`select occurred_on::text as on from registry_events where individual_id = $1 and event_type = 'marriage'`, [a.id])).toEqual([{ on: '2026-10-01' }]);
  });
});

describe('a household with two wives', () => {
  /** A second married wife (SPS) of the household's head, born in 1985 (younger than the demo spouses). */
  async function secondWife(groupId: number) {
    const [w] = await db.query<{ id: number }>(`insert into individuals (given_name, surname, sex, birth_date, marital_status) values ('Awa', 'Diallo', 'female', '1985-03-01', 'M') returning id`);
    await db.query(`insert into memberships (group_id, individual_id, relationship_to_head, start_date) values ($1, $2, 'SPS', '2010-01-01')`, [groupId, w.id]);
    await db.query('update groups set group_size = group_size + 1 where id = $1', [groupId]);
    return Number(w.id);
  }
  const statusOf = async (ids: number[]) => (await db.query('select marital_status from individuals where id = any($1::bigint[]) order by id', [ids])).map((r) => r.marital_status);

  it("widows both wives when the head dies", async () => {
    const hh = await marriedHousehold(42);
    const wife2 = await secondWife(hh.groupId);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(hh.headUin), id('DRN', 'D-WIVES-1')], death_date: '2026-11-05' }, ref: 'wives-head' }]);
    expect(await statusOf([hh.spouseId, wife2])).toEqual(['W', 'W']);
    const widowed = await db.query(`select individual_id from registry_events where group_id = $1 and event_type = 'marital_status_changed' order by individual_id`, [hh.groupId]);
    expect(widowed.map((r) => Number(r.individual_id))).toEqual([hh.spouseId, wife2]);
    expect((await db.query('select individual_id from memberships where group_id = $1 and is_head and end_date is null', [hh.groupId])).map((r) => Number(r.individual_id))).toHaveLength(1);
  });

  it('leaves the head married when one of his two wives dies', async () => {
    const hh = await marriedHousehold(43);
    await secondWife(hh.groupId);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(hh.spouseUin), id('DRN', 'D-WIVES-2')], death_date: '2026-11-05' }, ref: 'wives-wife' }]);
    expect(await statusOf([hh.headId])).toEqual(['M']);
  });
});

describe('spouses in different households', () => {
  const statusOf = async (personId: number) => (await one('select marital_status from individuals where id = $1', [personId])).marital_status;

  it('widows the spouse of a marriage the CRVS notified, whatever household each lives in; not after their divorce', async () => {
    // Single adults, each in a household of their own.
    const people = await singles(40, 120);
    const groups = new Map((await db.query('select individual_id, group_id from memberships where end_date is null and individual_id = any($1::bigint[])', [people.map((p) => p.id)])).map((m) => [Number(m.individual_id), Number(m.group_id)]));
    const apart = people.filter((p, k) => groups.has(p.id) && people.findIndex((q) => groups.get(q.id) === groups.get(p.id)) === k);
    const [a, b, c, d] = apart;
    expect(apart.length).toBeGreaterThanOrEqual(7);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(a.uin), id('MRN', 'M-APART-1')], spouse_identifier: uinOf(b.uin), marriage_date: '2025-05-01' } }]);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(a.uin), id('DRN', 'D-APART-1')], death_date: '2026-02-01' } }]);
    expect(await statusOf(b.id)).toBe('W');
    expect(await db.query(`select event_type, occurred_on::text as on from registry_events where individual_id = $1 order by id`, [b.id])).toEqual([
      { event_type: 'marriage', on: '2025-05-01' },
      { event_type: 'marital_status_changed', on: '2026-02-01' },
    ]);

    // A couple divorced, then each remarried (to people the registry does not hold): the ex-spouse's death widows nobody.
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(c.uin), id('MRN', 'M-APART-2')], spouse_identifier: uinOf(d.uin), marriage_date: '2020-05-01' } }]);
    await sendOk([{ type: 'Divorce', record: { identifier: [uinOf(c.uin), id('MRN', 'M-APART-2')], spouse_identifier: uinOf(d.uin), divorce_date: '2024-05-01' } }]);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(c.uin), id('MRN', 'M-APART-3')], marriage_date: '2025-06-01' } }]);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(d.uin), id('MRN', 'M-APART-4')], marriage_date: '2025-07-01' } }]);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(c.uin), id('DRN', 'D-APART-2')], death_date: '2026-02-01' } }]);
    expect(await statusOf(d.id)).toBe('M');

    // A man married to two wives, each in her own household: the death of one leaves him married.
    const [e, f, g] = apart.slice(4);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(e.uin), id('MRN', 'M-APART-5')], spouse_identifier: uinOf(f.uin), marriage_date: '2015-05-01' } }]);
    await sendOk([{ type: 'Marriage', record: { identifier: [uinOf(e.uin), id('MRN', 'M-APART-6')], spouse_identifier: uinOf(g.uin), marriage_date: '2018-05-01' } }]);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(f.uin), id('DRN', 'D-APART-3')], death_date: '2026-02-01' } }]);
    expect(await statusOf(e.id)).toBe('M');
  });
});
