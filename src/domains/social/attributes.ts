import { type SQL, sql } from 'drizzle-orm';
import { columnPredicate, QueryRejection } from '../../dci/query/index.js';
import type { AttributeCatalog, AttributeDef, Operator } from '../../dci/query/types.js';
import { shownAt } from '../../dci/search/field-guard.js';
import { canonicalIdType, type IdentifierOwner, type IdentifierVault } from '../../registry/identifiers.js';
import { EMPLOYMENT, GROUP_TYPES, normalizeMaritalStatus, normalizeRelationship, normalizeSex, type Vocabulary } from '../../registry/vocabularies.js';

/**
 * The Social Registry's search allow-lists. Member searches run over `individuals i` left-joined to the person's
 * active membership `m` and household `g`; group searches over `groups g`. An attribute not listed here cannot be
 * queried or sorted on (DIGEST 4: unknown attribute -> rjct.search_criteria.invalid).
 */

const lowerText = (v: unknown) => String(v).trim().toLowerCase();
const snakeText = (v: unknown) => lowerText(v).replace(/[\s-]+/g, '_');
const trimmedText = (v: unknown) => String(v).trim();
/**
 * Names in any case: the value lowered by PostgreSQL, as the stored name is (and its index): JavaScript lowers some
 * letters otherwise (a final Σ to ς, İ to i and a combining dot), and `ΟΔΟΣ` did not find the person named ΟΔΟΣ.
 */
const inLowerCase = (param: SQL) => sql`lower(${param}::text)`;

/** A query value from a closed list, normalised; anything else refused naming the list (when it can be listed). */
function inVocabulary(label: string, normalize: (v: string) => string | number | undefined, describe?: () => string) {
  return (v: unknown) => {
    const out = normalize(String(v));
    if (out === undefined) throw new QueryRejection('rjct.search_criteria.invalid', `${label}: unknown value ${JSON.stringify(v)}${describe ? ` (${describe()})` : ''}`);
    return out;
  };
}

/** `AttributeDef.normalize` for an attribute holding a vocabulary's values. */
export const codedValue = (vocab: Vocabulary<string | number>) => inVocabulary(vocab.name, (v) => vocab.normalize(v), () => vocab.describe());

function def(name: string, type: AttributeDef['type'], column: SQL, extra: Partial<AttributeDef> = {}): AttributeDef {
  return { name, type, predicate: columnPredicate(column), sortKey: column, ...extra };
}

/**
 * Ages are whole years from 0 to MAX_AGE: PostgreSQL's dates end about 6,700 years back, and a number of years near
 * 2^31 wraps the interval round (`age >= 2147483647` matched people born in the last year).
 */
const MAX_AGE = 150;

const yearsOfAge = (name: string) => (value: unknown): number => {
  const n = value as number;
  if (n < 0 || n > MAX_AGE) throw new QueryRejection('rjct.search_criteria.invalid', `attribute "${name}": expected whole years from 0 to ${MAX_AGE}, got ${n}`);
  return n;
};

/** Conditions on a birth date for an age in whole years: date ranges, which a birth_date index serves. */
function ageConditions(birthDate: SQL) {
  const bornOnOrBefore = (years: number) => sql`${birthDate} <= (current_date - make_interval(years => ${years}))::date`;
  const bornAfter = (years: number) => sql`${birthDate} > (current_date - make_interval(years => ${years}))::date`;
  return {
    eq: (n: number) => sql`(${bornOnOrBefore(n)} and ${bornAfter(n + 1)})`,
    gte: bornOnOrBefore,
    gt: (n: number) => bornOnOrBefore(n + 1),
    lte: (n: number) => bornAfter(n + 1),
    lt: bornAfter,
  };
}

/** Age in whole years. */
function agePredicate(op: Operator, value: unknown): SQL {
  const age = ageConditions(sql`i.birth_date`);
  const n = value as number;
  const anyOf = (ns: number[]) => sql`(${sql.join(ns.map(age.eq), sql` or `)})`;
  switch (op) {
    case 'eq': return age.eq(n);
    case 'ne': return sql`(i.birth_date is null or not ${age.eq(n)})`;
    case 'in': return anyOf(value as number[]);
    case 'nin': return sql`(i.birth_date is null or not ${anyOf(value as number[])})`;
    default: return age[op](n);
  }
}

