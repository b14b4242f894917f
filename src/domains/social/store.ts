import { type SQL, sql } from 'drizzle-orm';
import { type Database, renderSql } from '../../db/client.js';

/** A connection or an open transaction: the record queries run on either. */
export type Queryable = Pick<Database, 'run'>;
import { IDENTIFIER_JSON, type IdentifierVault, type StoredIdentifier } from '../../registry/identifiers.js';
import type { PageQuery } from '../../dci/search/items.js';
import { orderByOf } from '../../dci/query/index.js';
import { withRegistryId } from './records.js';

/** A person as the record queries return it: one JSON object per person, built in SQL (see PERSON_JSON). */
export interface PersonRow {
  external_id: string;
  given_name: string | null;
  second_name: string | null;
  surname: string | null;
  maiden_name: string | null;
  prefix: string | null;
  suffix: string | null;
  sex: string;
  birth_date: string | null;
  death_date: string | null;
  death_place: string | null;
  marital_status: string | null;
  is_disabled: boolean;
  disability_info: { disability_limitation_type?: string; functional_severity?: string }[];
  education_level: string | null;
  occupation: string | null;
  employment_status: number | null;
  income_level: string | null;
  language_code: string | null;
  phone_number: string | null;
  email: string | null;
  attributes: Record<string, unknown>;
  registration_date: string;
  last_updated: string;
  is_head: boolean | null;
  relationship_to_head: string | null;
  identifiers: { type: string; value: string }[];
}

export interface MemberRow {
  person: PersonRow;
  household_identifiers: { type: string; value: string }[] | null;
  /** The household head's identifiers, its REGISTRY_ID last (a Member record names the head it relates to). */
  head_identifiers: { type: string; value: string }[] | null;
}

export interface GroupRow {
  external_id: string;
  group_type: number;
  address_line: string | null;
  postal_code: string | null;
  latitude: string | null;
  longitude: string | null;
  poverty_score: string | null;
  poverty_score_type: string | null;
  group_size: number;
  attributes: Record<string, unknown>;
  registration_date: string;
  last_updated: string;
  area: { code: string; name: string; level: string; region_code: string | null; region_name: string | null } | null;
  identifiers: { type: string; value: string }[];
  members: PersonRow[];
}

const IDENTIFIERS_OF = (owner: 'individual_id' | 'group_id', id: string) =>
  `coalesce((select json_agg(${IDENTIFIER_JSON} order by x.id_type, x.id_lookup) from identifiers x where x.${owner} = ${id}), '[]'::json)`;

/** The rows' identifier lists (as IDENTIFIER_JSON returns them) with sealed values opened, in place. */
function openIdentifiers(vault: IdentifierVault, people: PersonRow[]): void {
  for (const p of people) p.identifiers = vault.openAll(p.identifiers as StoredIdentifier[]);
}

/** A person as PERSON_JSON returns it: an array, in the order `personOf` names its values. */
type PersonArray = unknown[];

/**
 * A person's fields named. The record queries return people as arrays, not objects: as objects, a page of 100
 * households repeated 27 keys for each of its ~660 people, a quarter of PostgreSQL's time on the page (18.6 ms against
 * 14.1) and half the JSON text the server parses. An object literal, not a loop over the names: the server built and
 * serialised the page's records 15% slower from objects assembled key by key.
 */
function personOf(v: PersonArray): PersonRow {
  const person: Record<keyof PersonRow, unknown> = {
    external_id: v[0],
    given_name: v[1],
    second_name: v[2],
    surname: v[3],
    maiden_name: v[4],
    prefix: v[5],
    suffix: v[6],
    sex: v[7],
    birth_date: v[8],
    death_date: v[9],
    death_place: v[10],
    marital_status: v[11],
    is_disabled: v[12],
    disability_info: v[13],
    education_level: v[14],
    occupation: v[15],
    employment_status: v[16],
    income_level: v[17],
    language_code: v[18],
    phone_number: v[19],
    email: v[20],
    attributes: v[21],
    registration_date: v[22],
    last_updated: v[23],
    is_head: v[24],
    relationship_to_head: v[25],
    identifiers: v[26],
  };
  return person as PersonRow;
}

