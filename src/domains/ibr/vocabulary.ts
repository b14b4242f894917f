import { vocabulary } from '../../registry/vocabularies.js';

/** IBR code lists (DIGEST 5; spdci IBR code directory cd.ibr.01-03). Stored as codes, emitted as code strings. */

export const ENROLMENT_STATUS = vocabulary('enrolment_status', [
  [1, 'Active'],
  [2, 'Deceased'],
  [3, 'Graduated'],
  [4, 'Suspended'],
] as const, { enrolled: 1, enroled: 1, exited: 3, graduate: 3, dead: 2, suspend: 4 });

/** Statuses under which a person counts as enrolled for a duplicate check: still receiving, or may receive again. */
export const ENROLLED_STATUSES = [1, 4] as const;

export const BENEFIT_TYPE = vocabulary('benefit_type', [
  [1, 'Cash'],
  [2, 'Voucher'],
  [3, 'In-kind'],
  [4, 'Training'],
  [5, 'Work opportunity'],
  [6, 'Insurance'],
] as const, { inkind: 3, 'in kind': 3, 'cash transfer': 1 });

export const ASSISTANCE_UNIT = vocabulary('assistance_unit', [
  [1, 'Member'],
  [2, 'Household'],
  [3, 'Family'],
] as const, { individual: 1, person: 1, group: 2 });

export const BENEFIT_FREQUENCY = vocabulary('benefit_frequency', [
  ['one_off', 'One-off'],
  ['weekly', 'Weekly'],
  ['fortnightly', 'Fortnightly'],
  ['monthly', 'Monthly'],
  ['bimonthly', 'Bimonthly'],
  ['quarterly', 'Quarterly'],
  ['biannual', 'Biannual'],
  ['annual', 'Annual'],
] as const, { once: 'one_off', 'one time': 'one_off', biweekly: 'fortnightly', yearly: 'annual', 'semi annual': 'biannual' });