/**
 * The whole years of a person's youngest living child, through the relationships CRVS births record; NULL for
 * someone without one. Its conditions are told by which children exist: the youngest is under 5 when some child is,
 * and is 5 or over when there is a child and none is under 5. Each is an EXISTS that PostgreSQL joins, from the few
 * children of a birth-date range, instead of working the minimum out for every person of the registry (1.3 s for a
 * whole-registry count, with no relationships recorded at all). `youngestChildAge` is the definition, to sort on.
 */
function youngestChildAgePredicate(op: Operator, value: unknown): SQL {
  const age = ageConditions(sql`c.birth_date`);
  const hasChild = (born?: SQL) => sql`exists (select 1 from relationships r join individuals c on c.id = r.individual_id
    where r.related_individual_id = i.id and r.relationship in ('MTH', 'FTH', 'PRN') and c.death_date is null${born ? sql` and ${born}` : sql``})`;
  const youngestIs = (n: number) => sql`(${hasChild(age.eq(n))} and not ${hasChild(age.lt(n))})`;
  const youngestFromTo = (from: number, to: number) => sql`(${hasChild(sql`${age.gte(from)} and ${age.lte(to)}`)} and not ${hasChild(age.lt(from))})`;
  // A list of years costs two EXISTS per run of consecutive years: one per year had made `$in [0..40]` 82 subplans,
  // which PostgreSQL ran per person (27 s for 1,800 people). A list of more runs is one minimum per person instead.
  const youngestIn = (ns: number[]) => {
    const runs = runsOf(ns);
    if (runs.length > 2) return sql`coalesce(${youngestChildAge} in (${sql.join(ns.map((v) => sql`${v}`), sql`, `)}), false)`;
    return sql`(${sql.join(runs.map(([from, to]) => youngestFromTo(from, to)), sql` or `)})`;
  };
  const n = value as number;
  switch (op) {
    case 'eq': return youngestIs(n);
    case 'ne': return sql`not ${youngestIs(n)}`;
    case 'in': return youngestIn(value as number[]);
    case 'nin': return sql`not ${youngestIn(value as number[])}`;
    case 'lt': return hasChild(age.lt(n));
    case 'lte': return hasChild(age.lte(n));
    case 'gt': return sql`(${hasChild()} and not ${hasChild(age.lte(n))})`;
    case 'gte': return sql`(${hasChild()} and not ${hasChild(age.lt(n))})`;
  }
}

/** Whole numbers as runs of consecutive ones, ascending: [5, 0, 1, 2] -> [[0, 2], [5, 5]]. */
function runsOf(ns: number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const n of [...new Set(ns)].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else runs.push([n, n]);
  }
  return runs;
}

const youngestChildAge = sql`(select min(extract(year from age(c.birth_date)))::int from relationships r join individuals c on c.id = r.individual_id
  where r.related_individual_id = i.id and r.relationship in ('MTH', 'FTH', 'PRN') and c.death_date is null)`;

/** Area by code or name at a level (region, district) or any level, including everything below it. */
function areaPredicate(level: string | null, areaId: SQL) {
  return (op: Operator, value: unknown): SQL => {
    // Codes and names in any case (codes are stored upper case).
    const values = (Array.isArray(value) ? value : [value]).map((v) => String(v).trim());
    const list = (vs: string[]) => sql.join(vs.map((v) => sql`${v}`), sql`, `);
    const subtree = sql`(select a.id from areas a join areas p on (a.path = p.path or a.path like p.path || '.%') where (p.code in (${list(values.map((v) => v.toUpperCase()))}) or lower(p.name) in (${list(values.map((v) => v.toLowerCase()))}))${level ? sql` and p.level = ${level}` : sql``})`;
    return op === 'ne' || op === 'nin' ? sql`(${areaId} is null or ${areaId} not in ${subtree})` : sql`${areaId} in ${subtree}`;
  };
}

const textOps: Operator[] = ['eq', 'ne', 'in', 'nin'];

