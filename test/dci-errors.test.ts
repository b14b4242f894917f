import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectErrorBody, expectValidSearchResponse, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { CRVS_ONLY_PARTNER, SEARCH_ONLY_PARTNER, startTestServer, type TestServer } from './support/server.js';

/** Every class of bad input gets a DCI error (HTTP status + error code), never a 500 and never a hang. */

let server: TestServer;
let token: string;
let url: string;
const item = () => searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: '1' } });

beforeAll(async () => {
  server = await startTestServer({ MAX_BODY_BYTES: '65536', MAX_BATCH_ITEMS: '5' });
  token = await server.token();
  url = `${server.url}/social/registry/sync/search`;
});
afterAll(() => server?.close());

describe('transport-level refusals', () => {
  it('broken JSON -> 400 err.request.bad', async () => {
    const res = await postJson(url, token, '{"header": {"message_id": ');
    expect(res.status).toBe(400);
    expectErrorBody(res.json, 'err.request.bad');
    expect(res.json.message.error.message).toMatch(/not valid JSON/);
  });

  it('a JSON array or scalar instead of the envelope -> 400', async () => {
    for (const body of ['[]', '42', '"search"', 'null']) {
      const res = await postJson(url, token, body);
      expect(res.status).toBe(400);
      expectErrorBody(res.json, 'err.request.bad');
    }
  });

  it('empty body -> 400', async () => {
    const res = await postJson(url, token, '');
    expect(res.status).toBe(400);
    expectErrorBody(res.json, 'err.request.bad');
  });

  it('wrong content type -> 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await postJson(url, token, JSON.stringify(searchEnvelope([item()])), { 'content-type': type });
      expect(res.status).toBe(415);
      expectErrorBody(res.json, 'err.request.bad');
    }
  });

  it('accepts application/json with a charset', async () => {
    const res = await postJson(url, token, searchEnvelope([item()]), { 'content-type': 'application/json; charset=utf-8' });
    expect(res.status).toBe(200);
  });

  it('a compressed body or a charset other than UTF-8 -> 415 naming it, not a JSON error over its bytes', async () => {
    const text = JSON.stringify(searchEnvelope([item()]));
    for (const [headers, body, named] of [
      [{ 'content-type': 'application/json', 'content-encoding': 'gzip' }, gzipSync(text), /content-encoding gzip/],
      [{ 'content-type': 'application/json; charset=utf-16le' }, Buffer.from(text, 'utf16le'), /charset utf-16le/],
    ] as const) {
      const res = await fetch(url, { method: 'POST', headers: { ...headers, authorization: `Bearer ${token}` }, body });
      expect(res.status).toBe(415);
      const json = await res.json();
      expectErrorBody(json, 'err.request.bad');
      expect(json.message.error.message).toMatch(named);
    }
    const res = await postJson(url, token, text, { 'content-type': 'application/json; charset="UTF-8"', 'content-encoding': 'identity' });
    expect(res.status).toBe(200);
  });

  it('oversized body -> 413, with or without a content-length', async () => {
    const big = searchEnvelope([{ ...item(), padding: 'x'.repeat(70_000) }]);
    const res = await postJson(url, token, big);
    expect(res.status).toBe(413);
    expectErrorBody(res.json, 'err.request.bad');
    // Chunked upload without a length: cut off while streaming.
    const stream = new ReadableStream({
      start(controller) {
        for (let k = 0; k < 20; k++) controller.enqueue(new TextEncoder().encode('x'.repeat(8192)));
        controller.close();
      },
    });
    const chunked = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    expectErrorBody(await chunked.json(), 'err.request.bad');
  });

  it('a client that stops sending mid-body does not get a 500 and does not hold the server', async () => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST /social/registry/sync/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: 1000\r\n\r\n{"header":`);
    // Meanwhile the server keeps answering others.
    const res = await postJson(url, token, searchEnvelope([item()]));
    expect(res.status).toBe(200);
    socket.destroy();
  });

  it('a NUL character (U+0000) in a value or a key -> 400 err.request.bad, while an escaped backslash before u0000 is plain text', async () => {
    const byName = (query: Record<string, unknown>) =>
      searchItem({ query_type: 'expression', response_entity: 'Person', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'Person', query } } } });
    const nulValue = byName({ given_name: { $eq: 'Ana\u0000' } });
    const nulKey = byName({ 'given_name\u0000': { $eq: 'Ana' } });
    for (const body of [searchEnvelope([nulValue]), searchEnvelope([item()], { message_id: 'm\u0000' }), searchEnvelope([nulKey])]) {
      const res = await postJson(url, token, body);
      expect(res.status).toBe(400);
      expectErrorBody(res.json, 'err.request.bad');
      expect(res.json.message.error.message).toMatch(/U\+0000/);
    }
    // JSON "Ana\\u0000" is Ana, a backslash and u0000: a name like any other, which nobody has.
    const res = await postJson(url, token, searchEnvelope([byName({ given_name: { $eq: 'Ana\\u0000' } })]));
    expect(res.status).toBe(200);
    expect(res.json.message.search_response[0].status, JSON.stringify(res.json.message.search_response[0])).toBe('succ');
    expect(res.json.message.search_response[0].data.reg_records).toEqual([]);
  });

  it('an unpaired UTF-16 surrogate (a lone \\ud800 escape) -> 400 err.request.bad, on search and on subscribe; a surrogate pair is text', async () => {
    const byName = (name: string) =>
      searchItem({ query_type: 'expression', response_entity: 'Person', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'Person', query: { given_name: { $eq: name } } } } } });
    const subscription = (eventType: string) => ({
      ...searchEnvelope([]),
      header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'subscribe', sender_id: 'demo-spmis', sender_uri: 'https://spmis.example.org/on-subscribe', total_count: 1 },
      message: { transaction_id: 't-1', subscribe_request: [{ reference_id: 's-1', timestamp: new Date().toISOString(), subscribe_criteria: { reg_event_type: eventType, frequency: '0 0 * * * ?' } }] },
    });
    // JSON.stringify writes a lone surrogate as the escape \ud800 (and a key's too); PostgreSQL's json refuses it,
    // which the subscription's insert had answered with a 500.
    const refused: [string, unknown][] = [
      [url, searchEnvelope([byName('Ana\ud800')])],
      [url, searchEnvelope([item()], { message_id: 'm-\udc00' })],
      [`${server.url}/social/registry/subscribe`, subscription('death\udbff')],
      [`${server.url}/social/registry/subscribe`, JSON.stringify(subscription('death')).replace('"reg_event_type"', '"\\udfff":1,"reg_event_type"')],
    ];
    for (const [target, body] of refused) {
      const res = await postJson(target, token, body);
      expect(res.status, `${target}: ${res.text}`).toBe(400);
      expectErrorBody(res.json, 'err.request.bad');
      expect(res.json.message.error.message).toMatch(/unpaired surrogate/);
    }
    // An emoji is a surrogate pair, whether sent as UTF-8 or as two escapes; "\\ud800" (an escaped backslash) is text.
    for (const text of [JSON.stringify(searchEnvelope([byName('Ana \u{1F600}')])), JSON.stringify(searchEnvelope([byName('Ana \u{1F600}')])).replace('\u{1F600}', '\\ud83d\\ude00'), JSON.stringify(searchEnvelope([byName('Ana\\ud800')]))]) {
      const res = await postJson(url, token, text);
      expect(res.status, res.text).toBe(200);
      expect(res.json.message.search_response[0].status).toBe('succ');
    }
  });

  it('a body nested thousands deep -> 400 err.request.bad on sync and async routes, not a stack overflow', async () => {
    const deep = (depth: number) => '['.repeat(depth) + '"x"' + ']'.repeat(depth);
    for (const depth of [65, 20_000]) {
      for (const path of ['/social/registry/sync/search', '/social/registry/search']) {
        const text = JSON.stringify(searchEnvelope([item()], { sender_uri: 'https://spmis.example.org/on-search' })).replace('"value":"1"', `"value":${deep(depth)}`);
        const res = await postJson(`${server.url}${path}`, token, text);
        expect(res.status, `${path} at depth ${depth}`).toBe(400);
        expectErrorBody(res.json, 'err.request.bad');
        expect(res.json.message.error.message).toMatch(/deeper than 64 levels/);
      }
    }
  });

  it('unknown path -> 404 err.request.not_found', async () => {
    const res = await postJson(`${server.url}/social/registry/sync/nope`, token, {});
    expect(res.status).toBe(404);
    expectErrorBody(res.json, 'err.request.not_found');
  });
});

describe('authentication and authorisation', () => {
  it('no token -> 401 with a Bearer challenge', async () => {
    const res = await postJson(url, undefined, searchEnvelope([item()]));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expectErrorBody(res.json, 'err.request.unauthorized');
  });

  it('malformed, forged or foreign tokens -> 401 invalid_token', async () => {
    const [h, p] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'someone-else', exp: 9999999999 })).toString('base64url')}.${token.split('.')[2]}`;
    for (const bad of ['garbage', `${token}x`, forged, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vLXNwbWlzIn0.']) {
      const res = await postJson(url, bad, searchEnvelope([item()]));
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/invalid_token/);
      expectErrorBody(res.json, 'err.request.unauthorized');
    }
    const basic = await postJson(url, undefined, searchEnvelope([item()]), { authorization: 'Basic ZGVtby1zcG1pczpkZW1vLXNwbWlzLXNlY3JldA==' });
    expect(basic.status).toBe(401);
  });

  it('expired token -> 401', async () => {
    const shortLived = await startTestServer({ ACCESS_TOKEN_TTL_SECONDS: '60' });
    try {
      const t = await shortLived.token();
      const first = await postJson(`${shortLived.url}/social/registry/sync/search`, t, searchEnvelope([item()]));
      expect(first.status).toBe(200);
      // Two minutes later (the server runs in this process, so a faked clock is its clock), the verified-token
      // cache must not keep the token alive.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 120_000);
      try {
        const res = await postJson(`${shortLived.url}/social/registry/sync/search`, t, searchEnvelope([item()]));
        expect(res.status).toBe(401);
        expectErrorBody(res.json, 'err.request.unauthorized');
      } finally {
        vi.useRealTimers();
      }
    } finally {
      await shortLived.close();
    }
  });

  it('a token without the SR search scope -> 403 err.request.forbidden', async () => {
    const crvs = await server.token({ clientId: CRVS_ONLY_PARTNER.id, secret: CRVS_ONLY_PARTNER.secret });
    const res = await postJson(url, crvs, searchEnvelope([item()], { sender_id: CRVS_ONLY_PARTNER.id }));
    expect(res.status).toBe(403);
    expectErrorBody(res.json, 'err.request.forbidden');
    const narrowed = await server.token({ scope: 'crvs:registry.search' });
    const res2 = await postJson(url, narrowed, searchEnvelope([item()]));
    expect(res2.status).toBe(403);
  });

  it('header.sender_id other than the token client -> 403 err.sender_id.invalid', async () => {
    const own = await server.token({ clientId: SEARCH_ONLY_PARTNER.id, secret: SEARCH_ONLY_PARTNER.secret });
    const res = await postJson(url, own, searchEnvelope([item()], { sender_id: 'demo-spmis' }));
    expect(res.status).toBe(403);
    expectErrorBody(res.json, 'err.sender_id.invalid');
    const ok = await postJson(url, own, searchEnvelope([item()], { sender_id: SEARCH_ONLY_PARTNER.id }));
    expect(ok.status).toBe(200);
  });
});

