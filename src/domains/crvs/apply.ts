import type { Database } from '../../db/client.js';
import { latestEventDate } from '../../dci/query/values.js';
import { EventBatch } from '../../registry/events.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import { REGISTRATION_NUMBER, type Identifier, type VitalEvent } from './vital-events.js';

type Tx = Pick<Database, 'query'>;

/** What applying an event did: `applied` (or found already applied), or `pending` with the reason and what it waits for. */
export interface ApplyResult {
  state: 'applied' | 'pending';
  outcome: string;
  /** `TYPE:lookup` of identifiers whose arrival may let a pending event apply. */
  waitingFor: string[];
  /** `TYPE:lookup` of identifiers this event created (pending events waiting for them are tried again). */
  created: string[];
  /** The registry events of the change, for the caller to write in the same transaction (with its outcome). */
  events?: EventBatch;
}

const applied = (outcome: string, created: string[] = []): ApplyResult => ({ state: 'applied', outcome, waitingFor: [], created });
const pending = (outcome: string, waitingFor: string[]): ApplyResult => ({ state: 'pending', outcome, waitingFor, created: [] });

/** Why an event cannot have happened yet (a date after latestEventDate): it waits for review instead of applying. */
function futureDateOf(e: VitalEvent): string | undefined {
  const latest = latestEventDate();
  for (const [field, date] of [['birth_date', e.birthDate], ['death_date', e.deathDate], ['the marriage or divorce date', e.eventDate]] as const) {
    if (date && date > latest) return `${field} ${date} is in the future`;
  }
  return undefined;
}

const SPOUSE = ['SPS', 'HUSB', 'WIFE'];

interface Membership {
  id: number;
  group_id: number;
  is_head: boolean;
  relationship_to_head: string;
}

/**
 * Applies vital events to the registry inside the caller's transaction, writing the registry events of every change
 * (the outbox subscriptions read). Each method is idempotent: a person already deceased, a child already registered
 * under its BRN, a marital status already set change nothing again.
 */
export class VitalEventApplier {
  constructor(private readonly vault: IdentifierVault) {}

  /** The `TYPE:lookup` keys of identifiers of types this registry knows (others cannot match anyone here). */
  keysOf(ids: Identifier[]): string[] {
    return ids.filter((x) => this.vault.types.has(x.type)).map((x) => `${x.type}:${this.vault.lookupKey(x.type, x.value)}`);
  }

  /**
   * The event's identity at its sender: its registration number's blind index, else the sender's reference. A marriage
   * or divorce has one MRN and a record for each spouse (CRVS_Person is one person): each spouse's record is its own
   * event, told apart by the spouse's first other identifier.
   */
  eventKey(e: VitalEvent, referenceId: string): string {
    const numberType = e.type && REGISTRATION_NUMBER[e.type];
    const number = numberType && e.subject.find((x) => x.type === numberType);
    if (!number) return `ref:${e.sentType}:${referenceId}`;
    const key = `${e.type}:${numberType}:${this.vault.lookupKey(numberType, number.value)}`;
    if (e.type !== 'marriage' && e.type !== 'divorce') return key;
    const person = e.subject.find((x) => x.type !== numberType && this.vault.types.has(x.type));
    return person ? `${key}:${person.type}:${this.vault.lookupKey(person.type, person.value)}` : `${key}:ref:${referenceId}`;
  }

  async apply(tx: Tx, e: VitalEvent, source: string): Promise<ApplyResult> {
    const future = futureDateOf(e);
    if (future) return pending(future, []);
    const events = new EventBatch(source);
    let result: ApplyResult;
    switch (e.type) {
      case 'death':
        result = await this.death(tx, e, events);
        break;
      case 'live_birth':
        result = await this.birth(tx, e, events);
        break;
      case 'marriage':
      case 'divorce':
        result = await this.maritalChange(tx, e, events);
        break;
      default:
        return pending(`event type ${e.sentType} is not applied automatically`, []);
    }
    return { ...result, events };
  }

  private async people(tx: Tx, ids: Identifier[]): Promise<number[]> {
    const known = ids.filter((x) => this.vault.types.has(x.type));
    if (known.length === 0) return [];
    const rows = await tx.query<{ id: number }>(
      `select distinct x.individual_id as id from unnest($1::text[], $2::text[]) as k(t, l)
       join identifiers x on x.id_type = k.t and x.id_lookup = k.l where x.individual_id is not null`,
      [known.map((x) => x.type), known.map((x) => this.vault.lookupKey(x.type, x.value))],
    );
    return rows.map((r) => Number(r.id));
  }

