import type { GroupRow, MemberRow, PersonRow } from './store.js';

/**
 * Registry rows -> DCI Social Registry records (field names of spdci/schemas, DIGEST 6). Database ids never appear:
 * people and households are identified by their identifiers and by the opaque REGISTRY_ID (our external uuid).
 */

export type RecordType = 'Group' | 'Member' | 'Person';

export const REG_TYPE = 'ns:org:RegistryType:Social';
export const recordTypeName = (t: RecordType) => `spdci-extensions-dci:${t}`;

/*
 * Records are built with their keys in sorted order and absent fields as `undefined` (JSON leaves them out): the signed
 * answer is serialised with sorted keys, which then copies nothing, and no `delete` turns the objects into slow
 * dictionaries. An 800 KB page of households spent 8 ms in these builders and 19 ms sorting before.
 */

interface Identifier {
  identifier_type: string;
  identifier_value: string;
}

const REGISTRY_ID = 'REGISTRY_ID';

/** Identifiers of a person or household (as rows hold them) with its REGISTRY_ID after them. */
export const withRegistryId = (list: { type: string; value: string }[], registryId: string) => [...list, { type: REGISTRY_ID, value: registryId }];

/** A column's value, with SQL NULL as absent. */
const opt = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

const identifiers = (list: { type: string; value: string }[] | null | undefined): Identifier[] =>
  (list ?? []).map((x) => ({ identifier_type: x.type, identifier_value: x.value }));

function additionalAttributes(attrs: Record<string, unknown> | null | undefined, extra: Record<string, unknown> = {}) {
  return Object.entries({ ...(attrs ?? {}), ...extra })
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([attribute_name, attribute_value]) => ({ attribute_name, attribute_value }));
}

/**
 * A Person. As a record of its own (`asRecord`: a Person or CRVS_Person search result) it also carries its
 * REGISTRY_ID, as Member and Group records do: partners can name it again, and the disclosure audit records who was
 * disclosed. Inside a Member (`demographic_info`) the Member's `member_identifier` carries it.
 */
export function toPerson(p: PersonRow, opts: { asRecord?: boolean } = {}) {
  const ids = identifiers(p.identifiers);
  return {
    '@type': 'Person',
    birth_date: opt(p.birth_date),
    death_date: opt(p.death_date),
    email: p.email ? [p.email] : undefined,
    identifier: opts.asRecord ? [...ids, { identifier_type: REGISTRY_ID, identifier_value: p.external_id }] : ids,
    last_updated: p.last_updated,
    name: {
      given_name: opt(p.given_name),
      maiden_name: opt(p.maiden_name),
      prefix: opt(p.prefix),
      second_name: opt(p.second_name),
      suffix: opt(p.suffix),
      surname: opt(p.surname),
    },
    phone_number: p.phone_number ? [p.phone_number] : undefined,
    registration_date: p.registration_date,
    sex: p.sex,
  };
}

export function toMember(
  p: PersonRow,
  context: { headIdentifiers?: MemberRow['head_identifiers']; householdIdentifiers?: MemberRow['household_identifiers'] } = {},
) {
  const related =
    p.relationship_to_head && p.relationship_to_head !== 'SELF' && context.headIdentifiers
      ? [{ related_member: { member_identifier: identifiers(context.headIdentifiers) }, relationship_type: p.relationship_to_head }]
      : undefined;
  const household = context.householdIdentifiers?.find((x) => x.type === 'HOUSEHOLD_ID');
  return {
    '@type': 'Member',
    additional_attributes: nonEmpty(
      additionalAttributes(p.attributes, {
        relationship_to_head: p.relationship_to_head,
        household_identifier: household?.value,
        is_deceased: p.death_date ? true : undefined,
        death_place: p.death_place,
      }),
    ),
    demographic_info: toPerson(p),
    disability_info: p.disability_info?.length ? p.disability_info : undefined,
    education_level: opt(p.education_level),
    employment_status: p.employment_status === null ? undefined : String(p.employment_status),
    income_level: opt(p.income_level),
    is_disabled: p.is_disabled,
    language_code: p.language_code ? [p.language_code] : undefined,
    last_updated: p.last_updated,
    marital_status: opt(p.marital_status),
    member_identifier: [{ identifier_type: REGISTRY_ID, identifier_value: p.external_id }],
    occupation: opt(p.occupation),
    registration_date: p.registration_date,
    related_person: related,
  };
}

export function toGroup(g: GroupRow) {
  const head = g.members.find((m) => m.is_head);
  // The head's record is built once, for the list and for group_head_info; a head relates to no one in its household.
  const headIdentifiers = head && withRegistryId(head.identifiers, head.external_id);
  const memberList = g.members.map((m) => toMember(m, { headIdentifiers: m === head ? undefined : headIdentifiers, householdIdentifiers: g.identifiers }));
  const area = g.area;
  const region = area?.region_code && area.region_code !== area.code ? opt(area.region_name) : undefined;
  return {
    '@type': 'Group',
    additional_attributes: nonEmpty(additionalAttributes(g.attributes)),
    address: [
      {
        address_line_1: opt(g.address_line),
        locality: area?.name,
        postal_code: opt(g.postal_code),
        region_code: opt(area?.region_code),
        sub_region_code: area?.level === 'district' ? area.code : undefined,
      },
    ],
    geographical_location: area
      ? {
          address_line: opt(g.address_line),
          contained_in_place: region,
          geo: g.latitude && g.longitude ? { latitude: Number(g.latitude), longitude: Number(g.longitude) } : undefined,
          name: area.name,
        }
      : undefined,
    group_head_info: head ? memberList[g.members.indexOf(head)] : undefined,
    group_identifier: [...identifiers(g.identifiers), { identifier_type: REGISTRY_ID, identifier_value: g.external_id }],
    group_size: g.group_size,
    group_type: String(g.group_type),
    last_updated: g.last_updated,
    member_list: memberList,
    place_address: 0,
    poverty_score: g.poverty_score === null ? undefined : Number(g.poverty_score),
    poverty_score_type: opt(g.poverty_score_type),
    registration_date: g.registration_date,
  };
}

function nonEmpty<T>(list: T[]): T[] | undefined {
  return list.length ? list : undefined;
}