describe('envelope validation', () => {
  const env = () => searchEnvelope([item()]) as any;
  const cases: [string, (e: any) => void, RegExp][] = [
    ['missing header', (e) => delete e.header, /header/],
    ['missing message', (e) => delete e.message, /message/],
    ['header is a string', (e) => (e.header = 'hello'), /header/],
    ['missing message_id', (e) => delete e.header.message_id, /message_id/],
    ['empty message_id', (e) => (e.header.message_id = ''), /message_id/],
    ['missing sender_id', (e) => delete e.header.sender_id, /sender_id/],
    ['missing action', (e) => delete e.header.action, /action/],
    ['missing total_count', (e) => delete e.header.total_count, /total_count/],
    ['non-numeric total_count', (e) => (e.header.total_count = 'one'), /total_count/],
    ['negative total_count', (e) => (e.header.total_count = -1), /total_count/],
    ['missing transaction_id', (e) => delete e.message.transaction_id, /transaction_id/],
    ['transaction_id over 99 chars', (e) => (e.message.transaction_id = 't'.repeat(100)), /transaction_id/],
    ['missing search_request', (e) => delete e.message.search_request, /search_request/],
    ['empty search_request', (e) => (e.message.search_request = []), /search_request/],
    ['search_request of strings', (e) => (e.message.search_request = ['x']), /search_request/],
    ['signature not a string', (e) => (e.signature = { alg: 'none' }), /signature/],
  ];
  for (const [name, mutate, mentions] of cases) {
    it(`${name} -> 400 err.request.bad naming the field`, async () => {
      const e = env();
      mutate(e);
      const res = await postJson(url, token, e);
      expect(res.status).toBe(400);
      expectErrorBody(res.json, 'err.request.bad');
      expect(res.json.message.error.message).toMatch(mentions);
    });
  }

  it('unsupported protocol version -> 400 err.version.not_supported', async () => {
    const res = await postJson(url, token, searchEnvelope([item()], { version: '2.0.0' }));
    expect(res.status).toBe(400);
    expectErrorBody(res.json, 'err.version.not_supported');
  });

  it('tolerates the published sample defects: string counts, empty meta/sender_uri/transaction_id, a lone search_request object', async () => {
    const e = searchEnvelope([item()], { total_count: '1', meta: '', sender_uri: '', receiver_id: '' }) as any;
    e.message.transaction_id = '';
    e.message.search_request = e.message.search_request[0];
    const res = await postJson(url, token, e);
    expect(res.status).toBe(200);
    expectValidSearchResponse(res.json);
    expect(res.json.header.status).toBe('succ');
  });
});