  /** The one person the identifiers name, or why not (none, several). */
  private async onePerson(tx: Tx, ids: Identifier[], who: string): Promise<{ id: number } | { why: string }> {
    if (ids.length === 0) return { why: `the ${who} has no identifier` };
    const found = await this.people(tx, ids);
    if (found.length === 0) return { why: `no person in the registry has the ${who}'s identifiers` };
    if (found.length > 1) return { why: `the ${who}'s identifiers name ${found.length} different people` };
    return { id: found[0] };
  }

  private async addIdentifiers(tx: Tx, individualId: number, ids: Identifier[]): Promise<string[]> {
    const stored = ids.filter((x) => this.vault.types.get(x.type)?.owner === 'individual').map((x) => ({ type: x.type, ...this.vault.stored(x.type, x.value) }));
    if (stored.length === 0) return [];
    const rows = await tx.query<{ id_type: string; id_lookup: string }>(
      `insert into identifiers (id_type, id_value, id_sealed, id_lookup, individual_id)
       select u.t, u.v, decode(u.s, 'hex'), u.l, $5 from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as u(t, v, s, l)
       on conflict (id_type, id_lookup) do nothing returning id_type, id_lookup`,
      [stored.map((x) => x.type), stored.map((x) => x.value), stored.map((x) => (x.sealed ? x.sealed.toString('hex') : null)), stored.map((x) => x.lookup), individualId],
    );
    return rows.map((r) => `${r.id_type}:${r.id_lookup}`);
  }

  private async activeMembership(tx: Tx, individualId: number): Promise<Membership | undefined> {
    const [m] = await tx.query<Membership>(
      'select id, group_id, is_head, relationship_to_head from memberships where individual_id = $1 and end_date is null',
      [individualId],
    );
    return m && { ...m, id: Number(m.id), group_id: Number(m.group_id) };
  }

