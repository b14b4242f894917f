import { isObject, present } from '../../dci/envelope/normalize.js';
import { latestEventDate, toDate } from '../../dci/query/values.js';
import { canonicalIdType, type IdentifierVault } from '../../registry/identifiers.js';
import type { SubjectRef } from '../../registry/subjects.js';
import { ASSISTANCE_UNIT, BENEFIT_FREQUENCY, BENEFIT_TYPE, ENROLMENT_STATUS } from './vocabulary.js';

/** One programme enrolment of a pushed Beneficiary, in registry terms. */
export interface EnrolmentUpdate {
  programme: { code: string; name: string; benefitType?: number; benefitFrequency?: string };
  status: number;
  enrolmentDate: string;
  statusChangedOn?: string;
  benefits: Record<string, unknown>[];
}

export interface BeneficiaryUpdate {
  reference_id: string;
  subject: SubjectRef;
  assistanceUnit: number;
  enrolments: EnrolmentUpdate[];
}

export class BeneficiaryRejection extends Error {}

const MAX_PROGRAMME_CODE = 100;
/**
 * Programmes one beneficiary may name in one update. Each is applied with its own statements in the message's one
 * transaction: 8,000 of them in a message under the body limit held it open for 9-18 s.
 */
const MAX_PROGRAMMES_PER_BENEFICIARY = 20;
const MAX_IDENTIFIERS_PER_BENEFICIARY = 10;

const fail = (message: string): never => {
  throw new BeneficiaryRejection(message);
};

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : present(v) ? [v] : []);

function date(v: unknown, field: string): string | undefined {
  const t = text(v);
  if (t === undefined) return undefined;
  return toDate(t) ?? fail(`${field}: ${t.slice(0, 40)} is not a date`);
}

function coded<V extends string | number>(vocab: { normalize(v: unknown): V | undefined; describe(): string }, v: unknown, field: string): V | undefined {
  if (!present(v)) return undefined;
  return vocab.normalize(v) ?? fail(`${field}: ${String(v).slice(0, 40)} is not one of ${vocab.describe()}`);
}

/**
 * The identifiers naming the beneficiary: every one of a type this registry knows (a bare string: any person type).
 * Any of them may find it: an SP-MIS may send a BRN issued elsewhere beside the UIN this registry holds.
 */
function subjectOf(b: Record<string, unknown>, vault: IdentifierVault): { subject: SubjectRef; unit: number } {
  const group = isObject(b.group) ? b.group : undefined;
  const member = isObject(b.member) ? b.member : undefined;
  if (!group && !member) fail('a Beneficiary names a member or a group');
  const person = isObject(member?.demographic_info) ? (isObject(member.demographic_info.person) ? member.demographic_info.person : member.demographic_info) : {};
  const candidates = group ? list(group.group_identifier) : [...list(member!.member_identifier), ...list(person.identifier), person];
  const owner = group ? 'group' : 'individual';
  const unit = group ? 2 : 1;
  const typed: { idType: string; value: string }[] = [];
  for (const c of candidates) {
    if (typeof c === 'string' && c.trim() !== '' && owner === 'individual') {
      // An untyped value is tried as every person type; typed ones beside it still count.
      return { subject: { owner, idTypes: vault.typesOf(owner), value: c.trim(), also: typed }, unit };
    }
    if (!isObject(c)) continue;
    const type = text(c.identifier_type);
    const value = text(c.identifier_value);
    if (!type || !value) continue;
    const canonical = canonicalIdType(type.split(':').pop()!);
    if (vault.types.get(canonical)?.owner === owner && !typed.some((t) => t.idType === canonical && t.value === value)) typed.push({ idType: canonical, value });
  }
  if (typed.length === 0) return fail(`the ${group ? 'group' : 'member'} has no identifier of a type this registry knows (${vault.typesOf(owner).join(', ')})`);
  if (typed.length > MAX_IDENTIFIERS_PER_BENEFICIARY) fail(`at most ${MAX_IDENTIFIERS_PER_BENEFICIARY} identifiers per beneficiary`);
  const [first, ...rest] = typed;
  return { subject: { owner, idTypes: [first.idType], value: first.value, also: rest }, unit };
}

function benefitsOf(v: unknown): Record<string, unknown>[] {
  return list(v).map((b, i) => {
    if (!isObject(b)) return fail(`benefits[${i}] must be an object`);
    const out: Record<string, unknown> = {};
    const type = coded(BENEFIT_TYPE, b.benefit_type, `benefits[${i}].benefit_type`);
    if (type !== undefined) out.benefit_type = String(type);
    const on = date(b.benefit_date, `benefits[${i}].benefit_date`);
    if (on) out.benefit_date = on;
    for (const k of ['benefit_value', 'benefit_description', 'benefit_quantity'] as const) {
      const t = text(b[k]);
      if (t !== undefined) out[k] = t.slice(0, 200);
    }
    const frequency = coded(BENEFIT_FREQUENCY, b.benefit_frequency, `benefits[${i}].benefit_frequency`);
    if (frequency) out.benefit_frequency = frequency;
    return out;
  });
}

