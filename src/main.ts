import cluster from 'node:cluster';
import { DEMO_PARTNER_ID, DEMO_PARTNER_SECRET } from './auth/partners.js';
import { type Config, loadConfig } from './config.js';
import { createLogger } from './http/logger.js';
import { type ReadyMessage, runPrimary } from './ops/processes.js';
import { startServer } from './server.js';

// A setting, key file or port that is wrong stops the start with one line naming it, not a stack trace.
let config: Config;
try {
  config = loadConfig();
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
const logger = createLogger(config.LOG_LEVEL);

async function serveOrExit(): Promise<string> {
  try {
    return await serve();
  } catch (err) {
    const message = (err as Error).message;
    if (logger.isLevelEnabled('fatal')) logger.fatal({ err: { message } }, 'the server could not start');
    else process.stderr.write(`the server could not start: ${message}\n`);
    process.exit(1);
  }
}

/** Serves in this process until SIGTERM or SIGINT (or, as one of several, until the primary is gone); its address. */
async function serve(): Promise<string> {
  const server = await startServer(config, { logger });
  const base = config.PUBLIC_URL ?? server.url.replace('127.0.0.1', 'localhost');
  if (cluster.isPrimary) logger.info({ url: base, database: config.DATABASE_URL ? 'postgresql' : `pglite:${config.DATA_DIR}` }, 'listening');
  let stopping = false;
  const stop = (why: Record<string, unknown>) => {
    if (stopping) return;
    stopping = true;
    logger.info(why, 'shutting down');
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop({ signal }));
  // Connections reach this process through the primary: without it there is nothing left to serve.
  if (cluster.isWorker) process.on('disconnect', () => stop({ reason: 'the primary process is gone' }));
  await server.ready;
  return base;
}

const base = config.SERVER_PROCESSES > 1 && cluster.isPrimary ? (await runPrimary(config.SERVER_PROCESSES, logger, config.SHUTDOWN_GRACE_MS)).url : await serveOrExit();
if (cluster.isWorker) {
  process.send!({ type: 'ready', url: base } satisfies ReadyMessage);
} else {
  const lines = [
    '',
    `DCI Gateway ${config.NODE_ENV} server ready at ${base}${config.SERVER_PROCESSES > 1 ? ` (${config.SERVER_PROCESSES} processes)` : ''}`,
    `  API reference:  ${base}/docs   (OpenAPI: ${base}/openapi.json)`,
  ];
  if (config.NODE_ENV !== 'production') {
    lines.push(
      `  Demo partner:   client_id=${DEMO_PARTNER_ID}  client_secret=${DEMO_PARTNER_SECRET}  (every scope; development only)`,
      `  Get a token:    curl -s -X POST ${base}/oauth2/client/token -d grant_type=client_credentials -d client_id=${DEMO_PARTNER_ID} -d client_secret=${DEMO_PARTNER_SECRET}`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n\n');
}
