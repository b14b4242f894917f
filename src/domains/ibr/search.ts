import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { present } from '../../dci/envelope/normalize.js';
import { columnPredicate, QueryRejection } from '../../dci/query/index.js';
import type { AttributeDef } from '../../dci/query/types.js';
import type { SearchDomain, SearchPlan } from '../../dci/search/items.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import { anyPersonIdentifierDef, codedValue, extendCatalog, type SocialCatalogs } from '../social/attributes.js';
import { toGroup, toMember } from '../social/records.js';
import { IdentifierLookups } from '../social/search.js';
import {
  countGroups,
  countMembers,
  findGroupsByIdentifiers,
  findGroupsPage,
  findMembersByIdentifiers,
  findMembersPage,
  type GroupRow,
  type MemberRow,
  type Queryable,
} from '../social/store.js';
import { type EnrolmentView, enrolmentsByOwner } from './enrolment-store.js';
import { ASSISTANCE_UNIT, BENEFIT_TYPE, ENROLLED_STATUSES, ENROLMENT_STATUS } from './vocabulary.js';

export const IBR_REG_TYPE = 'ns:org:RegistryType:IBR';
const BENEFICIARY = 'spdci-extensions-dci:Beneficiary';

const textOps = ['eq', 'ne', 'in', 'nin'] as const;

/** A Beneficiary holds a Member (`member`) or a Group (`group`). */
const IBR_PARTS = { member: 'member.', group: 'group.' };

const reject = (message: string): never => {
  throw new QueryRejection('rjct.search_criteria.invalid', message);
};

/** The fields that show which programmes a Beneficiary is enrolled in. */
const PROGRAMME_SHOWN_IN = ['record:programme_identifier.programme.programme_identifier', 'record:programme_identifier.programme.programme_name'];

/** Attributes of one enrolment (`e`) and its programme (`p`): a Beneficiary matches when one of its enrolments does. */
const ENROLMENT_ATTRIBUTES: AttributeDef[] = [
  { name: 'programme_identifier', type: 'string', operators: textOps, predicate: columnPredicate(sql`p.code`), shownIn: PROGRAMME_SHOWN_IN },
  {
    name: 'programme_name',
    type: 'string',
    operators: textOps,
    normalize: (v) => String(v).trim().toLowerCase(),
    predicate: columnPredicate(sql`lower(p.name)`),
    shownIn: PROGRAMME_SHOWN_IN,
  },
  // A programme's type and benefit type are the programme's, told by which programme it is.
  { name: 'programme_type', type: 'string', operators: textOps, predicate: columnPredicate(sql`p.programme_type`), shownIn: PROGRAMME_SHOWN_IN },
  { name: 'benefit_type', type: 'string', operators: textOps, normalize: codedValue(BENEFIT_TYPE), predicate: columnPredicate(sql`p.benefit_type`), shownIn: PROGRAMME_SHOWN_IN },
  {
    name: 'enrolment_status',
    type: 'string',
    operators: textOps,
    normalize: codedValue(ENROLMENT_STATUS),
    predicate: columnPredicate(sql`e.status`),
    shownIn: ['record:programme_identifier.enrolment_status'],
  },
  {
    name: 'assistance_unit',
    type: 'string',
    operators: textOps,
    normalize: codedValue(ASSISTANCE_UNIT),
    predicate: columnPredicate(sql`e.assistance_unit`),
    shownIn: ['record:programme_identifier.assistance_unit', 'record:assistance_unit'],
  },
  { name: 'enrolment_date', type: 'date', predicate: columnPredicate(sql`e.enrolment_date`), shownIn: ['record:programme_identifier.enrolment_date'] },
  { name: 'status_change_date', type: 'date', predicate: columnPredicate(sql`e.status_changed_on`), shownIn: ['record:programme_identifier.status_change_date'] },
];

const ENROLLED = sql.raw(`(${ENROLLED_STATUSES.join(', ')})`);

