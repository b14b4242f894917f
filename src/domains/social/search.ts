import type { Database } from '../../db/client.js';
import { present } from '../../dci/envelope/normalize.js';
import { expressionCollection, QueryRejection } from '../../dci/query/index.js';
import type { SearchDomain, SearchPlan } from '../../dci/search/items.js';
import type { IdentifierVault } from '../../registry/identifiers.js';
import type { SocialCatalogs } from './attributes.js';
import { type RecordType, recordTypeName, REG_TYPE, toGroup, toMember, toPerson } from './records.js';
import { Batcher } from '../../db/batcher.js';
import {
  countGroups,
  countMembers,
  findGroupsByIdentifiers,
  findGroupsPage,
  findMembersByIdentifiers,
  findMembersPage,
  type GroupRow,
  type IdentifierKey,
  type MemberRow,
  type Queryable,
} from './store.js';

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
  const type = Object.hasOwn(ENTITY, bare) ? ENTITY[bare] : undefined;
  if (!type) throw new QueryRejection('rjct.search_criteria.invalid', `${field} ${value.slice(0, 100)} is not a Social Registry record type (Group, Member, Person)`);
  return type;
}

/**
 * Idtype-value lookups of one kind of record: the lookups that meet in one event-loop turn (concurrent searches, the
 * items of a batch, async requests executed together) share one statement, which costs PostgreSQL per lookup a
 * fraction of a statement of its own. `find` gives each key its row, or undefined.
 */
export class IdentifierLookups<Row> {
  private readonly batcher: Batcher<IdentifierKey, Row | undefined>;

  constructor(
    private readonly vault: IdentifierVault,
    private readonly subject: 'individual' | 'group',
    find: (keys: IdentifierKey[]) => Promise<(Row | undefined)[]>,
  ) {
    this.batcher = new Batcher(find, 64, 4);
  }

  /**
   * SearchPlan.findByIdentifier: the record the identifier names, made by `toRecord` (the row is the record when `find`
   * already made it); undefined when the identifier
   * can name more than one record of the subject (a household identifier names many members). A person's names one
   * person and (one active membership) one household.
   */
  find(identifier: { type: string; value: string }, toRecord: (row: Row) => object = (row) => row as object): Promise<object[]> | undefined {
    const owner = this.vault.types.get(identifier.type)?.owner;
    if (owner === undefined || (owner === 'group' && this.subject === 'individual')) return undefined;
    const key = { type: identifier.type, lookup: this.vault.lookupKey(identifier.type, identifier.value) };
    return this.batcher.add(key).then((row) => (row === undefined ? [] : [toRecord(row)]));
  }
}

export class SocialSearch implements SearchDomain {
  private readonly memberLookups: IdentifierLookups<MemberRow>;
  private readonly groupLookups: IdentifierLookups<GroupRow>;

  constructor(
    private readonly db: Database,
    private readonly vault: IdentifierVault,
    private readonly catalogs: SocialCatalogs,
  ) {
    this.memberLookups = new IdentifierLookups(vault, 'individual', (keys) => findMembersByIdentifiers(db, vault, keys));
    this.groupLookups = new IdentifierLookups(vault, 'group', (keys) => findGroupsByIdentifiers(db, vault, keys));
  }

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
        parts: { group: '' },
        fetch: async (page) => (await findGroupsPage(db, vault, page)).map(toGroup),
        count: (where) => countGroups(db, where),
        findByIdentifier: within ? undefined : (identifier) => this.groupLookups.find(identifier, toGroup),
      };
    }
    const record = (r: MemberRow) =>
      type === 'Person' ? toPerson(r.person, { asRecord: true }) : toMember(r.person, { headIdentifiers: r.head_identifiers, householdIdentifiers: r.household_identifiers });
    return {
      regType: REG_TYPE,
      recordType: recordTypeName(type),
      subject: 'individual',
      catalog: this.catalogs.members,
      parts: type === 'Person' ? { person: '' } : { member: '' },
      fetch: async (page) => (await findMembersPage(db, vault, page)).map(record),
      count: (where) => countMembers(db, where),
      findByIdentifier: within ? undefined : (identifier) => this.memberLookups.find(identifier, record),
    };
  }
}
