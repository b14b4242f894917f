import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import type { SigningKey } from '../src/dci/signing/keys.js';
import { expectErrorBody, postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, type ReceivedRequest } from './support/receiver.js';
import { type GatewayPair, startGatewayPair, upstreamPersonRecord } from './support/gateway.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * Gateway mode, sync: what the gateway passes on from its upstream's answers, as its callers see it. Most tests use a
 * fake upstream (no signature checked) answering as the DCI samples write (DIGEST 11.4).
 */

let pair: GatewayPair;
let crvsDb: Database;
let gatewayDb: Database;
let gateway: TestServer;
let gatewayKey: SigningKey;
let uin: string;
let otherUin: string;
let givenName: string;
const narrowPartner = { id: 'narrow-crvs', secret: 'narrow-crvs-secret', scopes: ['crvs:registry.search'], fields: ['sex', 'birth_date'] };
const widePartner = { id: 'wide-crvs', secret: 'wide-crvs-secret', scopes: ['crvs:registry.search', 'ibr:registry.search', 'ibr:registry.enrollment-updates', 'dr:registry.search', 'dr:registry.assess'] };

beforeAll(async () => {
  pair = await startGatewayPair({
    crvsPartners: (gw) => [
      { id: 'gateway-a', secret: 'gateway-a-secret', scopes: ['crvs:registry.search'], signature: 'required', jwks: { keys: [gw.key.publicJwk] } },
      // The same narrow partner, asking the national CRVS directly.
      narrowPartner,
    ],
    gatewayPartners: () => [narrowPartner, widePartner],
    upstream: { signature: 'required' },
    upstreamScope: 'crvs:registry.search',
  });
  ({ crvsDb, gatewayDb, gateway, gatewayKey } = pair);
  const [row] = await crvsDb.query(`select ${idColumns()}, x.individual_id from identifiers x where x.id_type = 'UIN' order by x.id limit 1`);
  uin = clearValue(row);
  const [other] = await crvsDb.query(`select ${idColumns()} from identifiers x where x.id_type = 'UIN' and x.individual_id <> $1 order by x.id limit 1`, [row.individual_id]);
  otherUin = clearValue(other);
  givenName = (await crvsDb.query<{ given_name: string }>(`select given_name from individuals where id = $1`, [row.individual_id]))[0].given_name;
});
afterAll(async () => {
  await pair?.close();
});

const narrowToken = (server: TestServer) => server.token({ clientId: narrowPartner.id, secret: narrowPartner.secret });
const narrowByUin = () => searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-1')], { sender_id: narrowPartner.id });

/** A gateway whose CRVS upstream is the fake at `upstreamUrl` (no signature checked), with entry fields overridden. */
async function withFakeUpstream(upstreamUrl: string, name: string, overrides: Record<string, unknown>, run: (gateway: TestServer) => Promise<void>): Promise<void> {
  const file = pair.upstreamsFile(`answers-${name}.json`, { base_url: `${upstreamUrl}/crvs`, signature: 'off', auth: undefined, jwks_uri: undefined, ...overrides });
  const gw = await startTestServer({ UPSTREAMS_FILE: file }, { db: gatewayDb, signingKey: gatewayKey, partners: [narrowPartner, widePartner] });
  try {
    await run(gw);
  } finally {
    await gw.close();
  }
}

/** A sync answer of the fake upstream to `req`, its one item with `status` and `data`. */
function upstreamAnswer(req: ReceivedRequest, status: string, data: unknown) {
  return {
    status: 200,
    body: {
      header: { version: '1.0.0', message_id: `m-${Math.random()}`, message_ts: new Date().toISOString(), action: 'on-search', status: 'succ', sender_id: 'national-crvs' },
      message: {
        transaction_id: req.body.message.transaction_id,
        correlation_id: 'up-c-1',
        search_response: [{ reference_id: req.body.message.search_request[0].reference_id, timestamp: new Date().toISOString(), status, data }],
      },
    },
  };
}

const auditCount = async () => Number((await gatewayDb.query(`select count(*)::int as n from audit_log where partner_id = 'narrow-crvs'`))[0].n);

