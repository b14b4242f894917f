import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const SEAL_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM with the data key's seal key: `version || iv || ciphertext || tag`. `context` is authenticated data
 * naming what the bytes are (an identifier type, a table), so sealed bytes cannot be moved to another use.
 */
export class Sealer {
  constructor(private readonly key: Buffer) {}

  seal(context: string, clear: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(clear, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.of(SEAL_VERSION), iv, body, cipher.getAuthTag()]);
  }

  open(context: string, sealed: Buffer): string {
    if (sealed[0] !== SEAL_VERSION || sealed.length < 1 + IV_BYTES + TAG_BYTES) throw new Error('unknown sealed value format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(1, 1 + IV_BYTES));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return decipher.update(sealed.subarray(1 + IV_BYTES, sealed.length - TAG_BYTES), undefined, 'utf8') + decipher.final('utf8');
  }
}
