import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { present } from '../../dci/envelope/normalize.js';
import { columnPredicate, QueryRejection } from '../../dci/query/index.js';
import type { AttributeDef, Operator } from '../../dci/query/types.js';
import type { SearchDomain, SearchPlan } from '../../dci/search/items.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import { DISABILITY_DOMAIN, DISABILITY_SEVERITY } from '../../registry/vocabularies.js';
import { anyPersonIdentifierDef, codedValue, extendCatalog, type SocialCatalogs } from '../social/attributes.js';
import { toMember } from '../social/records.js';
import { countMembers, findMembersByIdentifiers, findMembersPage, type MemberRow, type Queryable } from '../social/store.js';
import { IdentifierLookups } from '../social/search.js';
import { ENROLLED_STATUSES } from '../ibr/vocabulary.js';
import { AGE_AT_ONSET, DISABILITY_LEVEL, DISABILITY_STATUS, IMPAIRMENT_CAUSE, IMPAIRMENT_LEVEL, IMPAIRMENT_TYPE, SUPPORT_KINDS } from './vocabulary.js';

export const DR_REG_TYPE = 'ns:org:RegistryType:DR';
const DISABLED_PERSON = 'spdci-extensions-dci:DisabledPerson';

const textOps: Operator[] = ['eq', 'ne', 'in', 'nin'];
const reject = (message: string): never => {
  throw new QueryRejection('rjct.search_criteria.invalid', message);
};

/** A condition on the entries of a JSON list column: some entry's `key` is (not) one of the values (jsonb containment, GIN-indexed). */
function entryPredicate(column: SQL, key: string) {
  return (op: Operator, value: unknown): SQL => {
    const values = Array.isArray(value) ? value : [value];
    const any = sql`(${sql.join(values.map((v) => sql`${column} @> ${JSON.stringify([{ [key]: v }])}::jsonb`), sql` or `)})`;
    return op === 'ne' || op === 'nin' ? sql`not ${any}` : any;
  };
}

/**
 * A record's status as it stands today: an Approved (0) assessment past its `valid_until` is Expired (2). Nothing
 * rewrites the stored status when the date passes, so every reader of the status goes through this.
 */
const CURRENT_STATUS = sql`(case when d.status = 0 and d.valid_until < current_date then 2 else d.status end)`;

/** Sort keys are read per person (the page query has no `d`; conditions run inside an EXISTS over it). */
const ofRecord = (column: SQL) => sql`(select ${column} from disability_records d where d.individual_id = i.id)`;

/** Attributes of the person's disability record (`d`) and functional limitations. */
const DISABILITY_ATTRIBUTES: AttributeDef[] = [
  {
    name: 'disability_status',
    type: 'string',
    operators: textOps,
    normalize: codedValue(DISABILITY_STATUS),
    predicate: columnPredicate(CURRENT_STATUS),
    sortKey: ofRecord(CURRENT_STATUS),
    shownIn: ['record:disability_status'],
  },
  {
    name: 'disability_status_level',
    type: 'string',
    operators: textOps,
    normalize: codedValue(DISABILITY_LEVEL),
    predicate: columnPredicate(sql`d.level`),
    sortKey: ofRecord(sql`d.level`),
    shownIn: ['record:disability_status_level'],
  },
  ...(
    [
      ['impairment_type', IMPAIRMENT_TYPE],
      ['impairment_level', IMPAIRMENT_LEVEL],
      ['impairment_cause', IMPAIRMENT_CAUSE],
      ['age_on_set', AGE_AT_ONSET],
    ] as const
  ).map(([name, vocab]): AttributeDef => ({
    name,
    type: 'string',
    operators: textOps,
    normalize: codedValue(vocab),
    predicate: entryPredicate(sql`d.impairments`, name),
    shownIn: [`record:disability_details.${name}`],
  })),
  { name: 'assessment_date', type: 'date', predicate: columnPredicate(sql`d.assessed_on`), sortKey: ofRecord(sql`d.assessed_on`), shownIn: ['record:additional_attributes'] },
  {
    name: 'disability_limitation_type',
    type: 'string',
    operators: textOps,
    normalize: codedValue(DISABILITY_DOMAIN),
    predicate: entryPredicate(sql`i.disability_info`, 'disability_limitation_type'),
    shownIn: ['member:disability_info.disability_limitation_type'],
  },
  {
    name: 'functional_severity',
    type: 'string',
    operators: textOps,
    normalize: codedValue(DISABILITY_SEVERITY),
    predicate: entryPredicate(sql`i.disability_info`, 'functional_severity'),
    shownIn: ['member:disability_info.functional_severity'],
  },
  ...SUPPORT_KINDS.map((kind): AttributeDef => ({
    name: `has_${kind}`,
    type: 'boolean',
    shownIn: [`record:disability_support.${kind}`],
    predicate: (op, value) => {
      const has = sql`jsonb_array_length(coalesce(d.support -> ${kind}, '[]'::jsonb)) > 0`;
      return (op === 'eq') === (value === true) ? has : sql`not ${has}`;
    },
  })),
];

