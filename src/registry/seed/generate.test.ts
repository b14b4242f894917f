import { describe, expect, it } from 'vitest';
import { testVault } from '../../../test/support/data-keys.js';
import { DISABILITY_DOMAINS, DISABILITY_SEVERITIES, EMPLOYMENT_STATUS, MARITAL_STATUS, RELATIONSHIP, SEX } from '../vocabularies.js';
import { AREA_ROWS, DISTRICTS, REGIONS } from './areas.js';
import {
  brnFor,
  copyRow,
  copyText,
  countPeople,
  DEFAULT_REFERENCE_DATE,
  generateBatch,
  GROUP_COLUMNS,
  householdIdFor,
  IDENTIFIER_COLUMNS,
  idRange,
  INDIVIDUAL_COLUMNS,
  MEMBERSHIP_COLUMNS,
  parseCopyField,
  sequentialAreaIds,
  uinFor,
  uuidV7,
  type GeneratedBatch,
} from './generate.js';

type Row = Record<string, string | null>;

const vault = testVault();
/** An identifier row's value: in clear, or opened from its sealed bytes (`\\x<hex>` in COPY text). */
const valueOf = (x: Row) => x.id_value ?? vault.open(x.id_type!, Buffer.from(x.id_sealed!.slice(2), 'hex'));

function rows(lines: string[], columns: readonly string[]): Row[] {
  return lines.map((line) => {
    expect(line.endsWith('\n')).toBe(true);
    const fields = line.slice(0, -1).split('\t');
    expect(fields).toHaveLength(columns.length);
    return Object.fromEntries(columns.map((c, k) => [c, parseCopyField(fields[k])]));
  });
}

/** A run of `households` into an empty schema: ids from 1, deterministic uuids. */
function generate(seed: number, households: number, start = 0, firstIds = { group: 1, person: 1, identifier: 1 }) {
  let uuids = 0;
  const people = countPeople(seed, start, households);
  const batch = generateBatch({
    seed,
    start,
    count: households,
    groupIds: idRange(firstIds.group, households),
    personIds: idRange(firstIds.person, people),
    membershipIds: idRange(firstIds.person, people),
    areaIds: sequentialAreaIds(),
    newUuid: () => `00000000-0000-7000-8000-${String(++uuids).padStart(12, '0')}`,
  });
  return { batch, text: allText(batch, firstIds.identifier) };
}

function allText(batch: GeneratedBatch, firstIdentifier: number) {
  return {
    groups: batch.groups.lines(),
    individuals: batch.individuals.lines(),
    memberships: batch.memberships.lines(),
    identifiers: batch.identifiers.copyChunks(idRange(firstIdentifier, batch.identifiers.count), vault).lines(),
  };
}

/** Whole years between two YYYY-MM-DD dates. */
function age(birth: string, on: string): number {
  const [by, bm, bd] = birth.split('-').map(Number);
  const [y, m, d] = on.split('-').map(Number);
  return y - by - (m < bm || (m === bm && d < bd) ? 1 : 0);
}

describe('COPY text format', () => {
  it('escapes backslashes, tabs, newlines and carriage returns, and writes NULL as \\N', () => {
    expect(copyText('a\\b')).toBe('a\\\\b');
    expect(copyText('a\tb')).toBe('a\\tb');
    expect(copyText('a\nb\r')).toBe('a\\nb\\r');
    expect(copyText('C:\\new\tline\n')).toBe('C:\\\\new\\tline\\n');
    expect(copyText(null)).toBe('\\N');
    expect(copyText(undefined)).toBe('\\N');
    expect(copyText(true)).toBe('t');
    expect(copyText(false)).toBe('f');
    expect(copyText(12.5)).toBe('12.5');
    expect(copyText("O'Brien")).toBe("O'Brien");
    // A literal "\N" string is not NULL once escaped.
    expect(copyText('\\N')).toBe('\\\\N');
  });

  it('round-trips through the parser, one line per row', () => {
    const values = ['tab\there', 'back\\slash', 'new\nline', 'cr\rhere', null, '\\N'];
    const line = copyRow(values);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(/[\n\r]/);
    const fields = line.slice(0, -1).split('\t');
    expect(fields).toHaveLength(values.length);
    expect(fields.map(parseCopyField)).toEqual(values);
  });
});

