import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '../../src/db/client.js';
import { generateSigningKey, type SigningKey } from '../../src/dci/signing/keys.js';
import { freePort } from './receiver.js';
import { openTestDatabase, startTestServer, type TestPartner, type TestServer } from './server.js';

/** A gateway whose CRVS domain is served by a national CRVS: two instances of this server, each on its own registry copy. */
export interface GatewayPair {
  crvsDb: Database;
  gatewayDb: Database;
  crvs: TestServer;
  gateway: TestServer;
  gatewayKey: SigningKey;
  gatewayUrl: string;
  /** Writes an UPSTREAMS_FILE naming the CRVS (the gateway is `gateway-a` there), with entry fields overridden. */
  /** An UPSTREAMS_FILE of the CRVS entry with `overrides`; a list of overrides writes one entry each. */
  upstreamsFile(name: string, overrides?: Record<string, unknown> | Record<string, unknown>[]): string;
  close(): Promise<void>;
}

export async function startGatewayPair(opts: {
  /** The CRVS's partners, the gateway among them (as `gateway-a`, signing with `gateway.key`). */
  crvsPartners: (gateway: { url: string; key: SigningKey }) => TestPartner[];
  gatewayPartners: (crvsUrl: string) => TestPartner[];
  /** Fields of the gateway's upstream entry to override. */
  upstream?: Record<string, unknown>;
  /** The scope the gateway asks the CRVS's token endpoint for. */
  upstreamScope?: string;
  /** Environment of both servers. */
  env?: Record<string, string>;
}): Promise<GatewayPair> {
  const dir = mkdtempSync(join(tmpdir(), 'dci-gateway-'));
  const crvsDb = await openTestDatabase();
  const gatewayDb = await openTestDatabase();
  const gatewayKey = await generateSigningKey();
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const crvs = await startTestServer({ DCI_SENDER_ID: 'national-crvs', ...opts.env }, { db: crvsDb, partners: opts.crvsPartners({ url: gatewayUrl, key: gatewayKey }) });
  const upstreamsFile = (name: string, overrides: Record<string, unknown> | Record<string, unknown>[] = {}) => {
    const file = join(dir, name);
    const entry = (override: Record<string, unknown>) => ({
      domain: 'crvs',
      id: 'national-crvs',
      sender_id: 'gateway-a',
      base_url: `${crvs.url}/crvs`,
      auth: { token_url: `${crvs.url}/oauth2/client/token`, client_id: 'gateway-a', client_secret: 'gateway-a-secret', ...(opts.upstreamScope ? { scope: opts.upstreamScope } : {}) },
      jwks_uri: `${crvs.url}/.well-known/jwks.json`,
      ...opts.upstream,
      ...override,
    });
    writeFileSync(file, JSON.stringify((Array.isArray(overrides) ? overrides : [overrides]).map(entry)));
    return file;
  };
  const gateway = await startTestServer(
    { UPSTREAMS_FILE: upstreamsFile('upstreams.json'), PORT: String(gatewayPort), PUBLIC_URL: gatewayUrl, ...opts.env },
    { db: gatewayDb, signingKey: gatewayKey, partners: opts.gatewayPartners(crvs.url) },
  );
  return {
    crvsDb,
    gatewayDb,
    crvs,
    gateway,
    gatewayKey,
    gatewayUrl,
    upstreamsFile,
    async close() {
      await gateway.close();
      await crvs.close();
      await crvsDb.close();
      await gatewayDb.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A CRVS_Person as an upstream answers it, with a name and a UIN that a partner whose fields leave them out must not see. */
export const upstreamPersonRecord = {
  '@type': 'CRVS_Person',
  identifier: [
    { identifier_type: 'UIN', identifier_value: 'SECRET-UIN-42' },
    { identifier_type: 'REGISTRY_ID', identifier_value: 'CRVS-REG-42' },
  ],
  name: { given_name: 'Secret-Name' },
  sex: 'female',
  birth_date: '1990-01-01',
};
