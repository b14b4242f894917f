import { DEMO_PARTNER_ID, DEMO_PARTNER_SECRET } from './auth/partners.js';
import { loadConfig } from './config.js';
import { createLogger } from './http/logger.js';
import { startServer } from './server.js';

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL);
const server = await startServer(config, { logger });
const base = config.PUBLIC_URL ?? server.url.replace('127.0.0.1', 'localhost');
logger.info({ url: base, database: config.DATABASE_URL ? 'postgresql' : `pglite:${config.DATA_DIR}` }, 'listening');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

await server.ready;
const lines = [
  '',
  `DCI Gateway ${config.NODE_ENV} server ready at ${base}`,
  `  API reference:  ${base}/docs   (OpenAPI: ${base}/openapi.json)`,
];
if (config.NODE_ENV !== 'production') {
  lines.push(
    `  Demo partner:   client_id=${DEMO_PARTNER_ID}  client_secret=${DEMO_PARTNER_SECRET}  (every scope; development only)`,
    `  Get a token:    curl -s -X POST ${base}/oauth2/client/token -d grant_type=client_credentials -d client_id=${DEMO_PARTNER_ID} -d client_secret=${DEMO_PARTNER_SECRET}`,
  );
}
process.stdout.write(lines.join('\n') + '\n\n');
