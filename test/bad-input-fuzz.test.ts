import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputValidator } from '../src/dci/envelope/schemas.js';
import { postJson } from './support/dci.js';
import { CallbackReceiver } from './support/receiver.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * Bad input of every shape, on every DCI endpoint a partner posts to: valid requests (one or more per endpoint and
 * query type, as the other tests send them: test/fixtures/valid-requests.json) changed at random places, the same
 * way on every run (a fixed seed). Each must get a DCI answer: 2xx, or 4xx with a DCI error body or a rejection
 * envelope; never a 5xx, a body that is not JSON, or a hang.
 */

const MUTATIONS_PER_REQUEST = 80;
const validErrorBody = outputValidator('error-body.schema.json');
const seeds = JSON.parse(readFileSync(new URL('./fixtures/valid-requests.json', import.meta.url), 'utf8')) as { path: string; body: Record<string, any> }[];

let server: TestServer;
let receiver: CallbackReceiver;
let token: string;

beforeAll(async () => {
  receiver = await CallbackReceiver.start();
  server = await startTestServer({ WORKER_POLL_MS: '50' });
  token = await server.token();
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

/** A small deterministic generator (a linear congruential one): the same mutations on every run. */
function generator(seed: number) {
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  return { next, pick: <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] };
}

const nested = (depth: number): unknown => (depth === 0 ? 1 : [nested(depth - 1)]);
const REPLACEMENTS: readonly unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 31, 12345678901234567890, '', ' ', 'x'.repeat(20_000), '1'.repeat(400),
  [], {}, [1, 2], { a: 1 }, [null], [{}], ['x'], nested(70), '2020-13-45', 'NaN', '\u0000', '\ud800', '💥', '0',
  "' or 1=1 --", '$where', 'UIN', 'Group', 'Member', 'idtype-value', 'expression', 'predicate',
];

type Path = (string | number)[];
function pathsOf(value: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (at.length > 0) out.push(at);
  if (value && typeof value === 'object') for (const key of Object.keys(value)) pathsOf((value as any)[key], [...at, Array.isArray(value) ? Number(key) : key], out);
  return out;
}

function mutate(body: Record<string, any>, random: ReturnType<typeof generator>): Record<string, any> {
  const out = structuredClone(body);
  const changes = 1 + Math.floor(random.next() * 3);
  for (let i = 0; i < changes; i++) {
    const paths = pathsOf(out);
    if (paths.length === 0) break;
    const path = random.pick(paths);
    const parent = path.slice(0, -1).reduce((v: any, k) => v[k], out);
    const key = path.at(-1)!;
    const op = random.next();
    if (op < 0.25) {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else if (op < 0.85) {
      parent[key] = structuredClone(random.pick(REPLACEMENTS));
    } else if (Array.isArray(parent[key]) && parent[key].length > 0) {
      for (let n = 0; n < 60; n++) parent[key].push(structuredClone(parent[key][0]));
    } else {
      parent[key] = [parent[key], parent[key]];
    }
  }
  return out;
}

/** The request as the demo partner would send it now: a new message id, the current time, our callback address. */
function fresh(body: Record<string, any>): Record<string, any> {
  const now = new Date().toISOString();
  const out = JSON.parse(JSON.stringify(body), (key, value) => (key === 'timestamp' && typeof value === 'string' ? now : value));
  delete out.signature;
  out.header = { ...out.header, message_id: randomUUID(), message_ts: now, sender_id: 'demo-spmis' };
  if ('sender_uri' in out.header) out.header.sender_uri = `${receiver.url}/callback`;
  return out;
}

function isDciRefusal(body: any): boolean {
  return validErrorBody(body) || (body?.header?.status === 'rjct' && typeof body.header.status_reason_code === 'string');
}

describe('bad input on every DCI endpoint', () => {
  it('covers every endpoint a partner posts DCI messages to', () => {
    const kinds = new Set(seeds.map((s) => s.path.replace(/^\/(social|crvs|ibr|dr)\//, '/{domain}/')));
    expect([...kinds].sort()).toEqual([
      '/{domain}/registry/notify',
      '/{domain}/registry/on-search',
      '/{domain}/registry/search',
      '/{domain}/registry/subscribe',
      '/{domain}/registry/sync/disabled',
      '/{domain}/registry/sync/enrolled',
      '/{domain}/registry/sync/enrollment/updates',
      '/{domain}/registry/sync/get-disability-details',
      '/{domain}/registry/sync/get-disability-support',
      '/{domain}/registry/sync/search',
      '/{domain}/registry/sync/txn/status',
      '/{domain}/registry/txn/status',
      '/{domain}/registry/unsubscribe',
    ]);
  });

  it(`answers ${MUTATIONS_PER_REQUEST} changed copies of each valid request with a DCI answer, never a 5xx or a hang`, async () => {
    const random = generator(20261203);
    const unanswered: string[] = [];
    const statuses = new Map<number, number>();
    for (const seed of seeds) {
      for (let i = 0; i < MUTATIONS_PER_REQUEST; i++) {
        const body = mutate(fresh(seed.body), random);
        const res = await postJson(`${server.url}${seed.path}`, token, body, {});
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const answered = res.json !== undefined && ((res.status >= 200 && res.status < 300) || (res.status >= 400 && res.status < 500 && isDciRefusal(res.json)));
        if (!answered) unanswered.push(`${seed.path} -> ${res.status} ${res.text.slice(0, 300)} for ${JSON.stringify(body).slice(0, 500)}`);
      }
    }
    expect(unanswered).toEqual([]);
    // The changes reach past the envelope checks: most are refused, some still answered.
    expect(statuses.get(400)).toBeGreaterThan(seeds.length * MUTATIONS_PER_REQUEST * 0.3);
    expect((statuses.get(200) ?? 0) + (statuses.get(202) ?? 0)).toBeGreaterThan(seeds.length * MUTATIONS_PER_REQUEST * 0.1);
    // And the server is still serving.
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  }, 120_000);
});