function identifierDef(vault: IdentifierVault, owner: IdentifierOwner, idType: string, scope: 'person' | 'group-by-member'): AttributeDef {
  return {
    name: canonicalIdType(idType),
    type: 'string',
    operators: textOps,
    predicate: (op, value) => {
      const values = (Array.isArray(value) ? value : [value]).map(String);
      const negate = op === 'ne' || op === 'nin';
      if (owner === 'group') {
        const held = vault.hasIdentifier('group', sql`g.id`, idType, values, negate);
        // A person without a household (g.id NULL) holds no household identifier: `NULL not in (...)` would drop them.
        return negate && scope === 'person' ? sql`(g.id is null or ${held})` : held;
      }
      return scope === 'person'
        ? vault.hasIdentifier('individual', sql`i.id`, idType, values, negate)
        : vault.hasMemberWithIdentifier(sql`g.id`, idType, values, negate);
    },
    sealed: vault.isRestricted(idType),
    // The partner names people by identifiers it holds: comparing one tells it nothing it did not send.
    shownIn: [],
    sortKey:
      owner === 'individual' && scope === 'person'
        ? vault.sortKey('individual', sql`i.id`, idType)
        : owner === 'group'
          ? vault.sortKey('group', sql`g.id`, idType)
          : undefined,
  };
}

/** Attributes of a person (alias i) and their active membership (alias m). */
const personAttributes: AttributeDef[] = [
  def('sex', 'string', sql`i.sex`, { operators: textOps, normalize: inVocabulary('sex', normalizeSex), shownIn: ['person:sex'] }),
  def('birth_date', 'date', sql`i.birth_date`, { shownIn: ['person:birth_date'] }),
  // Sorted by whole years, as it is compared: people of one age are ordered by the next sort key.
  { name: 'age', type: 'integer', normalize: yearsOfAge('age'), predicate: agePredicate, sortKey: sql`extract(year from age(i.birth_date))`, shownIn: ['person:birth_date'] },
  def('marital_status', 'string', sql`i.marital_status`, { operators: textOps, normalize: inVocabulary('marital_status', normalizeMaritalStatus), shownIn: ['member:marital_status'] }),
  def('is_disabled', 'boolean', sql`i.is_disabled`, { shownIn: ['member:is_disabled'] }),
  def('is_deceased', 'boolean', sql`(i.death_date is not null)`, { shownIn: ['person:death_date', 'member:additional_attributes'] }),
  def('death_date', 'date', sql`i.death_date`, { shownIn: ['person:death_date'] }),
  def('given_name', 'string', sql`lower(i.given_name)`, { operators: textOps, normalize: trimmedText, predicate: columnPredicate(sql`lower(i.given_name)`, inLowerCase), shownIn: ['person:name.given_name'] }),
  def('surname', 'string', sql`lower(i.surname)`, { operators: textOps, normalize: trimmedText, predicate: columnPredicate(sql`lower(i.surname)`, inLowerCase), shownIn: ['person:name.surname'] }),
  // Stored in lower case with underscores (post_secondary): "Post-secondary" or "POST SECONDARY" is the same value.
  def('education_level', 'string', sql`lower(i.education_level)`, { operators: textOps, normalize: snakeText, shownIn: ['member:education_level'] }),
  def('occupation', 'string', sql`lower(i.occupation)`, { operators: textOps, normalize: snakeText, shownIn: ['member:occupation'] }),
  // Codes or labels (DIGEST 5: samples send labels, the spec codes).
  def('employment_status', 'string', sql`i.employment_status`, { operators: textOps, normalize: codedValue(EMPLOYMENT), shownIn: ['member:employment_status'] }),
  def('registration_date', 'date', sql`(i.registration_date at time zone 'UTC')::date`, { shownIn: ['person:registration_date', 'member:registration_date'] }),
  def('relationship_to_head', 'string', sql`m.relationship_to_head`, {
    operators: textOps,
    normalize: inVocabulary('relationship_to_head', normalizeRelationship),
    shownIn: ['member:additional_attributes', 'member:related_person'],
  }),
  def('is_head', 'boolean', sql`coalesce(m.is_head, false)`, { shownIn: ['member:additional_attributes', 'member:related_person'] }),
  // Whole years of the person's youngest living child (0: an infant), through the relationships births record: told
  // by people's birth dates.
  { name: 'youngest_child_age', type: 'integer', normalize: yearsOfAge('youngest_child_age'), predicate: youngestChildAgePredicate, sortKey: youngestChildAge, shownIn: ['person:birth_date'] },
];

