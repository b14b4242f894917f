/**
 * Registry vocabularies (DIGEST 5) and normalisers from what partners send (codes, labels, any case) to what the
 * registry stores. Every normaliser returns undefined for input outside its vocabulary.
 */

/** Lower-cased, trimmed, with `_`, `-` and runs of spaces folded to one space: `Never_Married` -> `never married`. */
function fold(input: unknown): string | undefined {
  if (typeof input === 'number' && Number.isFinite(input)) return String(input);
  if (typeof input !== 'string') return undefined;
  const s = input.trim().toLowerCase().replace(/[\s_-]+/g, ' ');
  return s === '' ? undefined : s;
}

function lookup<T>(table: ReadonlyMap<string, T>, input: unknown): T | undefined {
  const key = fold(input);
  return key === undefined ? undefined : table.get(key);
}

/** A closed list of values with labels: `normalize` takes a value, its label or a synonym in any case and spelling. */
export interface Vocabulary<V extends string | number> {
  readonly name: string;
  readonly entries: readonly { value: V; label: string }[];
  normalize(input: unknown): V | undefined;
  /** `1 Active, 2 Deceased...` for error messages and API documentation. */
  describe(): string;
}

export function vocabulary<V extends string | number>(name: string, entries: readonly (readonly [V, string])[], synonyms: Record<string, V> = {}): Vocabulary<V> {
  const table = new Map<string, V>();
  for (const [value, label] of entries) {
    table.set(fold(String(value))!, value);
    table.set(fold(label)!, value);
  }
  for (const [synonym, value] of Object.entries(synonyms)) table.set(fold(synonym)!, value);
  const list = entries.map(([value, label]) => ({ value, label }));
  const description = list.map((e) => (String(e.value) === e.label ? e.label : `${e.value} ${e.label}`)).join(', ');
  return { name, entries: list, normalize: (input) => lookup(table, input), describe: () => description };
}

// ---------------------------------------------------------------------------------------------------------------
// Sex

export const SEX = ['male', 'female', 'other', 'unknown'] as const;
export type Sex = (typeof SEX)[number];

const SEX_LOOKUP = new Map<string, Sex>([
  ...SEX.map((s) => [s, s] as const),
  ['m', 'male'],
  ['f', 'female'],
  ['o', 'other'],
  ['u', 'unknown'],
  ['man', 'male'],
  ['woman', 'female'],
]);

/** `F`, `female`, `Female` -> `female`; `M`/`male`, `O`/`other`, `U`/`unknown` likewise. */
export function normalizeSex(input: unknown): Sex | undefined {
  return lookup(SEX_LOOKUP, input);
}

// ---------------------------------------------------------------------------------------------------------------
// Marital status (FHIR / HL7 v3 MaritalStatus codes)

export const MARITAL_STATUS = {
  S: 'Never Married',
  M: 'Married',
  W: 'Widowed',
  A: 'Annulled',
  D: 'Divorced',
  L: 'Legally Separated',
  U: 'Unknown',
} as const;
export type MaritalStatus = keyof typeof MARITAL_STATUS;
export const MARITAL_STATUS_CODES = Object.keys(MARITAL_STATUS) as MaritalStatus[];

const MARITAL_LOOKUP = new Map<string, MaritalStatus>([
  ...MARITAL_STATUS_CODES.map((c) => [c.toLowerCase(), c] as const),
  ...MARITAL_STATUS_CODES.map((c) => [MARITAL_STATUS[c].toLowerCase(), c] as const),
  ['single', 'S'],
  ['never married', 'S'],
  ['not married', 'S'],
  ['married', 'M'],
  ['widowed', 'W'],
  ['widow', 'W'],
  ['widower', 'W'],
  ['divorced', 'D'],
  ['separated', 'L'],
  ['annulled', 'A'],
  ['unknown', 'U'],
  // FHIR's own label for U is "unmarried"; accepted as U too.
  ['unmarried', 'U'],
]);

/** Codes (`M`) and labels (`married`, `Single`, `never married`, `widow`...) case-insensitively -> FHIR code. */
export function normalizeMaritalStatus(input: unknown): MaritalStatus | undefined {
  return lookup(MARITAL_LOOKUP, input);
}

// ---------------------------------------------------------------------------------------------------------------
// Relationship to the household head (HL7 v3 RoleCode subset)

export const RELATIONSHIP = {
  SELF: 'self',
  SPS: 'spouse',
  HUSB: 'husband',
  WIFE: 'wife',
  CHILD: 'child',
  SON: 'natural son',
  DAU: 'natural daughter',
  STPCHLD: 'step child',
  CHLDINLAW: 'child-in-law',
  PRN: 'parent',
  FTH: 'father',
  MTH: 'mother',
  PRNINLAW: 'parent in-law',
  GRPRN: 'grandparent',
  GRNDCHILD: 'grandchild',
  SIB: 'sibling',
  BRO: 'brother',
  SIS: 'sister',
  NIENEPH: 'niece/nephew',
  EXT: 'extended family member',
  FRND: 'unrelated friend',
  ROOM: 'roommate',
} as const;
export type Relationship = keyof typeof RELATIONSHIP;
export const RELATIONSHIP_CODES = Object.keys(RELATIONSHIP) as Relationship[];

