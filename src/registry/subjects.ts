import type { Database } from '../db/client.js';
import { QueryRejection } from '../dci/query/types.js';
import type { SubjectCondition } from '../dci/query/subject.js';
import { canonicalIdType, type IdentifierOwner, type IdentifierVault } from './identifiers.js';

/** A person or household named by an identifier: of one type, or (untyped, `person_identifier`) of any type of its owner. */
export interface SubjectRef {
  owner: IdentifierOwner;
  idTypes: string[];
  value: string;
  /**
   * More identifiers of the same subject (a pushed Beneficiary may carry a UIN and a BRN): it is whoever any of them
   * names, and ambiguous when they name different ones.
   */
  also?: { idType: string; value: string }[];
}

/** A subject found (its row id and REGISTRY_ID), or why not. */
export type ResolvedSubject = { individualId: number; externalId: string } | { groupId: number; externalId: string } | { unknown: string } | { ambiguous: string };

/** Record paths around an identifier field (`member.member_identifier`, `personal_details.identifier`...). */
const CONTAINERS = ['member', 'members', 'personal_details', 'demographic_info', 'person', 'beneficiary', 'group', 'household'];
const ANY_PERSON_ID = ['person_identifier', 'member_identifier', 'identifier', 'identifier_value', 'beneficiary_identifier', 'id'];
const ANY_GROUP_ID = ['group_identifier', 'household_identifier'];

function leafOf(path: string): string {
  const parts = path.split('.');
  while (parts.length > 1 && CONTAINERS.includes(parts[0].toLowerCase())) parts.shift();
  return parts.join('.').replace(/^identifier\./i, '');
}

/**
 * Splits a check's conditions into the subject (exactly one identifier, one value) and the rest, which the caller
 * interprets (an IBR programme filter) or refuses.
 */
export function splitSubject(conditions: SubjectCondition[], vault: IdentifierVault): { subject: SubjectRef; rest: SubjectCondition[] } {
  let subject: SubjectRef | undefined;
  const rest: SubjectCondition[] = [];
  for (const c of conditions) {
    const leaf = leafOf(c.attribute);
    const lower = leaf.toLowerCase();
    const typed = vault.types.get(canonicalIdType(leaf));
    const ref: Omit<SubjectRef, 'value'> | undefined = typed
      ? { owner: typed.owner, idTypes: [canonicalIdType(leaf)] }
      : ANY_PERSON_ID.includes(lower)
        ? { owner: 'individual', idTypes: vault.typesOf('individual') }
        : ANY_GROUP_ID.includes(lower)
          ? { owner: 'group', idTypes: vault.typesOf('group') }
          : undefined;
    if (!ref) {
      rest.push(c);
      continue;
    }
    if (subject) throw new QueryRejection('rjct.search_criteria.invalid', 'name the person or household by one identifier (send several items to check several)');
    if (c.values.length !== 1) throw new QueryRejection('rjct.search_criteria.invalid', `${c.attribute.slice(0, 100)}: one identifier value per item (send several items to check several)`);
    subject = { ...ref, value: c.values[0] };
  }
  if (!subject) {
    throw new QueryRejection('rjct.search_criteria.invalid', 'the query must name the person or household by an identifier (person_identifier, UIN, BRN..., group_identifier)');
  }
  return { subject, rest };
}

/**
 * The registry rows of many subjects in one query over the identifiers' unique (type, lookup) index. An untyped value
 * that belongs to two different owners is ambiguous: the caller must give its type.
 */
export async function resolveSubjects(db: Pick<Database, 'query'>, vault: IdentifierVault, refs: SubjectRef[]): Promise<ResolvedSubject[]> {
  const n: number[] = [];
  const types: string[] = [];
  const lookups: string[] = [];
  refs.forEach((ref, i) => {
    for (const [t, value] of [...ref.idTypes.map((t) => [t, ref.value]), ...(ref.also ?? []).map((a) => [a.idType, a.value])]) {
      n.push(i);
      types.push(t);
      lookups.push(vault.lookupKey(t, value));
    }
  });
  const rows = n.length
    ? await db.query<{ ord: number; individual_id: string | null; group_id: string | null; external_id: string }>(
        `select q.ord::int as ord, x.individual_id, x.group_id, coalesce(i.external_id, g.external_id)::text as external_id
         from identifier_keys($1::text[], $2::text[]) as q(t, k, ord)
         join identifiers x on x.id_type = q.t and x.id_lookup = q.k
         left join individuals i on i.id = x.individual_id left join groups g on g.id = x.group_id`,
        [types, lookups],
      )
    : [];
  const found = refs.map(() => new Map<string, string>());
  for (const r of rows) found[n[r.ord - 1]].set(r.individual_id !== null ? `i${r.individual_id}` : `g${r.group_id}`, r.external_id);
  return refs.map((ref, i) => {
    const owners = [...found[i].keys()];
    const what = ref.owner === 'group' ? 'household' : 'person';
    if (ref.also?.length) {
      if (owners.length === 0) return { unknown: `no ${what} in this registry has any of these identifiers` };
      if (owners.length > 1) return { ambiguous: `these identifiers name more than one ${what}` };
    }
    if (owners.length === 0) return { unknown: `no ${what} in this registry has that ${ref.idTypes.length === 1 ? ref.idTypes[0] : 'identifier'}` };
    if (owners.length > 1) return { ambiguous: `that identifier value belongs to more than one ${what}; give its type (${ref.idTypes.join(', ')})` };
    const id = Number(owners[0].slice(1));
    const externalId = found[i].get(owners[0])!;
    return owners[0][0] === 'i' ? { individualId: id, externalId } : { groupId: id, externalId };
  });
}