/**
 * Counts the programmes of a person's current enrolments (own and household's): "enrolled in more than one cash
 * programme". Programmes, not enrolments: a person enrolled in a programme both in their own name and through their
 * household is in one programme. The two kinds are read apart, each through its own index: as one condition
 * (`individual_id = i.id or group_id = m.group_id`) PostgreSQL compared every person with every enrolment.
 */
function enrolledCount(name: string, extra: SQL): AttributeDef {
  const count = sql`(select count(distinct e2.programme_id)::int
                     from (select programme_id, status from enrolments where individual_id = i.id
                           union all select programme_id, status from enrolments where group_id = m.group_id) e2
                     join programmes p2 on p2.id = e2.programme_id
                     where e2.status in ${ENROLLED}${extra})`;
  return { name, type: 'integer', predicate: columnPredicate(count), sortKey: count, shownIn: PROGRAMME_SHOWN_IN };
}

const ALIASES: Record<string, string> = {
  'programme_identifier.programme.programme_identifier': 'programme_identifier',
  'programme_identifier.program.programme_identifier': 'programme_identifier',
  'programme.programme_identifier': 'programme_identifier',
  'program.programme_identifier': 'programme_identifier',
  programme_code: 'programme_identifier',
  'programme_identifier.programme.programme_name': 'programme_name',
  'programme.programme_name': 'programme_name',
  'programme_identifier.enrolment_status': 'enrolment_status',
  'programme_identifier.enrollment_status': 'enrolment_status',
  enrollment_status: 'enrolment_status',
  'programme_identifier.enrolment_date': 'enrolment_date',
  enrollment_date: 'enrolment_date',
  'benefits.benefit_type': 'benefit_type',
  member_identifier: 'person_identifier',
  'member.member_identifier': 'person_identifier',
};

/** Record types of an IBR search: Beneficiary records of people (default) or of households (DIGEST 3.8: Group|Member). */
const PERSON_NAMES = ['beneficiary', 'member', 'person', 'ibrperson', 'individual'];
const GROUP_NAMES = ['group', 'household'];

function entityOf(criteria: Record<string, unknown>): 'individual' | 'group' {
  for (const field of ['response_entity', 'reg_record_type'] as const) {
    const v = criteria[field];
    if (!present(v)) continue;
    const bare = typeof v === 'string' ? v.split(':').pop()!.toLowerCase() : '';
    if (GROUP_NAMES.includes(bare)) return 'group';
    if (PERSON_NAMES.includes(bare)) return 'individual';
    reject(`${field} ${String(v).slice(0, 100)} is not an IBR record type (Beneficiary, Member, Group)`);
  }
  return 'individual';
}

/** A programme enrolment as the Beneficiary's `programme_identifier` entry (codes as strings, DIGEST 5). */
export function enrolmentEntry(e: EnrolmentView, withUnit = true) {
  const entry: Record<string, unknown> = {
    programme: { programme_identifier: e.code, programme_name: e.name },
    enrolment_date: e.enrolment_date,
    enrolment_status: String(e.status),
  };
  if (e.status_changed_on) entry.status_change_date = e.status_changed_on;
  if (e.benefits.length > 0) entry.benefits = e.benefits;
  // A person's record lists their household's enrolments too: the unit says whose each is.
  if (withUnit) entry.assistance_unit = String(e.assistance_unit);
  return entry;
}

/**
 * The IBR's search: Beneficiary records (DIGEST 6) of the people enrolled in a programme, directly or through their
 * household (or of households, for Group), with their programme enrolments. Queries combine the person and household
 * attributes of the Social Registry with the enrolment's (programme_identifier, enrolment_status, benefit_type...) and
 * the counts enrolled_programme_count / cash_programme_count.
 */
export class IbrSearch implements SearchDomain {
  private readonly personCatalog;
  private readonly groupCatalog;
  /** A batch's idtype-value items (and concurrent searches') share one lookup and one read of the enrolments. */
  private readonly memberLookups: IdentifierLookups<object>;
  private readonly groupLookups: IdentifierLookups<object>;

