import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Agent, request } from 'undici';
import { searchEnvelope, searchItem } from './support/dci.js';
import { waitFor } from './support/receiver.js';
import { copyTestDatabase } from './support/server.js';
import { testDataKeyFile } from './support/data-keys.js';

/**
 * SERVER_PROCESSES: `npm start` as several server processes sharing one port, supervised by a primary process. Only
 * on PostgreSQL (the embedded database is one process's own, and the configuration refuses it: startup.test.ts), so
 * this runs in the suite's PostgreSQL pass (.ci/run) and not in the embedded one.
 */

const postgresUrl = inject('postgresUrl');
const dataDir = mkdtempSync(join(tmpdir(), 'dci-processes-'));
let primary: ChildProcess | undefined;
afterAll(() => {
  primary?.kill('SIGKILL');
  for (const pid of children()) process.kill(pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** The server processes: the primary's children. */
function children(): number[] {
  if (!primary?.pid) return [];
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(primary.pid)]).toString().trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

describe('several server processes that cannot start', () => {
  it('stop: the primary exits 1 when its first server process dies before it is ready', async () => {
    // Nothing listens on port 1: the first server process cannot reach its database.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, NODE_ENV: 'development', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', SERVER_PROCESSES: '2', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/registry', DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(output).toContain('starting the server processes failed');
    expect(output).not.toContain('server ready at');
  }, 60_000);
});

describe.runIf(postgresUrl)('several server processes (SERVER_PROCESSES, PostgreSQL)', () => {
  it('serve one port, a process that dies is replaced while the others answer, and SIGTERM stops them all', async () => {
    primary = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env,
        NODE_ENV: 'development',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'warn',
        SERVER_PROCESSES: '2',
        DATABASE_URL: await copyTestDatabase(postgresUrl),
        DATA_DIR: dataDir,
        DATA_KEY: testDataKeyFile(dataDir),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    primary.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    primary.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const port = await waitFor(
      () => {
        if (primary!.exitCode !== null) throw new Error(`server exited with ${primary!.exitCode}: ${stderr}`);
        return /server ready at http:\/\/[^:\s]+:(\d+) \(2 processes\)/.exec(stdout)?.[1];
      },
      60_000,
      'the server processes to be ready',
    );
    const url = `http://127.0.0.1:${port}`;
    const first = children();
    expect(first).toHaveLength(2);

    // A token from one process is good at the other (same signing key).
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'demo-spmis', client_secret: 'demo-spmis-secret' });
    const { access_token: token } = (await (await fetch(`${url}/oauth2/client/token`, { method: 'POST', body: form })).json()) as { access_token: string };
    const search = async () => {
      // A connection of its own: one kept alive to a process that is then killed would be reset, as for any client.
      const agent = new Agent({ headersTimeout: 15_000, bodyTimeout: 15_000 });
      try {
        const res = await request(`${url}/social/registry/sync/search`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(
            searchEnvelope([searchItem({ query_type: 'expression', query: { type: 'ns:org:QueryType:NoSql', value: { expression: { collection: 'Group', query: { group_size: { $gte: 1 } } } } }, pagination: { page_size: 1 } })]),
          ),
        });
        return { status: res.statusCode, json: (await res.body.json()) as any };
      } finally {
        await agent.close();
      }
    };
    for (let i = 0; i < 6; i++) {
      const res = await search();
      expect(res.status).toBe(200);
      expect(res.json.message.search_response[0]).toMatchObject({ status: 'succ', pagination: { total_count: expect.any(Number) } });
    }

    // A connection the primary hands over as the process dies is lost with it (clients time out and retry, as after
    // any crash); once the primary has seen the exit, the other process takes every connection.
    process.kill(first[0], 'SIGKILL');
    await waitFor(() => stdout.includes('server process died; starting another') || undefined, 10_000, 'the primary to see the exit');
    expect(children()).toEqual([first[1]]);
    for (let i = 0; i < 4; i++) expect((await search()).status).toBe(200);
    const replaced = await waitFor(() => {
      const now = children();
      return now.length === 2 && !now.includes(first[0]) ? now : undefined;
    }, 30_000, 'a new server process');
    expect(replaced).toContain(first[1]);
    await waitFor(async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined), 30_000, 'ready');

    primary.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => primary!.once('exit', resolve));
    expect(code).toBe(0);
    await waitFor(() => replaced.every((pid) => !isAlive(pid)) || undefined, 10_000, 'every server process gone');
  }, 120_000);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