describe('header-level rejections (200, header status rjct)', () => {
  const rejected = async (header: Record<string, unknown>, items = [item()], code: string) => {
    const res = await postJson(url, token, searchEnvelope(items, header));
    expect(res.status).toBe(200);
    expectValidSearchResponse(res.json);
    expect(res.json.header).toMatchObject({ status: 'rjct', status_reason_code: code, action: 'on-search', completed_count: 0 });
    expect(res.json.message.search_response).toEqual([]);
  };
  it('total_count not matching the batch -> rjct.total_count.invalid', () => rejected({ total_count: 3 }, [item()], 'rjct.total_count.invalid'));
  it('a batch over the limit -> rjct.total_count.limit_exceeded', () =>
    rejected({ total_count: 6 }, Array.from({ length: 6 }, item), 'rjct.total_count.limit_exceeded'));
  it('wrong action -> rjct.action.invalid', () => rejected({ action: 'subscribe' }, [item()], 'rjct.action.invalid'));
  it('unparseable message_ts -> rjct.message_ts.invalid', () => rejected({ message_ts: 'last tuesday' }, [item()], 'rjct.message_ts.invalid'));
  it('message_ts in the other forms RFC 3339 allows (lower-case t and z, a space for the T) is read as every DCI timestamp is', async () => {
    const now = new Date().toISOString();
    for (const message_ts of [now.replace('T', 't').replace('Z', 'z'), now.replace('T', ' ')]) {
      const res = await postJson(url, token, searchEnvelope([item()], { message_ts }));
      expect(res.json.header, message_ts).toMatchObject({ status: 'succ' });
    }
    await rejected({ message_ts: now.replace(/T\d{2}/, 'T24') }, [item()], 'rjct.message_ts.invalid');
  });
  it('message_ts outside the replay window -> rjct.message_ts.invalid', async () => {
    await rejected({ message_ts: new Date(Date.now() - 3600_000).toISOString() }, [item()], 'rjct.message_ts.invalid');
    await rejected({ message_ts: new Date(Date.now() + 3600_000).toISOString() }, [item()], 'rjct.message_ts.invalid');
  });

  it('a replayed message_id -> rjct.message_id.duplicate, and the records are not sent again', async () => {
    const envelope = searchEnvelope([item()]);
    const first = await postJson(url, token, envelope);
    expect(first.status).toBe(200);
    expect(first.json.header.status).toBe('succ');
    expect(first.json.message.search_response[0].status).toBe('succ');
    for (const replay of [envelope, { ...envelope, message: { ...(envelope.message as object), transaction_id: 'another' } }]) {
      const res = await postJson(url, token, replay);
      expect(res.status).toBe(200);
      expectValidSearchResponse(res.json);
      expect(res.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.message_id.duplicate' });
      expect(res.json.message.search_response).toEqual([]);
    }
  });
});

describe('a batch that outlives SYNC_SEARCH_BUDGET_MS', () => {
  it('runs its first eight items, then stops and answers 504 err.request.timeout with what was left', async () => {
    const budgeted = await startTestServer({ SYNC_SEARCH_BUDGET_MS: '1' });
    try {
      const budgetedToken = await budgeted.token();
      const whole = (n: number) => searchEnvelope(Array.from({ length: n }, () => searchItem({ query_type: 'expression', query: { poverty_score: { $gte: 0 } } })));
      const eight = await postJson(`${budgeted.url}/social/registry/sync/search`, budgetedToken, whole(8));
      expect(eight.status).toBe(200);
      expect(eight.json.message.search_response.map((r: any) => r.status)).toEqual(Array(8).fill('succ'));
      const twenty = await postJson(`${budgeted.url}/social/registry/sync/search`, budgetedToken, whole(20));
      expect(twenty.status).toBe(504);
      expectErrorBody(twenty.json, 'err.request.timeout');
      expect(twenty.json.message.error.message).toContain('(1 ms) with 12 of 20 items still to run');
      // The batch failed while its message id was still being recorded: that had been an unhandled rejection, which
      // ends the server's process. It still answers.
      expect((await fetch(`${budgeted.url}/healthz`)).status).toBe(200);
      const again = await postJson(`${budgeted.url}/social/registry/sync/search`, budgetedToken, whole(8));
      expect(again.status).toBe(200);
    } finally {
      await budgeted.close();
    }
  });
});
