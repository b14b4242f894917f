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

export function eventTypesOf(regEventType: unknown): readonly string[] | undefined {
  if (typeof regEventType !== 'string') return undefined;
  return COVERS[regEventType.split(':').pop()!.replace(/[_\s-]/g, '').toLowerCase()];
}

/** Batched frequencies (DIGEST 3.4: keywords; Quartz cron expressions are refused with a clear message). */
export const FREQUENCIES = { hourly: 3_600_000, daily: 86_400_000, weekly: 7 * 86_400_000, monthly: 30 * 86_400_000 } as const;
export type Frequency = keyof typeof FREQUENCIES;
