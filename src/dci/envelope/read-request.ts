import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import type { ValidateFunction } from 'ajv';
import type { MessageCrypto } from '../signing/encryption.js';
import { RateLimiter } from '../../auth/rate-limit.js';
import type { AppEnv } from '../../http/context.js';
import { DciError } from '../../http/errors.js';
import { readJsonObject } from '../../http/json-body.js';
import type { SignatureVerifier } from '../signing/verifier.js';
import { isObject, normalizeRequestEnvelope } from './normalize.js';
import { assertValid } from './schemas.js';
import { canonicalJson } from '../signing/canonical.js';

/**
 * Reads an incoming DCI envelope the one way every DCI route does: JSON body, liberal rewrites, schema, sender, then
 * the signature per the sender's policy (DIGEST 7.2, 7.6). The signature travels in the body's `signature`, or in an
 * HTTP `Signature` header when the body carries none (DIGEST 7.1).
 */
export class DciRequestReader {
  private readonly limiter = new RateLimiter();

  constructor(
    private readonly verifier: SignatureVerifier,
    private readonly crypto: MessageCrypto,
    private readonly maxBodyBytes: number,
  ) {}

  async read(c: Context<AppEnv>, opts: { validate: ValidateFunction; batchMember?: string }): Promise<Record<string, unknown>> {
    const partnerId = c.get('auth').partnerId;
    // The bearer check found the token's partner registered (a removed one's tokens are refused there).
    const partner = c.get('partner');
    if (partner.rateLimit) {
      const taken = this.limiter.take(partner.id, partner.rateLimit);
      if (!taken.ok) {
        throw new DciError(429, 'err.request.too_many_requests', `rate limit of ${partner.rateLimit.perSecond} requests/s exceeded`, {
          'retry-after': String(taken.retryAfterSeconds),
        });
      }
    }
    const { body, text } = await readJsonObject(c, this.maxBodyBytes);
    normalizeRequestEnvelope(body, opts.batchMember);
    // The signature covers what was sent (the encrypted message, DIGEST 7.5) and is checked below over the raw text.
    if (isObject(body.header) && body.header.is_msg_encrypted === true) {
      body.message = await this.crypto.decrypt(body.message);
      normalizeRequestEnvelope(body, opts.batchMember);
    }
    assertValid(opts.validate, body);
    const header = isObject(body.header) ? body.header : {};
    if (header.sender_id !== undefined && header.sender_id !== partnerId) {
      throw new DciError(403, 'err.sender_id.invalid', 'header.sender_id does not match the access token');
    }
    const signature = typeof body.signature === 'string' && body.signature.trim() !== '' ? body.signature : c.req.header('signature');
    await this.verifier.verify(partner, signature, text, partnerId);
    return body;
  }
}

/**
 * What tells one received message from another with the same `message_id` (DIGEST 7.6): the SHA-256 of its header
 * and message as canonical JSON, so that a resend formatted otherwise is still the same message.
 */
export function messageHash(header: unknown, message: unknown): string {
  return createHash('sha256').update(canonicalJson({ header, message })).digest('hex');
}
