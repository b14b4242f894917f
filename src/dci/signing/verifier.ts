import { createHash, type KeyObject, verify } from 'node:crypto';
import { flattenedVerify } from 'jose';
import { DciError } from '../../http/errors.js';
import type { PartnerKeys, PartnerKeySource } from './partner-keys.js';
import { rawCanonicalForms } from './raw-canonical.js';

export type SignaturePolicy = 'required' | 'optional' | 'off';
export type SignatureFormat = 'dci' | 'jws-detached';

export interface SigningPartner extends PartnerKeySource {
  readonly signature: SignaturePolicy;
}

/** Clock skew tolerated on `created` and `expires` (DIGEST 7.2: OpenSPP 2 allows 60 s). */
const SKEW_SECONDS = 60;
/** JWS algorithms a partner may sign with: never `none`, never a shared-secret HS* (DIGEST 7.2, issue 4). */
const JWS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

const invalid = (why: string) => new DciError(401, 'err.signature.invalid', `signature invalid: ${why}`);
const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** The parameters of a DCI (cavage-style) signature value, with or without the `Signature:` prefix. */
export function parseSignatureParams(value: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of value.replace(/^\s*Signature:\s*/i, '').matchAll(/([A-Za-z]+)\s*=\s*"([^"]*)"/g)) params[m[1]] = m[2];
  return params;
}

const DETACHED_JWS = /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/;

/**
 * Verifies the `signature` of an incoming envelope against the sender's keys, in either dialect: `dci` (DIGEST 7.2,
 * OpenSPP 2) or a detached JWS (OpenG2P). What is verified is the request text as received (rawCanonicalForms), so a
 * sender's number formatting and escaping do not break its signature.
 */
export class SignatureVerifier {
  constructor(private readonly keys: PartnerKeys) {}

  async verify(partner: SigningPartner, signature: unknown, rawBody: string, senderId: string): Promise<void> {
    if (partner.signature === 'off') return;
    const value = typeof signature === 'string' ? signature.trim() : '';
    if (value === '') {
      if (partner.signature === 'required') throw new DciError(401, 'err.signature.missing', 'this partner must sign its messages (signature is empty)');
      return;
    }
    const forms = rawCanonicalForms(rawBody);
    if (!forms) throw invalid('the body has no header to verify');
    if (DETACHED_JWS.test(value)) return this.verifyJws(partner, value, forms);
    return this.verifyDci(partner, value, forms, senderId);
  }

  private async key(partner: SigningPartner, kid: string): Promise<KeyObject> {
    const key = await this.keys.get(partner, kid);
    if (key) return key;
    // Not the sender's fault, and worth a retry: its JWKS endpoint is down or unreachable from here.
    if (this.keys.unreachable(partner)) throw new DciError(503, 'err.service.unavailable', `the sender's JWKS could not be fetched to find key id ${kid.slice(0, 100)}; try again later`);
    throw invalid(`unknown key id ${kid.slice(0, 100)}`);
  }

  private async verifyDci(partner: SigningPartner, value: string, forms: string[], senderId: string): Promise<void> {
    const p = parseSignatureParams(value);
    const kidId = p.kidId ?? p.keyId;
    if (!kidId || !p.signature || !p.created || !p.expires) throw invalid('kidId, created, expires and signature are required');
    const [sender, kid, kidAlgorithm] = kidId.split('|');
    if (sender !== senderId || sender !== partner.id) throw invalid('kidId names another sender');
    if (!kid) throw invalid('kidId has no key id');
    const algorithm = (p.algorithm ?? kidAlgorithm ?? '').toLowerCase();
    const created = Number(p.created);
    const expires = Number(p.expires);
    const now = Date.now() / 1000;
    if (!Number.isFinite(created) || !Number.isFinite(expires)) throw invalid('created and expires must be Unix seconds');
    if (expires + SKEW_SECONDS < now) throw invalid('expired');
    if (created - SKEW_SECONDS > now) throw invalid('created in the future');
    const key = await this.key(partner, kid);
    const ed25519 = algorithm === 'ed25519' || algorithm === 'eddsa';
    const rsa = algorithm === 'rsa-sha256' || algorithm === 'rs256';
    if (!(ed25519 && key.asymmetricKeyType === 'ed25519') && !(rsa && key.asymmetricKeyType === 'rsa')) {
      throw invalid(`algorithm ${algorithm.slice(0, 30)} does not fit key ${kid.slice(0, 100)}`);
    }
    const signed = Buffer.from(p.signature, 'base64');
    const fields = (p.headers ?? '(created) (expires) digest').trim().split(/\s+/);
    // The sender names what it signed; it must be the message's digest and the times checked above, or the signature
    // would hold for any message (no digest) or any time (no (expires)).
    for (const required of ['(created)', '(expires)', 'digest']) {
      if (!fields.some((f) => f.toLowerCase() === required)) throw invalid(`headers must include ${required}`);
    }
    for (const form of forms) {
      const digest = createHash('sha256').update(form).digest('base64');
      // Some senders prefix the digest with its algorithm (`SHA-256=`), as in the HTTP Digest header.
      for (const digestValue of [digest, `SHA-256=${digest}`]) {
        const values: Record<string, string> = { '(created)': p.created, '(expires)': p.expires, digest: digestValue };
        const signingString = fields.map((f) => `${f}: ${values[f.toLowerCase()] ?? ''}`).join('\n');
        if (verify(rsa ? 'sha256' : null, Buffer.from(signingString), key, signed)) return;
      }
    }
    throw invalid('it does not match the message');
  }

  private async verifyJws(partner: SigningPartner, value: string, forms: string[]): Promise<void> {
    const [protectedB64, , signature] = value.split('.');
    let header: { alg?: unknown; kid?: unknown; b64?: unknown };
    try {
      header = JSON.parse(Buffer.from(protectedB64, 'base64url').toString('utf8'));
    } catch {
      throw invalid('the JWS header is not JSON');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw invalid('the JWS header is not a JSON object');
    if (typeof header.alg !== 'string' || !JWS_ALGORITHMS.includes(header.alg)) throw invalid(`JWS algorithm ${String(header.alg).slice(0, 20)} is not accepted`);
    if (typeof header.kid !== 'string') throw invalid('the JWS header has no kid');
    const key = await this.key(partner, header.kid);
    for (const form of forms) {
      try {
        await flattenedVerify(
          { protected: protectedB64, payload: header.b64 === false ? form : b64url(form), signature },
          key,
          { algorithms: JWS_ALGORITHMS },
        );
        return;
      } catch {
        // try the next canonical form
      }
    }
    throw invalid('the JWS does not match the message');
  }
}
