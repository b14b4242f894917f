/**
 * The events part of `npm run bench`: CRVS death notifies applied per second (each event stored, applied and its
 * registry events written before the ACK), then the time from a registry change (the CRVS notify acknowledged) to
 * the subscriber's notify, with a subscriber listening on a local port.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';

export interface EventFigures {
  appliedPerSecond: number;
  applyP50: number;
  applyP99: number;
  applyErrors: number;
  /** Deaths per second when they arrive ten to a message; latency of a message. */
  batchedPerSecond: number;
  batchedP50: number;
  batchedP99: number;
  batchedErrors: number;
  /** Registry events waiting for the fan-out after the two runs, and the time it took to read them all. */
  backlog: number;
  fanoutSeconds: number;
  notified: number;
  sent: number;
  latencyP50: number;
  latencyP99: number;
}

interface Options {
  serverUrl: string;
  crvsToken: string;
  subscriberToken: string;
  /** Living people's UINs, each used for one death at most. */
  uins: string[];
  connections: number;
  duration: number;
  receiverPort: number;
  /** Registry events the notify fan-out has not read yet. */
  fanoutBacklog: () => Promise<number>;
}

function deathNotify(...uins: string[]): string {
  return JSON.stringify({
    header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'notify', status: 'succ', sender_id: 'bench-crvs', total_count: uins.length },
    message: {
      transaction_id: 'bench',
      notify_event: uins.map((uin) => ({ reference_id: randomUUID(), timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_record_type: 'Person', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: uin }], death_date: '2026-11-01' } } })),
    },
  });
}

/** Events per notify message in the batched scenario (a CRVS pushing its registrations in batches). */
export const DEATHS_PER_MESSAGE = 10;

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);

export async function benchEvents(o: Options): Promise<EventFigures> {
  const uins = [...o.uins];
  const headers = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

  // 1. Deaths applied per second, nobody subscribed: one death per notify message, then ten. Each UIN dies once: the
  // pool is split so that no run reports a death already recorded.
  const deaths = (pool: string[], perMessage: number) => {
    let next = 0;
    return autocannon({
      url: o.serverUrl,
      connections: o.connections,
      duration: o.duration,
      requests: [
        {
          method: 'POST',
          path: '/crvs/registry/notify',
          headers: headers(o.crvsToken),
          setupRequest: (req) => {
            const start = (next++ * perMessage) % (pool.length - perMessage);
            return { ...req, body: deathNotify(...pool.slice(start, start + perMessage)) };
          },
        },
      ],
    });
  };
  const applied = await deaths(uins.splice(0, Math.floor(uins.length * 0.45)), 1);
  const batched = await deaths(uins.splice(0, Math.floor(uins.length * 0.8)), DEATHS_PER_MESSAGE);

  // The fan-out reads the registry events of both runs (a death writes two to four); the latency run starts once it
  // has caught up, so that it measures a change's way to its subscriber, not the backlog.
  const backlog = await o.fanoutBacklog();
  const drainStart = performance.now();
  while ((await o.fanoutBacklog()) > 0 && performance.now() - drainStart < 300_000) await sleep(500);
  const fanoutSeconds = (performance.now() - drainStart) / 1000;

  // 2. Change -> notify latency: one subscriber of deaths, deaths reported one at a time at a steady pace.
  const arrivals = new Map<string, number>();
  const receiver = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const at = performance.now();
      try {
        const body = JSON.parse(text);
        for (const e of body.message?.notify_event ?? []) {
          for (const id of e.data?.reg_records?.demographic_info?.identifier ?? []) if (id.identifier_type === 'UIN') arrivals.set(id.identifier_value, at);
        }
      } catch {
        /* not a notify */
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: 'bench' } }));
    });
  });
  await new Promise<void>((resolve) => receiver.listen(o.receiverPort, '127.0.0.1', resolve));
  try {
    const subscribe = await fetch(`${o.serverUrl}/social/registry/subscribe`, {
      method: 'POST',
      headers: headers(o.subscriberToken),
      body: JSON.stringify({
        header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'subscribe', sender_id: 'bench-subscriber', total_count: 1 },
        message: { transaction_id: 'bench-sub', subscribe_request: [{ reference_id: 's1', timestamp: new Date().toISOString(), subscribe_criteria: { reg_event_type: 'Death', notify_record_type: 'Member' } }] },
      }),
    });
    if (subscribe.status !== 202) throw new Error(`subscribe answered ${subscribe.status}`);
    await sleep(1000);
    const sentAt = new Map<string, number>();
    const latencyUins = uins.slice(0, 200);
    for (const uin of latencyUins) {
      const res = await fetch(`${o.serverUrl}/crvs/registry/notify`, { method: 'POST', headers: headers(o.crvsToken), body: deathNotify(uin) });
      if (res.status === 200) sentAt.set(uin, performance.now());
      await res.arrayBuffer();
      await sleep(40);
    }
    await sleep(3000);
    const latencies = [...sentAt].filter(([uin]) => arrivals.has(uin)).map(([uin, t]) => arrivals.get(uin)! - t).sort((a, b) => a - b);
    return {
      appliedPerSecond: applied.requests.average,
      applyP50: applied.latency.p50,
      applyP99: applied.latency.p99,
      applyErrors: applied.errors + applied.non2xx,
      batchedPerSecond: batched.requests.average * DEATHS_PER_MESSAGE,
      batchedP50: batched.latency.p50,
      batchedP99: batched.latency.p99,
      batchedErrors: batched.errors + batched.non2xx,
      backlog,
      fanoutSeconds,
      notified: latencies.length,
      sent: sentAt.size,
      latencyP50: Math.round(percentile(latencies, 50)),
      latencyP99: Math.round(percentile(latencies, 99)),
    };
  } finally {
    await new Promise((resolve) => receiver.close(resolve));
  }
}
