import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { postJson, searchEnvelope, searchItem } from './support/dci.js';
import { CallbackReceiver, waitFor } from './support/receiver.js';
import { copyTestDatabase } from './support/server.js';
import { testDataKeyFile } from './support/data-keys.js';

/**
 * Crash safety (issue: nothing an ACK was given for is lost): a server process is SIGKILLed while callbacks are in
 * flight and queued; a new process on the same database delivers every one, and no request is executed twice.
 */

const REQUESTS = 40;
const PARTNER_CAP = 4;

const dataDir = mkdtempSync(join(tmpdir(), 'dci-crash-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});


/**
 * A server in a child process on a port it picks itself (PORT=0), read from the address it prints once ready: a port
 * found free beforehand can be taken by another test file's listener before the child binds it, and that listener
 * then answers in the child's place.
 */
async function startChild(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, NODE_ENV: 'development', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let url = '';
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${stderr}`);
      const port = /server ready at http:\/\/[^:\s]+:(\d+)/.exec(stdout)?.[1];
      if (port) url = `http://127.0.0.1:${port}`;
      return port !== undefined;
    },
    60_000,
    'the server to be ready',
  );
  expect((await fetch(`${url}/readyz`)).status).toBe(200);
  return { child, url };
}

async function token(url: string): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' });
  return ((await (await fetch(`${url}/oauth2/client/token`, { method: 'POST', body: form })).json()) as { access_token: string }).access_token;
}

describe('crash safety', () => {
  it('delivers every acknowledged callback after a SIGKILL, executing each request once', async () => {
    const postgresUrl = inject('postgresUrl');
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      DATA_KEY: testDataKeyFile(dataDir),
      DEMO_DATA: 'true',
      DEMO_HOUSEHOLDS: '20',
      WORKER_POLL_MS: '50',
      CALLBACK_RETRY_BASE_MS: '100',
      CALLBACK_PARTNER_CONCURRENCY: String(PARTNER_CAP),
      ...(postgresUrl ? { DATABASE_URL: await copyTestDatabase(postgresUrl) } : {}),
    };
    const receiver = await CallbackReceiver.start();
    // A slow receiver: callbacks queue up behind the per-partner cap, so the kill finds some in flight, some queued.
    receiver.respondWith((req) => ({ ...CallbackReceiver.ack(req), delayMs: 150 }));
    try {
      const first = await startChild(env);
      const firstToken = await token(first.url);
      const correlationIds: string[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const envelope = searchEnvelope([searchItem({ query_type: 'idtype-value', query: { type: 'UIN', value: String(1000000000 + i) } })], {
          sender_uri: `${receiver.url}/on-search`,
        });
        const res = await postJson(`${first.url}/social/registry/search`, firstToken, envelope);
        expect(res.status).toBe(202);
        correlationIds.push(res.json.message.correlation_id);
      }
      await waitFor(() => receiver.requests.length >= 6, 20_000, 'some callbacks before the kill');
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      const killedAt = Date.now();
      const deliveredBeforeKill = new Set(receiver.requests.map((r) => r.body.message.correlation_id)).size;
      expect(deliveredBeforeKill).toBeLessThan(REQUESTS);

      const second = await startChild(env);
      await waitFor(
        () => correlationIds.every((id) => receiver.answered.some((r) => r.body.message.correlation_id === id)),
        30_000,
        'every acknowledged request to be called back',
      );

      // Each request was executed once: one on-search message (one message_id) per request, never two answers.
      const messageIdsByCorrelation = new Map<string, Set<string>>();
      for (const r of receiver.requests) {
        const ids = messageIdsByCorrelation.get(r.body.message.correlation_id) ?? new Set();
        ids.add(r.body.header.message_id);
        messageIdsByCorrelation.set(r.body.message.correlation_id, ids);
      }
      for (const id of correlationIds) expect(messageIdsByCorrelation.get(id)?.size).toBe(1);

      // At least once, never twice by one process: a message can arrive again only when the killed process sent it
      // and died before recording the answer; each process sent each message at most once, always the same message.
      const copies = new Map<string, { at: number; content: string }[]>();
      for (const r of receiver.requests) {
        const list = copies.get(r.body.header.message_id) ?? [];
        list.push({ at: r.at, content: JSON.stringify({ h: r.body.header, m: r.body.message }) });
        copies.set(r.body.header.message_id, list);
      }
      for (const list of copies.values()) {
        expect(list.filter((c) => c.at <= killedAt).length).toBeLessThanOrEqual(1);
        expect(list.filter((c) => c.at > killedAt).length).toBeLessThanOrEqual(1);
        expect(new Set(list.map((c) => c.content)).size).toBe(1);
      }

      // The new process sees every transaction delivered, each with exactly one delivery.
      const adminToken = await token(second.url);
      const list = (await (await fetch(`${second.url}/admin/transactions?limit=100&sender_id=demo-spmis`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as {
        items: { id: number; correlation_id: string; state: string }[];
      };
      const mine = list.items.filter((t) => correlationIds.includes(t.correlation_id));
      expect(mine).toHaveLength(REQUESTS);
      await waitFor(async () => {
        const now = (await (await fetch(`${second.url}/admin/transactions?limit=100&state=delivered`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { items: { correlation_id: string }[] };
        return correlationIds.every((id) => now.items.some((t) => t.correlation_id === id));
      }, 10_000, 'all transactions delivered');
      for (const t of mine) {
        const detail = (await (await fetch(`${second.url}/admin/transactions/${t.id}`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { deliveries: unknown[] };
        expect(detail.deliveries).toHaveLength(1);
      }
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    } finally {
      await receiver.close();
    }
  }, 120_000);
});
