import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sealer } from './sealer.js';

describe('Sealer', () => {
  const sealer = new Sealer(randomBytes(32));

  it('gives every seal its own IV, also across refills of the IV pool, and every sealed value opens', () => {
    const sealed = Array.from({ length: 10_000 }, () => sealer.seal('UIN', '1001242486'));
    const ivs = new Set(sealed.map((s) => s.subarray(1, 13).toString('hex')));
    expect(ivs.size).toBe(sealed.length);
    expect(new Set(sealed.map((s) => s.toString('hex'))).size).toBe(sealed.length);
    // Sealed early, opened after the pool came round twice: the sealed value holds its own copy of the IV.
    for (const s of [sealed[0], sealed[4095], sealed[4096], sealed[9999]]) expect(sealer.open('UIN', s)).toBe('1001242486');
  });

  it('refuses a sealed value moved to another context, changed, or sealed with another key', () => {
    const s = sealer.seal('UIN', '1001242486');
    expect(() => sealer.open('BRN', s)).toThrow();
    const changed = Buffer.from(s);
    changed[14] ^= 1;
    expect(() => sealer.open('UIN', changed)).toThrow();
    expect(() => new Sealer(randomBytes(32)).open('UIN', s)).toThrow();
  });
});
