/**
 * Deterministic demo registry: households of a fictional country, produced batch by batch as COPY text lines.
 *
 * Household k of a run draws only from its own PRNG stream (seed, k), so a household's content does not depend on the
 * batch size, and the number of rows a batch needs (`countPeople`) is known before its ids are reserved. Everything
 * that must be unique in the database (identifier values) is derived from row ids, never from the seed.
 */
import { randomUUID } from 'node:crypto';
import { AREA_ROWS, DISTRICTS, REGIONS, type DistrictDef, type RegionDef } from './areas.js';
import { DISABILITY_DOMAINS, DISABILITY_SEVERITIES } from '../vocabularies.js';
import type { IdentifierVault } from '../identifiers.js';
import * as pool from './names.js';

/** Ages, registration and death dates are relative to this day unless a run says otherwise, so runs are reproducible. */
export const DEFAULT_REFERENCE_DATE = '2026-01-01';

export const GROUP_COLUMNS = [
  'id', 'external_id', 'group_type', 'area_id', 'address_line', 'postal_code', 'latitude', 'longitude', 'poverty_score',
  'poverty_score_type', 'group_size', 'attributes', 'registration_date', 'last_updated',
] as const;
export const INDIVIDUAL_COLUMNS = [
  'id', 'external_id', 'given_name', 'second_name', 'surname', 'maiden_name', 'sex', 'birth_date', 'death_date', 'death_place',
  'marital_status', 'is_disabled', 'disability_info', 'education_level', 'occupation', 'employment_status',
  'income_level', 'language_code', 'phone_number', 'email', 'registration_date', 'last_updated', 'household_area_id',
] as const;
export const MEMBERSHIP_COLUMNS = ['id', 'group_id', 'individual_id', 'is_head', 'relationship_to_head', 'start_date', 'end_date'] as const;
export const IDENTIFIER_COLUMNS = ['id', 'id_type', 'id_value', 'id_sealed', 'id_lookup', 'individual_id', 'group_id'] as const;

/** Education levels of the demo population (ISCED-like; `education_level` is free text in DCI). */
export const EDUCATION_LEVELS = ['none', 'primary', 'lower_secondary', 'upper_secondary', 'post_secondary', 'tertiary'] as const;
/** `income_level` of household heads, from the household's poverty score. */
export const INCOME_LEVELS = ['very_low', 'low', 'middle', 'high'] as const;
export const POVERTY_SCORE_TYPE = 'PMT';

// ---------------------------------------------------------------------------------------------------------------
// COPY text format

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIAL_ALL = /[\\\t\n\r]/g;
const COPY_REPLACEMENTS: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One field in COPY text format: null/undefined -> `\N`, booleans -> t/f, strings escaped. */
export function copyText(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number') return String(value);
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, (c) => COPY_REPLACEMENTS[c]) : value;
}

/** A whole COPY line (tab-separated, newline-terminated). */
export function copyRow(values: readonly (string | number | boolean | null | undefined)[]): string {
  return values.map(copyText).join('\t') + '\n';
}

/** Inverse of `copyText` for one field (`\N` -> null); for tests and tools reading generated lines. */
export function parseCopyField(field: string): string | null {
  if (field === '\\N') return null;
  return field.replace(/\\(.)/g, (_, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}

// ---------------------------------------------------------------------------------------------------------------
// Identifier values: derived from row ids, so they never collide across runs into one database

const ID_SPACE = 9_000_000_000;

/**
 * 1000000000 + (id * mul + add) mod 9e9: a bijection of [0, 9e9) (mul is coprime with 9e9), so distinct row ids give
 * distinct values. Deliberately increasing with the id between wrap-arounds (every ~1.1M ids): consecutive rows land on
 * the same pages of the (id_type, id_value) unique index, which keeps bulk loading fast.
 */
function affine(id: number, mul: number, add: number): string {
  if (!(id >= 0 && id < ID_SPACE && Number.isInteger(id))) throw new Error(`row id ${id} outside the identifier space`);
  return String(1_000_000_000 + ((id * mul + add) % ID_SPACE));
}

/** UIN of the individual with row id `id`: 10 digits, `1000000000 + (id * 7919 + 1234567) mod 9e9`. */
export const uinFor = (id: number) => affine(id, 7919, 1_234_567);
/** Birth registration number: `B` + 10 digits. */
export const brnFor = (id: number) => 'B' + affine(id, 7927, 7_654_321);
/** Death registration number: `D` + 10 digits. */
export const drnFor = (id: number) => 'D' + affine(id, 7933, 4_242_424);
/** Household identifier of the group with row id `id`: `HH-` + 10 digits. */
export const householdIdFor = (id: number) => 'HH-' + affine(id, 7937, 2_718_281);

// ---------------------------------------------------------------------------------------------------------------
// PRNG: sfc32, one stream per (seed, household index)

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number, stream: number) {
    const s = mix32((seed | 0) ^ 0x9e3779b9) ^ mix32(Math.floor(seed / 4294967296) | 0);
    this.a = mix32(s ^ 0x243f6a88);
    this.b = mix32((stream | 0) ^ mix32(s + 0x632be5ab));
    this.c = mix32(Math.floor(stream / 4294967296) ^ this.a ^ 0x1b873593);
    for (let k = 0; k < 12; k++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) + t;
    this.c |= 0;
    return (t >>> 0) / 4294967296;
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)];
  }

  /** Index drawn from cumulative weights (see `cumulative`). */
  weighted(cum: Float64Array): number {
    const x = this.next() * cum[cum.length - 1];
    let k = 0;
    while (cum[k] <= x) k++;
    return k;
  }

  /** Roughly normal (sum of three uniforms), mean 0, standard deviation `sd`. */
  normal(sd: number): number {
    return (this.next() + this.next() + this.next() - 1.5) * 2 * sd;
  }
}