describe('gateway mode: what a sync search forwarded upstream answers', () => {
  it('refuses a forwarded search by an attribute the partner may not receive, as the registry itself does', async () => {
    const byName = () =>
      searchEnvelope(
        [searchItem({ query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'given_name', operator: 'eq', attribute_value: givenName } }] }, 'r-name')],
        { sender_id: narrowPartner.id },
      );
    // The national CRVS, asked directly by the narrow partner (fields sex, birth_date), refuses a query on given_name:
    // answered, it would tell the names the projection withholds.
    const direct = await postJson(`${pair.crvs.url}/crvs/registry/sync/search`, await narrowToken(pair.crvs), byName());
    expect(direct.status).toBe(200);
    expect(direct.json.message.search_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });

    // Through the gateway, the same query is refused too, not sent upstream (where the gateway has no field list) and
    // answered with the people of that name.
    const viaGateway = await postJson(`${gateway.url}/crvs/registry/sync/search`, await narrowToken(gateway), byName());
    expect(viaGateway.status).toBe(200);
    expect(viaGateway.json.message.search_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
  });

  it('refuses a forwarded search sorted by an attribute the partner may not receive (rjct.sort.invalid), and forwards one it may ask', async () => {
    const sent = (sort: unknown) =>
      searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin }, sort }, 'r-sorted')], { sender_id: narrowPartner.id });
    const byName = await postJson(`${gateway.url}/crvs/registry/sync/search`, await narrowToken(gateway), sent([{ attribute_name: 'given_name', sort_order: 'asc' }]));
    expect(byName.status).toBe(200);
    expect(byName.json.message.search_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.sort.invalid' });
    const byBirthDate = await postJson(`${gateway.url}/crvs/registry/sync/search`, await narrowToken(gateway), sent([{ attribute_name: 'birth_date', sort_order: 'asc' }]));
    expect(byBirthDate.json.message.search_response[0]).toMatchObject({ status: 'succ' });
    expect(byBirthDate.json.message.search_response[0].data.reg_records).toHaveLength(1);
  });

  it("projects and audits an upstream's records whose item status is spelled 'success' or 'SUCC' (DIGEST 2.3)", async () => {
    const upstream = await CallbackReceiver.start();
    try {
      await withFakeUpstream(upstream.url, 'status-spelling', {}, async (gw) => {
        for (const spelling of ['success', 'SUCC']) {
          upstream.respondWith((req) => upstreamAnswer(req, spelling, { reg_records: [upstreamPersonRecord] }));
          const before = await auditCount();
          const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), narrowByUin());
          expect(res.status, spelling).toBe(200);
          expect(res.text, spelling).not.toContain('Secret-Name');
          expect(res.text, spelling).not.toContain('SECRET-UIN-42');
          expect(res.json.message.search_response[0].status, spelling).toBe('succ');
          expect(await auditCount(), spelling).toBe(before + 1);
        }
      });
    } finally {
      await upstream.close();
    }
  });

  it('does not forward, for a partner with a field list, criteria it cannot check against the list; forwards them for a partner without one', async () => {
    const upstream = await CallbackReceiver.start();
    upstream.respondWith((req) => upstreamAnswer(req, 'succ', { reg_records: [upstreamPersonRecord] }));
    // An attribute only the upstream knows: answered, the people it returns would tell its value, which the narrow
    // partner's list (sex, birth_date) may not include.
    const byUpstreamAttribute = (sender: string) =>
      searchEnvelope([searchItem({ query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'hiv_status', operator: 'eq', attribute_value: 'positive' } }] }, 'r-u')], { sender_id: sender });
    const sortedByIt = (sender: string) =>
      searchEnvelope([searchItem({ query_type: 'expression', query: { expression: { query: { sex: { $eq: 'female' } } } }, sort: [{ attribute_name: 'hiv_status', sort_order: 'asc' }] }, 'r-s')], { sender_id: sender });
    try {
      await withFakeUpstream(upstream.url, 'unknown-attribute', {}, async (gw) => {
        const token = await narrowToken(gw);
        for (const body of [byUpstreamAttribute(narrowPartner.id), sortedByIt(narrowPartner.id)]) {
          const res = await postJson(`${gw.url}/crvs/registry/sync/search`, token, body);
          expect(res.status).toBe(200);
          expect(res.json.message.search_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid', status_reason_message: expect.stringMatching(/field list/) });
          expect(res.text).not.toContain('Secret-Name');
        }
        expect(upstream.requests).toHaveLength(0);
        // A lookup by an identifier the partner holds still goes upstream, projected to its fields.
        const byUin = await postJson(`${gw.url}/crvs/registry/sync/search`, token, narrowByUin());
        expect(byUin.json.message.search_response[0].status).toBe('succ');
        expect(byUin.text).not.toContain('Secret-Name');
        expect(upstream.requests).toHaveLength(1);

        const wide = await postJson(`${gw.url}/crvs/registry/sync/search`, await gw.token({ clientId: widePartner.id, secret: widePartner.secret }), byUpstreamAttribute(widePartner.id));
        expect(wide.status).toBe(200);
        expect(wide.json.message.search_response[0].status).toBe('succ');
        expect(upstream.requests).toHaveLength(2);
        expect(upstream.requests[1].body.message.search_request[0].search_criteria.query[0].expression1.attribute_name).toBe('hiv_status');
      });
    } finally {
      await upstream.close();
    }
  });

  it("leaves out of a partner's projection the JSON-LD @id that names an upstream's person, keeping @type and @context", async () => {
    const upstream = await CallbackReceiver.start();
    const record = { ...upstreamPersonRecord, '@context': { '@vocab': 'https://schema.spdci.org/extensions/crvs/v1' }, '@id': 'urn:uin:SECRET-UIN-42', name: { '@id': 'urn:name:Secret-Name', given_name: 'Secret-Name' } };
    upstream.respondWith((req) => upstreamAnswer(req, 'succ', { reg_records: [record] }));
    try {
      await withFakeUpstream(upstream.url, 'json-ld-id', {}, async (gw) => {
        const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), narrowByUin());
        expect(res.status).toBe(200);
        expect(res.text).not.toContain('SECRET-UIN-42');
        const [projected] = res.json.message.search_response[0].data.reg_records;
        expect(projected).toEqual({ '@type': 'CRVS_Person', '@context': record['@context'], sex: 'female', birth_date: '1990-01-01' });
      });
    } finally {
      await upstream.close();
    }
  });

  it('projects and audits an upstream record sent as an object, not an array (DIGEST 3.2, 11.1 #6)', async () => {
    const upstream = await CallbackReceiver.start();
    upstream.respondWith((req) => upstreamAnswer(req, 'succ', { reg_record_type: 'Person', reg_records: upstreamPersonRecord }));
    try {
      await withFakeUpstream(upstream.url, 'object-records', {}, async (gw) => {
        const before = await auditCount();
        const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), narrowByUin());
        expect(res.status).toBe(200);
        expect(res.text).not.toContain('Secret-Name');
        expect(res.text).not.toContain('SECRET-UIN-42');
        expect(await auditCount()).toBe(before + 1);
      });
    } finally {
      await upstream.close();
    }
  });

  it('answers with items shaped as its own: known status and reason codes, integer counts, ISO 639-3 locale, version, reg_type and reg_record_type', async () => {
    const upstream = await CallbackReceiver.start();
    upstream.respondWith((req) => {
      const second = req.body.message.search_request[1];
      const answer = upstreamAnswer(req, 'succ', { version: '', reg_records: [upstreamPersonRecord] });
      Object.assign(answer.body.message.search_response[0], { status_reason_code: '', status_reason_message: '', pagination: { page_size: '10', page_number: '1', total_count: '' }, locale: 'EN/GB' });
      answer.body.message.search_response.push({ reference_id: second.reference_id, timestamp: '', status: 'RJCT', status_reason_code: '200', status_reason_message: 'nothing' } as never);
      return answer;
    });
    try {
      await withFakeUpstream(upstream.url, 'shapes', {}, async (gw) => {
        const items = [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-1'), searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: otherUin } }, 'r-2')];
        const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), searchEnvelope(items, { sender_id: narrowPartner.id }));
        expect(res.status).toBe(200);
        const [answered, rejected] = res.json.message.search_response;
        expect(answered).toEqual({
          reference_id: 'r-1',
          timestamp: expect.any(String),
          status: 'succ',
          data: { version: '1.0.0', reg_type: 'ns:org:RegistryType:Civil', reg_record_type: 'spdci-extensions-dci:Person', reg_records: [{ '@type': 'CRVS_Person', sex: 'female', birth_date: '1990-01-01' }] },
          pagination: { page_size: 10, page_number: 1, total_count: 1 },
          locale: 'eng',
        });
        expect(rejected).toEqual({ reference_id: 'r-2', timestamp: expect.any(String), status: 'rjct', status_reason_message: 'nothing', locale: 'eng' });
      });
    } finally {
      await upstream.close();
    }
  });
  it('answers each item of a batch whose reference_ids are empty (DIGEST 11.4) with its own records, not the last item\'s', async () => {
    // Empty reference_ids are accepted and each item answered on its own by the registry itself.
    const items = () => [
      searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, ''),
      searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: otherUin } }, ''),
    ];
    const uinsOf = (item: any) => item.data.reg_records.flatMap((r: any) => r.identifier.filter((i: any) => i.identifier_type === 'UIN').map((i: any) => i.identifier_value));
    const direct = await postJson(`${pair.crvs.url}/crvs/registry/sync/search`, await pair.crvs.token(), searchEnvelope(items()));
    expect(direct.json.message.search_response.map(uinsOf)).toEqual([[uin], [otherUin]]);

    const viaGateway = await postJson(`${gateway.url}/crvs/registry/sync/search`, await gateway.token(), searchEnvelope(items()));
    expect(viaGateway.status).toBe(200);
    expect(viaGateway.json.message.search_response.map((i: any) => i.status)).toEqual(['succ', 'succ']);
    // The first item asked for `uin`: it must not be answered with the other person's record.
    expect(viaGateway.json.message.search_response.map(uinsOf)).toEqual([[uin], [otherUin]]);
  });

  it('refuses a later item repeating a reference_id (rjct.reference_id.duplicate), as the registry itself does, and answers the first with its own record', async () => {
    const items = [
      searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-same'),
      searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: otherUin } }, 'r-same'),
    ];
    const res = await postJson(`${gateway.url}/crvs/registry/sync/search`, await gateway.token(), searchEnvelope(items));
    expect(res.status).toBe(200);
    const [first, second] = res.json.message.search_response;
    expect(first).toMatchObject({ reference_id: 'r-same', status: 'succ' });
    expect(first.data.reg_records.flatMap((r: any) => r.identifier.filter((i: any) => i.identifier_type === 'UIN').map((i: any) => i.identifier_value))).toEqual([uin]);
    expect(second).toMatchObject({ reference_id: 'r-same', status: 'rjct', status_reason_code: 'rjct.reference_id.duplicate' });
    expect(second.data).toBeUndefined();
  });

  it('answers 502 when the upstream answers one item twice', async () => {
    const upstream = await CallbackReceiver.start();
    upstream.respondWith((req) => {
      const answer = upstreamAnswer(req, 'succ', { reg_records: [upstreamPersonRecord] });
      answer.body.message.search_response.push({ ...answer.body.message.search_response[0] });
      return answer;
    });
    try {
      await withFakeUpstream(upstream.url, 'item-twice', {}, async (gw) => {
        const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), narrowByUin());
        expect(res.status).toBe(502);
        expect(res.json.message.error.code).toBe('err.service.unavailable');
      });
    } finally {
      await upstream.close();
    }
  });

  it('sends the search again with a fresh token when the upstream refuses the cached one with 401', async () => {
    const upstream = await CallbackReceiver.start();
    let issued = 0;
    upstream.respondWith((req) => {
      if (req.path.startsWith('/oauth2/client/token')) return { status: 200, body: { access_token: `token-${++issued}`, token_type: 'Bearer', expires_in: 3600 } };
      // The upstream restarted (or revoked it): the first token it issued is no longer good.
      if (req.headers.authorization === 'Bearer token-1') return { status: 401, body: { errors: [{ code: 'err.request.unauthorized', message: 'token expired' }] } };
      return upstreamAnswer(req, 'succ', { reg_records: [upstreamPersonRecord] });
    });
    try {
      await withFakeUpstream(upstream.url, 'token-401', { auth: { token_url: `${upstream.url}/oauth2/client/token`, client_id: 'gateway-a', client_secret: 's' } }, async (gw) => {
        const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), narrowByUin());
        expect(res.status).toBe(200);
        expect(res.json.message.search_response[0].status).toBe('succ');
        const searches = upstream.requests.filter((r) => r.path.endsWith('/registry/sync/search'));
        expect(searches.map((r) => r.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
      });
    } finally {
      await upstream.close();
    }
  });

  it("passes on the upstream's header rejection (its DCI reason code, its message said to be the upstream's) rather than refusing each item as bad criteria", async () => {
    const upstream = await CallbackReceiver.start();
    upstream.respondWith((req) => {
      const answer = upstreamAnswer(req, 'succ', {});
      Object.assign(answer.body.header, { status: 'rjct', status_reason_code: 'rjct.total_count.limit_exceeded', status_reason_message: 'at most 0 items today' });
      answer.body.message.search_response = [];
      return answer;
    });
    try {
      await withFakeUpstream(upstream.url, 'header-rjct', {}, async (gw) => {
        const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), narrowByUin());
        expect(res.status).toBe(200);
        expect(res.json.header).toMatchObject({
          status: 'rjct',
          status_reason_code: 'rjct.total_count.limit_exceeded',
          status_reason_message: 'the upstream national-crvs rejected the request: at most 0 items today',
        });
        expect(res.json.message.search_response).toEqual([]);
      });
    } finally {
      await upstream.close();
    }
  });

  it("says in its 502 why the upstream refused the search (its DCI error code and message), as the async search's failure does", async () => {
    const upstream = await CallbackReceiver.start();
    const refusal = { code: 'err.sender_id.invalid', message: 'gateway-a is not registered here' };
    upstream.respondWith(() => ({ status: 403, body: { message: { ack_status: 'ERR', timestamp: new Date().toISOString(), correlation_id: 'c-1', error: refusal }, errors: [refusal] } }));
    try {
      await withFakeUpstream(upstream.url, 'refusal-reason', {}, async (gw) => {
        const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), narrowByUin());
        expect(res.status).toBe(502);
        expect(res.json.message.error).toMatchObject({ code: 'err.service.unavailable', message: 'the crvs registry national-crvs answered HTTP 403: err.sender_id.invalid: gateway-a is not registered here' });
      });
    } finally {
      await upstream.close();
    }
  });

  it("asks the upstream's token endpoint with the timestamp header the DCI authz API requires (DIGEST 7.3)", async () => {
    const upstream = await CallbackReceiver.start();
    upstream.respondWith((req) => {
      if (req.path.startsWith('/oauth2/client/token')) {
        // authz_core_api: header `timestamp` (required, an HTTP-date).
        const ts = req.headers.timestamp;
        if (typeof ts !== 'string' || Number.isNaN(Date.parse(ts)) || !ts.endsWith('GMT')) return { status: 400, body: { error: 'invalid_request', error_description: 'timestamp header required' } };
        return { status: 200, body: { access_token: 'token-ts', token_type: 'Bearer', expires_in: '3600' } };
      }
      return upstreamAnswer(req, 'succ', { reg_records: [upstreamPersonRecord] });
    });
    try {
      await withFakeUpstream(upstream.url, 'token-timestamp', { auth: { token_url: `${upstream.url}/oauth2/client/token`, client_id: 'gateway-a', client_secret: 's' } }, async (gw) => {
        const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), narrowByUin());
        expect(res.status, res.text).toBe(200);
        expect(res.json.message.search_response[0].status).toBe('succ');
        expect(upstream.requests.find((r) => r.path.endsWith('/registry/sync/search'))?.headers.authorization).toBe('Bearer token-ts');
      });
    } finally {
      await upstream.close();
    }
  });

  it('answers a message sent again after a 502 (the upstream was down a moment) instead of refusing it as a duplicate', async () => {
    const upstream = await CallbackReceiver.start();
    let calls = 0;
    upstream.respondWith((req) => (++calls === 1 ? { status: 503, body: { errors: [{ code: 'err.service.unavailable', message: 'restarting' }] } } : upstreamAnswer(req, 'succ', { reg_records: [upstreamPersonRecord] })));
    try {
      await withFakeUpstream(upstream.url, 'retry-after-502', {}, async (gw) => {
        const token = await narrowToken(gw);
        const envelope = narrowByUin();
        const first = await postJson(`${gw.url}/crvs/registry/sync/search`, token, envelope);
        expect(first.status).toBe(502);
        // The partner's client retries the very message, as HTTP clients do on a 502.
        const again = await postJson(`${gw.url}/crvs/registry/sync/search`, token, envelope);
        expect(again.status).toBe(200);
        expect(again.json.header.status).toBe('succ');
        expect(again.json.message.search_response[0]).toMatchObject({ status: 'succ', data: { reg_records: [{ sex: 'female', birth_date: '1990-01-01' }] } });
        // Answered once, it is then a replay.
        const replay = await postJson(`${gw.url}/crvs/registry/sync/search`, token, envelope);
        expect(replay.json.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.message_id.duplicate' });
        expect(calls).toBe(2);
      });
    } finally {
      await upstream.close();
    }
  });

  it('answers 502 err.service.unavailable, with no record, when the upstream answers another transaction', async () => {
    const upstream = await CallbackReceiver.start();
    upstream.respondWith((req) => {
      const answer = upstreamAnswer(req, 'succ', { reg_records: [upstreamPersonRecord] });
      answer.body.message.transaction_id = 'someone-elses-transaction';
      return answer;
    });
    try {
      await withFakeUpstream(upstream.url, 'other-txn', {}, async (gw) => {
        const res = await postJson(`${gw.url}/crvs/registry/sync/search`, await narrowToken(gw), narrowByUin());
        expect(res.status).toBe(502);
        expect(res.json.message.error).toMatchObject({ code: 'err.service.unavailable', message: expect.stringContaining('another transaction_id') });
        expect(res.text).not.toContain('1990-01-01');
      });
    } finally {
      await upstream.close();
    }
  });
});

