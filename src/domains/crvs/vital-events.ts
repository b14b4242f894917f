import { isObject, present } from '../../dci/envelope/normalize.js';
import { toDate } from '../../dci/query/values.js';
import { canonicalIdType } from '../../registry/identifiers.js';
import { normalizeSex } from '../../registry/vocabularies.js';

/** The vital events we apply; anything else is kept for review. */
export type VitalEventType = 'death' | 'live_birth' | 'marriage' | 'divorce';

export interface Identifier {
  type: string;
  value: string;
}

/** One notified vital event, read from a CRVS_Person record (DIGEST 6, 10.2). */
export interface VitalEvent {
  /** Undefined for an event type we do not apply (`sentType` says what was sent). */
  type?: VitalEventType;
  sentType: string;
  /** The person the event is about. */
  subject: Identifier[];
  parents: Identifier[][];
  /** A spouse named on a marriage or divorce (`spouse_identifier`, or `related_person` with relationship spouse). */
  spouse: Identifier[];
  givenName?: string;
  surname?: string;
  sex: string;
  birthDate?: string;
  birthPlace?: string;
  deathDate?: string;
  deathPlace?: string;
  /** The marriage_date of a marriage, the divorce_date of a divorce */
  eventDate?: string;
}

/**
 * reg_event_type in any of the spellings DIGEST 5 lists: namespace stripped, case and underscores ignored
 * (`spdci-common:RegistryEventType:LiveBirth`, `live_birth`, `BIRTH_REGISTERED`, `Death`, `DEATH_REGISTERED`...).
 */
const EVENT_TYPES: Record<string, VitalEventType> = {
  livebirth: 'live_birth',
  birth: 'live_birth',
  birthregistered: 'live_birth',
  death: 'death',
  deathregistered: 'death',
  marriage: 'marriage',
  divorce: 'divorce',
};

export function vitalEventType(sent: unknown): VitalEventType | undefined {
  if (typeof sent !== 'string') return undefined;
  return EVENT_TYPES[sent.split(':').pop()!.replace(/[_\s-]/g, '').toLowerCase()];
}

/** An identifier, a list of them, or a Member-style `member_identifier`; empty values are dropped. */
function identifiersOf(v: unknown): Identifier[] {
  const list = Array.isArray(v) ? v : present(v) ? [v] : [];
  const out: Identifier[] = [];
  for (const x of list) {
    if (!isObject(x)) continue;
    const type = x.identifier_type ?? x.type;
    const value = x.identifier_value ?? x.value;
    if (typeof type === 'string' && type.trim() !== '' && (typeof value === 'string' || typeof value === 'number') && String(value).trim() !== '') {
      out.push({ type: canonicalIdType(type.split(':').pop()!), value: String(value).trim() });
    }
  }
  return out;
}

/**
 * `YYYY-MM-DD` of a date or date-time (CRVS sends `2025-01-01T04:20:15Z` for a birth date), undefined when absent.
 * One that is not a calendar date (2026-02-30, year 0: PostgreSQL refuses both, and a notify carrying one had failed
 * as a 500 at every resend) makes the record unreadable: it is kept for review rather than applied without its date.
 * A list gives its latest date, none when empty: the DCI CRVS samples list a person's marriages and divorces
 * (`marriage_date: ["2019-09-21T11:20:00"]`, `divorce_date: []`, DIGEST 6).
 */
function dateOf(v: unknown, field: string): string | undefined {
  if (Array.isArray(v)) return v.map((x) => dateOf(x, field)).reduce((latest, d) => (d !== undefined && (latest === undefined || d > latest) ? d : latest), undefined);
  if (!present(v) || (typeof v === 'string' && v.trim() === '')) return undefined;
  const text = typeof v === 'string' ? v.trim() : '';
  const prefix = /^(\d{4}-\d{2}-\d{2})/.exec(text);
  const date = toDate(text) ?? (prefix ? toDate(prefix[1]) : undefined);
  if (!date) throw new Error(`${field} ${JSON.stringify(v).slice(0, 40)} is not a date`);
  return date;
}

/** Longest name or place applied: no registry holds a longer one, and one of thousands fails the name index's insert. */
const MAX_TEXT = 200;

/** A name or place; one longer than MAX_TEXT makes the record unreadable (kept for review, not a 500 at each resend). */
function text(v: unknown, field: string): string | undefined {
  const t = typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  if (t !== undefined && t.length > MAX_TEXT) throw new Error(`${field} is longer than ${MAX_TEXT} characters`);
  return t;
}
const placeName = (v: unknown, field: string): string | undefined => text(v, field) ?? (isObject(v) ? text(v.name, `${field}.name`) : undefined);

/** The event of one notify_event item's `data`; throws a message for a record we cannot read at all. */
export function readVitalEvent(data: Record<string, unknown>): VitalEvent {
  // reg_records is one object in every notify (DIGEST 3.5); accept a list of one as well.
  const records = Array.isArray(data.reg_records) ? data.reg_records : [data.reg_records];
  if (records.length !== 1 || !isObject(records[0])) throw new Error('data.reg_records must be one record');
  const r = records[0];
  const name = isObject(r.name) ? r.name : {};
  const spouses = Array.isArray(r.related_person)
    ? r.related_person.filter((p) => isObject(p) && typeof p.relationship_type === 'string' && p.relationship_type.toLowerCase() === 'spouse')
    : [];
  const type = vitalEventType(data.reg_event_type);
  // A CRVS_Person carries both dates: a divorce's record names the marriage it ends.
  const marriageDate = dateOf(r.marriage_date, 'marriage_date');
  const divorceDate = dateOf(r.divorce_date, 'divorce_date');
  return {
    type,
    sentType: typeof data.reg_event_type === 'string' ? data.reg_event_type.slice(0, 100) : 'unknown',
    subject: identifiersOf(r.identifier ?? r.identifiers),
    parents: [identifiersOf(r.parent1_identifier), identifiersOf(r.parent2_identifier)].filter((p) => p.length > 0),
    spouse: [
      ...identifiersOf(r.spouse_identifier),
      ...spouses.flatMap((p) => {
        const member = isObject(p) && isObject(p.related_member) ? p.related_member : {};
        return identifiersOf(member.member_identifier ?? member.identifier);
      }),
    ],
    givenName: text(name.given_name ?? r.given_name, 'given_name'),
    surname: text(name.surname ?? r.surname, 'surname'),
    sex: (typeof r.sex === 'string' && normalizeSex(r.sex)) || 'unknown',
    birthDate: dateOf(r.birth_date, 'birth_date'),
    birthPlace: placeName(r.birth_place, 'birth_place'),
    deathDate: dateOf(r.death_date, 'death_date'),
    deathPlace: placeName(r.death_place, 'death_place'),
    eventDate: type === 'divorce' ? divorceDate : type === 'marriage' ? marriageDate : (marriageDate ?? divorceDate),
  };
}

/** The registration number that identifies each event type at its CRVS (DIGEST 5: BRN, DRN, MRN). */
export const REGISTRATION_NUMBER: Record<VitalEventType, string> = { live_birth: 'BRN', death: 'DRN', marriage: 'MRN', divorce: 'MRN' };
