import { describe, expect, it } from 'vitest';
import { sortedJson } from '../../dci/signing/canonical.js';
import { toGroup, toMember, toPerson } from './records.js';
import type { GroupRow, PersonRow } from './store.js';

const person = (over: Partial<PersonRow> = {}): PersonRow => ({
  external_id: '6f1c2d9e-0000-4000-8000-000000000001',
  given_name: 'Amina',
  second_name: null,
  surname: 'Okafor',
  maiden_name: null,
  prefix: null,
  suffix: null,
  sex: 'female',
  birth_date: '1980-04-02',
  death_date: null,
  death_place: null,
  marital_status: 'married',
  is_disabled: true,
  disability_info: [{ disability_limitation_type: 'seeing', functional_severity: 'a_lot_of_difficulty' }],
  education_level: 'secondary',
  occupation: null,
  employment_status: 2,
  income_level: null,
  language_code: 'en',
  phone_number: null,
  email: 'amina@example.org',
  attributes: { zeta: 1, alpha: { y: 2, b: 1 } },
  registration_date: '2026-01-01T00:00:00+00:00',
  last_updated: '2026-02-01T00:00:00+00:00',
  is_head: true,
  relationship_to_head: 'SELF',
  identifiers: [{ type: 'UIN', value: '1234567890' }],
  ...over,
});

const group: GroupRow = {
  external_id: '6f1c2d9e-0000-4000-8000-0000000000aa',
  group_type: 1,
  address_line: '12 Market Road',
  postal_code: null,
  latitude: '6.5',
  longitude: '3.3',
  poverty_score: '27.50',
  poverty_score_type: 'PMT',
  group_size: 2,
  attributes: {},
  registration_date: '2026-01-01T00:00:00+00:00',
  last_updated: '2026-02-01T00:00:00+00:00',
  area: { code: 'NM-01', name: 'Fenwick', level: 'district', region_code: 'NM', region_name: 'Northmoor' },
  identifiers: [{ type: 'HOUSEHOLD_ID', value: 'HH-1' }],
  members: [person(), person({ external_id: '6f1c2d9e-0000-4000-8000-000000000002', given_name: 'Tobi', is_head: false, relationship_to_head: 'CHILD', identifiers: [{ type: 'BRN', value: 'B-1' }], is_disabled: false, disability_info: [] })],
};

describe('Social Registry records', () => {
  it('leave out what the registry does not hold (SQL NULL) instead of sending null', () => {
    const text = JSON.stringify(toPerson(person()));
    expect(text).not.toContain('null');
    expect(JSON.parse(text)).toEqual({
      '@type': 'Person',
      birth_date: '1980-04-02',
      email: ['amina@example.org'],
      identifier: [{ identifier_type: 'UIN', identifier_value: '1234567890' }],
      last_updated: '2026-02-01T00:00:00+00:00',
      name: { given_name: 'Amina', surname: 'Okafor' },
      registration_date: '2026-01-01T00:00:00+00:00',
      sex: 'female',
    });
  });

  it('a member names the head it relates to and carries the household identifier and its own attributes', () => {
    const member = JSON.parse(JSON.stringify(toMember(group.members[1], { headIdentifiers: group.members[0].identifiers, householdIdentifiers: group.identifiers })));
    expect(member.related_person).toEqual([{ related_member: { member_identifier: [{ identifier_type: 'UIN', identifier_value: '1234567890' }] }, relationship_type: 'CHILD' }]);
    expect(member.additional_attributes).toContainEqual({ attribute_name: 'household_identifier', attribute_value: 'HH-1' });
    expect(member.additional_attributes).toContainEqual({ attribute_name: 'alpha', attribute_value: { y: 2, b: 1 } });
    expect(member.is_disabled).toBe(false);
    expect(member.disability_info).toBeUndefined();
    expect(member.employment_status).toBe('2');
  });

  it('are built with their keys in sorted order, so that the signed answer serialises them without copying', () => {
    // Only values taken from JSONB columns as they are (attribute values) may be out of order.
    const plain = { ...group, members: group.members.map((m) => ({ ...m, attributes: {} })) };
    for (const record of [toGroup(plain), toMember(plain.members[0]), toPerson(plain.members[1])]) {
      expect(JSON.stringify(record)).toBe(sortedJson(record));
    }
    const household = JSON.parse(JSON.stringify(toGroup(group)));
    expect(household.group_head_info.member_identifier[0].identifier_value).toBe(group.members[0].external_id);
    expect(household.member_list).toHaveLength(2);
    expect(household.geographical_location).toEqual({ address_line: '12 Market Road', contained_in_place: 'Northmoor', geo: { latitude: 6.5, longitude: 3.3 }, name: 'Fenwick' });
    expect(household.address).toEqual([{ address_line_1: '12 Market Road', locality: 'Fenwick', region_code: 'NM', sub_region_code: 'NM-01' }]);
    expect(household.poverty_score).toBe(27.5);
  });
});
