import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import type { Queryable } from '../social/store.js';
import { EventBatch } from '../../registry/events.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import { type ResolvedSubject, resolveSubjects } from '../../registry/subjects.js';
import { BeneficiaryRejection, type BeneficiaryUpdate, type EnrolmentUpdate, readBeneficiary, referenceIdOf } from './beneficiaries.js';
import { lockKeys } from '../../db/key-locks.js';
import { ENROLMENT_STATUS } from './vocabulary.js';

type Tx = Pick<Database, 'query'>;

/** An enrolment as the duplicate check needs it: which programme, whose (assistance unit), which status. */
export interface EnrolmentSummary {
  code: string;
  name: string;
  assistance_unit: number;
  status: number;
}

/** One enrolment as the IBR reports it. */
export interface EnrolmentView extends EnrolmentSummary {
  enrolment_date: string;
  status_changed_on: string | null;
  benefits: Record<string, unknown>[];
}

export interface UpdateResult {
  reference_id: string;
  /** Why the beneficiary was refused; undefined when applied (or already recorded). */
  refused?: string;
  outcome: string;
  /** External id of the person or household, when known. */
  subjectId?: string;
}

const ENROLMENT_COLUMNS = `p.code, p.name, e.assistance_unit, e.status, e.enrolment_date::text as enrolment_date, e.status_changed_on::text as status_changed_on, e.benefits`;

/** The four ways a subject holds enrolments: a person's own and their household's; a household's and its members'. */
const SUBJECT_ENROLMENTS = (columns: string) => `
       select s.n, ${columns} from s join enrolments e on e.individual_id = s.person
       union all
       select s.n, ${columns} from s join memberships m on m.individual_id = s.person and m.end_date is null join enrolments e on e.group_id = m.group_id
       union all
       select s.n, ${columns} from s join enrolments e on e.group_id = s.household
       union all
       select s.n, ${columns} from s join memberships m on m.group_id = s.household and m.end_date is null join enrolments e on e.individual_id = m.individual_id`;

/**
 * The enrolments of subjects, in one statement for a whole batch (the duplicate check of sync/enrolled). Without
 * details every step is an index-only scan (the covering indexes of migration 0014); with them each enrolment's row
 * is read too.
 */
export async function enrolmentsOf(db: Pick<Database, 'query'>, subjects: ({ individualId: number } | { groupId: number } | undefined)[], details: true): Promise<EnrolmentView[][]>;
export async function enrolmentsOf(db: Pick<Database, 'query'>, subjects: ({ individualId: number } | { groupId: number } | undefined)[], details: boolean): Promise<EnrolmentSummary[][]>;
export async function enrolmentsOf(db: Pick<Database, 'query'>, subjects: ({ individualId: number } | { groupId: number } | undefined)[], details: boolean): Promise<EnrolmentSummary[][]> {
  const n: number[] = [];
  const persons: (number | null)[] = [];
  const households: (number | null)[] = [];
  subjects.forEach((s, i) => {
    if (!s) return;
    n.push(i);
    persons.push('individualId' in s ? s.individualId : null);
    households.push('groupId' in s ? s.groupId : null);
  });
  const out = subjects.map((): EnrolmentSummary[] => []);
  if (n.length === 0) return out;
  const rows = await db.query<EnrolmentSummary & { n: number }>(
    details
      ? `with s as (select * from unnest($1::int[], $2::bigint[], $3::bigint[]) as s(n, person, household)), hits as (${SUBJECT_ENROLMENTS('e.id')})
         select h.n, ${ENROLMENT_COLUMNS} from hits h join enrolments e on e.id = h.id join programmes p on p.id = e.programme_id
         order by h.n, e.enrolment_date, p.code`
      : `with s as (select * from unnest($1::int[], $2::bigint[], $3::bigint[]) as s(n, person, household)),
         hits as (${SUBJECT_ENROLMENTS('e.programme_id, e.status, e.assistance_unit')})
         select h.n, p.code, p.name, h.assistance_unit, h.status from hits h join programmes p on p.id = h.programme_id order by h.n, p.code`,
    [n, persons, households],
  );
  for (const r of rows) out[r.n].push(r);
  return out;
}

