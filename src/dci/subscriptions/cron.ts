/**
 * Quartz cron expressions, the form DCI gives a subscription's `frequency` (DIGEST 3.4: `0 0 0 5,15 * ? *`, the 5th
 * and 15th of each month at midnight): seconds, minutes, hours, day of month, month, day of week and an optional
 * year, evaluated in UTC. Values, lists, ranges, steps (`*\/15`, `10-50/10`), month and day names (JAN, MON) and `?`
 * are supported; Quartz's `L`, `W` and `#` are refused, as is restricting both day of month and day of week (Quartz
 * refuses that too).
 */

interface Field {
  name: string;
  min: number;
  max: number;
  names?: string[];
}

const FIELDS: Field[] = [
  { name: 'seconds', min: 0, max: 59 },
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  // Quartz numbers days from 1 = Sunday.
  { name: 'day of week', min: 1, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
  { name: 'year', min: 1970, max: 2199 },
];

export class CronError extends Error {}

/** How far ahead `next` looks before concluding the expression never fires again. */
const HORIZON_DAYS = 366 * 8;

function value(text: string, field: Field): number {
  const named = field.names?.indexOf(text.toUpperCase()) ?? -1;
  const n = named >= 0 ? named + field.min : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < field.min || n > field.max) throw new CronError(`${field.name}: ${text} is not between ${field.min} and ${field.max}`);
  return n;
}

/** The values a field allows, or undefined for `*` / `?` (everything). */
function parseField(text: string, field: Field): Set<number> | undefined {
  if (text === '*' || text === '?') return undefined;
  if (/[LW#]/i.test(text.replace(/[A-Z]{3}/gi, (m) => (field.names?.includes(m.toUpperCase()) ? '' : m)))) {
    throw new CronError(`${field.name}: L, W and # are not supported`);
  }
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new CronError(`${field.name}: bad step in ${part}`);
    let from: number;
    let to: number;
    if (range === '*' || range === '?') [from, to] = [field.min, field.max];
    else if (range.includes('-')) {
      const [a, b] = range.split('-');
      [from, to] = [value(a, field), value(b, field)];
      if (to < from) throw new CronError(`${field.name}: range ${range} runs backwards`);
    } else {
      from = value(range, field);
      to = stepText === undefined ? from : field.max;
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

export class QuartzCron {
  private constructor(
    readonly text: string,
    private readonly fields: (Set<number> | undefined)[],
  ) {}

  static parse(input: string): QuartzCron {
    const parts = input.trim().split(/\s+/);
    if (parts.length < 6 || parts.length > 7) throw new CronError(`a Quartz cron expression has 6 or 7 fields (seconds to day of week, then year), not ${parts.length}`);
    const fields = parts.map((p, i) => parseField(p, FIELDS[i]));
    if (fields[3] && fields[5]) throw new CronError('give day of month or day of week, and ? for the other');
    return new QuartzCron(parts.join(' '), fields);
  }

  private allows(i: number, v: number): boolean {
    return this.fields[i]?.has(v) ?? true;
  }

  /** The earliest (h, m, s) at or after the given one that the expression allows, or undefined. */
  private timeFrom(h0: number, m0: number, s0: number): [number, number, number] | undefined {
    for (let h = h0; h <= 23; h++) {
      if (!this.allows(2, h)) continue;
      for (let m = h === h0 ? m0 : 0; m <= 59; m++) {
        if (!this.allows(1, m)) continue;
        for (let s = h === h0 && m === m0 ? s0 : 0; s <= 59; s++) if (this.allows(0, s)) return [h, m, s];
      }
    }
    return undefined;
  }

  /** The first time strictly after `after` that the expression fires (UTC), or undefined if it never does again. */
  next(after: Date): Date | undefined {
    const start = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
    const day = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate());
    for (let d = 0; d < HORIZON_DAYS; d++) {
      const date = new Date(day + d * 86_400_000);
      if (!this.allows(6, date.getUTCFullYear()) || !this.allows(4, date.getUTCMonth() + 1) || !this.allows(3, date.getUTCDate()) || !this.allows(5, date.getUTCDay() + 1)) {
        continue;
      }
      const time = d === 0 ? this.timeFrom(start.getUTCHours(), start.getUTCMinutes(), start.getUTCSeconds()) : this.timeFrom(0, 0, 0);
      if (time) return new Date(date.getTime() + ((time[0] * 60 + time[1]) * 60 + time[2]) * 1000);
    }
    return undefined;
  }
}
