import type { GroupRow, MemberRow, PersonRow } from './store.js';

/**
 * Registry rows -> DCI Social Registry records (field names of spdci/schemas, DIGEST 6). Database ids never appear:
 * people and households are identified by their identifiers and by the opaque REGISTRY_ID (our external uuid).
 */

export type RecordType = 'Group' | 'Member' | 'Person';

export const REG_TYPE = 'ns:org:RegistryType:Social';
export const recordTypeName = (t: RecordType) => `spdci-extensions-dci:${t}`;

interface Identifier {
  identifier_type: string;
  identifier_value: string;
}

const REGISTRY_ID = 'REGISTRY_ID';

const identifiers = (list: { type: string; value: string }[] | null | undefined): Identifier[] =>
  (list ?? []).map((x) => ({ identifier_type: x.type, identifier_value: x.value }));

function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === null || o[k] === undefined) delete o[k];
  return o;
}

function additionalAttributes(attrs: Record<string, unknown> | null | undefined, extra: Record<string, unknown> = {}) {
  return Object.entries({ ...(attrs ?? {}), ...extra })
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([attribute_name, attribute_value]) => ({ attribute_name, attribute_value }));
}

export function toPerson(p: PersonRow) {
  return compact({
    '@type': 'Person',
    identifier: identifiers(p.identifiers),
    name: compact({
      surname: p.surname,
      given_name: p.given_name,
      second_name: p.second_name,
      maiden_name: p.maiden_name,
      prefix: p.prefix,
      suffix: p.suffix,
    }),
    sex: p.sex,
    birth_date: p.birth_date,
    death_date: p.death_date,
    phone_number: p.phone_number ? [p.phone_number] : undefined,
    email: p.email ? [p.email] : undefined,
    registration_date: p.registration_date,
    last_updated: p.last_updated,
  });
}

export function toMember(
  p: PersonRow,
  context: { headIdentifiers?: MemberRow['head_identifiers']; householdIdentifiers?: MemberRow['household_identifiers'] } = {},
) {
  const related =
    p.relationship_to_head && p.relationship_to_head !== 'SELF' && context.headIdentifiers
      ? [{ relationship_type: p.relationship_to_head, related_member: { member_identifier: identifiers(context.headIdentifiers) } }]
      : undefined;
  const household = context.householdIdentifiers?.find((x) => x.type === 'HOUSEHOLD_ID');
  return compact({
    '@type': 'Member',
    member_identifier: [{ identifier_type: REGISTRY_ID, identifier_value: p.external_id }],
    demographic_info: toPerson(p),
    related_person: related,
    is_disabled: p.is_disabled,
    disability_info: p.disability_info?.length ? p.disability_info : undefined,
    marital_status: p.marital_status,
    employment_status: p.employment_status === null ? undefined : String(p.employment_status),
    occupation: p.occupation,
    income_level: p.income_level,
    language_code: p.language_code ? [p.language_code] : undefined,
    education_level: p.education_level,
    additional_attributes: nonEmpty(
      additionalAttributes(p.attributes, {
        relationship_to_head: p.relationship_to_head ?? undefined,
        household_identifier: household?.value,
        is_deceased: p.death_date ? true : undefined,
        death_place: p.death_place ?? undefined,
      }),
    ),
    registration_date: p.registration_date,
    last_updated: p.last_updated,
  });
}

export function toGroup(g: GroupRow) {
  const head = g.members.find((m) => m.is_head);
  const headIds = head?.identifiers;
  const area = g.area;
  const region = area?.region_code && area.region_code !== area.code ? area.region_name : undefined;
  return compact({
    '@type': 'Group',
    group_identifier: [...identifiers(g.identifiers), { identifier_type: REGISTRY_ID, identifier_value: g.external_id }],
    group_type: String(g.group_type),
    geographical_location: area
      ? compact({
          name: area.name,
          address_line: g.address_line,
          geo: g.latitude && g.longitude ? { latitude: Number(g.latitude), longitude: Number(g.longitude) } : undefined,
          contained_in_place: region,
        })
      : undefined,
    address: [
      compact({
        address_line_1: g.address_line,
        locality: area?.name,
        sub_region_code: area?.level === 'district' ? area.code : undefined,
        region_code: area?.region_code,
        postal_code: g.postal_code,
      }),
    ],
    place_address: 0,
    poverty_score: g.poverty_score === null ? undefined : Number(g.poverty_score),
    poverty_score_type: g.poverty_score_type,
    group_head_info: head ? toMember(head, { householdIdentifiers: g.identifiers }) : undefined,
    group_size: g.group_size,
    member_list: g.members.map((m) => toMember(m, { headIdentifiers: headIds, householdIdentifiers: g.identifiers })),
    additional_attributes: nonEmpty(additionalAttributes(g.attributes)),
    registration_date: g.registration_date,
    last_updated: g.last_updated,
  });
}

function nonEmpty<T>(list: T[]): T[] | undefined {
  return list.length ? list : undefined;
}