/** The names in `personOf`'s order, checked to be the positions it reads. */
const PERSON_KEYS = ((): (keyof PersonRow)[] => {
  const positions = personOf(Array.from({ length: 64 }, (_, n) => n)) as unknown as Record<string, number>;
  const keys = Object.keys(positions);
  keys.forEach((key, n) => {
    if (positions[key] !== n) throw new Error(`personOf reads ${key} from position ${positions[key]}, not ${n}`);
  });
  return keys as (keyof PersonRow)[];
})();

/** Each person field in SQL, over the person `i` and their active membership `m`; the array takes personOf's order. */
const PERSON_SQL = (i: string, m: string): Record<keyof PersonRow, string> => ({
  external_id: `${i}.external_id`,
  given_name: `${i}.given_name`,
  second_name: `${i}.second_name`,
  surname: `${i}.surname`,
  maiden_name: `${i}.maiden_name`,
  prefix: `${i}.prefix`,
  suffix: `${i}.suffix`,
  sex: `${i}.sex`,
  birth_date: `${i}.birth_date`,
  death_date: `${i}.death_date`,
  death_place: `${i}.death_place`,
  marital_status: `${i}.marital_status`,
  is_disabled: `${i}.is_disabled`,
  disability_info: `${i}.disability_info`,
  education_level: `${i}.education_level`,
  occupation: `${i}.occupation`,
  employment_status: `${i}.employment_status`,
  income_level: `${i}.income_level`,
  language_code: `${i}.language_code`,
  phone_number: `${i}.phone_number`,
  email: `${i}.email`,
  attributes: `${i}.attributes`,
  registration_date: `${i}.registration_date`,
  last_updated: `${i}.last_updated`,
  is_head: `${m}.is_head`,
  relationship_to_head: `${m}.relationship_to_head`,
  identifiers: IDENTIFIERS_OF('individual_id', `${i}.id`),
});

/** One person (alias `i`) with their active membership (alias `m`) as a JSON array (see personOf). */
const PERSON_JSON = (i: string, m: string) => {
  const fields = PERSON_SQL(i, m);
  return `json_build_array(${PERSON_KEYS.map((key) => fields[key]).join(', ')})`;
};

/** A person's active membership (`m`) and household (`g`), joined to the person `i`. */
const MEMBER_JOINS = `left join memberships m on m.individual_id = i.id and m.end_date is null left join groups g on g.id = m.group_id`;
const MEMBER_FROM = sql.raw(`individuals i ${MEMBER_JOINS}`);

/*
 * One round trip per page. The page's row ids are chosen first (ordered, limited, offset) and the record JSON is
 * built for those rows only: with the JSON in the select list of the limited query itself, PostgreSQL builds it for
 * the OFFSET rows it skips too (page 3 of 100 households built 300). The outer query sorts the page's rows again by
 * the same keys (the tie-break makes the order total).
 *
 * Page and count statements are planned afresh at each execution (`replan`), not prepared: their text is compiled
 * from the partner's query, and a page's also carries its LIMIT and OFFSET, so a client paging through a registry
 * made a new prepared statement at every page, each holding about 190 KB of PostgreSQL's memory until its connection
 * closed (48 MB per connection after 500 pages). Planned afresh for the values at hand, the 100-household search
 * measured the same requests/s as prepared, and a 10-person page of women over 60 more (22-26 against 20: its count's
 * plan now fits the values).
 */

/**
 * LIMIT/OFFSET as literals, not parameters: the planner then knows how many rows the page needs (with parameters it
 * assumes a share of the table). The values are integers checked by the search engine; checked again so that nothing
 * else can reach the SQL text.
 */
function limitClause(page: PageQuery): SQL {
  if (!Number.isSafeInteger(page.limit) || !Number.isSafeInteger(page.offset) || page.limit < 1 || page.offset < 0) {
    throw new Error(`invalid page ${page.limit}/${page.offset}`);
  }
  return sql.raw(`limit ${page.limit} offset ${page.offset}`);
}

