import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../../test/support/server.js';
import { type Database, MIGRATIONS_DIR, migrateDatabase, openDatabase } from '../../db/client.js';
import { TransactionStore, type NewTransaction } from './transaction-store.js';
import { registerWorker, type WorkerIdentity } from './worker-identity.js';

const newRequest = (sender: string): NewTransaction => {
  const messageId = randomUUID();
  return {
    domain: 'social',
    action: 'search',
    senderId: sender,
    messageId,
    bodyHash: `hash-${messageId}`,
    correlationId: randomUUID(),
    transactionId: randomUUID(),
    referenceIds: ['r1'],
    callbackUrl: 'https://spmis.example.org/on-search',
    request: { header: { message_id: messageId }, message: { search_request: [] } },
    totalCount: 1,
  };
};

/** The execution queue of received requests, on this run's database (PGlite, or PostgreSQL with TEST_DATABASE_URL). */
describe('TransactionStore: received requests and their execution', () => {
  let db: Database;
  let store: TransactionStore;
  let a: WorkerIdentity;
  let b: WorkerIdentity;
  // Claims take whatever is queued: the queue is emptied first, so that they see only this file's requests.
  const sender = `queue-test-${randomUUID()}`;

  beforeAll(async () => {
    db = await openTestDatabase();
    store = new TransactionStore(db);
    await db.query('delete from dci_execution_queue');
    a = await registerWorker(db);
    b = await registerWorker(db);
  });
  afterAll(async () => {
    await b.release().catch(() => {});
    await db.close();
  });

  const state = async (correlationId: string) =>
    (await db.query<{ state: string; queued: number }>(
      `select t.state, (select count(*)::int from dci_execution_queue q where q.transaction_id = t.id) as queued
       from dci_transactions t where t.correlation_id = $1`,
      [correlationId],
    ))[0];

  it('queues each accepted request once, a retry of the same message not again', async () => {
    const first = newRequest(sender);
    expect((await store.accept(first)).stored).toBe('new');
    expect((await store.accept({ ...first, correlationId: randomUUID() })).stored).toBe('retry');
    expect(await state(first.correlationId)).toEqual({ state: 'received', queued: 1 });
    await db.query('delete from dci_execution_queue');
  });

  it('gives each received request to one worker, oldest first; only its owner answers it', async () => {
    const requests = [newRequest(sender), newRequest(sender), newRequest(sender)];
    for (const r of requests) await store.accept(r);
    const byA = await store.claimReceived(a.id, 2);
    expect(byA.map((t) => t.correlation_id)).toEqual(requests.slice(0, 2).map((r) => r.correlationId));
    expect(byA[0].request.header).toEqual({ message_id: requests[0].messageId });
    const byB = await store.claimReceived(b.id, 10);
    expect(byB.map((t) => t.correlation_id)).toEqual([requests[2].correlationId]);
    expect(await store.claimReceived(a.id, 10)).toEqual([]);

    // B answering A's request changes nothing; A answering it moves it on and out of the queue.
    const answer = (id: number) => ({ id, outcome: [{ reference_id: 'r1', status: 'succ' as const }], completedCount: 1, deliveries: [] });
    await store.completeExecution(b.id, [answer(byA[0].id)], { horizonSeconds: 60, leaseMs: 1000 });
    expect(await state(requests[0].correlationId)).toEqual({ state: 'received', queued: 1 });
    await store.completeExecution(a.id, [answer(byA[0].id)], { horizonSeconds: 60, leaseMs: 1000 });
    expect(await state(requests[0].correlationId)).toEqual({ state: 'pending', queued: 0 });
    const [answered] = await db.query<{ outcome: unknown; completed_count: number }>('select outcome, completed_count from dci_transactions where id = $1', [byA[0].id]);
    expect(answered).toEqual({ outcome: [{ reference_id: 'r1', status: 'succ' }], completed_count: 1 });

    // Failing is the owner's too, and only the owner's failure queues the callback telling the partner.
    const rejection = (messageId: string) => ({
      delivery: { transactionId: byB[0].id, partnerId: sender, action: 'on-search', messageId, page: 1, targetUrl: 'https://spmis.example.org/on-search', body: '{}', digest: 'd' },
      horizonSeconds: 60,
    });
    const callbacks = async () => (await db.query<{ message_id: string }>('select message_id from callback_deliveries where transaction_id = $1', [byB[0].id])).map((r) => r.message_id);
    await store.failExecution(a.id, byB[0].id, 'not mine', rejection('cb-not-mine'));
    expect(await state(requests[2].correlationId)).toEqual({ state: 'received', queued: 1 });
    expect(await callbacks()).toEqual([]);
    await store.failExecution(b.id, byB[0].id, 'domain gone', rejection('cb-domain-gone'));
    expect(await state(requests[2].correlationId)).toEqual({ state: 'failed', queued: 0 });
    expect(await callbacks()).toEqual(['cb-domain-gone']);

    // A worker whose process is gone (its advisory lock released) loses its leases at once.
    await a.release();
    const takenOver = await store.claimReceived(b.id, 10);
    expect(takenOver.map((t) => t.correlation_id)).toEqual([requests[1].correlationId]);
  });

  it('keeps the request state out of every index of dci_transactions, so that state changes stay on their page', async () => {
    const indexes = await db.query<{ indexdef: string }>(`select indexdef from pg_indexes where tablename = 'dci_transactions'`);
    expect(indexes.length).toBeGreaterThanOrEqual(5);
    expect(indexes.filter((i) => /\bstate\b/.test(i.indexdef))).toEqual([]);
  });
});

