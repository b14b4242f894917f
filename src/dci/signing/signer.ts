import { sign } from 'node:crypto';
import { DciError } from '../../http/errors.js';
import { canonicalDigest, escapeNonAscii, sortedJson } from './canonical.js';
import type { SigningKey } from './keys.js';
import type { SignatureFormat } from './verifier.js';

/** How long a signature we emit is valid (DIGEST 7.2: OpenSPP 2 uses 5 minutes). */
export const SIGNATURE_VALIDITY_SECONDS = 300;

/**
 * The one signer of what this server emits, in the dialect each partner reads: `dci`, the profile of DIGEST 7.2
 * (cavage-style parameters in the body, as OpenSPP 2 emits them), or `jws-detached` (a detached compact JWS over the
 * sorted-key compact JSON of {header, message}, as OpenG2P emits it). A message that is resent keeps its digest and
 * is signed again at each attempt (`resign`), since a signature expires long before delivery retries end.
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

  /** The signature in a partner's dialect over the canonical text of `{header, message}`. */
  private signCanonical(format: SignatureFormat, canonical: string): string {
    return format === 'jws-detached' ? this.signJws(canonical) : this.signDigest(canonicalDigest(canonical));
  }

  /**
   * The envelope as the JSON text we send: `{"signature": ..., "header": ..., "message": ...}`, keys sorted, serialised
   * once for the wire and the signature. A failure to sign is 503, never an unsigned answer.
   */
  signedEnvelopeText(format: SignatureFormat, header: unknown, message: unknown): string {
    const body = sortedJson({ header, message });
    let signature: string;
    try {
      signature = this.signCanonical(format, escapeNonAscii(body));
    } catch (err) {
      throw new DciError(503, 'err.service.unavailable', `the server could not sign its answer: ${(err as Error).message.slice(0, 200)}`);
    }
    return withSignature(body, signature);
  }

  /**
   * A stored envelope signed again for another attempt: `sortedBody` is the sortedJson text of `{header, message}`,
   * `digest` its dci digest, computed once when the message was made.
   */
  resign(sortedBody: string, digest: string, format: SignatureFormat): string {
    return withSignature(sortedBody, format === 'jws-detached' ? this.signJws(escapeNonAscii(sortedBody)) : this.signDigest(digest));
  }
}

/** `{"signature": ...,` in front of the members of the JSON object text `body`. */
export function withSignature(body: string, signature: string): string {
  return `{"signature":${JSON.stringify(signature)},${body.slice(1)}`;
}