/**
 * Whether a page of `page.total` matches is fetched by collecting every match first (collectedPageIds) instead of
 * letting PostgreSQL walk an index in sort order (the primary key, for the default order) until it has a page's worth.
 * A walk reads about (offset + limit) x table / matches rows, as many as the table when PostgreSQL's estimate of the
 * matches is far above their count (a value it has no statistics for; a district, whose ids a subquery finds): with
 * 442,000 people, a person search in a district of 2 people took 110 ms and one for a surname nobody has 105 ms, and
 * in a registry of 95 million either would read all 95 million rows. Collecting costs about ten walked rows per match
 * (bench registry, 3,275 people of one surname: 7.5 us a match collected through the surname index, 0.95 us a row
 * walked), so it is chosen where that is less, and always for a hundred matches or fewer.
 */
async function collectsFirst(db: Queryable, page: PageQuery, table: 'individuals' | 'groups'): Promise<boolean> {
  const total = page.total;
  if (total === undefined) return false;
  if (total <= 100) return true;
  return total * total * 10 <= (page.offset + page.limit) * (await tableRows(db, table));
}

/** Rows of a table as PostgreSQL last counted them (pg_class.reltuples), kept a minute: an estimate is all it is for. */
const tableSizes = new Map<string, { rows: number; until: number }>();

async function tableRows(db: Queryable, table: string): Promise<number> {
  const known = tableSizes.get(table);
  if (known && known.until > Date.now()) return known.rows;
  const [row] = await db.run<{ rows: number }>(sql`select greatest(reltuples, 0)::float8 as rows from pg_class where oid = ${table}::regclass`);
  tableSizes.set(table, { rows: Number(row.rows), until: Date.now() + 60_000 });
  return Number(row.rows);
}

/** A page's ids over `from`, ordered and limited in one query: PostgreSQL may walk an index in sort order. */
function walkedPageIds(from: SQL, id: SQL, page: PageQuery): { ids: SQL; orderBy: SQL } {
  const orderBy = orderByOf(page.sortKeys, id);
  return { ids: sql`select ${id} from ${from} where ${page.where} order by ${orderBy} ${limitClause(page)}`, orderBy };
}

/**
 * A page's ids (with its sort keys as `s1`, `s2`, ...) over `from`: every match collected in a materialized CTE,
 * which PostgreSQL plans for all its rows (so by the condition's own index), then ordered and limited.
 */
function collectedPageIds(from: SQL, id: SQL, page: PageQuery): { ids: SQL; orderBy: SQL } {
  const columns = page.sortKeys.map((_, n) => `s${n + 1}`);
  const select = sql.join([sql`${id} as id`, ...page.sortKeys.map((k, n) => sql`${k.expression} as ${sql.raw(columns[n])}`)], sql`, `);
  // The same keys, read from the collected columns.
  const orderBy = (table: string) => orderByOf(page.sortKeys.map((k, n) => ({ ...k, expression: sql.raw(`${table}${columns[n]}`) })), sql.raw(`${table}id`));
  return {
    ids: sql`with matches as materialized (select ${select} from ${from} where ${page.where})
      select * from matches order by ${orderBy('')} ${limitClause(page)}`,
    orderBy: orderBy('page.'),
  };
}

/** A member page row (MemberRow) as JSON, over the person `i` and their active membership `m`. */
const MEMBER_ROW_JSON = `json_build_object(
  'person', ${PERSON_JSON('i', 'm')},
  'household_identifiers', case when m.group_id is null then null else ${IDENTIFIERS_OF('group_id', 'm.group_id')} end,
  'head', (select json_build_object('registry_id', hi.external_id, 'identifiers',
                    (select json_agg(${IDENTIFIER_JSON} order by x.id_type) from identifiers x where x.individual_id = h.individual_id))
           from memberships h join individuals hi on hi.id = h.individual_id
           where h.group_id = m.group_id and h.is_head and h.end_date is null limit 1))`;

