import { describe, expect, it } from 'vitest';
import { CronError, QuartzCron } from './cron.js';

const next = (expr: string, after: string) => QuartzCron.parse(expr).next(new Date(after))?.toISOString();

describe('Quartz cron (DIGEST 3.4 subscription frequency)', () => {
  it('fires on the 5th and 15th of each month at midnight (the spec example)', () => {
    expect(next('0 0 0 5,15 * ? *', '2026-11-29T10:00:00Z')).toBe('2026-12-05T00:00:00.000Z');
    expect(next('0 0 0 5,15 * ? *', '2026-12-05T00:00:00Z')).toBe('2026-12-15T00:00:00.000Z');
    expect(next('0 0 0 5,15 * ? *', '2026-12-04T23:59:59.500Z')).toBe('2026-12-05T00:00:00.000Z');
  });

  it('takes steps, ranges, names and an optional year', () => {
    expect(next('0 */15 * * * ?', '2026-11-29T10:07:30Z')).toBe('2026-11-29T10:15:00.000Z');
    expect(next('30 0 9-17/4 ? * MON-FRI', '2026-11-28T18:00:00Z')).toBe('2026-11-30T09:00:30.000Z'); // Saturday -> Monday 09:00:30
    expect(next('0 0 12 ? JAN,JUL SUN 2027', '2026-11-29T00:00:00Z')).toBe('2027-01-03T12:00:00.000Z');
    expect(next('0 0 0 29 FEB ? *', '2026-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
  });

  it('says when it never fires again', () => {
    expect(next('0 0 0 1 1 ? 2020', '2026-01-01T00:00:00Z')).toBeUndefined();
    expect(next('0 0 0 31 2 ? *', '2026-01-01T00:00:00Z')).toBeUndefined();
  });

  it('refuses what it does not support, with the reason', () => {
    for (const [expr, reason] of [
      ['0 0 * * *', /6 or 7 fields/],
      ['0 0 0 L * ? *', /L, W and # are not supported/],
      ['0 0 0 ? * 6#3 *', /L, W and # are not supported/],
      ['0 0 0 5 * MON *', /day of month or day of week/],
      ['0 60 0 * * ?', /minutes: 60 is not between 0 and 59/],
      ['0 0 0 ? FOO * *', /month: FOO/],
      ['0 0 5-1 * * ?', /runs backwards/],
      ['0 0 0/0 * * ?', /bad step/],
    ] as const) {
      expect(() => QuartzCron.parse(expr), expr).toThrow(CronError);
      expect(() => QuartzCron.parse(expr), expr).toThrow(reason);
    }
  });
});