const ALIASES: Record<string, string> = {
  disability_level: 'disability_status_level',
  'disability_details.impairment_type': 'impairment_type',
  'disability_details.impairment_level': 'impairment_level',
  'disability_details.impairment_cause': 'impairment_cause',
  'disability_details.age_on_set': 'age_on_set',
  age_at_onset: 'age_on_set',
  'disability_info.disability_limitation_type': 'disability_limitation_type',
  functional_limitation_type: 'disability_limitation_type',
  'disability_info.functional_severity': 'functional_severity',
  member_identifier: 'person_identifier',
  'personal_details.member_identifier': 'person_identifier',
  'member.member_identifier': 'person_identifier',
};

const RECORD_NAMES = ['disabledperson', 'drperson', 'dr_person', 'pwd_person', 'pwdperson', 'person', 'member'];

/** A disability record row with its person's REGISTRY_ID. */
export interface DisabilityRow {
  owner: string;
  status: number;
  level: string | null;
  impairments: Record<string, string>[];
  support: Partial<Record<(typeof SUPPORT_KINDS)[number], Record<string, unknown>[]>>;
  transport_requirement: string | null;
  housing_type: string | null;
  assessed_on: string;
  assessor: string;
  valid_until: string | null;
  registration_date: string;
  last_updated: string;
  programmes: { programme_identifier: string; programme_name: string }[];
  /** The person's functional limitations (Washington Group), kept on the person. */
  limitations: object[];
}

/** The disability records of people chosen by a condition on `i` (by id or by REGISTRY_ID), keyed by REGISTRY_ID. */
export async function disabilityRows(db: Queryable, who: SQL): Promise<Map<string, DisabilityRow>> {
  const rows = await db.run<DisabilityRow>(sql`
    select i.external_id::text as owner, i.disability_info as limitations, ${CURRENT_STATUS} as status, d.level, d.impairments, d.support, d.transport_requirement, d.housing_type,
           d.assessed_on::text as assessed_on, d.assessor, d.valid_until::text as valid_until, d.registration_date, d.last_updated,
           coalesce((select json_agg(json_build_object('programme_identifier', p.code, 'programme_name', p.name) order by p.code)
                     from (select e.programme_id from enrolments e
                           where e.individual_id = i.id and e.status in ${sql.raw(`(${ENROLLED_STATUSES.join(', ')})`)}
                           union
                           select e.programme_id from memberships m join enrolments e on e.group_id = m.group_id
                           where m.individual_id = i.id and m.end_date is null and e.status in ${sql.raw(`(${ENROLLED_STATUSES.join(', ')})`)}) held
                     join programmes p on p.id = held.programme_id), '[]'::json) as programmes
    from individuals i join disability_records d on d.individual_id = i.id
    where ${who}`);
  return new Map(rows.map((r) => [r.owner, r]));
}

const iso = (v: string) => new Date(v).toISOString();

/** DisabilityDetails (GetDisabilityInfoResponse records): the assessment's status, level, impairments and who assessed. */
export function toDisabilityInfo(d: DisabilityRow) {
  const info: Record<string, unknown> = {
    disability_status: String(d.status),
    disability_details: d.impairments,
    assessment_date: d.assessed_on,
    assessor: d.assessor,
    registration_date: iso(d.registration_date),
    last_updated: iso(d.last_updated),
  };
  if (d.level) info.disability_status_level = d.level;
  if (d.limitations.length > 0) info.functional_limitations = d.limitations;
  if (d.valid_until) info.valid_until = d.valid_until;
  return info;
}

