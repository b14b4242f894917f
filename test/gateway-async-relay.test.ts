import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import type { SigningKey } from '../src/dci/signing/keys.js';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { clearValue, idColumns } from './support/data-keys.js';
import { CallbackReceiver, type ReceivedRequest, waitFor } from './support/receiver.js';
import { type GatewayPair, startGatewayPair, upstreamPersonRecord } from './support/gateway.js';
import { openTestDatabase, startTestServer, type TestPartner, type TestServer } from './support/server.js';

/**
 * Gateway mode, async: what the gateway forwards to its upstream and relays to its callers, as the callers see it
 * (callbacks, txn status, audit). Most tests use a fake upstream (no signature) on a gateway of their own database.
 */

let pair: GatewayPair;
let gatewayKey: SigningKey;
let receiver: CallbackReceiver;
let uin: string;
let givenName: string;

const narrowCaller = (receiverUrl: string): TestPartner => ({
  id: 'narrow-caller',
  secret: 'narrow-caller-secret',
  scopes: ['crvs:registry.search', 'crvs:registry.txn-status'],
  callbacks: { origins: [receiverUrl], allowPrivateNetwork: true },
  fields: ['sex', 'birth_date'],
});
const purposeCaller = (receiverUrl: string): TestPartner => ({
  id: 'purpose-caller',
  secret: 'purpose-caller-secret',
  scopes: ['crvs:registry.search'],
  callbacks: { origins: [receiverUrl], allowPrivateNetwork: true },
  purposes: ['eligibility-check'],
});
const plainCaller = (id: string, receiverUrl: string): TestPartner => ({
  id,
  secret: `${id}-secret`,
  scopes: ['crvs:registry.search'],
  callbacks: { origins: [receiverUrl], allowPrivateNetwork: true },
});
const upstreamPartner: TestPartner = { id: 'national-crvs', secret: 'national-crvs-secret', scopes: ['crvs:registry.on-search'] };

beforeAll(async () => {
  receiver = await CallbackReceiver.start();
  pair = await startGatewayPair({
    env: { WORKER_POLL_MS: '50' },
    crvsPartners: (gw) => [
      { id: 'gateway-a', secret: 'gateway-a-secret', scopes: ['crvs:registry.search'], signature: 'required', jwks: { keys: [gw.key.publicJwk] }, callbacks: { origins: [gw.url], allowPrivateNetwork: true, auth: { tokenUrl: `${gw.url}/oauth2/client/token`, clientId: 'national-crvs', clientSecret: 'national-crvs-secret' } } },
      // The narrow caller asking the national CRVS directly.
      narrowCaller(receiver.url),
    ],
    gatewayPartners: (crvsUrl) => [
      { ...upstreamPartner, signature: 'required', jwksUri: `${crvsUrl}/.well-known/jwks.json` },
      narrowCaller(receiver.url),
      purposeCaller(receiver.url),
    ],
  });
  gatewayKey = pair.gatewayKey;
  const [row] = await pair.crvsDb.query(`select ${idColumns()}, x.individual_id from identifiers x where x.id_type = 'UIN' order by x.id limit 1`);
  uin = clearValue(row);
  givenName = (await pair.crvsDb.query<{ given_name: string }>(`select given_name from individuals where id = $1`, [row.individual_id]))[0].given_name;
});
afterAll(async () => {
  await pair?.close();
  await receiver?.close();
});

/** Posts an async search of `partner` to `server`; its gateway correlation id. */
async function asyncSearch(server: TestServer, partner: TestPartner, items: Record<string, unknown>[], transactionId?: string): Promise<string> {
  const envelope = searchEnvelope(items, { sender_id: partner.id, sender_uri: `${receiver.url}/on-search` });
  if (transactionId) (envelope.message as { transaction_id: string }).transaction_id = transactionId;
  const res = await postJson(`${server.url}/crvs/registry/search`, await server.token({ clientId: partner.id, secret: partner.secret }), envelope);
  expect(res.status, res.text).toBe(202);
  return res.json.message.correlation_id;
}