/** The reference_id a beneficiary's result is answered under, refused or not: its own, else its position from 1. */
export function referenceIdOf(b: unknown, index: number): string {
  return (isObject(b) ? text(b.reference_id) : undefined) ?? String(index + 1);
}

/**
 * A pushed Beneficiary (DIGEST 6) read liberally: `programme_identifier` on the Beneficiary (JSON-LD) or inside its
 * member (samples), one object or a list; `enrolment_*` or `enrollment_*`; the Beneficiary's own enrolment fields
 * stand in for a programme entry's missing ones. Codes or labels (enrolment status `1`/`Active`). Throws
 * BeneficiaryRejection naming the first problem.
 */
export function readBeneficiary(b: unknown, index: number, vault: IdentifierVault): BeneficiaryUpdate {
  if (!isObject(b)) return fail('a beneficiary must be an object');
  const reference_id = referenceIdOf(b, index);
  const { subject, unit } = subjectOf(b, vault);
  const assistanceUnit = coded(ASSISTANCE_UNIT, b.assistance_unit, 'assistance_unit') ?? unit;
  if ((assistanceUnit === 1) !== (subject.owner === 'individual')) fail(`assistance_unit ${assistanceUnit} does not fit a ${subject.owner === 'group' ? 'group' : 'member'} beneficiary`);
  const holder = (isObject(b.member) ? b.member : isObject(b.group) ? b.group : {}) as Record<string, unknown>;
  const entries = [...list(b.programme_identifier), ...list(holder.programme_identifier)];
  if (entries.length === 0) fail('programme_identifier: the programme(s) of the enrolment are required');
  if (entries.length > MAX_PROGRAMMES_PER_BENEFICIARY) fail(`programme_identifier: at most ${MAX_PROGRAMMES_PER_BENEFICIARY} programmes per beneficiary in one update`);
  // A change takes effect when it is applied: one dated ahead would make today's answers wrong (as /dr/assessments).
  const latest = latestEventDate();
  const notAhead = (d: string | undefined, name: string) => {
    if (d !== undefined && d > latest) fail(`${name} ${d} is in the future`);
    return d;
  };
  const enrolments = entries.map((e, i): EnrolmentUpdate => {
    if (!isObject(e)) return fail(`programme_identifier[${i}] must be an object`);
    const p = isObject(e.programme) ? e.programme : isObject(e.program) ? e.program : e;
    const code = text(p.programme_identifier) ?? fail(`programme_identifier[${i}].programme.programme_identifier is required`);
    // An identifier cut short would merge two programmes that differ after the cut: refused instead.
    if (code.length > MAX_PROGRAMME_CODE) fail(`programme_identifier[${i}].programme.programme_identifier is longer than ${MAX_PROGRAMME_CODE} characters`);
    const statusIn = e.enrolment_status ?? e.enrollment_status ?? b.enrolment_status ?? b.enrollment_status;
    const status = coded(ENROLMENT_STATUS, statusIn, `programme_identifier[${i}].enrolment_status`) ?? fail(`programme_identifier[${i}].enrolment_status is required (${ENROLMENT_STATUS.describe()})`);
    const enrolmentDate = notAhead(
      date(e.enrolment_date ?? e.enrollment_date ?? b.enrolment_date ?? b.enrollment_date, `programme_identifier[${i}].enrolment_date`) ??
        fail(`programme_identifier[${i}].enrolment_date is required`),
      `programme_identifier[${i}].enrolment_date`,
    )!;
    const changes = list(e.status_change_date ?? b.status_change_date);
    const statusChangedOn = notAhead(
      changes.length > 0 ? date(changes[changes.length - 1], `programme_identifier[${i}].status_change_date`) : undefined,
      `programme_identifier[${i}].status_change_date`,
    );
    const benefitList = list(e.benefits ?? b.benefits);
    const frequency = benefitList.map((x) => (isObject(x) ? x.benefit_frequency : undefined)).find(present) ?? p.benefit_frequency;
    const benefitType = benefitList.map((x) => (isObject(x) ? x.benefit_type : undefined)).find(present);
    return {
      programme: {
        code,
        name: (text(p.programme_name) ?? code).slice(0, 200),
        benefitType: coded(BENEFIT_TYPE, benefitType, 'benefit_type'),
        benefitFrequency: coded(BENEFIT_FREQUENCY, frequency, 'benefit_frequency'),
      },
      status,
      enrolmentDate,
      statusChangedOn,
      benefits: benefitsOf(benefitList),
    };
  });
  const codes = enrolments.map((e) => e.programme.code);
  if (new Set(codes).size !== codes.length) fail('a programme appears twice for this beneficiary');
  return { reference_id, subject, assistanceUnit, enrolments };
}