/** Attributes of a household (alias g). */
const householdAttributes: AttributeDef[] = [
  def('poverty_score', 'number', sql`g.poverty_score`, { shownIn: ['group:poverty_score'] }),
  def('group_size', 'integer', sql`g.group_size`, { shownIn: ['group:group_size'] }),
  def('group_type', 'string', sql`g.group_type`, { operators: textOps, normalize: codedValue(GROUP_TYPES), shownIn: ['group:group_type'] }),
  def('group_registration_date', 'date', sql`(g.registration_date at time zone 'UTC')::date`, { shownIn: ['group:registration_date'] }),
];

/**
 * The fields that show a household's district, and so its region too: the area tree is public
 * (`/.well-known/locations.json`).
 */
const DISTRICT_SHOWN_IN = ['group:address.sub_region_code', 'group:address.locality', 'group:geographical_location.name'];

/**
 * The household's area, by the column that holds it: `g.area_id` for households, and for people the copy of their
 * household's area on their own row (`i.household_area_id`, migration 0022), which the (area, birth date) index serves.
 */
const areaAttributes = (areaId: SQL): AttributeDef[] => [
  {
    name: 'region',
    type: 'string',
    operators: textOps,
    predicate: areaPredicate('region', areaId),
    shownIn: ['group:address.region_code', 'group:geographical_location.contained_in_place', ...DISTRICT_SHOWN_IN],
  },
  { name: 'district', type: 'string', operators: textOps, predicate: areaPredicate('district', areaId), shownIn: DISTRICT_SHOWN_IN },
  { name: 'location', type: 'string', operators: textOps, predicate: areaPredicate(null, areaId), shownIn: DISTRICT_SHOWN_IN },
];

/** Other spellings partners send (DIGEST 11.2 #25, samples), mapped to canonical names. */
const ALIASES: Record<string, string> = {
  gender: 'sex',
  birthdate: 'birth_date',
  date_of_birth: 'birth_date',
  dob: 'birth_date',
  deceased: 'is_deceased',
  disabled: 'is_disabled',
  first_name: 'given_name',
  'name.given_name': 'given_name',
  'name.first_name': 'given_name',
  last_name: 'surname',
  sur_name: 'surname',
  'name.surname': 'surname',
  'name.last_name': 'surname',
  'name.sur_name': 'surname',
  relationship_head: 'relationship_to_head',
  relationship_type: 'relationship_to_head',
  household_size: 'group_size',
  size: 'group_size',
  area: 'location',
  region_code: 'region',
  region_name: 'region',
  district_code: 'district',
  district_name: 'district',
  sub_region_code: 'district',
  'geographical_location.name': 'location',
  'place.name': 'location',
  household_identifier: 'HOUSEHOLD_ID',
  group_identifier: 'HOUSEHOLD_ID',
};

/** Path prefixes that name the record a field sits in, not the field (e.g. `demographic_info.person.sex`). */
const CONTAINER_PREFIXES = ['member', 'members', 'demographic_info', 'person', 'household_member', 'personal_details', 'group', 'household'];
const MEMBER_SCOPES = ['member_list', 'members', 'member'];
const HEAD_SCOPES = ['group_head_info'];

function stripContainers(path: string): string {
  const parts = path.split('.');
  while (parts.length > 1 && CONTAINER_PREFIXES.includes(parts[0].toLowerCase())) parts.shift();
  return parts.join('.');
}

class Catalog implements AttributeCatalog {
  private readonly byName = new Map<string, AttributeDef>();

  constructor(
    defs: AttributeDef[],
    private readonly vault: IdentifierVault,
    private readonly idScope: 'person' | 'group-by-member',
    private readonly nested?: (path: string) => AttributeDef | undefined,
  ) {
    for (const d of defs) this.byName.set(d.name.toLowerCase(), d);
  }

  resolve(name: string): AttributeDef | undefined {
    if (typeof name !== 'string' || name.length > 200) return undefined;
    const nested = this.nested?.(name);
    if (nested) return nested;
    const leaf = stripContainers(name.trim());
    const key = leaf.toLowerCase();
    // Own members only: `constructor` or `__proto__` would read Object.prototype's.
    const canonical = Object.hasOwn(ALIASES, key) ? ALIASES[key] : leaf;
    return this.byName.get(canonical.toLowerCase()) ?? this.resolveIdentifierType(canonical.replace(/^identifier\./i, ''));
  }

