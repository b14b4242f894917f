import { sign } from 'node:crypto';
import type { SigningKey } from './keys.js';

/** How long a signature we emit is valid (DIGEST 7.2: OpenSPP 2 uses 5 minutes). */
export const SIGNATURE_VALIDITY_SECONDS = 300;

/**
 * The one signer of what this server emits: the DCI `signature` profile of DIGEST 7.2 (cavage-style parameters in
 * the body, as OpenSPP 2 emits them). `digest` is `envelopeDigest(header, message)`; callers that resend a message
 * keep its digest and sign again at each attempt, since a signature expires long before delivery retries end.
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

  /** The envelope text with a fresh signature in front of `unsignedBody` (the JSON text of `{header, message}`). */
  signedBody(unsignedBody: string, digest: string): string {
    return `{"signature":${JSON.stringify(this.signDigest(digest))},${unsignedBody.slice(1)}`;
  }
}
