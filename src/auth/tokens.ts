import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { SigningKey } from '../dci/signing/keys.js';
import type { Partner } from './partners.js';
import { covers } from './scopes.js';

export interface AccessClaims {
  readonly partnerId: string;
  readonly scopes: readonly string[];
  readonly jti: string;
  /** Unix seconds. */
  readonly exp: number;
  /** The partner's credentialsSince when the token was issued. */
  readonly credentialsSince?: number;
}

/** Who tokens are issued to: the registered partners, as they are now. */
export interface TokenHolders {
  get(id: string): Partner | undefined;
  /** Reads the partners again if another process changed them. */
  refresh(): Promise<void>;
}

/**
 * Issues and verifies our OAuth2 access tokens (JWT, signed with the server key). Verified tokens are cached until
 * they expire: an Ed25519 verify per request would cost more than the registry lookup it guards.
 */
export class AccessTokens {
  private readonly cache = new Map<string, AccessClaims>();
  private static readonly CACHE_MAX = 10_000;
  /** Cached claims whose partner was unknown here, for which the partners were read again once. */
  private readonly unknownHolderRead = new WeakSet<AccessClaims>();

  constructor(
    private readonly key: SigningKey,
    private readonly issuer: string,
    private readonly ttlSeconds: number,
    /** Retired keys: tokens they signed stay valid until they expire (rotation without downtime). */
    private readonly previousKeys: readonly SigningKey[],
    private readonly holders: TokenHolders,
  ) {}

  async issue(partner: Partner, scopes: readonly string[]): Promise<{ token: string; expiresIn: number }> {
    const token = await new SignJWT({ scope: scopes.join(' '), ...(partner.credentialsSince === undefined ? {} : { csince: partner.credentialsSince }) })
      .setProtectedHeader({ alg: this.key.alg, kid: this.key.kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setAudience(this.issuer)
      .setSubject(partner.id)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key.privateKey);
    return { token, expiresIn: this.ttlSeconds };
  }

  /**
   * The token's claims and its partner as registered now, or undefined when the token is malformed, forged, expired,
   * not ours, or its partner is no longer registered or was issued it under a secret it no longer holds. Its scopes
   * are those its partner still holds: a partner removed or narrowed through the admin API loses what it lost at once,
   * whatever its tokens say.
   */
  async verify(token: string): Promise<{ claims: AccessClaims; partner: Partner } | undefined> {
    const claims = await this.verifiedClaims(token);
    if (!claims) return undefined;
    let partner = this.holders.get(claims.partnerId);
    if (partner ? (claims.credentialsSince ?? 0) > (partner.credentialsSince ?? 0) : !this.unknownHolderRead.has(claims)) {
      // Issued under a secret set, or to a partner added, since this process last read the partners (by another
      // process): read them now rather than refuse a good token until the next reload. A token whose partner is still
      // unknown then (removed) reads them no more.
      if (!partner) this.unknownHolderRead.add(claims);
      await this.holders.refresh();
      partner = this.holders.get(claims.partnerId);
    }
    if (!partner || claims.credentialsSince !== partner.credentialsSince) return undefined;
    const scopes = claims.scopes.filter((s) => partner.scopes.some((h) => covers(h, s)));
    return { claims: scopes.length === claims.scopes.length ? claims : { ...claims, scopes }, partner };
  }

  private async verifiedClaims(token: string): Promise<AccessClaims | undefined> {
    const now = Math.floor(Date.now() / 1000);
    const cached = this.cache.get(token);
    if (cached) {
      if (cached.exp > now) return cached;
      this.cache.delete(token);
    }
    try {
      const keys = [this.key, ...this.previousKeys];
      const { payload } = await jwtVerify(token, (header) => keys.find((k) => k.kid === header.kid)?.publicKey ?? this.key.publicKey, {
        issuer: this.issuer,
        audience: this.issuer,
        algorithms: [...new Set(keys.map((k) => k.alg))],
        typ: 'at+jwt',
      });
      if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number' || typeof payload.jti !== 'string') return undefined;
      const claims: AccessClaims = {
        partnerId: payload.sub,
        scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
        jti: payload.jti,
        exp: payload.exp,
        credentialsSince: typeof payload.csince === 'number' ? payload.csince : undefined,
      };
      if (this.cache.size >= AccessTokens.CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(token, claims);
      return claims;
    } catch {
      return undefined;
    }
  }
}
