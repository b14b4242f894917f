import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './backoff.js';

describe('retryDelayMs', () => {
  const opts = { baseMs: 2000, capMs: 3_600_000 };

  it('retries the first time within 2 s and doubles after that', () => {
    expect(retryDelayMs(1, opts, () => 1)).toBe(2000);
    expect(retryDelayMs(1, opts, () => 0)).toBe(1000);
    expect(retryDelayMs(2, opts, () => 1)).toBe(4000);
    expect(retryDelayMs(5, opts, () => 1)).toBe(32_000);
  });

  it('never waits more than the cap, however many attempts', () => {
    expect(retryDelayMs(12, opts, () => 1)).toBe(3_600_000);
    expect(retryDelayMs(200, opts, () => 1)).toBe(3_600_000);
    expect(retryDelayMs(200, opts, () => 0)).toBe(1_800_000);
  });

  it('spreads retries over the upper half of the interval', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(3, opts)));
    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(4000);
      expect(d).toBeLessThanOrEqual(8000);
    }
  });
});