  /**
   * Death: the person is marked deceased (date, place, DRN); their membership ends; if they headed the household a
   * new head is chosen by rule (spouse, then the oldest adult, then the oldest member); a surviving spouse becomes
   * widowed. Two statements (data-modifying CTEs), three when a spouse is widowed or a head replaced, as a CRVS
   * reporting deaths in bulk waits on each: find and lock the person and add the DRN; record the death, end the
   * membership and read the household; widow the spouse and name the new head. The caller writes the registry events
   * with the event's outcome.
   */
  private async death(tx: Tx, e: VitalEvent, events: EventBatch): Promise<ApplyResult> {
    if (e.subject.length === 0) return pending('the deceased has no identifier', []);
    const known = e.subject.filter((x) => this.vault.types.has(x.type));
    const newIds = e.subject.filter((x) => this.vault.types.get(x.type)?.owner === 'individual').map((x) => ({ type: x.type, ...this.vault.stored(x.type, x.value) }));
    // The person the identifiers name, locked for the change; their identifiers from this event added when one matches.
    const on = e.deathDate ?? new Date().toISOString().slice(0, 10);
    // The DRN is attached only to a death this event can be: not before the person's birth, not a second death on
    // another date (a conflicting registration an operator must resolve).
    const found = await tx.query<{ id: number; death_date: string | null; birth_date: string | null; marital_status: string | null; created: string[] | null; spouses: number[] | null }>(
      `with p as (
         select i.id, i.death_date, i.birth_date, i.marital_status from individuals i
         where i.id in (select x.individual_id from unnest($1::text[], $2::text[]) as k(t, l) join identifiers x on x.id_type = k.t and x.id_lookup = k.l)
         for update),
       added as (
         insert into identifiers (id_type, id_value, id_sealed, id_lookup, individual_id)
         select u.t, u.v, decode(u.s, 'hex'), u.l, (select id from p) from unnest($3::text[], $4::text[], $5::text[], $6::text[]) as u(t, v, s, l)
         where (select count(*) from p) = 1
           and not exists (select 1 from p where p.birth_date > $7::date or p.death_date <> $7::date)
         on conflict (id_type, id_lookup) do nothing returning id_type, id_lookup),
       -- The household locked before the next statement reads it: a death in it committing meanwhile (its successor's)
       -- is then seen there. Read in the same statement as the lock wait, the household was as before that death.
       household as (select g.id from groups g where g.id in (select m.group_id from memberships m where m.individual_id in (select id from p) and m.end_date is null)
         and (select count(*) from p) = 1 for update)
       select p.id, p.death_date::text as death_date, p.birth_date::text as birth_date, p.marital_status,
              (select array_agg(a.id_type || ':' || a.id_lookup) from added a) as created, (select count(*) from household) as household_locked,
              (select array_agg(r.related_individual_id) from relationships r join individuals s on s.id = r.related_individual_id
               where r.individual_id = p.id and r.relationship = 'SPS' and s.death_date is null and s.marital_status = 'M'
                 and not exists (select 1 from relationships o join individuals os on os.id = o.related_individual_id
                                 where o.individual_id = s.id and o.relationship = 'SPS' and o.related_individual_id <> p.id and os.death_date is null)) as spouses
       from p`,
      [
        known.map((x) => x.type),
        known.map((x) => this.vault.lookupKey(x.type, x.value)),
        newIds.map((x) => x.type),
        newIds.map((x) => x.value),
        newIds.map((x) => (x.sealed ? x.sealed.toString('hex') : null)),
        newIds.map((x) => x.lookup),
        on,
      ],
    );
    if (found.length === 0) return pending("no person in the registry has the deceased's identifiers", this.keysOf(e.subject));
    if (found.length > 1) return pending(`the deceased's identifiers name ${found.length} different people`, this.keysOf(e.subject));
    const row = found[0];
    const personId = Number(row.id);
    const created = row.created ?? [];
    if (row.birth_date !== null && on < row.birth_date) return pending(`the death date ${on} is before the birth date ${row.birth_date}`, []);
    if (row.death_date !== null) {
      if (e.deathDate && row.death_date !== e.deathDate) return pending(`already recorded as deceased on ${row.death_date}; this registration says ${e.deathDate}`, []);
      return applied(`already recorded as deceased on ${row.death_date}`, created);
    }

    // The death recorded, the membership ended, and the household as it was (every active member, the deceased too).
    const household = await tx.query<{ membership_id: number; group_id: number; individual_id: number; is_head: boolean; relationship_to_head: string; adult: boolean; dead: boolean; marital_status: string | null }>(
      `with died as (update individuals set death_date = $2::date, death_place = $3, last_updated = now() where id = $1),
       mine as (select id, group_id from memberships where individual_id = $1 and end_date is null),
       ended as (update memberships set end_date = greatest(start_date, $2::date) where id = (select id from mine) returning group_id),
       shrunk as (update groups set group_size = greatest(group_size - 1, 0), last_updated = now() where id = (select group_id from ended))
       select m.id as membership_id, m.group_id, m.individual_id, m.is_head, m.relationship_to_head, i.death_date is not null as dead,
              coalesce(i.birth_date <= current_date - interval '18 years', false) as adult, i.marital_status
       from memberships m join individuals i on i.id = m.individual_id
       where m.end_date is null and m.group_id = (select group_id from mine)
       order by i.birth_date nulls last, i.id`,
      [personId, on, e.deathPlace ?? null],
    );
    events.add('death', { individualId: personId, on });
    const m = household.find((x) => Number(x.individual_id) === personId);
    const groupId = m && Number(m.group_id);
    if (m) events.add('member_removed', { individualId: personId, groupId, on, details: { reason: 'death' } });

    // The statement above read the household as it was before it: the deceased is still among its members there.
    const members = household.filter((x) => !x.dead && Number(x.individual_id) !== personId);
    // The surviving spouses: the head's spouses (a household may have several) when the head died, the head when a
    // spouse died (a head with another living married spouse in the household is still married); and, whatever
    // household they live in, the spouses of a marriage a CRVS notified that have no other living spouse.
    const spouses = m?.is_head ? members.filter((x) => SPOUSE.includes(x.relationship_to_head)) : [];
    const head = m && SPOUSE.includes(m.relationship_to_head) ? members.find((x) => x.relationship_to_head === 'SELF') : undefined;
    if (head && !members.some((x) => SPOUSE.includes(x.relationship_to_head) && x.marital_status === 'M')) spouses.push(head);
    const widowed = row.marital_status === 'M' ? spouses.filter((x) => x.marital_status !== 'W').map((x) => Number(x.individual_id)) : [];
    const stillMarried = head && !spouses.includes(head) ? Number(head.individual_id) : undefined;
    for (const id of row.marital_status === 'M' ? (row.spouses ?? []).map(Number) : []) if (id !== stillMarried && !widowed.includes(id)) widowed.push(id);
    for (const id of widowed) {
      const inHousehold = members.some((x) => Number(x.individual_id) === id);
      events.add('marital_status_changed', { individualId: id, groupId: inHousehold ? groupId : undefined, on, details: { marital_status: 'W', reason: 'spouse died' } });
    }
    const adult = members.find((x) => x.adult);
    const [rule, next] = !m?.is_head ? [undefined, undefined] : spouses.length > 0 ? ['spouse', spouses[0]] : adult ? ['oldest adult', adult] : ['oldest member', members[0]];
    if (next) events.add('head_changed', { individualId: Number(next.individual_id), groupId, on, details: { rule, previous_head_died: true } });
    if (widowed.length > 0 || next) {
      await tx.query(
        `with widowed as (update individuals set marital_status = 'W', last_updated = now() where id = any($1::bigint[]))
         update memberships set is_head = true, relationship_to_head = 'SELF' where id = $2::bigint`,
        [widowed, next?.membership_id ?? null],
      );
    }
    if (!m) return applied('marked deceased (no active household)', created);
    if (!m.is_head) return applied('marked deceased; household membership ended', created);
    if (!next) return applied('marked deceased; the household has no living member left', created);
    return applied(`marked deceased; household membership ended; new head chosen by rule: ${rule}`, created);
  }