/** The enrolments of people and households by external id (own and household's for people), for search records. */
export async function enrolmentsByOwner(db: Queryable, owner: 'individual' | 'group', externalIds: string[]): Promise<Map<string, EnrolmentView[]>> {
  const out = new Map<string, EnrolmentView[]>();
  if (externalIds.length === 0) return out;
  const ids = sql.join(externalIds.map((id) => sql`${id}::uuid`), sql`, `);
  const rows = await db.run<EnrolmentView & { owner: string }>(
    owner === 'individual'
      ? // Own enrolments and the household's apart, each through its index (as one OR, every enrolment was compared).
        sql`select i.external_id::text as owner, ${sql.raw(ENROLMENT_COLUMNS)}
         from individuals i
         cross join lateral (select * from enrolments own where own.individual_id = i.id
                             union all
                             select held.* from memberships m join enrolments held on held.group_id = m.group_id
                             where m.individual_id = i.id and m.end_date is null) e
         join programmes p on p.id = e.programme_id
         where i.external_id in (${ids}) order by e.enrolment_date, p.code`
      : sql`select g.external_id::text as owner, ${sql.raw(ENROLMENT_COLUMNS)}
         from groups g join enrolments e on e.group_id = g.id join programmes p on p.id = e.programme_id
         where g.external_id in (${ids}) order by e.enrolment_date, p.code`,
  );
  for (const r of rows) {
    const list = out.get(r.owner) ?? [];
    list.push(r);
    out.set(r.owner, list);
  }
  return out;
}

/**
 * Enrolments pushed by SP-MIS (IBR sync/enrollment/updates). Each beneficiary is read, matched to a registry person
 * or household by identifier, and applied idempotently per (beneficiary, programme): a new enrolment is recorded, a
 * changed status is recorded with its date in the status history, an identical push changes nothing. A programme
 * unknown here is registered to the partner pushing it; only that partner may push its enrolments afterwards. Every
 * change writes its registry event (enrolment, enrolment_status_changed) in the same transaction.
 */
export class EnrolmentStore {
  constructor(
    private readonly db: Database,
    private readonly vault: IdentifierVault,
  ) {}

  /**
   * Applies a message's beneficiaries in one transaction; `firstSeen` records the message id in it (so a message whose
   * transaction failed may be sent again), `audit` writes the audit entry of what changed.
   */
  async apply(
    partnerId: string,
    beneficiaries: unknown[],
    hooks: { firstSeen: (tx: Tx) => Promise<void>; audit: (tx: Tx, changed: string[]) => Promise<void> },
  ): Promise<UpdateResult[]> {
    const parsed = beneficiaries.map((b, i): BeneficiaryUpdate | UpdateResult => {
      try {
        return readBeneficiary(b, i, this.vault);
      } catch (e) {
        if (!(e instanceof BeneficiaryRejection)) throw e;
        return { reference_id: referenceIdOf(b, i), refused: e.message, outcome: 'refused' };
      }
    });
    const seen = new Set<string>();
    for (const [i, p] of parsed.entries()) {
      if (seen.has(p.reference_id)) parsed[i] = { reference_id: p.reference_id, refused: `reference_id ${p.reference_id.slice(0, 99)} appears twice in the message`, outcome: 'refused' };
      seen.add(p.reference_id);
    }
    return this.db.transaction(async (tx) => {
      await hooks.firstSeen(tx);
      const updates = parsed.filter((p): p is BeneficiaryUpdate => 'subject' in p);
      // Each enrolment locks its programme's row (the upsert) in message order: two messages naming the same programmes
      // in other orders deadlocked (503). Their programmes are locked first, in one order.
      await lockKeys(tx, updates.flatMap((u) => u.enrolments.map((e) => `ibr:programme:${e.programme.code}`)));
      const subjects = await resolveSubjects(tx, this.vault, updates.map((u) => u.subject));
      const bySubject = new Map(updates.map((u, i) => [u, subjects[i]]));
      const events = new EventBatch(`ibr:${partnerId}`);
      const results: UpdateResult[] = [];
      for (const p of parsed) {
        if (!('subject' in p)) {
          results.push(p);
          continue;
        }
        results.push(await this.applyOne(tx, partnerId, p, bySubject.get(p)!, events));
      }
      await events.write(tx);
      const changed = results.flatMap((r) => (r.subjectId ? [r.subjectId] : []));
      if (changed.length > 0) await hooks.audit(tx, changed);
      return results;
    });
  }

  private async applyOne(tx: Tx, partnerId: string, u: BeneficiaryUpdate, subject: ResolvedSubject, events: EventBatch): Promise<UpdateResult> {
    if ('unknown' in subject || 'ambiguous' in subject) return { reference_id: u.reference_id, refused: 'unknown' in subject ? subject.unknown : subject.ambiguous, outcome: 'refused' };
    const codes = u.enrolments.map((e) => e.programme.code);
    const owned = await tx.query<{ code: string; owner_id: string | null }>('select code, owner_id from programmes where code = any($1::text[])', [codes]);
    const foreign = owned.find((p) => p.owner_id !== partnerId);
    if (foreign) {
      return { reference_id: u.reference_id, refused: `programme ${foreign.code} is run by another system: only its SP-MIS may push its enrolments`, outcome: 'refused' };
    }
    // A person's enrolment events name their household too (subscribers of household records hear of them).
    const householdId =
      'groupId' in subject
        ? subject.groupId
        : (await tx.query<{ group_id: number }>('select group_id from memberships where individual_id = $1 and end_date is null', [subject.individualId])).map((r) => Number(r.group_id))[0];
    const outcomes: string[] = [];
    for (const e of u.enrolments) outcomes.push(await this.applyEnrolment(tx, partnerId, u, subject, householdId, e, events));
    return { reference_id: u.reference_id, outcome: outcomes.join('; '), subjectId: subject.externalId };
  }

