import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';

/** The operators' API answers what it is given, however odd, with a list, a 404 or a 400 problem document: never a 500. */

let server: TestServer;
let admin: string;

beforeAll(async () => {
  server = await startTestServer({}, { partners: [{ id: 'ops', secret: 'ops-secret-123', scopes: ['admin'] }] });
  admin = await server.token({ clientId: 'ops', secret: 'ops-secret-123' });
});
afterAll(async () => {
  await server?.close();
});

const get = async (path: string, method = 'GET') => {
  // A body only where the route takes one (dismissing says why): its ids are what is tested here.
  const body = path.endsWith('/dismiss') ? JSON.stringify({ reason: 'duplicate' }) : undefined;
  const res = await fetch(`${server.url}${path}`, { method, body, headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) } });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as Record<string, any> };
};

const LISTS = ['/admin/audit', '/admin/crvs/events', '/admin/transactions', '/admin/deliveries'];

describe("the operators' API with odd paging and ids", () => {
  it('pages from the largest id it takes (2^53 - 1), and refuses larger ids, fractions, zero and words with 400', async () => {
    for (const list of LISTS) {
      const page = await get(`${list}?before=${Number.MAX_SAFE_INTEGER}&limit=500`);
      expect(page.status, list).toBe(200);
      expect(Array.isArray(page.body.items), list).toBe(true);
      for (const query of ['before=9007199254740992', 'before=1e20', 'before=1.5', 'before=0', 'before=-1', 'before=abc', 'limit=0', 'limit=501', 'limit=1e3', 'limit=x']) {
        const res = await get(`${list}?${query}`);
        expect(res.status, `${list}?${query}`).toBe(400);
        expect(res.type, `${list}?${query}`).toContain('application/problem+json');
        expect(res.body, `${list}?${query}`).toMatchObject({ status: 400, code: expect.any(String), detail: expect.any(String) });
      }
    }
  });

  it('answers 404 for an id nothing has, up to 2^53 - 1, and 400 for larger ids, fractions, zero and words', async () => {
    for (const [method, path] of [
      ['GET', '/admin/transactions/{id}'],
      ['GET', '/admin/deliveries/{id}'],
      ['POST', '/admin/deliveries/{id}/replay'],
      ['POST', '/admin/crvs/events/{id}/reapply'],
      ['POST', '/admin/crvs/events/{id}/dismiss'],
    ] as const) {
      for (const id of ['2147483648', String(Number.MAX_SAFE_INTEGER)]) {
        const res = await get(path.replace('{id}', id), method);
        expect(res.status, `${method} ${path} ${id}`).toBe(404);
        expect(res.type).toContain('application/problem+json');
      }
      for (const id of ['9007199254740992', '9223372036854775808', '1e20', '99999999999999999999', '0', '1.5', 'x']) {
        const res = await get(path.replace('{id}', id), method);
        expect(res.status, `${method} ${path} ${id}`).toBe(400);
        expect(res.type).toContain('application/problem+json');
      }
    }
  });

  it('refuses a filter it does not take (400) rather than answer the whole list as if filtered', async () => {
    for (const path of ['/admin/audit?partner=ops', '/admin/audit?record_id=x', '/admin/transactions?status=failed', '/admin/deliveries?state=dead&partner=ops', '/admin/crvs/events?status=pending']) {
      const res = await get(path);
      expect(res.status, path).toBe(400);
      expect(res.type, path).toContain('application/problem+json');
      expect(res.body.detail, path).toMatch(/partner|record_id|status/);
    }
  });

  it('refuses text filters and partner ids holding U+0000 (400); other odd text matches nothing', async () => {
    // [filter value, status of the lists, status of a partner id]: a broken UTF-8 escape decodes to U+FFFD.
    for (const [odd, listStatus, partnerStatus] of [
      ['a%00b', 400, 400],
      ['%ED%A0%80', 200, 404],
      ['x'.repeat(300), 200, 400],
    ] as const) {
      for (const path of [`/admin/audit?partner_id=${odd}`, `/admin/crvs/events?sender_id=${odd}`, `/admin/transactions?sender_id=${odd}&domain=${odd}`, `/admin/deliveries?partner_id=${odd}`]) {
        const res = await get(path);
        expect(res.status, path).toBe(listStatus);
        if (listStatus === 200) expect(res.body.items, path).toEqual([]);
        else expect(res.type, path).toContain('application/problem+json');
      }
      for (const method of ['GET', 'DELETE']) {
        const res = await get(`/admin/partners/${odd}`, method);
        expect(res.status, `${method} /admin/partners/${odd}`).toBe(partnerStatus);
        expect(res.type).toContain('application/problem+json');
      }
    }
  });
});

