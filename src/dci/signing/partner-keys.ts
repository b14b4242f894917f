import { createPublicKey, type KeyObject } from 'node:crypto';
import { request } from 'undici';
import { readBoundedText } from '../../http/bounded-body.js';
import { type EncryptionTarget, keyAlgOf } from './encryption.js';

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
  /** Signing keys by kid. */
  keys: Map<string, KeyObject>;
  /** The key messages to the partner are encrypted to: its first `use: "enc"` key we can use. */
  encryption?: EncryptionTarget;
  /** When these keys were fetched (0: never, the JWKS could not be had). */
  fetchedAt: number;
  /** When we last tried to fetch them, whether or not it worked. */
  attemptedAt: number;
}

const FRESH_MS = 10 * 60_000;
/** A JWKS holds a few keys: an RSA one is under 1 KB. */
const MAX_JWKS_BYTES = 1024 * 1024;

function importKeys(jwks: Jwks): Cached {
  const keys = new Map<string, KeyObject>();
  let encryption: EncryptionTarget | undefined;
  for (const jwk of jwks.keys ?? []) {
    if (typeof jwk.kid !== 'string') continue;
    try {
      const key = createPublicKey({ key: jwk as never, format: 'jwk' });
      if (jwk.use === 'enc') {
        const alg = keyAlgOf(key);
        if (alg && !encryption) encryption = { key, kid: jwk.kid, alg };
      } else {
        keys.set(jwk.kid, key);
      }
    } catch {
      // A key we cannot read is one the partner cannot sign with for us.
    }
  }
  const now = Date.now();
  return { keys, encryption, fetchedAt: now, attemptedAt: now };
}

/**
 * Partners' public keys: signing keys by `kid`, and the key to encrypt messages to. Inline JWKS are imported once per
 * JWKS (a partner replaced through the admin API brings a new one); a `jwks_uri` is fetched with undici, cached, and
 * fetched again when a signature names a kid we do not have (the partner rotated its key), at most once per
 * `refetchMinMs`.
 *
 * Fetched keys are cached by the URI they came from, not by partner: a partner given a new `jwks_uri` (the answer to a
 * leaked key) is checked against the new JWKS at once, and an upstream registry and a partner of the same id never
 * share keys. A JWKS endpoint that fails is tried again at most once per `refetchMinMs` as well, the keys we have
 * staying in use meanwhile: a dead endpoint must not hold every signed request for the fetch timeout.
 */
export class PartnerKeys {
  private readonly inline = new WeakMap<Jwks, Cached>();
  private readonly cache = new Map<string, Cached>();
  private readonly fetching = new Map<string, Promise<Cached>>();

  constructor(private readonly opts: { timeoutMs: number; refetchMinMs: number }) {}

  async get(partner: PartnerKeySource, kid: string): Promise<KeyObject | undefined> {
    return (await this.keysOf(partner, kid))?.keys.get(kid);
  }

  /** Did the last fetch of the partner's jwks_uri fail? Then a kid we lack may be one it publishes. */
  unreachable(partner: PartnerKeySource): boolean {
    const cached = !partner.jwks && partner.jwksUri ? this.cache.get(partner.jwksUri) : undefined;
    return !!cached && cached.attemptedAt > cached.fetchedAt;
  }

  async encryptionTarget(partner: PartnerKeySource): Promise<EncryptionTarget | undefined> {
    return (await this.keysOf(partner))?.encryption;
  }

  private async keysOf(partner: PartnerKeySource, kid?: string): Promise<Cached | undefined> {
    if (partner.jwks) {
      let cached = this.inline.get(partner.jwks);
      if (!cached) {
        cached = importKeys(partner.jwks);
        this.inline.set(partner.jwks, cached);
      }
      return cached;
    }
    const uri = partner.jwksUri;
    if (!uri) return undefined;
    let cached = this.cache.get(uri);
    const now = Date.now();
    const mayTry = !cached || now - cached.attemptedAt >= this.opts.refetchMinMs;
    const stale = !cached || now - cached.fetchedAt > FRESH_MS;
    const unknownKid = kid !== undefined && !cached?.keys.has(kid);
    if (mayTry && (stale || unknownKid)) {
      try {
        cached = await this.fetch(uri);
      } catch {
        // Keep using the keys we have while the partner's JWKS endpoint is down; note the attempt.
        cached = this.cache.get(uri) ?? { keys: new Map(), fetchedAt: 0, attemptedAt: 0 };
        cached.attemptedAt = Date.now();
        this.cache.set(uri, cached);
      }
    }
    return cached;
  }

  private fetch(uri: string): Promise<Cached> {
    let pending = this.fetching.get(uri);
    if (!pending) {
      pending = (async () => {
        const res = await request(uri, { method: 'GET', headersTimeout: this.opts.timeoutMs, bodyTimeout: this.opts.timeoutMs, headers: { accept: 'application/json' } });
        const { text, complete } = await readBoundedText(res.body, { maxBytes: MAX_JWKS_BYTES, deadlineMs: this.opts.timeoutMs });
        if (res.statusCode !== 200) throw new Error(`JWKS ${uri} answered HTTP ${res.statusCode}`);
        if (!complete) throw new Error(`JWKS ${uri} is larger than ${MAX_JWKS_BYTES} bytes`);
        const cached = importKeys(JSON.parse(text) as Jwks);
        this.cache.set(uri, cached);
        return cached;
      })().finally(() => this.fetching.delete(uri));
      this.fetching.set(uri, pending);
    }
    return pending;
  }
}
