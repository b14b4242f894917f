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
}

function deathNotify(uin: string): string {
  return JSON.stringify({
    header: { version: '1.0.0', message_id: randomUUID(), message_ts: new Date().toISOString(), action: 'notify', status: 'succ', sender_id: 'bench-crvs', total_count: 1 },
    message: {
      transaction_id: 'bench',
      notify_event: [{ reference_id: randomUUID(), timestamp: new Date().toISOString(), data: { reg_event_type: 'Death', reg_record_type: 'Person', reg_records: { identifier: [{ identifier_type: 'UIN', identifier_value: uin }], death_date: '2026-11-01' } } }],
    },
  });
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);

export async function benchEvents(o: Options): Promise<EventFigures> {
  const uins = [...o.uins];
  const headers = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

  // 1. Deaths applied per second, nobody subscribed.
  const applyUins = uins.splice(0, Math.floor(uins.length * 0.8));
  let next = 0;
  const applied = await autocannon({
    url: o.serverUrl,
    connections: o.connections,
    duration: o.duration,
    requests: [{ method: 'POST', path: '/crvs/registry/notify', headers: headers(o.crvsToken), setupRequest: (req) => ({ ...req, body: deathNotify(applyUins[next++ % applyUins.length]) }) }],
  });

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
      notified: latencies.length,
      sent: sentAt.size,
      latencyP50: Math.round(percentile(latencies, 50)),
      latencyP99: Math.round(percentile(latencies, 99)),
    };
  } finally {
    await new Promise((resolve) => receiver.close(resolve));
  }
}
