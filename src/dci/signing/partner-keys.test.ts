import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEndlessServer } from '../../../test/support/receiver.js';
import { generateSigningKey, type SigningKey } from './keys.js';
import { PartnerKeys } from './partner-keys.js';

let key: SigningKey;
let jwksServer: ReturnType<typeof createServer>;
let jwksUrl: string;
/** The JWKS endpoint accepts requests and never answers while this is set. */
let hanging = false;
let fetches = 0;

beforeAll(async () => {
  key = await generateSigningKey();
  jwksServer = createServer((_req, res) => {
    fetches++;
    if (hanging) return;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [key.publicJwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  jwksServer.closeAllConnections();
  await new Promise((resolve) => jwksServer.close(resolve));
});

describe("a partner's published JWKS", () => {
  it('is fetched and its key found by kid', async () => {
    const keys = new PartnerKeys({ timeoutMs: 5_000, refetchMinMs: 0 });
    const found = await keys.get({ id: 'p', jwksUri: jwksUrl }, key.kid);
    expect(found?.asymmetricKeyType).toBe('ed25519');
  });

  it('is read no further than 1 MB: a JWKS endpoint answering without end gives no key, soon', async () => {
    const endless = await startEndlessServer();
    try {
      const keys = new PartnerKeys({ timeoutMs: 5_000, refetchMinMs: 0 });
      const started = Date.now();
      expect(await keys.get({ id: 'p', jwksUri: `${endless.url}/jwks.json` }, key.kid)).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(endless.requests()).toBe(1);
    } finally {
      await endless.close();
    }
  });
});

describe('a JWKS endpoint that stops answering', () => {
  it('holds one lookup for the fetch timeout per refetch interval, not every lookup; the cached key stays in use', async () => {
    const keys = new PartnerKeys({ timeoutMs: 1_000, refetchMinMs: 30_000 });
    const partner = { id: 'p', jwksUri: jwksUrl };
    expect(await keys.get(partner, key.kid)).toBeDefined();
    const before = fetches;
    hanging = true;
    const realNow = Date.now;
    // The cached keys are 11 minutes old: due for a refresh.
    const later = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 11 * 60_000);
    try {
      const took: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        expect(await keys.get(partner, key.kid)).toBeDefined();
        took.push(performance.now() - started);
      }
      expect(fetches - before).toBe(1);
      expect(took[0]).toBeGreaterThanOrEqual(900);
      expect(took.slice(1).every((t) => t < 200), took.join(', ')).toBe(true);
    } finally {
      later.mockRestore();
      hanging = false;
      jwksServer.closeAllConnections();
    }
  });
});
