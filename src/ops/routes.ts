import type { OpenAPIHono } from '@hono/zod-openapi';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Database } from '../db/client.js';
import type { JWK } from 'jose';
import { jwksDocument } from '../dci/signing/keys.js';
import type { AppEnv } from '../http/context.js';
import { handleError } from '../http/error-handler.js';
import { DciError } from '../http/errors.js';
import { requestContext } from '../http/middleware.js';
import { renderDocsPage } from './docs-page.js';

export interface OpsDeps {
  db: Database;
  /** The keys /.well-known/jwks.json publishes. */
  publishedKeys: readonly { publicJwk: JWK }[];
  isReady: () => boolean;
  version: string;
}

/**
 * How long /readyz waits for the database's answer: a database that hangs (a full pool, a stalled network) must take
 * the process out of rotation within the probe's own timeout (Kubernetes: 1 s by default, the image's HEALTHCHECK 3 s),
 * not hold the probe until it gives up.
 */
const READINESS_PING_TIMEOUT_MS = 2_000;

/** The database's answer to a ping: ok, failed, or none within READINESS_PING_TIMEOUT_MS. */
async function pingWithin(db: Database): Promise<'ok' | 'failed' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), READINESS_PING_TIMEOUT_MS)));
  try {
    return await Promise.race([db.ping().then(() => 'ok' as const, () => 'failed' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerOpsRoutes(app: OpenAPIHono<AppEnv>, deps: OpsDeps): void {
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    if (!deps.isReady()) return c.json({ status: 'starting' }, 503);
    const ping = await pingWithin(deps.db);
    if (ping === 'ok') return c.json({ status: 'ready' });
    return c.json({ status: ping === 'timeout' ? 'database not answering' : 'database unreachable' }, 503);
  });

  app.get('/.well-known/jwks.json', (c) => {
    c.header('cache-control', 'public, max-age=300');
    return c.json(jwksDocument(deps.publishedKeys));
  });

  const documentConfig = {
    openapi: '3.0.3',
    info: {
      title: 'DCI Gateway',
      version: deps.version,
      description:
        'Social registry and gateway speaking the DCI (Digital Convergence Initiative) standards. Get a token at ' +
        '/oauth2/client/token, then call the DCI endpoints with `Authorization: Bearer <token>`.',
    },
  };
  app.doc('/openapi.json', documentConfig);
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });

  let page: string | undefined;
  app.get('/docs', (c) => {
    page ??= renderDocsPage(app.getOpenAPIDocument(documentConfig) as never);
    return c.html(page);
  });

  const status = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' as const, properties: { status: { type: 'string' as const } } } } } });
  for (const [path, summary, responses] of [
    ['/healthz', 'Liveness: the process is up (from the moment the port is open, migrations included)', { 200: status('`ok`') }],
    [
      '/readyz',
      'Readiness: migrations and demo load done, database reachable',
      { 200: status('`ready`'), 503: status('`starting` (or shutting down), `database unreachable`, or `database not answering` (no answer within 2 s)') },
    ],
    ['/.well-known/jwks.json', "This server's public signing keys (RFC 7517 JWK Set)", { 200: { description: 'OK' } }],
  ] as const) {
    app.openAPIRegistry.registerPath({ method: 'get', path, tags: ['Operations'], summary, responses });
  }
}

/**
 * What the port answers while the server starts (migrations, which may take minutes on a national registry, keys,
 * partners): alive, not ready, and 503 with Retry-After for everything else. A port that stayed closed until then
 * failed liveness probes, and an orchestrator restarted the process in the middle of its migration.
 */
export function startingApp(logger: Logger): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requestContext(logger));
  app.onError(handleError);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => c.json({ status: 'starting' }, 503));
  app.all('*', () => {
    throw new DciError(503, 'err.service.unavailable', 'the server is starting; try again shortly', { 'retry-after': '5' });
  });
  return app;
}
