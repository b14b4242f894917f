import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The keys that protect restricted personal data at rest: `sealKey` encrypts values (AES-256-GCM), `indexKey` makes
 * their blind index (HMAC-SHA-256). Both live outside the database, so a dump alone reveals neither the values nor a
 * way to test guesses against the index.
 */
export interface DataKeys {
  readonly sealKey: Buffer;
  readonly indexKey: Buffer;
}

/** Where the data keys come from: a file today; a KMS (unwrapping a data key at start) implements the same method. */
export interface DataKeySource {
  load(): Promise<DataKeys>;
}

/** Two independent keys from one 32-byte master key (HKDF-SHA-256, RFC 5869), one per use. */
export function dataKeysFrom(master: Buffer): DataKeys {
  if (master.length !== 32) throw new Error(`the data key must be 32 bytes, got ${master.length}`);
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
  return { sealKey: derive('dci-gateway restricted-field seal v1'), indexKey: derive('dci-gateway restricted-field blind index v1') };
}

/** A key file holds the 32-byte master key as 64 hex digits or base64 (`openssl rand -base64 32`). */
function parseMasterKey(text: string, path: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32) throw new Error(`DATA_KEY ${path}: expected 32 bytes as 64 hex digits or base64, got ${key.length} bytes`);
  return key;
}

/**
 * DATA_KEY (a key file) when configured; otherwise (development only: config refuses production without one) a key
 * generated once and kept under DATA_DIR, beside the database it protects only against a dump of the database alone.
 */
export class FileDataKeySource implements DataKeySource {
  constructor(private readonly opts: { path?: string; dataDir: string }) {}

  async load(): Promise<DataKeys> {
    if (this.opts.path) return dataKeysFrom(parseMasterKey(readFileSync(this.opts.path, 'utf8'), this.opts.path));
    const file = `${this.opts.dataDir}/keys/data-key`;
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    }
    return dataKeysFrom(parseMasterKey(readFileSync(file, 'utf8'), file));
  }
}
