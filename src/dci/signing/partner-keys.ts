import { createPublicKey, type KeyObject } from 'node:crypto';
import { request } from 'undici';

export interface Jwks {
  keys: (Record<string, unknown> & { kid?: string; use?: string })[];
}

/** Where a partner's public signing keys come from: inline, or its published JWKS. */
export interface PartnerKeySource {
  readonly id: string;
  readonly jwks?: Jwks;
  readonly jwksUri?: string;
}

interface Cached {
  keys: Map<string, KeyObject>;
  fetchedAt: number;
}

const FRESH_MS = 10 * 60_000;
/** An unknown kid refetches the JWKS (key rotation), but not more often than this. */
const REFETCH_MIN_MS = 30_000;

function importKeys(jwks: Jwks): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const jwk of jwks.keys ?? []) {
    if (typeof jwk.kid !== 'string' || (jwk.use !== undefined && jwk.use !== 'sig')) continue;
    try {
      keys.set(jwk.kid, createPublicKey({ key: jwk as never, format: 'jwk' }));
    } catch {
      // A key we cannot read is one the partner cannot sign with for us.
    }
  }
  return keys;
}

/**
 * Partners' public signing keys by `kid`: inline JWKS imported once; a `jwks_uri` fetched with undici, cached, and
 * fetched again when a signature names a kid we do not have (the partner rotated its key).
 */
export class PartnerKeys {
  private readonly cache = new Map<string, Cached>();
  private readonly fetching = new Map<string, Promise<Cached>>();

  constructor(private readonly opts: { timeoutMs: number }) {}

  async get(partner: PartnerKeySource, kid: string): Promise<KeyObject | undefined> {
    if (partner.jwks) {
      let cached = this.cache.get(partner.id);
      if (!cached) {
        cached = { keys: importKeys(partner.jwks), fetchedAt: Date.now() };
        this.cache.set(partner.id, cached);
      }
      return cached.keys.get(kid);
    }
    if (!partner.jwksUri) return undefined;
    let cached = this.cache.get(partner.id);
    const stale = !cached || Date.now() - cached.fetchedAt > FRESH_MS;
    const unknownKid = cached && !cached.keys.has(kid) && Date.now() - cached.fetchedAt > REFETCH_MIN_MS;
    if (stale || unknownKid) {
      try {
        cached = await this.fetch(partner.id, partner.jwksUri);
      } catch {
        // Keep verifying with the keys we have while the partner's JWKS endpoint is down.
      }
    }
    return cached?.keys.get(kid);
  }

  private fetch(partnerId: string, uri: string): Promise<Cached> {
    let pending = this.fetching.get(partnerId);
    if (!pending) {
      pending = (async () => {
        const res = await request(uri, { method: 'GET', headersTimeout: this.opts.timeoutMs, bodyTimeout: this.opts.timeoutMs, headers: { accept: 'application/json' } });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`JWKS ${uri} answered HTTP ${res.statusCode}`);
        const cached = { keys: importKeys(JSON.parse(text) as Jwks), fetchedAt: Date.now() };
        this.cache.set(partnerId, cached);
        return cached;
      })().finally(() => this.fetching.delete(partnerId));
      this.fetching.set(partnerId, pending);
    }
    return pending;
  }
}