/** One DisabilitySupport object (DIGEST 6): every list present, empty when none. */
export function toDisabilitySupport(d: DisabilityRow) {
  const support: Record<string, unknown> = Object.fromEntries(SUPPORT_KINDS.map((k) => [k, d.support[k] ?? []]));
  support.registration_date = iso(d.registration_date);
  support.last_updated = iso(d.last_updated);
  return support;
}

/**
 * The Disability Registry's search: DisabledPerson records (DIGEST 6) of people with a disability record, with their
 * personal details (a Member), the assessment, support and the programmes they are enrolled in. Queries take the
 * disability attributes (disability_status, disability_status_level, impairment_type..., has_assistive_technology...)
 * and every Social Registry person and household attribute.
 */
export class DrSearch implements SearchDomain {
  private readonly catalog;
  /** A batch's idtype-value items (and concurrent searches') share one lookup and one read of the records. */
  private readonly lookups: IdentifierLookups<object>;

  constructor(
    private readonly db: Database,
    private readonly vault: IdentifierVault,
    catalogs: SocialCatalogs,
  ) {
    this.catalog = extendCatalog(catalogs.members, [...DISABILITY_ATTRIBUTES, anyPersonIdentifierDef(vault)], ALIASES);
    this.lookups = new IdentifierLookups(vault, 'individual', async (keys) => disabledPeople(db, await findMembersByIdentifiers(db, vault, keys)));
  }

  plan(criteria: Record<string, unknown>, within?: Queryable): SearchPlan {
    for (const field of ['response_entity', 'reg_record_type'] as const) {
      const v = criteria[field];
      if (present(v) && (typeof v !== 'string' || !RECORD_NAMES.includes(v.split(':').pop()!.toLowerCase()))) {
        reject(`${field} ${String(v).slice(0, 100)} is not a DR record type (DisabledPerson)`);
      }
    }
    const db = within ?? this.db;
    const vault = this.vault;
    const assessed = (where: SQL) => sql`exists (select 1 from disability_records d where d.individual_id = i.id and ${where})`;
    return {
      regType: DR_REG_TYPE,
      recordType: DISABLED_PERSON,
      subject: 'individual',
      catalog: this.catalog,
      parts: { member: 'personal_details.' },
      fetch: async (page) => (await disabledPeople(db, await findMembersPage(db, vault, { ...page, where: assessed(page.where) }))).filter((r) => r !== undefined),
      count: (where) => countMembers(db, assessed(where)),
      findByIdentifier: within ? undefined : (identifier) => this.lookups.find(identifier),
    };
  }
}

/** The DisabledPerson records of these people, those without a disability record left out (one statement for all). */
async function disabledPeople(db: Queryable, rows: (MemberRow | undefined)[]): Promise<(object | undefined)[]> {
  const ids = rows.flatMap((r) => (r ? [r.person.external_id] : []));
  const records = ids.length ? await disabilityRows(db, sql`i.external_id in (${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)})`) : new Map<string, DisabilityRow>();
  return rows.map((r) => {
    const d = r && records.get(r.person.external_id);
    return r && d ? disabledPerson(r, d) : undefined;
  });
}

function disabledPerson(r: MemberRow, d: DisabilityRow): object {
  const record: Record<string, unknown> = {
    '@type': 'DisabledPerson',
    personal_details: toMember(r.person, { headIdentifiers: r.head_identifiers, householdIdentifiers: r.household_identifiers }),
    disability_status: String(d.status),
    disability_details: d.impairments,
    disability_support: [toDisabilitySupport(d)],
    programs_enrolments: d.programmes,
    additional_attributes: [
      { attribute_name: 'assessment_date', attribute_value: d.assessed_on },
      { attribute_name: 'assessor', attribute_value: d.assessor },
      ...(d.valid_until ? [{ attribute_name: 'valid_until', attribute_value: d.valid_until }] : []),
    ],
    registration_date: new Date(d.registration_date).toISOString(),
    last_updated: new Date(d.last_updated).toISOString(),
  };
  if (d.level) record.disability_status_level = d.level;
  if (d.transport_requirement) record.transport_requirement = d.transport_requirement;
  if (d.housing_type) record.housing_type = d.housing_type;
  return record;
}
