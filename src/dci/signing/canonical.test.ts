import { describe, expect, it } from 'vitest';
import { canonicalJson, sortedJson } from './canonical.js';

/** The definition, written the slow and obvious way: what sortedJson must equal. */
function reference(value: unknown): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') return reference((value as { toJSON: () => unknown }).toJSON());
  if (Array.isArray(value)) return `[${value.map((v) => reference(v) ?? 'null').join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.keys(value)
      .sort()
      .flatMap((k) => {
        const v = reference((value as Record<string, unknown>)[k]);
        return v === undefined ? [] : [`${JSON.stringify(k)}:${v}`];
      });
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('sortedJson', () => {
  it('sorts the keys of every object, at any depth, in arrays and in objects already sorted around them', () => {
    const value = {
      header: { version: '1.0.0', action: 'on-search', sender_id: 'gw', completed_count: 1 },
      message: {
        a_sorted: { a: 1, b: { z: 1, y: [{ d: 4, c: 3 }, 'x', null, [{ q: 1, p: 2 }]] } },
        '@type': 'Member',
        Upper: true,
        _under: false,
      },
    };
    const text = sortedJson(value);
    expect(text).toBe(reference(value));
    expect(text).toBe(
      '{"header":{"action":"on-search","completed_count":1,"sender_id":"gw","version":"1.0.0"},' +
        '"message":{"@type":"Member","Upper":true,"_under":false,"a_sorted":{"a":1,"b":{"y":[{"c":3,"d":4},"x",null,[{"p":2,"q":1}]],"z":1}}}}',
    );
  });

  it('serialises as JSON.stringify does: undefined members left out, undefined in arrays as null, toJSON applied', () => {
    const value = { when: new Date('2026-11-30T03:00:00.000Z'), gone: undefined, list: [undefined, 1], n: -0.5, s: 'é"\n' };
    expect(sortedJson(value)).toBe('{"list":[null,1],"n":-0.5,"s":"é\\"\\n","when":"2026-11-30T03:00:00.000Z"}');
    expect(sortedJson(value)).toBe(reference(value));
  });

  it('keeps a `__proto__` key of parsed JSON as a key and does not change the value it was given', () => {
    const parsed = JSON.parse('{"z":1,"__proto__":{"b":2,"a":1}}') as Record<string, unknown>;
    expect(sortedJson(parsed)).toBe('{"__proto__":{"a":1,"b":2},"z":1}');
    expect(Object.keys(parsed)).toEqual(['z', '__proto__']);
  });

  it('canonicalJson escapes non-ASCII as lowercase \\u escapes (the digest dialect of DIGEST 7.2)', () => {
    expect(canonicalJson({ name: 'Zoë', city: 'Hà Nội' })).toBe('{"city":"H\\u00e0 N\\u1ed9i","name":"Zo\\u00eb"}');
  });

  it('equals the reference on generated nested values', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const gen = (depth: number): unknown => {
      const r = rnd();
      if (depth > 3 || r < 0.3) return [1, 'a', null, true, 2.5][Math.floor(rnd() * 5)];
      if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => gen(depth + 1));
      const o: Record<string, unknown> = {};
      for (let k = Math.floor(rnd() * 6); k > 0; k--) o[String.fromCharCode(97 + Math.floor(rnd() * 26)) + Math.floor(rnd() * 3)] = gen(depth + 1);
      return o;
    };
    for (let k = 0; k < 200; k++) {
      const v = gen(0);
      expect(sortedJson(v)).toBe(reference(v));
    }
  });
});
