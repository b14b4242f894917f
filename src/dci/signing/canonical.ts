import { createHash } from 'node:crypto';

/**
 * Canonical JSON of a DCI `{header, message}` for signature digests (DIGEST 7.2): object keys sorted, no whitespace,
 * non-ASCII escaped as lowercase `\uXXXX`, which is what OpenSPP 2's Python verifier hashes
 * (`json.dumps(sort_keys=True, separators=(",", ":"))`, ensure_ascii) and equals RFC 8785 for ASCII text and integers.
 */
export function canonicalJson(value: unknown): string {
  return escapeNonAscii(sortedJson(value));
}

/**
 * Compact JSON with sorted keys but non-ASCII left as it is: valid JSON to send, whose canonical form is
 * `escapeNonAscii` of it. Building what we emit this way serialises it once for both the wire and the signature.
 */
export function sortedJson(value: unknown): string {
  return JSON.stringify(value, sortKeys) ?? 'null';
}

/**
 * JSON.stringify replacer giving objects their keys in sorted order. An object whose keys are already sorted is
 * returned as it is (no copy): the native serialiser does the rest, several times faster than a hand-written one.
 */
function sortKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1] > keys[i]) {
      const sorted: Record<string, unknown> = {};
      for (const k of keys.sort()) sorted[k] = (value as Record<string, unknown>)[k];
      return sorted;
    }
  }
  return value;
}

const NON_ASCII = /[\u0080-\uffff]/g;
export function escapeNonAscii(text: string): string {
  return text.replace(NON_ASCII, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Base64 SHA-256 of the canonical `{header, message}`: the `digest` a DCI signature signs. */
export function envelopeDigest(header: unknown, message: unknown): string {
  return canonicalDigest(canonicalJson({ header, message }));
}

/** Base64 SHA-256 of a canonical text. */
export function canonicalDigest(canonical: string): string {
  return createHash('sha256').update(canonical).digest('base64');
}
