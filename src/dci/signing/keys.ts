import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';

/** A server signing key: tokens now, DCI envelopes once the signer lands (trust issue). */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** RFC 7638 thumbprint: the JWKS `kid` and the middle part of a DCI `kidId` (DIGEST 7.4). */
  readonly kid: string;
  readonly alg: 'EdDSA' | 'RS256';
  readonly publicJwk: JWK;
}

export async function signingKeyFrom(privateKey: KeyObject): Promise<SigningKey> {
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: 'jwk' }) as JWK;
  const alg = privateKey.asymmetricKeyType === 'ed25519' ? 'EdDSA' : privateKey.asymmetricKeyType === 'rsa' ? 'RS256' : null;
  if (!alg) throw new Error(`unsupported signing key type ${privateKey.asymmetricKeyType}: use Ed25519 or RSA`);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { privateKey, publicKey, kid, alg, publicJwk: { ...jwk, kid, use: 'sig', alg } };
}

export const generateSigningKey = (): Promise<SigningKey> =>
  signingKeyFrom(generateKeyPairSync('ed25519').privateKey);

/**
 * SIGNING_KEY (a PEM or JWK file) when configured; otherwise (development only: config refuses production without
 * one) a key generated once and kept under DATA_DIR so tokens survive restarts.
 */
export async function loadSigningKey(opts: { path?: string; dataDir: string }): Promise<SigningKey> {
  if (opts.path) return signingKeyFrom(parsePrivateKey(readFileSync(opts.path, 'utf8')));
  const file = `${opts.dataDir}/keys/signing-key.pem`;
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
  }
  return signingKeyFrom(parsePrivateKey(readFileSync(file, 'utf8')));
}

function parsePrivateKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return createPrivateKey({ key: JSON.parse(trimmed), format: 'jwk' });
  return createPrivateKey(trimmed);
}

/** GET /.well-known/jwks.json body (RFC 7517): signing keys (current first, then retired ones) and the encryption key. */
export function jwksDocument(keys: readonly { publicJwk: JWK }[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}
