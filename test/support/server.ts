import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import pino from 'pino';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import { generateSigningKey, type SigningKey } from '../../src/dci/signing/keys.js';
import { type CallbackSettings, hashSecret, type Partner } from '../../src/auth/partners.js';
import type { Jwks } from '../../src/dci/signing/partner-keys.js';
import type { SignatureFormat, SignaturePolicy } from '../../src/dci/signing/verifier.js';
import { type RunningServer, startServer } from '../../src/server.js';
import { TEST_DATA_KEYS } from './data-keys.js';
import { type EncryptionKey, encryptionKeyFrom } from '../../src/dci/signing/encryption.js';

export interface TestServer extends RunningServer {
  /** A bearer token for the demo partner (all scopes) or for `partner` with `scope`. */
  token(opts?: { clientId?: string; secret?: string; scope?: string }): Promise<string>;
}

/** A partner with only the SR search scope, for scope tests. */
export const SEARCH_ONLY_PARTNER = { id: 'spmis-search-only', secret: 'search-only-secret', scopes: ['social:registry.search'] };
/** A partner that may use CRVS but not SR. */
export const CRVS_ONLY_PARTNER = { id: 'crvs-only', secret: 'crvs-only-secret', scopes: ['crvs:registry.search'] };

/**
 * Opens this file's copy of the test registry (PGlite template copy, or the shared PostgreSQL test database). With
 * `poolSize` 1 every statement shares one PostgreSQL session, whose prepared statements a test can then look at.
 */
export async function openTestDatabase(poolSize = 8): Promise<Database> {
  const url = inject('postgresUrl');
  if (url) return openDatabase({ databaseUrl: await copyTestDatabase(url), poolSize });
  const template = readFileSync(inject('pgliteTemplate'));
  return openDatabase({ memory: true, loadDataDir: new Blob([template]) });
}

/**
 * A database of this file's own beside the seeded template, named after it so that the global teardown drops it: a
 * copy of the template, or (`empty`) a new database with nothing in it, not even the migrations.
 */
export async function copyTestDatabase(templateUrl: string, opts: { empty?: boolean } = {}): Promise<string> {
  const url = new URL(templateUrl);
  const template = url.pathname.slice(1);
  const name = `${template}_${opts.empty ? 'empty_' : ''}${randomBytes(4).toString('hex')}`;
  const admin = postgres(templateUrl.replace(url.pathname, '/postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(opts.empty ? `create database "${name}"` : `create database "${name}" template "${template}"`);
  } finally {
    await admin.end();
  }
  url.pathname = `/${name}`;
  return url.toString();
}

/** A partner as a test writes it: the secret in clear. */
export interface TestPartner {
  id: string;
  secret: string;
  scopes: string[];
  callbacks?: CallbackSettings;
  /** Default `optional`, as the demo partner. */
  signature?: SignaturePolicy;
  signatureFormat?: SignatureFormat;
  jwks?: Jwks;
  jwksUri?: string;
  fields?: string[];
  purposes?: string[];
  encryptResponses?: boolean;
}

/**
 * One hash per secret in a test file: a server started again on the same database with the same partners finds their
 * secrets unchanged, so the tokens an earlier server issued stay good (a new secret ends them).
 */
const secretHashes = new Map<string, Promise<string>>();
const hashOnce = (secret: string): Promise<string> => {
  let hash = secretHashes.get(secret);
  if (!hash) secretHashes.set(secret, (hash = hashSecret(secret)));
  return hash;
};

/** A real server on a random loopback port over this file's copy of the test registry. */
let encryptionKey: Promise<EncryptionKey> | undefined;
/** One RSA encryption key per test file (generating one takes a while). */
export const testEncryptionKey = (): Promise<EncryptionKey> =>
  (encryptionKey ??= encryptionKeyFrom(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));

export async function startTestServer(
  env: Record<string, string> = {},
  opts: { partners?: TestPartner[]; db?: Database; signingKey?: SigningKey; previousSigningKeys?: SigningKey[]; encryptionKey?: EncryptionKey } = {},
): Promise<TestServer> {
  const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', DEMO_DATA: 'false', LOG_LEVEL: 'silent', ...env });
  const db = opts.db ?? (await openTestDatabase());
  const partners: Partner[] = await Promise.all(
    [SEARCH_ONLY_PARTNER, CRVS_ONLY_PARTNER, ...(opts.partners ?? [])].map(async (p: TestPartner) => ({
      id: p.id,
      scopes: p.scopes,
      secretHash: await hashOnce(p.secret),
      callbacks: p.callbacks,
      signature: p.signature ?? 'optional',
      signatureFormat: p.signatureFormat ?? 'dci',
      jwks: p.jwks,
      jwksUri: p.jwksUri,
      fields: p.fields,
      purposes: p.purposes,
      encryptResponses: p.encryptResponses,
    })),
  );
  // TEST_LOG_LEVEL=error (or debug) shows the test servers' logs.
  const server = await startServer(config, { db, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), signingKey: opts.signingKey ?? (await generateSigningKey()),
    previousSigningKeys: opts.previousSigningKeys,
    encryptionKey: opts.encryptionKey ?? (await testEncryptionKey()),
    dataKeys: TEST_DATA_KEYS,
    partners,
  });
  await server.ready;
  return {
    ...server,
    async close() {
      await server.close();
      if (!opts.db) await db.close();
    },
    async token(opts = {}) {
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: opts.clientId ?? 'demo-spmis',
        client_secret: opts.secret ?? 'demo-spmis-secret',
      });
      if (opts.scope) form.set('scope', opts.scope);
      const res = await fetch(`${server.url}/oauth2/client/token`, { method: 'POST', body: form });
      if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { access_token: string }).access_token;
    },
  };
}