describe('identifier values', () => {
  it('are 10 digits (UIN), B + 10 digits (BRN), HH- + 10 digits (HOUSEHOLD_ID), unique per row id', () => {
    expect(uinFor(1)).toBe(String(1_000_000_000 + ((1 * 7919 + 1_234_567) % 9_000_000_000)));
    const uins = new Set<string>();
    for (const id of [...idRange(1, 50_000), 1_136_000, 1_136_500, 8_999_999_999, 123_456_789_012 % 9_000_000_000]) {
      const v = uinFor(id);
      expect(v).toMatch(/^[1-9]\d{9}$/);
      uins.add(v);
    }
    expect(uins.size).toBe(50_004);
    expect(brnFor(42)).toMatch(/^B[1-9]\d{9}$/);
    expect(householdIdFor(42)).toMatch(/^HH-[1-9]\d{9}$/);
    expect(() => uinFor(9_000_000_000)).toThrow();
  });
});

describe('uuidV7', () => {
  it('makes version 7, RFC 9562 variant uuids in time order', () => {
    const a = uuidV7();
    const b = uuidV7();
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
    expect(a.slice(0, 13) <= b.slice(0, 13)).toBe(true);
  });
});

describe('areas', () => {
  it('has 4-5 regions with 3-5 districts each, coded R01 / R01-D02, districts inside their region', () => {
    expect(REGIONS.length).toBeGreaterThanOrEqual(4);
    expect(REGIONS.length).toBeLessThanOrEqual(5);
    for (const r of REGIONS) {
      expect(r.code).toMatch(/^R\d{2}$/);
      const districts = DISTRICTS.filter((d) => d.regionCode === r.code);
      expect(districts.length).toBeGreaterThanOrEqual(3);
      expect(districts.length).toBeLessThanOrEqual(5);
      for (const d of districts) {
        expect(d.code).toMatch(new RegExp(`^${r.code}-D\\d{2}$`));
        expect(d.bbox.south).toBeGreaterThanOrEqual(r.bbox.south);
        expect(d.bbox.north).toBeLessThanOrEqual(r.bbox.north);
        expect(d.bbox.west).toBeGreaterThanOrEqual(r.bbox.west - 1e-9);
        expect(d.bbox.east).toBeLessThanOrEqual(r.bbox.east + 1e-9);
      }
    }
    expect(new Set(AREA_ROWS.map((a) => a.code)).size).toBe(AREA_ROWS.length);
    expect(AREA_ROWS.filter((a) => a.level === 'district').every((a) => a.path === `${a.parentCode}.${a.code}`)).toBe(true);
  });
});