/** A member row as MEMBER_ROW_JSON returns it. */
type StoredMemberRow = Omit<MemberRow, 'person' | 'head_identifiers'> & {
  person: PersonArray;
  /** The household head, whose identifiers a Member record carries with its REGISTRY_ID. */
  head: { registry_id: string; identifiers: StoredIdentifier[] | null } | null;
};

/** The rows made MemberRows in place: people named, identifiers opened. */
function openMemberRows(vault: IdentifierVault, rows: StoredMemberRow[]): MemberRow[] {
  const members = rows.map((r) =>
    Object.assign(r, { person: personOf(r.person), head_identifiers: r.head && withRegistryId(vault.openAll(r.head.identifiers), r.head.registry_id) }),
  );
  openIdentifiers(vault, members.map((r) => r.person));
  for (const r of members) r.household_identifiers = r.household_identifiers && vault.openAll(r.household_identifiers as StoredIdentifier[]);
  return members;
}

export async function findMembersPage(db: Queryable, vault: IdentifierVault, page: PageQuery): Promise<MemberRow[]> {
  const { ids, orderBy } = (await collectsFirst(db, page, 'individuals'))
    ? collectedPageIds(personFrom(page.where, ...page.sortKeys.map((k) => k.expression)), sql`i.id`, page)
    : walkedPageIds(MEMBER_FROM, sql`i.id`, page);
  const rows = await db.run<{ row: StoredMemberRow }>(sql`
    select ${sql.raw(MEMBER_ROW_JSON)} as row
    from (${ids}) page
    join individuals i on i.id = page.id ${sql.raw(MEMBER_JOINS)}
    order by ${orderBy}`, { replan: true });
  return openMemberRows(vault, rows.map((r) => r.row));
}

/** An identifier as the lookups below take it: its type and its `id_lookup` (IdentifierVault.lookupKey). */
export interface IdentifierKey {
  type: string;
  lookup: string;
}

/**
 * The people holding these identifiers, one statement for the whole list: for each key, its holder's MemberRow or
 * undefined. An identifier names one holder (unique per type), so each key has at most one row.
 */
export function findMembersByIdentifiers(db: Pick<Database, 'query'>, vault: IdentifierVault, keys: IdentifierKey[]): Promise<(MemberRow | undefined)[]> {
  return lookUp<StoredMemberRow, MemberRow>(db, MEMBERS_BY_IDENTIFIERS, keys, (rows) => openMemberRows(vault, rows));
}

/** The keys as rows (migration 0021: a function, so that the lookup statements keep one cached plan). */
const KEYS = `identifier_keys($1::text[], $2::text[]) as k(id_type, id_lookup, ord)
  join identifiers held on held.id_type = k.id_type and held.id_lookup = k.id_lookup`;

const MEMBERS_BY_IDENTIFIERS = `select k.ord::int as ord, ${MEMBER_ROW_JSON} as row
  from ${KEYS} join individuals i on i.id = held.individual_id ${MEMBER_JOINS}`;

/** Runs a by-identifier statement (KEYS) and puts each row, opened, at its key's position. */
async function lookUp<S, T>(db: Pick<Database, 'query'>, text: string, keys: IdentifierKey[], open: (rows: S[]) => T[]): Promise<(T | undefined)[]> {
  const rows = await db.query<{ ord: number; row: S }>(text, [keys.map((k) => k.type), keys.map((k) => k.lookup)]);
  const opened = open(rows.map((r) => r.row));
  const out: (T | undefined)[] = new Array(keys.length).fill(undefined);
  rows.forEach((r, k) => (out[Number(r.ord) - 1] = opened[k]));
  return out;
}

/** Does a fragment use the membership (`m`) or household (`g`) aliases? Values are bound, so the text is all ours. */
const usesHousehold = (fragment: SQL) => /\b[mg]\.[a-z_]+/.test(renderSql(fragment).text);

/**
 * The person `i` alone, or joined to their active membership and household when one of `fragments` (a condition, a
 * sort key) is about them: PostgreSQL does not drop the left joins itself, the active-membership index being partial.
 */