function cumulative(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  weights.forEach((w, k) => (out[k] = sum += w));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Dates as epoch days

function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): string {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${String(y).padStart(4, '0')}-${m < 10 ? '0' : ''}${m}-${d < 10 ? '0' : ''}${d}`;
}

const DATE_CACHE_BASE = 60_000;
const dateCache: string[] = new Array(2 * DATE_CACHE_BASE);
/** `YYYY-MM-DD` of an epoch day (memoised: the demo uses a few tens of thousands of distinct days). */
function isoDate(day: number): string {
  const k = day + DATE_CACHE_BASE;
  if (k < 0 || k >= dateCache.length) return civilFromDays(day);
  return dateCache[k] ?? (dateCache[k] = civilFromDays(day));
}

function parseIsoDate(s: string): { y: number; m: number; d: number; day: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) throw new Error(`reference date must be YYYY-MM-DD, got ${JSON.stringify(s)}`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = daysFromCivil(y, mo, d);
  if (civilFromDays(day) !== s) throw new Error(`invalid reference date ${s}`);
  return { y, m: mo, d, day };
}

const two = (n: number) => (n < 10 ? '0' : '') + n;

// ---------------------------------------------------------------------------------------------------------------
// Household shape: the first draws of a household's stream, enough to count its rows

const COUPLE = 0;
const WIDOWED = 1;
const DIVORCED = 2;
const SEPARATED = 3;
const SINGLE = 4;

const DISTRICT_CUM = cumulative(
  DISTRICTS.map((d) => {
    const region = REGIONS.find((r) => r.code === d.regionCode)!;
    const inRegion = DISTRICTS.filter((x) => x.regionCode === d.regionCode).reduce((s, x) => s + x.weight, 0);
    return (region.weight * d.weight) / inRegion;
  }),
);
const REGION_OF = new Map<string, RegionDef>(REGIONS.map((r) => [r.code, r]));

// Household sizes 1..10.
const URBAN_SIZE_CUM = cumulative([12, 17, 19, 19, 13, 8, 5, 3, 2, 2]);
const RURAL_SIZE_CUM = cumulative([7, 11, 15, 17, 16, 12, 9, 6, 4, 3]);
const SOLO_KIND_CUM = cumulative([0, 30, 18, 7, 45]);
const FAMILY_KIND_CUM = cumulative([72, 11, 7, 3, 7]);

interface Shape {
  district: DistrictDef;
  size: number;
  kind: number;
  deceasedSpouse: boolean;
  deceasedParent: boolean;
}

function drawShape(rng: Rng): Shape {
  const district = DISTRICTS[rng.weighted(DISTRICT_CUM)];
  const size = 1 + rng.weighted(district.urban ? URBAN_SIZE_CUM : RURAL_SIZE_CUM);
  const kind = rng.weighted(size === 1 ? SOLO_KIND_CUM : FAMILY_KIND_CUM);
  const deceasedSpouse = rng.chance(0.55) && kind === WIDOWED;
  const deceasedParent = rng.chance(0.035);
  return { district, size, kind, deceasedSpouse, deceasedParent };
}

/** Rows of `individuals` (= memberships) that households [start, start + count) of a run need. */
export function countPeople(seed: number, start: number, count: number): number {
  let n = 0;
  for (let k = start; k < start + count; k++) {
    const s = drawShape(new Rng(seed, k));
    n += s.size + (s.deceasedSpouse ? 1 : 0) + (s.deceasedParent ? 1 : 0);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// People

interface Person {
  sex: 'male' | 'female';
  age: number;
  birthDay: number;
  rel: string;
  marital: string | null;
  given: string;
  second: string | null;
  surname: string;
  maiden: string | null;
  deathDay: number | null;
  startDay: number;
  regDay: number;
  disability: string | null;
  edu: string | null;
  occ: string | null;
  emp: number | null;
  phone: string | null;
  email: string | null;
}

// Weights in the order of DISABILITY_DOMAINS: seeing, hearing, walking, cognition, self_care, communication.
const DOMAIN_CUM = cumulative([18, 14, 35, 15, 9, 9]);

function disabilityEntry(domain: string, severity: string): string {
  return `{"disability_limitation_type": "${domain}", "functional_severity": "${severity}"}`;
}

function drawDisability(rng: Rng, age: number): string | null {
  const p = age < 18 ? 0.02 : age < 50 ? 0.04 : age < 65 ? 0.085 : age < 80 ? 0.17 : 0.3;
  if (!rng.chance(p)) return null;
  const main = DISABILITY_DOMAINS[rng.weighted(DOMAIN_CUM)];
  const entries = [disabilityEntry(main, rng.chance(0.7) ? 'a_lot_of_difficulty' : 'cannot_do_at_all')];
  if (rng.chance(0.25)) {
    const other = DISABILITY_DOMAINS[rng.weighted(DOMAIN_CUM)];
    if (other !== main) entries.push(disabilityEntry(other, rng.pick(DISABILITY_SEVERITIES)));
  }
  return `[${entries.join(', ')}]`;
}

const EDU_CUM = {
  urban: [cumulative([2, 10, 18, 35, 15, 20]), cumulative([5, 18, 22, 30, 10, 15]), cumulative([15, 35, 20, 18, 5, 7])],
  rural: [cumulative([6, 22, 28, 30, 7, 7]), cumulative([12, 35, 25, 20, 4, 4]), cumulative([35, 40, 12, 9, 2, 2])],
};
// Employment of working-age adults: 1 Employed, 2 Self-employed, 3 Unemployed, 4 Student, 5 Retired, 6 Homemaker,
// 7 Unable to work, 8 Other.
const EMP_URBAN_CUM = cumulative([48, 18, 13, 2, 1, 11, 2, 5]);
const EMP_RURAL_CUM = cumulative([24, 45, 10, 1, 1, 13, 2, 4]);

const EDU_BONUS = [-8, -3, 0, 4, 7, 12];
const EXT_MARITAL = ['S', 'S', 'M', 'W', 'D', 'U'];

const ascii = (s: string) => s.toLowerCase().replace(/[^a-z]/g, '');

class HouseholdBuilder {
  private rng!: Rng;
  private district!: DistrictDef;
  private refDay: number;
  private ageLo: Int32Array;
  private ageHi: Int32Array;

  constructor(
    refDate: string,
    private readonly newUuid: () => string,
  ) {
    const ref = parseIsoDate(refDate);
    this.refDay = ref.day;
    this.ageLo = new Int32Array(121);
    this.ageHi = new Int32Array(121);
    for (let a = 0; a <= 120; a++) {
      // Born in (lo, hi] <=> exactly `a` whole years old on the reference date.
      this.ageLo[a] = daysFromCivil(ref.y - a - 1, ref.m, ref.d);
      this.ageHi[a] = daysFromCivil(ref.y - a, ref.m, ref.d);
    }
  }

  person(sex: 'male' | 'female', age: number, rel: string, surname: string, regDay: number): Person {
    const rng = this.rng;
    age = Math.max(0, Math.min(110, Math.round(age)));
    const lo = this.ageLo[age];
    const birthDay = lo + 1 + Math.floor(rng.next() * (this.ageHi[age] - lo));
    const names = sex === 'male' ? pool.MALE_GIVEN_NAMES : pool.FEMALE_GIVEN_NAMES;
    const p: Person = {
      sex,
      age,
      birthDay,
      rel,
      marital: age < 15 ? null : 'S',
      given: rng.pick(names),
      second: rng.chance(0.3) ? rng.pick(names) : null,
      surname,
      maiden: null,
      deathDay: null,
      // Born after the household registered: joined at birth, registered a few weeks later.
      startDay: birthDay > regDay ? birthDay : regDay,
      regDay: birthDay > regDay ? Math.min(this.refDay, birthDay + rng.int(7, 120)) : regDay,
      disability: drawDisability(rng, age),
      edu: null,
      occ: null,
      emp: null,
      phone: null,
      email: null,
    };
    if (p.second === p.given) p.second = null;
    if (age >= 18) this.adult(p);
    return p;
  }

  private adult(p: Person): void {
    const rng = this.rng;
    const urban = this.district.urban;
    const eduCum = (urban ? EDU_CUM.urban : EDU_CUM.rural)[p.age < 35 ? 0 : p.age < 60 ? 1 : 2];
    const eduIdx = rng.weighted(eduCum);
    p.edu = EDUCATION_LEVELS[eduIdx];
    let emp: number;
    if (p.age >= 65) emp = rng.chance(0.72) ? 5 : rng.chance(0.5) ? 2 : p.disability && rng.chance(0.5) ? 7 : 6;
    else if (p.disability && rng.chance(0.45)) emp = 7;
    else if (p.age <= 24 && rng.chance(eduIdx >= 3 ? 0.5 : 0.15)) emp = 4;
    else emp = 1 + rng.weighted(urban ? EMP_URBAN_CUM : EMP_RURAL_CUM);
    p.emp = emp;
    if (emp === 1 || emp === 2) p.occ = rng.pick(urban ? pool.URBAN_OCCUPATIONS : pool.RURAL_OCCUPATIONS);
    if (rng.chance(0.72)) p.phone = `+999 7${rng.int(10, 99)} ${rng.int(100, 999)} ${rng.int(100, 999)}`;
    if (eduIdx >= 3 && rng.chance(0.35)) p.email = `${ascii(p.given)}.${ascii(p.surname)}${rng.int(1, 99)}@example.org`;
  }

  /** A married woman usually took her husband's surname; her own becomes the maiden name. */
  private marriedName(p: Person, surname: string, share: number): void {
    if (p.sex !== 'female' || !this.rng.chance(share)) return;
    const maiden = this.rng.pick(pool.SURNAMES);
    if (maiden !== surname) p.maiden = maiden;
  }

  private deathDay(regDay: number): number {
    return regDay + 1 + Math.floor(this.rng.next() * (this.refDay - regDay - 1));
  }

  /**
   * One household: pushes its rows and returns how many of the batch's person slots (from `firstPerson` on) it used:
   * head, the other active members, then former members.
   */
  household(seed: number, index: number, groupId: number, ids: GenerateOptions, firstPerson: number, out: GeneratedBatch): number {
    const rng = (this.rng = new Rng(seed, index));
    const shape = drawShape(rng);
    const { size, kind } = shape;
    const district = (this.district = shape.district);
    const region = REGION_OF.get(district.regionCode)!;
    const refDay = this.refDay;
    const surname = rng.pick(pool.SURNAMES);

    let headSex: 'male' | 'female';
    let headAge: number;
    if (kind === COUPLE) {
      headSex = rng.chance(0.82) ? 'male' : 'female';
      const r = rng.next();
      headAge = r < 0.8 ? rng.int(25, 60) : r < 0.92 ? rng.int(61, 80) : rng.int(20, 24);
    } else if (kind === WIDOWED) {
      headSex = rng.chance(0.74) ? 'female' : 'male';
      headAge = rng.chance(0.8) ? rng.int(50, 90) : rng.int(35, 49);
    } else if (kind === DIVORCED || kind === SEPARATED) {
      headSex = rng.chance(0.55) ? 'female' : 'male';
      headAge = rng.int(28, 65);
    } else if (size === 1) {
      headSex = rng.chance(0.5) ? 'female' : 'male';
      const r = rng.next();
      headAge = r < 0.55 ? rng.int(18, 35) : r < 0.8 ? rng.int(36, 60) : rng.int(61, 88);
    } else {
      headSex = rng.chance(0.82) ? 'female' : 'male';
      headAge = rng.int(18, 50);
    }
    // Registered within the last ten years, once the head was an adult.
    const regDay = refDay - 30 - rng.int(0, Math.min(3620, (headAge - 18) * 365));
    const otherSex = headSex === 'male' ? 'female' : 'male';
    const members: Person[] = [];
    const head = this.person(headSex, headAge, 'SELF', surname, regDay);
    head.marital = kind === COUPLE ? 'M' : kind === WIDOWED ? 'W' : kind === DIVORCED ? 'D' : kind === SEPARATED ? 'L' : 'S';
    if (kind !== SINGLE) this.marriedName(head, surname, kind === COUPLE ? 0.7 : 0.6);
    members.push(head);

    // Spouses share the household's surname, so children share the head's.
    let motherAge = headSex === 'female' ? headAge : headAge - 3;
    if (kind === COUPLE) {
      const spouseAge = Math.max(18, headAge + (headSex === 'male' ? -3 : 3) + rng.int(-5, 5));
      const spouse = this.person(otherSex, spouseAge, 'SPS', surname, regDay);
      spouse.marital = 'M';
      this.marriedName(spouse, surname, 0.7);
      if (spouse.emp !== null && spouse.emp !== 5 && spouse.emp !== 7 && rng.chance(0.2)) {
        spouse.emp = 6;
        spouse.occ = null;
      }
      members.push(spouse);
      if (spouse.sex === 'female') motherAge = spouseAge;
    }

    // Relatives, then children to fill the household.
    let free = size - members.length;
    const parentSurname = head.maiden ?? surname;
    if (free >= 1 && headAge <= 62 && rng.chance(0.13)) {
      const base = headAge + rng.int(20, 34);
      if (free >= 2 && rng.chance(0.35)) {
        const father = this.person('male', Math.min(99, base + rng.int(0, 4)), 'PRN', parentSurname, regDay);
        const mother = this.person('female', Math.min(99, base), 'PRN', parentSurname, regDay);
        father.marital = mother.marital = 'M';
        this.marriedName(mother, parentSurname, 0.8);
        members.push(father, mother);
        free -= 2;
      } else {
        const parent = this.person(rng.chance(0.68) ? 'female' : 'male', Math.min(99, base), 'PRN', parentSurname, regDay);
        parent.marital = rng.chance(0.8) ? 'W' : rng.chance(0.5) ? 'M' : 'D';
        this.marriedName(parent, parentSurname, 0.8);
        members.push(parent);
        free -= 1;
      }
    }
    if (free >= 1 && headAge <= 26 && rng.chance(0.15)) {
      const grandparent = this.person(rng.chance(0.7) ? 'female' : 'male', Math.min(99, headAge + rng.int(40, 55)), 'GRPRN', parentSurname, regDay);
      grandparent.marital = 'W';
      members.push(grandparent);
      free -= 1;
    }
    if (free >= 1 && rng.chance(0.06)) {
      const sibling = this.person(rng.chance(0.5) ? 'female' : 'male', Math.max(12, headAge + rng.int(-10, 10)), 'SIB', parentSurname, regDay);
      if (sibling.age >= 30 && rng.chance(0.25)) sibling.marital = 'D';
      members.push(sibling);
      free -= 1;
    }
    if (free >= 1 && rng.chance(0.05)) {
      const relative = this.person(rng.chance(0.5) ? 'female' : 'male', rng.int(5, 70), 'EXT', rng.chance(0.5) ? surname : rng.pick(pool.SURNAMES), regDay);
      if (relative.age >= 18) relative.marital = rng.pick(EXT_MARITAL);
      members.push(relative);
      free -= 1;
    }
    let adultChildren = 0;
    const adultChildShare = Math.min(0.85, Math.max(0, (motherAge - 36) / 20));
    for (; free > 0; free--) {
      const sex = rng.chance(0.51) ? 'male' : 'female';
      let child: Person;
      if (headAge >= 55 && adultChildren > 0 && rng.chance(0.35)) {
        child = this.person(sex, rng.int(0, Math.max(0, Math.min(17, motherAge - 38))), 'GRNDCHILD', surname, regDay);
      } else if (motherAge >= 36 && rng.chance(adultChildShare)) {
        child = this.person(sex, rng.int(18, Math.min(45, motherAge - 18)), 'CHILD', surname, regDay);
        if (child.age >= 24 && rng.chance(0.12)) child.marital = rng.chance(0.6) ? 'D' : 'L';
        adultChildren++;
      } else {
        child = this.person(sex, rng.int(0, Math.max(0, Math.min(17, motherAge - 16))), 'CHILD', surname, regDay);
      }
      members.push(child);
    }

    // Former members who died after the household registered: membership ended on the death date, marital status
    // left as it was. Ages are drawn as at death, then carried to the reference date, which birth dates come from.
    const formers: Person[] = [];
    if (shape.deceasedSpouse) {
      const died = this.deathDay(regDay);
      const since = Math.floor((refDay - died) / 365.25);
      const ageAtDeath = Math.max(25, headAge - since + (headSex === 'male' ? -2 : 4) + rng.int(-4, 6));
      const spouse = this.person(otherSex, Math.min(110, ageAtDeath + since), 'SPS', surname, regDay);
      spouse.marital = 'M';
      this.marriedName(spouse, surname, 0.7);
      spouse.deathDay = died;
      formers.push(spouse);
    }
    if (shape.deceasedParent) {
      const died = this.deathDay(regDay);
      const since = Math.floor((refDay - died) / 365.25);
      const ageAtDeath = Math.min(104, headAge - since + rng.int(22, 36));
      const parent = this.person(rng.chance(0.5) ? 'female' : 'male', Math.min(110, ageAtDeath + since), 'PRN', parentSurname, regDay);
      parent.marital = rng.chance(0.6) ? 'W' : 'M';
      parent.deathDay = died;
      formers.push(parent);
    }

    // Poverty score (PMT; higher = better off): region and district, household size, dependency ratio, the head's
    // education and work, disability, noise.
    let dependants = 0;
    let working = 0;
    let disabled = false;
    for (const m of members) {
      if (m.age < 15 || m.age >= 65) dependants++;
      else working++;
      if (m.disability) disabled = true;
    }
    const dependency = Math.min(3, dependants / Math.max(1, working));
    const eduBonus = EDU_BONUS[head.edu ? EDUCATION_LEVELS.indexOf(head.edu as (typeof EDUCATION_LEVELS)[number]) : 1];
    const empBonus = head.emp === 1 ? 5 : head.emp === 2 ? 2 : head.emp === 3 ? -8 : head.emp === 7 ? -6 : 0;
    const raw = region.welfare + district.welfareShift - 2.2 * (size - 4) - 9 * dependency + eduBonus + empBonus - (disabled ? 5 : 0) + rng.normal(9);
    const score = Math.min(100, Math.max(0, Math.round(raw * 100) / 100));
    const incomeLevel = INCOME_LEVELS[score < 25 ? 0 : score < 45 ? 1 : score < 65 ? 2 : 3];

    // The group.
    const regTs = `${isoDate(regDay)} ${two(rng.int(7, 17))}:${two(rng.int(0, 59))}:${two(rng.int(0, 59))}+00`;
    const groupUpdated = `${isoDate(regDay + Math.floor(rng.next() * (refDay - regDay)))} ${two(rng.int(7, 17))}:${two(rng.int(0, 59))}:00+00`;
    const bbox = district.bbox;
    const lat = (bbox.south + rng.next() * (bbox.north - bbox.south)).toFixed(6);
    const lon = (bbox.west + rng.next() * (bbox.east - bbox.west)).toFixed(6);
    const address = district.urban
      ? `${rng.int(1, 240)} ${rng.pick(pool.STREET_NAMES)} ${rng.pick(pool.STREET_SUFFIXES)}`
      : `Plot ${rng.int(1, 400)}, ${rng.pick(pool.VILLAGE_PREFIXES)}${rng.pick(pool.VILLAGE_SUFFIXES)}`;
    const postal = `${district.regionCode.slice(1)}${district.code.slice(-2)}${two(rng.int(0, 99))}`.slice(-5);
    // Poorer households skew to the later (worse) entries of the dwelling and water lists.
    const poorness = 1 - score / 100;
    const dwelling = pool.DWELLING_TYPES[Math.floor(Math.min(0.999, Math.max(0, poorness * 0.9 + rng.normal(0.2))) * pool.DWELLING_TYPES.length)];
    const water = pool.WATER_SOURCES[Math.floor(Math.min(0.999, Math.max(0, poorness * 0.9 + rng.normal(0.2))) * pool.WATER_SOURCES.length)];
    const electricity = rng.chance(district.urban ? 0.95 - poorness * 0.3 : 0.75 - poorness * 0.5);
    const attributes = `{"dwelling_type": "${dwelling}", "water_source": "${water}", "has_electricity": ${electricity}}`;
    const areaId = ids.areaIds.get(district.code);
    if (areaId === undefined) throw new Error(`no area id for district ${district.code}`);
    out.groups.push(
      `${groupId}\t${this.newUuid()}\t1\t${areaId}\t${copyText(address)}\t${postal}\t${lat}\t${lon}\t${score.toFixed(2)}\t${POVERTY_SCORE_TYPE}\t${size}\t${copyText(attributes)}\t${regTs}\t${groupUpdated}\n`,
    );
    out.identifiers.push(HOUSEHOLD_ID, groupId);

    // Its people.
    let slot = firstPerson;
    for (let k = 0; k < members.length; k++) {
      this.emit(members[k], ids, slot++, groupId, areaId, k === 0, k === 0 ? incomeLevel : null, regDay, regTs, region, out);
    }
    for (const f of formers) this.emit(f, ids, slot++, groupId, areaId, false, null, regDay, regTs, region, out);
    return slot - firstPerson;
  }

  private emit(p: Person, ids: GenerateOptions, slot: number, groupId: number, areaId: number, isHead: boolean, incomeLevel: string | null, regDay: number, regTs: string, region: RegionDef, out: GeneratedBatch): void {
    const rng = this.rng;
    const refDay = this.refDay;
    const id = ids.personIds[slot];
    const dead = p.deathDay !== null;
    const deathDate = dead ? isoDate(p.deathDay!) : '\\N';
    const updatedDay = dead ? Math.min(refDay, p.deathDay! + rng.int(1, 30)) : p.regDay + Math.floor(rng.next() * (refDay - p.regDay + 1));
    const deathPlace = dead ? (rng.chance(0.55) ? 'Home' : `${this.district.name} District Hospital`) : null;
    const registered = p.regDay === regDay ? regTs : `${isoDate(p.regDay)} 10:00:00+00`;
    out.individuals.push(
      `${id}\t${this.newUuid()}\t${copyText(p.given)}\t${copyText(p.second)}\t${copyText(p.surname)}\t${copyText(p.maiden)}\t${p.sex}\t${isoDate(p.birthDay)}\t${deathDate}\t${copyText(deathPlace)}\t${copyText(p.marital)}\t${p.disability ? 't' : 'f'}\t${copyText(p.disability ?? '[]')}\t${copyText(p.edu)}\t${copyText(p.occ)}\t${copyText(p.emp)}\t${copyText(incomeLevel)}\t${region.language}\t${copyText(dead ? null : p.phone)}\t${copyText(dead ? null : p.email)}\t${registered}\t${isoDate(updatedDay)} 12:00:00+00\t${dead ? '\\N' : areaId}\n`,
    );
    out.memberships.push(`${ids.membershipIds[slot]}\t${groupId}\t${id}\t${isHead ? 't' : 'f'}\t${p.rel}\t${isoDate(p.startDay)}\t${deathDate}\n`);
    if (p.age >= 18) out.identifiers.push(UIN, id);
    // Everyone under 18 has a birth registration; so do some younger adults.
    if (p.age < 18 || (p.age < 40 && rng.chance(0.25))) out.identifiers.push(BRN, id);
    if (dead) out.identifiers.push(DRN, id);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Batches

/**
 * COPY text of one table, as chunks of whole lines (each line ends in a newline). Lines are joined into chunks as
 * they are made: a batch held as millions of separate template-literal strings (ropes) costs more in garbage
 * collection than generating them.
 */
export class CopyChunks {
  readonly chunks: string[] = [];
  rows = 0;
  private pending: string[] = [];

  push(line: string): void {
    this.pending.push(line);
    this.rows++;
    if (this.pending.length === 64) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.chunks.push(this.pending.join(''));
    this.pending = [];
  }

  /** The lines, for tests and tools (splits the chunks). */
  lines(): string[] {
    this.flush();
    return this.chunks.flatMap((c) => c.slice(0, -1).split('\n').map((l) => l + '\n'));
  }
}

const HOUSEHOLD_ID = 0;
const UIN = 1;
const BRN = 2;
const DRN = 3;
const ID_TYPE_CODES = ['HOUSEHOLD_ID', 'UIN', 'BRN', 'DRN'] as const;
const ID_VALUE = [householdIdFor, uinFor, brnFor, drnFor];

/**
 * A batch's identifiers as (type, owner id) pairs: the value is a function of both, and the rows' own ids are only
 * known once the batch has been generated and counted (`copyChunks`).
 */
export class IdentifierRows {
  count = 0;
  private types = new Uint8Array(1024);
  private owners = new Float64Array(1024);

  push(type: number, owner: number): void {
    if (this.count === this.types.length) {
      const types = new Uint8Array(this.count * 2);
      types.set(this.types);
      const owners = new Float64Array(this.count * 2);
      owners.set(this.owners);
      this.types = types;
      this.owners = owners;
    }
    this.types[this.count] = type;
    this.owners[this.count++] = owner;
  }

  /**
   * COPY lines (columns `IDENTIFIER_COLUMNS`), taking row ids from `ids` in order, restricted values sealed by `vault`.
   * Rows go out grouped by type, values ascending within a type: for types stored in clear the (id_type, id_lookup)
   * index then takes them as appends (blind-indexed ones land at random places whatever the order).
   */
  copyChunks(ids: ArrayLike<number>, vault: IdentifierVault): CopyChunks {
    if (ids.length !== this.count) throw new Error(`${this.count} identifiers need as many ids, got ${ids.length}`);
    const out = new CopyChunks();
    let next = 0;
    for (const type of [BRN, DRN, HOUSEHOLD_ID, UIN]) {
      const code = ID_TYPE_CODES[type];
      const value = ID_VALUE[type];
      for (let k = 0; k < this.count; k++) {
        if (this.types[k] !== type) continue;
        const owner = this.owners[k];
        const stored = vault.stored(code, value(owner));
        // bytea in COPY text: \\x<hex>, its backslash escaped.
        const clearAndSealed = stored.sealed ? `\\N\t\\\\x${stored.sealed.toString('hex')}` : `${stored.value}\t\\N`;
        const owners = type === HOUSEHOLD_ID ? `\\N\t${owner}` : `${owner}\t\\N`;
        out.push(`${ids[next++]}\t${code}\t${clearAndSealed}\t${stored.lookup}\t${owners}\n`);
      }
    }
    out.flush();
    return out;
  }
}

export interface GeneratedBatch {
  households: number;
  /** Rows of `individuals` and of `memberships` (active members and deceased former members). */
  people: number;
  groups: CopyChunks;
  individuals: CopyChunks;
  memberships: CopyChunks;
  identifiers: IdentifierRows;
}

export interface GenerateOptions {
  seed: number;
  /** Index, within the run, of the batch's first household (0-based). */
  start: number;
  count: number;
  /** `groups.id` of each household, `count` of them. */
  groupIds: ArrayLike<number>;
  /** `individuals.id`s for the batch, `countPeople(seed, start, count)` of them, used in order. */
  personIds: ArrayLike<number>;
  /** `memberships.id`s, one per person, in the same order. */
  membershipIds: ArrayLike<number>;
  /** `areas.id` by district code. */
  areaIds: ReadonlyMap<string, number>;
  /** `YYYY-MM-DD`; default `DEFAULT_REFERENCE_DATE`. */
  referenceDate?: string;
  /**
   * `external_id` of each group and individual; default `uuidV7` (random, so batches are only identical apart from
   * these unless a deterministic source is given).
   */
  newUuid?: () => string;
}

/**
 * Generates a batch a few households at a time (`step`), so a caller can let other work (COPY streams) run in
 * between; `generateBatch` does it in one go.
 */
export class BatchGenerator {
  private readonly opts: GenerateOptions;
  private readonly builder: HouseholdBuilder;
  private readonly out: GeneratedBatch;
  private next = 0;
  private used = 0;

  constructor(opts: GenerateOptions) {
    if (opts.groupIds.length !== opts.count) throw new Error(`need ${opts.count} group ids, got ${opts.groupIds.length}`);
    if (opts.membershipIds.length !== opts.personIds.length) throw new Error('need as many membership ids as individual ids');
    this.opts = opts;
    this.builder = new HouseholdBuilder(opts.referenceDate ?? DEFAULT_REFERENCE_DATE, opts.newUuid ?? uuidV7);
    this.out = { households: opts.count, people: 0, groups: new CopyChunks(), individuals: new CopyChunks(), memberships: new CopyChunks(), identifiers: new IdentifierRows() };
  }

  /** Generates up to `n` more households; false once all are done. */
  step(n: number): boolean {
    const { seed, start, count, groupIds, personIds } = this.opts;
    const end = Math.min(count, this.next + n);
    for (; this.next < end; this.next++) {
      this.used += this.builder.household(seed, start + this.next, groupIds[this.next], this.opts, this.used, this.out);
      if (this.used > personIds.length) throw new Error(`need more than the ${personIds.length} individual ids given`);
    }
    return this.next < count;
  }

  finish(): GeneratedBatch {
    while (this.step(1_000_000));
    if (this.used !== this.opts.personIds.length) throw new Error(`batch used ${this.used} individual ids, ${this.opts.personIds.length} given`);
    this.out.people = this.used;
    for (const t of [this.out.groups, this.out.individuals, this.out.memberships]) t.flush();
    return this.out;
  }
}

/** Rows (columns `*_COLUMNS`) for households [start, start + count) of the run `seed`. */
export function generateBatch(opts: GenerateOptions): GeneratedBatch {
  return new BatchGenerator(opts).finish();
}

/**
 * A version 7 UUID (RFC 9562: millisecond time, then 74 random bits). Time-ordered, so the `external_id` unique
 * indexes take bulk rows as appends instead of random inserts; still unguessable.
 */
export function uuidV7(): string {
  const now = Date.now();
  if (now !== uuidTime) {
    uuidTime = now;
    const hex = now.toString(16).padStart(12, '0');
    uuidPrefix = `${hex.slice(0, 8)}-${hex.slice(8)}-7`;
  }
  return uuidPrefix + randomUUID().slice(15);
}

let uuidTime = -1;
let uuidPrefix = '';

/** `n` consecutive ids from `first` (for runs into an empty schema, and for tests). */
export function idRange(first: number, n: number): Float64Array {
  const ids = new Float64Array(n);
  for (let k = 0; k < n; k++) ids[k] = first + k;
  return ids;
}

/** Area ids as in a fresh database that loaded `AREA_ROWS` in order (tests of the generator alone). */
export function sequentialAreaIds(): Map<string, number> {
  return new Map(AREA_ROWS.map((a, k) => [a.code, k + 1]));
}