describe('TransactionStore: expiring relays (gateway mode)', () => {
  let db: Database;
  let store: TransactionStore;
  beforeAll(async () => {
    db = await openTestDatabase();
    store = new TransactionStore(db);
  });
  afterAll(async () => {
    await db.close();
  });

  /** A caller's pending request forwarded upstream, with the upstream's answers relayed so far (each a delivery). */
  async function forwarded(relayed: ('pdng' | 'succ')[]): Promise<{ id: number; outboundId: number }> {
    const request = newRequest(`relay-test-${randomUUID()}`);
    await store.accept(request);
    const [t] = await db.query<{ id: number }>(`update dci_transactions set state = 'pending' where correlation_id = $1 returning id`, [request.correlationId]);
    const [o] = await db.query<{ id: number }>(
      `insert into outbound_requests (domain, peer_id, action, message_id, transaction_id, request, state, relay_transaction_id)
       values ('crvs', 'upstream', 'search', $1, $2, '{}', 'acknowledged', $3) returning id`,
      [randomUUID(), request.transactionId, t.id],
    );
    for (const [i, status] of relayed.entries()) {
      await db.query(
        `insert into received_callbacks (outbound_request_id, sender_id, message_id, action, status, envelope, relayed_at) values ($1, 'upstream', $2, 'on-search', $3, '{}', now())`,
        [o.id, randomUUID(), status],
      );
      await db.query(
        `insert into callback_deliveries (transaction_id, partner_id, action, message_id, page, target_url, body, digest, give_up_at)
         values ($1, $2, 'on-search', $3, $4, 'https://spmis.example.org/on-search', '{}', 'digest', now() + interval '1 day')`,
        [t.id, request.senderId, randomUUID(), i + 1],
      );
    }
    return { id: Number(t.id), outboundId: Number(o.id) };
  }

  /** A rejection as the executor builds it: unnumbered, to go after whatever pages are queued by then. */
  const rejection = (transactionId: number) => ({
    transactionId,
    error: 'the upstream sent no final answer in time',
    delivery: { transactionId, partnerId: 'caller', action: 'on-search', messageId: randomUUID(), targetUrl: 'https://spmis.example.org/on-search', body: '{}', digest: 'digest' },
  });
  const pagesOf = async (id: number) => (await db.query<{ page: number }>('select page from callback_deliveries where transaction_id = $1 order by id', [id])).map((r) => Number(r.page));
  const stateOf = async (id: number) => (await db.query<{ state: string }>('select state from dci_transactions where id = $1', [id]))[0].state;

  it('puts the rejection after the pages relayed by the time it commits', async () => {
    const t = await forwarded(['pdng', 'pdng']);
    expect(await store.expireRelays([t.outboundId], [rejection(t.id)], 3600)).toBe(1);
    expect(await stateOf(t.id)).toBe('failed');
    expect(await pagesOf(t.id)).toEqual([1, 2, 3]);
  });

  it('puts the rejection of a request that failed while being sent after the pages its upstream sent meanwhile', async () => {
    const t = await forwarded(['pdng']);
    await db.query(`update dci_transactions set state = 'received' where id = $1`, [t.id]);
    const worker = await registerWorker(db);
    // Its fifth send, still held by this worker.
    await db.query(`update dci_execution_queue set lease_owner = $2, lease_until = now() + interval '1 minute', attempts = 5 where transaction_id = $1`, [t.id, worker.id]);
    await store.failExecution(worker.id, t.id, 'the upstream did not take it (5 attempts)', { delivery: rejection(t.id).delivery, horizonSeconds: 3600 });
    await worker.release();
    expect(await stateOf(t.id)).toBe('failed');
    expect(await pagesOf(t.id)).toEqual([1, 2]);
  });

  it('leaves a request whose final answer was relayed since the sweep looked', async () => {
    const t = await forwarded(['pdng', 'succ']);
    expect(await store.expireRelays([t.outboundId], [rejection(t.id)], 3600)).toBe(0);
    expect(await stateOf(t.id)).toBe('pending');
    expect(await pagesOf(t.id)).toEqual([1, 2]);
    expect((await db.query('select state from outbound_requests where id = $1', [t.outboundId]))[0].state).toBe('unanswered');
  });
});

