import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { present } from '../../dci/envelope/normalize.js';
import { expressionCollection, QueryRejection } from '../../dci/query/index.js';
import type { SearchDomain, SearchPlan } from '../../dci/search/items.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import type { SocialCatalogs } from './attributes.js';
import { type RecordType, recordTypeName, REG_TYPE, toGroup, toMember, toPerson } from './records.js';
import { countGroups, countMembers, findGroupsPage, findMembersPage, type Queryable } from './store.js';

/** Entity names partners send for SR records (DIGEST 5: `Household` -> Group, case-insensitive, namespace prefixes). */
const ENTITY: Record<string, RecordType> = {
  group: 'Group',
  household: 'Group',
  groups: 'Group',
  member: 'Member',
  members: 'Member',
  householdmember: 'Member',
  person: 'Person',
  srperson: 'Person',
  sr_person: 'Person',
  individual: 'Person',
};

function entityOf(value: unknown, field: string): RecordType | undefined {
  if (!present(value)) return undefined;
  if (typeof value !== 'string') throw new QueryRejection('rjct.search_criteria.invalid', `${field} must be a string`);
  const bare = value.split(':').pop()!.toLowerCase();
  const type = ENTITY[bare];
  if (!type) throw new QueryRejection('rjct.search_criteria.invalid', `${field} ${value.slice(0, 100)} is not a Social Registry record type (Group, Member, Person)`);
  return type;
}

export class SocialSearch implements SearchDomain {
  constructor(
    private readonly db: Database,
    private readonly vault: IdentifierVault,
    private readonly catalogs: SocialCatalogs,
  ) {}

  plan(criteria: Record<string, unknown>, within?: Queryable): SearchPlan {
    // response_entity (SR std) wins, then reg_record_type (new generation), then the expression's collection;
    // SR sample 1-3 asks for members with collection "Group", so the collection only decides when nothing else does.
    const type =
      entityOf(criteria.response_entity, 'response_entity') ??
      entityOf(criteria.reg_record_type, 'reg_record_type') ??
      entityOf(expressionCollection(criteria.query), 'collection') ??
      'Member';
    const vault = this.vault;
    const db = within ?? this.db;
    if (type === 'Group') {
      return {
        regType: REG_TYPE,
        recordType: recordTypeName('Group'),
        subject: 'group',
        catalog: this.catalogs.groups,
        tieBreak: sql`g.id`,
        fetch: async (page) => (await findGroupsPage(db, vault, page)).map(toGroup),
        count: (where) => countGroups(db, where),
      };
    }
    return {
      regType: REG_TYPE,
      recordType: recordTypeName(type),
      subject: 'individual',
      catalog: this.catalogs.members,
      tieBreak: sql`i.id`,
      fetch: async (page) =>
        (await findMembersPage(db, vault, page)).map((r) =>
          type === 'Person' ? toPerson(r.person) : toMember(r.person, { headIdentifiers: r.head_identifiers, householdIdentifiers: r.household_identifiers }),
        ),
      count: (where) => countMembers(db, where),
    };
  }
}
