import { sign } from 'node:crypto';
import { DciError } from '../../http/errors.js';
import { canonicalJson, envelopeDigest } from './canonical.js';
import type { SigningKey } from './keys.js';
import type { SignatureFormat } from './verifier.js';

/** How long a signature we emit is valid (DIGEST 7.2: OpenSPP 2 uses 5 minutes). */
export const SIGNATURE_VALIDITY_SECONDS = 300;

/**
 * The one signer of what this server emits, in the dialect each partner reads: `dci`, the profile of DIGEST 7.2
 * (cavage-style parameters in the body, as OpenSPP 2 emits them), or `jws-detached` (a detached compact JWS over the
 * sorted-key compact JSON of {header, message}, as OpenG2P emits it). For `dci`, `digest` is
 * `envelopeDigest(header, message)`; callers that resend a message keep its digest and sign again at each attempt,
 * since a signature expires long before delivery retries end. A JWS carries no expiry.
 */
export class EnvelopeSigner {
  constructor(
    private readonly key: SigningKey,
    private readonly senderId: string,
  ) {}

  signDigest(digest: string, now: number = Date.now()): string {
    const created = Math.floor(now / 1000);
    const expires = created + SIGNATURE_VALIDITY_SECONDS;
    const signingString = `(created): ${created}\n(expires): ${expires}\ndigest: ${digest}`;
    const rsa = this.key.alg === 'RS256';
    const signature = sign(rsa ? 'sha256' : null, Buffer.from(signingString), this.key.privateKey).toString('base64');
    const algorithm = rsa ? 'rsa-sha256' : 'ed25519';
    return (
      `namespace="dci", kidId="${this.senderId}|${this.key.kid}|${algorithm}", algorithm="${algorithm}", ` +
      `created="${created}", expires="${expires}", headers="(created) (expires) digest", signature="${signature}"`
    );
  }

  /** A detached compact JWS (`header..signature`) over the canonical `{header, message}`. */
  signJws(canonical: string): string {
    const alg = this.key.alg;
    const protectedB64 = Buffer.from(JSON.stringify({ alg, kid: this.key.kid })).toString('base64url');
    const input = `${protectedB64}.${Buffer.from(canonical, 'utf8').toString('base64url')}`;
    const signature = sign(alg === 'RS256' ? 'sha256' : null, Buffer.from(input), this.key.privateKey).toString('base64url');
    return `${protectedB64}..${signature}`;
  }

  /** The signature of an envelope in a partner's dialect; a failure to sign is 503, never an unsigned answer. */
  signatureFor(format: SignatureFormat, header: unknown, message: unknown): string {
    try {
      return format === 'jws-detached' ? this.signJws(canonicalJson({ header, message })) : this.signDigest(envelopeDigest(header, message));
    } catch (err) {
      throw new DciError(503, 'err.service.unavailable', `the server could not sign its answer: ${(err as Error).message.slice(0, 200)}`);
    }
  }

  /**
   * The envelope text with a fresh signature in front of `unsignedBody` (the JSON text of `{header, message}`);
   * `digest` saves the dci dialect the canonicalisation of a body that is resent.
   */
  signedBody(unsignedBody: string, digest: string, format: SignatureFormat = 'dci'): string {
    const signature = format === 'jws-detached' ? this.signJws(canonicalJson(JSON.parse(unsignedBody))) : this.signDigest(digest);
    return `{"signature":${JSON.stringify(signature)},${unsignedBody.slice(1)}`;
  }
}
