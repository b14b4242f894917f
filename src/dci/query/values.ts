import { isObject, reject, show } from './input.js';
import { MAX_LIST_ITEMS, MAX_STRING_LENGTH } from './limits.js';
import { type AttributeDef, type Operator, QueryRejection } from './types.js';

/**
 * Coerces a partner-supplied value to what `def.predicate` receives for `op`: a scalar of the attribute's type
 * (then `def.normalize`d), or a non-empty array of distinct ones for in/nin. Samples send numbers as strings (DIGEST 4.3).
 */
export function coerceValue(def: AttributeDef, op: Operator, value: unknown, label: string = def.name): unknown {
  return op === 'in' || op === 'nin' ? coerceList(def, op, value, label) : coerceScalar(def, value, label);
}

/** `label` is the attribute as the partner wrote it, for messages. */
export function coerceScalar(def: AttributeDef, value: unknown, label: string = def.name): unknown {
  const typed = coerceType(def, value, label);
  if (!def.normalize) return typed;
  try {
    return def.normalize(typed);
  } catch (e) {
    if (e instanceof QueryRejection) throw e;
    return reject(`attribute ${show(label)}: invalid value ${show(value)}`);
  }
}

/** An array, or a comma-separated string (DIGEST 4.3); a lone number or boolean is a one-item list. */
function coerceList(def: AttributeDef, op: Operator, value: unknown, label: string): unknown[] {
  let items: unknown[];
  if (Array.isArray(value)) items = value;
  else if (typeof value === 'string') items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  else if (typeof value === 'number' || typeof value === 'boolean') items = [value];
  else return reject(`attribute ${show(label)}: operator ${op} needs a list of values, got ${show(value)}`);
  if (items.length === 0) reject(`attribute ${show(label)}: operator ${op} needs at least one value`);
  if (items.length > MAX_LIST_ITEMS) reject(`attribute ${show(label)}: operator ${op} takes at most ${MAX_LIST_ITEMS} values`);
  // A value repeated (or spelled two ways: "F", "female") is bound once.
  return [...new Set(items.map((item) => coerceScalar(def, item, label)))];
}

function coerceType(def: AttributeDef, value: unknown, label: string): unknown {
  const fail = (expected: string): never => reject(`attribute ${show(label)}: expected ${expected}, got ${show(value)}`);
  if (value === null || value === undefined) return fail('a value');
  if (Array.isArray(value) || isObject(value)) return fail('a single value');
  switch (def.type) {
    case 'number': {
      const n = toNumber(value);
      return n === undefined ? fail('a number') : n;
    }
    case 'integer': {
      const n = toNumber(value);
      if (n === undefined || !Number.isSafeInteger(n)) return fail('an integer');
      // Integer attributes are 4-byte columns: PostgreSQL would refuse a larger value only when the query ran.
      return n >= INT4_MIN && n <= INT4_MAX ? n : fail(`an integer from ${INT4_MIN} to ${INT4_MAX}`);
    }
    case 'date':
      return (typeof value === 'string' ? toDate(value) : undefined) ?? fail('a date (YYYY-MM-DD)');
    case 'boolean': {
      const b = toBoolean(value);
      return b === undefined ? fail('true or false') : b;
    }
    case 'string': {
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
      if (typeof value !== 'string') return fail('a string');
      if (value.length > MAX_STRING_LENGTH) reject(`attribute ${show(label)}: value longer than ${MAX_STRING_LENGTH} characters`);
      return value;
    }
    default:
      return fail('a value of a supported type');
  }
}

const INT4_MIN = -(2 ** 31);
const INT4_MAX = 2 ** 31 - 1;

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (!NUMERIC.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

const BOOLEAN_WORDS: ReadonlyMap<string, boolean> = new Map([
  ['true', true],
  ['false', false],
  ['1', true],
  ['0', false],
  ['yes', true],
  ['no', false],
]);

function toBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') return BOOLEAN_WORDS.get(value.trim().toLowerCase());
  return undefined;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
// Seconds and zone optional: samples send `2024-04-12T00:00` (DIGEST 11.4).
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$/;
const DOTTED = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/;

/** A calendar date as `YYYY-MM-DD`; a date-time keeps the date part as written (no zone conversion). */
export function toDate(value: string): string | undefined {
  const text = value.trim();
  let y: number, m: number, d: number;
  let match = ISO_DATE.exec(text);
  if (match) {
    [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  } else if ((match = DATE_TIME.exec(text))) {
    [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const [hh, mm, ss] = [Number(match[4]), Number(match[5]), Number(match[6] ?? 0)];
    if (hh > 23 || mm > 59 || ss > 60) return undefined;
  } else if ((match = DOTTED.exec(text))) {
    [d, m, y] = [Number(match[1]), Number(match[2]), Number(match[3])];
  } else {
    return undefined;
  }
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m)) return undefined;
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** The instants PostgreSQL's timestamptz takes as input and a four-digit ISO year can write: years 1 to 9999. */
const EARLIEST_MS = Date.parse('0001-01-01T00:00:00Z');
const LATEST_MS = Date.parse('9999-12-31T23:59:59.999Z');

export function withinTimestampRange(ms: number): boolean {
  return ms >= EARLIEST_MS && ms <= LATEST_MS;
}

/**
 * A DCI date-time as an ISO string in UTC, or undefined. RFC 3339 as partners send it (samples also a space for T,
 * no seconds or no offset), its date a calendar date and its time a clock time (`Date.parse` alone takes 2026-02-30
 * for 2 March, and year 0), the instant within withinTimestampRange.
 */
export function toTimestamp(value: string): string | undefined {
  const text = value.trim();
  if (!DATE_TIME.test(text) || toDate(text) === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) || !withinTimestampRange(ms) ? undefined : new Date(ms).toISOString();
}

/** Whether `value` is a date-time toTimestamp takes: what every DCI `timestamp` must be. */
export const isTimestamp = (value: unknown): boolean => typeof value === 'string' && toTimestamp(value) !== undefined;

/**
 * The latest date an event that has happened may carry: tomorrow in UTC, as it is already tomorrow east of UTC. A
 * later one is a mistake (or a forgery) that would outrank every real event after it.
 */
export function latestEventDate(now = Date.now()): string {
  return new Date(now + 86_400_000).toISOString().slice(0, 10);
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}
