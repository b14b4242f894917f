/** Room kept in a message for what goes around its items: header, signature, ids (about 1-2 KB as sent). */
const ENVELOPE_BYTES = 4096;

/**
 * Items split into messages of at most `maxItems` that stay within `maxBytes` as sent: items counted in UTF-8 bytes,
 * room kept for the envelope, and for a message sent encrypted the base64url growth of its ciphertext (4/3). A
 * receiver refuses a message over its body limit at every retry (ours: MAX_BODY_BYTES, 413), so pages sized by the
 * items' characters alone, a little over the limit with their envelope, were never received. An item too large for
 * any message goes alone.
 */
export function messagePages<T>(items: T[], limits: { maxBytes: number; maxItems?: number; encrypted?: boolean }, content: (item: T) => unknown = (item) => item): T[][] {
  const room = limits.maxBytes - Math.min(ENVELOPE_BYTES, limits.maxBytes / 2);
  const budget = limits.encrypted ? (room * 3) / 4 : room;
  const maxItems = limits.maxItems ?? Infinity;
  const pages: T[][] = [];
  let page: T[] = [];
  let bytes = 0;
  for (const item of items) {
    // The separating comma of a JSON array counts too.
    const size = Buffer.byteLength(JSON.stringify(content(item))) + 1;
    if (page.length > 0 && (page.length >= maxItems || bytes + size > budget)) {
      pages.push(page);
      page = [];
      bytes = 0;
    }
    page.push(item);
    bytes += size;
  }
  if (page.length > 0) pages.push(page);
  return pages;
}
