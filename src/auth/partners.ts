import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Jwks } from '../dci/signing/partner-keys.js';
import type { RateLimit } from './rate-limit.js';
import type { SignatureFormat, SignaturePolicy } from '../dci/signing/verifier.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

/**
 * A registered partner: its DCI `sender_id` and OAuth2 `client_id` are one id. This is the seam the trust issue
 * extends (signature policy, keys, callback origins, field projection, purposes).
 */
export interface Partner {
  readonly id: string;
  readonly scopes: readonly string[];
  /** `scrypt$<salt b64>$<hash b64>` */
  readonly secretHash: string;
  /** Where and how we may call this partner back; a partner without it gets no async service. */
  readonly callbacks?: CallbackSettings;
  /** Must its messages be signed (required), may they (optional: a signature present must verify), or not checked. */
  readonly signature: SignaturePolicy;
  /** The dialect we sign what we send this partner in (both are accepted from it). */
  readonly signatureFormat: SignatureFormat;
  /** Its public signing keys: inline, or the URL of its JWKS. */
  readonly jwks?: Jwks;
  readonly jwksUri?: string;
  /** The record fields it may receive (dotted paths); everything else is projected away. Absent: all fields. */
  readonly fields?: readonly string[];
  /** Purposes (consent/authorize `purpose.code`) it may ask under. Absent: any. */
  readonly purposes?: readonly string[];
  /** Its request budget on the DCI endpoints (429 beyond). Absent: unlimited. */
  readonly rateLimit?: RateLimit;
}

export interface CallbackSettings {
  /** Origins a callback may go to: `https://spmis.example.org`, `https://*.example.org`, or `*` (any public origin). */
  readonly origins: readonly string[];
  /** Used when a request names no `sender_uri`: the standard path (`/registry/on-search`...) is appended. */
  readonly baseUrl?: string;
  /** May callbacks reach loopback and private networks (development partners only). */
  readonly allowPrivateNetwork: boolean;
  /**
   * How callbacks authenticate to the partner: a fixed bearer token, or a token we obtain from the partner's OAuth2
   * token endpoint with client credentials (we are its OAuth client, DIGEST 1.3). None: no Authorization header.
   */
  readonly auth?: PeerAuth;
  /** Callbacks in flight to this partner at once (per process). */
  readonly maxConcurrent?: number;
}

export type PeerAuth = { readonly bearerToken: string } | { readonly tokenUrl: string; readonly clientId: string; readonly clientSecret: string; readonly scope?: string };

export const DEMO_PARTNER_ID = 'demo-spmis';
export const DEMO_PARTNER_SECRET = 'demo-spmis-secret';

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(secret, salt, 32);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

async function secretMatches(secret: string, stored: string): Promise<boolean> {
  const [scheme, saltB64, hashB64] = stored.split('$');
  if (scheme !== 'scrypt' || !saltB64 || !hashB64) return false;
  const expected = Buffer.from(hashB64, 'base64');
  const actual = await scrypt(secret, Buffer.from(saltB64, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}

export class PartnerDirectory {
  private readonly byId = new Map<string, Partner>();

  constructor(partners: readonly Partner[]) {
    for (const p of partners) this.byId.set(p.id, p);
  }

  get(id: string): Partner | undefined {
    return this.byId.get(id);
  }

  /** The partner when the credentials are right; undefined otherwise (unknown id and wrong secret look alike). */
  async authenticate(clientId: string, secret: string): Promise<Partner | undefined> {
    const partner = this.byId.get(clientId);
    if (!partner) {
      await scrypt(secret, randomBytes(16), 32); // same cost as a real check: no timing oracle for ids
      return undefined;
    }
    return (await secretMatches(secret, partner.secretHash)) ? partner : undefined;
  }
}

/** The development partner of the run contract (design.md section 4); never present in production. */
export async function demoPartner(): Promise<Partner> {
  return {
    id: DEMO_PARTNER_ID,
    scopes: ['*'],
    secretHash: await hashSecret(DEMO_PARTNER_SECRET),
    callbacks: { origins: ['*'], allowPrivateNetwork: true },
    // The run contract's curl walk-through sends no signature; one that is sent must verify.
    signature: 'optional',
    signatureFormat: 'dci',
  };
}
