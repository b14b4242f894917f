import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { present } from '../../dci/envelope/normalize.js';
import { QueryRejection } from '../../dci/query/index.js';
import type { SearchDomain, SearchPlan } from '../../dci/search/items.js';
import { IDENTIFIER_JSON, type IdentifierVault, type StoredIdentifier } from '../../registry/identifiers.js';
import type { SocialCatalogs } from '../social/attributes.js';
import { toPerson } from '../social/records.js';
import { countMembers, findMembersPage, type PersonRow, type Queryable } from '../social/store.js';

export const CRVS_REG_TYPE = 'ns:org:RegistryType:Civil';
const CRVS_RECORD_TYPE = 'spdci-extensions-dci:Person';

/** Record types a CRVS search may ask for: the CRVS_Person in any spelling (DIGEST 5: bare names, prefixes). */
const PERSON_NAMES = ['person', 'crvs_person', 'crvsperson'];

/**
 * The CRVS domain served from the registry's own people (DIGEST 6 CRVS_Person), so the gateway can stand in for a
 * CRVS: identifiers, name, sex, birth and death with their places, marital status and the parents' identifiers (from
 * the parent links births record). Queries take the person attributes of the Social Registry.
 */
export class CrvsSearch implements SearchDomain {
  constructor(
    private readonly db: Database,
    private readonly vault: IdentifierVault,
    private readonly catalogs: SocialCatalogs,
  ) {}

  plan(criteria: Record<string, unknown>, within?: Queryable): SearchPlan {
    for (const field of ['reg_record_type', 'response_entity'] as const) {
      const v = criteria[field];
      if (present(v) && (typeof v !== 'string' || !PERSON_NAMES.includes(v.split(':').pop()!.toLowerCase()))) {
        throw new QueryRejection('rjct.search_criteria.invalid', `${field} ${String(v).slice(0, 100)} is not a CRVS record type (Person, CRVS_Person)`);
      }
    }
    const db = within ?? this.db;
    const vault = this.vault;
    return {
      regType: CRVS_REG_TYPE,
      recordType: CRVS_RECORD_TYPE,
      subject: 'individual',
      catalog: this.catalogs.members,
      parts: { person: '' },
      fetch: async (page) => {
        const rows = await findMembersPage(db, vault, page);
        const parents = await parentsOf(db, vault, rows.map((r) => r.person.external_id));
        return rows.map((r) => toCrvsPerson(r.person, parents.get(r.person.external_id) ?? []));
      },
      count: (where) => countMembers(db, where),
    };
  }
}

interface Parent {
  relationship: string;
  identifiers: { type: string; value: string }[];
}

/** The parents of a page of people, in one query: by child external id, mothers first. */
async function parentsOf(db: Queryable, vault: IdentifierVault, externalIds: string[]): Promise<Map<string, Parent[]>> {
  const out = new Map<string, Parent[]>();
  if (externalIds.length === 0) return out;
  const rows = await db.run<{ child: string; relationship: string; identifiers: StoredIdentifier[] | null }>(sql`
    select c.external_id::text as child, r.relationship,
           (select json_agg(${sql.raw(IDENTIFIER_JSON)} order by x.id_type) from identifiers x where x.individual_id = r.related_individual_id) as identifiers
    from individuals c join relationships r on r.individual_id = c.id
    where c.external_id in (${sql.join(externalIds.map((id) => sql`${id}::uuid`), sql`, `)}) and r.relationship in ('MTH', 'FTH', 'PRN')
    order by c.external_id, case r.relationship when 'MTH' then 0 when 'FTH' then 1 else 2 end, r.id`);
  for (const r of rows) {
    const list = out.get(r.child) ?? [];
    list.push({ relationship: r.relationship, identifiers: vault.openAll(r.identifiers) });
    out.set(r.child, list);
  }
  return out;
}

/** A parent's identifier to show: the national one when there is one. */
function parentIdentifier(p: Parent | undefined) {
  if (!p || p.identifiers.length === 0) return undefined;
  const id = p.identifiers.find((x) => x.type === 'UIN') ?? p.identifiers[0];
  return { identifier_type: id.type, identifier_value: id.value };
}

function toCrvsPerson(p: PersonRow, parents: Parent[]) {
  const birthPlace = typeof p.attributes?.birth_place === 'string' ? p.attributes.birth_place : undefined;
  // Absent fields stay undefined, as in the SR records: JSON leaves them out.
  return {
    ...toPerson(p, { asRecord: true }),
    '@type': 'CRVS_Person',
    birth_place: birthPlace ? { name: birthPlace } : undefined,
    death_place: p.death_place ? { name: p.death_place } : undefined,
    marital_status: p.marital_status ?? undefined,
    parent1_identifier: parentIdentifier(parents[0]),
    parent2_identifier: parentIdentifier(parents[1]),
  };
}
