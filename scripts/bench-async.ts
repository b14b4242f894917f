/**
 * The async part of `npm run bench`: how many async searches the server acknowledges per second, how many callbacks
 * it delivers per second end to end to a local receiver, and whether delivery keeps up with a steady stream of
 * requests for 60 s (the backlog of accepted but undelivered requests must not grow).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';

export interface AsyncFigures {
  ackRps: number;
  ackP50: number;
  ackP99: number;
  ackErrors: number;
  accepted: number;
  /** Callbacks delivered per second from the first ACK until the last callback of the burst. */
  burstCallbacksPerSecond: number;
  drainSeconds: number;
  steadyRate: number;
  steadySeconds: number;
  steadyCallbacksPerSecond: number;
  /** ACKs per second of the steady run (below steadyRate when the server could not take requests in that fast). */
  steadyAckRps: number;
  steadyAckP50: number;
  steadyAckP99: number;
  /** Accepted-but-undelivered requests sampled during the steady run. */
  backlog: number[];
  steadyErrors: number;
}

interface Options {
  serverUrl: string;
  token: string;
  uins: string[];
  connections: number;
  duration: number;
  steadyRate: number;
  steadySeconds: number;
  receiverPort: number;
}

async function startReceiver(port: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench-receiver.ts', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  const stats = async () => (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { callbacks: number; transactions: number };
  return { child, stats, url: `http://127.0.0.1:${port}/dci/social/registry/on-search` };
}

/** Async searches by UIN from the demo partner, each asking for its callback at `callbackUrl`. */
function searchLoad(o: Pick<Options, 'serverUrl' | 'token' | 'uins'>, callbackUrl: string) {
  const pick = () => o.uins[Math.floor(Math.random() * o.uins.length)];
  const body = () =>
    JSON.stringify({
      header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'search', sender_id: 'demo-spmis', sender_uri: callbackUrl, total_count: 1 },
      message: { transaction_id: randomUUID(), search_request: [{ reference_id: '1', timestamp: new Date().toISOString(), search_criteria: { query_type: 'idtype-value', query: { type: 'UIN', value: pick() } } }] },
    });
  const headers = { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' };
  /** `counter.accepted` counts the ACKs as they come in, for a backlog sampled during the run. */
  const load = async (opts: { connections: number; duration: number; overallRate?: number }, counter = { accepted: 0 }) => {
    let bad = 0;
    const result = await autocannon({
      url: o.serverUrl,
      connections: opts.connections,
      duration: opts.duration,
      overallRate: opts.overallRate,
      timeout: 60,
      headers,
      requests: [
        {
          method: 'POST',
          path: '/social/registry/search',
          setupRequest: (req: any) => ({ ...req, body: body() }),
          onResponse: (status: number) => (status === 202 ? counter.accepted++ : bad++),
        },
      ],
    } as any);
    return { result, accepted: counter.accepted, errors: bad + result.errors };
  };
  return load;
}

/**
 * ACKs per second of a server that only takes requests in (WORKERS=false: intake and execution in separate
 * processes, as a deployment may run them); nothing is executed or called back meanwhile.
 */
export async function benchIntake(o: Pick<Options, 'serverUrl' | 'token' | 'uins' | 'connections' | 'duration' | 'receiverPort'>) {
  const load = searchLoad(o, `http://127.0.0.1:${o.receiverPort}/dci/social/registry/on-search`);
  const run = await load({ connections: o.connections, duration: o.duration });
  return { rps: run.result.requests.average, p50: run.result.latency.p50, p99: run.result.latency.p99, accepted: run.accepted, errors: run.errors };
}

export async function benchAsync(o: Options): Promise<AsyncFigures> {
  const receiver = await startReceiver(o.receiverPort);
  const load = searchLoad(o, receiver.url);

  try {
    // Burst: as many async searches as 32 connections can get acknowledged, then the time to deliver them all.
    const t0 = Date.now();
    const before = await receiver.stats();
    const burst = await load({ connections: o.connections, duration: o.duration });
    const target = before.transactions + burst.accepted;
    const deadline = Date.now() + 300_000;
    while ((await receiver.stats()).transactions < target && Date.now() < deadline) await sleep(200);
    const drainedAt = Date.now();
    const delivered = (await receiver.stats()).transactions - before.transactions;

    // The requests still in flight when the burst's time ran out were accepted too, but their ACKs came after
    // autocannon stopped counting: wait for their callbacks (the count standing still for a second) before the
    // steady run, whose backlog would otherwise start 32 (the connections) below zero.
    for (let last = -1, now = (await receiver.stats()).transactions; now !== last && Date.now() < deadline; now = (await receiver.stats()).transactions) {
      last = now;
      await sleep(1000);
    }

    // Steady: a fixed request rate for steadySeconds, sampling the backlog every 5 s. The backlog is what the server
    // acknowledged and the receiver has not yet had, counted on both ends: asking the server (GET /admin/queues)
    // counts every row of the queue tables, 250 ms of PostgreSQL time a sample at 100,000 requests, taken from the
    // run being measured.
    const steadyBefore = await receiver.stats();
    const steadyAcks = { accepted: 0 };
    const backlogNow = async () => steadyAcks.accepted - ((await receiver.stats()).transactions - steadyBefore.transactions);
    const backlog: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sleep(5000);
        if (sampling) backlog.push(await backlogNow());
      }
    })();
    const steady = await load({ connections: o.connections, duration: o.steadySeconds, overallRate: o.steadyRate }, steadyAcks);
    sampling = false;
    await sampler;
    const steadyAfter = await receiver.stats();

    return {
      ackRps: burst.result.requests.average,
      ackP50: burst.result.latency.p50,
      ackP99: burst.result.latency.p99,
      ackErrors: burst.errors,
      accepted: burst.accepted,
      burstCallbacksPerSecond: delivered / ((drainedAt - t0) / 1000),
      drainSeconds: (drainedAt - t0) / 1000 - o.duration,
      steadyRate: o.steadyRate,
      steadySeconds: o.steadySeconds,
      steadyCallbacksPerSecond: (steadyAfter.transactions - steadyBefore.transactions) / o.steadySeconds,
      steadyAckRps: steadyAcks.accepted / o.steadySeconds,
      steadyAckP50: steady.result.latency.p50,
      steadyAckP99: steady.result.latency.p99,
      backlog,
      steadyErrors: steady.errors,
    };
  } finally {
    receiver.child.kill('SIGTERM');
  }
}
