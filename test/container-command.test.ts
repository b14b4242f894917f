import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The Dockerfile's CMD, run as the container runs it (the command is PID 1's, and `docker stop` sends SIGTERM to that
 * process alone): the server must get the signal and shut down gracefully.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function containerCommand(): string[] {
  const cmd = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8').match(/^CMD\s+(\[.*\])\s*$/m);
  if (!cmd) throw new Error('the Dockerfile has no CMD in exec form');
  return JSON.parse(cmd[1]) as string[];
}

describe("the container's command", () => {
  it('shuts the server down gracefully on SIGTERM to its own process', async () => {
    const [command, ...args] = containerCommand();
    const dir = mkdtempSync(join(tmpdir(), 'dci-container-'));
    const child = spawn(command, args, {
      cwd: process.cwd(),
      detached: true,
      env: { ...process.env, NODE_ENV: 'development', PORT: '0', HOST: '127.0.0.1', DATA_DIR: dir, DEMO_DATA: 'false', LOG_LEVEL: 'info', DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d.toString()));
    child.stderr!.on('data', (d) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 600 && !/server ready at/.test(out); i++) await sleep(100);
      const url = /server ready at (\S+)/.exec(out)?.[1];
      expect(url, out.slice(-2000)).toBeDefined();
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      process.kill(child.pid!, 'SIGTERM');
      const code = await Promise.race([exited, sleep(15_000).then(() => 'still running')]);
      expect(out).toContain('shutting down');
      expect(code).toBe(0);
      expect(await fetch(`${url}/healthz`).then((r) => r.status, () => 'gone')).toBe('gone');
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