describe('gateway mode: the IBR and DR endpoints it does not forward', () => {
  it('refuses them with 501 when their domain is served upstream, instead of answering from its own registry', async () => {
    const upstream = await CallbackReceiver.start();
    try {
      // IBR and DR served upstream: their searches go there, and the gateway's own registry holds none of their records.
      const file = pair.upstreamsFile(
        'local-only.json',
        ['ibr', 'dr'].map((domain) => ({ domain, id: `national-${domain}`, base_url: `${upstream.url}/${domain}`, signature: 'off', auth: undefined, jwks_uri: undefined })),
      );
      const gw = await startTestServer({ UPSTREAMS_FILE: file }, { db: gatewayDb, signingKey: gatewayKey, partners: [narrowPartner, widePartner] });
      try {
        const token = await gw.token({ clientId: widePartner.id, secret: widePartner.secret });
        const header = (action: string) => ({ version: '1.0.0', message_id: `m-${Math.random()}`, message_ts: new Date().toISOString(), action, sender_id: widePartner.id, total_count: 1 });
        const criteria = { query_type: 'idtype-value', query: { type: 'UIN', value: uin } };
        const calls: [string, unknown][] = [
          ['/ibr/registry/sync/enrolled', { header: header('search'), message: { transaction_id: 't-1', enrolled_criteria: criteria } }],
          ['/ibr/registry/sync/enrollment/updates', { header: header('notify'), message: { transaction_id: 't-2', enrolled_updates: { beneficiaries: [] } } }],
          ['/dr/registry/sync/disabled', { header: header('search'), message: { transaction_id: 't-3', disabled_criteria: criteria } }],
          ['/dr/registry/sync/get-disability-details', { header: header('search'), message: { transaction_id: 't-4', disabled_criteria: criteria } }],
          ['/dr/registry/sync/get-disability-support', { header: header('search'), message: { transaction_id: 't-5', disabled_criteria: criteria } }],
          ['/dr/assessments', { person: { identifier_type: 'UIN', identifier_value: uin }, assessment_date: '2026-01-01', disability_status: 'Approved' }],
        ];
        for (const [path, body] of calls) {
          const res = await postJson(`${gw.url}${path}`, token, body);
          expect(res.status, path).toBe(501);
          expectErrorBody(res.json, 'err.service.unavailable');
          expect(res.json.message.error.message, path).toMatch(/national-(ibr|dr)/);
        }
        // The domains' searches still go upstream.
        upstream.respondWith((req) => upstreamAnswer(req, 'succ', { reg_records: [] }));
        const search = await postJson(`${gw.url}/ibr/registry/sync/search`, token, searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-1')], { sender_id: widePartner.id }));
        expect(search.status).toBe(200);
        expect(upstream.requests.map((r) => r.path)).toEqual(['/ibr/registry/sync/search']);
        // Without a token, the token is asked for first (401), as on every DCI route.
        expect((await postJson(`${gw.url}/ibr/registry/sync/enrolled`, '', calls[0][1])).status).toBe(401);
      } finally {
        await gw.close();
      }
    } finally {
      await upstream.close();
    }
  });
});
