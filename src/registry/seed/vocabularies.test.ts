import { describe, expect, it } from 'vitest';
import {
  DISABILITY_DOMAIN,
  DISABILITY_SEVERITY,
  EMPLOYMENT,
  EMPLOYMENT_STATUS,
  GROUP_TYPES,
  IDENTIFIER_TYPES,
  MARITAL_STATUS,
  normalizeMaritalStatus,
  normalizeRelationship,
  normalizeSex,
  RELATIONSHIP,
} from '../vocabularies.js';

// Lives with the seed tests because the registry folder belongs to others; covers src/registry/vocabularies.ts.
describe('vocabularies', () => {
  it('normalises sex from codes and labels, any case', () => {
    for (const v of ['F', 'f', 'female', 'Female', ' FEMALE ']) expect(normalizeSex(v)).toBe('female');
    for (const v of ['M', 'male', 'Male']) expect(normalizeSex(v)).toBe('male');
    expect(normalizeSex('O')).toBe('other');
    expect(normalizeSex('other')).toBe('other');
    expect(normalizeSex('U')).toBe('unknown');
    expect(normalizeSex('Unknown')).toBe('unknown');
    for (const v of ['banana', '', 'x', 3, null, undefined, {}]) expect(normalizeSex(v)).toBeUndefined();
  });

  it('normalises marital status from FHIR codes and labels', () => {
    const cases: [string, string][] = [
      ['M', 'M'], ['m', 'M'], ['married', 'M'], ['Married', 'M'],
      ['S', 'S'], ['single', 'S'], ['Single', 'S'], ['never married', 'S'], ['Never_Married', 'S'],
      ['W', 'W'], ['widowed', 'W'], ['widow', 'W'], ['Widower', 'W'],
      ['D', 'D'], ['divorced', 'D'],
      ['L', 'L'], ['separated', 'L'], ['legally separated', 'L'],
      ['A', 'A'], ['annulled', 'A'],
      ['U', 'U'], ['unknown', 'U'],
    ];
    for (const [input, code] of cases) expect(normalizeMaritalStatus(input), input).toBe(code);
    for (const v of ['X', 'engaged', '', 1]) expect(normalizeMaritalStatus(v)).toBeUndefined();
    expect(Object.keys(MARITAL_STATUS).sort()).toEqual(['A', 'D', 'L', 'M', 'S', 'U', 'W']);
  });

  it('normalises relationships, employment status, group type and disability terms', () => {
    expect(normalizeRelationship('SPS')).toBe('SPS');
    expect(normalizeRelationship('spouse')).toBe('SPS');
    expect(normalizeRelationship('child')).toBe('CHILD');
    expect(normalizeRelationship('grndchild')).toBe('GRNDCHILD');
    expect(normalizeRelationship('other relative')).toBe('EXT');
    expect(normalizeRelationship('cousin-ish')).toBeUndefined();
    for (const code of ['SELF', 'SPS', 'CHILD', 'PRN', 'GRPRN', 'SIB', 'GRNDCHILD', 'EXT']) expect(RELATIONSHIP).toHaveProperty(code);

    expect(EMPLOYMENT.normalize(1)).toBe(1);
    expect(EMPLOYMENT.normalize('2')).toBe(2);
    expect(EMPLOYMENT.normalize('self-employed')).toBe(2);
    expect(EMPLOYMENT.normalize('Unable to work')).toBe(7);
    expect(EMPLOYMENT.normalize(9)).toBeUndefined();
    expect(Object.keys(EMPLOYMENT_STATUS)).toHaveLength(8);

    expect(GROUP_TYPES.normalize('household')).toBe(1);
    expect(GROUP_TYPES.normalize(3)).toBe(3);
    expect(GROUP_TYPES.normalize('tribe')).toBeUndefined();

    expect(DISABILITY_DOMAIN.normalize('Self-care')).toBe('self_care');
    expect(DISABILITY_DOMAIN.normalize('walking')).toBe('walking');
    expect(DISABILITY_SEVERITY.normalize('A lot of difficulty')).toBe('a_lot_of_difficulty');
    expect(DISABILITY_SEVERITY.normalize('none')).toBeUndefined();
  });

  it('lists the default identifier types', () => {
    expect(IDENTIFIER_TYPES.map((t) => [t.code, t.appliesTo, t.classification])).toEqual([
      ['UIN', 'person', 'restricted'],
      ['BRN', 'person', 'restricted'],
      ['DRN', 'person', 'restricted'],
      ['MRN', 'person', 'restricted'],
      ['HOUSEHOLD_ID', 'group', 'internal'],
    ]);
  });
});