const personFrom = (...fragments: SQL[]): SQL => (fragments.some(usesHousehold) ? MEMBER_FROM : PERSON_FROM);
const PERSON_FROM = sql.raw('individuals i');

/** Counting is the costly half of a large search: over the person alone when the condition allows (personFrom). */
export async function countMembers(db: Queryable, where: SQL): Promise<number> {
  const [row] = await db.run<{ n: number }>(sql`select count(*)::int as n from ${personFrom(where)} where ${where}`, { replan: true });
  return row.n;
}

/** A household (`g`) as JSON (GroupRow): its area, identifiers and active members. */
const GROUP_ROW_JSON = `json_build_object(
  'external_id', g.external_id, 'group_type', g.group_type, 'address_line', g.address_line,
  'postal_code', g.postal_code, 'latitude', g.latitude, 'longitude', g.longitude,
  'poverty_score', g.poverty_score, 'poverty_score_type', g.poverty_score_type, 'group_size', g.group_size,
  'attributes', g.attributes, 'registration_date', g.registration_date, 'last_updated', g.last_updated,
  'area', (select json_build_object('code', a.code, 'name', a.name, 'level', a.level, 'region_code', r.code, 'region_name', r.name)
           from areas a left join areas r on r.code = split_part(a.path, '.', 1) where a.id = g.area_id),
  'identifiers', ${IDENTIFIERS_OF('group_id', 'g.id')},
  'members', coalesce((select json_agg(${PERSON_JSON('i', 'm')} order by m.is_head desc, i.birth_date, i.id)
              from memberships m join individuals i on i.id = m.individual_id
              where m.group_id = g.id and m.end_date is null), '[]'::json))`;

const GROUPS_BY_IDENTIFIERS = `select k.ord::int as ord, ${GROUP_ROW_JSON} as row
  from ${KEYS}
  left join memberships held_in on held_in.individual_id = held.individual_id and held_in.end_date is null
  join groups g on g.id = coalesce(held.group_id, held_in.group_id)`;

/** A group row as GROUP_ROW_JSON returns it. */
type StoredGroupRow = Omit<GroupRow, 'members'> & { members: PersonArray[] };

/** The rows made GroupRows in place: members named, identifiers opened. */
function openGroupRows(vault: IdentifierVault, rows: StoredGroupRow[]): GroupRow[] {
  return rows.map((g) => {
    const group = Object.assign(g, { identifiers: vault.openAll(g.identifiers as StoredIdentifier[]), members: g.members.map(personOf) });
    openIdentifiers(vault, group.members);
    return group;
  });
}

export async function findGroupsPage(db: Queryable, vault: IdentifierVault, page: PageQuery): Promise<GroupRow[]> {
  const { ids, orderBy } = (await collectsFirst(db, page, 'groups'))
    ? collectedPageIds(sql`groups g`, sql`g.id`, page)
    : walkedPageIds(sql`groups g`, sql`g.id`, page);
  const rows = await db.run<{ row: StoredGroupRow }>(sql`
    select ${sql.raw(GROUP_ROW_JSON)} as row
    from (${ids}) page
    join groups g on g.id = page.id
    order by ${orderBy}`, { replan: true });
  return openGroupRows(vault, rows.map((r) => r.row));
}

/**
 * The households of these identifiers, one statement for the whole list: a household's own identifier names it, a
 * person's names the household of their active membership (one at most). For each key its GroupRow or undefined.
 */
export function findGroupsByIdentifiers(db: Pick<Database, 'query'>, vault: IdentifierVault, keys: IdentifierKey[]): Promise<(GroupRow | undefined)[]> {
  return lookUp<StoredGroupRow, GroupRow>(db, GROUPS_BY_IDENTIFIERS, keys, (rows) => openGroupRows(vault, rows));
}

export async function countGroups(db: Queryable, where: SQL): Promise<number> {
  const [row] = await db.run<{ n: number }>(sql`select count(*)::int as n from groups g where ${where}`, { replan: true });
  return row.n;
}