  /**
   * Live birth: a new person with the BRN, added as a child to the household of a parent we know. A child the
   * registry already holds (found by an identifier of the record, born that day) gets the record's identifiers added
   * (a death by BRN then finds them); identifiers naming someone else (a parent, two people, another birth date) go to
   * review rather than being taken as "already registered".
   */
  private async birth(tx: Tx, e: VitalEvent, events: EventBatch): Promise<ApplyResult> {
    if (e.subject.length > 0) {
      const existing = await this.people(tx, e.subject);
      if (existing.length > 1) return pending(`the child's identifiers name ${existing.length} different people`, []);
      if (existing.length === 1) {
        const parents = (await Promise.all(e.parents.map((p) => this.people(tx, p)))).flat();
        if (parents.includes(existing[0])) return pending("the child's identifiers name one of its parents", []);
        const [known] = await tx.query<{ birth_date: string | null }>('select birth_date::text as birth_date from individuals where id = $1 for update', [existing[0]]);
        if (e.birthDate && known.birth_date && known.birth_date !== e.birthDate) {
          return pending(`the child's identifiers name a person born on ${known.birth_date}, not ${e.birthDate}`, []);
        }
        const created = await this.addIdentifiers(tx, existing[0], e.subject);
        return applied(created.length > 0 ? 'already registered; the identifiers of this record added' : 'already registered', created);
      }
    }
    let household: Membership | undefined;
    let parentId: number | undefined;
    const parentIds: number[] = [];
    for (const parent of e.parents) {
      const found = await this.onePerson(tx, parent, 'parent');
      if ('why' in found) continue;
      parentIds.push(found.id);
      const m = household ? undefined : await this.activeMembership(tx, found.id);
      if (m) {
        household = m;
        parentId = found.id;
      }
    }
    if (!household || parentId === undefined) {
      return pending(e.parents.length === 0 ? 'the birth names no parent' : 'no parent of the child is a member of a household in the registry', e.parents.flatMap((p) => this.keysOf(p)));
    }
    const [child] = await tx.query<{ id: number }>(
      `insert into individuals (given_name, surname, sex, birth_date, marital_status, attributes) values ($1, $2, $3, $4::date, 'S', $5::jsonb) returning id`,
      [e.givenName ?? null, e.surname ?? null, e.sex, e.birthDate ?? null, JSON.stringify(e.birthPlace ? { birth_place: e.birthPlace } : {})],
    );
    const childId = Number(child.id);
    const created = await this.addIdentifiers(tx, childId, e.subject);
    // A child of the head or the head's spouse is the head's child; a child of anyone else in the household a grandchild
    // when the parent is the head's child, otherwise another relative.
    const relationship = household.is_head || SPOUSE.includes(household.relationship_to_head) ? 'CHILD' : ['CHILD', 'SON', 'DAU'].includes(household.relationship_to_head) ? 'GRNDCHILD' : 'EXT';
    await tx.query(`insert into memberships (group_id, individual_id, relationship_to_head, start_date) values ($1, $2, $3, coalesce($4::date, current_date))`, [
      household.group_id,
      childId,
      relationship,
      e.birthDate ?? null,
    ]);
    await tx.query('update groups set group_size = group_size + 1, last_updated = now() where id = $1', [household.group_id]);
    // The child's parents, whatever household they live in: mother, father or parent by the parent's recorded sex.
    await tx.query(
      `insert into relationships (individual_id, related_individual_id, relationship, source)
       select $1, p.id, case p.sex when 'female' then 'MTH' when 'male' then 'FTH' else 'PRN' end, $3
       from individuals p where p.id = any($2::bigint[]) on conflict do nothing`,
      [childId, parentIds, events.source],
    );
    events.add('live_birth', { individualId: childId, groupId: household.group_id, on: e.birthDate, details: { parent_individual_id: parentId } });
    events.add('member_added', { individualId: childId, groupId: household.group_id, on: e.birthDate, details: { relationship_to_head: relationship, reason: 'birth' } });
    return applied(`registered as ${relationship} in the household of a parent`, created);
  }