/** The fake upstream's on-search to the gateway for its request `req`. */
async function upstreamOnSearch(server: TestServer, req: ReceivedRequest, correlationId: string, item: Record<string, unknown>, header: Record<string, unknown> = {}) {
  return postJson(`${server.url}/crvs/registry/on-search`, await server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' }), {
    header: { version: '1.0.0', message_id: `up-${Math.random()}`, message_ts: new Date().toISOString(), action: 'on-search', status: 'succ', sender_id: 'national-crvs', total_count: 1, completed_count: 1, ...header },
    message: {
      transaction_id: req.body.message.transaction_id,
      correlation_id: correlationId,
      search_response: [{ reference_id: req.body.message.search_request[0].reference_id, timestamp: new Date().toISOString(), ...item }],
    },
  });
}

interface FakeGateway {
  upstream: CallbackReceiver;
  server: TestServer;
  db: Database;
  restart(env?: Record<string, string>): Promise<void>;
}

/** A gateway of its own database forwarding CRVS to a fake upstream (no signature checked), as gateway-async.test.ts does. */
async function withFakeUpstream(name: string, partners: TestPartner[], run: (ctx: FakeGateway) => Promise<void>, opts: { env?: Record<string, string>; overrides?: (upstreamUrl: string) => Record<string, unknown> } = {}): Promise<void> {
  const upstream = await CallbackReceiver.start();
  const file = pair.upstreamsFile(`relay-${name}.json`, { base_url: `${upstream.url}/crvs`, signature: 'off', auth: undefined, jwks_uri: undefined, ...opts.overrides?.(upstream.url) });
  const db = await openTestDatabase();
  const start = (env: Record<string, string> = {}) =>
    startTestServer({ WORKER_POLL_MS: '50', UPSTREAMS_FILE: file, ...opts.env, ...env }, { db, signingKey: gatewayKey, partners: [upstreamPartner, ...partners] });
  const ctx: FakeGateway = {
    upstream,
    db,
    server: await start(),
    async restart(env) {
      await ctx.server.close();
      ctx.server = await start(env);
    },
  };
  try {
    await run(ctx);
  } finally {
    await ctx.server.close();
    await db.close();
    await upstream.close();
  }
}

const ack = (correlationId: string) => ({ message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: correlationId } });

