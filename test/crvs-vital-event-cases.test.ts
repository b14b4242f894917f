import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { postJson } from './support/dci.js';
import { clearValue, idColumns, testVault } from './support/data-keys.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

/**
 * Vital events whose application needs care: events out of order, events naming the dead or the wrong person,
 * conflicting registrations, a record per spouse, names too long to store. Each goes to the review queue or applies
 * as a civil registrar would expect.
 */

let db: Database;
let server: TestServer;
let crvs: string;

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
});
afterAll(async () => {
  await server?.close();
  await db?.close();
});

type Record_ = Record<string, unknown>;
const uinOf = (v: string) => ({ identifier_type: 'UIN', identifier_value: v });
const id = (type: string, value: string) => ({ identifier_type: type, identifier_value: value });

function notify(events: { type: string; record: Record_; ref?: string }[]) {
  return {
    header: {
      version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'notify', status: 'succ',
      sender_id: 'national-crvs', total_count: events.length, completed_count: events.length, is_msg_encrypted: false,
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
const send = (body: unknown) => postJson(`${server.url}/crvs/registry/notify`, crvs, body);
async function sendOk(events: Parameters<typeof notify>[0]) {
  const res = await send(notify(events));
  expect(res.status, res.text).toBe(200);
  return res;
}
const one = async <T = any>(text: string, params: unknown[] = []) => (await db.query(text, params))[0] as T;
const stateOf = (ref: string) => one<{ state: string; outcome: string }>('select state, outcome from crvs_events where reference_id = $1', [ref]);

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

describe('a pending event resent with other content', () => {
  it('keeps the record as resent: a later re-apply applies that one, not the first', async () => {
    const [p] = await singles(1, 90);
    await sendOk([{ type: 'Death', record: { identifier: [uinOf('0000000999'), id('DRN', 'D-RESENT-1')], death_date: '2026-01-05' }, ref: 'resent' }]);
    expect(await stateOf('resent')).toMatchObject({ state: 'pending', outcome: "no person in the registry has the deceased's identifiers" });
    await sendOk([{ type: 'Death', record: { identifier: [uinOf(p.uin), id('DRN', 'D-RESENT-1')], death_date: '1900-01-01' }, ref: 'resent' }]);
    const resent = await stateOf('resent');
    expect(resent).toMatchObject({ state: 'pending', outcome: expect.stringMatching(/^the death date 1900-01-01 is before the birth date/) });
    const [{ id: eventId }] = await db.query<{ id: number }>(`select id from crvs_events where reference_id = 'resent'`);
    const ops = await server.token({ clientId: 'ops', secret: 'ops-secret-123' });
    const res = await fetch(`${server.url}/admin/crvs/events/${eventId}/reapply`, { method: 'POST', headers: { authorization: `Bearer ${ops}` } });
    expect(res.status).toBe(200);
    expect(await stateOf('resent')).toEqual(resent);
  });
});
