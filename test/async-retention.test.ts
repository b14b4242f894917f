import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/client.js';
import { openTestDatabase, startTestServer } from './support/server.js';

/**
 * Retention (ASYNC_RETENTION_DAYS): async requests that were answered and delivered, or failed, are deleted with their
 * callbacks and attempts once older than the retention, as are settled notify deliveries and the answered or refused
 * requests this gateway sent upstream (with the callbacks received for them); work still pending never is.
 * Each server start runs one pruning pass, and closing the server waits for it.
 */

let db: Database;
beforeAll(async () => {
  db = await openTestDatabase();
  const request = (message: string, state: string, daysAgo: number) =>
    db.query<{ id: number }>(
      `insert into dci_transactions (domain, action, sender_id, message_id, body_hash, correlation_id, transaction_id, reference_ids, callback_url, request, state, total_count, acked_at)
       values ('social', 'search', 'demo-spmis', $1, 'h', $1 || '-c', 't', '{r1}', 'https://spmis.example.org/on-search', '{}', $2, 1, now() - $3 * interval '1 day') returning id`,
      [message, state, daysAgo],
    );
  const delivery = async (message: string, transactionId: number | null, state: string, daysAgo: number) => {
    const [d] = await db.query<{ id: number }>(
      // Pending ones are due only tomorrow: the servers of this test do not try them meanwhile.
      `insert into callback_deliveries (transaction_id, partner_id, action, message_id, target_url, body, digest, state, next_attempt_at, give_up_at, created_at)
       values ($1, 'demo-spmis', 'on-search', $2, 'https://spmis.example.org/on-search', '{}', 'd', $3, now() + interval '1 day', now() + interval '2 days',
               now() - $4 * interval '1 day') returning id`,
      [transactionId, message, state, daysAgo],
    );
    await db.query(`insert into callback_attempts (delivery_id, attempt, started_at, duration_ms, http_status) values ($1, 1, now(), 5, 500)`, [d.id]);
  };
  for (const [message, state, daysAgo] of [
    ['old-delivered', 'delivered', 40],
    ['old-failed', 'failed', 31],
    ['old-pending', 'pending', 40],
    ['recent-delivered', 'delivered', 29],
  ] as const) {
    const [t] = await request(message, state, daysAgo);
    await delivery(`cb-${message}`, Number(t.id), state === 'failed' ? 'dead' : state === 'delivered' ? 'delivered' : 'pending', daysAgo);
  }
  // Failed, with the callback telling its partner so still on its way.
  const [telling] = await request('old-failed-telling', 'failed', 40);
  await delivery('cb-old-failed-telling', Number(telling.id), 'pending', 40);
  await delivery('notify-old-delivered', null, 'delivered', 40);
  await delivery('notify-old-dead', null, 'dead', 40);
  await delivery('notify-old-pending', null, 'pending', 40);
  await delivery('notify-recent-delivered', null, 'delivered', 10);
  // Requests this gateway sent upstream, one with the callback the upstream sent back.
  for (const [message, state, daysAgo] of [
    ['up-old-answered', 'answered', 40],
    ['up-old-refused', 'refused', 40],
    ['up-old-unanswered', 'unanswered', 40],
    ['up-old-acknowledged', 'acknowledged', 40],
    ['up-recent-answered', 'answered', 5],
  ] as const) {
    const [o] = await db.query<{ id: number }>(
      `insert into outbound_requests (domain, peer_id, action, message_id, transaction_id, request, state, created_at)
       values ('crvs', 'national-crvs', 'search', $1, 't', '{}', $2, now() - $3 * interval '1 day') returning id`,
      [message, state, daysAgo],
    );
    await db.query(`insert into received_callbacks (outbound_request_id, sender_id, message_id, action, status, envelope) values ($1, 'national-crvs', $2, 'on-search', 'succ', '{}')`, [
      o.id,
      `cb-${message}`,
    ]);
  }
});
afterAll(() => db?.close());

const left = async () => ({
  requests: (await db.query<{ message_id: string }>('select message_id from dci_transactions order by message_id')).map((r) => r.message_id),
  deliveries: (await db.query<{ message_id: string }>('select message_id from callback_deliveries order by message_id')).map((r) => r.message_id),
  attempts: Number((await db.query<{ n: number }>('select count(*)::int as n from callback_attempts'))[0].n),
  upstream: (await db.query<{ message_id: string }>('select message_id from outbound_requests order by message_id')).map((r) => r.message_id),
  upstreamCallbacks: (await db.query<{ message_id: string }>('select message_id from received_callbacks order by message_id')).map((r) => r.message_id),
});

describe('retention of settled async work', () => {
  it('keeps everything when ASYNC_RETENTION_DAYS is 0', async () => {
    const before = await left();
    await (await startTestServer({ ASYNC_RETENTION_DAYS: '0' }, { db })).close();
    expect(await left()).toEqual(before);
    expect(before.requests).toHaveLength(5);
  });

  it('deletes settled requests, notify deliveries and requests sent upstream past 30 days, with their callbacks and attempts, and keeps pending work', async () => {
    await (await startTestServer({ ASYNC_RETENTION_DAYS: '30' }, { db })).close();
    expect(await left()).toEqual({
      requests: ['old-failed-telling', 'old-pending', 'recent-delivered'],
      deliveries: ['cb-old-failed-telling', 'cb-old-pending', 'cb-recent-delivered', 'notify-old-pending', 'notify-recent-delivered'],
      attempts: 5,
      upstream: ['up-old-acknowledged', 'up-recent-answered'],
      upstreamCallbacks: ['cb-up-old-acknowledged', 'cb-up-recent-answered'],
    });
  });
});
