import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { openTestDatabase, startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

describe('operations endpoints', () => {
  it('healthz and readyz answer 200 once started', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('serves an OpenAPI document that documents the DCI routes with their schemas', async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(doc.openapi).toBe('3.0.3');
    const search = doc.paths['/social/registry/sync/search'].post;
    expect(search.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/SearchRequestEnvelope');
    expect(search.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/SearchResponseEnvelope');
    expect(search.responses['401'].content['application/json'].schema.$ref).toBe('#/components/schemas/DciErrorBody');
    expect(doc.paths['/oauth2/client/token'].post).toBeDefined();
    expect(Object.keys(doc.paths['/readyz'].get.responses).sort()).toEqual(['200', '503']);
    for (const name of ['MsgHeader', 'MsgCallbackHeader', 'SearchRequest', 'SearchResponse', 'DciErrorBody']) {
      expect(doc.components.schemas[name]).toBeDefined();
    }
    // Every $ref resolves inside the document.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) {
      const name = ref.split('/').pop()!.replace('"', '');
      expect(doc.components.schemas[name] ?? doc.components.securitySchemes?.[name], ref).toBeDefined();
    }
  });

  it('serves an API reference page without external scripts', async () => {
    const res = await fetch(`${server.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('/social/registry/sync/search');
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  });

  it('sends the secure headers with every response, refusals included', async () => {
    for (const res of [
      await fetch(`${server.url}/healthz`),
      await fetch(`${server.url}/social/registry/sync/search`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }),
      await fetch(`${server.url}/no/such/path`),
    ]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});

describe('readiness when the database hangs', () => {
  it('answers /readyz 503 within a few seconds when the database does not answer its ping, and 200 again once it does', async () => {
    const db = await openTestDatabase();
    let hang = false;
    const hanging: Database = { ...db, ping: () => (hang ? new Promise<void>(() => {}) : db.ping()) };
    const slow = await startTestServer({}, { db: hanging });
    try {
      expect((await fetch(`${slow.url}/readyz`)).status).toBe(200);
      hang = true;
      const started = Date.now();
      const res = await fetch(`${slow.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'database not answering' });
      expect(Date.now() - started).toBeLessThan(5_000);
      hang = false;
      expect((await fetch(`${slow.url}/readyz`)).status).toBe(200);
    } finally {
      await slow.close();
      await db.close();
    }
  });
});
