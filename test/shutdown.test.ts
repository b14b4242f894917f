import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './support/server.js';

/** Shutting down under keep-alive traffic (a load balancer's connections): drain, then close, without waiting out the grace. */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rawConnection(port: number) {
  const sock: Socket = connect(port, '127.0.0.1');
  let received = '';
  sock.on('data', (d) => (received += d.toString()));
  sock.on('error', () => {});
  const closed = new Promise<number>((resolve) => sock.on('close', () => resolve(Date.now())));
  const connected = new Promise((resolve) => sock.on('connect', resolve));
  return { sock, closed, connected, answers: () => received.split('HTTP/1.1 ').slice(1) };
}

describe('graceful shutdown', () => {
  it('answers the request in flight, then closes its keep-alive connection, and does not wait out SHUTDOWN_GRACE_MS', async () => {
    const server = await startTestServer({ SHUTDOWN_GRACE_MS: '8000' });
    const conn = rawConnection(Number(new URL(server.url).port));
    await conn.connected;
    const body = 'grant_type=client_credentials&client_id=demo-spmis&client_secret=demo-spmis-secret';
    // A request in flight when the shutdown begins: its headers sent, its body not yet.
    conn.sock.write(`POST /oauth2/client/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`);
    await sleep(200);
    const started = Date.now();
    const closing = server.close().then(() => Date.now());
    await sleep(100);
    conn.sock.write(body);
    await sleep(500);
    // Anything more on that connection is not served as if the server were staying.
    conn.sock.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
    const closedAt = await Promise.race([conn.closed, sleep(3000).then(() => undefined)]);
    const closeTook = (await closing) - started;
    const answers = conn.answers();
    expect(answers[0]).toMatch(/^200 /);
    expect(answers[1] === undefined || answers[1].startsWith('503'), answers[1]).toBe(true);
    expect(closedAt === undefined ? 'still open' : closedAt - started).toBeLessThan(3000);
    expect(closeTook).toBeLessThan(3000);
  }, 30_000);
});
