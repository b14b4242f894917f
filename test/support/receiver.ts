import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  text: string;
  body: any;
  at: number;
}

/** What the receiver does with a request: answer (status, and `body` as JSON or `text` as it is), or hang until the test ends. */
export type Responder = (req: ReceivedRequest) => { status: number; body?: unknown; text?: string; headers?: Record<string, string>; delayMs?: number } | 'hang';

const ACK = (req: ReceivedRequest) => ({
  status: 200,
  body: { message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: req.body?.message?.correlation_id ?? 'none' } },
});

/** A real HTTP server standing in for a partner's callback endpoint: records every request, answers as told. */
export class CallbackReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Requests it has answered (a request the sender gave up on, or one it hangs on, is not here). */
  readonly answered: ReceivedRequest[] = [];
  private responder: Responder = ACK;
  private readonly hanging = new Set<ServerResponse>();
  private server!: Server;
  url = '';

  static async start(port = 0): Promise<CallbackReceiver> {
    const r = new CallbackReceiver();
    r.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        const received: ReceivedRequest = { path: req.url ?? '', headers: req.headers, text, body, at: Date.now() };
        r.requests.push(received);
        const answer = r.responder(received);
        if (answer === 'hang') {
          r.hanging.add(res);
          return;
        }
        const send = () => {
          res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
          res.end(answer.text ?? (answer.body === undefined ? '' : JSON.stringify(answer.body)));
          r.answered.push(received);
        };
        if (answer.delayMs) setTimeout(send, answer.delayMs);
        else send();
      });
    });
    await new Promise<void>((resolve) => r.server.listen(port, '127.0.0.1', resolve));
    r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}`;
    return r;
  }

  respondWith(responder: Responder): void {
    this.responder = responder;
  }

  acknowledgeAll(): void {
    this.responder = ACK;
  }

  static ack = ACK;

  /** Requests whose envelope carries this correlation id (an async transaction's callbacks). */
  forCorrelation(correlationId: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.body?.message?.correlation_id === correlationId);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A loopback port nothing listens on (yet). */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * A server that answers every request `status` (200) with a JSON body that never ends, until the client hangs up: as
 * fast as it can be read, or (`trickle`) a byte every 100 ms.
 */
export async function startEndlessServer(opts: { trickle?: boolean; status?: number } = {}): Promise<{ url: string; requests: () => number; bytesSent: () => number; close(): Promise<void> }> {
  let requests = 0;
  let sent = 0;
  const chunk = Buffer.from(`{"padding":"${'x'.repeat(16_000)}"},`);
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(opts.status ?? 200, { 'content-type': 'application/json' });
    res.write('[');
    if (opts.trickle) {
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(' ')), 100);
      res.on('close', () => clearInterval(timer));
      return;
    }
    const more = () => {
      while (!res.destroyed && res.write(chunk)) sent += chunk.length;
      if (!res.destroyed) res.once('drain', more);
    };
    more();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    bytesSent: () => sent,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