  resolveIdentifierType(idType: string): AttributeDef | undefined {
    if (typeof idType !== 'string') return undefined;
    const type = this.vault.types.get(canonicalIdType(idType));
    return type ? identifierDef(this.vault, type.owner, idType, this.idScope) : undefined;
  }
}

/**
 * A person attribute evaluated over a household's active members (or its head): EXISTS over memberships. A negation
 * is of the whole: `member_list.sex $ne female` is a household with no woman (as `$not` says it, and as a document
 * store reads a condition on an array), not one with some member who is not a woman; `group_head_info.sex $ne male`
 * holds for a household without a head.
 */
function overMembers(person: AttributeDef, headOnly: boolean): AttributeDef {
  const anyMember = (condition: SQL) =>
    sql`exists (select 1 from memberships m join individuals i on i.id = m.individual_id where m.group_id = g.id and m.end_date is null${headOnly ? sql` and m.is_head` : sql``} and ${condition})`;
  // Shown in the household's member list (the head is one of its members).
  const scopes = headOnly ? ['member_list', 'group_head_info'] : ['member_list'];
  return {
    ...person,
    sortKey: undefined,
    shownIn: person.shownIn?.flatMap((ref) => scopes.map((scope) => `group:${shownAt(ref, { member: `${scope}.` })}`)),
    predicate: (op, value) =>
      op === 'ne' ? sql`not ${anyMember(person.predicate('eq', value))}` : op === 'nin' ? sql`not ${anyMember(person.predicate('in', value))}` : anyMember(person.predicate(op, value)),
  };
}

export interface SocialCatalogs {
  /** For Member and Person records: person, membership and household attributes. */
  readonly members: AttributeCatalog;
  /** For Group records: household attributes, member identifiers, and `member_list.*` / `group_head_info.*`. */
  readonly groups: AttributeCatalog;
}

export function socialCatalogs(vault: IdentifierVault): SocialCatalogs {
  const personOnly = new Catalog(personAttributes, vault, 'person');
  const members = new Catalog([...personAttributes, ...householdAttributes, ...areaAttributes(sql`i.household_area_id`)], vault, 'person');
  const groups = new Catalog([...householdAttributes, ...areaAttributes(sql`g.area_id`)], vault, 'group-by-member', (path) => {
    const dot = path.indexOf('.');
    if (dot < 0) return undefined;
    const scope = path.slice(0, dot).toLowerCase();
    const headOnly = HEAD_SCOPES.includes(scope);
    if (!headOnly && !MEMBER_SCOPES.includes(scope)) return undefined;
    const person = personOnly.resolve(path.slice(dot + 1));
    return person ? overMembers(person, headOnly) : undefined;
  });
  return { members, groups };
}

/** A domain's own attributes (and their other spellings) in front of a Social Registry catalog. */
export function extendCatalog(base: AttributeCatalog, defs: AttributeDef[], aliases: Record<string, string> = {}): AttributeCatalog {
  const byName = new Map(defs.map((d) => [d.name.toLowerCase(), d]));
  return {
    resolve(name) {
      if (typeof name !== 'string' || name.length > 200) return undefined;
      const key = name.trim().toLowerCase();
      return byName.get(Object.hasOwn(aliases, key) ? aliases[key] : key) ?? base.resolve(name);
    },
    resolveIdentifierType: (idType) => base.resolveIdentifierType(idType),
  };
}

/**
 * `person_identifier` (IBR, DR: `member_identifier`): a person's identifier of any type, for partners that send the
 * value without its type. Looked up through every person type's index (blind index for restricted types).
 */
export function anyPersonIdentifierDef(vault: IdentifierVault): AttributeDef {
  const types = vault.typesOf('individual');
  return {
    name: 'person_identifier',
    type: 'string',
    operators: textOps,
    shownIn: [],
    predicate: (op, value) => {
      const values = (Array.isArray(value) ? value : [value]).map(String);
      const conditions = types.map((t) => vault.hasIdentifier('individual', sql`i.id`, t, values));
      const any = sql`(${sql.join(conditions, sql` or `)})`;
      return op === 'ne' || op === 'nin' ? sql`not ${any}` : any;
    },
  };
}