describe("the operators' answers", () => {
  it('are never stored by a cache: they name partners, callback addresses and the records each partner received', async () => {
    for (const path of [...LISTS, '/admin/partners', '/admin/partners/ops', '/admin/queues']) {
      const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${admin}` } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toBe('no-store');
    }
  });
});

describe("the operators' API with a body that is not JSON", () => {
  it('refuses it with 415 Unsupported Media Type, as the DCI routes do, and documents it', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    for (const [method, path, body] of [
      ['PUT', '/admin/partners/typed', { scopes: ['admin'], secret: 'typed-secret-123', signature: 'off' }],
      ['POST', '/admin/crvs/events/1/dismiss', { reason: 'duplicate' }],
      ['POST', '/admin/upstreams/crvs/subscribe', { reg_event_type: 'Death' }],
    ] as const) {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
        const res = await fetch(`${server.url}${path}`, { method, body: JSON.stringify(body), headers: { authorization: `Bearer ${admin}`, 'content-type': type } });
        expect(res.status, `${method} ${path} ${type}`).toBe(415);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(await res.json()).toMatchObject({ status: 415, title: 'Unsupported Media Type' });
      }
      expect(doc.paths[path.replace('typed', '{id}').replace('/1/', '/{id}/').replace('/crvs/subscribe', '/{domain}/subscribe')][method.toLowerCase()].responses['415'], `${method} ${path}`).toBeDefined();
    }
    expect((await fetch(`${server.url}/admin/partners/typed`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(404);
  });
});

describe("the operators' API without a token", () => {
  it('answers 401 before it reads the body: a caller without a token gets no 400 or 413 about what it sent', async () => {
    for (const [name, body] of [
      ['a NUL character', JSON.stringify({ scopes: ['admin'], secret: 'nul-secret-12345', signature: 'off', fields: ['a\u0000b'] })],
      ['nested 100 deep', '['.repeat(100) + ']'.repeat(100)],
      ['over MAX_BODY_BYTES', JSON.stringify({ scopes: ['admin'], fields: ['x'.repeat(1_100_000)] })],
    ]) {
      for (const token of ['', 'not-a-token']) {
        const res = await fetch(`${server.url}/admin/partners/anyone`, { method: 'PUT', body, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
        expect(res.status, `${name} ${token || 'no token'}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    }
  });
});

describe("the operators' API in /openapi.json", () => {
  it('documents the 400 (where a route takes parameters), 401 and 403 refusals of every /admin route, in the form they are sent', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, { content?: object }> }>> };
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!path.startsWith('/admin/')) continue;
      for (const [method, op] of Object.entries(ops)) {
        for (const status of ['401', '403']) if (!op.responses[status]?.content || !('application/problem+json' in op.responses[status].content)) missing.push(`${method.toUpperCase()} ${path} ${status}`);
      }
    }
    expect(missing).toEqual([]);
    // A bad id, paging value or filter is answered 400 (above): documented wherever a route takes one.
    const undocumented400: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!path.startsWith('/admin/')) continue;
      for (const [method, op] of Object.entries(ops as Record<string, { parameters?: unknown[]; responses: Record<string, { content?: object }> }>)) {
        if ((op.parameters?.length ?? 0) > 0 && !op.responses['400']?.content) undocumented400.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(undocumented400).toEqual([]);
    const searchOnly = await server.token({ clientId: 'spmis-search-only', secret: 'search-only-secret' });
    for (const [token, status] of [['', 401], ['not-a-token', 401], [searchOnly, 403]] as const) {
      const res = await fetch(`${server.url}/admin/audit`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });
});