describe('migration 0020', () => {
  it('moves the received requests, with their leases, into the execution queue', async () => {
    // The migrations up to 0019 on an empty embedded database, a request in each state, then the rest.
    const before = mkdtempSync(join(tmpdir(), 'migrations-0019-'));
    cpSync(MIGRATIONS_DIR, before, { recursive: true });
    const journalFile = join(before, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { idx: number }[] };
    journal.entries = journal.entries.filter((e) => e.idx <= 19);
    writeFileSync(journalFile, JSON.stringify(journal));
    const db = await openDatabase({ memory: true });
    try {
      await migratePglite(db.drizzle as Parameters<typeof migratePglite>[0], { migrationsFolder: before });
      const insert = (message: string, state: string, lease: number | null) =>
        db.query(
          `insert into dci_transactions (domain, action, sender_id, message_id, body_hash, correlation_id, transaction_id, reference_ids, callback_url,
             request, state, total_count, acked_at, lease_owner, lease_until)
           values ('social', 'search', 'p', $1, 'h', $1, 't', '{r1}', 'https://p.example.org/on-search', '{}', $2, 1, now(), $3,
             case when $3::bigint is null then null else now() + interval '5 minutes' end)`,
          [message, state, lease],
        );
      await insert('leased', 'received', 42);
      await insert('waiting', 'received', null);
      await insert('answered', 'pending', null);
      await insert('done', 'delivered', null);
      await migrateDatabase(db);
      const queued = await db.query<{ message_id: string; lease_owner: number | null; leased: boolean }>(
        `select t.message_id, q.lease_owner, q.lease_until is not null as leased
         from dci_execution_queue q join dci_transactions t on t.id = q.transaction_id order by t.message_id`,
      );
      expect(queued.map((r) => ({ ...r, lease_owner: r.lease_owner === null ? null : Number(r.lease_owner) }))).toEqual([
        { message_id: 'leased', lease_owner: 42, leased: true },
        { message_id: 'waiting', lease_owner: null, leased: false },
      ]);
      const leaseColumns = await db.query(`select column_name from information_schema.columns where table_name = 'dci_transactions' and column_name like 'lease%'`);
      expect(leaseColumns).toEqual([]);
    } finally {
      await db.close();
      rmSync(before, { recursive: true, force: true });
    }
  });
});
