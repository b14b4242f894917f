import type { Partner } from '../../auth/partners.js';
import { isAttributeDef } from '../query/comparison.js';
import type { AttributeCatalog, AttributeDef } from '../query/types.js';
import { fieldTreeOf, keeps, type Tree } from './projection.js';

/**
 * Where a domain's records hold a Person, a Member and a Group: the path prefix of each (`''` where the record is
 * one, `member.` in an IBR Beneficiary). A part the searched record does not hold is named where the domain's other
 * records hold it: a partner searching Member records by region may do so when it may receive a Group's region.
 */
export interface RecordParts {
  readonly person?: string;
  readonly member?: string;
  readonly group?: string;
}

/** The field path an attribute's `shownIn` entry names, in records with these parts. */
export function shownAt(ref: string, parts: RecordParts): string {
  const colon = ref.indexOf(':');
  const path = ref.slice(colon + 1);
  switch (ref.slice(0, colon)) {
    case 'person':
      return parts.person !== undefined ? parts.person + path : `${parts.member ?? ''}demographic_info.${path}`;
    case 'member':
      return (parts.member ?? '') + path;
    case 'group':
      return (parts.group ?? '') + path;
    default:
      return path;
  }
}

function guard(def: AttributeDef | undefined, tree: Tree, parts: RecordParts): AttributeDef | undefined {
  if (!isAttributeDef(def) || def.withheld) return def;
  const shownIn = def.shownIn;
  if (shownIn && (shownIn.length === 0 || shownIn.some((ref) => keeps(tree, shownAt(ref, parts))))) return def;
  const fields = (shownIn ?? []).map((ref) => shownAt(ref, parts));
  return { ...def, withheld: fields.length ? `this partner may not receive ${fields.join(' or ')}, which it tells` : 'this partner may not search by it' };
}

/**
 * The attributes a partner may compare and sort on: with a field allow-list, those whose value shows in a field it
 * may receive (a query on a field it may not receive would tell the value all the same: `birth_date < 1960-01-01`
 * answers with the people born before). The others resolve marked `withheld`, and the query or sort naming them is
 * refused (rjct.search_criteria.invalid, rjct.sort.invalid). Without an allow-list: the catalog as it is.
 */
export function partnerCatalog(partner: Partner | undefined, catalog: AttributeCatalog, parts: RecordParts): AttributeCatalog {
  const tree = partner && fieldTreeOf(partner);
  if (!tree) return catalog;
  return {
    resolve: (name) => guard(catalog.resolve(name), tree, parts),
    resolveIdentifierType: (idType) => guard(catalog.resolveIdentifierType(idType), tree, parts),
  };
}
