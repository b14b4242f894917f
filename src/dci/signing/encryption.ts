import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, FlattenedEncrypt, flattenedDecrypt, type JWK } from 'jose';
import { DciError } from '../../http/errors.js';
import { unprocessableJson } from '../../http/json-body.js';

/**
 * DCI message encryption (DIGEST 7.5): with `header.is_msg_encrypted`, `message` is a JWE in the flattened JSON
 * serialization with only the per-recipient `header` ({alg, enc, kid}; no protected header, so no AAD), `kid` naming
 * the receiver's `use: "enc"` key, and the UTF-8 JSON of the clear message as plaintext.
 */

export const CONTENT_ENCRYPTION = 'A256GCM';
/** Key management by key type: RSA-OAEP-256 for RSA, ECDH-ES+A256KW for P-256 and X25519 (DIGEST 7.5's two). */
const KEY_ALG = { rsa: 'RSA-OAEP-256', ec: 'ECDH-ES+A256KW', x25519: 'ECDH-ES+A256KW' } as const;
type KeyAlg = (typeof KEY_ALG)[keyof typeof KEY_ALG];

export interface EncryptionKey {
  readonly privateKey: KeyObject;
  readonly kid: string;
  readonly alg: KeyAlg;
  /** For the JWKS, beside the signing keys. */
  readonly publicJwk: JWK;
}

/** A public key messages are encrypted to: a partner's `use: "enc"` JWK. */
export interface EncryptionTarget {
  readonly key: KeyObject;
  readonly kid: string;
  readonly alg: KeyAlg;
}

export function keyAlgOf(key: KeyObject): KeyAlg | undefined {
  return KEY_ALG[key.asymmetricKeyType as keyof typeof KEY_ALG];
}

export async function encryptionKeyFrom(privateKey: KeyObject): Promise<EncryptionKey> {
  const alg = keyAlgOf(privateKey);
  if (!alg) throw new Error(`unsupported encryption key type ${privateKey.asymmetricKeyType}: use RSA, EC P-256 or X25519`);
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { privateKey, kid, alg, publicJwk: { ...jwk, kid, use: 'enc', alg } };
}

/**
 * ENCRYPTION_KEY (PEM or JWK file) when configured; otherwise an RSA key generated once under DATA_DIR (RSA-OAEP-256
 * is what every DCI implementation's JOSE library reads).
 */
export async function loadEncryptionKey(opts: { path?: string; dataDir: string }): Promise<EncryptionKey> {
  const file = opts.path ?? `${opts.dataDir}/keys/encryption-key.pem`;
  if (!opts.path && !existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
  }
  const text = readFileSync(file, 'utf8').trim();
  return encryptionKeyFrom(text.startsWith('{') ? createPrivateKey({ key: JSON.parse(text), format: 'jwk' }) : createPrivateKey(text));
}

const invalid = (message: string) => new DciError(400, 'err.encryption.invalid', message);

/**
 * The parameters of a JWE's protected header. DIGEST 7.5 puts alg, enc and kid in the unprotected `header`, but JOSE
 * libraries write a flattened JWE with them protected by default: either place is read.
 */
function protectedHeaderOf(encoded: unknown): Record<string, unknown> {
  if (encoded === undefined) return {};
  try {
    const parsed: unknown = typeof encoded === 'string' ? JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) : undefined;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // Refused below.
  }
  throw invalid('encrypted message: protected must be a base64url JSON object');
}

/** Opens and seals DCI messages. Without a key of our own, encrypted requests are refused. */
export class MessageCrypto {
  constructor(private readonly own?: EncryptionKey) {}

  /** The clear message of an EncryptedMessage sent to us; err.encryption.invalid (400) when it cannot be opened. */
  async decrypt(message: unknown): Promise<Record<string, unknown>> {
    if (!this.own) throw invalid('this server accepts no encrypted messages: it has no encryption key');
    if (typeof message !== 'object' || message === null || Array.isArray(message)) throw invalid('an encrypted message must be a JWE object');
    const jwe = message as Record<string, unknown>;
    for (const member of ['ciphertext', 'iv', 'tag', 'encrypted_key'] as const) {
      if (typeof jwe[member] !== 'string') throw invalid(`encrypted message: ${member} is required`);
    }
    const unprotected = typeof jwe.header === 'object' && jwe.header !== null && !Array.isArray(jwe.header) ? (jwe.header as Record<string, unknown>) : undefined;
    const header = { ...protectedHeaderOf(jwe.protected), ...unprotected };
    if (!unprotected && typeof jwe.protected !== 'string') throw invalid('encrypted message: header {alg, enc, kid} is required');
    if (header.kid !== undefined && header.kid !== this.own.kid) throw invalid(`encrypted message: kid ${String(header.kid).slice(0, 100)} is not our encryption key`);
    if (header.alg !== this.own.alg) throw invalid(`encrypted message: alg must be ${this.own.alg} for our key`);
    if (header.enc !== CONTENT_ENCRYPTION) throw invalid(`encrypted message: enc must be ${CONTENT_ENCRYPTION}`);
    let plaintext: Uint8Array;
    try {
      ({ plaintext } = await flattenedDecrypt(
        {
          ciphertext: jwe.ciphertext as string,
          iv: jwe.iv as string,
          tag: jwe.tag as string,
          encrypted_key: jwe.encrypted_key as string,
          ...(unprotected ? { header: unprotected } : {}),
          ...(typeof jwe.protected === 'string' ? { protected: jwe.protected } : {}),
        },
        this.own.privateKey,
        { keyManagementAlgorithms: [this.own.alg], contentEncryptionAlgorithms: [CONTENT_ENCRYPTION] },
      ));
    } catch {
      throw invalid('encrypted message: it does not decrypt with our key');
    }
    let text: string;
    let clear: unknown;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
      clear = JSON.parse(text);
    } catch {
      throw invalid('encrypted message: the plaintext is not UTF-8 JSON');
    }
    if (typeof clear !== 'object' || clear === null || Array.isArray(clear)) throw invalid('encrypted message: the plaintext is not a JSON object');
    // The envelope's text was checked with the message still sealed: the message is held to the same rules here.
    const unprocessable = unprocessableJson(text, () => clear);
    if (unprocessable) throw new DciError(400, 'err.request.bad', `encrypted message: ${unprocessable}`);
    return clear as Record<string, unknown>;
  }

  /** An EncryptedMessage of `message` for `to`. */
  async encrypt(message: unknown, to: EncryptionTarget): Promise<Record<string, unknown>> {
    const jwe = await new FlattenedEncrypt(new TextEncoder().encode(JSON.stringify(message)))
      .setUnprotectedHeader({ alg: to.alg, enc: CONTENT_ENCRYPTION, kid: to.kid })
      .encrypt(to.key);
    return { header: jwe.header, ciphertext: jwe.ciphertext, encrypted_key: jwe.encrypted_key, tag: jwe.tag, iv: jwe.iv };
  }
}