  /** Marriage (M) or divorce (D) of the subject, and of the spouse when the event names one we know. */
  private async maritalChange(tx: Tx, e: VitalEvent, events: EventBatch): Promise<ApplyResult> {
    const status = e.type === 'marriage' ? 'M' : 'D';
    const person = await this.onePerson(tx, e.subject, 'person');
    if ('why' in person) return pending(person.why, this.keysOf(e.subject));
    const ids = [person.id];
    const spouse = e.spouse.length > 0 ? await this.onePerson(tx, e.spouse, 'spouse') : undefined;
    if (spouse && 'id' in spouse && spouse.id !== person.id) ids.push(spouse.id);
    // Either of them recorded as deceased: not applied to the other alone (nor read as "already married").
    const dead = await tx.query<{ death_date: string }>('select death_date::text from individuals where id = any($1::bigint[]) and death_date is not null', [ids]);
    if (dead.length > 0) return pending(`a person this ${e.type} names is recorded as deceased on ${dead[0].death_date}`, []);
    // A marriage or divorce older than a marital change already recorded for them (a CRVS resending late) is history:
    // it must not undo the later change.
    if (e.eventDate) {
      const [later] = await tx.query<{ on: string }>(
        `select max(occurred_on)::text as on from registry_events
         where individual_id = any($1::bigint[]) and event_type in ('marriage', 'divorce', 'marital_status_changed') and occurred_on > $2::date`,
        [ids, e.eventDate],
      );
      if (later?.on) return applied(`a marital change of ${later.on} is recorded, later than this ${e.type} of ${e.eventDate}: status unchanged`);
    }
    const changed = await tx.query<{ id: number }>(
      `update individuals set marital_status = $2, last_updated = now() where id = any($1::bigint[]) and marital_status is distinct from $2 and death_date is null returning id`,
      [ids, status],
    );
    for (const c of changed) events.add(e.type!, { individualId: Number(c.id), on: e.eventDate, details: { marital_status: status } });
    // The couple linked as spouses, whatever households they live in, for a death to widow the survivor; a divorce
    // ends the link (every spouse link of the person when it names no spouse we know).
    const [one, other] = [ids[0], ids[1] ?? null];
    if (status === 'M' && other !== null) {
      await tx.query(`insert into relationships (individual_id, related_individual_id, relationship, source) values ($1, $2, 'SPS', $3), ($2, $1, 'SPS', $3) on conflict do nothing`, [one, other, events.source]);
    } else if (status === 'D') {
      await tx.query(
        `delete from relationships where relationship = 'SPS'
         and ((individual_id = $1 and ($2::bigint is null or related_individual_id = $2)) or (related_individual_id = $1 and ($2::bigint is null or individual_id = $2)))`,
        [one, other],
      );
    }
    const spouseNote = spouse && 'why' in spouse ? `; spouse not updated: ${spouse.why}` : '';
    return applied(changed.length === 0 ? `marital status already ${status}` : `marital status set to ${status} for ${changed.length} ${changed.length === 1 ? 'person' : 'people'}${spouseNote}`);
  }
}
