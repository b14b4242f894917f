import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** What a server process tells the primary once it serves (main.ts). */
export interface ReadyMessage {
  type: 'ready';
  url: string;
}

const isReadyMessage = (m: unknown): m is ReadyMessage => typeof m === 'object' && m !== null && (m as ReadyMessage).type === 'ready';

/** A process that died is replaced after this long. */
const RESTART_DELAY_MS = 1_000;
/** More unexpected exits than this within a minute is a crash loop: the primary stops, for its supervisor to see. */
const MAX_EXITS_PER_MINUTE = 5;

/**
 * SERVER_PROCESSES above 1: this primary process serves nothing itself. It forks the server processes, which share the
 * port (node:cluster hands each connection to one of them) and everything else through PostgreSQL (queues, leases,
 * replay records, the audit chain). The first starts alone, as it runs the migrations and may create the first-start
 * keys and demo data; the others once it is ready. A process that dies is replaced; SIGTERM or SIGINT stops them all,
 * each as a single server stops. Resolves with the address once every process serves.
 */
export function runPrimary(count: number, logger: Logger, graceMs: number): Promise<{ url: string }> {
  const exits: number[] = [];
  let stopping = false;

  const stopAll = (code: number) => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    if (workers.length === 0) process.exit(code);
    let left = workers.length;
    for (const w of workers) {
      w.once('exit', () => {
        if (--left === 0) process.exit(code);
      });
      w.process.kill('SIGTERM');
    }
    // Each process gives its requests graceMs; one that is still there after that is killed.
    setTimeout(() => {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
      process.exit(code);
    }, graceMs + 5_000).unref();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      logger.info({ signal, processes: count }, 'shutting down');
      stopAll(0);
    });
  }

  const fork = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork();
      worker.on('message', (m: unknown) => {
        if (isReadyMessage(m)) resolve(m.url);
      });
      worker.once('exit', (code, signal) => {
        reject(new Error(`server process ${worker.process.pid} exited before it was ready (${signal ?? `code ${code}`})`));
        if (stopping) return;
        const now = Date.now();
        exits.push(now);
        while (exits.length > 0 && exits[0] < now - 60_000) exits.shift();
        if (exits.length > MAX_EXITS_PER_MINUTE) {
          logger.fatal({ exits: exits.length }, 'server processes keep dying; stopping');
          stopAll(1);
          return;
        }
        logger.error({ pid: worker.process.pid, code, signal }, 'server process died; starting another');
        setTimeout(() => {
          if (!stopping) fork().catch((err: Error) => logger.error({ err: { message: err.message } }, 'replacing a server process failed'));
        }, RESTART_DELAY_MS);
      });
    });

  return (async () => {
    try {
      const url = await fork();
      await Promise.all(Array.from({ length: count - 1 }, fork));
      logger.info({ url, processes: count }, 'listening');
      return { url };
    } catch (err) {
      logger.fatal({ err: { message: (err as Error).message } }, 'starting the server processes failed');
      stopAll(1);
      throw err;
    }
  })();
}