  private async applyEnrolment(
    tx: Tx,
    partnerId: string,
    u: BeneficiaryUpdate,
    subject: { individualId: number; externalId: string } | { groupId: number; externalId: string },
    householdId: number | undefined,
    e: EnrolmentUpdate,
    events: EventBatch,
  ): Promise<string> {
    const [programme] = await tx.query<{ id: number }>(
      `insert into programmes (code, name, benefit_type, benefit_frequency, owner_id) values ($1, $2, $3, $4, $5)
       on conflict (code) do update set benefit_type = coalesce(excluded.benefit_type, programmes.benefit_type),
         benefit_frequency = coalesce(excluded.benefit_frequency, programmes.benefit_frequency), updated_at = now()
       returning id`,
      [e.programme.code, e.programme.name, e.programme.benefitType ?? null, e.programme.benefitFrequency ?? null, partnerId],
    );
    const person = 'individualId' in subject ? subject.individualId : null;
    const group = 'groupId' in subject ? subject.groupId : null;
    const at = { individualId: person ?? undefined, groupId: group ?? householdId, on: e.statusChangedOn ?? e.enrolmentDate };
    const inserted = await tx.query<{ id: number }>(
      `insert into enrolments (programme_id, individual_id, group_id, assistance_unit, status, enrolment_date, status_changed_on, benefits, source_id)
       values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
       on conflict ${person !== null ? '(individual_id, programme_id) where individual_id is not null' : '(group_id, programme_id) where group_id is not null'} do nothing
       returning id`,
      [programme.id, person, group, u.assistanceUnit, e.status, e.enrolmentDate, e.statusChangedOn ?? null, JSON.stringify(e.benefits), partnerId],
    );
    const label = ENROLMENT_STATUS.entries.find((x) => x.value === e.status)!.label;
    if (inserted.length > 0) {
      await tx.query('insert into enrolment_status_changes (enrolment_id, status, changed_on, source_id) values ($1, $2, $3, $4)', [inserted[0].id, e.status, e.statusChangedOn ?? e.enrolmentDate, partnerId]);
      events.add('enrolment', { ...at, details: { programme: e.programme.code, status: e.status } });
      return `enrolled in ${e.programme.code} (${label})`;
    }
    // Benefits compared as jsonb: its text puts keys in its own order (benefit_date before benefit_type), so the same
    // benefits pushed again had read as changed.
    const [current] = await tx.query<{ id: number; status: number; enrolment_date: string; status_changed_on: string | null; same_benefits: boolean }>(
      `select id, status, enrolment_date::text, status_changed_on::text, benefits = $3::jsonb as same_benefits from enrolments
       where programme_id = $1 and ${person !== null ? 'individual_id' : 'group_id'} = $2 for update`,
      [programme.id, person ?? group, JSON.stringify(e.benefits)],
    );
    // A change older than the one in effect (a message retried late, two systems out of step) goes into the history
    // for what it was, but does not overturn the newer status: a graduated person must not come back as suspended.
    if (e.statusChangedOn && current.status_changed_on && e.statusChangedOn < current.status_changed_on && e.status !== current.status) {
      await tx.query(
        `insert into enrolment_status_changes (enrolment_id, status, changed_on, source_id) select $1, $2, $3, $4
         where not exists (select 1 from enrolment_status_changes h where h.enrolment_id = $1 and h.status = $2 and h.changed_on = $3::date)`,
        [current.id, e.status, e.statusChangedOn, partnerId],
      );
      return `${e.programme.code}: a status change of ${e.statusChangedOn} is older than the one in effect since ${current.status_changed_on}; kept in the history, status unchanged`;
    }
    if (current.status === e.status && current.enrolment_date === e.enrolmentDate && current.same_benefits) return `${e.programme.code}: already recorded`;
    await tx.query(
      `update enrolments set status = $2, enrolment_date = $3, status_changed_on = case when status <> $2 then coalesce($4::date, current_date) else status_changed_on end,
         benefits = $5::jsonb, source_id = $6, updated_at = now() where id = $1`,
      [current.id, e.status, e.enrolmentDate, e.statusChangedOn ?? null, JSON.stringify(e.benefits), partnerId],
    );
    if (current.status === e.status) return `${e.programme.code}: enrolment details updated`;
    await tx.query('insert into enrolment_status_changes (enrolment_id, status, changed_on, source_id) values ($1, $2, coalesce($3::date, current_date), $4)', [current.id, e.status, e.statusChangedOn ?? null, partnerId]);
    events.add('enrolment_status_changed', { ...at, details: { programme: e.programme.code, from: current.status, to: e.status } });
    return `${e.programme.code}: status changed to ${label}`;
  }
}
