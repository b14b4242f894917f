import type { Database, Transaction } from '../../db/client.js';
import { EventBatch } from '../../registry/events.js';
import { canonicalIdType, type IdentifierVault } from '../../registry/identifiers.js';
import { resolveSubjects } from '../../registry/subjects.js';
import type { DisabilityDomain, DisabilitySeverity } from '../../registry/vocabularies.js';
import type { SupportKind } from './vocabulary.js';

/** A disability assessment as the assessment API takes it, vocabulary values already normalised. */
export interface Assessment {
  person: { identifier_type: string; identifier_value: string };
  disability_status: number;
  disability_level?: string;
  assessment_date: string;
  assessor: string;
  valid_until?: string;
  functional_limitations: { disability_limitation_type: DisabilityDomain; functional_severity: DisabilitySeverity }[];
  disability_details: { impairment_type: string; impairment_level?: string; impairment_cause?: string; age_on_set?: string }[];
  disability_support: Partial<Record<SupportKind, { type: string; frequency?: string; support_status: string; since?: string; description?: string }[]>>;
  transport_requirement?: string;
  housing_type?: string;
}

export type AssessmentOutcome = { recorded: { externalId: string; created: boolean } } | { unknownPerson: string } | { stale: string };

/**
 * Records a person's disability assessment as their current disability record, and their functional limitations and
 * `is_disabled` on the person (disabled: an approved assessment with at least one limitation of "a lot of difficulty"
 * or more, or a severe or complete level). An assessment older than the recorded one is refused. Writes the registry
 * event `disability_assessed` in the same transaction (DR subscriptions: DisabledPerson, NewDisabledNewborn).
 */
export class AssessmentService {
  constructor(
    private readonly db: Database,
    private readonly vault: IdentifierVault,
  ) {}

  /** Records an assessment; `audit` writes its audit entry in the same transaction. */
  async record(a: Assessment, actorId: string, audit: (tx: Transaction, person: string) => Promise<void>): Promise<AssessmentOutcome> {
    const idType = canonicalIdType(a.person.identifier_type);
    if (this.vault.types.get(idType)?.owner !== 'individual') return { unknownPerson: `${idType} is not a person identifier type this registry knows` };
    return this.db.transaction(async (tx) => {
      const [subject] = await resolveSubjects(tx, this.vault, [{ owner: 'individual', idTypes: [idType], value: a.person.identifier_value }]);
      if (!('individualId' in subject)) return { unknownPerson: 'unknown' in subject ? subject.unknown : 'ambiguous' in subject ? subject.ambiguous : 'not a person' };
      const record = [
        subject.individualId,
        a.disability_status,
        a.disability_level ?? null,
        JSON.stringify(a.disability_details.map(compact)),
        JSON.stringify(Object.fromEntries(Object.entries(a.disability_support).map(([k, list]) => [k, list.map(compact)]))),
        a.transport_requirement ?? null,
        a.housing_type ?? null,
        a.assessment_date,
        a.assessor,
        a.valid_until ?? null,
      ];
      // The person's row is locked first, in a statement of its own: the record is read after any concurrent assessment
      // of theirs committed. Locking the record alone let two first assessments both find none, both be "created",
      // and the older one overwrite the newer.
      await tx.query('select 1 from individuals where id = $1 for update', [subject.individualId]);
      // `same`: this very assessment is the one recorded (a board's retry after a timeout): nothing to write, and no
      // second event, which subscribers would have been notified of as another assessment.
      const [previous] = await tx.query<{ assessed_on: string; same: boolean }>(
        `select d.assessed_on::text,
                (d.status = $2 and d.level is not distinct from $3 and d.impairments = $4::jsonb and d.support = $5::jsonb
                 and d.transport_requirement is not distinct from $6 and d.housing_type is not distinct from $7 and d.assessed_on = $8::date
                 and d.assessor = $9 and d.valid_until is not distinct from $10::date and i.disability_info = $11::jsonb) as same
         from disability_records d join individuals i on i.id = d.individual_id where d.individual_id = $1`,
        [...record, JSON.stringify(a.functional_limitations)],
      );
      if (previous && previous.assessed_on > a.assessment_date) {
        return { stale: `an assessment of ${previous.assessed_on} is recorded; this one (${a.assessment_date}) is older` };
      }
      if (previous?.same) return { recorded: { externalId: subject.externalId, created: false } };
      await tx.query(
        `insert into disability_records (individual_id, status, level, impairments, support, transport_requirement, housing_type, assessed_on, assessor, valid_until)
         values ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10)
         on conflict (individual_id) do update set status = excluded.status, level = excluded.level, impairments = excluded.impairments,
           support = excluded.support, transport_requirement = excluded.transport_requirement, housing_type = excluded.housing_type,
           assessed_on = excluded.assessed_on, assessor = excluded.assessor, valid_until = excluded.valid_until, last_updated = now()`,
        record,
      );
      const disabled =
        a.disability_status === 0 &&
        (a.functional_limitations.some((l) => l.functional_severity !== 'some_difficulty') || a.disability_level === 'severe' || a.disability_level === 'complete');
      const [person] = await tx.query<{ group_id: string | null }>(
        `update individuals set disability_info = $2::jsonb, is_disabled = $3, last_updated = now() where id = $1
         returning (select m.group_id from memberships m where m.individual_id = $1 and m.end_date is null limit 1) as group_id`,
        [subject.individualId, JSON.stringify(a.functional_limitations), disabled],
      );
      const events = new EventBatch(`dr:${actorId}`);
      events.add('disability_assessed', {
        individualId: subject.individualId,
        groupId: person.group_id === null ? undefined : Number(person.group_id),
        on: a.assessment_date,
        details: { disability_status: a.disability_status, level: a.disability_level ?? null },
      });
      await events.write(tx);
      await audit(tx, subject.externalId);
      return { recorded: { externalId: subject.externalId, created: !previous } };
    });
  }
}

function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null && v !== '')) as T;
}