  constructor(
    private readonly db: Database,
    private readonly vault: IdentifierVault,
    catalogs: SocialCatalogs,
  ) {
    this.personCatalog = extendCatalog(
      catalogs.members,
      [
        ...ENROLMENT_ATTRIBUTES,
        anyPersonIdentifierDef(vault),
        enrolledCount('enrolled_programme_count', sql``),
        enrolledCount('cash_programme_count', sql` and p2.benefit_type = 1`),
      ],
      ALIASES,
    );
    this.groupCatalog = extendCatalog(catalogs.groups, ENROLMENT_ATTRIBUTES, ALIASES);
    this.memberLookups = new IdentifierLookups(vault, 'individual', async (keys) => enrolledPeople(db, await findMembersByIdentifiers(db, vault, keys)));
    this.groupLookups = new IdentifierLookups(vault, 'group', async (keys) => enrolledGroups(db, await findGroupsByIdentifiers(db, vault, keys)));
  }

  plan(criteria: Record<string, unknown>, within?: Queryable): SearchPlan {
    const db = within ?? this.db;
    const vault = this.vault;
    if (entityOf(criteria) === 'group') {
      const enrolled = (where: SQL) => sql`exists (select 1 from enrolments e join programmes p on p.id = e.programme_id where e.group_id = g.id and ${where})`;
      return {
        regType: IBR_REG_TYPE,
        recordType: BENEFICIARY,
        subject: 'group',
        catalog: this.groupCatalog,
        parts: IBR_PARTS,
        fetch: async (page) => enrolledOnly(await enrolledGroups(db, await findGroupsPage(db, vault, { ...page, where: enrolled(page.where) }))),
        count: (where) => countGroups(db, enrolled(where)),
        findByIdentifier: within ? undefined : (identifier) => this.groupLookups.find(identifier),
      };
    }
    // Own enrolments and the household's apart, each through its index (see enrolledCount).
    const enrolled = (where: SQL) =>
      sql`(exists (select 1 from enrolments e join programmes p on p.id = e.programme_id where e.individual_id = i.id and ${where})
           or exists (select 1 from enrolments e join programmes p on p.id = e.programme_id where e.group_id = m.group_id and ${where}))`;
    return {
      regType: IBR_REG_TYPE,
      recordType: BENEFICIARY,
      subject: 'individual',
      catalog: this.personCatalog,
      parts: IBR_PARTS,
      fetch: async (page) => enrolledOnly(await enrolledPeople(db, await findMembersPage(db, vault, { ...page, where: enrolled(page.where) }))),
      count: (where) => countMembers(db, enrolled(where)),
      findByIdentifier: within ? undefined : (identifier) => this.memberLookups.find(identifier),
    };
  }
}

const enrolledOnly = (records: (object | undefined)[]): object[] => records.filter((r) => r !== undefined);

/** The Beneficiary records of these people, with their own and their household's enrolments; the unenrolled left out. */
async function enrolledPeople(db: Queryable, rows: (MemberRow | undefined)[]): Promise<(object | undefined)[]> {
  const enrolments = await enrolmentsByOwner(db, 'individual', rows.flatMap((r) => (r ? [r.person.external_id] : [])));
  return rows.map((r) => {
    const held = r && enrolments.get(r.person.external_id);
    if (!r || !held?.length) return undefined;
    return {
      '@type': 'Beneficiary',
      assistance_unit: '1',
      member: toMember(r.person, { headIdentifiers: r.head_identifiers, householdIdentifiers: r.household_identifiers }),
      programme_identifier: held.map((e) => enrolmentEntry(e)),
    };
  });
}

/** The Beneficiary records of these households, with their enrolments as a unit; the unenrolled left out. */
async function enrolledGroups(db: Queryable, rows: (GroupRow | undefined)[]): Promise<(object | undefined)[]> {
  const enrolments = await enrolmentsByOwner(db, 'group', rows.flatMap((g) => (g ? [g.external_id] : [])));
  return rows.map((g) => {
    const held = g && enrolments.get(g.external_id);
    if (!g || !held?.length) return undefined;
    return { '@type': 'Beneficiary', assistance_unit: '2', group: toGroup(g), programme_identifier: held.map((e) => enrolmentEntry(e)) };
  });
}