describe('generateBatch', () => {
  it('is deterministic: same seed, same output; another seed, other output', () => {
    // Sealing takes a random IV: identifiers compare by what they hold, not by their sealed bytes.
    const stable = (text: ReturnType<typeof generate>['text']) => ({
      ...text,
      identifiers: rows(text.identifiers, IDENTIFIER_COLUMNS).map((x) => ({ ...x, id_sealed: undefined, value: valueOf(x) })),
    });
    const a = stable(generate(7, 300).text);
    const b = stable(generate(7, 300).text);
    const c = stable(generate(8, 300).text);
    expect(b).toEqual(a);
    expect(c.individuals).not.toEqual(a.individuals);
    expect(c.groups).not.toEqual(a.groups);
  });

  it('gives each household the same content whatever the batch boundaries', () => {
    const whole = generate(5, 200).text;
    const first = generate(5, 120).text;
    const people = countPeople(5, 0, 120);
    const rest = generate(5, 80, 120, { group: 121, person: people + 1, identifier: 1 }).text;
    // External ids come from the per-call uuid counter: compare the rest of the lines.
    const strip = (l: string) => l.replace(/^(\d+)\t[^\t]+\t/, '$1\t');
    expect([...first.groups, ...rest.groups].map(strip)).toEqual(whole.groups.map(strip));
    expect([...first.individuals, ...rest.individuals].map(strip)).toEqual(whole.individuals.map(strip));
    expect([...first.memberships, ...rest.memberships]).toEqual(whole.memberships);
  });

  it('checks that it is given the right number of ids', () => {
    const people = countPeople(1, 0, 10);
    const base = { seed: 1, start: 0, count: 10, groupIds: idRange(1, 10), areaIds: sequentialAreaIds() };
    expect(() => generateBatch({ ...base, personIds: idRange(1, people - 1), membershipIds: idRange(1, people - 1) })).toThrow();
    expect(() => generateBatch({ ...base, personIds: idRange(1, people + 1), membershipIds: idRange(1, people + 1) })).toThrow();
    expect(() => generateBatch({ ...base, personIds: idRange(1, people), membershipIds: idRange(1, people) })).not.toThrow();
  });

  describe('a few thousand households', () => {
    const households = 4000;
    const { batch, text } = generate(42, households);
    const groups = rows(text.groups, GROUP_COLUMNS);
    const people = rows(text.individuals, INDIVIDUAL_COLUMNS);
    const memberships = rows(text.memberships, MEMBERSHIP_COLUMNS);
    const identifiers = rows(text.identifiers, IDENTIFIER_COLUMNS);
    const personById = new Map(people.map((p) => [p.id!, p]));
    const active = memberships.filter((m) => m.end_date === null);
    const idsOf = (type: string) => new Set(identifiers.filter((x) => x.id_type === type).map((x) => x.individual_id!));
    const ref = DEFAULT_REFERENCE_DATE;

    it('has one row per household, person and membership', () => {
      expect(batch.households).toBe(households);
      expect(groups).toHaveLength(households);
      expect(people).toHaveLength(batch.people);
      expect(memberships).toHaveLength(batch.people);
      expect(batch.people / households).toBeGreaterThan(4);
      expect(batch.people / households).toBeLessThan(5);
    });

    it('gives every household exactly one active head (SELF) and group_size active members', () => {
      const heads = new Map<string, number>();
      const sizes = new Map<string, number>();
      for (const m of active) {
        sizes.set(m.group_id!, (sizes.get(m.group_id!) ?? 0) + 1);
        if (m.is_head === 't') {
          expect(m.relationship_to_head).toBe('SELF');
          heads.set(m.group_id!, (heads.get(m.group_id!) ?? 0) + 1);
        } else {
          expect(m.relationship_to_head).not.toBe('SELF');
        }
      }
      for (const g of groups) {
        expect(heads.get(g.id!)).toBe(1);
        expect(Number(g.group_size)).toBe(sizes.get(g.id!));
      }
      // Nobody is an active member twice.
      expect(new Set(active.map((m) => m.individual_id)).size).toBe(active.length);
    });

    it('covers household sizes 1 to 10, mostly 3-5', () => {
      const counts = new Map<number, number>();
      for (const g of groups) counts.set(Number(g.group_size), (counts.get(Number(g.group_size)) ?? 0) + 1);
      expect([...counts.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const mode = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
      expect(mode).toBeGreaterThanOrEqual(3);
      expect(mode).toBeLessThanOrEqual(5);
    });

    it('gives every adult a UIN, every child a BRN, some adults a BRN too, and unique identifiers', () => {
      const uin = idsOf('UIN');
      const brn = idsOf('BRN');
      let adultsWithBrn = 0;
      for (const p of people) {
        const years = age(p.birth_date!, ref);
        expect(years).toBeGreaterThanOrEqual(0);
        if (years >= 18) {
          expect(uin.has(p.id!)).toBe(true);
          if (brn.has(p.id!)) adultsWithBrn++;
        } else {
          expect(brn.has(p.id!)).toBe(true);
          expect(uin.has(p.id!)).toBe(false);
        }
      }
      expect(adultsWithBrn).toBeGreaterThan(0);
      const household = identifiers.filter((x) => x.id_type === 'HOUSEHOLD_ID');
      expect(new Set(household.map((x) => x.group_id))).toEqual(new Set(groups.map((g) => g.id)));
      const values = identifiers.map((x) => `${x.id_type}:${valueOf(x)}`);
      expect(new Set(values).size).toBe(values.length);
      expect(new Set(identifiers.map((x) => x.id)).size).toBe(identifiers.length);
      for (const x of identifiers) expect((x.individual_id === null) !== (x.group_id === null)).toBe(true);
      expect(valueOf(identifiers.find((x) => x.id_type === 'UIN')!)).toMatch(/^\d{10}$/);
      expect(valueOf(identifiers.find((x) => x.id_type === 'BRN')!)).toMatch(/^B\d{10}$/);
      expect(valueOf(identifiers.find((x) => x.id_type === 'HOUSEHOLD_ID')!)).toMatch(/^HH-\d{10}$/);
    });

    it('writes national identifiers only sealed, found by their blind index; household ids in clear', () => {
      for (const x of identifiers) {
        const value = valueOf(x);
        expect(x.id_lookup).toBe(vault.lookupKey(x.id_type!, value));
        if (x.id_type === 'HOUSEHOLD_ID') {
          expect([x.id_value, x.id_sealed, x.id_lookup]).toEqual([value, null, value]);
        } else {
          expect(x.id_value).toBeNull();
          expect(x.id_sealed).toMatch(/^\\x01[0-9a-f]+$/);
          expect(x.id_lookup).not.toContain(value);
        }
      }
      const copied = text.identifiers.join('');
      const someUins = identifiers.filter((x) => x.id_type === 'UIN').slice(0, 200).map(valueOf);
      for (const uin of someUins) expect(copied).not.toContain(uin);
    });

    it('uses the vocabularies', () => {
      for (const p of people) {
        expect(SEX).toContain(p.sex);
        if (p.marital_status !== null) expect(Object.keys(MARITAL_STATUS)).toContain(p.marital_status);
        if (p.employment_status !== null) expect(Object.keys(EMPLOYMENT_STATUS)).toContain(p.employment_status);
        expect(p.birth_date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect(p.given_name).toBeTruthy();
        expect(p.surname).toBeTruthy();
      }
      for (const m of memberships) expect(Object.keys(RELATIONSHIP)).toContain(m.relationship_to_head);
      const relationships = new Set(active.map((m) => m.relationship_to_head));
      for (const r of ['SELF', 'SPS', 'CHILD', 'PRN', 'GRNDCHILD', 'SIB', 'EXT']) expect(relationships).toContain(r);
      for (const g of groups) expect(g.group_type).toBe('1');
    });

    it('marries spouses (M on both), and has widowed, divorced and single heads', () => {
      const heads = new Map(active.filter((m) => m.is_head === 't').map((m) => [m.group_id!, personById.get(m.individual_id!)!]));
      const spouses = active.filter((m) => m.relationship_to_head === 'SPS');
      expect(spouses.length).toBeGreaterThan(households * 0.5);
      for (const s of spouses) {
        expect(personById.get(s.individual_id!)!.marital_status).toBe('M');
        expect(heads.get(s.group_id!)!.marital_status).toBe('M');
      }
      const statuses = [...heads.values()].map((h) => h.marital_status);
      for (const status of ['M', 'W', 'D', 'S', 'L']) expect(statuses).toContain(status);
      // Widowed heads live without a spouse.
      const withSpouse = new Set(spouses.map((s) => s.group_id));
      for (const [group, head] of heads) if (head.marital_status === 'W') expect(withSpouse.has(group)).toBe(false);
      // Most married heads are 25-60.
      const married = [...heads.values()].filter((h) => h.marital_status === 'M').map((h) => age(h.birth_date!, ref));
      expect(married.filter((a) => a >= 25 && a <= 60).length / married.length).toBeGreaterThan(0.7);
    });

    it('has children (0-17) and adult children (18+), sharing the head surname', () => {
      const heads = new Map(active.filter((m) => m.is_head === 't').map((m) => [m.group_id!, personById.get(m.individual_id!)!]));
      const children = active.filter((m) => m.relationship_to_head === 'CHILD');
      const ages = children.map((c) => age(personById.get(c.individual_id!)!.birth_date!, ref));
      expect(ages.some((a) => a < 18)).toBe(true);
      expect(ages.some((a) => a >= 18)).toBe(true);
      for (const c of children) expect(personById.get(c.individual_id!)!.surname).toBe(heads.get(c.group_id!)!.surname);
    });

    it('has 4-7% disabled people with Washington Group disability info', () => {
      const disabled = people.filter((p) => p.is_disabled === 't');
      expect(disabled.length / people.length).toBeGreaterThan(0.04);
      expect(disabled.length / people.length).toBeLessThan(0.07);
      for (const p of disabled) {
        const info = JSON.parse(p.disability_info!) as { disability_limitation_type: string; functional_severity: string }[];
        expect(info.length).toBeGreaterThan(0);
        for (const i of info) {
          expect(DISABILITY_DOMAINS).toContain(i.disability_limitation_type);
          expect(DISABILITY_SEVERITIES).toContain(i.functional_severity);
        }
        expect(info.some((i) => i.functional_severity !== 'some_difficulty')).toBe(true);
      }
      for (const p of people.filter((x) => x.is_disabled === 'f')) expect(p.disability_info).toBe('[]');
    });

    it('has deceased former members: death date set, membership ended then, marital status kept, a DRN', () => {
      const deceased = people.filter((p) => p.death_date !== null);
      expect(deceased.length).toBeGreaterThan(households * 0.03);
      const drn = idsOf('DRN');
      const membershipOf = new Map(memberships.map((m) => [m.individual_id!, m]));
      for (const p of deceased) {
        const m = membershipOf.get(p.id!)!;
        expect(m.end_date).toBe(p.death_date);
        expect(m.is_head).toBe('f');
        expect(m.start_date! < p.death_date!).toBe(true);
        expect(p.birth_date! < p.death_date!).toBe(true);
        expect(p.death_date! < ref).toBe(true);
        expect(['M', 'W']).toContain(p.marital_status);
        expect(drn.has(p.id!)).toBe(true);
        expect(age(p.birth_date!, p.death_date!)).toBeGreaterThanOrEqual(18);
      }
      expect(people.filter((p) => p.death_date === null).length).toBe(active.length);
    });

    it('scores poverty 0-100 with two decimals, lower for bigger and more dependent households', () => {
      const scores = groups.map((g) => Number(g.poverty_score));
      for (const g of groups) expect(g.poverty_score).toMatch(/^\d{1,3}\.\d{2}$/);
      expect(Math.min(...scores)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...scores)).toBeLessThanOrEqual(100);
      const mean = (list: Row[]) => list.reduce((s, g) => s + Number(g.poverty_score), 0) / list.length;
      expect(mean(groups.filter((g) => Number(g.group_size) >= 7))).toBeLessThan(mean(groups.filter((g) => Number(g.group_size) <= 2)));
      const byRegion = REGIONS.map((r) => mean(groups.filter((g) => AREA_ROWS[Number(g.area_id) - 1].parentCode === r.code)));
      expect(Math.max(...byRegion) - Math.min(...byRegion)).toBeGreaterThan(10);
    });

    it('places households in a district, inside its box, with an address and postal code', () => {
      for (const g of groups) {
        const area = AREA_ROWS[Number(g.area_id) - 1];
        expect(area.level).toBe('district');
        const d = DISTRICTS.find((x) => x.code === area.code)!;
        expect(Number(g.latitude)).toBeGreaterThanOrEqual(d.bbox.south);
        expect(Number(g.latitude)).toBeLessThanOrEqual(d.bbox.north);
        expect(Number(g.longitude)).toBeGreaterThanOrEqual(d.bbox.west);
        expect(Number(g.longitude)).toBeLessThanOrEqual(d.bbox.east);
        expect(g.address_line).toBeTruthy();
        expect(g.postal_code).toMatch(/^\d{5}$/);
      }
      expect(new Set(groups.map((g) => AREA_ROWS[Number(g.area_id) - 1].parentCode))).toEqual(new Set(REGIONS.map((r) => r.code)));
    });

    it('gives adults education, occupation and employment status, and children none', () => {
      const adults = people.filter((p) => age(p.birth_date!, ref) >= 18);
      for (const p of adults) {
        expect(p.education_level).toBeTruthy();
        expect(p.employment_status).not.toBeNull();
        if (p.employment_status === '1' || p.employment_status === '2') expect(p.occupation).toBeTruthy();
      }
      for (const p of people.filter((x) => age(x.birth_date!, ref) < 18)) {
        expect(p.employment_status).toBeNull();
        expect(p.occupation).toBeNull();
      }
      expect(new Set(adults.map((p) => p.employment_status)).size).toBe(8);
    });
  });
});
