import { createHash } from 'node:crypto';

/**
 * Canonical JSON of a DCI `{header, message}` for signature digests (DIGEST 7.2): object keys sorted, no whitespace,
 * non-ASCII escaped as lowercase `\uXXXX`, which is what OpenSPP 2's Python verifier hashes
 * (`json.dumps(sort_keys=True, separators=(",", ":"))`, ensure_ascii) and equals RFC 8785 for ASCII text and integers.
 */
export function canonicalJson(value: unknown): string {
  return escapeNonAscii(stringifySorted(value));
}

function stringifySorted(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stringifySorted(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function') continue;
    parts.push(`${JSON.stringify(key)}:${stringifySorted(v)}`);
  }
  return `{${parts.join(',')}}`;
}

const NON_ASCII = /[\u0080-\uffff]/g;
function escapeNonAscii(text: string): string {
  return text.replace(NON_ASCII, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Base64 SHA-256 of the canonical `{header, message}`: the `digest` a DCI signature signs. */
export function envelopeDigest(header: unknown, message: unknown): string {
  return createHash('sha256').update(canonicalJson({ header, message })).digest('base64');
}
