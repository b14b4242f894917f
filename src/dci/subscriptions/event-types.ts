import { QuartzCron } from './cron.js';

/**
 * reg_event_type of a subscription, in any spelling DIGEST 5 lists (namespace stripped, case and underscores
 * ignored), mapped to the registry events it covers (registry_events.event_type). Unknown types are refused
 * (`rjct.notify_types.invalid`).
 */
const COVERS: Record<string, readonly string[]> = {
  livebirth: ['live_birth'],
  birth: ['live_birth'],
  birthregistered: ['live_birth'],
  death: ['death'],
  deathregistered: ['death'],
  marriage: ['marriage'],
  divorce: ['divorce'],
  // SR: a new member of a household (births included), a registration.
  newhouseholdmember: ['member_added'],
  register: ['member_added', 'live_birth'],
  // mosip DATA_MODIFICATION, SR "update": any change to a person or household.
  datamodification: ['death', 'live_birth', 'marriage', 'divorce', 'member_added', 'member_removed', 'head_changed', 'marital_status_changed'],
  update: ['death', 'live_birth', 'marriage', 'divorce', 'member_added', 'member_removed', 'head_changed', 'marital_status_changed'],
  headchanged: ['head_changed'],
  // IBR (spec spelling `enrollement`), DR: an assessment recorded; NewDisabledNewborn narrows it with a filter (age).
  enrollement: ['enrolment'],
  enrollment: ['enrolment'],
  enrolment: ['enrolment'],
  enrollementstatuschange: ['enrolment_status_changed'],
  enrollmentstatuschange: ['enrolment_status_changed'],
  enrolmentstatuschanged: ['enrolment_status_changed'],
  disabledperson: ['disability_assessed'],
  disabilityassessed: ['disability_assessed'],
  newdisablednewborn: ['disability_assessed'],
  memberremoved: ['member_removed'],
};

/**
 * reg_event_type of a notify: the registry event it reports, in the prefixed CamelCase form (DIGEST 5, 10.2), whatever
 * spelling the subscriber used. The spec's names where it has one (SR NewHouseHoldMember, DR DisabledPerson).
 */
const EMITTED: Record<string, string> = {
  live_birth: 'LiveBirth',
  death: 'Death',
  marriage: 'Marriage',
  divorce: 'Divorce',
  member_added: 'NewHouseHoldMember',
  enrolment: 'Enrollment',
  enrolment_status_changed: 'EnrollmentStatusChange',
  disability_assessed: 'DisabledPerson',
};

export function notifiedEventType(eventType: string): string {
  const name = EMITTED[eventType] ?? eventType.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
  return `spdci-common:RegistryEventType:${name}`;
}

/** What happens to people and households: every domain's records are about them. */
const LIFE_EVENTS = ['death', 'live_birth', 'marriage', 'divorce', 'member_added', 'member_removed', 'head_changed', 'marital_status_changed'];

/**
 * The registry events each domain notifies. An event tells what happened to the person: an enrolment or a disability
 * assessment only to subscribers of the registry that holds it, not to a partner whose scope is another domain's.
 */
const NOTIFIED_BY: Record<string, readonly string[]> = {
  social: LIFE_EVENTS,
  crvs: LIFE_EVENTS,
  ibr: [...LIFE_EVENTS, 'enrolment', 'enrolment_status_changed'],
  dr: [...LIFE_EVENTS, 'disability_assessed'],
};

/** Does this domain notify this registry event? (A subscription an older version stored may name others.) */
export function domainNotifies(domain: string, eventType: string): boolean {
  return NOTIFIED_BY[domain]?.includes(eventType) ?? false;
}

/** The registry events a subscription of this domain to `regEventType` covers; undefined if none. */
export function eventTypesOf(regEventType: unknown, domain: string): readonly string[] | undefined {
  if (typeof regEventType !== 'string') return undefined;
  const covered = COVERS[regEventType.split(':').pop()!.replace(/[_\s-]/g, '').toLowerCase()]?.filter((t) => domainNotifies(domain, t));
  return covered && covered.length > 0 ? covered : undefined;
}

/** Batched frequencies as keywords (the samples' `daily`), besides the spec's Quartz cron expressions (DIGEST 3.4). */
const INTERVALS: Record<string, number> = { hourly: 3_600_000, daily: 86_400_000, weekly: 7 * 86_400_000, monthly: 30 * 86_400_000 };

/** A subscription's batch schedule: a keyword (`daily`) or a Quartz cron expression, as stored in `frequency`. */
export function parseFrequency(text: string): { frequency: string; next(from: Date): Date | undefined } {
  const word = text.trim().toLowerCase();
  if (word in INTERVALS) return { frequency: word, next: (from) => new Date(from.getTime() + INTERVALS[word]) };
  const cron = QuartzCron.parse(text);
  return { frequency: cron.text, next: (from) => cron.next(from) };
}

/**
 * When a subscription's batch after the one due at `due` is: a keyword's interval later (not in the past), or the cron
 * expression's next time after now. Undefined: the expression never fires again.
 */
export function nextBatchAt(frequency: string, due: Date, now: Date): Date | undefined {
  const schedule = parseFrequency(frequency);
  if (frequency in INTERVALS) return new Date(Math.max(schedule.next(due)!.getTime(), now.getTime()));
  return schedule.next(now);
}