describe('gateway mode: async search forwarded upstream, as its callers see it', () => {
  it("refuses an item stating no purpose of the caller's list, as the sync search does, instead of forwarding it", async () => {
    const caller = purposeCaller(receiver.url);
    const token = await pair.gateway.token({ clientId: caller.id, secret: caller.secret });
    const item = () => searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-no-purpose');
    // Sync, the gateway refuses it (UpstreamSearch.answer applies handling.refuse).
    const sync = await postJson(`${pair.gateway.url}/crvs/registry/sync/search`, token, searchEnvelope([item()], { sender_id: caller.id }));
    expect(sync.json.message.search_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });

    // Async, the same item must be refused the same way, not sent to the national CRVS and answered with the person.
    const correlationId = await asyncSearch(pair.gateway, caller, [item()]);
    const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 15_000, 'the on-search');
    const [answered] = callback.body.message.search_response;
    expect(answered).toMatchObject({ reference_id: 'r-no-purpose', status: 'rjct' });
    expect(answered.data?.reg_records ?? []).toEqual([]);
  });

  it('refuses a forwarded search by an attribute the caller may not receive, as the registry itself does', async () => {
    const caller = narrowCaller(receiver.url);
    const byName = () => [searchItem({ query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'given_name', operator: 'eq', attribute_value: givenName } }] }, 'r-by-name')];
    // Asked directly, the national CRVS refuses a query on given_name from a partner that may not receive names.
    const direct = await asyncSearch(pair.crvs, caller, byName());
    const [directCallback] = await waitFor(() => receiver.forCorrelation(direct).length > 0 && receiver.forCorrelation(direct), 15_000, 'the direct on-search');
    expect(directCallback.body.message.search_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });

    // Through the gateway the same query is refused too, not sent upstream (where the gateway may search by anything).
    const viaGateway = await asyncSearch(pair.gateway, caller, byName());
    const [callback] = await waitFor(() => receiver.forCorrelation(viaGateway).length > 0 && receiver.forCorrelation(viaGateway), 15_000, 'the relayed on-search');
    expect(callback.body.message.search_response[0]).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
  });

  it('forwards the items a caller may ask and answers the others itself, in the one on-search', async () => {
    const caller = narrowCaller(receiver.url);
    const items = [
      searchItem({ query_type: 'predicate', query: [{ seq_num: 1, expression1: { attribute_name: 'given_name', operator: 'eq', attribute_value: givenName } }] }, 'r-by-name'),
      searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-by-uin'),
    ];
    const correlationId = await asyncSearch(pair.gateway, caller, items);
    const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 15_000, 'the relayed on-search');
    expect(callback.body.header).toMatchObject({ status: 'succ', total_count: 2, completed_count: 2 });
    const answered = (ref: string) => callback.body.message.search_response.find((i: { reference_id: string }) => i.reference_id === ref);
    const [byName, byUin] = [answered('r-by-name'), answered('r-by-uin')];
    expect(byName).toMatchObject({ reference_id: 'r-by-name', status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' });
    expect(byUin).toMatchObject({ reference_id: 'r-by-uin', status: 'succ' });
    expect(byUin.data.reg_records.map((r: Record<string, unknown>) => Object.keys(r).filter((k) => !k.startsWith('@')).sort())).toEqual([['birth_date', 'sex']]);
    expect(callback.text).not.toContain(givenName);
  });

  it("projects and audits relayed records whose item status is spelled 'success' (DIGEST 2.3) or sent as one object (DIGEST 3.2)", async () => {
    const caller = narrowCaller(receiver.url);
    await withFakeUpstream('spellings', [caller], async (ctx) => {
      ctx.upstream.respondWith(() => ({ status: 200, body: ack(`up-${ctx.upstream.requests.length}`) }));
      const audited = async () => Number((await ctx.db.query(`select count(*)::int as n from audit_log where partner_id = 'narrow-caller' and action = 'search'`))[0].n);
      for (const [name, item] of [
        ['status success', { status: 'success', data: { reg_records: [upstreamPersonRecord] } }],
        ['status SUCC', { status: 'SUCC', data: { reg_records: [upstreamPersonRecord] } }],
        ['reg_records object', { status: 'succ', data: { reg_record_type: 'Person', reg_records: upstreamPersonRecord } }],
      ] as const) {
        const before = await audited();
        const sent = ctx.upstream.requests.length;
        const correlationId = await asyncSearch(ctx.server, caller, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-1')]);
        const req = await waitFor(() => ctx.upstream.requests[sent], 10_000, 'the forwarded search');
        await waitFor(async () => (await ctx.db.query(`select 1 from outbound_requests where message_id = $1 and correlation_id is not null`, [req.body.header.message_id])).length > 0 || undefined, 10_000, 'the ACK');
        expect((await upstreamOnSearch(ctx.server, req, `up-${sent + 1}`, item)).status, name).toBe(200);
        const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'the relayed on-search');
        expect(callback.text, name).not.toContain('Secret-Name');
        expect(callback.text, name).not.toContain('SECRET-UIN-42');
        expect(callback.body.message.search_response[0], name).toMatchObject({ status: 'succ', data: { version: '1.0.0', reg_type: 'ns:org:RegistryType:Civil', reg_record_type: 'spdci-extensions-dci:Person' }, locale: 'eng' });
        expect(await audited(), name).toBe(before + 1);
      }
    });
  });

  it("relays an upstream's answer to the caller whose search it answers when two callers used the same transaction_id", async () => {
    const a = plainCaller('caller-a', receiver.url);
    const b = plainCaller('caller-b', receiver.url);
    await withFakeUpstream(
      'shared-txn',
      [a, b],
      async (ctx) => {
        // The upstream is slow to ACK: its answers may come first (README: "a callback may arrive before the peer's ACK does").
        ctx.upstream.respondWith((req) => ({ status: 200, body: ack(`up-${req.body.message.search_request[0].reference_id}`), delayMs: 3000 }));
        // Both callers name their search "1" (transaction_id is the sender's own id: DIGEST 2.5 "sender-unique").
        const ca = await asyncSearch(ctx.server, a, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'ref-a')], '1');
        const cb = await asyncSearch(ctx.server, b, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'ref-b')], '1');
        // Executed together (one round), both sent upstream before either ACK is back.
        await ctx.restart({ WORKERS: 'true' });
        await waitFor(() => ctx.upstream.requests.length === 2 || undefined, 10_000, 'both searches forwarded');
        const rows = await ctx.db.query<{ id: number; relay_transaction_id: number }>(`select id, relay_transaction_id from outbound_requests order by id`);
        expect(rows).toHaveLength(2);
        // The upstream answers the search sent first, with a record only its caller should see.
        const [firstTxn] = await ctx.db.query<{ sender_id: string; correlation_id: string }>(`select sender_id, correlation_id from dci_transactions where id = $1`, [rows[0].relay_transaction_id]);
        const firstRef = firstTxn.sender_id === 'caller-a' ? 'ref-a' : 'ref-b';
        const req = ctx.upstream.requests.find((r) => r.body.message.search_request[0].reference_id === firstRef)!;
        expect((await upstreamOnSearch(ctx.server, req, `up-${firstRef}`, { status: 'succ', data: { reg_records: [upstreamPersonRecord] } })).status).toBe(200);
        const owner = firstTxn.correlation_id;
        const other = owner === ca ? cb : ca;
        await waitFor(() => receiver.forCorrelation(owner).length + receiver.forCorrelation(other).length > 0 || undefined, 10_000, 'the relayed on-search');
        await new Promise((r) => setTimeout(r, 500));
        expect(receiver.forCorrelation(other), 'the other caller got the answer').toEqual([]);
        expect(receiver.forCorrelation(owner)).toHaveLength(1);
      },
      { env: { WORKERS: 'false' } },
    );
  });

  it('refuses an upstream answer that could answer either of two requests (404), and relays it to no one', async () => {
    const a = plainCaller('guess-a', receiver.url);
    const b = plainCaller('guess-b', receiver.url);
    await withFakeUpstream(
      'no-guess',
      [a, b],
      async (ctx) => {
        const ca = await asyncSearch(ctx.server, a, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'ref-a')]);
        const cb = await asyncSearch(ctx.server, b, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'ref-b')]);
        // Two sends under one transaction_id, neither correlated yet (as the gateway sent them before it named its own).
        await ctx.db.query(
          `insert into outbound_requests (domain, peer_id, action, message_id, transaction_id, request, state, relay_transaction_id)
           select 'crvs', 'national-crvs', 'search', 'm-' || correlation_id, 'shared', '{}'::jsonb, 'sent', id from dci_transactions where correlation_id in ($1, $2)`,
          [ca, cb],
        );
        const res = await postJson(`${ctx.server.url}/crvs/registry/on-search`, await ctx.server.token({ clientId: 'national-crvs', secret: 'national-crvs-secret' }), {
          header: { version: '1.0.0', message_id: 'up-guess', message_ts: new Date().toISOString(), action: 'on-search', status: 'succ', sender_id: 'national-crvs', total_count: 1, completed_count: 1 },
          message: { transaction_id: 'shared', correlation_id: 'up-c', search_response: [{ reference_id: 'ref-a', timestamp: new Date().toISOString(), status: 'succ', data: { reg_records: [upstreamPersonRecord] } }] },
        });
        expect(res.status).toBe(404);
        expect((await ctx.db.query(`select count(*)::int as n from callback_deliveries`))[0].n).toBe(0);
      },
      { env: { WORKERS: 'false' } },
    );
  });
  it('sends the search again with a fresh token when the upstream refuses the cached one with 401, instead of failing every search until it expires', async () => {
    const caller = plainCaller('caller-401', receiver.url);
    let issued = 0;
    await withFakeUpstream(
      'token-401',
      [caller],
      async (ctx) => {
        ctx.upstream.respondWith((req) => {
          if (req.path.startsWith('/oauth2/client/token')) return { status: 200, body: { access_token: `token-${++issued}`, token_type: 'Bearer', expires_in: 3600 } };
          if (req.headers.authorization === 'Bearer token-1') return { status: 401, body: { errors: [{ code: 'err.request.unauthorized', message: 'token expired' }] } };
          return { status: 200, body: ack(`up-${ctx.upstream.requests.length}`) };
        });
        const correlationId = await asyncSearch(ctx.server, caller, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-1')]);
        await waitFor(async () => (await ctx.db.query(`select 1 from outbound_requests where state = 'acknowledged'`)).length > 0 || undefined, 10_000, 'the search taken upstream');
        const searches = ctx.upstream.requests.filter((r) => r.path.endsWith('/registry/search'));
        expect(searches.map((r) => r.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
        // Taken: pending until the upstream answers (not failed, not waiting to be sent again).
        await waitFor(async () => (await ctx.db.query<{ state: string }>(`select state from dci_transactions where correlation_id = $1`, [correlationId]))[0].state === 'pending' || undefined, 10_000, 'the search pending');
      },
      { overrides: (url) => ({ auth: { token_url: `${url}/oauth2/client/token`, client_id: 'gateway-a', client_secret: 's' } }) },
    );
  });

  it('takes an upstream ACK nested in an envelope as message.message (DIGEST 11.4, the IBR sample) and relays the answer that follows', async () => {
    const caller = plainCaller('caller-nested-ack', receiver.url);
    await withFakeUpstream('nested-ack', [caller], async (ctx) => {
      // samples/ibr/processflow1res.json: the ACK inside a message inside an envelope.
      ctx.upstream.respondWith(() => ({
        status: 200,
        body: {
          header: { version: '1.0.0', message_id: 'up-ack-1', message_ts: new Date().toISOString(), action: 'search', status: 'rcvd', sender_id: 'national-crvs', total_count: '1', completed_count: '' },
          message: { transaction_id: '', message: { ack_status: 'ACK', timestamp: '', correlation_id: 'up-nested' } },
        },
      }));
      const correlationId = await asyncSearch(ctx.server, caller, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-nested')]);
      const req = await waitFor(() => ctx.upstream.requests[0], 10_000, 'the forwarded search');
      await waitFor(async () => (await ctx.db.query(`select 1 from outbound_requests where state <> 'sent'`)).length > 0 || undefined, 10_000, 'the ACK read');
      expect((await ctx.db.query(`select state, correlation_id from outbound_requests`))[0]).toEqual({ state: 'acknowledged', correlation_id: 'up-nested' });
      expect((await upstreamOnSearch(ctx.server, req, 'up-nested', { status: 'succ', data: { reg_records: [upstreamPersonRecord] } })).status).toBe(200);
      const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'the relayed on-search');
      expect(callback.body.header.status).toBe('succ');
      expect(callback.body.message.search_response[0]).toMatchObject({ reference_id: 'r-nested', status: 'succ' });
    });
  });

  it('relays an upstream on-search whose correlation_id is empty (DIGEST 11.4, samples/social/processflow2res.json) by its transaction_id, which is ours', async () => {
    const caller = plainCaller('caller-empty-correlation', receiver.url);
    await withFakeUpstream('empty-correlation', [caller], async (ctx) => {
      ctx.upstream.respondWith(() => ({ status: 200, body: ack('up-named') }));
      const correlationId = await asyncSearch(ctx.server, caller, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-empty')]);
      const req = await waitFor(() => ctx.upstream.requests[0], 10_000, 'the forwarded search');
      await waitFor(async () => (await ctx.db.query(`select 1 from outbound_requests where correlation_id = 'up-named'`)).length > 0 || undefined, 10_000, 'the ACK');
      // The upstream's ACK named its correlation id; its on-search leaves it empty, as the samples do.
      const acked = await upstreamOnSearch(ctx.server, req, '', { status: 'succ', data: { reg_records: [upstreamPersonRecord] } });
      expect(acked.status, acked.text).toBe(200);
      expect(acked.json.message).toMatchObject({ ack_status: 'ACK', correlation_id: 'up-named' });
      const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'the relayed on-search');
      expect(callback.body.header.status).toBe('succ');
      expect(callback.body.message.search_response[0]).toMatchObject({ reference_id: 'r-empty', status: 'succ' });
    });
  });

  it('relays an upstream on-search naming its correlation_id after an ACK that left it empty', async () => {
    const caller = plainCaller('caller-empty-ack', receiver.url);
    await withFakeUpstream('empty-ack', [caller], async (ctx) => {
      ctx.upstream.respondWith(() => ({ status: 200, body: ack('') }));
      const correlationId = await asyncSearch(ctx.server, caller, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-empty-ack')]);
      const req = await waitFor(() => ctx.upstream.requests[0], 10_000, 'the forwarded search');
      await waitFor(async () => (await ctx.db.query(`select 1 from outbound_requests where state = 'acknowledged'`)).length > 0 || undefined, 10_000, 'the ACK');
      const acked = await upstreamOnSearch(ctx.server, req, 'up-later', { status: 'succ', data: { reg_records: [upstreamPersonRecord] } });
      expect(acked.status, acked.text).toBe(200);
      expect(acked.json.message).toMatchObject({ ack_status: 'ACK', correlation_id: 'up-later' });
      const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 10_000, 'the relayed on-search');
      expect(callback.body.message.search_response[0]).toMatchObject({ reference_id: 'r-empty-ack', status: 'succ' });
      expect((await ctx.db.query(`select correlation_id from outbound_requests`))[0]).toEqual({ correlation_id: 'up-later' });
    });
  });

  it('takes an upstream on-search page larger than MAX_BODY_BYTES (a full page of a registry paging at CALLBACK_MAX_MESSAGE_BYTES), up to UPSTREAM_MAX_ANSWER_BYTES', async () => {
    const caller = plainCaller('caller-big-page', receiver.url);
    await withFakeUpstream('big-page', [caller], async (ctx) => {
      ctx.upstream.respondWith(() => ({ status: 200, body: ack('up-big') }));
      const correlationId = await asyncSearch(ctx.server, caller, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-big')]);
      const req = await waitFor(() => ctx.upstream.requests[0], 10_000, 'the forwarded search');
      await waitFor(async () => (await ctx.db.query(`select 1 from outbound_requests where correlation_id = 'up-big'`)).length > 0 || undefined, 10_000, 'the ACK');
      // A registry paging its on-search at 1 MiB of items sends, with header and signature, a little more than the
      // 1 MiB MAX_BODY_BYTES.
      const records = Array.from({ length: 1030 }, (_, i) => ({ ...upstreamPersonRecord, birth_date: '1990-01-01', note: `${i}`.padEnd(1000, '.') }));
      const res = await upstreamOnSearch(ctx.server, req, 'up-big', { status: 'succ', data: { reg_records: records } });
      expect(res.status, res.text.slice(0, 300)).toBe(200);
      const [callback] = await waitFor(() => receiver.forCorrelation(correlationId).length > 0 && receiver.forCorrelation(correlationId), 20_000, 'the relayed on-search');
      expect(callback.body.message.search_response[0].data.reg_records).toHaveLength(1030);
    }, { env: { MAX_BODY_BYTES: String(1024 * 1024) } });
  });

  /** Forwards one search of `caller` to the fake upstream (ACKed at once) and has the upstream answer it with `item` and `header`. */
  async function answeredUpstream(ctx: FakeGateway, caller: TestPartner, referenceId: string, item: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    ctx.upstream.respondWith(() => ({ status: 200, body: ack('up-answer') }));
    const correlationId = await asyncSearch(ctx.server, caller, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, referenceId)]);
    const req = await waitFor(() => ctx.upstream.requests[0], 10_000, 'the forwarded search');
    await waitFor(async () => (await ctx.db.query(`select 1 from outbound_requests where correlation_id is not null`)).length > 0 || undefined, 10_000, 'the ACK');
    expect((await upstreamOnSearch(ctx.server, req, 'up-answer', item, header)).status).toBe(200);
    await waitFor(async () => ((await ctx.db.query<{ state: string }>(`select state from dci_transactions where correlation_id = $1`, [correlationId]))[0].state === 'delivered' || undefined), 10_000, 'the relayed answer delivered');
    return correlationId;
  }

  it('relays no record to a caller whose search scope was withdrawn while the upstream was answering, and audits none', async () => {
    const caller = plainCaller('caller-withdrawn', receiver.url);
    const ops: TestPartner = { id: 'ops-relay', secret: 'ops-relay-secret', scopes: ['admin'] };
    await withFakeUpstream('scope-withdrawn', [ops], async (ctx) => {
      const putCaller = async (scopes: string[]) => {
        const res = await fetch(`${ctx.server.url}/admin/partners/${caller.id}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${await ctx.server.token({ clientId: ops.id, secret: ops.secret })}`, 'content-type': 'application/json' },
          body: JSON.stringify({ secret: caller.secret, scopes, signature: 'off', callback_origins: [receiver.url], callback_private_network: true }),
        });
        expect(res.status, await res.text()).toBeLessThan(300);
      };
      await putCaller(['crvs:registry.search', 'crvs:registry.txn-status']);
      ctx.upstream.respondWith(() => ({ status: 200, body: ack('up-withdrawn') }));
      const correlationId = await asyncSearch(ctx.server, caller, [searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: uin } }, 'r-withdrawn')]);
      const req = await waitFor(() => ctx.upstream.requests[0], 10_000, 'the forwarded search');
      await waitFor(async () => (await ctx.db.query(`select 1 from outbound_requests where correlation_id is not null`)).length > 0 || undefined, 10_000, 'the ACK');
      // An operator withdraws the caller's search scope (it keeps txn status) before the upstream answers.
      await putCaller(['crvs:registry.txn-status']);
      expect((await upstreamOnSearch(ctx.server, req, 'up-withdrawn', { status: 'succ', data: { reg_records: [upstreamPersonRecord] } })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1000));
      expect(JSON.stringify(receiver.forCorrelation(correlationId).map((r) => r.body))).not.toContain('Secret-Name');
      expect(await ctx.db.query(`select 1 from audit_log where partner_id = $1 and action = 'search'`, [caller.id])).toEqual([]);
    });
  });

  it("passes on the upstream's header status_reason_code when it rejects the search as a whole (DIGEST 2.3)", async () => {
    const caller = plainCaller('caller-rjct', receiver.url);
    await withFakeUpstream('header-rjct', [caller], async (ctx) => {
      const correlationId = await answeredUpstream(
        ctx,
        caller,
        'r-too-many',
        { status: 'rjct', status_reason_code: 'rjct.search.too_many_records_found', status_reason_message: 'narrow it' },
        { status: 'rjct', status_reason_code: 'rjct.total_count.limit_exceeded', status_reason_message: 'at most 0 items today', completed_count: 0 },
      );
      const [callback] = receiver.forCorrelation(correlationId);
      expect(callback.body.header).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.total_count.limit_exceeded', status_reason_message: 'the upstream national-crvs rejected the request: at most 0 items today' });
    });
  });

  it("leaves out a header reason code of the upstream's that is not one of the DCI list, and keeps its message short", async () => {
    const caller = plainCaller('caller-rjct-odd', receiver.url);
    await withFakeUpstream('header-rjct-odd', [caller], async (ctx) => {
      const correlationId = await answeredUpstream(ctx, caller, 'r-odd', { status: 'rjct' }, { status: 'RJCT', status_reason_code: '500', status_reason_message: 'x'.repeat(2000), completed_count: 0 });
      const [callback] = receiver.forCorrelation(correlationId);
      expect(callback.body.header.status).toBe('rjct');
      expect(callback.body.header.status_reason_code).toBeUndefined();
      expect(callback.body.header.status_reason_message).toBe(`the upstream national-crvs rejected the request: ${'x'.repeat(500)}`);
    });
  });

  it('says in txn status that an item the upstream rejected was rejected, as its relayed on-search did', async () => {
    const caller: TestPartner = { ...plainCaller('caller-status', receiver.url), scopes: ['crvs:registry.search', 'crvs:registry.txn-status'] };
    await withFakeUpstream('txn-status', [caller], async (ctx) => {
      const correlationId = await answeredUpstream(ctx, caller, 'r-rejected', { status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid', status_reason_message: 'unknown attribute' });
      const [callback] = receiver.forCorrelation(correlationId);
      expect(callback.body.message.search_response[0]).toMatchObject({ reference_id: 'r-rejected', status: 'rjct' });
      expect(await txnStatus(ctx, caller, correlationId)).toEqual([expect.objectContaining({ reference_id: 'r-rejected', status: 'rjct', status_reason_code: 'rjct.search_criteria.invalid' })]);
    });
  });
  it('says in txn status that every item was rejected, with the reason, when the upstream rejected the search as a whole', async () => {
    const caller: TestPartner = { ...plainCaller('caller-status-all', receiver.url), scopes: ['crvs:registry.search', 'crvs:registry.txn-status'] };
    await withFakeUpstream('txn-status-header', [caller], async (ctx) => {
      const correlationId = await answeredUpstream(ctx, caller, 'r-all', { status: 'succ', data: { reg_records: [] } }, { status: 'rjct', status_reason_code: 'rjct.total_count.limit_exceeded', status_reason_message: 'at most 0 items today', completed_count: 0 });
      expect(await txnStatus(ctx, caller, correlationId)).toEqual([
        expect.objectContaining({ reference_id: 'r-all', status: 'rjct', status_reason_code: 'rjct.total_count.limit_exceeded', status_reason_message: 'the upstream national-crvs rejected the request: at most 0 items today' }),
      ]);
    });
  });
});

/** What sync txn status says of the items of `caller`'s request `correlationId`. */
async function txnStatus(ctx: FakeGateway, caller: TestPartner, correlationId: string): Promise<unknown[]> {
  const res = await postJson(`${ctx.server.url}/crvs/registry/sync/txn/status`, await ctx.server.token({ clientId: caller.id, secret: caller.secret }), {
    header: { version: '1.0.0', message_id: `s-${randomUUID()}`, message_ts: new Date().toISOString(), action: 'txn-status', sender_id: caller.id, total_count: 1 },
    message: { transaction_id: 'status-1', txnstatus_request: { reference_id: 's-1', txn_type: 'search', attribute_type: 'correlation_id', attribute_value: correlationId } },
  });
  expect(res.status).toBe(200);
  return res.json.message.txnstatus_response.txn_status.search_response;
}