const RELATIONSHIP_LOOKUP = new Map<string, Relationship>([
  ...RELATIONSHIP_CODES.map((c) => [c.toLowerCase(), c] as const),
  ...RELATIONSHIP_CODES.map((c) => [fold(RELATIONSHIP[c])!, c] as const),
  ['head', 'SELF'],
  ['spouse', 'SPS'],
  ['primspous', 'SPS'],
  ['son', 'SON'],
  ['daughter', 'DAU'],
  ['stepchild', 'STPCHLD'],
  ['grandchild', 'GRNDCHILD'],
  ['parent in law', 'PRNINLAW'],
  ['other relative', 'EXT'],
  ['relative', 'EXT'],
  ['friend', 'FRND'],
]);

/** RoleCode (`SPS`) or label (`spouse`, `child`, `other relative`...) case-insensitively -> RoleCode. */
export function normalizeRelationship(input: unknown): Relationship | undefined {
  return lookup(RELATIONSHIP_LOOKUP, input);
}

// ---------------------------------------------------------------------------------------------------------------
// Employment status (DCI EmploymentStatus 1..8) and group type (DCI GroupType 1..3)

export const EMPLOYMENT_STATUS = {
  1: 'Employed',
  2: 'Self-employed',
  3: 'Unemployed',
  4: 'Student',
  5: 'Retired',
  6: 'Homemaker',
  7: 'Unable to work',
  8: 'Other',
} as const;
export type EmploymentStatus = keyof typeof EMPLOYMENT_STATUS;

export const GROUP_TYPE = { 1: 'Household', 2: 'Family', 3: 'Group' } as const;
export type GroupType = keyof typeof GROUP_TYPE;

/** `1`, `"1"`, `employed`, `Self-employed`... -> 1..8. */
export const EMPLOYMENT = vocabulary('employment_status', Object.entries(EMPLOYMENT_STATUS).map(([code, label]) => [Number(code) as EmploymentStatus, label] as const), {
  selfemployed: 2,
});
/** `1`, `"1"`, `household`, `family`, `group` -> 1..3. */
export const GROUP_TYPES = vocabulary('group_type', Object.entries(GROUP_TYPE).map(([code, label]) => [Number(code) as GroupType, label] as const));

// ---------------------------------------------------------------------------------------------------------------
// Disability (Washington Group short set)

export const DISABILITY_DOMAINS = ['seeing', 'hearing', 'walking', 'cognition', 'self_care', 'communication'] as const;
export type DisabilityDomain = (typeof DISABILITY_DOMAINS)[number];

export const DISABILITY_SEVERITIES = ['some_difficulty', 'a_lot_of_difficulty', 'cannot_do_at_all'] as const;
export type DisabilitySeverity = (typeof DISABILITY_SEVERITIES)[number];

/** One `disability_info` entry as stored in `individuals.disability_info`. */
export interface DisabilityInfo {
  disability_limitation_type: DisabilityDomain;
  functional_severity: DisabilitySeverity;
}

/** Washington Group domains and severities, with the synonyms partners send (`mobility`, `A lot of difficulty`). */
export const DISABILITY_DOMAIN = vocabulary('disability_limitation_type', DISABILITY_DOMAINS.map((d) => [d, d] as const), {
  selfcare: 'self_care',
  vision: 'seeing',
  mobility: 'walking',
  remembering: 'cognition',
  concentrating: 'cognition',
  communicating: 'communication',
});
export const DISABILITY_SEVERITY = vocabulary('functional_severity', DISABILITY_SEVERITIES.map((d) => [d, d] as const), {
  some: 'some_difficulty',
  'a lot': 'a_lot_of_difficulty',
  cannot: 'cannot_do_at_all',
});

// ---------------------------------------------------------------------------------------------------------------
// Identifier types

export interface IdentifierTypeDef {
  code: string;
  description: string;
  /** Owner kind: `person` (individuals) or `group`. */
  appliesTo: 'person' | 'group';
  /** `restricted` values are stored sealed (national identifiers). */
  classification: 'public' | 'internal' | 'confidential' | 'restricted';
}

/** The identifier types every deployment starts with (migrations 0001 and 0006 make the same rows). */
export const IDENTIFIER_TYPES: readonly IdentifierTypeDef[] = [
  { code: 'UIN', classification: 'restricted', description: 'Unique identification number', appliesTo: 'person' },
  { code: 'BRN', classification: 'restricted', description: 'Birth registration number', appliesTo: 'person' },
  { code: 'DRN', classification: 'restricted', description: 'Death registration number', appliesTo: 'person' },
  { code: 'MRN', classification: 'restricted', description: 'Marriage registration number', appliesTo: 'person' },
  { code: 'HOUSEHOLD_ID', classification: 'internal', description: 'Household identifier', appliesTo: 'group' },
];
